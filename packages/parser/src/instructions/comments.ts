import type { ParseResult, RawInstruction } from '../ast.js';

/**
 * The comment lines right above each instruction, as BuildKit collects them
 * (its `PrevComment`): every `# text` line since the previous instruction,
 * `#` and surrounding space removed, an empty `#` starting over, blank lines
 * skipped, parser directives left out. Needs the source text: the raw layer
 * does not keep comments. Returns one array per instruction.
 */
export function commentsBefore(result: ParseResult, source: string | undefined): string[][] {
  const instructions = result.instructions;
  const noComments = instructions.map(() => [] as string[]);
  if (source === undefined) return noComments;
  const lines = source.replace(/^\uFEFF/, '').split(/\r?\n/);
  const directiveLines = new Set(result.directives.map((d) => d.location.start.line));
  let previousEnd = 0; // 1-based line number of the previous instruction's last line
  return instructions.map((raw: RawInstruction) => {
    const start = raw.location.start.line;
    const collected: string[] = [];
    for (let n = Math.max(previousEnd + 1, 1); n < start; n++) {
      const line = lines[n - 1] ?? '';
      const trimmed = line.trimStart();
      if (!trimmed.startsWith('#')) {
        // Blank lines are skipped; anything else (a heredoc body) is not a comment block.
        if (trimmed !== '') collected.length = 0;
        continue;
      }
      if (directiveLines.has(n)) continue;
      const text = trimmed.slice(1).trim();
      if (text === '') collected.length = 0;
      else collected.push(text);
    }
    previousEnd = Math.max(previousEnd, raw.location.end.line);
    return collected;
  });
}
