// `strata build --progress=json` through this checkout's bin/strata, as a user
// (or a CI script) runs it, with the NDJSON events parsed.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** This checkout's launcher. */
export const STRATA = resolve(__dirname, '..', '..', 'bin', 'strata');

/** What a `strata` run ended with. */
export interface StrataRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/**
 * Runs this checkout's `strata ARGS` with exactly `env` in `cwd`, `stdin` (or
 * nothing) on its standard input; a non-zero exit is a result, not a throw.
 */
export async function runStrata(args: readonly string[], options: { env: NodeJS.ProcessEnv; cwd: string; stdin?: string }): Promise<StrataRun> {
  const child = execFileAsync(STRATA, args, { env: options.env, cwd: options.cwd, maxBuffer: 64 << 20 });
  child.child.stdin?.end(options.stdin);
  try {
    const { stdout, stderr } = await child;
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

/** The fields of build events that tests read (packages/cli/src/render/progress.ts documents every event). */
export interface JsonEvent {
  readonly type: string;
  readonly stage?: string;
  readonly index?: number;
  readonly instruction?: { readonly text: string };
  readonly reason?: string;
  readonly imageId?: string;
  /** cache-exported: blobs uploaded, already present, records and listings sent. */
  readonly uploaded?: number;
  readonly present?: number;
  readonly records?: number;
  readonly listings?: number;
  /** cache-mount events: the mount's id. */
  readonly id?: string;
}

/** Runs `strata build --progress=json ARGS` with exactly `env` and returns its events. */
export async function strataBuildJson(args: readonly string[], env: NodeJS.ProcessEnv): Promise<JsonEvent[]> {
  const { stdout } = await execFileAsync(STRATA, ['build', '--progress=json', ...args], { env, maxBuffer: 1 << 24 });
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as JsonEvent);
}
