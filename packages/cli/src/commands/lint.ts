import { lint, parseDockerfile, type LintWarning } from '@strata/parser';
import { parseArgv, usageText, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { diagnosticFromError, renderDiagnostic, type Diagnostic } from '../render/diagnostic.js';
import { readDockerfile } from './parse.js';

const syntax: CommandSyntax = {
  usage: 'strata lint [OPTIONS] FILE',
  description: [
    'Check a Dockerfile with the build checks (BuildKit\'s rules) and print what they find.',
    'Exits 1 when the file does not parse or a check fires at error level (# check=error=true).',
  ].join('\n'),
  options: [{ name: 'json', type: 'boolean', description: 'Print {file, warnings, error} as JSON' }],
  positionals: [1, 1],
};

function toDiagnostic(w: LintWarning): Diagnostic {
  return { severity: w.level, code: w.rule, message: w.message, location: w.location };
}

/** `strata lint [--json] FILE`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseArgv(args, syntax);
  if (argv.kind === 'help') {
    io.stdout.write(usageText(syntax));
    return ExitCode.ok;
  }
  if (argv.kind === 'error') {
    io.stderr.write(`strata lint: ${argv.message}\n\n${usageText(syntax)}`);
    return ExitCode.usage;
  }
  const file = argv.positionals[0] ?? '';
  const json = argv.values.json === true;
  let input;
  try {
    input = await readDockerfile(file, io);
  } catch (error) {
    io.stderr.write(`strata lint: cannot read ${file}: ${(error as Error).message}\n`);
    return ExitCode.failure;
  }
  let warnings: LintWarning[];
  try {
    const result = parseDockerfile(input.text, { file: input.name });
    warnings = lint(result, { source: input.text });
  } catch (error) {
    const d = diagnosticFromError(error);
    if (json) io.stdout.write(`${JSON.stringify({ file: input.name, warnings: [], error: d }, null, 2)}\n`);
    else io.stderr.write(renderDiagnostic(d, { file: input.name, source: input.text, showSeverity: true }));
    return ExitCode.failure;
  }
  if (json) {
    io.stdout.write(`${JSON.stringify({ file: input.name, warnings }, null, 2)}\n`);
  } else {
    for (const w of warnings) io.stdout.write(renderDiagnostic(toDiagnostic(w), { file: input.name, source: input.text }));
    const errors = warnings.filter((w) => w.level === 'error').length;
    if (warnings.length > 0) {
      const counts = errors > 0 ? `${errors} error${errors === 1 ? '' : 's'}, ${warnings.length - errors} warning${warnings.length - errors === 1 ? '' : 's'}` : `${warnings.length} warning${warnings.length === 1 ? '' : 's'}`;
      io.stderr.write(`${input.name}: ${counts}\n`);
    }
  }
  return warnings.some((w) => w.level === 'error') ? ExitCode.failure : ExitCode.ok;
}
