import { readFileSync } from 'node:fs';
import { formatPlatform, hostPlatform } from '@strata/builder';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { isBakeError } from '../bake/errors.js';
import { loadDefinition, readBakeFiles } from '../bake/files.js';
import { runDefinition } from '../bake/graph.js';
import { bakeRenderer, type BakeProgress } from '../bake/render.js';
import { parseOverride, printDefinition, resolveDefinition, type Override } from '../bake/resolve.js';
import { ExitCode } from '../exit-codes.js';
import { Interrupt } from '../interrupt.js';
import type { CliIo } from '../io.js';
import { diagnosticFromError, renderDiagnostic } from '../render/diagnostic.js';
import { openStore } from './prune.js';
import { insecureRegistryOption, registryClient } from './registry-common.js';

const syntax: CommandSyntax = {
  usage: 'strata bake [OPTIONS] [TARGET|GROUP...]',
  description:
    'Build the targets of docker-bake.hcl / docker-bake.json / compose.yaml files, as docker buildx bake: in one process on one store, ' +
    'each after the targets it needs (contexts target:NAME, args naming another target\'s tag), independent ones at once.',
  options: [
    { name: 'file', short: 'f', type: 'string', valueName: 'FILE', multiple: true, description: 'Bake file (repeatable; default: compose.yaml, docker-bake.json, docker-bake.hcl and overrides in this folder)' },
    { name: 'set', type: 'string', valueName: 'TARGET.KEY=VALUE', multiple: true, description: 'Override an attribute (TARGET may be a glob; KEY+=VALUE appends to lists)' },
    { name: 'print', type: 'boolean', description: 'Print the resolved definition as JSON (buildx\'s form) and build nothing' },
    { name: 'push', type: 'boolean', description: 'Shorthand for --set=*.push=true: push every tag after its build' },
    { name: 'load', type: 'boolean', description: 'Shorthand for --set=*.load=true (strata\'s images are in its store already)' },
    { name: 'no-cache', type: 'boolean', description: 'Do not use the cache (every target)' },
    { name: 'pull', type: 'boolean', description: 'Always pull base images (every target)' },
    { name: 'allow', type: 'string', valueName: 'ENTITLEMENT', multiple: true, description: 'Grant network.host to targets that ask for it' },
    { name: 'progress', type: 'string', valueName: 'TYPE', description: 'auto, plain, tty, json or quiet (default auto)' },
    insecureRegistryOption,
  ],
  positionals: [0, Number.POSITIVE_INFINITY],
};

/** `strata bake`: docker buildx bake's files, flags and output, with strata's builder. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('bake', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const v = argv.values;
  const list = (name: string): string[] => (v[name] as string[] | undefined) ?? [];
  const progressText = (v.progress as string | undefined) ?? 'auto';
  if (!['auto', 'plain', 'tty', 'json', 'quiet'].includes(progressText)) {
    io.stderr.write(`strata bake: --progress must be auto, plain, tty, json or quiet, not '${progressText}'\n`);
    return ExitCode.usage;
  }
  const unknownAllow = list('allow').find((a) => a !== 'network.host');
  if (unknownAllow !== undefined) {
    io.stderr.write(`strata bake: --allow ${unknownAllow}: the entitlement strata knows is network.host\n`);
    return ExitCode.usage;
  }
  let overrides: Override[];
  try {
    // the flags are --set shorthands, after the user's own, as buildx appends them
    const sets = [...list('set')];
    if (v['no-cache'] === true) sets.push('*.no-cache=true');
    if (v.pull === true) sets.push('*.pull=true');
    if (v.push === true) sets.push('*.push=true');
    if (v.load === true) sets.push('*.load=true');
    overrides = sets.map((s) => parseOverride(s, io.env));
  } catch (error) {
    io.stderr.write(`strata bake: ${(error as Error).message}\n`);
    return ExitCode.usage;
  }

  let definition;
  try {
    const files = readBakeFiles(list('file'), io.cwd, () => readFileSync(0, 'utf8'));
    const config = await loadDefinition(files, { env: io.env, localPlatform: formatPlatform(hostPlatform()), cmdContext: '.' }, io.cwd);
    if (config.ignored.size > 0) io.stderr.write(`strata bake: WARNING: ${[...config.ignored].sort().join(', ')}: read but not supported by strata, left out of the builds\n`);
    definition = resolveDefinition(config, argv.positionals, overrides);
  } catch (error) {
    if (!isBakeError(error)) throw error;
    io.stderr.write(`strata bake: ${error.code}: ${error.message}\n`);
    return ExitCode.failure;
  }
  if (v.print === true) {
    io.stdout.write(printDefinition(definition));
    return ExitCode.ok;
  }

  const mode: BakeProgress = progressText === 'auto' ? (io.isTty ? 'tty' : 'plain') : (progressText as BakeProgress);
  const renderer = bakeRenderer(mode, { stdout: (t) => io.stdout.write(t), stderr: (t) => io.stderr.write(t), ...((io.stderr as { columns?: number }).columns === undefined ? {} : { width: (io.stderr as { columns?: number }).columns as number }) });
  const interrupt = new Interrupt();
  const started = Date.now();
  try {
    const store = await openStore(io);
    const runs = await runDefinition(definition, {
      store,
      registry: registryClient(io, v['insecure-registry'] as string[] | undefined),
      cwd: io.cwd,
      env: io.env,
      allow: list('allow'),
      onEvent: (target, event) => renderer.onEvent(target, event),
      onSkipped: (r) => renderer.skipped(r),
      onFailed: (r) => {
        const e = r.error as { code?: string; message?: string };
        renderer.failed(r, e.code ?? 'BUILD_INTERNAL', e.message ?? String(r.error));
        // the whole diagnostic (caret, output of a failed RUN) for people; json has the failed line
        if (mode !== 'json' && mode !== 'quiet') {
          const details = (r.error as { details?: { output?: string[] } }).details;
          if (details?.output !== undefined && details.output.length > 0) io.stderr.write(`[${r.name}] ------\n${details.output.map((l) => `[${r.name}]  > ${l}`).join('\n')}\n[${r.name}] ------\n`);
          if (!isBakeError(r.error)) io.stderr.write(renderDiagnostic(diagnosticFromError(r.error), { showSeverity: true }).replace(/^(?=.)/gm, `[${r.name}] `));
        }
      },
      signal: interrupt.signal,
    });
    renderer.finish(runs, Date.now() - started);
    if (interrupt.received !== undefined) {
      io.stderr.write(`strata bake: stopped by ${interrupt.received}; running steps were killed and their mounts removed\n`);
      return interrupt.exitCode;
    }
    return runs.every((r) => r.status === 'built') ? ExitCode.ok : ExitCode.failure;
  } catch (error) {
    if (!isBakeError(error)) throw error;
    io.stderr.write(`strata bake: ${error.code}: ${error.message}\n`);
    return ExitCode.failure;
  } finally {
    interrupt.dispose();
  }
}
