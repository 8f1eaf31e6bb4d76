import { statSync } from 'node:fs';
import { MediaType, Store } from '../src/index.js';
import { tempRoot } from './helpers.js';

// A cached rebuild writes its config, manifest and tag again: none of that may rewrite the store.
describe('writes that change nothing', () => {
  it('tagging a name with what it already points at leaves index.json as it is', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const store = await Store.open(dir);
      const config = await store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, MediaType.ociConfig);
      const manifest = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [] }, MediaType.ociManifest);
      await store.tag('app:1', manifest);
      const before = statSync(store.paths.index, { bigint: true });
      await store.tag('app:1', manifest);
      const after = statSync(store.paths.index, { bigint: true });
      expect([after.ino, after.mtimeNs]).toEqual([before.ino, before.mtimeNs]);
      // a different target still rewrites it
      const other = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [], annotations: { v: '2' } }, MediaType.ociManifest);
      await store.tag('app:1', other);
      expect((await store.resolve('app:1')).digest).toBe(other.digest);
    } finally {
      cleanup();
    }
  });

  it('putJson of a stored document returns its descriptor without writing it again', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const events: string[] = [];
      const store = await Store.open(dir, { onEvent: (e) => events.push(e.type) });
      const doc = { hello: 'world' };
      const first = await store.putJson(doc, 'application/json');
      const written = events.filter((t) => t === 'blob-written').length;
      const again = await store.putJson(doc, 'application/json');
      expect(again).toEqual(first);
      expect(events.filter((t) => t === 'blob-written').length).toBe(written);
      expect(written).toBe(1);
    } finally {
      cleanup();
    }
  });
});
