// `strata build --progress=json` through this checkout's bin/strata, as a user
// (or a CI script) runs it, with the NDJSON events parsed.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** This checkout's launcher. */
export const STRATA = resolve(__dirname, '..', '..', 'bin', 'strata');

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
