import { BakeError } from './errors.js';
import {
  cacheEntry,
  csvFields,
  mergeTarget,
  normalizeTarget,
  outputEntry,
  printableTarget,
  secretEntry,
  sshEntry,
  type BakeConfig,
  type Entry,
  type Group,
  type Target,
} from './model.js';

/** One `--set pattern.key[.sub][+]=value`, read. */
export interface Override {
  readonly pattern: string;
  readonly key: string;
  readonly sub?: string;
  readonly append: boolean;
  readonly value: string | undefined;
}

/** The targets to build and the groups asked for: buildx's resolved definition (what --print writes). */
export interface Definition {
  readonly groups: Map<string, Group>;
  readonly targets: Map<string, Target>;
  /** Targets pulled in only by `target:NAME` contexts (built, not exported: buildx gives them `output=cacheonly`). */
  readonly linked: Set<string>;
}

const LIST_KEYS = new Set(['output', 'cache-to', 'cache-from', 'tags', 'platform', 'secrets', 'ssh', 'entitlements', 'no-cache-filter']);
const MAP_KEYS = new Set(['args', 'labels', 'contexts', 'extra-hosts', 'secret']);
const SCALAR_KEYS = new Set(['context', 'dockerfile', 'target', 'network', 'no-cache', 'pull', 'push', 'load']);

/** Reads `--set` values as buildx does (`*.platform=…`, `app.args.X=…`, `app.tags+=…`; `args.X` alone takes X from the environment). */
export function parseOverride(text: string, env: Readonly<Record<string, string | undefined>>): Override {
  const eq = text.indexOf('=');
  const left = eq < 0 ? text : text.slice(0, eq);
  const append = left.endsWith('+');
  const keys = (append ? left.slice(0, -1) : left).split('.');
  const [pattern = '', key = '', ...rest] = keys;
  if (keys.length < 2 || pattern === '' || key === '') throw new BakeError('BAKE_OVERRIDE', `--set ${text}: expected TARGET.KEY=VALUE`);
  const sub = rest.length === 0 ? undefined : rest.join('.');
  if (MAP_KEYS.has(key) && sub === undefined) throw new BakeError('BAKE_OVERRIDE', `--set ${text}: ${key} needs a name (${pattern}.${key}.NAME=VALUE)`);
  if (!MAP_KEYS.has(key) && !LIST_KEYS.has(key) && !SCALAR_KEYS.has(key)) throw new BakeError('BAKE_OVERRIDE', `--set ${text}: ${key} cannot be overridden`);
  if (append && !LIST_KEYS.has(key)) throw new BakeError('BAKE_OVERRIDE', `--set ${text}: ${key} does not take +=`);
  let value = eq < 0 ? undefined : text.slice(eq + 1);
  if (value === undefined && key === 'args') value = env[sub as string];
  if (value === undefined && (key === 'no-cache' || key === 'pull' || key === 'push' || key === 'load')) value = 'true';
  if (value === undefined && key !== 'args') throw new BakeError('BAKE_OVERRIDE', `--set ${text}: expected TARGET.KEY=VALUE`);
  return { pattern, key, ...(sub === undefined ? {} : { sub }), append, value };
}

/** Repeated `--set` of a list key add up to one list (buildx: `--set t.tags=a --set t.tags=b` gives both). */
function combineOverrides(overrides: readonly Override[]): Override[] {
  const out: Override[] = [];
  for (const o of overrides) {
    const prior = LIST_KEYS.has(o.key) ? out.find((p) => p.pattern === o.pattern && p.key === o.key) : undefined;
    if (prior === undefined) out.push(o);
    else out[out.indexOf(prior)] = { ...prior, append: o.append, value: `${prior.value ?? ''}\u0000${o.value ?? ''}` };
  }
  return out;
}

/** path.Match's glob (`*`, `?`, `[…]`) as a regular expression. */
function glob(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
}

function boolText(value: string, key: string): boolean {
  if (/^(1|t|true|TRUE|True)$/.test(value)) return true;
  if (/^(0|f|false|FALSE|False)$/.test(value)) return false;
  throw new BakeError('BAKE_OVERRIDE', `--set ${key}=${value}: not a bool`);
}

