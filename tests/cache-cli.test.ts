// strata du / verify / prune as a user runs them: the built bin/strata on a
// store that the library filled, with STRATA_ROOT pointing at it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestHex, MediaType, Store } from '@strata/cache';
import { tempStoreRoot } from './support/cache-harness.js';

const BIN = join(__dirname, '..', 'bin', 'strata');
const CLI_DIST = join(__dirname, '..', 'packages', 'cli', 'dist', 'index.js');

function strata(root: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, STRATA_ROOT: root } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

jest.setTimeout(60_000);

describe('strata du / verify / prune from the command line', () => {
  it('reports, verifies, repairs and prunes a store', async () => {
    expect(existsSync(CLI_DIST)).toBe(true);
    const { root, cleanup } = tempStoreRoot('strata-cli-');
    try {
      const store = await Store.open(root);
      const layer = await store.putBlob('layer bytes');
      const config = await store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, MediaType.ociConfig);
      const manifest = await store.putJson(
        { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [{ mediaType: MediaType.ociLayerGzip, ...layer }] },
        MediaType.ociManifest,
      );
      await store.tag('127.0.0.1:5000/test/app:1', manifest);
      const stray = await store.putBlob('nobody needs this');
      const old = new Date(Date.now() - 3_600_000);
      for (const name of readdirSync(join(root, 'blobs', 'sha256'))) utimesSync(join(root, 'blobs', 'sha256', name), old, old);

      const du = strata(root, ['du']);
      expect(du).toMatchObject({ status: 0, stderr: '' });
      expect(du.stdout).toMatch(/\nImages\s+1\s+\S+\n/);
      expect(du.stdout).toMatch(/\nUnreferenced\s+1\s+17B\n/);

      expect(strata(root, ['verify'])).toMatchObject({ status: 0, stdout: expect.stringMatching(/: the store is consistent\n$/) });

      writeFileSync(join(root, 'blobs', 'sha256', digestHex(layer.digest)), 'rotten');
      const bad = strata(root, ['verify']);
      expect(bad.status).toBe(1);
      expect(bad.stdout).toContain(`corrupt-blob  ${layer.digest}`);
      expect(strata(root, ['verify', '--repair']).stdout).toContain(`repaired  corrupt-blob  ${layer.digest}`);

      const pruned = strata(root, ['prune', '--json']);
      expect(pruned.status).toBe(0);
      expect(JSON.parse(pruned.stdout)).toMatchObject({ removed: { blobs: 1, quarantined: 1 } });
      expect(await store.statBlob(stray.digest)).toBeUndefined();
      expect(await store.statBlob(manifest.digest)).toBeDefined();

      const usage = strata(root, ['prune', '--keep-storage', 'lots']);
      expect(usage.status).toBe(2);
      expect(usage.stderr).toContain("invalid size 'lots'");
    } finally {
      cleanup();
    }
  });
});
