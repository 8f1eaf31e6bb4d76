// HTTP below the registry protocol: scheme choice (plain HTTP only for
// loopback and registries the caller names insecure), retries with
// exponential backoff on 5xx, 429 and connection failures, and the mapping of
// low-level failures to typed errors.
import type { IncomingMessage } from 'node:http';
import { pipeline, Readable } from 'node:stream';
import { registryError, RegistryErrors } from './errors.js';
import type { RegistryEventSink } from './events.js';
import { registryEndpoint } from './reference.js';

export type FetchFunction = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface RetryOptions {
  /** Retries after the first attempt; default 4. */
  readonly retries?: number;
  /** First backoff delay in ms, doubled each time (with jitter); default 200. */
  readonly baseDelayMs?: number;
  /** Largest delay in ms, also the cap for Retry-After; default 5000. */
  readonly maxDelayMs?: number;
}

export interface TransportOptions extends RetryOptions {
  /**
   * How long to wait for a response's headers (and, for uploads, for any
   * socket activity) before the attempt fails as ETIMEDOUT and is retried;
   * default 300000 (undici's own header and body timeouts are 300 s too).
   */
  readonly idleTimeoutMs?: number;
  readonly fetch?: FetchFunction;
  /** Hosts (host or host:port, or IPv4 CIDR) reached over plain HTTP besides loopback. */
  readonly insecureRegistries?: readonly string[];
  readonly userAgent?: string;
  readonly onEvent: RegistryEventSink;
}

export interface SendRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Record<string, string>;
  /** Called for each attempt, so a retry sends the body again from the start. */
  readonly body?: () => RequestInit['body'] | AsyncIterable<Uint8Array>;
  /** False for requests that must not be repeated blindly (upload PATCH/PUT). */
  readonly retry?: boolean;
  /** A large upload (kept for callers; every body is streamed with backpressure). */
  readonly upload?: boolean;
  /**
   * A large download (a blob GET): a 2xx answer's body is left streaming in
   * `HttpResponse.stream` (through an injected fetch: `body`); others are buffered.
   */
  readonly download?: boolean;
}

const RETRY_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** OpenSSL/Node certificate failures (not worth a retry). */
const TLS_CODE_RE = /^(ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|ERR_SSL_)/;

/** The innermost `code` in an error's cause chain (fetch wraps socket errors in TypeError). */
export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  let code: string | undefined;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    const c = (current as { code?: unknown }).code;
    if (typeof c === 'string') code = c;
    current = (current as { cause?: unknown }).cause;
  }
  return code;
}

function describe(error: unknown): string {
  const code = errorCode(error);
  let current: unknown = error;
  let message = '';
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    message = current.message;
    current = current.cause;
  }
  return code !== undefined && !message.includes(code) ? `${message} (${code})` : message;
}

/** True for failures worth another attempt: resets, refused connections, timeouts. */
export function isRetryableNetworkError(error: unknown): boolean {
  const code = errorCode(error);
  if (code !== undefined) return RETRY_CODES.has(code) || /^UND_ERR_/.test(code);
  const message = error instanceof Error ? `${error.message} ${describe(error)}` : '';
  return /other side closed|socket hang up|terminated|fetch failed/i.test(message);
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

/** Converts a failed fetch into a typed error. */
export function networkError(url: string, error: unknown): Error {
  const code = errorCode(error);
  if (code === 'ENOTFOUND') {
    return registryError(RegistryErrors.unknownHost, [new URL(url).hostname], { cause: error });
  }
  if (code !== undefined && (TLS_CODE_RE.test(code) || (code === 'EPROTO' && url.startsWith('https:')))) {
    return registryError(RegistryErrors.tls, [new URL(url).host, describe(error)], { cause: error });
  }
  return registryError(RegistryErrors.connection, [url, describe(error)], { cause: error, retryable: isRetryableNetworkError(error) });
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => (n << 8) + Number(part), 0) >>> 0;
}

