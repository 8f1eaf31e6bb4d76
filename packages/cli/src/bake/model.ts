import { BakeError } from './errors.js';
import type { HclValue } from './hcl-functions.js';

/**
 * A bake target as buildx's definition has it: the attributes of one build,
 * named as in docker-bake.hcl. Composable attributes (cache-from, cache-to,
 * output) are flat objects `{type, …attributes}`, secrets `{id, src|env}`,
 * SSH agents `{id, paths}`: the shape `--print` writes.
 */
export interface Target {
  description?: string;
  inherits?: string[];
  context?: string;
  contexts?: Record<string, string>;
  dockerfile?: string;
  'dockerfile-inline'?: string;
  args?: Record<string, string | null>;
  labels?: Record<string, string | null>;
  tags?: string[];
  'cache-from'?: Entry[];
  'cache-to'?: Entry[];
  target?: string;
  secret?: Secret[];
  ssh?: Ssh[];
  platforms?: string[];
  output?: Entry[];
  pull?: boolean;
  'no-cache'?: boolean;
  network?: string;
  'no-cache-filter'?: string[];
  entitlements?: string[];
  'extra-hosts'?: Record<string, string | null>;
}

export type Entry = Record<string, string>;
export interface Secret {
  id: string;
  src?: string;
  env?: string;
}
export interface Ssh {
  id: string;
  paths?: string[];
}

export interface Group {
  description?: string;
  targets: string[];
}

/** What the files define, before groups, inherits and overrides are resolved: targets by name in file order. */
export interface BakeConfig {
  readonly groups: Map<string, Group>;
  readonly targets: Map<string, Target>;
  /** Attributes buildx knows that strata reads but does not act on (named in a warning). */
  readonly ignored: Set<string>;
}

export function emptyConfig(): BakeConfig {
  return { groups: new Map(), targets: new Map(), ignored: new Set() };
}

/** Attributes of buildx targets that strata accepts and leaves out, with a warning. */
const IGNORED = new Set(['annotations', 'attest', 'shm-size', 'ulimits', 'resources', 'call', 'policy']);

/** `a=b,"c=d,e"` as buildx's CSV: fields split on commas outside double quotes. */
export function csvFields(text: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i] as string;
    if (c === '"') {
      if (quoted && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else quoted = !quoted;
    } else if (c === ',' && !quoted) {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out.map((f) => f.trim()).filter((f) => f !== '');
}

function csvEntry(text: string, bare: (value: string) => Entry): Entry {
  if (!text.includes('=')) return bare(text);
  const entry: Entry = {};
  for (const field of csvFields(text)) {
    const eq = field.indexOf('=');
    if (eq < 0) throw new BakeError('BAKE_INVALID', `${text}: ${field} is not KEY=VALUE`);
    entry[field.slice(0, eq).trim().toLowerCase()] = field.slice(eq + 1);
  }
  return entry;
}

/** A cache-from / cache-to value: `type=…,…`, or a bare reference meaning `type=registry,ref=…`. */
export function cacheEntry(text: string): Entry {
  return csvEntry(text, (ref) => ({ type: 'registry', ref }));
}

/** An output value: `type=…,…`, or a bare path meaning `type=local,dest=…`. */
export function outputEntry(text: string): Entry {
  return csvEntry(text, (dest) => ({ type: 'local', dest }));
}

/** A secret: `id=…,src=…` / `id=…,env=…` (`type=env|file` as buildx writes it). */
export function secretEntry(value: HclValue): Secret {
  const e = typeof value === 'string' ? csvEntry(value, (id) => ({ id })) : stringMap(value, 'secret');
  const id = e.id ?? '';
  if (id === '') throw new BakeError('BAKE_INVALID', `secret ${JSON.stringify(value)}: an id is required`);
  const src = e.src ?? e.source;
  if (e.type === 'env' || (e.env !== undefined && src === undefined)) return { id, env: e.env ?? id };
  return { id, ...(src === undefined ? {} : { src }) };
}

/** An SSH agent: `default`, `ID=PATH[,PATH]`, or `{id, paths}`. */
export function sshEntry(value: HclValue): Ssh {
  if (typeof value === 'string') {
    const eq = value.indexOf('=');
    if (eq < 0) return { id: value };
    return { id: value.slice(0, eq), paths: value.slice(eq + 1).split(',').filter((p) => p !== '') };
  }
  const o = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
  const paths = Array.isArray(o.paths) ? o.paths.map((p) => String(p)) : undefined;
  return { id: String(o.id ?? 'default'), ...(paths === undefined || paths.length === 0 ? {} : { paths }) };
}

function stringValue(value: HclValue, what: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new BakeError('BAKE_INVALID', `${what} must be a string, not ${JSON.stringify(value)}`);
}

function stringList(value: HclValue, what: string): string[] {
  if (value === null) return [];
  if (!Array.isArray(value)) return [stringValue(value, what)];
  return value.map((v) => stringValue(v, what));
}

function nullableMap(value: HclValue, what: string): Record<string, string | null> {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new BakeError('BAKE_INVALID', `${what} must be a map`);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v === null ? null : stringValue(v, `${what}.${k}`)]));
}

