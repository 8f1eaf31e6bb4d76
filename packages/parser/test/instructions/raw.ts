import type { Heredoc, ParseResult, RawInstruction } from '@strata/parser';

let nextLine = 1;

/** A RawInstruction built by hand, as the raw layer would give it for `original`. */
export function raw(
  original: string,
  args: readonly string[],
  options: { flags?: readonly string[]; json?: boolean; heredocs?: readonly Heredoc[]; onbuild?: RawInstruction; line?: number } = {},
): RawInstruction {
  const keyword = (/^\s*(\S+)/.exec(original)?.[1] ?? '').toLowerCase();
  const line = options.line ?? nextLine++;
  const lines = original.split('\n');
  const last = lines[lines.length - 1] ?? '';
  const value = {
    keyword,
    flags: options.flags ?? [],
    args,
    json: options.json ?? false,
    heredocs: options.heredocs ?? [],
    ...(options.onbuild === undefined ? {} : { onbuild: options.onbuild }),
    original,
    logicalLine: original.replace(/\\\n/g, ''),
    location: {
      file: 'Dockerfile',
      start: { line, column: 1, offset: 0 },
      end: { line: line + lines.length - 1, column: last.length + 1, offset: original.length },
    },
  };
  return value;
}

export function result(instructions: readonly RawInstruction[]): ParseResult {
  return { directives: [], instructions, warnings: [], escapeToken: '\\' };
}
