import { createHash } from 'node:crypto';
import { closeSync, constants, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { BigIntStats, Dirent } from 'node:fs';
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

export interface HashFileOptions extends MemoOptions {
  /** The file's facts from a stat the caller just made (a context walk's lstat): saves `hashFile` its own first stat. */
  readonly facts?: FileFacts | undefined;
}

/** The table a file's entry lives in: its context root when the file is under it. */
function tableRoot(file: string, options: MemoOptions): string | undefined {
  const root = options.root;
  if (root === undefined) return undefined;
  return file.startsWith(root.endsWith('/') ? root : `${root}/`) ? root : undefined;
}

/** A change younger than this may share its mtime with a later one (racy-git): such files are not memoized. */
export const RACY_NS = 2_000_000_000n;

export interface HashFileResult {
  readonly digest: Digest;
  readonly size: number;
  /** True when the digest came from the memo and no content was read. */
  readonly memoized: boolean;
}

const TABLE_FORMAT = 'strata.memo-table.v1';
const SELECTIONS_FORMAT = 'strata.memo-selections.v1';
/** Selection digests kept per context root, newest last: enough for every COPY of a few Dockerfiles and their recent edits. */
const SELECTIONS_KEPT = 256;

/**
 * One of a build context's table files, read once and written whole at
 * `flush()` when changed: the content memo (`<name>.json`: path -> entry) or
 * the selection memo (`<name>.selections.json`: fingerprint -> digest).
 */
interface RootTable<V> extends WrittenTable {
  readonly entries: Map<string, V>;
}

/** What `flush()` needs of a table, whatever its entries. */
interface WrittenTable {
  readonly root: string;
  readonly path: string;
  readonly format: string;
  dirty: boolean;
  /** The file's `entries` array. */
  rows(): unknown[];
}

/** How one kind of table file is named and laid out. */
interface TableKind<V> {
  readonly suffix: string;
  readonly format: string;
  /** A row of the file's `entries` as a key and value, or undefined for a malformed row (dropped). */
  readonly read: (row: unknown) => [string, V] | undefined;
  readonly rows: (entries: Map<string, V>) => unknown[];
}

const CONTENT_TABLE: TableKind<MemoEntry> = {
  suffix: '.json',
  format: TABLE_FORMAT,
  read: (row) => (typeof (row as MemoEntry | null)?.path === 'string' ? [(row as MemoEntry).path, row as MemoEntry] : undefined),
  rows: (entries) => [...entries.values()],
};

const SELECTION_TABLE: TableKind<string> = {
  suffix: '.selections.json',
  format: SELECTIONS_FORMAT,
  read: (row) => (Array.isArray(row) && typeof row[0] === 'string' && typeof row[1] === 'string' ? [row[0], row[1]] : undefined),
  rows: (entries) => [...entries],
};

/** A context root's table file name (without suffix): the sha256 of `root:<root>`. */
function tableName(root: string): string {
  return createHash('sha256').update(`root:${root}`).digest('hex');
}

/** What `pruneMemoTables` removed (or would remove, with `dryRun`). */
export interface MemoPruneResult {
  /** Table files: a root's content table and its selection table count as two. */
  readonly files: number;
  readonly bytes: number;
}

/** Why a file under roots/ is kept or goes: the root it serves, or undefined for a file that is no table of this version. */
async function tableRootOf(path: string, name: string): Promise<string | undefined> {
  // the selection table first: its suffix ends in the content table's
  const kind = [SELECTION_TABLE, CONTENT_TABLE].find((k) => name.endsWith(k.suffix));
  if (kind === undefined) return undefined;
  let value: { format?: unknown; root?: unknown };
  try {
    value = JSON.parse(await readFile(path, 'utf8')) as { format?: unknown; root?: unknown };
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || error instanceof SyntaxError) return undefined;
    throw error;
  }
  if (typeof value !== 'object' || value === null || value.format !== kind.format || typeof value.root !== 'string') return undefined;
  // a table stored under another root's name is never read (the loader checks `root`): foreign too
  return `${tableName(value.root)}${kind.suffix}` === name ? value.root : undefined;
}