function stringMap(value: HclValue, what: string): Record<string, string> {
  return Object.fromEntries(Object.entries(nullableMap(value, what)).filter((e): e is [string, string] => e[1] !== null));
}

function boolValue(value: HclValue, what: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new BakeError('BAKE_INVALID', `${what} must be a bool, not ${JSON.stringify(value)}`);
}

function entries(value: HclValue, what: string, fromText: (text: string) => Entry): Entry[] {
  const items = Array.isArray(value) ? value : value === null ? [] : [value];
  return items.map((item) => (typeof item === 'string' ? fromText(item) : stringMap(item, what)));
}

/** A target from the evaluated attributes of a block (or a JSON object); unknown attributes are errors, ignored ones noted. */
export function targetFromAttributes(name: string, attrs: Record<string, HclValue>, ignored: Set<string>): Target {
  const t: Target = {};
  const what = (key: string) => `target ${name}: ${key}`;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null && key !== 'args' && key !== 'labels') continue;
    switch (key) {
      case 'description':
      case 'context':
      case 'dockerfile':
      case 'dockerfile-inline':
      case 'target':
      case 'network':
        t[key] = stringValue(value, what(key));
        break;
      case 'inherits':
      case 'tags':
      case 'platforms':
      case 'no-cache-filter':
      case 'entitlements':
        t[key] = stringList(value, what(key));
        break;
      case 'args':
      case 'labels':
      case 'extra-hosts':
        t[key] = nullableMap(value, what(key));
        break;
      case 'contexts':
        t.contexts = stringMap(value, what(key));
        break;
      case 'cache-from':
      case 'cache-to':
        t[key] = entries(value, what(key), cacheEntry);
        break;
      case 'output':
        t.output = entries(value, what(key), outputEntry);
        break;
      case 'secret':
        t.secret = (Array.isArray(value) ? value : [value]).map(secretEntry);
        break;
      case 'ssh':
        t.ssh = (Array.isArray(value) ? value : [value]).map(sshEntry);
        break;
      case 'pull':
      case 'no-cache':
        t[key] = boolValue(value, what(key));
        break;
      case 'matrix':
      case 'name':
        throw new BakeError('BAKE_UNSUPPORTED', `${what(key)}: matrix targets are not supported by strata bake yet`);
      default:
        if (IGNORED.has(key)) ignored.add(key);
        else throw new BakeError('BAKE_INVALID', `${what(key)}: unknown attribute`);
    }
  }
  return t;
}

function dedupe<T>(items: readonly T[], keyOf: (item: T) => string = (i) => JSON.stringify(i)): T[] {
  const seen = new Map<string, T>();
  for (const item of items) {
    const k = keyOf(item);
    seen.delete(k);
    seen.set(k, item);
  }
  return [...seen.values()];
}

