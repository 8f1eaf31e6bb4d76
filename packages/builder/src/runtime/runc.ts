import { spawn } from 'node:child_process';
import { access, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildErrors, buildError } from '../errors.js';
import { isStrataAlive } from './owner.js';
import type { RuntimeSpec } from './spec.js';
import { runDir } from './rootless.js';

/** The runtime state folder of strata's RUN containers, apart from other tools' containers (under runDir()). */
export const DEFAULT_STATE_DIR = join(runDir(), 'runc');

/** The pid in a RUN container id (`strata-<pid>-<hex>-<n>`, see build.ts). */
const CONTAINER_ID = /^strata-([0-9]+)-/;


/**
 * Kills and deletes the RUN containers of strata processes that are gone (a
 * build killed with SIGKILL leaves its step running under the runtime).
 * Returns their ids. Called when a build starts.
 */
export async function removeOrphanContainers(options: { stateDir?: string; runtime?: RuntimeName } = {}): Promise<string[]> {
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  const runtime = options.runtime ?? 'runc';
  const names = await readdir(stateDir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const id of names) {
    const pid = CONTAINER_ID.exec(id)?.[1];
    if (pid === undefined || (await isStrataAlive(Number(pid)))) continue;
    await runQuiet(runtime, ['--root', stateDir, 'kill', id, 'KILL']);
    await runQuiet(runtime, ['--root', stateDir, 'delete', '--force', id]);
    removed.push(id);
  }
  return removed;
}

/** An OCI runtime strata can drive; both take runc's command line. */
export type RuntimeName = 'runc' | 'crun';

export interface RunContainerOptions {
  readonly runtime?: RuntimeName;
  /** The runtime's state folder (`--root`), kept apart from the host's other containers. */
  readonly stateDir: string;
  /** A fresh folder for config.json and the runtime's log. */
  readonly bundleDir: string;
  /** Unique among running containers. */
  readonly id: string;
  readonly spec: RuntimeSpec;
  readonly onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
  readonly signal?: AbortSignal;
  /** How the process's standard streams are connected; see ContainerStdio. */
  readonly stdio?: ContainerStdio;
}

/**
 * The standard streams of a container process.
 *
 * - `pipe` (the default): output arrives through `onOutput` (text) or `onData`
 *   (bytes, when given); standard input is `stdin` when given, else /dev/null.
 * - `inherit`: the runtime gets this process's own file descriptors. A
 *   terminal container (`process.terminal` in the spec) needs this: runc run
 *   in the foreground receives the pty master over its own console socket,
 *   puts the terminal it was given in raw mode, relays both ways and forwards
 *   window-size changes. Serving `--console-socket` ourselves would need
 *   SCM_RIGHTS fd passing, which Node cannot do without native code.
 */
export interface ContainerStdio {
  readonly mode: 'pipe' | 'inherit';
  readonly stdin?: NodeJS.ReadableStream;
  readonly onData?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

export interface ContainerResult {
  /** The process's exit code (128 + n when a signal n killed it). */
  readonly exitCode: number;
}

interface RuntimeLogEntry {
  level?: string;
  msg?: string;
}

async function runtimeErrors(logPath: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(logPath, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const entry = JSON.parse(line) as RuntimeLogEntry;
      if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg !== undefined) out.push(entry.msg);
    } catch {
      out.push(line);
    }
  }
  return out;
}

function runtimeCommand(runtime: RuntimeName, stateDir: string, logPath: string, args: string[]) {
  return [runtime, ['--root', stateDir, '--log', logPath, '--log-format', 'json', ...args]] as const;
}

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** Runs `runtime <args>` to completion, for kill/delete. */
function runQuiet(cmd: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.on('error', () => resolve(-1));
    child.on('close', (code) => resolve(code ?? -1));
  });
}

/** Deletes a runtime container left by a process that was killed (no-op when there is none). */
export async function deleteRuntimeContainer(runtime: RuntimeName, stateDir: string, id: string): Promise<void> {
  await runQuiet(runtime, ['--root', stateDir, 'delete', '--force', id]);
}

/** Sends a signal to a running runtime container (no-op when there is none). */
export async function killRuntimeContainer(runtime: RuntimeName, stateDir: string, id: string, signal: string): Promise<void> {
  await runQuiet(runtime, ['--root', stateDir, 'kill', id, signal]);
}

/**
 * Runs one container to completion with runc (or crun): writes config.json
 * into the bundle, streams the process's output, and resolves to its exit
 * code. Aborting the signal kills the container; the container is deleted in
 * every case. A failure of the runtime itself (as opposed to the process) is a
 * BUILD_RUNTIME_FAILED error carrying the runtime's own message.
 */
export async function runContainer(options: RunContainerOptions): Promise<ContainerResult> {
  const runtime = options.runtime ?? 'runc';
  await mkdir(options.bundleDir, { recursive: true });
  await mkdir(options.stateDir, { recursive: true });
  await writeFile(join(options.bundleDir, 'config.json'), JSON.stringify(options.spec));
  const logPath = join(options.bundleDir, `${runtime}.log`);
  await rm(logPath, { force: true });
  const [cmd, args] = runtimeCommand(runtime, options.stateDir, logPath, ['run', '--bundle', options.bundleDir, options.id]);

  if (options.signal?.aborted) throw buildError(BuildErrors.aborted, ['the step']);
  const io = options.stdio ?? { mode: 'pipe' };
  const child =
    io.mode === 'inherit'
      ? spawn(cmd, args, { stdio: 'inherit' })
      : spawn(cmd, args, { stdio: [io.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (io.mode === 'pipe') {
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = child[name];
      if (stream === null) continue;
      if (io.onData !== undefined) {
        const onData = io.onData;
        stream.on('data', (chunk: Buffer) => onData(name, chunk));
      } else {
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => options.onOutput?.(name, chunk));
      }
    }
    if (io.stdin !== undefined && child.stdin !== null) {
      // the process may exit before its input ends: a broken pipe is not an error
      child.stdin.on('error', () => undefined);
      io.stdin.pipe(child.stdin);
    }
  }

  let aborted = false;
  const onAbort = () => {
    aborted = true;
    void runQuiet(runtime, ['--root', options.stateDir, 'kill', options.id, 'KILL']);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const [code, signalName] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'ENOENT'
            ? buildError(BuildErrors.runtimeMissing, [runtime], { cause: error })
            : buildError(BuildErrors.runtimeFailed, [runtime, error.message], { cause: error }),
        );
      });
      child.on('close', (c, s) => resolve([c, s]));
    });
    if (aborted) throw buildError(BuildErrors.aborted, ['the step']);
    const errors = await runtimeErrors(logPath);
    if (errors.length > 0) {
      throw buildError(BuildErrors.runtimeFailed, [runtime, errors.join('; ')], { details: { exitCode: code } });
    }
    return { exitCode: code ?? (signalName === null ? 1 : 128) };
  } finally {
    if (io.mode === 'pipe' && io.stdin !== undefined && child.stdin !== null) io.stdin.unpipe(child.stdin);
    options.signal?.removeEventListener('abort', onAbort);
    // `run` destroys its container when it exits; its state folder is left only when the runtime
    // itself was killed or failed half-way, and only then is a `delete` (a process start, ~30 ms) worth it
    if (await exists(join(options.stateDir, options.id))) await runQuiet(runtime, ['--root', options.stateDir, 'delete', '--force', options.id]);
  }
}
