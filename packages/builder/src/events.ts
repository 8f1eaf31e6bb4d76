import type { SourceLocation } from '@strata/parser';
import type { CacheExportResult } from './cache-transfer/export.js';

/** The instruction a step event is about. */
export interface StepInstruction {
  /** The instruction as written (continuation lines joined). */
  readonly text: string;
  readonly location: SourceLocation;
  /**
   * True for an ONBUILD trigger of the stage's base image: it runs right after
   * FROM, `text` is the trigger and `location` the FROM that brought it.
   */
  readonly onbuild?: boolean;
}

/**
 * ADD of a URL without --checksum whose last download the step's record
 * describes: the conditional request strata sent (If-None-Match with the
 * ETag, else If-Modified-Since with the Last-Modified) and what it found:
 * `not-modified` (304, or the same ETag: the digest it had keys the step,
 * nothing is downloaded for the key) or `modified` (downloaded again).
 */
export interface UrlRevalidation {
  readonly url: string;
  readonly result: 'not-modified' | 'modified';
  readonly by: 'etag' | 'last-modified';
}

interface StepEventBase {
  /** `<stage index>/<step index>`, unique within one build. */
  readonly stepId: string;
  /** The stage's name, or its index as a string when it has none. */
  readonly stage: string;
  /**
   * 1-based position in the stage and the stage's step count (FROM counts,
   * and so do the base's ONBUILD triggers; for a base that must be pulled
   * first they are counted from FROM's step-completed on).
   */
  readonly index: number;
  readonly total: number;
  readonly instruction: StepInstruction;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
}

/**
 * Everything a build reports, as plain JSON (no Error or Buffer objects), so
 * that the json renderer writes each event as one NDJSON line as is.
 */
export type BuildEvent =
  | {
      readonly type: 'build-started';
      readonly timestamp: number;
      readonly stages: number;
      readonly target: string;
      readonly platform: string;
      /** Rootless strata (a user namespace): what mounts its overlays. */
      readonly rootless?: { readonly overlay: 'overlayfs' | 'fuse-overlayfs' };
    }
  | (StepEventBase & { readonly type: 'step-started'; readonly cacheKey?: string })
  | (StepEventBase & { readonly type: 'step-cached'; readonly cacheKey: string; readonly reason?: string; readonly revalidated?: readonly UrlRevalidation[] })
  | (StepEventBase & { readonly type: 'step-log'; readonly stream: 'stdout' | 'stderr'; readonly text: string })
  | (StepEventBase & {
      readonly type: 'step-completed';
      readonly cacheKey?: string;
      readonly durationMs: number;
      readonly reason?: string;
      readonly layer?: { readonly digest: string; readonly size: number };
      /** An incremental COPY: made from its last result, with this many source entries changed, added or removed. */
      readonly incremental?: { readonly changed: number };
      /** ADD of URLs: the conditional requests made and what they found (see UrlRevalidation). */
      readonly revalidated?: readonly UrlRevalidation[];
      /** A RUN that ran: its container's network (`host` only when asked for). */
      readonly network?: { readonly mode: 'default' | 'host' | 'none'; readonly description: string };
    })
  | (StepEventBase & { readonly type: 'step-failed'; readonly code: string; readonly message: string; readonly durationMs: number })
  | { readonly type: 'warning'; readonly timestamp: number; readonly code: string; readonly message: string; readonly location?: SourceLocation }
  /** An output (`--output`, `--push`) begins: `type=oci,dest=FILE`, `type=registry`. */
  | { readonly type: 'export-started'; readonly timestamp: number; readonly output: string }
  /** What it wrote: the archive file, or each reference pushed, with the digest of the manifest or index. */
  | { readonly type: 'export-completed'; readonly timestamp: number; readonly output: string; readonly targets: readonly { readonly target: string; readonly digest: string }[]; readonly durationMs: number }
  | { readonly type: 'cache-mount-restored'; readonly timestamp: number; readonly id: string; readonly source: string; readonly size: number }
  | { readonly type: 'cache-imported'; readonly timestamp: number; readonly source: string; readonly records: number; readonly mounts: number }
  /** One `--cache-to` export: what it sent (`CacheExportResult`) and how long it took. */
  | ({ readonly type: 'cache-exported'; readonly timestamp: number; readonly durationMs: number } & CacheExportResult)
  | { readonly type: 'build-completed'; readonly timestamp: number; readonly imageId: string; readonly manifestDigest: string; readonly tags: readonly string[]; readonly durationMs: number };

export type BuildEventType = BuildEvent['type'];

/** The default event sink: discards everything. */
export const discardEvents = (_event: BuildEvent): void => undefined;