/** A dotted-quad IPv4 address as node:net's isIPv4 accepts it (no leading zeros), without loading node:net. */
const IPV4_OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${IPV4_OCTET}(\\.${IPV4_OCTET}){3}$`);

function isIPv4(text: string): boolean {
  return IPV4.test(text);
}

function hostOnly(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon >= 0 ? host.slice(0, colon) : host;
}

/** Plain HTTP for localhost, 127.0.0.0/8, ::1 and the listed registries (exact host[:port] or IPv4 CIDR). */
export function isInsecureRegistry(registry: string, insecure: readonly string[] = []): boolean {
  const host = hostOnly(registry).toLowerCase();
  if (host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.'))) return true;
  for (const entry of insecure) {
    const e = entry.trim().toLowerCase().replace(/^[a-z]+:\/\//, '').replace(/\/$/, '');
    if (e === registry.toLowerCase() || e === host) return true;
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(e);
    if (cidr?.[1] !== undefined && cidr[2] !== undefined && isIPv4(host) && isIPv4(cidr[1])) {
      const bits = Number(cidr[2]);
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      if ((ipv4ToInt(host) & mask) === (ipv4ToInt(cidr[1]) & mask)) return true;
    }
  }
  return false;
}

/**
 * The insecure-registry list from an environment variable
 * (`STRATA_INSECURE_REGISTRIES`: comma or space separated), for CLIs.
 */
export function insecureRegistriesFromEnv(env: NodeJS.ProcessEnv = process.env, name = 'STRATA_INSECURE_REGISTRIES'): string[] {
  return (env[name] ?? '').split(/[\s,]+/).filter((entry) => entry !== '');
}

export class Transport {
  readonly fetch: FetchFunction;
  private readonly retries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly insecure: readonly string[];
  private readonly userAgent: string;
  private readonly onEvent: RegistryEventSink;

  private readonly customFetch: boolean;
  private readonly idleTimeoutMs: number;

  constructor(options: TransportOptions) {
    this.customFetch = options.fetch !== undefined;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
    this.fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.retries = options.retries ?? 4;
    this.baseDelayMs = options.baseDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 5000;
    this.insecure = options.insecureRegistries ?? [];
    this.userAgent = options.userAgent ?? 'strata';
    this.onEvent = options.onEvent;
  }

  /** `http(s)://endpoint` for a registry host. */
  baseUrl(registry: string): string {
    const scheme = isInsecureRegistry(registry, this.insecure) ? 'http' : 'https';
    return `${scheme}://${registryEndpoint(registry)}`;
  }

  /** How many attempts a retrying caller may make. */
  get attempts(): number {
    return this.retries + 1;
  }

  /** Exponential backoff with jitter for attempt n (1-based), or Retry-After when given. */
  backoff(attempt: number, retryAfter?: string | null): number {
    if (retryAfter) {
      const seconds = Number(retryAfter);
      const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
      if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, this.maxDelayMs);
    }
    const exp = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(exp / 2 + (Math.random() * exp) / 2);
  }

  async sleepBeforeRetry(method: string, url: string, attempt: number, reason: string, retryAfter?: string | null): Promise<void> {
    const delayMs = this.backoff(attempt, retryAfter);
    this.onEvent({ type: 'request-retry', method, url, attempt, delayMs, reason });
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }

  /**
   * Sends a request; retries connection failures and retryable statuses when
   * `retry` is not false. Resolves the last response (any status); rejects
   * with REGISTRY_CONNECTION_FAILED or REGISTRY_UNKNOWN_HOST.
   */
  async send(request: SendRequest): Promise<HttpResponse> {
    const attempts = request.retry === false ? 1 : this.attempts;
    for (let attempt = 1; ; attempt++) {
      const body = request.body?.();
      const headers = { 'user-agent': this.userAgent, ...request.headers };
      let response: HttpResponse;
      try {
        response = this.customFetch
          ? await this.sendFetch(request, headers, body)
          : await sendNode(request.url, request.method, headers, body, { download: request.download === true, idleTimeoutMs: this.idleTimeoutMs });
      } catch (error) {
        if (attempt < attempts && isRetryableNetworkError(error)) {
          await this.sleepBeforeRetry(request.method, request.url, attempt, describe(error));
          continue;
        }
        throw networkError(request.url, error);
      }
      if (attempt < attempts && isRetryableStatus(response.status)) {
        await response.arrayBuffer().catch(() => undefined);
        await this.sleepBeforeRetry(request.method, request.url, attempt, `HTTP ${response.status}`, response.headers.get('retry-after'));
        continue;
      }
      return response;
    }
  }

  /** One attempt through the fetch the caller injected (tests script registries this way). */
  private async sendFetch(request: SendRequest, headers: Record<string, string>, body: RequestBody | undefined): Promise<HttpResponse> {
    const init: RequestInit & { duplex?: 'half' } = { method: request.method, headers, redirect: 'follow' };
    if (body !== undefined) {
      init.body = body as RequestInit['body'];
      if (typeof body === 'object' && body !== null && Symbol.asyncIterator in body) init.duplex = 'half';
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(timeoutError(request.url, this.idleTimeoutMs)), this.idleTimeoutMs);
    try {
      return await this.fetch(request.url, { ...init, signal: abort.signal });
    } finally {
      clearTimeout(timer);
    }
  }
}

