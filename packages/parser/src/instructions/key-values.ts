import type { RawInstruction } from '../ast.js';
import { InstructionErrors } from './errors.js';
import { fail } from './common.js';
import type { KeyValue } from './types.js';

/** ENV/LABEL arguments: the raw layer's (key, value, "=" | "") triples. */
export function parseKeyValues(raw: RawInstruction, name: string): KeyValue[] {
  const args = raw.args;
  if (args.length === 0) fail(raw, InstructionErrors.argumentCount, `${name} requires at least one argument`);
  if (args.length % 3 !== 0) fail(raw, InstructionErrors.argumentCount, `Bad input to ${name}, too many arguments`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 3) {
    const key = args[i] ?? '';
    if (key === '') fail(raw, InstructionErrors.blankName, name);
    pairs.push({ key, value: args[i + 1] ?? '', legacy: (args[i + 2] ?? '') === '' });
  }
  return pairs;
}
