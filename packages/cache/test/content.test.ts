import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestHex, digestOf, MemoryContentStore, Store } from '../src/index.js';
import { runContentStoreContract } from './content-contract.js';
import { tempRoot } from './helpers.js';

runContentStoreContract('memory', async () => {
  const store = new MemoryContentStore();
  return { store, corrupt: async (digest, data) => store.corruptForTesting(digest, data), cleanup: () => undefined };
});

runContentStoreContract('disk (Store.blobs)', async () => {
  const { dir, cleanup } = tempRoot();
  const store = await Store.open(dir);
  return {
    store: store.blobs,
    corrupt: async (digest, data) => writeFileSync(join(dir, 'blobs', 'sha256', digestHex(digest)), data),
    cleanup,
  };
});

describe('disk blobs', () => {
  it('moves a corrupted blob to quarantine and reports it as an event', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const events: unknown[] = [];
      const store = await Store.open(dir, { onEvent: (e) => events.push(e) });
      const { digest } = await store.putBlob('good');
      writeFileSync(join(dir, 'blobs', 'sha256', digestHex(digest)), 'evil');
      await expect(store.readBlob(digest)).rejects.toMatchObject({ code: 'CACHE_INTEGRITY', cause: { code: 'EINTEGRITY' } });
      expect(readdirSync(join(dir, 'quarantine-v1'))).toHaveLength(1);
      expect(events).toContainEqual(expect.objectContaining({ type: 'blob-quarantined', digest }));
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('heals a damaged copy when the same bytes are put again', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const { digest } = await store.putBlob('healthy');
      writeFileSync(join(dir, 'blobs', 'sha256', digestHex(digest)), 'damaged');
      await expect(store.putBlob('healthy')).resolves.toMatchObject({ digest, written: false });
      await expect(store.readBlob(digest)).resolves.toEqual(Buffer.from('healthy'));
    } finally {
      cleanup();
    }
  });

  it('leaves no temp file behind after a refused write', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      await expect(store.putBlob('y', { expected: { digest: digestOf('x') } })).rejects.toMatchObject({ code: 'CACHE_INTEGRITY' });
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    } finally {
      cleanup();
    }
  });
});
