#!/usr/bin/env node
// ADD of a local tar.gz (extracted into the image) with strata against
// `buildah bud --layers --isolation chroot` (vfs storage) of the same
// Dockerfile on the same busybox base, and `tar -xzf` of the archive as the
// floor. Each round starts from an empty store / buildah root, so every build
// is cold (base image loaded beforehand, not timed for strata; buildah reads
// it from the OCI archive inside its timed build).
// usage: node bench/add-archive.mjs [FILES] [MIB] [ROUNDS]     (after `pnpm run build`; as root)
// Works on /dev/shm (STRATA_BENCH_DIR=/var/tmp to include the disk).
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const { Store } = await import('../packages/cache/dist/index.js');
const { build } = await import('../packages/builder/dist/index.js');

const files = Number(process.argv[2] ?? 4000);
const mib = Number(process.argv[3] ?? 128);
const rounds = Number(process.argv[4] ?? 3);
const images = process.env.STRATA_TEST_IMAGES ?? '/var/cache/strata/test-images';
const busybox = JSON.parse(readFileSync(join(images, 'images.json'), 'utf8')).images.find((i) => i.name === 'busybox' && i.platform.architecture === 'amd64');
if (busybox === undefined) throw new Error('run scripts/test-images first');
const work = mkdtempSync(join(process.env.STRATA_BENCH_DIR ?? '/dev/shm', 'strata-bench-add-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (ms) => `${ms.toFixed(0)} ms`;
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
};

async function loadBase(store) {
  const blob = (d) => join(busybox.layout, 'blobs', 'sha256', d.slice('sha256:'.length));
  const top = JSON.parse(readFileSync(join(busybox.layout, 'index.json'), 'utf8')).manifests[0];
  const manifest = JSON.parse(readFileSync(blob(top.digest), 'utf8'));
  for (const d of [manifest.config, ...manifest.layers, top]) await store.putBlob(createReadStream(blob(d.digest)), { expected: { digest: d.digest, size: d.size } });
  await store.tag('localhost/bench/busybox:latest', { mediaType: top.mediaType, digest: top.digest, size: top.size });
}

try {
  // a payload: FILES files in 40 folders, half random bytes, half text (compressible)
  const payload = join(work, 'payload');
  const each = Math.max(1, Math.floor((mib * 1048576) / files));
  for (let i = 0; i < files; i++) {
    const d = join(payload, `d${i % 40}`);
    if (i < 40) mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${i}`), i % 2 === 0 ? randomBytes(each) : Buffer.from(`line ${i} `.repeat(Math.ceil(each / 10)).slice(0, each)));
  }
  const context = join(work, 'ctx');
  mkdirSync(context);
  run('tar', ['-czf', join(context, 'payload.tgz'), '-C', payload, '.']);
  rmSync(payload, { recursive: true, force: true });
  const text = (from) => `FROM ${from}\nADD payload.tgz /opt/payload/\n`;

  const floor = [];
  const ours = [];
  const peer = [];
  for (let r = 0; r < rounds; r++) {
    const out = join(work, `x${r}`);
    mkdirSync(out);
    let t = performance.now();
    run('tar', ['-xzf', join(context, 'payload.tgz'), '-C', out]);
    floor.push(performance.now() - t);
    rmSync(out, { recursive: true, force: true });

    const store = await Store.open(join(work, `store${r}`));
    await loadBase(store);
    t = performance.now();
    await build({ store, context, dockerfileText: text('localhost/bench/busybox:latest'), tags: ['localhost/bench/add:1'] });
    ours.push(performance.now() - t);
    rmSync(join(work, `store${r}`), { recursive: true, force: true });

    const root = join(work, `buildah${r}`);
    writeFileSync(join(context, 'Dockerfile'), text(`oci-archive:${busybox.archive}`));
    t = performance.now();
    run('buildah', ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs', 'bud', '--layers', '--isolation', 'chroot', '-q', '-t', 'bench', context]);
    peer.push(performance.now() - t);
    spawnSync('buildah', ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs', 'rmi', '-a', '-f'], { stdio: 'ignore' });
    rmSync(root, { recursive: true, force: true });
  }
  console.log(`ADD of a ${mib} MiB tar.gz with ${files} files (median of ${rounds}, cold)`);
  console.log(`  tar -xzf (floor)        ${fmt(median(floor))}`);
  console.log(`  strata build            ${fmt(median(ours))}  (extract, layer tar + gzip, digests, store)`);
  console.log(`  buildah bud (vfs)       ${fmt(median(peer))}  (extract, layer diff, uncompressed store)`);
  console.log(`  ratio buildah/strata = ${(median(peer) / median(ours)).toFixed(2)}  (> 1: strata faster)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
