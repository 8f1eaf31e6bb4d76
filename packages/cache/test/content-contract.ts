import { Readable } from 'node:stream';
import { digestOf, type ContentStore, type Digest } from '../src/index.js';

async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/**
 * The behaviour every ContentStore shares. `corrupt` replaces a stored blob's
 * bytes behind the store's back, as a disk fault would.
 */
export function runContentStoreContract(
  name: string,
  factory: () => Promise<{ store: ContentStore; corrupt: (digest: Digest, data: Buffer) => Promise<void>; cleanup: () => void }>,
): void {
  describe(`ContentStore contract: ${name}`, () => {
    let store: ContentStore;
    let corrupt: (digest: Digest, data: Buffer) => Promise<void>;
    let cleanup: () => void;
    beforeEach(async () => {
      ({ store, corrupt, cleanup } = await factory());
    });
    afterEach(() => cleanup());

    it('stores a buffer under its sha256 and reads it back', async () => {
      const data = Buffer.from('hello strata\n');
      const put = await store.putBlob(data);
      expect(put).toEqual({ digest: digestOf(data), size: data.length, written: true });
      await expect(store.readBlob(put.digest)).resolves.toEqual(data);
      await expect(store.statBlob(put.digest)).resolves.toMatchObject({ size: data.length });
      expect(await store.hasBlob(put.digest)).toBe(true);
    });

    it('stores a stream of many chunks', async () => {
      const chunks = Array.from({ length: 300 }, (_, i) => Buffer.alloc(7919, i));
      const whole = Buffer.concat(chunks);
      const put = await store.putBlob(Readable.from(chunks));
      expect(put.digest).toBe(digestOf(whole));
      expect(put.size).toBe(whole.length);
      expect((await drain(await store.getBlob(put.digest))).equals(whole)).toBe(true);
    });

    it('treats a blob that is already stored as success', async () => {
      const first = await store.putBlob('same bytes');
      const second = await store.putBlob('same bytes');
      expect(second).toEqual({ ...first, written: false });
      const third = await store.putBlob(Readable.from([Buffer.from('never read')]), { expected: { digest: first.digest, size: first.size } });
      expect(third).toEqual({ digest: first.digest, size: first.size, written: false });
      expect(await store.listBlobs()).toEqual([first.digest]);
    });

    it('refuses bytes that do not match the expected digest and keeps nothing', async () => {
      const wrong = digestOf('something else');
      await expect(store.putBlob('actual bytes', { expected: { digest: wrong } })).rejects.toMatchObject({
        code: 'CACHE_INTEGRITY',
        expected: wrong,
        found: digestOf('actual bytes'),
      });
      expect(await store.listBlobs()).toEqual([]);
    });

    it('refuses a size that does not match the expected size', async () => {
      const digest = digestOf('12345');
      await expect(store.putBlob('12345', { expected: { digest, size: 4 } })).rejects.toMatchObject({ code: 'CACHE_INTEGRITY' });
    });

    it('reports a missing blob by code', async () => {
      const digest = digestOf('absent');
      await expect(store.readBlob(digest)).rejects.toMatchObject({ code: 'CACHE_BLOB_NOT_FOUND' });
      await expect(store.getBlob(digest)).rejects.toMatchObject({ code: 'CACHE_BLOB_NOT_FOUND' });
      expect(await store.statBlob(digest)).toBeUndefined();
    });

    it('refuses a corrupted blob by digest and never serves it again', async () => {
      const { digest } = await store.putBlob('precious layer bytes');
      await corrupt(digest, Buffer.from('precious layer bytez'));
      await expect(store.readBlob(digest)).rejects.toMatchObject({ code: 'CACHE_INTEGRITY', expected: digest, found: digestOf('precious layer bytez') });
      await expect(store.readBlob(digest)).rejects.toMatchObject({ code: 'CACHE_BLOB_NOT_FOUND' });
      // A good copy can be stored again.
      await store.putBlob('precious layer bytes');
      await expect(store.readBlob(digest)).resolves.toEqual(Buffer.from('precious layer bytes'));
    });

    it('fails a stream read of a corrupted blob at its end', async () => {
      const { digest } = await store.putBlob(Buffer.alloc(200_000, 1));
      await corrupt(digest, Buffer.alloc(200_000, 2));
      await expect(store.getBlob(digest).then(drain)).rejects.toMatchObject({ code: 'CACHE_INTEGRITY', expected: digest });
      expect(await store.hasBlob(digest)).toBe(false);
    });

    it('checks the size a caller expects on read', async () => {
      const { digest } = await store.putBlob('four');
      await expect(store.readBlob(digest, { size: 5 })).rejects.toMatchObject({ code: 'CACHE_INTEGRITY' });
      await expect(store.readBlob(digest, { size: 4 })).resolves.toEqual(Buffer.from('four'));
    });

    it('lists and deletes blobs', async () => {
      const a = await store.putBlob('a');
      const b = await store.putBlob('b');
      expect(await store.listBlobs()).toEqual([a.digest, b.digest].sort());
      expect(await store.deleteBlob(a.digest)).toBe(true);
      expect(await store.deleteBlob(a.digest)).toBe(false);
      expect(await store.listBlobs()).toEqual([b.digest]);
    });
  });
}
