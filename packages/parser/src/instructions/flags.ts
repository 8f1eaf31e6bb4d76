import { InstructionErrors, valueError } from './errors.js';
import { suggest } from './suggest.js';

/**
 * Typed `--flag` parsing as BuildKit's BFlags does it: each instruction
 * declares its flags, then the raw `--name[=value]` words are checked
 * against the declaration.
 *
 * - string flags need `=` (`--from=` gives ""), bare `--from` is an error;
 * - bool flags are bare or `=true`/`=false` (any case); `--link=` is an error;
 * - strings flags (`--exclude`, `--mount`) may repeat and collect values;
 * - any other flag given twice is an error; `--` ends the flags;
 * - an undeclared flag is an error with a "did you mean" suggestion.
 */
export type FlagSpec =
  | { readonly type: 'string'; readonly default: string }
  | { readonly type: 'bool'; readonly default: boolean }
  | { readonly type: 'strings' };

export const flag = {
  string: (defaultValue = ''): FlagSpec & { type: 'string' } => ({ type: 'string', default: defaultValue }),
  bool: (defaultValue = false): FlagSpec & { type: 'bool' } => ({ type: 'bool', default: defaultValue }),
  strings: (): FlagSpec & { type: 'strings' } => ({ type: 'strings' }),
} as const;

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export type FlagValues<S extends FlagSpecs> = {
  readonly [K in keyof S]: S[K] extends { type: 'string' } ? string : S[K] extends { type: 'bool' } ? boolean : readonly string[];
};

export interface ParsedFlags<S extends FlagSpecs> {
  /** Each declared flag's value, or its default when not given. */
  readonly values: FlagValues<S>;
  /** Names of the flags given, in first-seen order (without `--`). */
  readonly used: readonly string[];
}

/** Parses raw flag words (`--name=value`, quotes already removed) against `specs`; throws a location-less DockerfileError. */
export function parseFlags<S extends FlagSpecs>(words: readonly string[], specs: S): ParsedFlags<S> {
  const values: Record<string, string | boolean | string[]> = {};
  for (const [name, spec] of Object.entries(specs)) {
    values[name] = spec.type === 'strings' ? [] : spec.default;
  }
  const used: string[] = [];
  for (const word of words) {
    if (word === '--') break;
    if (!word.startsWith('--')) throw valueError(InstructionErrors.flagSyntax, word);
    const eq = word.indexOf('=');
    const flagName = eq < 0 ? word : word.slice(0, eq);
    const hasValue = eq >= 0;
    const value = hasValue ? word.slice(eq + 1) : '';
    const name = flagName.slice(2);
    const spec = Object.prototype.hasOwnProperty.call(specs, name) ? specs[name] : undefined;
    if (spec === undefined) {
      throw valueError(InstructionErrors.unknownFlag, flagName, suggest(name, Object.keys(specs)));
    }
    const seen = used.includes(name);
    if (seen && spec.type !== 'strings') throw valueError(InstructionErrors.duplicateFlag, flagName);
    if (!seen) used.push(name);
    switch (spec.type) {
      case 'bool': {
        if (hasValue && value === '') throw valueError(InstructionErrors.flagValue, `missing a value on flag: ${flagName}`);
        const lower = value.toLowerCase();
        if (lower === 'true' || lower === '') values[name] = true;
        else if (lower === 'false') values[name] = false;
        else throw valueError(InstructionErrors.flagValue, `expecting boolean value for flag ${flagName}, not: ${value}`);
        break;
      }
      case 'string':
        if (!hasValue) throw valueError(InstructionErrors.flagValue, `missing a value on flag: ${flagName}`);
        values[name] = value;
        break;
      case 'strings':
        if (!hasValue) throw valueError(InstructionErrors.flagValue, `missing a value on flag: ${flagName}`);
        (values[name] as string[]).push(value);
        break;
    }
  }
  return { values: values as FlagValues<S>, used };
}
