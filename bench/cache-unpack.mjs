#!/usr/bin/env node
// Snapshot unpack time of @strata/cache (built) against GNU `tar -xzf` of the
// same gzip layer into the same filesystem. usage: node bench/cache-unpack.mjs [FILES] [BASE_DIR] [ROUNDS]
// BASE_DIR defaults to /dev/shm; pass a folder on the real disk to include fsync and file-creation costs.
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const { Store, MediaType } = await import('../packages/cache/dist/index.js');
const files = Number(process.argv[2] ?? 2000);
const base = process.argv[3] ?? '/dev/shm';
const rounds = Number(process.argv[4] ?? 3);
const work = mkdtempSync(join(base, 'strata-unpack-bench-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
try {
  const src = join(work, 'src');
  for (let i = 0; i < files; i++) {
    const dir = join(src, `d${i % 50}`, `e${i % 7}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${i}`), `file ${i}\n`.repeat((i % 200) + 1));
  }
  const tgz = join(work, 'layer.tgz');
  spawnSync('tar', ['-czf', tgz, '-C', src, '.']);
  const peer = [];
  for (let r = 0; r < rounds; r++) {
    const dest = join(work, `peer${r}`);
    mkdirSync(dest);
    const t = performance.now();
    spawnSync('tar', ['-xzf', tgz, '-C', dest]);
    spawnSync('sync', ['-f', dest]);
    peer.push(performance.now() - t);
  }
  const ours = [];
  for (let r = 0; r < rounds; r++) {
    const store = await Store.open(join(work, `store${r}`));
    const put = await store.putBlob(createReadStream(tgz));
    const t = performance.now();
    await store.snapshots.unpack({ layer: { mediaType: MediaType.ociLayerGzip, digest: put.digest, size: put.size } });
    ours.push(performance.now() - t);
  }
  console.log(`unpack a gzip layer of ${files} files on ${base} (median of ${rounds})`);
  console.log(`  tar -xzf + sync -f    ${median(peer).toFixed(1)} ms`);
  console.log(`  strata unpack         ${median(ours).toFixed(1)} ms  (verify blob, diffID, path checks, durable before rename)`);
  console.log(`  time ratio strata/tar = ${(median(ours) / median(peer)).toFixed(2)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
