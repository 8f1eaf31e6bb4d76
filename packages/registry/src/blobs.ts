// Blob transfers: HEAD, GET with the digest verified while streaming, and
// push (HEAD check, cross-repository mount with fallback, monolithic or
// chunked upload), each retried as a whole on failures worth retrying.
import { createHash, type Hash } from 'node:crypto';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { digestAlgorithm, isCacheError, type Descriptor, type Digest } from '@strata/cache';
import type { RegistryClient, RepositoryRef } from './client.js';
import { isRegistryError, registryError, RegistryErrors } from './errors.js';
import { isRetryableNetworkError, networkError, type HttpResponse } from './transport.js';

/** Content to push: opened again from the start for each attempt. */
export interface BlobSource {
  readonly digest: Digest;
  readonly size: number;
  open(): Buffer | Readable | AsyncIterable<Uint8Array>;
}

export interface PushBlobOptions {
  /** Repositories on the same registry believed to hold the blob, tried for a mount in order. */
  readonly mountFrom?: readonly string[];
}

export interface PushBlobResult {
  readonly digest: Digest;
  readonly outcome: 'exists' | 'mounted' | 'uploaded';
  readonly from?: string;
}

/** A BlobSource over bytes in memory. */
export function bufferSource(data: Buffer, digest: Digest): BlobSource {
  return { digest, size: data.length, open: () => data };
}

const PROGRESS_STEP = 1 << 20;
const BUFFER_SLICE = 1 << 20;

const pullScope = (repository: string): string => `repository:${repository}:pull`;
const pushScope = (repository: string): string => `repository:${repository}:pull,push`;

function blobPath(repo: RepositoryRef, digest: string): string {
  return `/v2/${repo.repository}/blobs/${digest}`;
}

function isRetryable(error: unknown): boolean {
  if (isRegistryError(error)) return error.retryable;
  return isRetryableNetworkError(error);
}

/** HEAD a blob: its size when the repository has it, undefined when not. */
export async function headBlob(client: RegistryClient, repo: RepositoryRef, digest: Digest): Promise<{ size: number } | undefined> {
  const path = blobPath(repo, digest);
  const response = await client.request(repo.registry, { method: 'HEAD', path, scopes: [pullScope(repo.repository)] });
  await response.arrayBuffer().catch(() => undefined);
  if (response.status === 404) return undefined;
  if (!response.ok) throw await client.failure(repo.registry, response, 'HEAD', client.url(repo.registry, path), digest);
  return { size: Number(response.headers.get('content-length') ?? 0) };
}

/** Passes bytes through, hashing and counting; fails at the end (or early, on excess bytes) when they do not match. */
class DigestVerifier extends Transform {
  private readonly hash: Hash | undefined;
  private bytes = 0;
  private reported = 0;

  constructor(
    private readonly descriptor: { digest: Digest; size: number },
    private readonly what: string,
    private readonly progress: (complete: number) => void,
    verify: boolean,
  ) {
    super();
    this.hash = verify ? createHash(digestAlgorithm(descriptor.digest)) : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.descriptor.size) {
      callback(registryError(RegistryErrors.sizeMismatch, [this.what, this.descriptor.size, this.bytes], { retryable: true }));
      return;
    }
    this.hash?.update(chunk);
    if (this.bytes - this.reported >= PROGRESS_STEP) {
      this.reported = this.bytes;
      this.progress(this.bytes);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.descriptor.size) {
      callback(registryError(RegistryErrors.sizeMismatch, [this.what, this.descriptor.size, this.bytes], { retryable: true }));
      return;
    }
    const found = this.hash === undefined ? this.descriptor.digest : `${digestAlgorithm(this.descriptor.digest)}:${this.hash.digest('hex')}`;
    if (found !== this.descriptor.digest) {
      callback(registryError(RegistryErrors.digestMismatch, [this.what, this.descriptor.digest, found], { retryable: true }));
      return;
    }
    this.progress(this.bytes);
    callback();
  }
}

