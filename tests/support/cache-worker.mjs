// A store writer for the crash and concurrency tests (and bench/cache-crash.mjs).
// It imports the BUILT cache package, so run `pnpm run build` first.
//
//   node cache-worker.mjs ROOT MODE ID [COUNT]
//
// MODE: blob | tag | record | snapshot | mixed | concurrent. The worker prints
// "READY" once the store is open, then one line per operation that has
// COMPLETED (returned): "BLOB digest size", "TAG ref digest", "RECORD key digest",
// "SNAP chainId". Anything printed was durable before the line was written, so
// a parent that SIGKILLs the worker may check every printed line afterwards.
// It runs COUNT operations (default: until killed) and exits 0.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { writeSync } from 'node:fs';

const here = dirname(fileURLToPath(import.meta.url));
const cache = await import(join(here, '..', '..', 'packages', 'cache', 'dist', 'index.js'));
const { Store, MediaType, makeCacheKey, digestOf } = cache;

const [root, mode, id, countText] = process.argv.slice(2);
const count = countText === undefined ? Infinity : Number(countText);
const store = await Store.open(root, { lockTimeoutMs: 60_000 });
const say = (line) => writeSync(1, `${line}\n`);
say('READY');

/** Deterministic bytes from a seed, so that several workers can write the same blob. */
function seeded(seed, size) {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** A stream source in small chunks, so that a kill lands in the middle of a write. */
function chunked(data, chunk = 64 * 1024) {
  return Readable.from((function* () {
    for (let off = 0; off < data.length; off += chunk) yield data.subarray(off, off + chunk);
  })());
}

async function writeImage(seed, layerSize) {
  const layerBytes = seed === undefined ? randomBytes(layerSize) : seeded(`layer ${seed}`, layerSize);
  const layer = await store.putBlob(chunked(layerBytes));
  const diffId = digestOf(`uncompressed ${layer.digest}`);
  const config = await store.putJson(
    { architecture: 'amd64', os: 'linux', config: { Env: [`SEED=${seed ?? 'random'}`] }, rootfs: { type: 'layers', diff_ids: [diffId] } },
    MediaType.ociConfig,
  );
  return store.putJson(
    { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }] },
    MediaType.ociManifest,
  );
}

async function opBlob(n) {
  const size = [1, 1000, 70_000, 300_000, 1_500_000][n % 5];
  const { digest, size: stored } = await store.putBlob(chunked(randomBytes(size)));
  say(`BLOB ${digest} ${stored}`);
}

async function opTag(n) {
  const manifest = await writeImage(undefined, 20_000 + (n % 7) * 50_000);
  const ref = await store.tag(`127.0.0.1:5000/crash/w${id}:${n}`, manifest);
  say(`TAG ${ref} ${manifest.digest}`);
}

async function opRecord(n) {
  const blob = await store.putBlob(randomBytes(5000 + n));
  const key = makeCacheKey(`worker ${id} step ${n} ${randomBytes(4).toString('hex')}`);
  await store.putCacheRecord(key, {
    layer: { mediaType: MediaType.ociLayerGzip, digest: blob.digest, size: blob.size, diffId: digestOf(`tar ${blob.digest}`) },
    config: { Env: [`STEP=${n}`] },
  });
  say(`RECORD ${key} ${blob.digest}`);
}

const snapshotLayers = (process.env.STRATA_TEST_LAYERS ?? '').split(',').filter(Boolean);
async function opSnapshot(n) {
  if (snapshotLayers.length === 0) throw new Error('STRATA_TEST_LAYERS lists no layer digests');
  const digest = snapshotLayers[n % snapshotLayers.length];
  const stat = await store.statBlob(digest);
  const info = await store.snapshots.unpack({ layer: { mediaType: MediaType.ociLayerGzip, digest, size: stat.size } });
  say(`SNAP ${info.chainId}`);
  // Unpack again from scratch now and then, so that kills also land mid-unpack of a known chain.
  if (n % 2 === 1) await store.snapshots.remove(info.chainId);
}

async function opConcurrent(n) {
  // Shared images: every worker writes the same bytes and the same tags.
  const shared = await writeImage(`shared ${n % 10}`, 30_000 + (n % 10) * 10_000);
  const sharedRef = await store.tag(`shared/app:${n % 10}`, shared);
  say(`TAG ${sharedRef} ${shared.digest}`);
  // Distinct images: only this worker.
  const mine = await writeImage(undefined, 10_000);
  const ref = await store.tag(`127.0.0.1:5000/test/w${id}:${n}`, mine);
  say(`TAG ${ref} ${mine.digest}`);
}

const ops = { blob: [opBlob], tag: [opTag], record: [opRecord], snapshot: [opSnapshot], mixed: [opBlob, opTag, opRecord, opSnapshot], concurrent: [opConcurrent] }[mode];
if (ops === undefined) throw new Error(`unknown mode ${mode}`);
for (let n = 0; n < count; n++) {
  const op = ops[n % ops.length];
  await op(n);
}
say('DONE');
