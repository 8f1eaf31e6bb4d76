import { InstructionErrors, valueError } from './errors.js';
import type { ErrorRule } from '../errors.js';

/**
 * Splits one CSV record (the value of `--mount` or `--device`) into fields:
 * commas separate, a field that starts with `"` is quoted and `""` inside it
 * is a quote. Errors use `entry` (the caller's catalog entry).
 */
export function splitCsv(text: string, entry: ErrorRule<[string]> = InstructionErrors.invalidMount): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw valueError(entry, `failed to parse csv: extraneous or missing " in quoted-field: ${text}`);
        const c = text[i];
        if (c === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (i < text.length && text[i] !== ',') throw valueError(entry, `failed to parse csv: extraneous or missing " in quoted-field: ${text}`);
      fields.push(value);
    } else {
      const comma = text.indexOf(',', i);
      const value = comma < 0 ? text.slice(i) : text.slice(i, comma);
      if (value.includes('"')) throw valueError(entry, `failed to parse csv: bare " in non-quoted-field: ${text}`);
      fields.push(value);
      i = comma < 0 ? text.length : comma;
    }
    if (i >= text.length) return fields;
    i++; // the comma
  }
}