/**
 * The download stream itself for a consumer that checks size and digest (a
 * store write with the expected descriptor): counted as it is read (progress;
 * a byte past the size fails it at once), and left paused until the consumer
 * reads it. No stream in between: passing every chunk through a Transform was
 * ~5 % of a pull's CPU.
 */
function countedDownload(source: Readable, descriptor: { size: number }, what: string, progress: (complete: number) => void): Readable {
  let bytes = 0;
  let reported = 0;
  source.pause();
  source.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > descriptor.size) {
      source.destroy(registryError(RegistryErrors.sizeMismatch, [what, descriptor.size, bytes], { retryable: true }));
      return;
    }
    if (bytes - reported >= PROGRESS_STEP) {
      reported = bytes;
      progress(bytes);
    }
  });
  source.once('end', () => {
    if (bytes === descriptor.size) progress(bytes);
  });
  return source;
}

/**
 * GET a blob as a stream that verifies size and digest as it goes: the stream
 * errors with REGISTRY_DIGEST_MISMATCH or REGISTRY_SIZE_MISMATCH at the end
 * when the bytes are wrong, so a consumer must commit nothing until it ends
 * cleanly. One attempt (see downloadBlob for retries).
 */
export interface OpenBlobOptions {
  /**
   * False for a consumer that checks the bytes itself (a store write with the
   * expected digest and size): saves a second hash. The stream is then the
   * response's own, paused until read; bytes past the size still fail it,
   * and a socket failure is the raw error (downloadBlob types it), but a
   * short body ends it: the consumer must refuse a wrong size.
   */
  readonly verify?: boolean;
}

export async function openBlob(
  client: RegistryClient,
  repo: RepositoryRef,
  descriptor: Pick<Descriptor, 'digest' | 'size'>,
  options: OpenBlobOptions = {},
): Promise<Readable> {
  const path = blobPath(repo, descriptor.digest);
  const url = client.url(repo.registry, path);
  const response: HttpResponse = await client.request(repo.registry, { method: 'GET', path, scopes: [pullScope(repo.repository)], download: true });
  if (!response.ok) throw await client.failure(repo.registry, response, 'GET', url, descriptor.digest);
  const what = `blob ${descriptor.digest} from ${repo.registry}/${repo.repository}`;
  const progress = (complete: number): void => {
    client.onEvent({ type: 'blob-progress', direction: 'download', digest: descriptor.digest, complete, total: descriptor.size });
  };
  const verifier = new DigestVerifier(descriptor, what, progress, options.verify !== false);
  if (response.stream === undefined && response.body === null) {
    verifier.end();
    return verifier;
  }
  // node:http's stream when the transport used it (markedly cheaper per byte than fetch's web stream)
  const source = response.stream ?? Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
  if (options.verify === false) return countedDownload(source, descriptor, what, progress);
  // a socket failure becomes a typed (retryable) error on the stream the consumer reads
  source.on('error', (error) => verifier.destroy(networkError(url, error)));
  // pipeline (unlike pipe) keeps an error listener on both streams and destroys
  // both on failure; the consumer sees the failure on `verifier`
  pipeline(source, verifier, () => undefined);
  return verifier;
}

/**
 * Downloads a blob through `consume`, which receives a verifying stream and
 * must fail when the stream fails (stream.pipeline does). Connection resets,
 * server errors and digest mismatches are retried from the start with
 * backoff; `consume` is called again each time, so it must start afresh (an
 * atomic store write does). Resolves what `consume` resolves.
 */