/** `--push`: an image output pushes; without outputs, one that does. `--load`: the image stays in strata's store (a docker output without dest is what buildx loads into docker). */
function setPush(outputs: Entry[] | undefined): Entry[] {
  if (outputs === undefined || outputs.length === 0) return [{ type: 'image', push: 'true' }];
  return outputs.map((o) => (o.type === 'image' ? { ...o, push: 'true' } : o));
}

function setLoad(outputs: Entry[] | undefined): Entry[] {
  if (outputs === undefined || outputs.length === 0) return [{ type: 'docker' }];
  if (outputs.some((o) => o.type === 'local' || o.type === 'tar' || o.type === 'docker')) return outputs;
  return [...outputs, { type: 'docker' }];
}

function applyOverride(t: Target, o: Override): Target {
  const out: Target = { ...t };
  const values = (o.value ?? '').split('\u0000');
  const list = <T>(current: T[] | undefined, add: T[]): T[] => (o.append ? [...(current ?? []), ...add] : add);
  switch (o.key) {
    case 'context':
    case 'dockerfile':
    case 'target':
    case 'network':
      out[o.key] = o.value as string;
      break;
    case 'no-cache':
    case 'pull':
      out[o.key] = boolText(o.value as string, o.key);
      break;
    case 'push':
      if (boolText(o.value as string, o.key)) out.output = setPush(out.output);
      break;
    case 'load':
      if (boolText(o.value as string, o.key)) out.output = setLoad(out.output);
      break;
    case 'args':
    case 'labels':
    case 'extra-hosts':
      if (o.value !== undefined) out[o.key] = { ...(out[o.key] ?? {}), [o.sub as string]: o.value };
      break;
    case 'contexts':
      out.contexts = { ...(out.contexts ?? {}), [o.sub as string]: o.value as string };
      break;
    case 'secret': {
      if (!(out.secret ?? []).some((s) => s.id === o.sub)) throw new BakeError('BAKE_OVERRIDE', `--set ${o.pattern}.secret.${o.sub ?? ''}: the target declares no secret ${o.sub ?? ''}`);
      const replaced = secretEntry(`id=${o.sub ?? ''},${o.value ?? ''}`);
      out.secret = (out.secret ?? []).map((s) => (s.id === o.sub ? replaced : s));
      break;
    }
    case 'tags':
      out.tags = list(out.tags, values);
      break;
    case 'platform':
      out.platforms = list(out.platforms, values.flatMap((v) => csvFields(v)));
      break;
    case 'no-cache-filter':
      out['no-cache-filter'] = list(out['no-cache-filter'], values.flatMap((v) => csvFields(v)));
      break;
    case 'entitlements':
      out.entitlements = [...(out.entitlements ?? []), ...values];
      break;
    case 'cache-from':
      out['cache-from'] = list(out['cache-from'], values.map(cacheEntry));
      break;
    case 'cache-to':
      out['cache-to'] = list(out['cache-to'], values.map(cacheEntry));
      break;
    case 'output':
      out.output = list(out.output, values.map(outputEntry));
      break;
    case 'secrets':
      out.secret = list(out.secret, values.map(secretEntry));
      break;
    case 'ssh':
      out.ssh = list(out.ssh, values.map(sshEntry));
      break;
  }
  return out;
}

