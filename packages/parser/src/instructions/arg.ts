import { InstructionErrors } from './errors.js';
import { baseFields, docComment, fail, flagsOf, requireAtLeastOne, type InstructionInput } from './common.js';
import type { ArgDefinition, ArgInstruction } from './types.js';

/** `ARG name[=default] ...`; defaults stay as written (quotes kept) until expanded. */
export function parseArg(input: InstructionInput): ArgInstruction {
  const { raw } = input;
  requireAtLeastOne(raw, 'ARG');
  const flags = flagsOf(raw, {});
  const args: ArgDefinition[] = raw.args.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) return { key: word, docComment: docComment(input.comments, word) };
    const key = word.slice(0, eq);
    if (key === '') fail(raw, InstructionErrors.blankName, 'ARG');
    return { key, defaultValue: word.slice(eq + 1), docComment: docComment(input.comments, key) };
  });
  return { kind: 'arg', ...baseFields(input, flags.used), args };
}
