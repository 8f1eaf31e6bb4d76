import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type Digest } from './digest.js';
import { errnoCode, isCacheError } from './errors.js';
import { fsyncDir, writeFileAtomic } from './fs-util.js';
import { emptyIndex, parseIndex, updateIndexFile } from './refs.js';
import type { Store } from './store.js';
import { forEachLimit } from './concurrency.js';
import { inventory } from './usage.js';
import { REF_NAME_ANNOTATION } from './oci.js';

export type VerifyProblemKind =
  /** oci-layout is missing or not version 1.0.0. */
  | 'bad-layout'
  /** index.json is not a valid OCI index. */
  | 'corrupt-index'
  /** A blob's bytes do not hash to its name. */
  | 'corrupt-blob'
  /** A file in blobs/sha256 that is not named by a digest. */
  | 'stray-file'
  /** A tag whose manifest is missing or damaged. */
  | 'dangling-tag'
  /** A tagged image lacks a config or layer blob. */
  | 'missing-blob'
  /** A cache record that cannot be read. */
  | 'damaged-record'
  /** A cache record whose layer blob is gone. */
  | 'record-missing-layer'
  /** A snapshot folder without valid metadata. */
  | 'damaged-snapshot';

export interface VerifyProblem {
  readonly kind: VerifyProblemKind;
  /** The digest, reference or path concerned. */
  readonly subject: string;
  readonly detail: string;
  /** True when `repair` fixed it. */
  readonly repaired: boolean;
}

export interface VerifyOptions {
  /** Quarantine bad blobs, drop dangling tags and broken records, rewrite a bad layout or index. */
  readonly repair?: boolean;
  /** Blobs hashed at once (default 4). */
  readonly concurrency?: number;
  readonly onProgress?: (progress: { readonly checked: number; readonly total: number }) => void;
}

export interface VerifyResult {
  readonly checkedBlobs: number;
  readonly checkedBytes: number;
  readonly problems: readonly VerifyProblem[];
  /** True when there were no problems (repaired ones count as problems). */
  readonly ok: boolean;
}

async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** Re-hashes every blob and checks every tag, record and snapshot; optionally repairs. */
export async function verifyStore(store: Store, options: VerifyOptions = {}): Promise<VerifyResult> {
  const repair = options.repair === true;
  const problems: VerifyProblem[] = [];
  const p = store.paths;

  // The layout marker.
  let layoutOk = false;
  try {
    layoutOk = (JSON.parse(await readFile(p.ociLayout, 'utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion === '1.0.0';
  } catch {
    layoutOk = false;
  }
  if (!layoutOk) {
    if (repair) await writeFileAtomic(p.tmp, p.ociLayout, `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
    problems.push({ kind: 'bad-layout', subject: p.ociLayout, detail: 'oci-layout is missing or not version 1.0.0', repaired: repair });
  }

  // The index itself.
  try {
    parseIndex(await readFile(p.index, 'utf8'), p.index);
  } catch (error) {
    if (!isCacheError(error) && errnoCode(error) !== 'ENOENT') throw error;
    if (repair) {
      await rename(p.index, join(p.quarantine, `index.json.${Date.now()}`)).catch(() => undefined);
      await writeFileAtomic(p.tmp, p.index, `${JSON.stringify(emptyIndex(), null, 2)}\n`);
    }
    problems.push({ kind: 'corrupt-index', subject: p.index, detail: (error as Error).message, repaired: repair });
    if (!repair) return { checkedBlobs: 0, checkedBytes: 0, problems, ok: false };
  }

  // Every blob, re-hashed.
  const names = await readdir(p.blobs);
  let checkedBlobs = 0;
  let checkedBytes = 0;
  const bad = new Set<Digest>();
  await forEachLimit(names, options.concurrency ?? 4, async (name) => {
    const path = join(p.blobs, name);
    if (!isDigest(`sha256:${name}`)) {
      if (repair) await rm(path, { recursive: true, force: true });
      problems.push({ kind: 'stray-file', subject: path, detail: 'not named by a sha256 digest', repaired: repair });
      return;
    }
    let found;
    try {
      found = await hashFile(path);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return; // removed meanwhile (prune)
      throw error;
    }
    checkedBlobs += 1;
    checkedBytes += found.size;
    options.onProgress?.({ checked: checkedBlobs, total: names.length });
    if (found.digest !== `sha256:${name}`) {
      const digest = `sha256:${name}` as Digest;
      bad.add(digest);
      if (repair) {
        await rename(path, join(p.quarantine, `${name}.${Date.now()}.${found.digest.slice(7, 19)}`)).catch(() => undefined);
      }
      problems.push({ kind: 'corrupt-blob', subject: digest, detail: `content hashes to ${found.digest}`, repaired: repair });
    }
  });
  if (repair && bad.size > 0) await fsyncDir(p.blobs);

  // Tags, records and snapshots, against what is now on disk.
  const inv = await inventory(store);
  const dangling: string[] = [];
  for (const image of inv.images) {
    const missing = [...(inv.missingByRef.get(image.ref) ?? [])];
    for (const digest of inv.blobsByRef.get(image.ref) ?? []) if (bad.has(digest) && !missing.includes(digest)) missing.push(digest);
    const manifestGone = !inv.blobs.has(image.descriptor.digest) || missing.includes(image.descriptor.digest);
    if (manifestGone) {
      dangling.push(image.ref);
      problems.push({ kind: 'dangling-tag', subject: image.ref, detail: `manifest ${image.descriptor.digest} is missing or damaged`, repaired: repair });
    } else {
      for (const digest of missing) {
        problems.push({ kind: 'missing-blob', subject: image.ref, detail: `needs ${digest}, which is missing or damaged`, repaired: false });
      }
    }
  }
  if (repair && dangling.length > 0) {
    await updateIndexFile(
      { indexPath: p.index, lockPath: join(p.locks, 'index.lock'), tmp: p.tmp },
      (index) => ({
        index: { ...index, manifests: index.manifests.filter((d) => !dangling.includes(d.annotations?.[REF_NAME_ANNOTATION] ?? '\0')) },
        result: undefined,
      }),
    );
  }
  for (const path of inv.damagedRecords) {
    if (repair) await unlink(path).catch(() => undefined);
    problems.push({ kind: 'damaged-record', subject: path, detail: 'not a valid cache record', repaired: repair });
  }
  for (const { record, path } of inv.records) {
    const layer = record.layer;
    if (layer !== undefined && (!inv.blobs.has(layer.digest) || bad.has(layer.digest))) {
      if (repair) await unlink(path).catch(() => undefined);
      problems.push({ kind: 'record-missing-layer', subject: record.key, detail: `layer ${layer.digest} is missing`, repaired: repair });
    }
  }
  for (const path of inv.damagedSnapshots) {
    if (repair) await rm(path, { recursive: true, force: true });
    problems.push({ kind: 'damaged-snapshot', subject: path, detail: 'no valid meta.json for this chain ID', repaired: repair });
  }
  return { checkedBlobs, checkedBytes, problems, ok: problems.length === 0 };
}
