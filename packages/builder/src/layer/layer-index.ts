/**
 * A layer index: where each entry of an uncompressed layer tar lies in the
 * blob, and the header facts it was written with. writeTarFile makes one in
 * the same pass that writes the tar; the snapshot store keeps it beside the
 * layer's snapshot. An incremental COPY (steps/incremental-copy.ts) reads it
 * to do per-file work only for what changed:
 * - a target whose source is unchanged is checked against the index, not
 *   stat'ed (copy-reuse.ts);
 * - the scan of the new upper folder takes kept entries' facts from it
 *   (scan.ts);
 * - the new tar copies the bytes of each run of kept entries out of the old
 *   blob in large reads (write-layer.ts) instead of opening each file.
 * The tar header is a pure function of the facts recorded here (path, type,
 * mode, owner, size, mtime, link target; the entries indexed as reusable
 * have no extended attributes and no other names), so equal facts mean equal
 * header bytes; TAR_FORMAT names the header encoding and is part of the
 * index, so an index written by another encoding is never used.
 */
import { readFileSync } from 'node:fs';
import type { TarHeader, TarType } from './tar-header.js';

/** Bumped whenever tar-header.ts or the entry order would write other bytes for the same facts. */
export const TAR_FORMAT = 'strata-tar-1';
const VERSION = 1;

/** An entry's header facts (mtime not clamped: the index records the epoch it was clamped to) and where it lies. */
export interface IndexedEntry extends Pick<TarHeader, 'path' | 'type' | 'mode' | 'uid' | 'gid' | 'size' | 'mtime' | 'linkname'> {
  /** Offset of the entry's first header block (a PAX header's, when it has one). */
  readonly start: number;
  /** Offset just after the entry's content padding. */
  readonly end: number;
  /** No extended attributes and a single name: its bytes depend only on the facts above and its content. */
  readonly plain: boolean;
}

export interface LayerIndex {
  /** The uncompressed tar (its sha256, the layer's diffID) the offsets are of. */
  readonly diffId: string;
  /** SOURCE_DATE_EPOCH the mtimes were clamped to, or null. */
  readonly epoch: number | null;
  /**
   * The kernel's boot ID when the index was written (currentBootId). The
   * snapshot beside it is not fsynced: after a reboot (a power loss) its
   * files may not be what the index says, so its files are then checked on
   * disk; the blob's bytes, which are fsynced, can still be used.
   */
  readonly bootId?: string;
  /** Entries by path, in archive order. */
  readonly entries: ReadonlyMap<string, IndexedEntry>;
}

type Row = [path: string, type: TarType, mode: number, uid: number, gid: number, size: number, mtime: number, start: number, end: number, plain: 0 | 1, linkname?: string];

/** The index as text (one JSON document; rows are arrays, ~80 bytes an entry). */
export function serializeLayerIndex(index: LayerIndex): string {
  const rows: Row[] = [];
  for (const e of index.entries.values()) {
    const row: Row = [e.path, e.type, e.mode, e.uid, e.gid, e.size, e.mtime, e.start, e.end, e.plain ? 1 : 0];
    if (e.linkname !== undefined) row.push(e.linkname);
    rows.push(row);
  }
  return JSON.stringify({ version: VERSION, format: TAR_FORMAT, diffId: index.diffId, epoch: index.epoch, boot: index.bootId ?? currentBootId() ?? null, entries: rows });
}

/** Reads an index; undefined when the text is not one this code wrote (another format, damaged). */
export function parseLayerIndex(text: string): LayerIndex | undefined {
  let doc: { version?: unknown; format?: unknown; diffId?: unknown; epoch?: unknown; boot?: unknown; entries?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    return undefined;
  }
  if (doc.version !== VERSION || doc.format !== TAR_FORMAT || typeof doc.diffId !== 'string' || !Array.isArray(doc.entries)) return undefined;
  if (doc.epoch !== null && typeof doc.epoch !== 'number') return undefined;
  const entries = new Map<string, IndexedEntry>();
  for (const row of doc.entries as unknown[]) {
    if (!Array.isArray(row) || row.length < 10 || typeof row[0] !== 'string') return undefined;
    const [path, type, mode, uid, gid, size, mtime, start, end, plain, linkname] = row as Row;
    // mtimes before 1970 are negative (tar allows them)
    if (![mode, uid, gid, size, start, end].every((n) => Number.isSafeInteger(n) && n >= 0) || !Number.isSafeInteger(mtime) || end < start) return undefined;
    entries.set(path, { path, type, mode, uid, gid, size, mtime, start, end, plain: plain === 1, ...(typeof linkname === 'string' ? { linkname } : {}) });
  }
  return { diffId: doc.diffId, epoch: doc.epoch, entries, ...(typeof doc.boot === 'string' ? { bootId: doc.boot } : {}) };
}

let bootId: string | null | undefined;

/** /proc/sys/kernel/random/boot_id: new at every boot (undefined where there is none). */
export function currentBootId(): string | undefined {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = null;
    }
  }
  return bootId ?? undefined;
}
