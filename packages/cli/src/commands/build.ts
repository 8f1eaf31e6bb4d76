import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  build,
  parseCacheExport,
  parseCacheImport,
  parseBuildContextFlag,
  parseOutputSpec,
  parseSshSpec,
  type BuildEvent,
  type BuildOutput,
  type CacheExportSpec,
  type CacheImportSpec,
  type NamedContext,
  type NetworkMode,
  type SshAgentSpec,
} from '@strata/builder';
import type { RegistryEvent } from '@strata/registry';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { parseAddHost, withLocalPath } from '../build-flags.js';
import { ExitCode } from '../exit-codes.js';
import { Interrupt } from '../interrupt.js';
import type { CliIo } from '../io.js';
import { diagnosticFromError, renderDiagnostic } from '../render/diagnostic.js';
import { jsonRenderer, plainRenderer, ttyRenderer, type ProgressRenderer } from '../render/progress.js';
import { openStore } from './prune.js';
import { insecureRegistryOption, registryClient, shortId } from './registry-common.js';

const syntax: CommandSyntax = {
  usage: 'strata build [OPTIONS] CONTEXT',
  description: 'Build an image from a Dockerfile and a context folder, without a daemon.',
  options: [
    { name: 'file', short: 'f', type: 'string', valueName: 'FILE', description: "Name of the Dockerfile (default: 'CONTEXT/Dockerfile')" },
    { name: 'tag', short: 't', type: 'string', valueName: 'NAME[:TAG]', multiple: true, description: 'Name and optionally a tag (repeatable)' },
    { name: 'build-arg', type: 'string', valueName: 'KEY[=VALUE]', multiple: true, description: 'Set a build-time variable (KEY alone takes it from the environment)' },
    { name: 'target', type: 'string', valueName: 'STAGE', description: 'Build this stage (and what it needs) only' },
    {
      name: 'build-context',
      type: 'string',
      valueName: 'NAME=VALUE',
      multiple: true,
      description: 'A named context for FROM/COPY --from/RUN --mount from=: a folder, docker-image://REF, oci-layout://PATH[:TAG] or an https:// tarball (repeatable)',
    },
    { name: 'platform', type: 'string', valueName: 'OS/ARCH', description: "Target platform (default: the host's)" },
    { name: 'no-cache', type: 'boolean', description: 'Do not use the cache when building' },
    { name: 'no-cache-filter', type: 'string', valueName: 'STAGE[,STAGE]', multiple: true, description: 'Do not use the cache for these stages (names or indexes)' },
    { name: 'normalize-permissions', type: 'boolean', description: 'COPY/ADD sources get canonical modes (dirs 0755, files 0644 or 0755) in key and layer' },
    { name: 'cache-from', type: 'string', valueName: 'type=registry,ref=R', multiple: true, description: 'Import build cache: type=registry,ref=REF or type=local,src=DIR (repeatable)' },
    {
      name: 'cache-to',
      type: 'string',
      valueName: 'type=registry,ref=R',
      multiple: true,
      description: 'Export build cache: type=registry,ref=REF or type=local,dest=DIR, with mode=min|max (repeatable)',
    },
    { name: 'pull', type: 'boolean', description: 'Always pull a newer version of the base images' },
    insecureRegistryOption,
    {
      name: 'network',
      type: 'string',
      valueName: 'MODE',
      description: "Network of RUN steps: default (a network of their own), host (this machine's) or none",
    },
    { name: 'allow', type: 'string', valueName: 'ENTITLEMENT', multiple: true, description: 'Allow network.host: RUN --network=host steps get the host network' },
    { name: 'add-host', type: 'string', valueName: 'NAME:IP', multiple: true, description: "Add a line to RUN steps' /etc/hosts (repeatable)" },
    { name: 'label', type: 'string', valueName: 'KEY=VALUE', multiple: true, description: 'Set a label on the image (repeatable)' },
    { name: 'secret', type: 'string', valueName: 'id=ID,src=FILE', multiple: true, description: 'A secret for RUN --mount=type=secret (repeatable)' },
    {
      name: 'ssh',
      type: 'string',
      valueName: 'default|ID[=SOCKET|KEY[,KEY]]',
      multiple: true,
      description: 'An SSH agent for RUN --mount=type=ssh and ADD of ssh git URLs: default is $SSH_AUTH_SOCK (repeatable)',
    },
    { name: 'progress', type: 'string', valueName: 'TYPE', description: 'auto, plain, tty or json (default auto)' },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'Print only the image ID' },
    { name: 'iidfile', type: 'string', valueName: 'FILE', description: 'Write the image ID to the file' },
    { name: 'runtime', type: 'string', valueName: 'NAME', description: 'OCI runtime for RUN: runc (default) or crun' },
    {
      name: 'output',
      short: 'o',
      type: 'string',
      valueName: 'type=oci|docker,dest=FILE',
      multiple: true,
      description: 'Also write the image to an OCI archive or a docker-archive (,compression=zstd: zstd layers)',
    },
    { name: 'push', type: 'boolean', description: 'Push every tag to its registry after the build (type=registry)' },
  ],
  positionals: [1, 1],
};

