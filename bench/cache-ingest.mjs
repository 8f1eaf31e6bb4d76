#!/usr/bin/env node
// Blob ingest throughput of @strata/cache (built: packages/cache/dist) against
// `sha256sum` of the same bytes, then du/prune time on a store of 10,000 blobs
// against `du -sb` and `xargs rm` of the same files.
// usage: node bench/cache-ingest.mjs [MIB] [ROUNDS] [BLOBS]     (after `pnpm run build`)
// Everything lives on /dev/shm (STRATA_BENCH_DIR=/var/tmp to include the disk): by default the
// numbers measure hashing and the write path, not the disk.
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

const { Store, MediaType, diskUsage, pruneStore } = await import('../packages/cache/dist/index.js');

const mib = Number(process.argv[2] ?? 512);
const rounds = Number(process.argv[3] ?? 5);
const blobCount = Number(process.argv[4] ?? 10_000);
const work = mkdtempSync(join(process.env.STRATA_BENCH_DIR ?? '/dev/shm', 'strata-bench-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (ms) => `${ms.toFixed(1)} ms`;

try {
  // ---- ingest -------------------------------------------------------------
  const file = join(work, 'data.bin');
  const chunk = randomBytes(1 << 20);
  const parts = Array.from({ length: mib }, (_, i) => { const b = Buffer.from(chunk); b.writeUInt32LE(i, 0); return b; });
  writeFileSync(file, Buffer.concat(parts));
  parts.length = 0;

  const sha = [];
  let shaDigest = '';
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    const out = spawnSync('sha256sum', [file], { encoding: 'utf8' });
    sha.push(performance.now() - t);
    shaDigest = `sha256:${out.stdout.split(' ')[0]}`;
  }
  const ours = [];
  for (let r = 0; r < rounds; r++) {
    const root = join(work, `store${r}`);
    const store = await Store.open(root);
    const t = performance.now();
    const put = await store.putBlob(createReadStream(file, { highWaterMark: 1 << 20 }));
    ours.push(performance.now() - t);
    if (put.digest !== shaDigest) throw new Error(`digest mismatch: ${put.digest} vs ${shaDigest}`);
    rmSync(root, { recursive: true, force: true });
  }
  const mbs = (ms) => (mib * 1.048576) / (ms / 1000);
  console.log(`ingest ${mib} MiB (median of ${rounds})`);
  console.log(`  sha256sum          ${fmt(median(sha))}  ${mbs(median(sha)).toFixed(0)} MB/s`);
  console.log(`  strata putBlob     ${fmt(median(ours))}  ${mbs(median(ours)).toFixed(0)} MB/s  (hash + write + fsync + rename)`);
  console.log(`  throughput ratio strata/sha256sum = ${(median(sha) / median(ours)).toFixed(2)}  (target >= 0.8)`);
  rmSync(file);

  // ---- du / prune with many blobs ----------------------------------------
  const root = join(work, 'many');
  const store = await Store.open(root);
  let t = performance.now();
  const digests = [];
  for (let i = 0; i < blobCount; i++) digests.push((await store.putBlob(randomBytes(64 + (i % 4096)))).digest);
  const fill = performance.now() - t;
  // One image per 100 blobs keeps a tenth of them referenced.
  for (let i = 0; i < blobCount / 1000; i++) {
    const layers = digests.slice(i * 100, i * 100 + 100).map((digest) => ({ mediaType: MediaType.ociLayerGzip, digest, size: 0 }));
    for (const l of layers) l.size = (await store.statBlob(l.digest)).size;
    const config = await store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, MediaType.ociConfig);
    const manifest = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers }, MediaType.ociManifest);
    await store.tag(`bench/app:${i}`, manifest);
  }
  const blobsDir = join(root, 'blobs', 'sha256');
  const count = readdirSync(blobsDir).length;
  const duPeer = [];
  const duOurs = [];
  for (let r = 0; r < rounds; r++) {
    t = performance.now();
    spawnSync('du', ['-sb', blobsDir]);
    duPeer.push(performance.now() - t);
    t = performance.now();
    await diskUsage(store);
    duOurs.push(performance.now() - t);
  }
  const du = await diskUsage(store);
  console.log(`\ndu on ${count} blobs (filled in ${fmt(fill)}; median of ${rounds})`);
  console.log(`  du -sb blobs/      ${fmt(median(duPeer))}`);
  console.log(`  strata du()        ${fmt(median(duOurs))}  (images ${du.images.count}, unreferenced ${du.unreferenced.count})`);
  console.log(`  time ratio strata/du = ${(median(duOurs) / median(duPeer)).toFixed(2)}`);

  // prune: strata removes the 90% unreferenced; the peer deletes the same files with find -delete on a copy.
  spawnSync('cp', ['-a', blobsDir, join(work, 'peer')]);
  const keep = new Set((await Promise.all((await store.images()).map((i) => store.imageBlobs(i.descriptor)))).flatMap((w) => [...w.blobs.keys()].map((d) => d.slice(7))));
  const doomed = readdirSync(join(work, 'peer')).filter((n) => !keep.has(n));
  writeFileSync(join(work, 'doomed.txt'), doomed.map((n) => join(work, 'peer', n)).join('\0'));
  t = performance.now();
  spawnSync('sh', ['-c', `xargs -0 rm -f < ${join(work, 'doomed.txt')}`]);
  const prunePeer = performance.now() - t;
  t = performance.now();
  const result = await pruneStore(store, { gracePeriodMs: 0 });
  const pruneOurs = performance.now() - t;
  console.log(`\nprune on ${count} blobs`);
  console.log(`  xargs rm (same ${doomed.length} files)  ${fmt(prunePeer)}`);
  console.log(`  strata prune()     ${fmt(pruneOurs)}  (removed ${result.removed.blobs} blobs, kept ${readdirSync(blobsDir).length})`);
  console.log(`  time ratio strata/rm = ${(pruneOurs / prunePeer).toFixed(2)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
