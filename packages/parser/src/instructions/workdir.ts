import { baseFields, flagsOf, requireExactlyOne, type InstructionInput } from './common.js';
import type { WorkdirInstruction } from './types.js';

/** `WORKDIR path`, as written (relative paths resolve against the previous WORKDIR). */
export function parseWorkdir(input: InstructionInput): WorkdirInstruction {
  const path = requireExactlyOne(input.raw, 'WORKDIR');
  const flags = flagsOf(input.raw, {});
  return { kind: 'workdir', ...baseFields(input, flags.used), path };
}
