#!/usr/bin/env node
// RUN --mount=type=bind,from=<stage> against its usual alternative, COPY --from
// the stage then RUN, on the same source tree in the same run. A mount is an
// overlay of the source stage's snapshots: its cost should not grow with the
// source's size, while COPY --from copies, tars and compresses every byte into
// a layer. The source stage is built once and cached; each round rebuilds
// only the consuming stage (noCacheFilter), and the time is the sum of that
// stage's step durations from the build's events.
// usage: node bench/run-mount-from.mjs [FILES] [MIB] [ROUNDS]     (after `pnpm run build`; as root)
// Works on /dev/shm (STRATA_BENCH_DIR=/var/tmp to include the disk).
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const { Store } = await import('../packages/cache/dist/index.js');
const { build } = await import('../packages/builder/dist/index.js');

const files = Number(process.argv[2] ?? 500);
const mib = Number(process.argv[3] ?? 32);
const rounds = Number(process.argv[4] ?? 3);
const images = process.env.STRATA_TEST_IMAGES ?? '/var/cache/strata/test-images';
const busybox = JSON.parse(readFileSync(join(images, 'images.json'), 'utf8')).images.find((i) => i.name === 'busybox' && i.platform.architecture === 'amd64');
if (busybox === undefined) throw new Error('run scripts/test-images first');
const work = mkdtempSync(join(process.env.STRATA_BENCH_DIR ?? '/dev/shm', 'strata-bench-mount-from-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (ms) => `${ms.toFixed(0)} ms`;

async function loadBase(store) {
  const blob = (d) => join(busybox.layout, 'blobs', 'sha256', d.slice('sha256:'.length));
  const top = JSON.parse(readFileSync(join(busybox.layout, 'index.json'), 'utf8')).manifests[0];
  const manifest = JSON.parse(readFileSync(blob(top.digest), 'utf8'));
  for (const d of [manifest.config, ...manifest.layers, top]) await store.putBlob(createReadStream(blob(d.digest)), { expected: { digest: d.digest, size: d.size } });
  await store.tag('localhost/bench/busybox:latest', { mediaType: top.mediaType, digest: top.digest, size: top.size });
}

const kib = Math.max(1, Math.floor((mib * 1024) / files));
const source = [
  'FROM localhost/bench/busybox:latest AS src',
  `RUN mkdir /data && i=0; while [ $i -lt ${files} ]; do head -c ${kib}k /dev/urandom > /data/f$i; i=$((i+1)); done`,
].join('\n');
const variants = {
  mount: `${source}\nFROM localhost/bench/busybox:latest AS final\nRUN --mount=type=bind,from=src,source=/data,target=/d sh -c 'ls /d | wc -l > /count'\n`,
  copy: `${source}\nFROM localhost/bench/busybox:latest AS final\nCOPY --from=src /data /d\nRUN ls /d | wc -l > /count\n`,
};

/** Sum of the final stage's step durations (the source stage is cached). */
async function timeFinal(store, dockerfileText) {
  let ms = 0;
  await build({
    store,
    context: work,
    dockerfileText,
    noCacheFilter: ['final'],
    onEvent: (e) => {
      if (e.type === 'step-completed' && e.stage === 'final' && e.index > 1) ms += e.durationMs;
    },
  });
  return ms;
}

try {
  const store = await Store.open(join(work, 'store'));
  await loadBase(store);
  await build({ store, context: work, dockerfileText: `${source}\n`, target: 'src' });
  const times = { mount: [], copy: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, text] of Object.entries(variants)) times[name].push(await timeFinal(store, text));
  }
  console.log(`a stage reading a ${mib} MiB source stage of ${files} files (median of ${rounds}; source stage cached)`);
  console.log(`  RUN --mount=type=bind,from=src          ${fmt(median(times.mount))}`);
  console.log(`  COPY --from=src + RUN                   ${fmt(median(times.copy))}`);
  console.log(`  ratio copy/mount = ${(median(times.copy) / median(times.mount)).toFixed(2)}  (> 1: the mount is cheaper)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