export async function downloadBlob<T>(
  client: RegistryClient,
  repo: RepositoryRef,
  descriptor: Pick<Descriptor, 'digest' | 'size'>,
  consume: (stream: Readable) => Promise<T>,
  options: OpenBlobOptions = {},
): Promise<T> {
  const url = client.url(repo.registry, blobPath(repo, descriptor.digest));
  for (let attempt = 1; ; attempt++) {
    try {
      const stream = await openBlob(client, repo, descriptor, options);
      let streamError: unknown;
      stream.once('error', (error) => {
        streamError = error;
      });
      const result = await consume(stream);
      // a consumer that swallowed the stream's failure must not turn it into success
      if (streamError !== undefined) throw streamError;
      client.onEvent({ type: 'blob-downloaded', registry: repo.registry, repository: repo.repository, digest: descriptor.digest, size: descriptor.size });
      return result;
    } catch (caught) {
      // a socket failure on an unverified stream (see OpenBlobOptions.verify) reaches the consumer untyped
      const error = !isRegistryError(caught) && !isCacheError(caught) && isRetryableNetworkError(caught) ? networkError(url, caught) : caught;
      if (attempt < client.transport.attempts && isRetryable(error)) {
        await client.transport.sleepBeforeRetry('GET', url, attempt, (error as Error).message);
        continue;
      }
      throw error;
    }
  }
}

/** Downloads a (small) blob into memory, verified and retried. */
export async function fetchBlob(client: RegistryClient, repo: RepositoryRef, descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Buffer> {
  return downloadBlob(client, repo, descriptor, async (stream) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  });
}

/** The source's bytes as an async iterable of chunks, reporting progress. */
async function* counted(client: RegistryClient, source: BlobSource): AsyncGenerator<Uint8Array> {
  const opened = source.open();
  let complete = 0;
  let reported = 0;
  const report = (): void => {
    reported = complete;
    client.onEvent({ type: 'blob-progress', direction: 'upload', digest: source.digest, complete, total: source.size });
  };
  const chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = Buffer.isBuffer(opened)
    ? (function* slices() {
        for (let offset = 0; offset < opened.length; offset += BUFFER_SLICE) yield opened.subarray(offset, offset + BUFFER_SLICE);
      })()
    : opened;
  for await (const chunk of chunks) {
    complete += chunk.length;
    yield chunk;
    if (complete - reported >= PROGRESS_STEP) report();
  }
  if (complete !== source.size) {
    throw registryError(RegistryErrors.sizeMismatch, [`blob ${source.digest} to push`, source.size, complete]);
  }
  if (reported !== complete || complete === 0) report();
}

/** Groups a stream into buffers of `size` bytes (the last one shorter). */
async function* rechunk(input: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of input) {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (pendingBytes + buf.length >= size) {
      const take = size - pendingBytes;
      pending.push(buf.subarray(0, take));
      yield Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      buf = buf.subarray(take);
    }
    if (buf.length > 0) {
      pending.push(Buffer.from(buf));
      pendingBytes += buf.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

function locationOf(client: RegistryClient, repo: RepositoryRef, response: HttpResponse, requestUrl: string): string {
  const location = response.headers.get('location');
  if (location === null) {
    throw registryError(RegistryErrors.http, ['POST', requestUrl, response.status, 'the registry sent no upload Location'], { retryable: true });
  }
  return new URL(location, client.url(repo.registry, '/')).toString();
}

async function startUpload(client: RegistryClient, repo: RepositoryRef, mount?: { digest: Digest; from: string }): Promise<{ response: HttpResponse; url: string }> {
  const query = mount === undefined ? '' : `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}`;
  const path = `/v2/${repo.repository}/blobs/uploads/${query}`;
  const response = await client.request(repo.registry, {
    method: 'POST',
    path,
    headers: { 'content-length': '0' },
    scopes: mount === undefined ? [pushScope(repo.repository)] : [pushScope(repo.repository), pullScope(mount.from)],
  });
  return { response, url: client.url(repo.registry, path) };
}

async function uploadTo(client: RegistryClient, repo: RepositoryRef, source: BlobSource, location: string): Promise<void> {
  const scopes = [pushScope(repo.repository)];
  const finish = (url: string): string => {
    const u = new URL(url);
    u.searchParams.set('digest', source.digest);
    return u.toString();
  };
  let url = location;
  const chunkSize = client.chunkSize;
  if (chunkSize !== undefined && chunkSize > 0 && source.size > chunkSize) {
    let offset = 0;
    for await (const chunk of rechunk(counted(client, source), chunkSize)) {
      const response = await client.request(repo.registry, {
        method: 'PATCH',
        path: url,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(chunk.length),
          'content-range': `${offset}-${offset + chunk.length - 1}`,
        },
        body: () => chunk,
        scopes,
        retry: false,
        upload: true,
      });
      if (response.status !== 202) throw await client.failure(repo.registry, response, 'PATCH', url, source.digest);
      await response.arrayBuffer().catch(() => undefined);
      url = locationOf(client, repo, response, url);
      offset += chunk.length;
    }
    const response = await client.request(repo.registry, {
      method: 'PUT', path: finish(url), headers: { 'content-length': '0' }, scopes, retry: false,
    });
    if (response.status !== 201) throw await client.failure(repo.registry, response, 'PUT', url, source.digest);
    await response.arrayBuffer().catch(() => undefined);
    return;
  }
  const response = await client.request(repo.registry, {
    method: 'PUT',
    path: finish(url),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(source.size) },
    body: () => counted(client, source),
    scopes,
    retry: false,
    upload: true,
  });
  if (response.status !== 201) throw await client.failure(repo.registry, response, 'PUT', url, source.digest);
  await response.arrayBuffer().catch(() => undefined);
}

