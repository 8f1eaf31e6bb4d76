import { createHash, randomUUID } from 'node:crypto';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, resolve } from 'node:path';

/** An evaluated HCL value (cty's types as JSON: lists and tuples are arrays, maps and objects plain objects). */
export type HclValue = string | number | boolean | null | HclValue[] | { [key: string]: HclValue };

export function typeName(value: HclValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  return typeof value === 'object' ? 'object' : typeof value;
}

function str(value: HclValue | undefined, what = 'argument'): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`the ${what} must be a string, not ${typeName(value ?? null)}`);
}

function num(value: HclValue | undefined): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || Number.isNaN(n)) throw new Error(`a number is required, not ${typeName(value ?? null)}`);
  return n;
}

function list(value: HclValue | undefined): HclValue[] {
  if (Array.isArray(value)) return value;
  throw new Error(`a list is required, not ${typeName(value ?? null)}`);
}

function obj(value: HclValue | undefined): Record<string, HclValue> {
  if (value !== null && value !== undefined && typeof value === 'object' && !Array.isArray(value)) return value;
  throw new Error(`a map is required, not ${typeName(value ?? null)}`);
}

function bool(value: HclValue | undefined): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new Error(`a bool is required, not ${typeName(value ?? null)}`);
}

const same = (a: HclValue, b: HclValue) => JSON.stringify(a) === JSON.stringify(b);

function distinct(items: HclValue[]): HclValue[] {
  const out: HclValue[] = [];
  for (const v of items) if (!out.some((o) => same(o, v))) out.push(v);
  return out;
}

const hash = (algorithm: string) => (a: HclValue[]) => createHash(algorithm).update(str(a[0])).digest('hex');

