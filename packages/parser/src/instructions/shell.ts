import { InstructionErrors } from './errors.js';
import { baseFields, fail, flagsOf, handleJsonArgs, type InstructionInput } from './common.js';
import type { ShellInstruction } from './types.js';

/** `SHELL ["executable", "parameters"]`: JSON form only. */
export function parseShell(input: InstructionInput): ShellInstruction {
  const { raw } = input;
  const flags = flagsOf(raw, {});
  const shell = handleJsonArgs(raw.args, raw.json);
  if (shell.length === 0) fail(raw, InstructionErrors.argumentCount, 'SHELL requires at least one argument');
  if (!raw.json) fail(raw, InstructionErrors.notJson, 'SHELL', raw.original);
  return { kind: 'shell', ...baseFields(input, flags.used), shell };
}
