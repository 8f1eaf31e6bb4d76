// Repo digests: the `registry/repository@<digest>` names a stored image has
// on registries it was pulled from or pushed to, kept per image as docker
// keeps them for `docker image inspect`'s RepoDigests. They are facts about
// registries, not references: they keep no blob alive, and prune drops the
// record of an image whose manifest is gone.
//
//   repo-digests-v1/<hex of the image's digest>.json   {"repoDigests": ["host/repo@sha256:…", …]}
//
// The image is named by the digest its tag points at (a manifest, or the
// index of a multi-platform image); the digest in a repo digest is what the
// registry serves under the repository (for a pull of a multi-platform tag,
// the index's digest, as docker records it).
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { digestFromHex, digestHex, isDigest, type Digest } from './digest.js';
import { cacheError, CacheErrors, errnoCode } from './errors.js';
import { writeFileAtomic } from './fs-util.js';
import { withLock, type LockOptions } from './lock.js';
import { formatReference, parseReference } from './reference.js';

export interface RepoDigestFiles {
  /** repo-digests-v1 */
  readonly dir: string;
  readonly lockPath: string;
  readonly tmp: string;
  readonly lock?: LockOptions;
}

interface RepoDigestsFile {
  readonly repoDigests: string[];
}

/**
 * Normalizes a repo digest (`host/repo@algo:hex`, no tag); throws
 * CACHE_INVALID_REFERENCE for anything else. sha512 is accepted as well as
 * sha256: the name is a registry's, not the store's.
 */
export function normalizeRepoDigest(text: string): string {
  const ref = parseReference(text);
  if (ref.digest === undefined) throw cacheError(CacheErrors.invalidReference, [text, 'a repo digest is NAME@DIGEST']);
  return formatReference({ registry: ref.registry, repository: ref.repository, digest: ref.digest });
}

function fileOf(files: RepoDigestFiles, image: Digest): string {
  return join(files.dir, `${digestHex(image)}.json`);
}

async function readList(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
  try {
    const value = JSON.parse(text) as Partial<RepoDigestsFile>;
    return Array.isArray(value.repoDigests) ? value.repoDigests.filter((d): d is string => typeof d === 'string') : [];
  } catch {
    // a damaged record loses only names for people; the next add rewrites it
    return [];
  }
}

/** The repo digests recorded for an image, sorted. */
export function readRepoDigests(files: RepoDigestFiles, image: Digest): Promise<string[]> {
  return readList(fileOf(files, image));
}

/**
 * Records repo digests for an image (read-modify-write under a lock, written
 * atomically). A repository keeps every digest it was seen with, as docker
 * does. Returns the image's list.
 */
export async function addRepoDigests(files: RepoDigestFiles, image: Digest, repoDigests: readonly string[]): Promise<string[]> {
  const adding = repoDigests.map(normalizeRepoDigest);
  const path = fileOf(files, image);
  return withLock(files.lockPath, files.tmp, async () => {
    const have = await readList(path);
    const next = [...new Set([...have, ...adding])].sort();
    if (next.length === have.length && next.every((d, i) => d === have[i])) return have;
    await mkdir(files.dir, { recursive: true });
    await writeFileAtomic(files.tmp, path, `${JSON.stringify({ repoDigests: next } satisfies RepoDigestsFile)}\n`);
    return next;
  }, files.lock);
}

/**
 * Removes the records of images for which `keep` says no: prune calls this
 * with "its manifest is still stored". Returns how many were removed.
 */
export async function dropRepoDigests(files: RepoDigestFiles, keep: (image: Digest) => boolean): Promise<number> {
  let names: string[];
  try {
    names = await readdir(files.dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return 0;
    throw error;
  }
  let removed = 0;
  await withLock(files.lockPath, files.tmp, async () => {
    for (const name of names) {
      const hex = name.replace(/\.json$/, '');
      const image = isDigest(`sha256:${hex}`) ? digestFromHex(hex) : undefined;
      if (image !== undefined && keep(image)) continue;
      await unlink(join(files.dir, name)).catch((e: unknown) => (errnoCode(e) === 'ENOENT' ? undefined : Promise.reject(e)));
      removed += 1;
    }
  }, files.lock);
  return removed;
}