/** Go's regexp syntax, as far as JavaScript's shares it; named groups `(?P<n>…)` become `(?<n>…)`. */
const re = (pattern: HclValue | undefined, flags = '') => new RegExp(str(pattern).replace(/\(\?P</g, '(?<'), flags);

/** `format`'s verbs that bake files use: %s %d %v %q %f %%. */
function format(spec: string, args: HclValue[]): string {
  let i = 0;
  return spec.replace(/%(-?[0-9]*)(\.[0-9]+)?([sdvqf%])/g, (_, width: string, precision: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const arg = args[i++] ?? null;
    let text = verb === 'q' ? JSON.stringify(str(arg)) : verb === 'f' ? num(arg).toFixed(precision === undefined ? 6 : Number(precision.slice(1))) : verb === 'd' ? String(Math.trunc(num(arg))) : typeof arg === 'object' && arg !== null ? JSON.stringify(arg) : str(arg);
    const w = Number(width || '0');
    if (Math.abs(w) > text.length) text = w < 0 ? text.padEnd(-w) : text.padStart(w);
    return text;
  });
}

/** buildx's sanitize: every character other than a letter, digit or underscore becomes an underscore. */
const sanitize = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');

type Fn = (args: HclValue[]) => HclValue;

/**
 * The functions bake files can call (go-cty's stdlib as buildx ships it).
 * Left out: bcrypt, rsadecrypt, the cidr* network functions, convert, the
 * time functions but timestamp, semvercmp, setproduct and uuidv5.
 */
const FUNCTIONS: Record<string, Fn> = {
  // strings
  lower: (a) => str(a[0]).toLowerCase(),
  upper: (a) => str(a[0]).toUpperCase(),
  title: (a) => str(a[0]).replace(/\b\w/g, (c) => c.toUpperCase()),
  trim: (a) => {
    const cut = [...str(a[1])];
    let s = str(a[0]);
    while (s !== '' && cut.includes(s[0] as string)) s = s.slice(1);
    while (s !== '' && cut.includes(s[s.length - 1] as string)) s = s.slice(0, -1);
    return s;
  },
  trimspace: (a) => str(a[0]).trim(),
  trimprefix: (a) => (str(a[0]).startsWith(str(a[1])) ? str(a[0]).slice(str(a[1]).length) : str(a[0])),
  trimsuffix: (a) => (str(a[1]) !== '' && str(a[0]).endsWith(str(a[1])) ? str(a[0]).slice(0, -str(a[1]).length) : str(a[0])),
  chomp: (a) => str(a[0]).replace(/(\r?\n)+$/, ''),
  indent: (a) => str(a[1]).replace(/\n/g, `\n${' '.repeat(num(a[0]))}`),
  replace: (a) => {
    const s = str(a[0]);
    const find = str(a[1]);
    // terraform's convention: a /pattern/ is a regular expression
    if (find.length > 1 && find.startsWith('/') && find.endsWith('/')) return s.replace(re(find.slice(1, -1), 'g'), str(a[2]).replace(/\$\{?(\w+)\}?/g, '$<$1>'));
    return s.split(find).join(str(a[2]));
  },
  regex_replace: (a) => str(a[0]).replace(re(a[1], 'g'), str(a[2]).replace(/\$\{?(\d+)\}?/g, '$$$1')),
  regex: (a) => {
    const m = re(a[0]).exec(str(a[1]));
    if (m === null) throw new Error('the pattern did not match');
    if (m.groups !== undefined) return { ...m.groups } as Record<string, HclValue>;
    return m.length > 1 ? m.slice(1).map((g) => g ?? null) : (m[0] as string);
  },
  regexall: (a) => [...str(a[1]).matchAll(re(a[0], 'g'))].map((m) => (m.length > 1 ? m.slice(1).map((g) => g ?? null) : (m[0] as string))),
  split: (a) => str(a[1]).split(str(a[0])),
  join: (a) => a.slice(1).flatMap((l) => list(l)).map((v) => str(v)).join(str(a[0])),
  substr: (a) => {
    const chars = [...str(a[0])];
    const offset = num(a[1]) < 0 ? chars.length + num(a[1]) : num(a[1]);
    const length = num(a[2]) < 0 ? undefined : offset + num(a[2]);
    return chars.slice(offset, length).join('');
  },
  strlen: (a) => [...str(a[0])].length,
  format: (a) => format(str(a[0]), a.slice(1)),
  formatlist: (a) => {
    const lists = a.slice(1).filter(Array.isArray) as HclValue[][];
    const n = lists.length === 0 ? 1 : Math.max(...lists.map((l) => l.length));
    return Array.from({ length: n }, (_, i) => format(str(a[0]), a.slice(1).map((v) => (Array.isArray(v) ? (v[i] ?? null) : v))));
  },
  sanitize: (a) => sanitize(str(a[0])),
  urlencode: (a) => encodeURIComponent(str(a[0])),
  base64encode: (a) => Buffer.from(str(a[0]), 'utf8').toString('base64'),
  base64decode: (a) => Buffer.from(str(a[0]), 'base64').toString('utf8'),
  md5: hash('md5'),
  sha1: hash('sha1'),
  sha256: hash('sha256'),
  sha512: hash('sha512'),
  uuidv4: () => randomUUID(),
  jsonencode: (a) => JSON.stringify(a[0] ?? null),
  jsondecode: (a) => JSON.parse(str(a[0])) as HclValue,
  csvdecode: (a) => {
    const rows = str(a[0]).trim().split(/\r?\n/).map((line) => line.split(','));
    const [head = [], ...body] = rows;
    return body.map((row) => Object.fromEntries(head.map((h, i) => [h, row[i] ?? ''])));
  },
  // numbers
  add: (a) => num(a[0]) + num(a[1]),
  subtract: (a) => num(a[0]) - num(a[1]),
  multiply: (a) => num(a[0]) * num(a[1]),
  divide: (a) => num(a[0]) / num(a[1]),
  modulo: (a) => num(a[0]) % num(a[1]),
  negate: (a) => -num(a[0]),
  abs: (a) => Math.abs(num(a[0])),
  ceil: (a) => Math.ceil(num(a[0])),
  floor: (a) => Math.floor(num(a[0])),
  signum: (a) => Math.sign(num(a[0])),
  int: (a) => Math.trunc(num(a[0])),
  log: (a) => Math.log(num(a[0])) / Math.log(num(a[1])),
  pow: (a) => num(a[0]) ** num(a[1]),
  max: (a) => Math.max(...a.map(num)),
  min: (a) => Math.min(...a.map(num)),
  parseint: (a) => parseInt(str(a[0]), num(a[1])),
  greaterthan: (a) => num(a[0]) > num(a[1]),
  greaterthanorequalto: (a) => num(a[0]) >= num(a[1]),
  lessthan: (a) => num(a[0]) < num(a[1]),
  lessthanorequalto: (a) => num(a[0]) <= num(a[1]),
  // logic
  equal: (a) => same(a[0] ?? null, a[1] ?? null),
  notequal: (a) => !same(a[0] ?? null, a[1] ?? null),
  and: (a) => bool(a[0]) && bool(a[1]),
  or: (a) => bool(a[0]) || bool(a[1]),
  not: (a) => !bool(a[0]),
  coalesce: (a) => {
    const found = a.find((v) => v !== null && v !== '');
    if (found === undefined) throw new Error('no non-null, non-empty argument');
    return found;
  },
  coalescelist: (a) => a.find((v) => Array.isArray(v) && v.length > 0) ?? [],
  // collections
  length: (a) => (typeof a[0] === 'string' ? [...a[0]].length : Array.isArray(a[0]) ? a[0].length : Object.keys(obj(a[0])).length),
  concat: (a) => a.flatMap((l) => list(l)),
  contains: (a) => list(a[0]).some((v) => same(v, a[1] ?? null)),
  compact: (a) => list(a[0]).filter((v) => v !== null && v !== ''),
  distinct: (a) => distinct(list(a[0])),
  flatten: (a) => {
    const flat = (l: HclValue[]): HclValue[] => l.flatMap((v) => (Array.isArray(v) ? flat(v) : [v]));
    return flat(list(a[0]));
  },
  element: (a) => {
    const l = list(a[0]);
    if (l.length === 0) throw new Error('cannot use element() on an empty list');
    return l[((num(a[1]) % l.length) + l.length) % l.length] as HclValue;
  },
  index: (a) => {
    if (Array.isArray(a[0])) return a[0][num(a[1])] ?? null;
    return obj(a[0])[str(a[1])] ?? null;
  },
  indexof: (a) => list(a[0]).findIndex((v) => same(v, a[1] ?? null)),
  hasindex: (a) => (Array.isArray(a[0]) ? num(a[1]) >= 0 && num(a[1]) < a[0].length : str(a[1]) in obj(a[0])),
  keys: (a) => Object.keys(obj(a[0])).sort(),
  values: (a) => {
    const o = obj(a[0]);
    return Object.keys(o).sort().map((k) => o[k] as HclValue);
  },
  lookup: (a) => {
    const o = obj(a[0]);
    const k = str(a[1]);
    if (k in o) return o[k] as HclValue;
    if (a.length > 2) return a[2] as HclValue;
    throw new Error(`the map has no key ${JSON.stringify(k)}`);
  },
  merge: (a) => Object.assign({}, ...a.filter((v) => v !== null).map(obj)) as Record<string, HclValue>,
  zipmap: (a) => Object.fromEntries(list(a[0]).map((k, i) => [str(k), list(a[1])[i] ?? null])),
  range: (a) => {
    const [start, end, step] = a.length === 1 ? [0, num(a[0]), 1] : [num(a[0]), num(a[1]), a.length > 2 ? num(a[2]) : 1];
    const out: number[] = [];
    for (let i = start; step > 0 ? i < end : i > end; i += step) out.push(i);
    return out;
  },
  reverse: (a) => (typeof a[0] === 'string' ? [...a[0]].reverse().join('') : [...list(a[0])].reverse()),
  reverselist: (a) => [...list(a[0])].reverse(),
  slice: (a) => list(a[0]).slice(num(a[1]), num(a[2])),
  sort: (a) => list(a[0]).map((v) => str(v)).sort(),
  chunklist: (a) => {
    const l = list(a[0]);
    const size = num(a[1]);
    const out: HclValue[] = [];
    for (let i = 0; i < l.length; i += size) out.push(l.slice(i, i + size));
    return out;
  },
  setunion: (a) => distinct(a.flatMap((l) => list(l))),
  setintersection: (a) => distinct(list(a[0]).filter((v) => a.slice(1).every((l) => list(l).some((w) => same(v, w))))),
  setsubtract: (a) => list(a[0]).filter((v) => !list(a[1]).some((w) => same(v, w))),
  setsymmetricdifference: (a) => {
    const all = a.flatMap((l) => distinct(list(l)));
    return distinct(all.filter((v) => all.filter((w) => same(v, w)).length === 1));
  },
  sethaselement: (a) => list(a[0]).some((v) => same(v, a[1] ?? null)),
  // paths and time
  basename: (a) => basename(str(a[0])),
  dirname: (a) => dirname(str(a[0])),
  absolute: (a) => (isAbsolute(str(a[0])) ? str(a[0]) : resolve(str(a[0]))),
  homedir: () => homedir(),
  timestamp: () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
};

/** Calls a built-in function; throws for an unknown one (the message names what is left out). */
export function callFunction(name: string, args: HclValue[]): HclValue {
  const fn = FUNCTIONS[name];
  if (fn === undefined) throw new Error(`there is no function named ${name} (strata evaluates go-cty's stdlib as buildx ships it, less bcrypt, rsadecrypt, cidr*, convert, time functions but timestamp, semvercmp, setproduct, uuidv5)`);
  return fn(args);
}