/** buildx's Target.Merge: what `t2` sets replaces (tags, platforms, cache-to, output, scalars) or merges into (maps, cache-from, secret, ssh, lists that append) `t`. */
export function mergeTarget(t: Target, t2: Target): Target {
  const out: Target = { ...t };
  for (const key of ['context', 'dockerfile', 'dockerfile-inline', 'target', 'pull', 'no-cache', 'network', 'description'] as const) {
    if (t2[key] !== undefined) (out as Record<string, unknown>)[key] = t2[key];
  }
  for (const key of ['args', 'labels', 'extra-hosts'] as const) {
    const add = Object.entries(t2[key] ?? {}).filter((e) => e[1] !== null);
    if (add.length > 0) out[key] = { ...(out[key] ?? {}), ...Object.fromEntries(add) };
  }
  if (t2.contexts !== undefined) out.contexts = { ...(out.contexts ?? {}), ...t2.contexts };
  for (const key of ['tags', 'platforms', 'cache-to', 'output'] as const) if (t2[key] !== undefined) (out as Record<string, unknown>)[key] = t2[key];
  if (t2['cache-from'] !== undefined) out['cache-from'] = dedupe([...(out['cache-from'] ?? []), ...t2['cache-from']]);
  if (t2.secret !== undefined) out.secret = dedupe([...(out.secret ?? []), ...t2.secret], (s) => s.id);
  if (t2.ssh !== undefined) out.ssh = dedupe([...(out.ssh ?? []), ...t2.ssh], (s) => s.id);
  if (t2['no-cache-filter'] !== undefined) out['no-cache-filter'] = [...(out['no-cache-filter'] ?? []), ...t2['no-cache-filter']];
  if (t2.entitlements !== undefined) out.entitlements = [...(out.entitlements ?? []), ...t2.entitlements];
  return out;
}

/** buildx's normalize: duplicates out, empty contexts dropped, network=host asks for the network.host entitlement. */
export function normalizeTarget(t: Target): Target {
  const out: Target = { ...t };
  for (const key of ['tags', 'platforms', 'no-cache-filter'] as const) if (out[key] !== undefined) out[key] = dedupe(out[key] as string[]);
  if (out.network === 'host') out.entitlements = [...(out.entitlements ?? []), 'network.host'];
  if (out.entitlements !== undefined) out.entitlements = dedupe(out.entitlements);
  if (out.secret !== undefined) out.secret = dedupe(out.secret, (s) => s.id).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (out.ssh !== undefined) out.ssh = dedupe(out.ssh, (s) => s.id).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (out.contexts !== undefined) {
    const kept = Object.entries(out.contexts).filter((e) => e[1] !== '');
    if (kept.length === 0) delete out.contexts;
    else out.contexts = Object.fromEntries(kept);
  }
  for (const key of ['args', 'labels', 'extra-hosts'] as const) {
    const kept = Object.entries(out[key] ?? {}).filter((e) => e[1] !== null);
    if (kept.length === 0) delete out[key];
    else out[key] = Object.fromEntries(kept);
  }
  return out;
}

/** The order buildx writes a target's fields in (its Target struct). */
const FIELD_ORDER: readonly (keyof Target)[] = [
  'description', 'context', 'contexts', 'dockerfile', 'dockerfile-inline', 'args', 'labels', 'tags', 'cache-from', 'cache-to',
  'target', 'secret', 'ssh', 'platforms', 'output', 'pull', 'no-cache', 'network', 'no-cache-filter', 'entitlements', 'extra-hosts',
];

const sortedObject = <T>(o: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
/** `${` and `%{` written escaped, so that the printed definition reads back as a bake file. */
const escapeTemplate = (s: string) => s.replace(/\$\{/g, '$$$${').replace(/%\{/g, '%%{');

/** A resolved target as `--print` writes it: buildx's field order, map keys sorted, template characters escaped. */
export function printableTarget(t: Target): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of FIELD_ORDER) {
    const value = t[key];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    if (key === 'dockerfile-inline') out[key] = escapeTemplate(value as string);
    else if (key === 'args' || key === 'labels' || key === 'extra-hosts') {
      out[key] = sortedObject(Object.fromEntries(Object.entries(value as Record<string, string>).map(([k, v]) => [k, escapeTemplate(v)])));
    } else if (key === 'contexts') out[key] = sortedObject(value as Record<string, string>);
    else if (key === 'cache-from' || key === 'cache-to' || key === 'output') out[key] = (value as Entry[]).map((e) => sortedObject(e));
    else out[key] = value;
  }
  return out;
}
