import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BakeError } from './errors.js';
import { interpolate, loadComposeFiles } from './load-compose.js';
import { loadHclFiles, type BakeFile, type HclEnvironment } from './load-hcl.js';
import { emptyConfig, mergeTarget, type BakeConfig } from './model.js';

/** buildx's lookup order when no -f is given: every one found is read, merged in this order. */
export const DEFAULT_FILES = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yml',
  'docker-compose.yaml',
  'docker-bake.json',
  'docker-bake.hcl',
  'docker-bake.override.json',
  'docker-bake.override.hcl',
] as const;

export type FileKind = 'hcl' | 'json' | 'compose';

/** What a file is, from its name (HCL for anything else, as buildx: a compose file must end in .yml/.yaml). */
export function fileKind(name: string): FileKind {
  const lower = name.toLowerCase();
  if (lower.endsWith('.yml') || lower.endsWith('.yaml')) return 'compose';
  if (lower.endsWith('.json')) return 'json';
  return 'hcl';
}

/** The files to read: `-f` ones (`-` is standard input), else the defaults present in `cwd`. */
export function readBakeFiles(given: readonly string[], cwd: string, stdin: () => string): (BakeFile & { kind: FileKind })[] {
  if (given.length === 0) {
    const found = DEFAULT_FILES.filter((name) => existsSync(resolve(cwd, name)));
    if (found.length === 0) throw new BakeError('BAKE_FILE', `no bake file in ${cwd}: looked for ${DEFAULT_FILES.join(', ')} (or pass -f FILE)`);
    return found.map((name) => ({ name, text: readFileSync(resolve(cwd, name), 'utf8'), kind: fileKind(name) }));
  }
  return given.map((name) => {
    if (name === '-') return { name: 'stdin', text: stdin(), kind: 'hcl' as const };
    try {
      return { name, text: readFileSync(resolve(cwd, name), 'utf8'), kind: fileKind(name) };
    } catch (error) {
      throw new BakeError('BAKE_FILE', `cannot read ${name}: ${(error as Error).message}`, { cause: error });
    }
  });
}

/** `.env` of the working directory under the environment (the environment wins), as compose and buildx read it. */
export function composeEnvironment(env: Readonly<Record<string, string | undefined>>, cwd: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  const file = resolve(cwd, '.env');
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m === null || line.trim().startsWith('#')) continue;
    const [, key = '', raw = ''] = m;
    if (out[key] !== undefined) continue;
    const quoted = /^(["'])(.*)\1$/.exec(raw);
    out[key] = quoted === null ? raw.replace(/\s+#.*$/, '') : quoted[1] === '"' ? interpolate(quoted[2] ?? '', out, '.env') : (quoted[2] ?? '');
  }
  return out;
}

function mergeConfigs(into: BakeConfig, from: BakeConfig): void {
  for (const [name, group] of from.groups) {
    const prior = into.groups.get(name);
    into.groups.set(name, {
      ...(group.description ?? prior?.description ? { description: (group.description ?? prior?.description) as string } : {}),
      targets: [...new Set([...(prior?.targets ?? []), ...group.targets])],
    });
  }
  for (const [name, target] of from.targets) {
    const prior = into.targets.get(name);
    into.targets.set(name, prior === undefined ? target : { ...mergeTarget(prior, target), ...(prior.inherits || target.inherits ? { inherits: [...(prior.inherits ?? []), ...(target.inherits ?? [])] } : {}) });
  }
  for (const key of from.ignored) into.ignored.add(key);
}

/**
 * The definition the files make together: compose files, then HCL and JSON
 * files (read as one body: their variables and functions are shared), each
 * merged over what came before in the order given.
 */
export async function loadDefinition(files: readonly (BakeFile & { kind: FileKind })[], environment: HclEnvironment, cwd: string): Promise<BakeConfig> {
  const config = emptyConfig();
  const compose = files.filter((f) => f.kind === 'compose');
  if (compose.length > 0) mergeConfigs(config, loadComposeFiles(compose, composeEnvironment(environment.env, cwd)));
  const hcl = files.filter((f): f is BakeFile & { kind: 'hcl' | 'json' } => f.kind !== 'compose');
  if (hcl.length > 0) mergeConfigs(config, await loadHclFiles(hcl, environment));
  return config;
}