/** The targets a name stands for: a group (groups come first, nested ones expanded) or a target; globs match both. */
function expandName(config: BakeConfig, name: string, seen: Set<string> = new Set()): { targets: string[]; groups: string[] } {
  if (/[*?[]/.test(name)) {
    const re = glob(name);
    const names = [...config.groups.keys(), ...config.targets.keys()].filter((n) => re.test(n));
    if (names.length === 0) throw new BakeError('BAKE_TARGET_UNKNOWN', `no target or group matches ${name}`);
    const parts = [...new Set(names)].map((n) => expandName(config, n, seen));
    return { targets: parts.flatMap((p) => p.targets), groups: parts.flatMap((p) => p.groups) };
  }
  const group = config.groups.get(name);
  if (group === undefined) return { targets: [name], groups: [] };
  if (seen.has(name)) return { targets: [], groups: [] };
  seen.add(name);
  const parts = group.targets.map((t) => expandName(config, t, seen));
  return { targets: parts.flatMap((p) => p.targets), groups: [name, ...parts.flatMap((p) => p.groups)] };
}

/**
 * buildx's resolution: the names asked for (default `default`) become
 * targets through groups; each target is its `inherits` merged in order, then
 * its own attributes, then the `--set` overrides that match it, with context
 * `.` and dockerfile `Dockerfile` by default. Targets that `target:NAME`
 * contexts name are added too (linked: built, not exported). The `default`
 * group lists the names asked for, sorted.
 */
export function resolveDefinition(config: BakeConfig, names: readonly string[], overrides: readonly Override[]): Definition {
  const asked = names.length === 0 ? ['default'] : [...names];
  const combined = combineOverrides(overrides);
  const targets = new Map<string, Target>();
  const groups = new Map<string, Group>();
  const resolving: string[] = [];
  const resolveTarget = (name: string): Target => {
    const own = config.targets.get(name);
    if (own === undefined) {
      const known = [...config.targets.keys(), ...config.groups.keys()];
      throw new BakeError('BAKE_TARGET_UNKNOWN', `failed to find target ${name}${known.length === 0 ? '' : ` (targets and groups: ${known.join(', ')})`}`);
    }
    if (resolving.includes(name)) throw new BakeError('BAKE_CYCLE', `target ${name} inherits from itself (${[...resolving, name].join(' -> ')})`);
    resolving.push(name);
    let merged: Target = {};
    for (const parent of own.inherits ?? []) merged = mergeTarget(merged, resolveTarget(parent));
    resolving.pop();
    const { inherits: _inherits, ...attrs } = own;
    let t = mergeTarget(merged, attrs);
    for (const o of combined) if (glob(o.pattern).test(name)) t = applyOverride(t, o);
    return t;
  };
  const finish = (t: Target): Target => normalizeTarget({ ...t, context: t.context ?? '.', dockerfile: t.dockerfile === undefined || t.dockerfile === '' ? 'Dockerfile' : t.dockerfile });
  for (const name of asked) {
    const expanded = expandName(config, name);
    for (const t of expanded.targets) if (!targets.has(t)) targets.set(t, finish(resolveTarget(t)));
    for (const g of expanded.groups) groups.set(g, config.groups.get(g) as Group);
  }
  // buildx: the default group lists the names asked for (a default group of the file stands for itself), sorted
  const listed = asked.filter((n) => n !== 'default' || !config.groups.has('default'));
  const defaultGroup = groups.get('default');
  if (listed.length > 0 || defaultGroup !== undefined) {
    groups.set('default', { ...(defaultGroup?.description === undefined ? {} : { description: defaultGroup.description }), targets: [...new Set([...(defaultGroup?.targets ?? []), ...listed])].sort() });
  }
  // target:NAME contexts: the linked targets join the definition, built for their consumers only
  const linked = new Set<string>();
  const link = (name: string, path: readonly string[]): void => {
    for (const value of Object.values(targets.get(name)?.contexts ?? {})) {
      if (!value.startsWith('target:')) continue;
      const other = value.slice('target:'.length);
      if (other === name) throw new BakeError('BAKE_CYCLE', `target ${name} cannot use itself as a context`);
      if (path.includes(other)) throw new BakeError('BAKE_CYCLE', `targets use each other as contexts: ${[...path, name, other].join(' -> ')}`);
      if (!targets.has(other)) {
        targets.set(other, { ...finish(resolveTarget(other)), output: [{ type: 'cacheonly' }] });
        linked.add(other);
      }
      link(other, [...path, name]);
    }
  };
  for (const name of [...targets.keys()]) link(name, []);
  return { groups, targets, linked };
}

/** The definition as `--print` writes it (buildx's JSON: groups and targets by name, sorted). */
export function printDefinition(def: Definition): string {
  const sorted = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const group = Object.fromEntries(sorted(def.groups).map(([name, g]) => [name, { ...(g.description === undefined ? {} : { description: g.description }), targets: g.targets }]));
  const target = Object.fromEntries(sorted(def.targets).map(([name, t]) => [name, printableTarget(t)]));
  return `${JSON.stringify({ ...(def.groups.size === 0 ? {} : { group }), target }, null, 2)}\n`;
}