async function pushOnce(client: RegistryClient, repo: RepositoryRef, source: BlobSource, options: PushBlobOptions): Promise<PushBlobResult> {
  if ((await headBlob(client, repo, source.digest)) !== undefined) {
    return { digest: source.digest, outcome: 'exists' };
  }
  let location: string | undefined;
  for (const from of options.mountFrom ?? []) {
    if (from === repo.repository) continue;
    const { response, url } = await startUpload(client, repo, { digest: source.digest, from });
    if (response.status === 201) {
      await response.arrayBuffer().catch(() => undefined);
      return { digest: source.digest, outcome: 'mounted', from };
    }
    if (response.status !== 202) throw await client.failure(repo.registry, response, 'POST', url, source.digest);
    // 202: the registry could not mount and opened an upload instead: use it
    await response.arrayBuffer().catch(() => undefined);
    location = locationOf(client, repo, response, url);
    break;
  }
  if (location === undefined) {
    const { response, url } = await startUpload(client, repo);
    if (response.status !== 202) throw await client.failure(repo.registry, response, 'POST', url, source.digest);
    await response.arrayBuffer().catch(() => undefined);
    location = locationOf(client, repo, response, url);
  }
  await uploadTo(client, repo, source, location);
  return { digest: source.digest, outcome: 'uploaded' };
}

/**
 * Pushes one blob unless the repository has it: HEAD, then a mount from
 * `mountFrom`, then an upload (chunked when the client has a chunkSize).
 * A failed attempt worth retrying starts over from the HEAD.
 */
export async function pushBlob(client: RegistryClient, repo: RepositoryRef, source: BlobSource, options: PushBlobOptions = {}): Promise<PushBlobResult> {
  const url = client.url(repo.registry, blobPath(repo, source.digest));
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await pushOnce(client, repo, source, options);
      client.onEvent({
        type: 'blob-pushed', registry: repo.registry, repository: repo.repository, digest: source.digest, size: source.size,
        outcome: result.outcome, ...(result.from !== undefined ? { from: result.from } : {}),
      });
      return result;
    } catch (error) {
      if (attempt < client.transport.attempts && isRetryable(error)) {
        await client.transport.sleepBeforeRetry('PUT', url, attempt, (error as Error).message);
        continue;
      }
      throw error;
    }
  }
}

/** Pushes blobs with the client's bounded parallelism; results in input order. */
export function pushBlobs(
  client: RegistryClient,
  repo: RepositoryRef,
  sources: readonly BlobSource[],
  options: PushBlobOptions | ((source: BlobSource) => PushBlobOptions) = {},
): Promise<PushBlobResult[]> {
  return Promise.all(
    sources.map((source) => client.limit(() => pushBlob(client, repo, source, typeof options === 'function' ? options(source) : options))),
  );
}
