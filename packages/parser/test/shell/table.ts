import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Text tables in the manner of BuildKit's envVarTest, kept in testdata/:
 * one row per line, `input | expected`, split at the last `|`, fields
 * trimmed; `#` starts a comment line. A field written `json:<JSON>` is
 * decoded, for values with leading or trailing blanks, newlines, invisible
 * characters, arrays or objects.
 */
export interface Row {
  readonly id: string;
  readonly input: string;
  readonly expected: unknown;
}

function decode(field: string): unknown {
  const text = field.trim();
  return text.startsWith('json:') ? JSON.parse(text.slice(5)) : text;
}

export function readTable(name: string): Row[] {
  const rows: Row[] = [];
  readFileSync(join(__dirname, 'testdata', name), 'utf8')
    .split('\n')
    .forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const bar = line.lastIndexOf('|');
      if (bar < 0) throw new Error(`${name}:${index + 1}: no | in ${line}`);
      const input = decode(line.slice(0, bar));
      if (typeof input !== 'string') throw new Error(`${name}:${index + 1}: the input must be a string`);
      rows.push({ id: `${name}:${index + 1} ${JSON.stringify(input)}`, input, expected: decode(line.slice(bar + 1)) });
    });
  return rows;
}
