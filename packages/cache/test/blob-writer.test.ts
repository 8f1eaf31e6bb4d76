import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openBlobWriter } from '../src/content/blob-writer.js';
import { Store, type Digest } from '../src/index.js';
import { tempRoot } from './helpers.js';

const sha256 = (data: Uint8Array): Digest => `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;

/** `data` as a stream of chunks of the given sizes, in turn (odd sizes: slot boundaries fall inside chunks). */
function chunked(data: Buffer, sizes: readonly number[]): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    chunks.push(Buffer.from(data.subarray(offset, offset + n)));
    offset += n;
  }
  return Readable.from(chunks);
}

// Stream writes of 4 MiB or more with an expected size are hashed and written on a worker thread.
describe('large stream writes (worker thread)', () => {
  it('stores a large stream of odd-sized chunks under its digest, and only that', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const data = randomBytes(9 * 1024 * 1024 + 12345);
      const digest = sha256(data);
      const result = await store.putBlob(chunked(data, [3695, 65536, 61841, 1, 1 << 20, 40277]), { expected: { digest, size: data.length } });
      expect(result).toEqual({ digest, size: data.length, written: true });
      expect(readFileSync(join(dir, 'blobs', 'sha256', digest.slice(7))).equals(data)).toBe(true);
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('takes one chunk larger than all slots together', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const data = randomBytes(11 * 1024 * 1024 + 7);
      const digest = sha256(data);
      await expect(store.putBlob(Readable.from([data]), { expected: { digest, size: data.length } })).resolves.toMatchObject({ digest, written: true });
      expect((await store.readBlob(digest)).equals(data)).toBe(true);
    } finally {
      cleanup();
    }
  });

  it('writes several large blobs at once', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const blobs = Array.from({ length: 5 }, (_, i) => randomBytes(5 * 1024 * 1024 + i * 4099));
      const results = await Promise.all(blobs.map((data, i) =>
        store.putBlob(chunked(data, [65536 - i, 1000 + i]), { expected: { digest: sha256(data), size: data.length } })));
      for (const [i, data] of blobs.entries()) {
        expect(results[i]).toMatchObject({ digest: sha256(data), size: data.length });
        expect((await store.readBlob(sha256(data))).equals(data)).toBe(true);
      }
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('refuses bytes that do not hash to the expected digest and keeps nothing', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const data = randomBytes(6 * 1024 * 1024);
      const claimed = sha256(randomBytes(16));
      await expect(store.putBlob(chunked(data, [65536]), { expected: { digest: claimed, size: data.length } }))
        .rejects.toMatchObject({ code: 'CACHE_INTEGRITY', expected: claimed, found: sha256(data) });
      expect(await store.hasBlob(claimed)).toBe(false);
      expect(await store.hasBlob(sha256(data))).toBe(false);
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('refuses a stream shorter than the expected size', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const data = randomBytes(5 * 1024 * 1024);
      await expect(store.putBlob(chunked(data, [65536]), { expected: { digest: sha256(data), size: data.length + 1 } }))
        .rejects.toMatchObject({ code: 'CACHE_INTEGRITY' });
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('fails with the source when the source fails midway, and keeps nothing', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const data = randomBytes(8 * 1024 * 1024);
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield data.subarray(0, 3 * 1024 * 1024 + 5);
        throw new Error('connection reset');
      }
      await expect(store.putBlob(failing(), { expected: { digest: sha256(data), size: data.length } })).rejects.toThrow('connection reset');
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
      // the writer thread is still usable afterwards
      await expect(store.putBlob(chunked(data, [65536]), { expected: { digest: sha256(data), size: data.length } }))
        .resolves.toMatchObject({ written: true });
    } finally {
      cleanup();
    }
  });

  it('fails with a stream that errors midway, and keeps nothing', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const data = randomBytes(8 * 1024 * 1024);
      let sent = 0;
      const stream = new Readable({
        read() {
          if (sent >= 5 * 1024 * 1024) {
            this.destroy(new Error('socket hang up'));
            return;
          }
          this.push(data.subarray(sent, sent + 65536));
          sent += 65536;
        },
      });
      await expect(store.putBlob(stream, { expected: { digest: sha256(data), size: data.length } })).rejects.toThrow('socket hang up');
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('fails with a stream that closes before its end', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const data = randomBytes(6 * 1024 * 1024);
      let sent = 0;
      const stream = new Readable({
        read() {
          if (sent >= 2 * 1024 * 1024) {
            this.destroy();
            return;
          }
          this.push(data.subarray(sent, sent + 100_000));
          sent += 100_000;
        },
      });
      await expect(store.putBlob(stream, { expected: { digest: sha256(data), size: data.length } })).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('refuses a stream longer than the expected size', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const data = randomBytes(6 * 1024 * 1024);
      const stream = chunked(data, [65536]);
      await expect(store.putBlob(stream, { expected: { digest: sha256(data), size: data.length - 1 } })).rejects.toMatchObject({ code: 'CACHE_INTEGRITY' });
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it("reports a write's errno (ENOSPC) from the worker", async () => {
    const writer = await openBlobWriter('/dev/full');
    expect(writer).toBeDefined();
    let failure: unknown;
    try {
      for (let i = 0; i < 8; i++) await writer!.write(randomBytes(1 << 20));
      await writer!.end();
    } catch (error) {
      failure = error;
      writer!.abort();
    }
    expect(failure).toMatchObject({ code: 'ENOSPC' });
  });

  it('gives the sha256 and size of what it wrote', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const path = join(dir, 'file');
      writeFileSync(path, '');
      const writer = (await openBlobWriter(path))!;
      const data = randomBytes(3 * 1024 * 1024 + 3);
      for (let offset = 0; offset < data.length; offset += 77777) await writer.write(data.subarray(offset, offset + 77777));
      await expect(writer.end()).resolves.toEqual({ hex: sha256(data).slice(7), size: data.length });
      expect(readFileSync(path).equals(data)).toBe(true);
    } finally {
      cleanup();
    }
  });
});
