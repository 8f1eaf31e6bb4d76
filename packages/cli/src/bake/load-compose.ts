import { parse as parseYaml } from 'yaml';
import { BakeError } from './errors.js';
import type { BakeFile } from './load-hcl.js';
import { cacheEntry, emptyConfig, mergeTarget, outputEntry, sshEntry, type BakeConfig, type Secret, type Target } from './model.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Compose's interpolation of a string: `$$` is a `$`, `${VAR}` / `$VAR`,
 * `${VAR:-default}` / `${VAR-default}`, `${VAR:+alt}` / `${VAR+alt}`,
 * `${VAR:?message}` / `${VAR?message}` (an error when unset).
 */
export function interpolate(text: string, env: Env, file: string): string {
  return text.replace(/\$(\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, _m: string, braced: string | undefined, bare: string | undefined) => {
    if (whole === '$$') return '$';
    if (bare !== undefined) return env[bare] ?? '';
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-+?])(.*))?$/s.exec(braced ?? '');
    if (m === null) throw new BakeError('BAKE_PARSE', `${file}: invalid interpolation ${whole}`);
    const [, name = '', colon, op, arg = ''] = m;
    const value = env[name];
    const unset = value === undefined || (colon === ':' && value === '');
    if (op === '-') return unset ? interpolate(arg, env, file) : (value as string);
    if (op === '+') return unset ? '' : interpolate(arg, env, file);
    if (op === '?' && unset) throw new BakeError('BAKE_EVAL', `${file}: ${name}: ${arg === '' ? 'required variable is not set' : arg}`);
    return value ?? '';
  });
}

function interpolateAll(value: unknown, env: Env, file: string): unknown {
  if (typeof value === 'string') return interpolate(value, env, file);
  if (Array.isArray(value)) return value.map((v) => interpolateAll(v, env, file));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, env, file)]));
  return value;
}

/** A compose mapping: `{K: V}` or a list of `K=V` (`K` alone: undefined, taken from the environment for args). */
function mapping(value: unknown): Record<string, string | undefined> {
  if (value === undefined || value === null) return {};
  if (Array.isArray(value)) {
    return Object.fromEntries(value.map((item) => {
      const text = String(item);
      const eq = text.indexOf('=');
      return eq < 0 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
    }));
  }
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v === null ? undefined : String(v)]));
  throw new BakeError('BAKE_INVALID', `expected a mapping, not ${JSON.stringify(value)}`);
}

const strings = (value: unknown): string[] | undefined => (value === undefined || value === null ? undefined : Array.isArray(value) ? value.map(String) : [String(value)]);

/** `additional_contexts` values: `service:NAME` (compose) and `target:NAME` both name a bake target. */
function namedContexts(value: unknown): Record<string, string> | undefined {
  const m = mapping(value);
  const out = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, (v ?? '').replace(/^(service|target):(.*)$/, (_, __, name: string) => `target:${name.replace(/\./g, '_')}`)]));
  return Object.keys(out).length === 0 ? undefined : out;
}

function composeSecret(item: unknown, top: Record<string, { file?: string; environment?: string }>, file: string): Secret {
  const source = typeof item === 'string' ? item : String((item as { source?: unknown }).source ?? '');
  const target = typeof item === 'object' && item !== null ? (item as { target?: unknown }).target : undefined;
  const def = top[source];
  if (def === undefined) throw new BakeError('BAKE_INVALID', `${file}: secret ${source} is not defined under the top-level secrets`);
  const id = target === undefined ? source : String(target);
  if (def.environment !== undefined) return { id, env: def.environment };
  if (def.file !== undefined) return { id, src: def.file };
  throw new BakeError('BAKE_UNSUPPORTED', `${file}: secret ${source}: only file and environment secrets are supported`);
}

/** `x-bake`: buildx's compose extension for what compose's build section lacks. */
function xBake(target: Target, ext: Record<string, unknown> | undefined): Target {
  if (ext === undefined) return target;
  const t: Target = {};
  if (ext.tags !== undefined) t.tags = strings(ext.tags) as string[];
  if (ext.platforms !== undefined) t.platforms = strings(ext.platforms) as string[];
  if (ext['cache-from'] !== undefined) t['cache-from'] = (strings(ext['cache-from']) as string[]).map(cacheEntry);
  if (ext['cache-to'] !== undefined) t['cache-to'] = (strings(ext['cache-to']) as string[]).map(cacheEntry);
  if (ext.output !== undefined) t.output = (strings(ext.output) as string[]).map(outputEntry);
  if (ext.pull !== undefined) t.pull = ext.pull === true || ext.pull === 'true';
  if (ext['no-cache'] !== undefined) t['no-cache'] = ext['no-cache'] === true || ext['no-cache'] === 'true';
  if (ext['no-cache-filter'] !== undefined) t['no-cache-filter'] = strings(ext['no-cache-filter']) as string[];
  if (ext.contexts !== undefined) t.contexts = namedContexts(ext.contexts) as Record<string, string>;
  return mergeTarget(target, t);
}

