#!/usr/bin/env node
// Export compression (@strata/cache exportLayers, built: packages/cache/dist):
// how many layers to compress at once. Layers are uncompressed tars in a temp
// store, cut from the machine's own binaries and libraries (so they compress
// like a rootfs); each round exports all of them to gzip (or zstd) in a fresh
// store copy with concurrency 1, 2, 3 and 4 in turn (rotated between rounds),
// forgetting the remembered conversions before each run. Prints the median
// wall and CPU seconds per concurrency.
// usage (after `pnpm run build`): node bench/export-compress.mjs [LAYERS=6] [MB_PER_LAYER=48] [ROUNDS=3] [gzip|zstd]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const { Store, MediaType, exportLayers } = await import('../packages/cache/dist/index.js');

const layerCount = Number(process.argv[2] ?? 6);
const mbPerLayer = Number(process.argv[3] ?? 48);
const rounds = Number(process.argv[4] ?? 3);
const compression = process.argv[5] ?? 'gzip';
const base = process.env.STRATA_BENCH_DIR ?? '/dev/shm';

function pool(limit) {
  const parts = [];
  let size = 0;
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/bin', '/usr/lib', '/usr/share/doc']) {
    let names;
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        const st = statSync(path);
        if (!st.isFile() || st.size < 4096) continue;
        const data = readFileSync(path);
        parts.push(data);
        size += data.length;
      } catch {
        continue;
      }
      if (size >= limit) return Buffer.concat(parts).subarray(0, limit);
    }
  }
  const all = Buffer.concat(parts);
  const out = Buffer.alloc(limit);
  for (let at = 0; at < limit; at += all.length) all.copy(out, at, 0, Math.min(all.length, limit - at));
  return out;
}

/** A tar-like blob of `bytes` (the compressors do not care that it is not a tar; the diff ID is its own digest). */
const data = pool(layerCount * mbPerLayer * 1_000_000);
const dir = mkdtempSync(join(base, 'export-compress-bench-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

try {
  const results = new Map();
  const levels = [1, 2, 3, 4];
  for (let round = 0; round < rounds; round++) {
    for (const [i] of levels.entries()) {
      const concurrency = levels[(i + round) % levels.length];
      const store = await Store.open(join(dir, `r${round}-c${concurrency}`));
      const layers = [];
      for (let l = 0; l < layerCount; l++) {
        const bytes = data.subarray(l * mbPerLayer * 1_000_000, (l + 1) * mbPerLayer * 1_000_000);
        const put = await store.putBlob(bytes);
        layers.push({ descriptor: { mediaType: MediaType.ociLayer, digest: put.digest, size: put.size }, diffId: put.digest });
      }
      const t0 = performance.now();
      const c0 = cpu();
      await exportLayers(store, layers, { compression, concurrency });
      const wall = (performance.now() - t0) / 1000;
      const used = cpu() - c0;
      const list = results.get(concurrency) ?? [];
      list.push({ wall, cpu: used });
      results.set(concurrency, list);
      rmSync(store.root, { recursive: true, force: true });
      console.error(`round ${round + 1} concurrency ${concurrency}: ${wall.toFixed(2)} s wall, ${used.toFixed(2)} s CPU (this process; zstd children not counted)`);
    }
  }
  const mb = (layerCount * mbPerLayer).toFixed(0);
  console.log(`${layerCount} layers x ${mbPerLayer} MB (${mb} MB), ${compression}, ${rounds} rounds, medians:`);
  console.log('| concurrency | wall | MB/s | CPU |');
  console.log('|---|---|---|---|');
  for (const c of levels) {
    const list = results.get(c) ?? [];
    const wall = median(list.map((r) => r.wall));
    console.log(`| ${c} | ${wall.toFixed(2)} s | ${(Number(mb) / wall).toFixed(0)} | ${median(list.map((r) => r.cpu)).toFixed(2)} s |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
