import { baseFields, commandLine, flagsOf, type InstructionInput } from './common.js';
import type { CmdInstruction } from './types.js';

/** `CMD ["exec", "form"]`, `CMD shell form` or `CMD ["param"]` for an ENTRYPOINT. */
export function parseCmd(input: InstructionInput): CmdInstruction {
  const flags = flagsOf(input.raw, {});
  return { kind: 'cmd', ...baseFields(input, flags.used), ...commandLine(input.raw) };
}
