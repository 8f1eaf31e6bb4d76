import { InstructionErrors } from './errors.js';
import { baseFields, fail, flagsOf, type InstructionInput } from './common.js';
import type { OnbuildInstruction } from './types.js';

/** `ONBUILD INSTRUCTION ...`: kept for child images; ONBUILD, FROM and MAINTAINER are refused as triggers. */
export function parseOnbuild(input: InstructionInput): OnbuildInstruction {
  const { raw } = input;
  const trigger = raw.onbuild;
  if (trigger === undefined) fail(raw, InstructionErrors.argumentCount, 'ONBUILD requires at least one argument');
  const flags = flagsOf(raw, {});
  const name = trigger.keyword.trim().toUpperCase();
  if (name === 'ONBUILD') fail(raw, InstructionErrors.onbuildTrigger, 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (name === 'MAINTAINER' || name === 'FROM') fail(raw, InstructionErrors.onbuildTrigger, `${name} isn't allowed as an ONBUILD trigger`);
  // BuildKit keeps the logical line (continuations joined) without the ONBUILD keyword.
  const logical = (raw as { readonly logicalLine?: string }).logicalLine ?? raw.original;
  let expression = logical.replace(/^\s*ONBUILD\s*/i, '');
  for (const heredoc of raw.heredocs.length > 0 ? raw.heredocs : trigger.heredocs) {
    expression += `\n${heredoc.content}${heredoc.name}`;
  }
  return { kind: 'onbuild', ...baseFields(input, flags.used), expression, trigger };
}