function keyValues(list: readonly string[], env: NodeJS.ProcessEnv, fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq === -1) {
      const value = fromEnv ? env[item] : '';
      if (value !== undefined) out[item] = value;
    } else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

function parseSecrets(list: readonly string[], cwd: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const fields = Object.fromEntries(item.split(',').map((f) => {
      const eq = f.indexOf('=');
      return eq === -1 ? [f, ''] : [f.slice(0, eq), f.slice(eq + 1)];
    }));
    const id = fields.id;
    const src = fields.src ?? fields.source;
    if (id === undefined || src === undefined) throw new UsageError(`--secret ${item}: expected id=ID,src=FILE`);
    out[id] = resolve(cwd, src);
  }
  return out;
}

class UsageError extends Error {}

/** A flag value refused: a coded error (the builder's parsers) with its code and hint, else the message. */
function badFlag(io: CliIo, error: unknown): number {
  if (typeof (error as { code?: unknown }).code === 'string') io.stderr.write(renderDiagnostic(diagnosticFromError(error), { showSeverity: true }));
  else io.stderr.write(`strata build: ${(error as Error).message}\n`);
  return ExitCode.usage;
}

/** `--ssh` values: no path means this shell's SSH_AUTH_SOCK; paths are relative to the current directory. */
function parseSsh(list: readonly string[], io: CliIo): SshAgentSpec[] {
  return list.map((item) => {
    let spec: SshAgentSpec;
    // a malformed value is parseSshSpec's coded error (BUILD_SSH_INVALID, with its hint)
    spec = parseSshSpec(item);
    const sock = io.env.SSH_AUTH_SOCK;
    if (spec.paths.length === 0 && (sock === undefined || sock === '')) throw new UsageError(`--ssh ${item}: SSH_AUTH_SOCK is not set, so there is no agent to forward (eval $(ssh-agent); ssh-add)`);
    return { id: spec.id, paths: spec.paths.length === 0 ? [sock as string] : spec.paths.map((p) => resolve(io.cwd, p)) };
  });
}

/** `--output` values (dest relative to the current directory) and `--push`, as the builder's outputs. */
function parseOutputs(list: readonly string[], push: boolean, cwd: string): BuildOutput[] {
  const outputs: BuildOutput[] = [];
  for (const item of list) {
    let output: BuildOutput;
    try {
      output = parseOutputSpec(item);
    } catch (error) {
      const e = error as { message: string; hint?: string };
      throw new UsageError(`--output ${e.message.replace(/^output /, '')}${e.hint === undefined ? '' : `\nhint: ${e.hint}`}`);
    }
    outputs.push(output.type === 'registry' ? output : { ...output, dest: resolve(cwd, output.dest) });
  }
  if (push && !outputs.some((o) => o.type === 'registry')) outputs.push({ type: 'registry' });
  return outputs;
}



