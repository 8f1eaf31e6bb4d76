import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { buildError, BuildErrors } from '../errors.js';
import { lookupInLayers } from '../snapshot/snapshotter.js';

/** Linux's limit on symlinks followed while resolving one path (ELOOP beyond it). */
const MAX_LINKS = 40;

/**
 * Resolves COPY/ADD's destination the way BuildKit does without --link:
 * symlinks the image has on the way are followed, scoped to the image root
 * (an absolute target starts at the image's `/`, `..` stops at it), so the
 * result is a path inside the image made of real folders only, up to the
 * first component the image does not have. Reads the parent layers only
 * (topmost first); a trailing slash is kept.
 */
export async function resolveInImage(lowerDirs: readonly string[], destination: string): Promise<string> {
  const trailing = destination.endsWith('/') && destination !== '/';
  let pending = destination.split('/').filter((p) => p !== '' && p !== '.');
  let resolved: string[] = [];
  let links = 0;
  let missing = false;
  while (pending.length > 0) {
    const part = pending[0] as string;
    pending = pending.slice(1);
    if (part === '..') {
      resolved = resolved.slice(0, -1);
      continue;
    }
    const candidate = [...resolved, part];
    // nothing below a missing folder exists either: the rest is lexical
    const host = missing ? undefined : await lookupInLayers(lowerDirs, candidate.join('/'));
    if (host === undefined) {
      missing = true;
      resolved = candidate;
      continue;
    }
    const st = await lstat(host);
    if (!st.isSymbolicLink()) {
      resolved = candidate;
      continue;
    }
    links += 1;
    if (links > MAX_LINKS) {
      throw buildError(BuildErrors.invalidInstruction, [`cannot resolve the destination ${destination}: too many levels of symbolic links`]);
    }
    const target = await readlink(host);
    const next = target.split('/').filter((p) => p !== '' && p !== '.');
    if (target.startsWith('/')) resolved = [];
    pending = [...next, ...pending];
  }
  const path = posix.join('/', ...resolved);
  return trailing && path !== '/' ? `${path}/` : path;
}
