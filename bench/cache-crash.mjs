#!/usr/bin/env node
// Crash trials for the store: start tests/support/cache-worker.mjs in one of
// five modes (blob, tag, record, snapshot, mixed), SIGKILL it after a random
// delay, then open the store, run verify, check every image and record that
// any worker reported as done, and take the index lock again. Prints a summary;
// exits 1 on the first inconsistency.
// usage: node bench/cache-crash.mjs [TRIALS] [SEED]     (after `pnpm run build`)
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const here = dirname(fileURLToPath(import.meta.url));
const { Store, MediaType, verifyStore } = await import('../packages/cache/dist/index.js');
const WORKER = join(here, '..', 'tests', 'support', 'cache-worker.mjs');

const trials = Number(process.argv[2] ?? 200);
let seed = Number(process.argv[3] ?? 42);
const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const modes = ['blob', 'tag', 'record', 'snapshot', 'mixed'];
const ROTATE = 50; // a fresh store every ROTATE trials keeps verify's re-hash bounded

async function layersFor(store, work) {
  const digests = [];
  for (let i = 0; i < 3; i++) {
    const dir = join(work, `layer${i}`);
    mkdirSync(join(dir, 'etc', 'deep'), { recursive: true });
    for (let f = 0; f < 150; f++) writeFileSync(join(dir, 'etc', 'deep', `f${f}`), `layer ${i} file ${f}\n`.repeat(f % 13 + 1));
    spawnSync('tar', ['-czf', join(work, `l${i}.tgz`), '-C', dir, '.']);
    digests.push((await store.putBlob(createReadStream(join(work, `l${i}.tgz`)))).digest);
  }
  return digests;
}

function runWorker(root, mode, id, layers) {
  const child = spawn(process.execPath, [WORKER, root, mode, id], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STRATA_TEST_LAYERS: layers.join(',') } });
  let out = '';
  let err = '';
  let onReady;
  const ready = new Promise((r) => (onReady = r));
  child.stdout.on('data', (c) => {
    out += c;
    if (out.includes('READY\n')) onReady();
  });
  child.stderr.on('data', (c) => (err += c));
  const exited = new Promise((r) => child.on('exit', (code, signal) => setImmediate(() => r({ code, signal, err, lines: out.split('\n').filter((l) => l && l !== 'READY') }))));
  return { child, ready, exited };
}

const started = performance.now();
const stats = { trials: 0, midWrite: 0, tagsChecked: 0, recordsChecked: 0, blobsChecked: 0, lockTakeovers: 0, byMode: Object.fromEntries(modes.map((m) => [m, 0])) };
let work;
let root;
let layers;
let tagged;
let records;
let blobs;
const fail = (msg) => {
  console.error(`FAIL after ${stats.trials} trials: ${msg}`);
  process.exit(1);
};

for (let trial = 0; trial < trials; trial++) {
  if (trial % ROTATE === 0) {
    if (work) rmSync(work, { recursive: true, force: true });
    work = mkdtempSync('/dev/shm/strata-crash-bench-');
    root = join(work, 'store');
    layers = await layersFor(await Store.open(root), work);
    tagged = new Map();
    records = new Map();
    blobs = new Map();
  }
  const mode = modes[trial % modes.length];
  const w = runWorker(root, mode, `t${trial}`, layers);
  await w.ready;
  await new Promise((r) => setTimeout(r, 2 + random() * 200));
  w.child.kill('SIGKILL');
  const exit = await w.exited;
  if (exit.signal !== 'SIGKILL' || exit.err !== '') fail(`worker ended ${exit.code}/${exit.signal}: ${exit.err}`);
  for (const line of exit.lines) {
    const [kind, a, b] = line.split(' ');
    if (kind === 'TAG') tagged.set(a, b);
    if (kind === 'RECORD') records.set(a, b);
    if (kind === 'BLOB') blobs.set(a, Number(b));
  }
  let swept = 0;
  const store = await Store.open(root, { lockTimeoutMs: 10_000, onEvent: (e) => { if (e.type === 'tmp-swept') swept += e.count; if (e.type === 'lock-broken') stats.lockTakeovers += 1; } });
  if (swept > 0) stats.midWrite += 1;
  const report = await verifyStore(store);
  if (!report.ok) fail(`verify: ${JSON.stringify(report.problems)}`);
  for (const [ref, digest] of tagged) {
    const d = await store.resolve(ref);
    if (d.digest !== digest) fail(`${ref} points at ${d.digest}, expected ${digest}`);
    const walk = await store.imageBlobs(d);
    if (walk.missing.length > 0) fail(`${ref} misses ${walk.missing}`);
    for (const b of walk.blobs.keys()) await store.readBlob(b);
    stats.tagsChecked += 1;
  }
  for (const [key, digest] of records) {
    if ((await store.getCacheRecord(key))?.layer?.digest !== digest) fail(`record ${key} lost`);
    stats.recordsChecked += 1;
  }
  for (const [digest, size] of blobs) {
    if ((await store.readBlob(digest)).length !== size) fail(`blob ${digest} has the wrong size`);
    stats.blobsChecked += 1;
  }
  const config = await store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, trial }, MediaType.ociConfig);
  const probe = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [] }, MediaType.ociManifest);
  tagged.set(await store.tag(`probe/crash:${trial}`, probe), probe.digest);
  if (readdirSync(join(root, 'tmp')).length > 0) fail(`temp files left: ${readdirSync(join(root, 'tmp'))}`);
  stats.trials += 1;
  stats.byMode[mode] += 1;
}
rmSync(work, { recursive: true, force: true });
const seconds = (performance.now() - started) / 1000;
console.log(`crash trials: ${stats.trials} (${Object.entries(stats.byMode).map(([m, n]) => `${m} ${n}`).join(', ')}), all consistent`);
console.log(`  kills that left an in-flight write behind (swept on open): ${stats.midWrite}`);
console.log(`  stale index locks taken over: ${stats.lockTakeovers}`);
console.log(`  checks after kills: ${stats.tagsChecked} tagged images, ${stats.recordsChecked} cache records, ${stats.blobsChecked} blobs`);
console.log(`  ${seconds.toFixed(1)} s, ${(seconds / stats.trials * 1000).toFixed(0)} ms per trial`);
