// Miss reasons on a machine whose cache came from --cache-from: the exported
// artifact carries the COPY source listings its records name, so when a
// context file changes after an import, --progress=json names the file
// ("source changed: src/main.py"), as it does on the machine that ran the
// steps. Real builds through this worktree's bin/strata, the reference
// registry on 127.0.0.1 and OCI layout folders; each "machine" is a fresh
// store with only the base image.
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store, pruneStore } from '@strata/cache';
import { CACHE_SOURCES_FORMAT, CACHE_SOURCES_MEDIA_TYPE } from '@strata/builder';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { loadTestImage, testImage } from './support/test-images.js';
import { strataBuildJson, type JsonEvent } from './support/cli-json.js';

jest.setTimeout(240_000);

const base = 'localhost/test/busybox:latest';

// a non-final stage with a COPY of its own: mode=min exports the final stage's records only, and their listings only
const dockerfile = `
FROM ${base} AS tools
COPY tools/ /tools/
FROM ${base}
WORKDIR /app
COPY src/ ./
RUN cat main.py lib/util.py > /app/out
COPY --from=tools /tools/run.sh /usr/local/bin/run.sh
`;

interface LayoutManifest {
  config: { digest: string };
  layers: { mediaType: string; digest: string; size: number }[];
  [field: string]: unknown;
}

