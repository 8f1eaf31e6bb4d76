import type { BlobSource } from './content-store.js';

/** Iterates the chunks of any blob source. */
export async function* chunksOf(source: BlobSource): AsyncGenerator<Uint8Array> {
  if (typeof source === 'string') {
    yield Buffer.from(source, 'utf8');
  } else if (source instanceof Uint8Array) {
    yield source;
  } else {
    for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
      yield typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    }
  }
}

/** Stops reading a stream source that turned out not to be needed. */
export function discardSource(source: BlobSource): void {
  const stream = source as { destroy?: () => void };
  if (typeof stream.destroy === 'function') stream.destroy();
}

export function isBufferSource(source: BlobSource): source is Uint8Array | string {
  return typeof source === 'string' || source instanceof Uint8Array;
}
