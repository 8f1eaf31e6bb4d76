import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildErrors, buildError } from '../errors.js';
import type { RuntimeSpec } from './spec.js';

/** The runtime state folder of strata's RUN containers, apart from other tools' containers. */
export const DEFAULT_STATE_DIR = '/run/strata/runc';

/** The pid in a RUN container id (`strata-<pid>-<hex>-<n>`, see build.ts). */
const CONTAINER_ID = /^strata-([0-9]+)-/;

async function isStrataAlive(pid: number): Promise<boolean> {
  if (pid === process.pid) return true;
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('node');
  } catch {
    return false;
  }
}

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

/** Runs `runtime <args>` to completion, for kill/delete. */
function runQuiet(cmd: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.on('error', () => resolve(-1));
    child.on('close', (code) => resolve(code ?? -1));
  });
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
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => options.onOutput?.('stdout', chunk));
  child.stderr.on('data', (chunk: string) => options.onOutput?.('stderr', chunk));

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
    options.signal?.removeEventListener('abort', onAbort);
    await runQuiet(runtime, ['--root', options.stateDir, 'delete', '--force', options.id]);
  }
}
