import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lchown, lstat, mkdir, open, readdir, rename, rm, chmod, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extractLayer, isTarHeader } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import { lookupInLayers } from '../snapshot/snapshotter.js';
import { ensureParents, type Owner } from './upper-dirs.js';
import { resolveInImage } from './dest-path.js';

/** How an ADD source archive is compressed (told by its first bytes, never its name, as docker does). */
export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

function compressionOf(head: Buffer): Compression {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  return 'none';
}

/** A decompressing read of a file; gzip in process, the others through their Debian tools (bzip2, xz-utils, zstd). */
interface Decompressed {
  readonly stream: Readable;
  /** Settles when the decompressor is done: rejects on a corrupt stream. */
  readonly done: Promise<void>;
  stop(): void;
}

function decompress(file: string, compression: Compression): Decompressed {
  const input = createReadStream(file);
  if (compression === 'none') return { stream: input, done: Promise.resolve(), stop: () => input.destroy() };
  if (compression === 'gzip') {
    const gunzip = createGunzip();
    input.pipe(gunzip);
    input.on('error', (e) => gunzip.destroy(e));
    return { stream: gunzip, done: Promise.resolve(), stop: () => (input.destroy(), gunzip.destroy()) };
  }
  const tool = compression === 'xz' ? 'xz' : compression;
  const child = spawn(tool, ['-d', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let stopped = false;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (stderr += c));
  child.stdin.on('error', () => undefined); // the tool may stop reading early (stop(), a corrupt stream)
  input.pipe(child.stdin);
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 || stopped ? resolve() : reject(new Error(`${tool} -d: ${stderr.trim() || `exit code ${code ?? 'signal'}`}`)),
    );
  });
  done.catch(() => undefined);
  return {
    stream: child.stdout,
    done,
    stop: () => {
      stopped = true;
      input.destroy();
      child.kill();
    },
  };
}

/**
 * Tells whether a local ADD source is a tar archive docker would extract:
 * uncompressed, gzip, bzip2, xz or zstd (by content), whose first block is
 * a valid tar header. Anything else is copied as a file.
 */
export async function sniffArchive(file: string): Promise<Compression | undefined> {
  const handle = await open(file, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await handle.read(buf, 0, 512, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const compression = compressionOf(head);
  if (compression === 'none') return isTarHeader(head) ? 'none' : undefined;
  const reading = decompress(file, compression);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of reading.stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= 512) break;
    }
  } catch {
    return undefined; // not decompressible: a file that merely starts with magic bytes
  } finally {
    reading.stop();
  }
  return isTarHeader(Buffer.concat(chunks)) ? compression : undefined;
}

export interface ExtractOptions {
  /** Where the archive's root lands in the upper directory (relative, '' for /). */
  readonly targetRel: string;
  /** A scratch folder on the upper directory's filesystem (the archive is extracted there first). */
  readonly staging: string;
  /** --chown: every extracted entry gets this owner (BuildKit ≥ 0.23); else the archive's owners. */
  readonly owner?: Owner;
  /** How the source is named in errors. */
  readonly source: string;
  /** Time for folders made for the image's own (seconds). */
  readonly epoch: number;
}

/**
 * Extracts a tar archive into the upper directory at `targetRel`, with the
 * path safety of the store's layer extraction: entries that are absolute,
 * climb out with `..`, or would be written through a symlink the archive
 * made are refused (BUILD_ARCHIVE_UNSAFE), so nothing lands outside the
 * image root. The archive is extracted into an empty staging folder first
 * and then merged: entries replace what the destination has (a folder
 * merges into a folder), never following a symlink. Parent folders the
 * archive only implies keep the image's mode and owner.
 */
export async function extractArchive(file: string, compression: Compression, upper: string, lowerDirs: readonly string[], options: ExtractOptions): Promise<void> {
  await mkdir(options.staging, { recursive: true });
  const reading = decompress(file, compression);
  let explicit: Set<string>;
  let specials: { path: string; type: string; mode: number; devmajor?: number; devminor?: number }[];
  try {
    const unpacked = await extractLayer(reading.stream, false, options.staging);
    await reading.done;
    explicit = new Set(unpacked.dirs);
    specials = unpacked.specials;
  } catch (error) {
    reading.stop();
    const code = (error as { code?: unknown }).code;
    if (code === 'CACHE_UNSAFE_PATH') throw buildError(BuildErrors.archiveUnsafe, [options.source, (error as Error).message], { cause: error });
    throw buildError(BuildErrors.archiveInvalid, [options.source, (error as Error).message], { cause: error });
  }
  for (const s of specials) await makeSpecial(join(options.staging, s.path), s);
  if (options.owner !== undefined) await chownTree(options.staging, options.owner);
  await mergeDir(options.staging, '', options.targetRel, { upper, explicit, lowerDirs, epoch: options.epoch });
  await rm(options.staging, { recursive: true, force: true });
}

