import { parseArgs } from 'node:util';

/** One option of a command, docker-style (`-f FILE`, `--json`). */
export interface OptionSpec {
  readonly name: string;
  readonly short?: string;
  readonly type: 'boolean' | 'string';
  /** For string options: the value's placeholder in the usage text (`FILE`). */
  readonly valueName?: string;
  readonly description: string;
  readonly multiple?: boolean;
}

export interface CommandSyntax {
  /** `strata lint [OPTIONS] FILE`. */
  readonly usage: string;
  readonly description: string;
  readonly options: readonly OptionSpec[];
  /** How many positional arguments: [min, max]. */
  readonly positionals: readonly [number, number];
}

export type ParsedArgv =
  | { readonly kind: 'ok'; readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>; readonly positionals: readonly string[] }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

/** The `--help` text of a command. */
export function usageText(syntax: CommandSyntax): string {
  const rows = [...syntax.options, { name: 'help', short: 'h', type: 'boolean', description: 'Print this help' } satisfies OptionSpec].map((o) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${o.name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
    return [flag, o.description] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return [
    `Usage: ${syntax.usage}`,
    '',
    syntax.description,
    '',
    'Options:',
    ...rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`),
    '',
  ].join('\n');
}

/** Parses a command's argv: options anywhere, `--` ends them, unknown options and wrong counts are errors. */
export function parseArgv(args: readonly string[], syntax: CommandSyntax): ParsedArgv {
  const options: Record<string, { type: 'boolean' | 'string'; short?: string; multiple?: boolean }> = { help: { type: 'boolean', short: 'h' } };
  for (const o of syntax.options) {
    options[o.name] = { type: o.type, ...(o.short === undefined ? {} : { short: o.short }), ...(o.multiple === true ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = String((error as Error).message).replace(/\. To specify a positional argument.*$/s, '');
    return { kind: 'error', message };
  }
  if (parsed.values.help === true) return { kind: 'help' };
  const [min, max] = syntax.positionals;
  const count = parsed.positionals.length;
  if (count < min) return { kind: 'error', message: `expected ${min === max ? String(min) : `at least ${min}`} argument${min === 1 ? '' : 's'}, got ${count}` };
  if (count > max) return { kind: 'error', message: `expected at most ${max} argument${max === 1 ? '' : 's'}, got ${count}: unexpected '${parsed.positionals[max] ?? ''}'` };
  return { kind: 'ok', values: parsed.values as Record<string, string | boolean | string[] | undefined>, positionals: parsed.positionals };
}

/** Writes a usage error (message, then the command's usage) and returns the usage exit code. */
export function writeUsageError(io: { readonly stderr: NodeJS.WritableStream }, command: string, syntax: CommandSyntax, message: string): number {
  io.stderr.write(`strata ${command}: ${message}\n\n${usageText(syntax)}`);
  return 2;
}

/**
 * The start of every command: parse argv; for `--help` print the usage and
 * for a usage error print it with the message. Returns the parsed argv, or
 * the exit code the command should return.
 */
export function parseCommandLine(
  command: string,
  args: readonly string[],
  syntax: CommandSyntax,
  io: { readonly stdout: NodeJS.WritableStream; readonly stderr: NodeJS.WritableStream },
): Extract<ParsedArgv, { kind: 'ok' }> | number {
  const argv = parseArgv(args, syntax);
  if (argv.kind === 'help') {
    io.stdout.write(usageText(syntax));
    return 0;
  }
  if (argv.kind === 'error') return writeUsageError(io, command, syntax, argv.message);
  return argv;
}
