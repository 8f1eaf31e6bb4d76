import { baseFields, flagsOf, requireExactlyOne, type InstructionInput } from './common.js';
import type { UserInstruction } from './types.js';

/** `USER name[:group]` or `USER uid[:gid]`, as written. */
export function parseUser(input: InstructionInput): UserInstruction {
  const user = requireExactlyOne(input.raw, 'USER');
  const flags = flagsOf(input.raw, {});
  return { kind: 'user', ...baseFields(input, flags.used), user };
}
