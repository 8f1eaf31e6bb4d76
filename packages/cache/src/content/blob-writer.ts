// A large blob's bytes written and hashed on a worker thread. A layer
// download used to be hashed (sha256) on the JS thread, which also parses
// HTTP and hands every write to libuv's pool: for a pull that thread was the
// bottleneck while the other core idled. Here the JS thread copies each chunk
// it receives into a 1 MiB slot and moves (transfers) full slots to the
// worker, which hashes them, writes them to the temp file and moves them
// back; the store still fsyncs, checks the digest and renames (disk.ts).
// Slots circulate, so neither thread allocates per slot (no garbage), and
// they are plain ArrayBuffers: V8 copies into shared memory byte by byte
// when the offsets are not aligned, which a stream's chunks rarely are.
import type { Worker } from 'node:worker_threads';

/** Bytes of one slot: what the worker hashes and writes at a time. */
const SLOT = 1 << 20;
/** Slots of a job: up to this many full slots wait for the worker before the JS thread waits. */
const SLOTS = 4;

/** The worker's code: CommonJS run with `eval`, so that it needs no file of its own (the CLI is one bundle). */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, writeSync, closeSync } = require('node:fs');
const jobs = new Map();
function close(id) {
  const job = jobs.get(id);
  if (job === undefined) return;
  jobs.delete(id);
  try { closeSync(job.fd); } catch {}
}
parentPort.on('message', (m) => {
  try {
    if (m.op === 'open') {
      jobs.set(m.id, { fd: openSync(m.path, 'r+'), hash: createHash('sha256'), size: 0 });
      return;
    }
    const job = jobs.get(m.id);
    if (job === undefined) return;
    if (m.op === 'write') {
      const bytes = new Uint8Array(m.slot, 0, m.length);
      job.hash.update(bytes);
      for (let done = 0; done < bytes.length; ) {
        const n = writeSync(job.fd, bytes, done, bytes.length - done, job.size + done);
        if (n <= 0) throw new Error('write made no progress');
        done += n;
      }
      job.size += bytes.length;
      parentPort.postMessage({ id: m.id, slot: m.slot }, [m.slot]);
    } else if (m.op === 'end') {
      close(m.id);
      parentPort.postMessage({ id: m.id, hex: job.hash.digest('hex'), size: job.size });
    } else {
      close(m.id);
    }
  } catch (error) {
    close(m.id);
    parentPort.postMessage({ id: m.id, error: String((error && error.message) || error), code: error && error.code });
  }
});
`;

interface Reply {
  readonly id: number;
  readonly slot?: ArrayBuffer;
  readonly hex?: string;
  readonly size?: number;
  readonly error?: string;
  readonly code?: string;
}

/** A worker thread while it lives: its open jobs (it keeps the process alive only while there are some). */
interface WriterThread {
  readonly worker: Worker;
  readonly jobs: Map<number, (reply: Reply) => void>;
  dead?: Error;
}

const threads: WriterThread[] = [];
/** Slots no job holds (an aborted job's slots in flight are dropped). */
const freeSlots: ArrayBuffer[] = [];
/** Free slots kept for later jobs. */
const KEEP_SLOTS = 16;
let nextId = 1;
/** The slot view of a job that holds none (its last one went to the worker): detached, length 0. */
const EMPTY = new Uint8Array(0);
let maxThreads: number | undefined;

/** The least busy worker thread, a new one while there are fewer than the cores but one (at least one). */
async function pickThread(): Promise<WriterThread> {
  const { Worker: WorkerClass } = await import('node:worker_threads');
  if (maxThreads === undefined) {
    const { availableParallelism } = await import('node:os');
    maxThreads = Math.max(1, Math.min(4, availableParallelism() - 1));
  }
  const idle = threads.reduce<WriterThread | undefined>((best, t) => (best === undefined || t.jobs.size < best.jobs.size ? t : best), undefined);
  if (idle !== undefined && (idle.jobs.size === 0 || threads.length >= maxThreads)) return idle;
  const worker = new WorkerClass(WORKER_SOURCE, { eval: true, stdout: false, stderr: false });
  worker.unref();
  const t: WriterThread = { worker, jobs: new Map() };
  worker.on('message', (reply: Reply) => t.jobs.get(reply.id)?.(reply));
  const gone = (error: Error): void => {
    const at = threads.indexOf(t);
    if (at >= 0) threads.splice(at, 1);
    t.dead ??= error;
    for (const [id, deliver] of [...t.jobs]) deliver({ id, error: `blob writer thread: ${t.dead.message}` });
  };
  worker.on('error', (error) => gone(error));
  worker.on('exit', (code) => gone(new Error(`exited with code ${code}`)));
  threads.push(t);
  return t;
}

/**
 * A temp file written and hashed by a worker thread: `write` each chunk in
 * order (it is copied when the call returns, or, when every slot is with the
 * worker and it returns a promise, when that settles; await it before the
 * next write), then `end()` for the sha256 (hex) and size of all bytes
 * written, or `abort()` on failure. A failure on the worker (a write's
 * errno, e.g. ENOSPC, as `code`) rejects the next call. At most SLOTS MiB a
 * job and KEEP_SLOTS MiB between jobs are held.
 */
export interface BlobWriter {
  write(chunk: Uint8Array): Promise<void> | undefined;
  end(): Promise<{ hex: string; size: number }>;
  abort(): void;
}

/** A worker-side writer of `path` (an empty temp file the caller created), or undefined when no worker thread can run. */
export async function openBlobWriter(path: string): Promise<BlobWriter | undefined> {
  let t: WriterThread;
  try {
    t = await pickThread();
  } catch {
    return undefined;
  }
  if (t.dead !== undefined) return undefined;
  const { worker } = t;
  const id = nextId++;
  /** Slots this job may fill: the one being filled is the last; the others are back from the worker. */
  const mine: ArrayBuffer[] = [];
  const takeSlot = (): void => {
    mine.push(freeSlots.pop() ?? new ArrayBuffer(SLOT));
  };
  let current = (takeSlot(), new Uint8Array(mine[0]!));
  /** Slots with the worker. */
  let busy = 0;
  let filled = 0;
  let failure: Error | undefined;
  let waiting: (() => void) | undefined;
  let ending: { resolve(value: { hex: string; size: number }): void; reject(error: Error): void } | undefined;
  let done = false;
  const finish = (ended: boolean): void => {
    if (done) return;
    done = true;
    t.jobs.delete(id);
    if (t.jobs.size === 0) worker.unref();
    if (ended) for (const slot of mine) if (freeSlots.length < KEEP_SLOTS) freeSlots.push(slot);
  };
  t.jobs.set(id, (reply) => {
    if (reply.error !== undefined) {
      failure ??= Object.assign(new Error(reply.error), reply.code !== undefined ? { code: reply.code } : {});
    } else if (reply.slot !== undefined) {
      busy--;
      mine.unshift(reply.slot);
    }
    if (ending !== undefined && (failure !== undefined || reply.hex !== undefined)) {
      const e = ending;
      ending = undefined;
      finish(failure === undefined);
      if (failure !== undefined) e.reject(failure);
      else e.resolve({ hex: reply.hex!, size: reply.size! });
    }
    const w = waiting;
    waiting = undefined;
    w?.();
  });
  if (t.jobs.size === 1) worker.ref();
  worker.postMessage({ op: 'open', id, path });
  /** Moves the slot being filled to the worker; the next one is a slot back from it, or a new one while fewer than SLOTS are out. */
  const send = (): void => {
    const slot = mine.pop()!;
    worker.postMessage({ op: 'write', id, slot, length: filled }, [slot]);
    busy++;
    filled = 0;
  };
  const nextSlot = (): boolean => {
    if (mine.length === 0) {
      if (busy >= SLOTS) return false;
      takeSlot();
    }
    current = new Uint8Array(mine[mine.length - 1]!);
    return true;
  };
  const room = async (): Promise<void> => {
    while (mine.length === 0 && failure === undefined) await new Promise<void>((resolve) => (waiting = resolve));
    if (failure !== undefined) throw failure;
  };
  const write = (chunk: Uint8Array): Promise<void> | undefined => {
    if (failure !== undefined) return Promise.reject(failure);
    let offset = 0;
    while (offset < chunk.length) {
      if (filled === 0 && current.byteLength === 0 && !nextSlot()) {
        // every slot is with the worker: copy the rest once one comes back
        const rest = chunk.subarray(offset);
        return room().then(() => write(rest));
      }
      const n = Math.min(SLOT - filled, chunk.length - offset);
      current.set(n === chunk.length ? chunk : chunk.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
      if (filled === SLOT) {
        send();
        current = EMPTY;
      }
    }
    return undefined;
  };
  return {
    write,
    end() {
      if (failure !== undefined) {
        finish(false);
        return Promise.reject(failure);
      }
      if (filled > 0) send();
      current = EMPTY;
      const result = new Promise<{ hex: string; size: number }>((resolve, reject) => (ending = { resolve, reject }));
      worker.postMessage({ op: 'end', id });
      return result;
    },
    abort() {
      if (done) return;
      if (t.dead === undefined) worker.postMessage({ op: 'abort', id });
      finish(false);
    },
  };
}