/** True when the context folder a table serves is gone (or is no folder any more); unknown (EACCES…) counts as present. */
async function rootGone(root: string): Promise<boolean> {
  try {
    return !(await stat(root)).isDirectory();
  } catch (error) {
    const code = errnoCode(error);
    return code === 'ENOENT' || code === 'ENOTDIR';
  }
}

/**
 * What `prune --all` removes with the whole memo folder: its context tables
 * (counted) and the bytes of every memo file (tables and per-path entries).
 */
export async function memoUsage(memoDir: string): Promise<MemoPruneResult> {
  let files = 0;
  let bytes = 0;
  const walk = async (dir: string, tables: boolean): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return;
      throw error;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path, e.name === 'roots' && dir === memoDir);
      else if (e.isFile()) {
        bytes += (await stat(path).catch(() => undefined))?.size ?? 0;
        if (tables) files += 1;
      }
    }
  };
  await walk(memoDir, false);
  return { files, bytes };
}

/**
 * The memo's share of `strata prune`: removes both tables (content and
 * selection memo) of every context root whose folder no longer exists, and
 * files under `roots/` that are no table of this version (unreadable JSON, a
 * foreign format, a name that does not match their root): nothing reads them
 * again. A table whose folder exists stays, however old: a rebuild of that
 * context would otherwise hash every file again. Tables are written by
 * rename, so a file seen here is never half-written. `memoDir` is the store's
 * memo folder; returns the count and bytes removed (or, with `dryRun`, that
 * would be).
 */
export async function pruneMemoTables(memoDir: string, options: { readonly dryRun?: boolean } = {}): Promise<MemoPruneResult> {
  const dir = join(memoDir, 'roots');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { files: 0, bytes: 0 };
    throw error;
  }
  let files = 0;
  let bytes = 0;
  const gone = new Map<string, Promise<boolean>>();
  for (const name of names.sort()) {
    const path = join(dir, name);
    const facts = await stat(path).catch(() => undefined);
    if (facts === undefined || !facts.isFile()) continue;
    const root = await tableRootOf(path, name);
    if (root !== undefined) {
      let check = gone.get(root);
      if (check === undefined) gone.set(root, (check = rootGone(root)));
      if (!(await check)) continue;
    }
    files += 1;
    bytes += facts.size;
    if (options.dryRun !== true) await unlink(path).catch((e: unknown) => (errnoCode(e) === 'ENOENT' ? undefined : Promise.reject(e)));
  }
  return { files, bytes };
}

/** Files up to this size are read in one call: a stream costs a thread-pool round trip per chunk and per open/close. */
const WHOLE_READ = 1n << 20n;

/**
 * The sha256 of a file's bytes, read every time: for files whose path is
 * never seen again (a source stage mounted for one COPY --from), where a
 * memo entry would cost a write and an fsync and never be read back.
 * `size`, when known, picks one read for small files over a stream.
 */
/** Files up to this size are hashed with blocking reads (see hashSmallFile). */
const SYNC_READ = 256n << 10n;
const smallBuffer = Buffer.allocUnsafe(Number(SYNC_READ));

/**
 * sha256 of a small file and its facts after the read, with blocking calls
 * on one descriptor: a few microseconds each, where a promise-based read
 * costs an open, a stat, a read and a close through the thread pool (a cold
 * 2000-file context: ~0.1 s of the main thread). The facts come from the
 * descriptor that was read, so a file replaced meanwhile shows another inode.
 */
function hashSmallFile(file: string): { digest: Digest; after: FileFacts } | undefined {
  let fd: number;
  try {
    // not through a symlink, and never waiting: a file swapped for a FIFO since the walk must not block the process
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const hash = createHash('sha256');
    for (;;) {
      const n = readSync(fd, smallBuffer, 0, smallBuffer.length, null);
      if (n === 0) break;
      hash.update(smallBuffer.subarray(0, n));
    }
    return { digest: `sha256:${hash.digest('hex')}` as Digest, after: factsOf(fstatSync(fd, { bigint: true })) };
  } finally {
    closeSync(fd);
  }
}

export async function hashFileContent(file: string, size?: bigint): Promise<Digest> {
  const small = size !== undefined && size <= SYNC_READ ? hashSmallFile(file) : undefined;
  return small?.digest ?? hashThroughPool(file, size);
}

