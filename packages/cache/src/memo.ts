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

/** A change younger than this may share its mtime with a later one (racy-git): such files are not memoized. */
const RACY_NS = 2_000_000_000n;

export interface HashFileResult {
  readonly digest: Digest;
  readonly size: number;
  /** True when the digest came from the memo and no content was read. */
  readonly memoized: boolean;
}

/**
 * The context content-hash memo: (path, size, mtime, ctime, inode) → sha256 of
 * the file's bytes. One small file per path hash, written atomically, so a
 * lookup is one read and a crash loses at most the entry being written.
 */
export class ContentMemo {
  readonly #dir: string;
  readonly #tmp: string;

  constructor(dir: string, tmp: string) {
    this.#dir = dir;
    this.#tmp = tmp;
  }

  #pathOf(file: string): string {
    const name = createHash('sha256').update(file).digest('hex');
    return join(this.#dir, name.slice(0, 2), name);
  }

  /** The memoized digest for a file whose facts are these, or undefined. */
  async lookup(file: string, facts: FileFacts): Promise<Digest | undefined> {
    let entry: MemoEntry;
    try {
      entry = JSON.parse(await readFile(this.#pathOf(file), 'utf8')) as MemoEntry;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || error instanceof SyntaxError) return undefined;
      throw error;
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
  async record(file: string, facts: FileFacts, digest: Digest, nowNs: bigint = BigInt(Date.now()) * 1_000_000n): Promise<boolean> {
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
    const path = this.#pathOf(file);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFileAtomic(this.#tmp, path, JSON.stringify(entry));
    return true;
  }

  /**
   * The sha256 of a file's bytes, from the memo when the file is unchanged;
   * otherwise read, hashed and memoized (if it did not change while read).
   */
  async hashFile(file: string): Promise<HashFileResult> {
    const before = factsOf(await stat(file, { bigint: true }));
    const memo = await this.lookup(file, before);
    if (memo !== undefined) return { digest: memo, size: Number(before.size), memoized: true };
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    const digest = `sha256:${hash.digest('hex')}` as Digest;
    const after = factsOf(await stat(file, { bigint: true }));
    const unchanged = after.size === before.size && after.mtimeNs === before.mtimeNs && after.ctimeNs === before.ctimeNs && after.ino === before.ino;
    if (unchanged) await this.record(file, after, digest);
    return { digest, size: Number(after.size), memoized: false };
  }
}
