import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { buildError, BuildErrors } from '../errors.js';

/** ADD sources that name a git repository (BuildKit's rules); strata does not clone them yet. */
export function isGitSource(source: string): boolean {
  if (/^git@[^:]+:/.test(source) || /^git:\/\//i.test(source)) return true;
  if (!/^https?:\/\//i.test(source)) return false;
  try {
    const url = new URL(source);
    return url.pathname.endsWith('.git');
  } catch {
    return false;
  }
}

/** ADD sources fetched over HTTP(S). */
export function isHttpSource(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** Any other `scheme://` source (ftp://, s3://…): neither a context path nor something strata can fetch. */
export function isOtherUrl(source: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !isHttpSource(source);
}

/** The name a downloaded file gets in a destination folder: the URL path's last segment (BuildKit). */
export function urlFileName(source: string): string {
  const pathname = new URL(source).pathname;
  let base: string;
  try {
    base = posix.basename(decodeURIComponent(pathname));
  } catch {
    base = posix.basename(pathname);
  }
  return base === '' || base === '/' || base === '.' || base === '..' ? '__unnamed__' : base;
}

const ALGORITHMS: Record<string, { node: string; hexLength: number }> = {
  sha256: { node: 'sha256', hexLength: 64 },
  sha384: { node: 'sha384', hexLength: 96 },
  sha512: { node: 'sha512', hexLength: 128 },
};

/** A parsed --checksum: `sha256:<hex>` (also sha384, sha512), normalized to lower case. */
export interface Checksum {
  readonly algorithm: string;
  readonly text: string;
}

export function parseChecksum(text: string): Checksum {
  const match = /^([a-z0-9]+):([0-9a-fA-F]+)$/.exec(text);
  const algorithm = match?.[1] ?? '';
  const spec = ALGORITHMS[algorithm];
  if (match === null || spec === undefined || (match[2] ?? '').length !== spec.hexLength) {
    throw buildError(BuildErrors.invalidInstruction, [
      `ADD --checksum=${text}: expected sha256:<64 hex digits> (or sha384/sha512 with their lengths)`,
    ]);
  }
  return { algorithm, text: `${algorithm}:${(match[2] ?? '').toLowerCase()}` };
}

export interface Downloaded {
  /** Where the body was written. */
  readonly path: string;
  /** sha256 of the body (`sha256:<hex>`), for the cache key. */
  readonly digest: string;
  /** From Last-Modified, when the server sent one (ms since the epoch). */
  readonly mtimeMs?: number;
}

export interface DownloadOptions {
  /** The file to write (its folder exists). */
  readonly path: string;
  /** --checksum: the body must have this digest. */
  readonly checksum?: Checksum;
  readonly signal?: AbortSignal;
}

/**
 * Downloads an ADD URL with Node's fetch into `path`, hashing as it writes.
 * A --checksum that does not match is BUILD_CHECKSUM_MISMATCH naming both
 * digests; the partial file is removed on any failure.
 */
export async function download(url: string, options: DownloadOptions): Promise<Downloaded> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow', ...(options.signal === undefined ? {} : { signal: options.signal }) });
  } catch (error) {
    throw buildError(BuildErrors.downloadFailed, [url, messageOf(error)], { cause: error });
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel().catch(() => undefined);
    throw buildError(BuildErrors.downloadFailed, [url, `the server answered ${response.status} ${response.statusText}`.trim()]);
  }
  const sha256 = createHash('sha256');
  const checked = options.checksum === undefined || options.checksum.algorithm === 'sha256' ? undefined : createHash(options.checksum.algorithm);
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sha256.update(chunk);
      checked?.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>), hasher, createWriteStream(options.path, { mode: 0o600 }));
  } catch (error) {
    await rm(options.path, { force: true });
    throw buildError(BuildErrors.downloadFailed, [url, messageOf(error)], { cause: error });
  }
  const digest = `sha256:${sha256.digest('hex')}`;
  if (options.checksum !== undefined) {
    const actual = checked === undefined ? digest : `${options.checksum.algorithm}:${checked.digest('hex')}`;
    if (actual !== options.checksum.text) {
      await rm(options.path, { force: true });
      throw buildError(BuildErrors.checksumMismatch, [url, options.checksum.text, actual], { details: { expected: options.checksum.text, actual } });
    }
  }
  const lastModified = response.headers.get('last-modified');
  const mtimeMs = lastModified === null ? Number.NaN : Date.parse(lastModified);
  return { path: options.path, digest, ...(Number.isNaN(mtimeMs) ? {} : { mtimeMs }) };
}

function messageOf(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string; code?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause === undefined ? (e.message ?? String(error)) : `${e.message ?? 'error'} (${cause})`;
}
