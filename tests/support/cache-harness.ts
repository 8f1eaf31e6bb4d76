// Helpers for the store's reliability tests: spawn cache-worker.mjs processes,
// read what they report as done, kill them, and check the store afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDigest, Store, type Descriptor, type Digest } from '@strata/cache';

export const WORKER = join(__dirname, 'cache-worker.mjs');
export const CACHE_DIST = join(__dirname, '..', '..', 'packages', 'cache', 'dist', 'index.js');

export interface WorkerRun {
  readonly child: ChildProcess;
  /** Lines the worker printed so far (each names a completed operation). */
  readonly lines: string[];
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export function startWorker(root: string, mode: string, id: string, options: { count?: number; env?: NodeJS.ProcessEnv } = {}): WorkerRun {
  const args = [WORKER, root, mode, id, ...(options.count === undefined ? [] : [String(options.count)])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  const lines: string[] = [];
  let buffered = '';
  let stderr = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) {
      if (line === 'READY') onReady();
      else lines.push(line);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => {
      onReady();
      // Let the last stdout bytes arrive.
      setImmediate(() => resolve({ code, signal, stderr }));
    });
  });
  return { child, lines, ready, exited };
}

/** A temp store root on /dev/shm. */
export function tempStoreRoot(prefix: string): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join('/dev/shm', prefix));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * Gzip tar layers made with the system tar: `count` layers of `files` small
 * files each (plus a folder tree and a symlink). Returns their blob digests.
 */
export async function writeTarLayers(store: Store, workDir: string, count: number, files: number): Promise<Digest[]> {
  const digests: Digest[] = [];
  for (let i = 0; i < count; i++) {
    const dir = join(workDir, `layer${i}`);
    mkdirSync(join(dir, 'etc', 'deep', 'er'), { recursive: true });
    for (let f = 0; f < files; f++) writeFileSync(join(dir, 'etc', 'deep', f % 2 === 0 ? 'er' : '', `f${f}`), `layer ${i} file ${f}\n`.repeat(f % 13 + 1));
    spawnSync('ln', ['-s', 'deep/er/f0', join(dir, 'etc', 'link')]);
    const tgz = join(workDir, `layer${i}.tgz`);
    const r = spawnSync('tar', ['-czf', tgz, '-C', dir, '.']);
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr.toString()}`);
    const { createReadStream } = await import('node:fs');
    digests.push((await store.putBlob(createReadStream(tgz))).digest);
  }
  return digests;
}

/** What a worker reported, parsed. */
export function reported(lines: readonly string[]): { tags: Map<string, Digest>; blobs: Map<Digest, number>; records: Map<string, Digest>; snaps: Set<string> } {
  const tags = new Map<string, Digest>();
  const blobs = new Map<Digest, number>();
  const records = new Map<string, Digest>();
  const snaps = new Set<string>();
  for (const line of lines) {
    const [kind, a = '', b = ''] = line.split(' ');
    if (kind === 'TAG') tags.set(a, parseDigest(b));
    else if (kind === 'BLOB') blobs.set(parseDigest(a), Number(b));
    else if (kind === 'RECORD') records.set(a, parseDigest(b));
    else if (kind === 'SNAP') snaps.add(a);
  }
  return { tags, blobs, records, snaps };
}

/** Reads every blob of a tagged image (each read verifies its digest); returns the problems found. */
export async function checkImage(store: Store, ref: string, digest: Digest): Promise<string[]> {
  const problems: string[] = [];
  let descriptor: Descriptor;
  try {
    descriptor = await store.resolve(ref);
  } catch (error) {
    return [`${ref}: ${(error as Error).message}`];
  }
  if (descriptor.digest !== digest) problems.push(`${ref}: points at ${descriptor.digest}, expected ${digest}`);
  const walk = await store.imageBlobs(descriptor);
  if (walk.missing.length > 0) problems.push(`${ref}: missing ${walk.missing.join(', ')}`);
  for (const d of walk.blobs.keys()) {
    try {
      await store.readBlob(d);
    } catch (error) {
      problems.push(`${ref}: blob ${d}: ${(error as { code?: string }).code ?? (error as Error).message}`);
    }
  }
  return problems;
}