/** sha256 of a file through the thread pool (whole for up to 1 MiB, else streamed). */
async function hashThroughPool(file: string, size?: bigint): Promise<Digest> {
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
  readonly #tables = new Map<string, Promise<RootTable<MemoEntry>>>();
  readonly #selections = new Map<string, Promise<RootTable<string>>>();

  constructor(dir: string, tmp: string) {
    this.#dir = dir;
    this.#tmp = tmp;
  }

  /** A root's table of one kind, read at its first use in this process. */
  #open<V>(cache: Map<string, Promise<RootTable<V>>>, kind: TableKind<V>, root: string): Promise<RootTable<V>> {
    let table = cache.get(root);
    if (table === undefined) {
      table = this.#load(kind, root);
      cache.set(root, table);
    }
    return table;
  }

  async #load<V>(kind: TableKind<V>, root: string): Promise<RootTable<V>> {
    const path = join(this.#dir, 'roots', `${tableName(root)}${kind.suffix}`);
    const entries = new Map<string, V>();
    try {
      const value = JSON.parse(await readFile(path, 'utf8')) as { format?: unknown; root?: unknown; entries?: unknown };
      if (value.format === kind.format && value.root === root && Array.isArray(value.entries)) {
        for (const row of value.entries as unknown[]) {
          const entry = kind.read(row);
          if (entry !== undefined) entries.set(entry[0], entry[1]);
        }
      }
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
    }
    return { root, path, format: kind.format, entries, dirty: false, rows: () => kind.rows(entries) };
  }

  #table(root: string): Promise<RootTable<MemoEntry>> {
    return this.#open(this.#tables, CONTENT_TABLE, root);
  }

  /**
   * The digest remembered for a whole selection of a context (a COPY's
   * sources) whose stat facts hash to `fingerprint`: a no-op rebuild then
   * neither looks up nor hashes its files one by one. The caller makes the
   * fingerprint from every selected entry's path, type, mode, link target and
   * file facts, so any change to any of them is a different fingerprint.
   */
  async lookupSelection(root: string, fingerprint: string): Promise<string | undefined> {
    return (await this.#open(this.#selections, SELECTION_TABLE, root)).entries.get(fingerprint);
  }

  /** Remembers a selection's digest (written at `flush()`); the caller skips selections with a file changed in the last two seconds. */
  async recordSelection(root: string, fingerprint: string, digest: string): Promise<void> {
    const table = await this.#open(this.#selections, SELECTION_TABLE, root);
    table.entries.delete(fingerprint);
    table.entries.set(fingerprint, digest);
    for (const old of table.entries.keys()) {
      if (table.entries.size <= SELECTIONS_KEPT) break;
      table.entries.delete(old);
    }
    table.dirty = true;
  }

  /** Writes the context tables that changed since they were read (one atomic file each). */
  async flush(): Promise<void> {
    const tables: Promise<WrittenTable>[] = [...this.#tables.values(), ...this.#selections.values()];
    for (const pending of tables) {
      const table = await pending;
      if (!table.dirty) continue;
      await mkdir(join(table.path, '..'), { recursive: true });
      await writeFileAtomic(this.#tmp, table.path, JSON.stringify({ format: table.format, root: table.root, entries: table.rows() }));
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
  async hashFile(file: string, options: HashFileOptions = {}): Promise<HashFileResult> {
    const before = options.facts ?? factsOf(await stat(file, { bigint: true }));
    const memo = await this.lookup(file, before, options);
    if (memo !== undefined) return { digest: memo, size: Number(before.size), memoized: true };
    // anything but a plain small file (a symlink or FIFO swapped in since the walk) takes the general path, as before
    const hashed = (before.size <= SYNC_READ ? hashSmallFile(file) : undefined) ?? {
      digest: await hashThroughPool(file, before.size),
      after: factsOf(await stat(file, { bigint: true })),
    };
    const { digest, after } = hashed;
    const unchanged = after.size === before.size && after.mtimeNs === before.mtimeNs && after.ctimeNs === before.ctimeNs && after.ino === before.ino;
    if (unchanged) await this.record(file, after, digest, undefined, options);
    return { digest, size: Number(after.size), memoized: false };
  }
}
