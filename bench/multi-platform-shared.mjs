#!/usr/bin/env node
// The cross-compile pattern with --platform linux/amd64,linux/arm64: a
// FROM --platform=$BUILDPLATFORM stage does CPU work (MIB MiB through gzip)
// and each target image copies its result. strata runs that stage once, on
// the build machine, and the arm64 target finds its steps in the cache;
// `buildah bud --platform linux/amd64,linux/arm64 --manifest` (1.28, vfs, chroot) of the same
// Dockerfile, from the same two busybox images as an OCI archive with an index, is the peer.
// Every round is cold: a fresh store / buildah root (the base is loaded into
// strata's store untimed; buildah reads the archive inside its timed build).
// usage: node bench/multi-platform-shared.mjs [MIB] [ROUNDS]    (after `pnpm run build`; as root, qemu-aarch64 registered)
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const { MediaType, Store, saveImages } = await import('../packages/cache/dist/index.js');
const { build } = await import('../packages/builder/dist/index.js');

const mib = Number(process.argv[2] ?? 64);
const rounds = Number(process.argv[3] ?? 1);
const images = JSON.parse(readFileSync(join(process.env.STRATA_TEST_IMAGES ?? '/var/cache/strata/test-images', 'images.json'), 'utf8')).images;
const work = mkdtempSync(join(process.env.STRATA_BENCH_DIR ?? '/dev/shm', 'strata-bench-multi-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (ms) => `${(ms / 1000).toFixed(1)} s`;
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return `${r.stdout}\n${r.stderr}`;
};

/** Both busybox images under one index tag; returns the index descriptor. */
async function loadBase(store) {
  const manifests = [];
  for (const arch of ['amd64', 'arm64']) {
    const image = images.find((i) => i.name === 'busybox' && i.platform.architecture === arch);
    if (image === undefined) throw new Error('run scripts/test-images first');
    const blob = (d) => join(image.layout, 'blobs', 'sha256', d.slice('sha256:'.length));
    const top = JSON.parse(readFileSync(join(image.layout, 'index.json'), 'utf8')).manifests[0];
    const manifest = JSON.parse(readFileSync(blob(top.digest), 'utf8'));
    for (const d of [manifest.config, ...manifest.layers, top]) await store.putBlob(createReadStream(blob(d.digest)), { expected: { digest: d.digest, size: d.size } });
    const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8'));
    manifests.push({ mediaType: top.mediaType, digest: top.digest, size: top.size, platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) } });
  }
  const index = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }, MediaType.ociIndex);
  await store.tag('localhost/bench/busybox:multi', index);
  return index;
}

const text = (from) =>
  `FROM --platform=$BUILDPLATFORM ${from} AS compile\n` +
  `RUN dd if=/dev/zero bs=1M count=${mib} 2>/dev/null | gzip -1 | md5sum > /artifact && uname -m >> /artifact\n` +
  `FROM ${from}\nCOPY --from=compile /artifact /artifact\nRUN tail -n 1 /artifact\n`;

try {
  const context = join(work, 'ctx');
  mkdirSync(context);
  // the peer's base: the same index as an OCI archive, written by strata's exporter
  const archive = join(work, 'busybox-multi.tar');
  {
    const store = await Store.open(join(work, 'archive-store'));
    await saveImages(store, [{ name: 'localhost/bench/busybox:multi', descriptor: await loadBase(store) }], archive, { format: 'oci' });
    rmSync(join(work, 'archive-store'), { recursive: true, force: true });
  }
  const ours = [];
  const peer = [];
  let compileRuns = 0;
  let peerCompiledOn = '';
  const oursCompiledOn = new Set();
  for (let r = 0; r < rounds; r++) {
    const store = await Store.open(join(work, `store${r}`));
    await loadBase(store);
    let t = performance.now();
    await build({
      store,
      context,
      dockerfileText: text('localhost/bench/busybox:multi'),
      platform: 'linux/amd64,linux/arm64',
      tags: ['localhost/bench/multi:1'],
      onEvent: (e) => {
        if (e.type === 'step-completed' && e.stage.endsWith(' compile') && e.index === 2) compileRuns += 1;
        if (e.type === 'step-log' && /^(x86_64|aarch64)$/.test(e.text.trim())) oursCompiledOn.add(e.text.trim());
      },
    });
    ours.push(performance.now() - t);
    rmSync(join(work, `store${r}`), { recursive: true, force: true });

    const root = join(work, `buildah${r}`);
    const b = ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs'];
    writeFileSync(join(context, 'Dockerfile'), text(`oci-archive:${archive}`));
    t = performance.now();
    const log = run('buildah', [...b, 'bud', '--layers', '--isolation', 'chroot', '--platform', 'linux/amd64,linux/arm64', '--manifest', 'localhost/bench/multi:1', context]);
    peer.push(performance.now() - t);
    peerCompiledOn = log.split('\n').filter((l) => /^(x86_64|aarch64)$/.test(l.trim())).join('+');
    spawnSync('buildah', [...b, 'rmi', '-a', '-f'], { stdio: 'ignore' });
    rmSync(root, { recursive: true, force: true });
  }
  console.log(`--platform linux/amd64,linux/arm64, a $BUILDPLATFORM stage gzipping ${mib} MiB (median of ${rounds}, cold)`);
  console.log(`  strata build       ${fmt(median(ours))}  (compile stage ran ${compileRuns / rounds}x per build; the images' artifacts say ${[...oursCompiledOn].join('+')})`);
  console.log(`  buildah bud        ${fmt(median(peer))}  (the images' artifacts say ${peerCompiledOn || '?'})`);
  console.log(`  ratio buildah/strata = ${(median(peer) / median(ours)).toFixed(2)}  (> 1: strata faster)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
