import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseDockerfile, type ParseResult, type RawInstruction } from '@strata/parser';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { diagnosticFromError, renderDiagnostic } from '../render/diagnostic.js';

const syntax: CommandSyntax = {
  usage: 'strata parse [OPTIONS] FILE',
  description: 'Parse a Dockerfile and print its instructions as BuildKit reads them (FILE "-" reads stdin).',
  options: [{ name: 'json', type: 'boolean', description: 'Print {directives, instructions, warnings} as JSON' }],
  positionals: [1, 1],
};

/** Reads FILE (or stdin for "-"); the name to show in diagnostics comes back too. */
export async function readDockerfile(file: string, io: CliIo): Promise<{ text: string; name: string }> {
  if (file === '-') {
    let text = '';
    for await (const chunk of io.stdin) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    return { text, name: '<stdin>' };
  }
  return { text: await readFile(resolve(io.cwd, file), 'utf8'), name: file };
}

function quote(s: string): string {
  return JSON.stringify(s);
}

function describe(i: RawInstruction): string {
  const parts = [i.keyword];
  if (i.flags.length > 0) parts.push(`[${i.flags.map(quote).join(' ')}]`);
  if (i.json) parts.push('(json)');
  if (i.onbuild !== undefined) parts.push(`(${describe(i.onbuild)})`);
  else parts.push(...i.args.map(quote));
  return parts.join(' ');
}

/** The readable listing: one line per instruction with its position, heredoc bodies indented below. */
export function formatListing(result: ParseResult, name: string): string {
  const lines: string[] = [];
  for (const d of result.directives) lines.push(`${name}:${d.location.start.line}:${d.location.start.column}: # ${d.name}=${d.value}`);
  for (const i of result.instructions) {
    lines.push(`${name}:${i.location.start.line}:${i.location.start.column}: ${describe(i)}`);
    const heredocs = i.heredocs.length > 0 ? i.heredocs : (i.onbuild?.heredocs ?? []);
    for (const h of heredocs) {
      const attrs = [h.expand ? 'expand' : 'no-expand', ...(h.chomp ? ['chomp'] : [])].join(', ');
      lines.push(`    <<${h.name} (${attrs})`);
      for (const body of h.content.split('\n').slice(0, h.content.endsWith('\n') ? -1 : undefined)) lines.push(`    | ${body}`);
    }
  }
  for (const w of result.warnings) lines.push(`${name}:${w.location.start.line}:${w.location.start.column}: warning: ${w.message}`);
  return `${lines.join('\n')}\n`;
}

/** `strata parse [--json] FILE`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('parse', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const file = argv.positionals[0] ?? '';
  let input;
  try {
    input = await readDockerfile(file, io);
  } catch (error) {
    io.stderr.write(`strata parse: cannot read ${file}: ${(error as Error).message}\n`);
    return ExitCode.failure;
  }
  let result: ParseResult;
  try {
    result = parseDockerfile(input.text, { file: input.name });
  } catch (error) {
    io.stderr.write(renderDiagnostic(diagnosticFromError(error), { file: input.name, source: input.text, showSeverity: true }));
    return ExitCode.failure;
  }
  if (argv.values.json === true) {
    const { directives, instructions, warnings } = result;
    io.stdout.write(`${JSON.stringify({ directives, instructions, warnings }, null, 2)}\n`);
  } else {
    io.stdout.write(formatListing(result, input.name));
  }
  return ExitCode.ok;
}
