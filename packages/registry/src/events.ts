// What the client reports while it works: plain JSON objects (no Error, no
// Buffer) so a renderer can write them as NDJSON. A closed union on `type`.

/** Bytes of one blob transferred so far (upload or download). */
export interface BlobProgressEvent {
  readonly type: 'blob-progress';
  readonly direction: 'upload' | 'download';
  readonly digest: string;
  readonly complete: number;
  readonly total: number;
}

/** A blob push finished: how it got there. */
export interface BlobPushedEvent {
  readonly type: 'blob-pushed';
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly size: number;
  /** `exists`: HEAD found it; `mounted`: cross-repository mount; `uploaded`: bytes were sent. */
  readonly outcome: 'exists' | 'mounted' | 'uploaded';
  /** The repository it was mounted from. */
  readonly from?: string;
}

/** A blob download finished and its digest was verified. */
export interface BlobDownloadedEvent {
  readonly type: 'blob-downloaded';
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly size: number;
}

/** A blob a pull needs that the local store already holds: not downloaded. */
export interface BlobPresentEvent {
  readonly type: 'blob-present';
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  readonly size: number;
}

export interface ManifestPushedEvent {
  readonly type: 'manifest-pushed';
  readonly registry: string;
  readonly repository: string;
  readonly reference: string;
  readonly digest: string;
  readonly size: number;
}

/** A request failed in a way worth retrying; the next attempt starts after `delayMs`. */
export interface RequestRetryEvent {
  readonly type: 'request-retry';
  readonly method: string;
  readonly url: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

/** A bearer token was fetched from the registry's token service. */
export interface TokenFetchedEvent {
  readonly type: 'token-fetched';
  readonly registry: string;
  readonly scopes: readonly string[];
  readonly anonymous: boolean;
}

export type RegistryEvent =
  | BlobProgressEvent
  | BlobPushedEvent
  | BlobDownloadedEvent
  | BlobPresentEvent
  | ManifestPushedEvent
  | RequestRetryEvent
  | TokenFetchedEvent;

export type RegistryEventSink = (event: RegistryEvent) => void;

export const discardEvents: RegistryEventSink = () => undefined;
