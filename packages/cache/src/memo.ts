import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BigIntStats } from 'node:fs';
import { isDigest, type Digest } from './digest.js';
import { errnoCode } from './errors.js';
import { writeFileAtomic } from './fs-util.js';

/** The file facts a memo entry is keyed on; any change means the content must be read again. */
export interface FileFacts {
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly dev: bigint;
}

export function factsOf(stats: BigIntStats): FileFacts {
  return { size: stats.size, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs, ino: stats.ino, dev: stats.dev };
}

interface MemoEntry {
  readonly path: string;
  readonly size: string;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
  readonly dev: string;
  readonly digest: Digest;
}

export interface MemoOptions {
  /** The build context the file belongs to: its entries live in that context's one table (flushed by `flush()`). */
  readonly root?: string;
}

/** The table a file's entry lives in: its context root when the file is under it. */
function tableRoot(file: string, options: MemoOptions): string | undefined {
  const root = options.root;
  if (root === undefined) return undefined;
  return file.startsWith(root.endsWith('/') ? root : `${root}/`) ? root : undefined;
}

/** A change younger than this may share its mtime with a later one (racy-git): such files are not memoized. */
const RACY_NS = 2_000_000_000n;

export interface HashFileResult {
  readonly digest: Digest;
  readonly size: number;
  /** True when the digest came from the memo and no content was read. */
  readonly memoized: boolean;
}

/** One build context's memo: every entry under one root, in one file. */
interface MemoTable {
  readonly path: string;
  readonly entries: Map<string, MemoEntry>;
  dirty: boolean;
}

const TABLE_FORMAT = 'strata.memo-table.v1';

/** Files up to this size are read in one call: a stream costs a thread-pool round trip per chunk and per open/close. */
const WHOLE_READ = 1n << 20n;

/**
 * The sha256 of a file's bytes, read every time: for files whose path is
 * never seen again (a source stage mounted for one COPY --from), where a
 * memo entry would cost a write and an fsync and never be read back.
 * `size`, when known, picks one read for small files over a stream.
 */
export async function hashFileContent(file: string, size?: bigint): Promise<Digest> {
  const hash = createHash('sha256');
  if (size !== undefined && size <= WHOLE_READ) hash.update(await readFile(file));
  else for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}` as Digest;
}

/**
 * The context content-hash memo: (path, size, mtime, ctime, inode) → sha256 of
 * the file's bytes. Files under a build context (`hashFile(file, {root})`)
 * share one table per context root — one read at the first lookup and, when
 * an entry changed, one atomic write at `flush()`; a no-op rebuild of a
 * 2000-file context reads one file instead of 2000. Other files have one small
 * file per path hash, written atomically. A crash loses at most the entries
 * not yet written: the memo is a cache, every entry is checked against stat.
 */
export class ContentMemo {
  readonly #dir: string;
  readonly #tmp: string;
  readonly #tables = new Map<string, Promise<MemoTable>>();

  constructor(dir: string, tmp: string) {
    this.#dir = dir;
    this.#tmp = tmp;
  }

  #table(root: string): Promise<MemoTable> {
    let table = this.#tables.get(root);
    if (table === undefined) {
      table = this.#loadTable(root);
      this.#tables.set(root, table);
    }
    return table;
  }

  async #loadTable(root: string): Promise<MemoTable> {
    const name = createHash('sha256').update(`root:${root}`).digest('hex');
    const path = join(this.#dir, 'roots', `${name}.json`);
    const entries = new Map<string, MemoEntry>();
    try {
      const value = JSON.parse(await readFile(path, 'utf8')) as { format?: unknown; root?: unknown; entries?: unknown };
      if (value.format === TABLE_FORMAT && value.root === root && Array.isArray(value.entries)) {
        for (const e of value.entries as MemoEntry[]) if (typeof e?.path === 'string') entries.set(e.path, e);
      }
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
    }
    return { path, entries, dirty: false };
  }

  /** Writes the context tables that changed since they were read (one atomic file each). */
  async flush(): Promise<void> {
    for (const [root, pending] of this.#tables) {
      const table = await pending;
      if (!table.dirty) continue;
      await mkdir(join(table.path, '..'), { recursive: true });
      await writeFileAtomic(this.#tmp, table.path, JSON.stringify({ format: TABLE_FORMAT, root, entries: [...table.entries.values()] }));
      table.dirty = false;
    }
  }

  #pathOf(file: string): string {
    const name = createHash('sha256').update(file).digest('hex');
    return join(this.#dir, name.slice(0, 2), name);
  }

  /** The memoized digest for a file whose facts are these, or undefined. */
  async lookup(file: string, facts: FileFacts, options: MemoOptions = {}): Promise<Digest | undefined> {
    let entry: MemoEntry | undefined;
    const root = tableRoot(file, options);
    if (root !== undefined) {
      entry = (await this.#table(root)).entries.get(file);
      if (entry === undefined) return undefined;
    } else {
      try {
        entry = JSON.parse(await readFile(this.#pathOf(file), 'utf8')) as MemoEntry;
      } catch (error) {
        if (errnoCode(error) === 'ENOENT' || error instanceof SyntaxError) return undefined;
        throw error;
      }
    }
    const same =
      entry.path === file &&
      entry.size === String(facts.size) &&
      entry.mtimeNs === String(facts.mtimeNs) &&
      entry.ctimeNs === String(facts.ctimeNs) &&
      entry.ino === String(facts.ino) &&
      entry.dev === String(facts.dev) &&
      isDigest(entry.digest);
    return same ? entry.digest : undefined;
  }

  /** Remembers a file's digest. Files changed in the last two seconds are skipped (their mtime may not change again). */
  async record(file: string, facts: FileFacts, digest: Digest, nowNs: bigint = BigInt(Date.now()) * 1_000_000n, options: MemoOptions = {}): Promise<boolean> {
    // A content change sets mtime to "now": only a recent mtime can hide a change made in the same clock tick.
    if (nowNs - facts.mtimeNs < RACY_NS) return false;
    const entry: MemoEntry = {
      path: file,
      size: String(facts.size),
      mtimeNs: String(facts.mtimeNs),
      ctimeNs: String(facts.ctimeNs),
      ino: String(facts.ino),
      dev: String(facts.dev),
      digest,
    };
    const root = tableRoot(file, options);
    if (root !== undefined) {
      const table = await this.#table(root);
      table.entries.set(file, entry);
      table.dirty = true;
      return true;
    }
    const path = this.#pathOf(file);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFileAtomic(this.#tmp, path, JSON.stringify(entry));
    return true;
  }

  /**
   * The sha256 of a file's bytes, from the memo when the file is unchanged;
   * otherwise read, hashed and memoized (if it did not change while read).
   */
  async hashFile(file: string, options: MemoOptions = {}): Promise<HashFileResult> {
    const before = factsOf(await stat(file, { bigint: true }));
    const memo = await this.lookup(file, before, options);
    if (memo !== undefined) return { digest: memo, size: Number(before.size), memoized: true };
    const digest = await hashFileContent(file, before.size);
    const after = factsOf(await stat(file, { bigint: true }));
    const unchanged = after.size === before.size && after.mtimeNs === before.mtimeNs && after.ctimeNs === before.ctimeNs && after.ino === before.ino;
    if (unchanged) await this.record(file, after, digest, undefined, options);
    return { digest, size: Number(after.size), memoized: false };
  }
}
