// What the container verbs (run, start, ps, rm, commit) share: docker's exit
// codes for a container run, error reports with code and hint, the streams a
// container process gets, and the split of `run`'s own options from the command.
import { isCacheError } from '@strata/cache';
import type { ContainerStdio } from '@strata/builder';
import type { CommandSyntax } from '../argv.js';
import type { CliIo } from '../io.js';

/** docker run's own codes: strata failed (125), the command cannot be run (126), the command was not found (127). */
export const RunExit = { failed: 125, cannotInvoke: 126, notFound: 127 } as const;

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(BUILD|CACHE)_/.test(code) ? code : undefined;
}

/**
 * Prints a builder or store error with its code and hint and returns the exit
 * code; other errors go up. A process the runtime could not start exits 126 or
 * 127 as with docker.
 */
export function reportContainerError(io: CliIo, command: string, error: unknown, failed: number): number {
  const code = errorCode(error);
  if (code === undefined && !isCacheError(error)) throw error;
  const e = error as { code: string; message: string; hint?: string };
  io.stderr.write(`strata ${command}: ${e.code}: ${e.message}\n${e.hint === undefined ? '' : `hint: ${e.hint}\n`}`);
  if (code === 'BUILD_RUNTIME_FAILED') {
    if (/executable file not found|no such file or directory/i.test(e.message)) return RunExit.notFound;
    if (/permission denied/i.test(e.message)) return RunExit.cannotInvoke;
  }
  return failed;
}

/**
 * The streams for a container process. With a terminal (`-t`) runc gets this
 * process's own stdio and relays the container's pty itself (see
 * ContainerStdio); otherwise output is copied to the command's streams and
 * standard input is passed through with `-i` (else /dev/null, as docker).
 */
export function containerStdio(io: CliIo, tty: boolean, interactive: boolean): ContainerStdio {
  if (tty) return { mode: 'inherit' };
  return {
    mode: 'pipe',
    onData: (stream, chunk) => (stream === 'stdout' ? io.stdout : io.stderr).write(chunk),
    ...(interactive ? { stdin: io.stdin } : {}),
  };
}

/**
 * While a container runs in the foreground: Ctrl-C reaches runc through the
 * terminal's process group and runc forwards it to the container, so strata
 * itself must not die of it (it still has to unmount and record the exit);
 * SIGTERM or SIGHUP sent to strata alone kill the container. Returns the undo.
 */
export function holdSignals(abort: () => void): () => void {
  const ignore = () => undefined;
  const stop = () => abort();
  process.on('SIGINT', ignore);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
  return () => {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', stop);
    process.off('SIGHUP', stop);
  };
}

/** After a run with `-i`: stop reading standard input so that the process can exit. */
export function releaseStdin(io: CliIo): void {
  const stdin = io.stdin as NodeJS.ReadableStream & { destroy?: () => void };
  stdin.pause();
  if (stdin === process.stdin) stdin.destroy?.();
}

/**
 * Splits `strata run [OPTIONS] IMAGE [COMMAND] [ARG...]` at the image: options
 * are read only before it, so the command keeps its own (`sh -c ...`).
 * Returns the options with the image, and the command.
 */
export function splitAtImage(args: readonly string[], syntax: CommandSyntax): { head: string[]; command: string[] } {
  const takesValue = new Set<string>();
  const shortTakesValue = new Set<string>();
  for (const o of syntax.options) {
    if (o.type === 'string') {
      takesValue.add(o.name);
      if (o.short !== undefined) shortTakesValue.add(o.short);
    }
  }
  let i = 0;
  while (i < args.length) {
    const arg = args[i] as string;
    if (arg === '--') return { head: [...args.slice(0, i), ...args.slice(i + 1, i + 2)], command: args.slice(i + 2) };
    if (!arg.startsWith('-') || arg === '-') break;
    if (arg.startsWith('--')) {
      i += !arg.includes('=') && takesValue.has(arg.slice(2)) ? 2 : 1;
      continue;
    }
    // a short group: `-it`, `-e K=V`, `-eK=V`
    let consumesNext = false;
    for (let j = 1; j < arg.length; j += 1) {
      if (shortTakesValue.has(arg[j] as string)) {
        consumesNext = j === arg.length - 1;
        break;
      }
    }
    i += consumesNext ? 2 : 1;
  }
  return { head: args.slice(0, i + 1), command: args.slice(i + 1) };
}
