// Signals to bin/strata during `RUN sleep`: SIGINT and SIGTERM stop the step
// (its container is killed), unmount, remove the build's temp folders and exit
// 130 / 143; SIGKILL leaves the step running, which the next build stops,
// and its mounts and folders, which the next start removes. Every time the
// store verifies clean and the next build reuses the step that completed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { loadTestImage, testImage } from './support/test-images.js';

jest.setTimeout(120_000);

const BIN = join(__dirname, '..', 'bin', 'strata');
const STATE_DIR = '/run/strata/runc';
const base = 'localhost/test/busybox:latest';
let dir: string;
let root: string;

interface Running {
  readonly pid: number;
  readonly events: Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function startBuild(context: string, tag: string): Running {
  const child = spawn(process.execPath, [BIN, 'build', '--progress=json', '-t', tag, context], {
    env: { ...process.env, STRATA_ROOT: root },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Record<string, unknown>[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') events.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { pid: child.pid as number, events, exited };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Host processes running `sleep <seconds>`. */
function sleepers(seconds: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8') === `sleep\0${seconds}\0`) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

const containersOf = (pid: number): string[] => readdirSync(STATE_DIR).filter((n) => n.startsWith(`strata-${pid}-`));
const mountsUnderStore = (): string[] =>
  readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.startsWith(`${root}/`));

function strata(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, STRATA_ROOT: root }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

function context(seconds: number, last: string): string {
  const ctx = mkdtempSync(join(dir, 'ctx-'));
  writeFileSync(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN echo one-${seconds} > /one\n${last}\n`);
  return ctx;
}

/** Runs the build to its `RUN sleep`, waits until the sleep runs in its container, and returns the build. */
async function buildUntilSleeping(seconds: number): Promise<Running> {
  const build = startBuild(context(seconds, `RUN sleep ${seconds}`), `localhost/sec/signal:${seconds}`);
  await waitFor('the sleep to run', () => sleepers(seconds).length > 0 && containersOf(build.pid).length > 0);
  return build;
}

/** The build after the interruption: the completed step is reused; reports whether `echo one` was cached. */
function rebuildReuses(seconds: number): boolean {
  const ctx = context(seconds, 'RUN true');
  const r = spawnSync(process.execPath, [BIN, 'build', '--progress=json', '-t', `localhost/sec/after:${seconds}`, ctx], {
    env: { ...process.env, STRATA_ROOT: root },
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  const events = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { type: string; instruction?: { text: string } });
  return events.some((e) => e.type === 'step-cached' && e.instruction?.text.startsWith('RUN echo one') === true);
}

beforeAll(async () => {
  dir = mkdtempSync('/dev/shm/strata-sec-signals-');
  root = join(dir, 'store');
  mkdirSync(STATE_DIR, { recursive: true });
  const store = await Store.open(root);
  await loadTestImage(store, testImage('busybox', 'amd64'), base);
});

afterAll(() => {
  for (const seconds of [3737, 3738, 3739]) for (const pid of sleepers(seconds)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('signals to strata build during RUN sleep', () => {
  it.each([
    ['SIGINT', 3737, 130],
    ['SIGTERM', 3738, 143],
  ] as const)('%s stops the step (sleep %s), unmounts, removes temp folders and exits %s', async (signal, seconds, code) => {
    const build = await buildUntilSleeping(seconds);
    process.kill(build.pid, signal);
    const result = await build.exited;
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code, stderr: expect.stringContaining(`stopped by ${signal}`) });
    expect(sleepers(seconds)).toEqual([]);
    expect(containersOf(build.pid)).toEqual([]);
    expect(mountsUnderStore()).toEqual([]);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    expect(strata(['verify']).code).toBe(0);
    expect(rebuildReuses(seconds)).toBe(true);
  });

  it('SIGKILL leaves the step running; the next build stops it and the next start removes its mounts and folders', async () => {
    const seconds = 3739;
    const build = await buildUntilSleeping(seconds);
    process.kill(build.pid, 'SIGKILL');
    expect((await build.exited).signal).toBe('SIGKILL');
    // what a kill leaves behind
    expect(mountsUnderStore().length).toBeGreaterThan(0);
    expect(containersOf(build.pid).length).toBe(1);
    expect(strata(['verify']).code).toBe(0);
    expect(rebuildReuses(seconds)).toBe(true);
    expect(sleepers(seconds)).toEqual([]);
    expect(containersOf(build.pid)).toEqual([]);
    expect(mountsUnderStore()).toEqual([]);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
  });
});
