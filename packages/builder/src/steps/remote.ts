import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { buildError, BuildErrors } from '../errors.js';

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
  /** The validators the server sent (ETag, Last-Modified as written), kept with the step's record. */
  readonly etag?: string;
  readonly lastModified?: string;
}

export interface DownloadOptions {
  /** The file to write (its folder exists). */
  readonly path: string;
  /** --checksum: the body must have this digest. */
  readonly checksum?: Checksum;
  readonly signal?: AbortSignal;
}

/** What a conditional request found: unchanged (304, or the same ETag), or changed and downloaded. */
export type Revalidated =
  | { readonly result: 'not-modified'; readonly by: 'etag' | 'last-modified' }
  | { readonly result: 'modified'; readonly by: 'etag' | 'last-modified'; readonly downloaded: Downloaded };

/** What the last download of a URL was (RemoteSource of @strata/cache, without the URL). */
export interface Validators {
  readonly etag?: string;
  readonly lastModified?: string;
}

async function request(url: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Response> {
  try {
    return await fetch(url, { redirect: 'follow', headers, ...(signal === undefined ? {} : { signal }) });
  } catch (error) {
    throw buildError(BuildErrors.downloadFailed, [url, messageOf(error)], { cause: error });
  }
}

/** An ETag without its weak marker, for comparison (BuildKit compares them so too). */
const etagValue = (etag: string): string => etag.replace(/^W\//, '');

/**
 * Asks the server whether a URL changed since the download `known` describes:
 * If-None-Match with its ETag, else If-Modified-Since with its Last-Modified.
 * A 304, or a 200 carrying the same ETag (a server that ignores the
 * condition; the body is not read), is `not-modified`; otherwise the body is
 * downloaded into `options.path`.
 */
export async function revalidate(url: string, known: Validators, options: DownloadOptions): Promise<Revalidated> {
  const by = known.etag !== undefined ? 'etag' : 'last-modified';
  const headers: Record<string, string> =
    known.etag !== undefined ? { 'if-none-match': known.etag } : { 'if-modified-since': known.lastModified ?? '' };
  const response = await request(url, headers, options.signal);
  const etag = response.headers.get('etag');
  if (response.status === 304 || (response.ok && known.etag !== undefined && etag !== null && etagValue(etag) === etagValue(known.etag))) {
    await response.body?.cancel().catch(() => undefined);
    return { result: 'not-modified', by };
  }
  return { result: 'modified', by, downloaded: await saveBody(url, response, options) };
}

/**
 * Downloads an ADD URL with Node's fetch into `path`, hashing as it writes.
 * A --checksum that does not match is BUILD_CHECKSUM_MISMATCH naming both
 * digests; the partial file is removed on any failure.
 */
export async function download(url: string, options: DownloadOptions): Promise<Downloaded> {
  return saveBody(url, await request(url, {}, options.signal), options);
}

async function saveBody(url: string, response: Response, options: DownloadOptions): Promise<Downloaded> {
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
  const etag = response.headers.get('etag');
  const mtimeMs = lastModified === null ? Number.NaN : Date.parse(lastModified);
  return {
    path: options.path,
    digest,
    ...(Number.isNaN(mtimeMs) ? {} : { mtimeMs }),
    ...(etag === null ? {} : { etag }),
    ...(lastModified === null ? {} : { lastModified }),
  };
}

function messageOf(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string; code?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause === undefined ? (e.message ?? String(error)) : `${e.message ?? 'error'} (${cause})`;
}
