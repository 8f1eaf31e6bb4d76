import { baseFields, flagsOf, type InstructionInput } from './common.js';
import { parseKeyValues } from './key-values.js';
import type { LabelInstruction } from './types.js';

/** `LABEL key=value ...` or the legacy `LABEL key value`. */
export function parseLabel(input: InstructionInput): LabelInstruction {
  const flags = flagsOf(input.raw, {});
  const pairs = parseKeyValues(input.raw, 'LABEL');
  return { kind: 'label', ...baseFields(input, flags.used), pairs };
}
