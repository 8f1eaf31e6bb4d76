import type { ParseResult, RawInstruction } from '@strata/parser';
import { goQuote } from './go-quote.js';

/** One instruction in BuildKit's `Node.Dump` notation, without the outer parentheses. */
export function dumpInstruction(instruction: RawInstruction): string {
  let text = instruction.keyword;
  if (instruction.flags.length > 0) text += ` [${instruction.flags.map(goQuote).join(' ')}]`;
  for (const arg of instruction.args) text += ` ${goQuote(arg)}`;
  if (instruction.onbuild !== undefined) text += ` (${dumpInstruction(instruction.onbuild)})`;
  // Go's Dump ends with strings.TrimSpace: an empty keyword leaves no leading space.
  return text.replace(/^ +/, '');
}

/**
 * A parse result in BuildKit's dump notation: one `(instruction)` line per
 * instruction, as its parser tests print `result.AST.Dump() + "\n"`.
 */
export function formatDump(result: ParseResult): string {
  return result.instructions.map((i) => `(${dumpInstruction(i)})\n`).join('');
}
