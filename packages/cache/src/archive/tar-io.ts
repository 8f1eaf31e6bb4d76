// Small helpers over tar-stream shared by export and import.
import { once } from 'node:events';
import type { Pack } from 'tar-stream';

/** Fixed entry times: an archive of the same images is byte-for-byte the same. */
export const ARCHIVE_MTIME = new Date(0);

/** Adds a file to a tar pack; a streamed body must produce exactly `size` bytes. */
export async function addEntry(pack: Pack, name: string, body: Uint8Array | { size: number; chunks: () => Promise<AsyncIterable<Uint8Array>> }): Promise<void> {
  if (body instanceof Uint8Array) {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ name, size: body.length, mode: 0o644, mtime: ARCHIVE_MTIME }, Buffer.from(body), (error) => (error ? reject(error) : resolve()));
    });
    return;
  }
  const chunks = await body.chunks();
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry({ name, size: body.size, mode: 0o644, mtime: ARCHIVE_MTIME }, (error) => (error ? reject(error) : resolve()));
    void (async () => {
      for await (const chunk of chunks) {
        if (!sink.write(chunk)) await once(sink as unknown as NodeJS.EventEmitter, 'drain');
      }
      sink.end(null);
    })().catch((error: unknown) => {
      sink.destroy(error as Error);
      reject(error as Error);
    });
  });
}

/** Reads a whole stream of chunks into one buffer. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** gzip's magic bytes. */
export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** zstd's magic bytes. */
export function isZstd(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd;
}

/** True when the first 512 bytes are a tar header with a correct checksum. */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512) return false;
  const field = Buffer.from(block.subarray(148, 156)).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i += 1) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === parseInt(field, 8);
}
