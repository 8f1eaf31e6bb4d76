// Hand-written expected trees, for what Buildah 1.28 cannot build (heredocs,
// COPY --link/--parents/--exclude, ADD --checksum, RUN --mount): a case states
// every entry its build adds or changes relative to the base image, and every
// path it removes; the image strata builds must differ from the base by
// exactly that. The expectations follow BuildKit's documented behaviour.
import { createHash } from 'node:crypto';
import type { Entry, Manifest } from './manifest.js';

interface Meta {
  mode?: string;
  uid?: number;
  gid?: number;
}

export function file(path: string, content: string, meta: Meta = {}): Entry {
  const bytes = Buffer.from(content);
  return {
    path,
    type: 'file',
    mode: meta.mode ?? '0644',
    uid: meta.uid ?? 0,
    gid: meta.gid ?? 0,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

export function dir(path: string, meta: Meta = {}): Entry {
  return { path, type: 'dir', mode: meta.mode ?? '0755', uid: meta.uid ?? 0, gid: meta.gid ?? 0 };
}

export function symlink(path: string, target: string, meta: Meta = {}): Entry {
  return { path, type: 'symlink', mode: '0777', uid: meta.uid ?? 0, gid: meta.gid ?? 0, target, size: Buffer.byteLength(target) };
}

export function hardlink(entry: Entry, path: string, of: string): Entry {
  return { ...entry, path, hardlinkOf: of };
}

/**
 * The image `base` changed by `added` (new or changed entries) and `removed`
 * (paths, with everything under them).
 */
export function expectedTree(base: Manifest, added: readonly Entry[], removed: readonly string[] = []): Manifest {
  const out = new Map(base);
  for (const path of removed) {
    for (const key of [...out.keys()]) if (key === path || key.startsWith(`${path}/`)) out.delete(key);
  }
  for (const entry of added) out.set(entry.path, entry);
  return out;
}
