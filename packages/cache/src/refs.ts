import { readFileSync } from 'node:fs';
import { isDigest } from './digest.js';
import { cacheError, CacheErrors, errnoCode } from './errors.js';
import { writeFileAtomic } from './fs-util.js';
import { withLock, type LockOptions } from './lock.js';
import { MediaType, REF_NAME_ANNOTATION, type Descriptor, type Index } from './oci.js';

/** An image the store holds under a name. */
export interface TaggedImage {
  /** Full normalized reference, as in the `org.opencontainers.image.ref.name` annotation. */
  readonly ref: string;
  readonly descriptor: Descriptor;
}

export interface IndexFileOptions {
  readonly indexPath: string;
  readonly lockPath: string;
  readonly tmp: string;
  readonly lock?: LockOptions;
}

/** A fresh, empty index.json. */
export function emptyIndex(): Index {
  return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
}

/** Parses index.json; throws CACHE_CORRUPT_INDEX when it is not an OCI index. */
export function parseIndex(text: string, path: string): Index {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw cacheError(CacheErrors.corruptIndex, [path, 'not JSON'], { cause: error, path });
  }
  const index = value as Partial<Index> | null;
  if (typeof index !== 'object' || index === null || index.schemaVersion !== 2 || !Array.isArray(index.manifests)) {
    throw cacheError(CacheErrors.corruptIndex, [path, 'schemaVersion 2 with a manifests array expected'], { path });
  }
  for (const entry of index.manifests) {
    if (typeof entry !== 'object' || entry === null || !isDigest(entry.digest) || typeof entry.size !== 'number' || typeof entry.mediaType !== 'string') {
      throw cacheError(CacheErrors.corruptIndex, [path, 'an entry lacks mediaType, digest or size'], { path });
    }
  }
  return index as Index;
}

/** Reads index.json (an absent file is an empty index). */
export async function readIndexFile(path: string): Promise<Index> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return emptyIndex();
    throw error;
  }
  return parseIndex(text, path);
}

/** The tags of an index: entries that carry a ref.name annotation. */
export function taggedImages(index: Index): TaggedImage[] {
  const out: TaggedImage[] = [];
  for (const descriptor of index.manifests) {
    const ref = descriptor.annotations?.[REF_NAME_ANNOTATION];
    if (ref !== undefined) out.push({ ref, descriptor });
  }
  return out;
}

/**
 * Read-modify-write of index.json under the store's index lock; the new file
 * is written beside, fsynced and renamed over the old one. `change` returns
 * the new index, or undefined to leave the file untouched. If the lock was
 * broken while `change` ran (this process looked dead to another), the update
 * is redone on the then-current index.
 */
export async function updateIndexFile<T>(
  options: IndexFileOptions,
  change: (index: Index) => { index: Index | undefined; result: T },
): Promise<T> {
  // A change that changes nothing (tagging what the name already points at: a
  // cached rebuild) needs no lock: deciding it on a consistent snapshot (the
  // index is only ever replaced by rename) is the same as deciding it under
  // the lock at the moment of the read. Saves a lock file and token per build.
  const unlocked = change(await readIndexFile(options.indexPath));
  if (unlocked.index === undefined) return unlocked.result;
  for (;;) {
    const outcome = await withLock(options.lockPath, options.tmp, async (lock) => {
      const current = await readIndexFile(options.indexPath);
      const { index, result } = change(current);
      if (index === undefined) return { done: true, result };
      if (!(await lock.isHeld())) return { done: false, result };
      await writeFileAtomic(options.tmp, options.indexPath, `${JSON.stringify(index, null, 2)}\n`);
      return { done: true, result };
    }, options.lock);
    if (outcome.done) return outcome.result;
  }
}

/** The index with `ref` pointing at `descriptor` (replacing an older entry of that name). */
export function withTag(index: Index, ref: string, descriptor: Descriptor): Index {
  const entry: Descriptor = { ...descriptor, annotations: { ...descriptor.annotations, [REF_NAME_ANNOTATION]: ref } };
  const manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== ref);
  manifests.push(entry);
  return { ...index, manifests };
}

/** The index without the entry named `ref`, or undefined when there is none. */
export function withoutTag(index: Index, ref: string): Index | undefined {
  const manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== ref);
  return manifests.length === index.manifests.length ? undefined : { ...index, manifests };
}
