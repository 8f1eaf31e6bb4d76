import { makeCacheKey, type CacheRecord, type Descriptor, type KeyInputs, type SourceListing, type Store } from '@strata/cache';
import { gzipSync } from 'node:zlib';
import { CACHE_SOURCES_FORMAT, CACHE_SOURCES_MEDIA_TYPE, decodeSourceListings, encodeArtifact, sourcesDescriptorOf } from '../../src/cache-transfer/artifact.js';
import type { CacheEndpoint } from '../../src/cache-transfer/endpoint.js';
import { CacheImporter } from '../../src/cache-transfer/import.js';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function record(seed: string, inputs?: Partial<KeyInputs>): CacheRecord {
  return {
    key: makeCacheKey(seed),
    createdAt: '2026-01-01T00:00:00.000Z',
    ...(inputs === undefined ? {} : { inputs: { parent: 'p', instruction: 'i', env: {}, ...inputs } }),
  };
}

describe('cache artifact source listings', () => {
  const listings = new Map<string, SourceListing>([
    [digest(1), { 'src/main.py': 'aaaa', src: 'bbbb' }],
    [digest(2), { 'tools/run.sh': 'cccc' }],
    [digest(3), { 'not/named.txt': 'dddd' }],
  ]);

  it('carries exactly the listings the records name, as the last layer, the same bytes for the same input', () => {
    const records = [record('copy-src', { sources: digest(2) }), record('run'), record('copy-tools', { sources: digest(1) }), record('again', { sources: digest(1) })];
    const artifact = encodeArtifact(records, [], listings);
    expect(artifact.sources?.count).toBe(2);
    const layers = artifact.manifest.value.layers;
    expect(layers[layers.length - 1]).toEqual(artifact.sources?.descriptor);
    expect(sourcesDescriptorOf(artifact.manifest.value)).toEqual(artifact.sources?.descriptor);
    // the store blobs to send do not include it (it is sent from memory)
    expect(artifact.blobs.some((b) => b.mediaType === CACHE_SOURCES_MEDIA_TYPE)).toBe(false);
    const decoded = decodeSourceListings(artifact.sources?.bytes ?? Buffer.alloc(0));
    expect([...decoded.keys()]).toEqual([digest(1), digest(2)]);
    expect(decoded.get(digest(1))).toEqual(listings.get(digest(1)));
    // record order does not change the blob
    expect(encodeArtifact([...records].reverse(), [], listings).sources?.bytes).toEqual(artifact.sources?.bytes);
  });

  it('writes no listings layer when no record names a listing it has (the artifact as before)', () => {
    const artifact = encodeArtifact([record('run'), record('copy', { sources: digest(9) })], [], listings);
    expect(artifact.sources).toBeUndefined();
    expect(sourcesDescriptorOf(artifact.manifest.value)).toBeUndefined();
    expect(artifact.manifest.value.layers).toEqual([]);
  });

  it('reads another format version, junk and malformed entries as no listings', () => {
    expect(decodeSourceListings(Buffer.from('not gzip')).size).toBe(0);
    expect(decodeSourceListings(gzipSync('not json')).size).toBe(0);
    // plain JSON is not this format's encoding
    expect(decodeSourceListings(Buffer.from(JSON.stringify({ format: CACHE_SOURCES_FORMAT, sources: { [digest(1)]: { a: 'b' } } }))).size).toBe(0);
    expect(decodeSourceListings(gzipSync(JSON.stringify({ format: 'strata.cache.sources.v2', sources: { [digest(1)]: { a: 'b' } } }))).size).toBe(0);
    const mixed = decodeSourceListings(gzipSync(JSON.stringify({ format: CACHE_SOURCES_FORMAT, sources: { [digest(1)]: { a: 1 }, [digest(2)]: ['x'], [digest(3)]: { ok: 'yes' } } })));
    expect([...mixed.keys()]).toEqual([digest(3)]);
  });
});

describe('CacheImporter.previousInputs', () => {
  const endpoint = { name: 'test' } as CacheEndpoint;
  const importer = (records: CacheRecord[]) => new CacheImporter({} as Store, [{ endpoint, records: new Map(records.map((r) => [r.key, r])), mounts: [] }]);
  const current: KeyInputs = { parent: 'parent-now', instruction: 'copy-src', env: {}, sources: digest(7) };

  it('prefers the imported record with the same instruction and parent', () => {
    const same = record('a', { parent: 'parent-now', instruction: 'copy-src', sources: digest(1) });
    const other = record('b', { parent: 'other', instruction: 'copy-src', sources: digest(2) });
    expect(importer([other, same]).previousInputs(current)).toEqual(same.inputs);
  });

  it('takes the only record with the same instruction; with several and no parent match, none', () => {
    const one = record('a', { parent: 'old-parent', instruction: 'copy-src', sources: digest(1) });
    const two = record('b', { parent: 'another', instruction: 'copy-src', sources: digest(2) });
    const unrelated = record('c', { parent: 'parent-now', instruction: 'run', sources: undefined });
    expect(importer([one, unrelated]).previousInputs(current)).toEqual(one.inputs);
    expect(importer([one, two]).previousInputs(current)).toBeUndefined();
    expect(importer([unrelated]).previousInputs(current)).toBeUndefined();
  });

  it('finds no listing in an artifact without a listings blob', async () => {
    await expect(importer([]).sources(digest(1))).resolves.toBeUndefined();
  });

  it('reads a listings blob that cannot be fetched as none', async () => {
    const failing = { name: 'down', readBlob: () => Promise.reject(new Error('connection reset')) } as unknown as CacheEndpoint;
    const blob: Descriptor = { mediaType: CACHE_SOURCES_MEDIA_TYPE, digest: digest(5) as Descriptor['digest'], size: 10 };
    const broken = new CacheImporter({} as Store, [{ endpoint: failing, records: new Map(), mounts: [], sources: blob }]);
    await expect(broken.sources(digest(1))).resolves.toBeUndefined();
  });
});
