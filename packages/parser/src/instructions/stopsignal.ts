import { baseFields, flagsOf, requireExactlyOne, type InstructionInput } from './common.js';
import type { StopSignalInstruction } from './types.js';

/** `STOPSIGNAL signal` (name or number; checked once expanded). */
export function parseStopSignal(input: InstructionInput): StopSignalInstruction {
  const signal = requireExactlyOne(input.raw, 'STOPSIGNAL');
  const flags = flagsOf(input.raw, {});
  return { kind: 'stopsignal', ...baseFields(input, flags.used), signal };
}