type RequestBody = ReturnType<NonNullable<SendRequest['body']>>;

/**
 * What the client reads of an HTTP answer: the part of fetch's Response it
 * uses, so an injected fetch's Response fits, and so does NodeResponse.
 */
export interface HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  /** fetch's body stream (null from node:http, whose 2xx download body is `stream`). */
  readonly body: ReadableStream<Uint8Array> | null;
  /** A download's body as a Node stream (see SendRequest.download). */
  readonly stream?: Readable;
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/** An answer from node:http: headers, and the body buffered (or, for a download, left streaming). */
class NodeResponse implements HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly body = null;
  readonly headers: { get(name: string): string | null };

  constructor(res: IncomingMessage, private readonly data: Buffer, readonly stream?: Readable) {
    this.status = res.statusCode ?? 502;
    this.ok = this.status >= 200 && this.status < 300;
    const raw = res.headers;
    this.headers = {
      get: (name: string) => {
        const value = raw[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    };
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.stream !== undefined) {
      // an unread download body: drain it so the connection can be reused
      this.stream.resume();
      return new ArrayBuffer(0);
    }
    return this.data.buffer.slice(this.data.byteOffset, this.data.byteOffset + this.data.byteLength) as ArrayBuffer;
  }

  async text(): Promise<string> {
    return this.data.toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.data.toString('utf8')) as unknown;
  }
}

/** The error of an attempt that saw no activity for `ms` (code ETIMEDOUT: retried). */
function timeoutError(url: string, ms: number): Error {
  return Object.assign(new Error(`no answer from ${new URL(url).host} within ${ms} ms`), { code: 'ETIMEDOUT' });
}

const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * One request through node:http(s) (fetch is not used: loading it costs a
 * CLI about 0.3 s, and its web-stream bodies several times the CPU per byte).
 * TLS is verified as everywhere; the global agents keep connections alive.
 * Redirects of GET and HEAD are followed as fetch does, without the
 * Authorization header to another origin (blobs are often served from a
 * CDN). Bodies: bytes, or a stream sent with backpressure (uploads). The
 * answer is buffered, except a download's 2xx body, left streaming in
 * `stream` while the idle timeout keeps watching the socket.
 */
async function sendNode(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: RequestBody | undefined,
  options: { download: boolean; idleTimeoutMs: number },
): Promise<HttpResponse> {
  let target = new URL(url);
  let sendHeaders = headers;
  for (let hop = 0; ; hop++) {
    // loaded on the first request: node:https and its TLS stack cost ~12 ms, and a cached build sends none
    const { request: send } = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(target, { method, headers: sendHeaders }, resolve);
      req.on('error', reject);
      req.setTimeout(options.idleTimeoutMs, () => req.destroy(timeoutError(target.toString(), options.idleTimeoutMs)));
      if (body === undefined || body === null) {
        req.end();
      } else if (typeof body === 'string' || body instanceof Uint8Array) {
        req.end(body);
      } else if (typeof body === 'object' && Symbol.asyncIterator in body) {
        // pipeline destroys the source when the request fails, and the request when the source does
        pipeline(Readable.from(body as AsyncIterable<Uint8Array>, { objectMode: false }), req, (error) => {
          if (error) req.destroy(error);
        });
      } else {
        req.end(String(body));
      }
    });
    const status = res.statusCode ?? 502;
    const location = res.headers.location;
    if (REDIRECTS.has(status) && location !== undefined && hop < MAX_REDIRECTS && (method === 'GET' || method === 'HEAD')) {
      res.resume();
      const next = new URL(location, target);
      if (next.origin !== target.origin) {
        sendHeaders = Object.fromEntries(Object.entries(sendHeaders).filter(([name]) => name.toLowerCase() !== 'authorization'));
      }
      target = next;
      continue;
    }
    if (options.download && status >= 200 && status < 300 && method !== 'HEAD') return new NodeResponse(res, Buffer.alloc(0), res);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return new NodeResponse(res, Buffer.concat(chunks));
  }
}

/** The `errors[].code` values and first message of a registry error body. */
export async function readErrorBody(response: HttpResponse): Promise<{ codes: string[]; detail: string }> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    return { codes: [], detail: '' };
  }
  try {
    const json = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const errors = Array.isArray(json.errors) ? json.errors : [];
    const codes = errors.map((e) => String(e.code ?? '')).filter((c) => c !== '');
    const detail = errors.map((e) => `${String(e.code ?? '')}${e.message ? `: ${String(e.message)}` : ''}`).join('; ');
    return { codes, detail };
  } catch {
    return { codes: [], detail: text.slice(0, 200).trim() };
  }
}
