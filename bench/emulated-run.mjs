#!/usr/bin/env node
// What emulation costs a RUN-heavy build, and how strata compares with buildah
// under it (issue #7). One Dockerfile of RUN steps doing CPU-bound busybox
// shell loops, file churn (create, read, rename, delete many small files) and
// a gzip pipe, built from the busybox test image:
//   - for linux/arm64 on this x86-64 machine (every RUN through qemu-user), and
//   - for linux/amd64 natively,
// by strata (the builder library, a fresh store on /dev/shm, the base loaded
// untimed) and by `buildah bud --layers --isolation chroot` (vfs, a fresh
// --root/--runroot on /dev/shm, `FROM oci-archive:` of the same image, read
// inside its timed build). Every build is cold. It prints the strata/buildah
// ratio for each platform and each tool's emulation cost factor
// (arm64 time / amd64 time), with the load average, since the numbers are
// only comparable within one run.
// usage: node bench/emulated-run.mjs [ITERATIONS] [FILES] [ROUNDS]
//   (after `pnpm run build`; as root; qemu-aarch64 registered with the F flag, as scripts/bootstrap does)
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const { Store } = await import('../packages/cache/dist/index.js');
const { build } = await import('../packages/builder/dist/index.js');

const iterations = Number(process.argv[2] ?? 30000);
const files = Number(process.argv[3] ?? 400);
const rounds = Number(process.argv[4] ?? 1);
const images = JSON.parse(readFileSync(join(process.env.STRATA_TEST_IMAGES ?? '/var/cache/strata/test-images', 'images.json'), 'utf8')).images;
const work = mkdtempSync(join(process.env.STRATA_BENCH_DIR ?? '/dev/shm', 'strata-bench-emul-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (ms) => `${(ms / 1000).toFixed(1)} s`;
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

const dockerfile = (from) =>
  `FROM ${from}\n` +
  // CPU-bound: the shell's own arithmetic, no exec per iteration
  `RUN uname -m && i=0; s=0; while [ $i -lt ${iterations} ]; do s=$(( (s + i * i) % 9973 )); i=$((i + 1)); done; echo $s > /loop\n` +
  // file churn: a process per file (exec and fork are what qemu-user makes dear)
  `RUN mkdir /churn && cd /churn && i=0; while [ $i -lt ${files} ]; do echo "$i" > f$i; i=$((i + 1)); done; ` +
  `for f in f*; do cat $f > /dev/null; mv $f $f.old; done; rm -f f*1.old; ls | wc -l > /churn.count\n` +
  `RUN dd if=/dev/zero bs=1M count=16 2>/dev/null | gzip -1 | md5sum > /gz && sort -r /churn.count /loop > /summary\n`;

function image(arch) {
  const found = images.find((i) => i.name === 'busybox' && i.platform.architecture === arch);
  if (found === undefined) throw new Error(`no busybox ${arch} test image: run scripts/test-images first`);
  return found;
}

async function loadBase(store, arch, ref) {
  const img = image(arch);
  const blob = (d) => join(img.layout, 'blobs', 'sha256', d.slice('sha256:'.length));
  const top = JSON.parse(readFileSync(join(img.layout, 'index.json'), 'utf8')).manifests[0];
  const manifest = JSON.parse(readFileSync(blob(top.digest), 'utf8'));
  for (const d of [manifest.config, ...manifest.layers, top]) await store.putBlob(createReadStream(blob(d.digest)), { expected: { digest: d.digest, size: d.size } });
  await store.tag(ref, { mediaType: top.mediaType, digest: top.digest, size: top.size });
}

/** One cold strata build; returns ms and what `uname -m` said in the first RUN. */
async function strata(arch, round) {
  const store = await Store.open(join(work, `store-${arch}-${round}`));
  const ref = `localhost/bench/busybox:${arch}`;
  await loadBase(store, arch, ref);
  const context = join(work, 'ctx');
  let machine = '?';
  const t = performance.now();
  await build({
    store,
    context,
    dockerfileText: dockerfile(ref),
    platform: `linux/${arch}`,
    tags: [`localhost/bench/emulated:${arch}`],
    onEvent: (e) => {
      if (e.type === 'step-log' && /^(x86_64|aarch64)$/.test(e.text.trim())) machine = e.text.trim();
    },
  });
  const ms = performance.now() - t;
  rmSync(join(work, `store-${arch}-${round}`), { recursive: true, force: true });
  return { ms, machine };
}

/** One cold buildah build of the same Dockerfile from the image's OCI archive. */
function buildah(arch, round) {
  const root = join(work, `buildah-${arch}-${round}`);
  const context = join(work, `ctx-buildah-${arch}`);
  mkdirSync(context, { recursive: true });
  writeFileSync(join(context, 'Dockerfile'), dockerfile(`oci-archive:${image(arch).archive}`));
  const b = ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs'];
  const t = performance.now();
  const r = spawnSync('buildah', [...b, 'bud', '--layers', '--isolation', 'chroot', '--platform', `linux/${arch}`, '-t', `localhost/bench/emulated:${arch}`, context], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`buildah bud (${arch}): ${r.stderr}`);
  const machine = `${r.stdout}\n${r.stderr}`.split('\n').find((l) => /^(x86_64|aarch64)$/.test(l.trim()))?.trim() ?? '?';
  spawnSync('buildah', [...b, 'rmi', '-a', '-f'], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
  return { ms, machine };
}

try {
  mkdirSync(join(work, 'ctx'));
  const before = load();
  const times = { strata: { arm64: [], amd64: [] }, buildah: { arm64: [], amd64: [] } };
  const machines = new Set();
  for (let r = 0; r < rounds; r++) {
    for (const arch of ['arm64', 'amd64']) {
      const s = await strata(arch, r);
      times.strata[arch].push(s.ms);
      machines.add(`strata ${arch}: ${s.machine}`);
      const p = buildah(arch, r);
      times.buildah[arch].push(p.ms);
      machines.add(`buildah ${arch}: ${p.machine}`);
    }
  }
  const m = (tool, arch) => median(times[tool][arch]);
  console.log(`3 RUN steps (shell loop of ${iterations}, churn of ${files} files, gzip of 16 MiB) on busybox, cold builds, median of ${rounds}`);
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}; load average before ${before}, after ${load()}`);
  console.log(`uname -m in the first RUN: ${[...machines].join(', ')}`);
  console.log(`                 linux/arm64 (qemu)   linux/amd64 (native)   emulation cost (arm64/amd64)`);
  for (const tool of ['strata', 'buildah']) {
    console.log(`  ${tool.padEnd(14)} ${fmt(m(tool, 'arm64')).padStart(10)}           ${fmt(m(tool, 'amd64')).padStart(10)}             ${(m(tool, 'arm64') / m(tool, 'amd64')).toFixed(2)}x`);
  }
  console.log(`  ratio strata/buildah: emulated ${(m('strata', 'arm64') / m('buildah', 'arm64')).toFixed(2)}, native ${(m('strata', 'amd64') / m('buildah', 'amd64')).toFixed(2)}  (< 1: strata faster)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