/**
 * Reads compose files' build sections as buildx does: each service with a
 * `build` is a target of its name (dots become underscores), all of them
 * in the `default` group; `image` tags it when `build.tags` does not.
 * Strings are interpolated with the environment (and `.env`, read by the
 * caller into `env`). Read: context, dockerfile, dockerfile_inline, args,
 * target, tags, platforms, additional_contexts, labels, cache_from,
 * cache_to, secrets, ssh, no_cache, pull, network, extra_hosts, x-bake.
 */
export function loadComposeFiles(files: readonly BakeFile[], env: Env): BakeConfig {
  const config = emptyConfig();
  for (const f of files) {
    let doc: unknown;
    try {
      doc = parseYaml(f.text);
    } catch (error) {
      throw new BakeError('BAKE_PARSE', `${f.name}: ${(error as Error).message}`, { cause: error });
    }
    const root = interpolateAll(doc ?? {}, env, f.name) as { services?: Record<string, unknown>; secrets?: Record<string, { file?: string; environment?: string }> };
    const group = config.groups.get('default') ?? { targets: [] };
    for (const [service, body] of Object.entries(root.services ?? {})) {
      const s = (body ?? {}) as { build?: unknown; image?: unknown };
      if (s.build === undefined || s.build === null) continue;
      const name = service.replace(/\./g, '_');
      if (!/^[a-zA-Z0-9_-]+$/.test(name)) throw new BakeError('BAKE_INVALID', `${f.name}: service name ${service}: only letters, digits, _ and - can name a target`);
      const b = (typeof s.build === 'string' ? { context: s.build } : s.build) as Record<string, unknown>;
      const t: Target = {};
      if (b.context !== undefined) t.context = String(b.context);
      if (b.dockerfile !== undefined) t.dockerfile = String(b.dockerfile);
      if (b.dockerfile_inline !== undefined) t['dockerfile-inline'] = String(b.dockerfile_inline);
      const args = mapping(b.args);
      // an arg without a value is taken from the environment; one that is not set there is left out
      const resolved = Object.entries(args).flatMap(([k, v]): [string, string][] => (v !== undefined ? [[k, v]] : env[k] !== undefined ? [[k, env[k] as string]] : []));
      if (resolved.length > 0) t.args = Object.fromEntries(resolved);
      const labels = Object.entries(mapping(b.labels)).map(([k, v]) => [k, v ?? '']);
      if (labels.length > 0) t.labels = Object.fromEntries(labels);
      if (b.target !== undefined) t.target = String(b.target);
      t.tags = strings(b.tags) ?? (s.image === undefined || s.image === null ? undefined : [String(s.image)]);
      if (t.tags === undefined) delete t.tags;
      if (b.platforms !== undefined) t.platforms = strings(b.platforms) as string[];
      const contexts = namedContexts(b.additional_contexts);
      if (contexts !== undefined) t.contexts = contexts;
      if (b.cache_from !== undefined) t['cache-from'] = (strings(b.cache_from) as string[]).map(cacheEntry);
      if (b.cache_to !== undefined) t['cache-to'] = (strings(b.cache_to) as string[]).map(cacheEntry);
      if (b.secrets !== undefined) t.secret = (b.secrets as unknown[]).map((item) => composeSecret(item, root.secrets ?? {}, f.name));
      if (b.ssh !== undefined) t.ssh = Array.isArray(b.ssh) ? b.ssh.map((v) => sshEntry(String(v))) : Object.entries(mapping(b.ssh)).map(([id, p]) => sshEntry(p === undefined ? id : `${id}=${p}`));
      if (b.no_cache === true) t['no-cache'] = true;
      if (b.pull === true) t.pull = true;
      if (b.network !== undefined) t.network = String(b.network);
      if (b.extra_hosts !== undefined) t['extra-hosts'] = Object.fromEntries(Object.entries(mapping(b.extra_hosts)).map(([k, v]) => [k, v ?? '']));
      config.targets.set(name, mergeTarget(config.targets.get(name) ?? {}, xBake(t, b['x-bake'] as Record<string, unknown> | undefined)));
      if (!group.targets.includes(name)) group.targets.push(name);
    }
    if (group.targets.length > 0) config.groups.set('default', group);
  }
  return config;
}
