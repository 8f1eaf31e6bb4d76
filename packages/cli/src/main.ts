import { commands } from './commands/index.js';
import { ExitCode } from './exit-codes.js';
import type { CliIo } from './io.js';
import { VERSION } from './version.js';
import { RootlessError, runRootless } from './rootless.js';

function usage(): string {
  const width = Math.max(0, ...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: strata [--version] [--help] COMMAND [ARG...]',
    '',
    'Build, store and move OCI images without a daemon.',
    '',
    'Commands:',
    ...lines,
    '',
    "Run 'strata COMMAND --help' for a command's options.",
    '',
  ].join('\n');
}

/** Runs one strata command line; resolves to the process exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(usage());
    return first === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    io.stdout.write(`strata version ${VERSION}\n`);
    return ExitCode.ok;
  }
  const command = commands.find((c) => c.name === first);
  if (command === undefined) {
    io.stderr.write(`strata: '${first}' is not a strata command.\nSee 'strata --help'.\n`);
    return ExitCode.usage;
  }
  const run = await command.load();
  return run(rest, io);
}

/** Commands that change no store and run nothing (lint only reads it): no user namespace needed (nor a subuid range for `--version`). */
const WITHOUT_STORE = new Set(['parse', 'lint', 'login', 'logout', 'help', 'version']);

/** Whether `argv` runs in the rootless user namespace (an ordinary user; exported for its test). */
export function needsUserNamespace(argv: readonly string[]): boolean {
  const command = argv.find((a) => !a.startsWith('-'));
  if (command === undefined || WITHOUT_STORE.has(command)) return false;
  // `strata --version`, `strata build --help`: strata's own flags, before the command's first operand
  // (`strata run IMAGE python --version` is the container's --version, and runs in the namespace)
  const at = argv.indexOf(command);
  const operand = argv.findIndex((a, i) => i > at && (a === '--' || !a.startsWith('-')));
  const own = operand === -1 ? argv : argv.slice(0, operand);
  return !own.some((a) => a === '--help' || a === '-h' || a === '--version');
}

/** The process entry used by bin/strata: wires the real streams and sets the exit code. */
export async function runProcess(argv: readonly string[]): Promise<void> {
  // an ordinary user: the same command again inside a user namespace (./rootless.ts), for the
  // commands that touch the store or run containers
  try {
    const code = needsUserNamespace(argv) ? await runRootless(argv) : undefined;
    if (code !== undefined) {
      process.exitCode = code;
      return;
    }
  } catch (error) {
    if (!(error instanceof RootlessError)) throw error;
    process.stderr.write(`strata: ${error.code}: ${error.message}\nhint: ${error.hint}\n`);
    process.exitCode = ExitCode.failure;
    return;
  }
  const io: CliIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    isTty: process.stdout.isTTY === true,
  };
  try {
    process.exitCode = await main(argv, io);
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown; stack?: unknown };
    const code = typeof e.code === 'string' ? `${e.code}: ` : '';
    io.stderr.write(`strata: ${code}${String(e.message ?? error)}\n`);
    if (io.env.STRATA_DEBUG) io.stderr.write(`${String(e.stack)}\n`);
    process.exitCode = ExitCode.failure;
  }
}