async function makeSpecial(target: string, s: { type: string; mode: number; devmajor?: number; devminor?: number }): Promise<void> {
  await rm(target, { force: true });
  const mode = (s.mode & 0o7777).toString(8);
  const args = s.type === 'fifo' ? ['-m', mode, target, 'p'] : ['-m', mode, target, s.type === 'block-device' ? 'b' : 'c', String(s.devmajor ?? 0), String(s.devminor ?? 0)];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('mknod', args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`mknod ${args.join(' ')}: exit code ${code ?? 'signal'}`))));
  });
}

async function chownTree(dir: string, owner: Owner): Promise<void> {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const st = await lstat(path);
    await lchown(path, owner.uid, owner.gid);
    if (st.isDirectory()) await chownTree(path, owner);
  }
}

interface MergeState {
  readonly upper: string;
  readonly explicit: ReadonlySet<string>;
  readonly lowerDirs: readonly string[];
  readonly epoch: number;
}

/**
 * Moves the children of a staging folder (`archRel` in the archive) into
 * `upper/destRel`; lstat only, so no symlink in the upper directory is ever
 * followed. A folder the archive only implies, where the image has a
 * symlink to a folder (merged-/usr's /lib), goes where the symlink points
 * inside the image, as docker's untar writes through it; a folder with its
 * own entry replaces the symlink, as docker's untar does.
 */
async function mergeDir(staging: string, archRel: string, destRel: string, state: MergeState): Promise<void> {
  for (const name of (await readdir(join(staging, archRel))).sort()) {
    const rel = archRel === '' ? name : `${archRel}/${name}`;
    const src = join(staging, rel);
    let childDest = destRel === '' ? name : `${destRel}/${name}`;
    const srcInfo = await lstat(src);
    const implicit = srcInfo.isDirectory() && !state.explicit.has(rel);
    let destInfo = await lstat(join(state.upper, childDest)).catch(() => undefined);
    if (implicit && destInfo === undefined) {
      const followed = await followImageLink(childDest, state);
      if (followed !== undefined) {
        childDest = followed;
        destInfo = await lstat(join(state.upper, childDest)).catch(() => undefined);
      }
    }
    const dest = join(state.upper, childDest);
    if (srcInfo.isDirectory() && destInfo === undefined && (await imageHasFolder(childDest, state))) {
      // recreate the image's folder (its mode and owner) and merge into it, so
      // that what lies below it in the image is looked at too
      await ensureParents(state.upper, state.lowerDirs, `/${childDest}`, undefined, state.epoch);
      destInfo = await lstat(dest);
    }
    if (srcInfo.isDirectory() && destInfo?.isDirectory() === true) {
      await mergeDir(staging, rel, childDest, state);
      if (!implicit) {
        await chmod(dest, srcInfo.mode & 0o7777);
        await lchown(dest, srcInfo.uid, srcInfo.gid);
        await utimes(dest, srcInfo.atime, srcInfo.mtime);
      }
      continue;
    }
    if (destInfo !== undefined) await rm(dest, { recursive: true, force: true });
    await rename(src, dest);
  }
}

/** Where an implied folder goes when the image has a symlink there that resolves to a folder inside the image. */
async function followImageLink(destRel: string, state: MergeState): Promise<string | undefined> {
  const host = await lookupInLayers(state.lowerDirs, destRel);
  if (host === undefined || !(await lstat(host)).isSymbolicLink()) return undefined;
  const resolved = (await resolveInImage(state.lowerDirs, `/${destRel}`)).replace(/^\/+/, '');
  if (resolved === '' || !(await imageHasFolder(resolved, state))) return undefined;
  await ensureParents(state.upper, state.lowerDirs, `/${resolved}`, undefined, state.epoch);
  return resolved;
}

async function imageHasFolder(rel: string, state: MergeState): Promise<boolean> {
  const host = await lookupInLayers(state.lowerDirs, rel);
  return host !== undefined && (await lstat(host)).isDirectory();
}
