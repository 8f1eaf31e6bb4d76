/**
 * Where shell-word expansion reads variables from. A `Map<string, string>`
 * is an `EnvGetter`; so is any object with a `get` that returns `undefined`
 * for an unset name (BuildKit's `EnvGetter.Get(name) (string, bool)`).
 * A variable set to the empty string is *set*: `${X-w}` and `${X:-w}` differ
 * on it.
 */
export interface EnvGetter {
  get(name: string): string | undefined;
}

/** A plain object of names to values, or an `EnvGetter`. Only own properties count. */
export type ExpansionEnv = Readonly<Record<string, string>> | EnvGetter;

/** A function that looks one name up in an `ExpansionEnv`. */
export type EnvLookup = (name: string) => string | undefined;

/** The lookup for `env`: `get` of an EnvGetter, own properties of a record. */
export function envLookup(env: ExpansionEnv): EnvLookup {
  const getter = (env as Partial<EnvGetter>).get;
  if (typeof getter === 'function') return (name) => getter.call(env, name);
  const record = env as Readonly<Record<string, string>>;
  return (name) => (Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined);
}

/**
 * An environment from `NAME=value` strings, as BuildKit's `EnvsFromSlice`:
 * the name ends at the first `=`, an entry without `=` sets the name to the
 * empty string, and a later duplicate replaces an earlier one.
 */
export function envFromList(entries: readonly string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of entries) {
    const equals = entry.indexOf('=');
    if (equals < 0) env.set(entry, '');
    else env.set(entry.slice(0, equals), entry.slice(equals + 1));
  }
  return env;
}
