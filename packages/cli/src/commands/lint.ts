import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { defaultStoreRoot, isIndexMediaType, Store, type Index, type Manifest } from '@strata/cache';
import { expandWord, lint, parseDockerfile, parseStages, type LintWarning, type Stages } from '@strata/parser';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { diagnosticFromError, renderDiagnostic, type Diagnostic } from '../render/diagnostic.js';
import { readDockerfile } from './parse.js';

const syntax: CommandSyntax = {
  usage: 'strata lint [OPTIONS] FILE',
  description: [
    'Check a Dockerfile with the build checks (BuildKit\'s rules) and print what they find.',
    'Exits 1 when the file does not parse or a check fires at error level (# check=error=true).',
  ].join('\n'),
  options: [
    { name: 'json', type: 'boolean', description: 'Print {file, warnings, error} as JSON' },
    { name: 'context', type: 'string', valueName: 'DIR', description: "The build context whose .dockerignore CopyIgnoredFile reads (default: the Dockerfile's folder)" },
    { name: 'no-store', type: 'boolean', description: 'Do not read base images\' environments from the local store' },
  ],
  positionals: [1, 1],
};

/** The base images FROM names, meta ARGs expanded with their defaults; other stages and scratch left out. */
function baseImages(stages: Stages, escape: '\\' | '`'): string[] {
  const env = new Map<string, string>();
  for (const meta of stages.metaArgs) {
    for (const arg of meta.args) {
      try {
        env.set(arg.key, arg.defaultValue === undefined ? '' : expandWord(arg.defaultValue, env, { escape }));
      } catch {
        env.set(arg.key, '');
      }
    }
  }
  const names = new Set(stages.stages.map((s) => s.name).filter((n): n is string => n !== undefined));
  const images = new Set<string>();
  for (const { from } of stages.stages) {
    try {
      const image = expandWord(from.image, env, { escape });
      if (image !== '' && image !== 'scratch' && !names.has(image.toLowerCase())) images.add(image);
    } catch {
      // An image name that does not expand is the variable checks' business.
    }
  }
  return [...images];
}

/**
 * The environment variable names of the base images that are in the local
 * store (linux/amd64 from an index), so UndefinedVar knows what they set. A
 * store that does not exist is not created; any problem reading it just
 * leaves that image out.
 */
async function storeImageEnvs(images: readonly string[], io: CliIo): Promise<Map<string, string[]>> {
  const envs = new Map<string, string[]>();
  const root = defaultStoreRoot(io.env);
  if (images.length === 0 || !existsSync(join(root, 'oci-layout'))) return envs;
  let store: Store;
  try {
    store = await Store.open(root);
  } catch {
    return envs;
  }
  for (const image of images) {
    try {
      let descriptor = await store.resolve(image);
      if (isIndexMediaType(descriptor.mediaType)) {
        const index: Index = await store.readImageIndex(descriptor.digest);
        const chosen = index.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64') ?? index.manifests[0];
        if (chosen === undefined) continue;
        descriptor = chosen;
      }
      const manifest: Manifest = await store.readManifest(descriptor.digest);
      const config = await store.readConfig(manifest.config.digest);
      envs.set(image, (config.config?.Env ?? []).map((e) => e.split('=', 1)[0] ?? e));
    } catch {
      // Not in the store (or unreadable): lint assumes PATH only.
    }
  }
  return envs;
}

function toDiagnostic(w: LintWarning): Diagnostic {
  return { severity: w.level, code: w.rule, message: w.message, location: w.location };
}

/** `strata lint [--json] FILE`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('lint', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const file = argv.positionals[0] ?? '';
  const json = argv.values.json === true;
  let input;
  try {
    input = await readDockerfile(file, io);
  } catch (error) {
    io.stderr.write(`strata lint: cannot read ${file}: ${(error as Error).message}\n`);
    return ExitCode.failure;
  }
  let warnings: LintWarning[];
  try {
    const result = parseDockerfile(input.text, { file: input.name });
    const stages = parseStages(result, { source: input.text });
    const envs = argv.values['no-store'] === true ? new Map<string, string[]>() : await storeImageEnvs(baseImages(stages, result.escapeToken), io);
    const contextValue = argv.values.context;
    const contextDir = resolve(io.cwd, typeof contextValue === 'string' ? contextValue : file === '-' ? '.' : dirname(file));
    const { readDockerignore } = await import('@strata/builder');
    const dockerignore = await readDockerignore(contextDir, file === '-' ? undefined : resolve(io.cwd, file));
    warnings = lint(result, { source: input.text, stages, dockerignore, baseImageEnv: (image) => envs.get(image) });
  } catch (error) {
    const d = diagnosticFromError(error);
    if (json) io.stdout.write(`${JSON.stringify({ file: input.name, warnings: [], error: d }, null, 2)}\n`);
    else io.stderr.write(renderDiagnostic(d, { file: input.name, source: input.text, showSeverity: true }));
    return ExitCode.failure;
  }
  if (json) {
    io.stdout.write(`${JSON.stringify({ file: input.name, warnings }, null, 2)}\n`);
  } else {
    for (const w of warnings) io.stdout.write(renderDiagnostic(toDiagnostic(w), { file: input.name, source: input.text }));
    const errors = warnings.filter((w) => w.level === 'error').length;
    if (warnings.length > 0) {
      const counts = errors > 0 ? `${errors} error${errors === 1 ? '' : 's'}, ${warnings.length - errors} warning${warnings.length - errors === 1 ? '' : 's'}` : `${warnings.length} warning${warnings.length === 1 ? '' : 's'}`;
      io.stderr.write(`${input.name}: ${counts}\n`);
    }
  }
  return warnings.some((w) => w.level === 'error') ? ExitCode.failure : ExitCode.ok;
}
