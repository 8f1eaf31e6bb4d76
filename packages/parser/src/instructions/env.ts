import { baseFields, flagsOf, type InstructionInput } from './common.js';
import { parseKeyValues } from './key-values.js';
import type { EnvInstruction } from './types.js';

/** `ENV key=value ...` or the legacy `ENV key value`. */
export function parseEnv(input: InstructionInput): EnvInstruction {
  const flags = flagsOf(input.raw, {});
  const pairs = parseKeyValues(input.raw, 'ENV');
  return { kind: 'env', ...baseFields(input, flags.used), pairs };
}