/** `strata build`: docker build's flags and meanings. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('build', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const v = argv.values;
  const list = (name: string): string[] => (v[name] as string[] | undefined) ?? [];
  const progress = (v.progress as string | undefined) ?? 'auto';
  if (!['auto', 'plain', 'tty', 'json'].includes(progress)) {
    io.stderr.write(`strata build: --progress must be auto, plain, tty or json, not '${progress}'\n`);
    return ExitCode.usage;
  }
  const network = v.network as string | undefined;
  if (network !== undefined && !['default', 'host', 'none'].includes(network)) {
    io.stderr.write(`strata build: --network must be default, host or none, not '${network}'\n`);
    return ExitCode.usage;
  }
  const allow = list('allow');
  const unknownAllow = allow.find((a) => a !== 'network.host');
  if (unknownAllow !== undefined) {
    io.stderr.write(`strata build: --allow ${unknownAllow}: the entitlement strata knows is network.host\n`);
    return ExitCode.usage;
  }
  let extraHosts: { name: string; address: string }[];
  try {
    extraHosts = list('add-host').map(parseAddHost);
  } catch (error) {
    return badFlag(io, error);
  }
  const runtime = v.runtime as string | undefined;
  if (runtime !== undefined && runtime !== 'runc' && runtime !== 'crun') {
    io.stderr.write(`strata build: --runtime must be runc or crun, not '${runtime}'\n`);
    return ExitCode.usage;
  }
  let secrets: Record<string, string>;
  let ssh: SshAgentSpec[];
  let outputs: BuildOutput[];
  const namedContexts: Record<string, NamedContext> = {};
  try {
    for (const item of list('build-context')) {
      const { name, context } = parseBuildContextFlag(item, { cwd: io.cwd });
      namedContexts[name] = context;
    }
    secrets = parseSecrets(list('secret'), io.cwd);
    ssh = parseSsh(list('ssh'), io);
    outputs = parseOutputs(list('output'), v.push === true, io.cwd);
  } catch (error) {
    return badFlag(io, error);
  }
  let cacheFrom: CacheImportSpec[];
  let cacheTo: CacheExportSpec[];
  try {
    cacheFrom = list('cache-from').map(parseCacheImport).map((c) => withLocalPath(c, io.cwd));
    cacheTo = list('cache-to').map(parseCacheExport).map((c) => withLocalPath(c, io.cwd));
  } catch (error) {
    const e = error as { message: string; hint?: string };
    io.stderr.write(`strata build: ${e.message}\n${e.hint === undefined ? '' : `hint: ${e.hint}\n`}`);
    return ExitCode.usage;
  }
  const noCacheFilter = list('no-cache-filter').flatMap((f) => f.split(',')).map((f) => f.trim()).filter((f) => f !== '');
  const quiet = v.quiet === true;
  const context = resolve(io.cwd, argv.positionals[0] as string);
  const dockerfile = v.file === undefined ? undefined : resolve(io.cwd, v.file as string);
  const write = (text: string) => io.stderr.write(text);
  const live = progress === 'tty' || (progress === 'auto' && io.isTty);
  const renderer: ProgressRenderer | undefined = quiet
    ? undefined
    : progress === 'json'
      ? jsonRenderer((t) => io.stdout.write(t))
      : live
        ? ttyRenderer(write, { width: (io.stderr as { columns?: number }).columns ?? 100 })
        : plainRenderer(write);

  // pushes report each blob as `strata push` does (plain), or as a JSON line (json)
  const onRegistryEvent = (event: RegistryEvent): void => {
    if (event.type !== 'blob-pushed' || quiet || live) return;
    if (progress === 'json') io.stdout.write(`${JSON.stringify(event)}\n`);
    else {
      const status = event.outcome === 'exists' ? 'Layer already exists' : event.outcome === 'mounted' ? `Mounted from ${event.from ?? ''}` : 'Pushed';
      write(`${shortId(event.digest)}: ${status}\n`);
    }
  };

  const interrupt = new Interrupt();
  try {
    const store = await openStore(io);
    const result = await build({
      store,
      context,
      ...(dockerfile === undefined ? {} : { dockerfile }),
      ...(Object.keys(namedContexts).length === 0 ? {} : { namedContexts }),
      tags: list('tag'),
      buildArgs: keyValues(list('build-arg'), io.env, true),
      ...(v.target === undefined ? {} : { target: v.target as string }),
      ...(v.platform === undefined ? {} : { platform: v.platform as string }),
      noCache: v['no-cache'] === true,
      ...(noCacheFilter.length === 0 ? {} : { noCacheFilter }),
      ...(v['normalize-permissions'] === true ? { normalizePermissions: true } : {}),
      ...(cacheFrom.length === 0 ? {} : { cacheFrom }),
      ...(cacheTo.length === 0 ? {} : { cacheTo }),
      pull: v.pull === true,
      registry: registryClient(io, v['insecure-registry'] as string[] | undefined, onRegistryEvent),
      ...(outputs.length === 0 ? {} : { output: outputs }),
      ...(network === undefined ? {} : { network: network as NetworkMode }),
      ...(allow.length === 0 ? {} : { allow: allow as 'network.host'[] }),
      ...(extraHosts.length === 0 ? {} : { extraHosts }),
      labels: keyValues(list('label'), io.env, false),
      secrets,
      ...(ssh.length === 0 ? {} : { ssh }),
      ...(runtime === undefined ? {} : { runtime: runtime as 'runc' | 'crun' }),
      onEvent: (event: BuildEvent) => renderer?.onEvent(event),
      signal: interrupt.signal,
    });
    renderer?.close();
    if (v.iidfile !== undefined) await writeFile(resolve(io.cwd, v.iidfile as string), result.imageId);
    if (quiet) io.stdout.write(`${result.imageId}\n`);
    return ExitCode.ok;
  } catch (error) {
    renderer?.close();
    if (interrupt.received !== undefined) {
      io.stderr.write(`strata build: stopped by ${interrupt.received}; the running step was killed and its mounts removed\n`);
      return interrupt.exitCode;
    }
    const details = (error as { details?: { output?: string[]; location?: unknown; instruction?: string } }).details;
    const diagnostic = diagnosticFromError(error);
    const located =
      details?.location !== undefined && diagnostic.location === undefined
        ? {
            ...diagnostic,
            location: details.location as NonNullable<typeof diagnostic.location>,
            ...(details.instruction === undefined ? {} : { sourceLine: details.instruction.split('\n')[0] ?? '' }),
          }
        : diagnostic;
    if (details?.output !== undefined && details.output.length > 0) {
      io.stderr.write(`------\n${details.output.map((l) => ` > ${l}`).join('\n')}\n------\n`);
    }
    io.stderr.write(renderDiagnostic(located, { showSeverity: true }));
    return ExitCode.failure;
  } finally {
    interrupt.dispose();
  }
}
