import { baseFields, commandLine, flagsOf, type InstructionInput } from './common.js';
import type { EntrypointInstruction } from './types.js';

/** `ENTRYPOINT ["exec", "form"]` or `ENTRYPOINT shell form`; an empty one clears it. */
export function parseEntrypoint(input: InstructionInput): EntrypointInstruction {
  const flags = flagsOf(input.raw, {});
  return { kind: 'entrypoint', ...baseFields(input, flags.used), ...commandLine(input.raw) };
}
