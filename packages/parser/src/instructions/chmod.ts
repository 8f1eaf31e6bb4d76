import { InstructionErrors, valueError } from './errors.js';

export type ChmodSpec =
  | { readonly kind: 'octal'; readonly mode: number }
  | { readonly kind: 'symbolic'; readonly clauses: readonly SymbolicClause[] };

export interface SymbolicClause {
  /** Which of u, g, o; `a` or nothing means all three. */
  readonly who: string;
  readonly op: '+' | '-' | '=';
  /** Some of r, w, x, X, s, t. */
  readonly perms: string;
}

/**
 * A `--chmod` value once expanded: octal (`755`, `0644`) or symbolic
 * (`u+x,g-w`, `a=rX`). Throws a location-less DockerfileError (PARSE_INVALID_CHMOD).
 */
export function parseChmod(text: string): ChmodSpec {
  if (/^[0-7]{1,4}$/.test(text)) return { kind: 'octal', mode: parseInt(text, 8) };
  const clauses: SymbolicClause[] = [];
  for (const part of text.split(',')) {
    const match = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(part);
    if (match === null) throw valueError(InstructionErrors.invalidChmod, text);
    clauses.push({ who: match[1] ?? '', op: match[2] as '+' | '-' | '=', perms: match[3] ?? '' });
  }
  return { kind: 'symbolic', clauses };
}

/** Applies a chmod spec to an existing mode (permission bits only for symbolic clauses; X counts directories). */
export function applyChmod(spec: ChmodSpec, mode: number, isDirectory: boolean): number {
  if (spec.kind === 'octal') return spec.mode;
  let result = mode & 0o7777;
  for (const clause of spec.clauses) {
    const who = clause.who === '' || clause.who.includes('a') ? 'ugo' : clause.who;
    let bits = 0;
    for (const w of who) {
      const shift = w === 'u' ? 6 : w === 'g' ? 3 : 0;
      for (const p of clause.perms) {
        if (p === 'r') bits |= 4 << shift;
        else if (p === 'w') bits |= 2 << shift;
        else if (p === 'x') bits |= 1 << shift;
        else if (p === 'X' && (isDirectory || (mode & 0o111) !== 0)) bits |= 1 << shift;
        else if (p === 's' && w === 'u') bits |= 0o4000;
        else if (p === 's' && w === 'g') bits |= 0o2000;
        else if (p === 't' && w === 'o') bits |= 0o1000;
      }
    }
    if (clause.op === '+') result |= bits;
    else if (clause.op === '-') result &= ~bits;
    else {
      let mask = 0;
      for (const w of who) mask |= w === 'u' ? 0o4700 : w === 'g' ? 0o2070 : 0o1007;
      result = (result & ~mask) | bits;
    }
  }
  return result;
}
