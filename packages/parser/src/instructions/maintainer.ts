import { baseFields, flagsOf, requireExactlyOne, type InstructionInput } from './common.js';
import type { MaintainerInstruction } from './types.js';

/** `MAINTAINER name` (deprecated; lint reports MaintainerDeprecated). */
export function parseMaintainer(input: InstructionInput): MaintainerInstruction {
  const maintainer = requireExactlyOne(input.raw, 'MAINTAINER');
  const flags = flagsOf(input.raw, {});
  return { kind: 'maintainer', ...baseFields(input, flags.used), maintainer };
}