describe('miss reasons after --cache-from', () => {
  let dir: string;
  let stores = 0;
  let registry: TestRegistry;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-remote-reasons-');
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh context: src/main.py, src/lib/util.py, tools/run.sh and the Dockerfile. */
  function makeContext(name: string): string {
    const context = join(dir, name);
    mkdirSync(join(context, 'src', 'lib'), { recursive: true });
    mkdirSync(join(context, 'tools'), { recursive: true });
    writeFileSync(join(context, 'src', 'main.py'), 'print("hello")\n');
    writeFileSync(join(context, 'src', 'lib', 'util.py'), 'X = 1\n');
    writeFileSync(join(context, 'tools', 'run.sh'), '#!/bin/sh\n');
    writeFileSync(join(context, 'Dockerfile'), dockerfile);
    return context;
  }

  /** A machine: a fresh store with only the base image. */
  async function freshStore(): Promise<string> {
    stores += 1;
    const root = join(dir, `store-${stores}`);
    const store = await Store.open(root);
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    return root;
  }

  async function strataBuild(root: string, context: string, ...extra: string[]): Promise<JsonEvent[]> {
    const env = { PATH: process.env.PATH, HOME: dir, STRATA_ROOT: root };
    return strataBuildJson(['-t', 'localhost/test/reasons:1', ...extra, context], env);
  }

  /** `<stage> <KEYWORD>` -> `hit|miss: reason` for the layer steps. */
  function outcomes(events: JsonEvent[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of events) {
      if (e.type !== 'step-cached' && e.type !== 'step-completed') continue;
      const keyword = e.instruction?.text.split(' ')[0] ?? '';
      if (!['RUN', 'COPY', 'WORKDIR'].includes(keyword)) continue;
      const from = e.instruction?.text.includes('--from=') === true ? ' --from' : '';
      out[`${e.stage} ${keyword}${from}`] = `${e.type === 'step-cached' ? 'hit' : 'miss'}: ${e.reason ?? ''}`;
    }
    return out;
  }

  const exported = (events: JsonEvent[]) => events.find((e) => e.type === 'cache-exported');

  /** The stored listing files of a store (cache-v1/sources). */
  const listingFiles = (root: string) => {
    const sources = join(root, 'cache-v1', 'sources');
    let shards: string[] = [];
    try {
      shards = readdirSync(sources);
    } catch {
      return [];
    }
    return shards.flatMap((s) => readdirSync(join(sources, s)));
  };

  describe('type=registry, mode=max', () => {
    let context: string;
    let ref: string;

    beforeAll(async () => {
      context = makeContext('ctx-registry');
      ref = `${registry.host}/cache/reasons:max`;
      const a = await freshStore();
      const events = await strataBuild(a, context, '--cache-to', `type=registry,ref=${ref},mode=max`);
      // a listing per COPY: both from the context, and COPY --from (the tools stage's files)
      expect(exported(events)).toMatchObject({ records: 5, listings: 3 });
    });

    it('a second machine that imported the cache names the changed file on its next build', async () => {
      const b = await freshStore();
      const first = await strataBuild(b, context, '--cache-from', `type=registry,ref=${ref}`);
      expect(new Set(Object.values(outcomes(first)))).toEqual(new Set([`hit: imported from ${ref}`]));
      // the adopted records brought their listings along
      expect(listingFiles(b)).toHaveLength(3);

      // the next build does not import: the step positions' last keys (set by the imported hits) and the
      // adopted listings are this store's own
      writeFileSync(join(context, 'src', 'main.py'), 'print("changed on B")\n');
      const second = await strataBuild(b, context);
      expect(outcomes(second)).toEqual({
        'tools COPY': 'hit: inputs unchanged',
        '1 WORKDIR': 'hit: inputs unchanged',
        '1 COPY': 'miss: source changed: src/main.py',
        '1 RUN': 'miss: parent changed',
        '1 COPY --from': 'miss: parent changed',
      });

      // and with --cache-from again: compared with this machine's own last run
      writeFileSync(join(context, 'src', 'lib', 'util.py'), 'X = 2\n');
      const third = await strataBuild(b, context, '--cache-from', `type=registry,ref=${ref}`);
      expect(outcomes(third)['1 COPY']).toBe('miss: source changed: src/lib/util.py');

      // prune keeps the listings the kept records name; --all takes records and listings together
      const store = await Store.open(b);
      await pruneStore(store, { gracePeriodMs: 0 });
      expect(listingFiles(b).length).toBeGreaterThanOrEqual(3);
      await pruneStore(store, { all: true, gracePeriodMs: 0 });
      expect(listingFiles(b)).toEqual([]);
    });

    it('a machine whose first build already differs compares against the imported record', async () => {
      // B's store has never run or hit these steps: no last key at any position
      const c = await freshStore();
      writeFileSync(join(context, 'src', 'main.py'), 'print("changed before the first build")\n');
      const events = await strataBuild(c, context, '--cache-from', `type=registry,ref=${ref}`);
      const seen = outcomes(events);
      expect(seen['tools COPY']).toBe(`hit: imported from ${ref}`);
      expect(seen['1 WORKDIR']).toBe(`hit: imported from ${ref}`);
      // src/lib/util.py changed in the test above too (the context is shared): both are named
      expect(seen['1 COPY']).toBe('miss: source changed: src/lib/util.py, src/main.py');
      expect(seen['1 RUN']).toBe('miss: parent changed');
      // listings here: the hit's (adopted) and the missed COPYs' own; the import's listing of the old src/ is not copied
      expect(listingFiles(c)).toHaveLength(3);
    });
  });

  describe('type=local', () => {
    it('mode=min exports the final stage listings; the importer names the changed file', async () => {
      const context = makeContext('ctx-local');
      const layout = join(dir, 'layout-min');
      const a = await freshStore();
      const events = await strataBuild(a, context, '--cache-to', `type=local,dest=${layout},mode=min`);
      // the final stage's WORKDIR, COPY, RUN, COPY --from; their two COPYs' listings (not the tools stage's COPY)
      expect(exported(events)).toMatchObject({ records: 4, listings: 2 });
      const manifest = readManifest(layout);
      const config = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', String(manifest.config.digest).replace('sha256:', '')), 'utf8')) as {
        records: { inputs?: { sources?: string } }[];
      };
      const named = config.records.flatMap((r) => (r.inputs?.sources === undefined ? [] : [r.inputs.sources])).sort();
      expect(named).toHaveLength(2);
      const blob = manifest.layers.find((l) => l.mediaType === CACHE_SOURCES_MEDIA_TYPE);
      expect(blob).toBeDefined();
      const listings = JSON.parse(gunzipSync(readFileSync(join(layout, 'blobs', 'sha256', (blob?.digest ?? '').replace('sha256:', '')))).toString('utf8')) as {
        format: string;
        sources: Record<string, Record<string, string>>;
      };
      expect(listings.format).toBe(CACHE_SOURCES_FORMAT);
      // exactly the listings the exported records name
      expect(Object.keys(listings.sources).sort()).toEqual(named);
      expect(Object.values(listings.sources).map((l) => Object.keys(l).sort())).toContainEqual(['src', 'src/lib', 'src/lib/util.py', 'src/main.py']);

      const b = await freshStore();
      expect(Object.values(outcomes(await strataBuild(b, context, '--cache-from', `type=local,src=${layout}`)))).toContain(`hit: imported from ${layout}`);
      writeFileSync(join(context, 'src', 'lib', 'util.py'), 'X = 3\n');
      const again = await strataBuild(b, context, '--cache-from', `type=local,src=${layout}`);
      expect(outcomes(again)['1 COPY']).toBe('miss: source changed: src/lib/util.py');
    });

    it('an artifact without listings (written before they were exported) still imports; a miss says only "sources changed"', async () => {
      const context = makeContext('ctx-old');
      const layout = join(dir, 'layout-old');
      const a = await freshStore();
      const events = await strataBuild(a, context, '--cache-to', `type=local,dest=${layout},mode=max`);
      const imageId = events.find((e) => e.type === 'build-completed')?.imageId;
      dropListings(layout);
      const b = await freshStore();
      const first = await strataBuild(b, context, '--cache-from', `type=local,src=${layout}`);
      expect(new Set(Object.values(outcomes(first)))).toEqual(new Set([`hit: imported from ${layout}`]));
      expect(first.find((e) => e.type === 'build-completed')?.imageId).toBe(imageId);
      expect(listingFiles(b)).toEqual([]);
      writeFileSync(join(context, 'src', 'main.py'), 'print("old artifact")\n');
      const again = await strataBuild(b, context, '--cache-from', `type=local,src=${layout}`);
      expect(outcomes(again)['1 COPY']).toBe('miss: sources changed');
    });
  });

  /** The artifact manifest the layout's index names. */
  function readManifest(layout: string): LayoutManifest {
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const digest = index.manifests[0]?.digest ?? '';
    return JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', digest.replace('sha256:', '')), 'utf8')) as LayoutManifest;
  }

  /** Rewrites the layout's artifact as an older strata wrote it: the same config and layers, no listings blob. */
  function dropListings(layout: string): void {
    const manifest = readManifest(layout);
    const before = manifest.layers.length;
    manifest.layers = manifest.layers.filter((l) => l.mediaType !== CACHE_SOURCES_MEDIA_TYPE);
    expect(manifest.layers).toHaveLength(before - 1);
    const bytes = Buffer.from(JSON.stringify(manifest));
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(layout, 'blobs', 'sha256', hex), bytes);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number }[] };
    index.manifests = index.manifests.map((m) => ({ ...m, digest: `sha256:${hex}`, size: bytes.length }));
    writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
  }
});
