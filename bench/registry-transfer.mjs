#!/usr/bin/env node
// Push and pull of a 10-layer, ~500 MB image against the reference registry:
// `strata push` / `strata pull` (bin/strata of this checkout, as a user runs
// them) next to `skopeo copy` in the same run, alternating which goes first.
// Every run starts from empty registry storage (a fresh docker-registry per
// run) and, for pulls, an empty store / OCI layout. Prints seconds per run,
// medians and the strata/skopeo ratios of the medians (< 1: strata faster).
//
//   pnpm run build && node bench/registry-transfer.mjs [--layers 10] [--size 50000000] [--reps 3] [--compressible 0.2] [--profile DIR]
//
// --profile DIR writes a V8 CPU profile of each strata run into DIR (node
// --cpu-prof; open it in Chrome DevTools or summarize it with
// bench/cpuprofile-top.mjs). Where /usr/bin/time exists, the CPU seconds
// (user + system) of each run are printed too: on a loaded machine they say
// more about the work done than wall-clock time does.
//
// The image is built in a temp strata store: each layer a real tar holding a
// file of random (incompressible) bytes and a text file of repetitive
// (compressible) lines, `--compressible` of the layer's bytes, gzipped. skopeo
// pushes from the same store (it is an OCI layout) and pulls into an OCI
// layout on the same filesystem as strata's store. Works under
// $STRATA_BENCH_DIR (default /dev/shm, else the temp folder; set it to a
// folder on disk to count fsync) and removes what it made.
// Needs docker-registry and skopeo (scripts/bootstrap installs both).
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const strataBin = join(repo, 'bin', 'strata');
const { Store } = await import(join(repo, 'packages', 'cache', 'dist', 'index.js'));

const { values } = parseArgs({
  options: {
    layers: { type: 'string' }, size: { type: 'string' }, reps: { type: 'string' }, compressible: { type: 'string' }, profile: { type: 'string' },
  },
});
const LAYERS = Number(values.layers ?? 10);
const SIZE = Number(values.size ?? 50_000_000);
const REPS = Number(values.reps ?? 3);
const COMPRESSIBLE = Number(values.compressible ?? 0.2);
const PROFILE = values.profile;
if (PROFILE !== undefined) mkdirSync(PROFILE, { recursive: true });

const base = process.env.STRATA_BENCH_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const root = mkdtempSync(join(base, 'strata-bench-registry-'));
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const freePort = () => new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});

/** A docker-registry with empty storage; resolves its host and a stop function. */
async function startRegistry(name) {
  const dir = join(root, name);
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${dir}/storage`, 'http:', `  addr: 127.0.0.1:${port}`, '',
  ].join('\n'));
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  children.add(child);
  const stop = async () => {
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill();
    });
    children.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) return { host: `127.0.0.1:${port}`, stop };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('docker-registry did not start');
}

/** A ustar header for a regular file (names < 100 bytes). */
function tarHeader(name, size) {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write(`${(1704067200).toString(8).padStart(11, '0')}\0`, 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\x0000', 257);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

function tarFile(name, data) {
  const pad = (512 - (data.length % 512)) % 512;
  return [tarHeader(name, data.length), data, Buffer.alloc(pad)];
}

/** One layer: random bytes plus repetitive text, as a gzipped tar. */
function makeLayer(i) {
  const textBytes = Math.round(SIZE * COMPRESSIBLE);
  const line = `layer ${i}: lorem ipsum dolor sit amet, consectetur adipiscing elit ${'='.repeat(20)}\n`;
  const text = Buffer.from(line.repeat(Math.ceil(textBytes / line.length))).subarray(0, textBytes);
  const tar = Buffer.concat([
    ...tarFile(`layer${i}/random.bin`, randomBytes(SIZE - textBytes)),
    ...tarFile(`layer${i}/notes.txt`, text),
    Buffer.alloc(1024),
  ]);
  return { diffId: sha(tar), gz: gzipSync(tar, { level: 1 }) };
}

// ---- the image, in a temp strata store ----------------------------------------
const source = join(root, 'source');
const store = await Store.open(source);
const diffIds = [];
const layerDescs = [];
for (let i = 0; i < LAYERS; i++) {
  const { diffId, gz } = makeLayer(i);
  diffIds.push(diffId);
  const put = await store.putBlob(gz);
  layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put.digest, size: put.size });
}
const config = await store.putJson({
  architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z',
  config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds },
}, 'application/vnd.oci.image.config.v1+json');
const manifest = await store.putJson({
  schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: layerDescs,
}, 'application/vnd.oci.image.manifest.v1+json');
const IMAGE = 'localhost/bench/transfer:1';
await store.tag(IMAGE, manifest);
const bytes = layerDescs.reduce((n, l) => n + l.size, 0);

// ---- runs ---------------------------------------------------------------------
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const cpu = { strataPush: [], skopeoPush: [], strataPull: [], skopeoPull: [] };
let lastCpu;
/** Runs a command; returns wall seconds and leaves its CPU seconds in lastCpu (when /usr/bin/time exists). */
const run = (cmd, args, env = {}) => {
  const start = process.hrtime.bigint();
  const cpuFile = join(root, 'cpu.txt');
  const [file, argv] = TIME === undefined ? [cmd, args] : [TIME, ['-f', '%U %S', '-o', cpuFile, cmd, ...args]];
  execFileSync(file, argv, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  lastCpu = TIME === undefined ? undefined : readFileSync(cpuFile, 'utf8').trim().split(/\s+/).map(Number).reduce((a, b) => a + b, 0);
  return wall;
};
const strata = (args, storeRoot) => run(process.execPath, [...(PROFILE === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`]), strataBin, ...args], { STRATA_ROOT: storeRoot });
const skopeo = (...args) => run('skopeo', ['--insecure-policy', 'copy', '-q', ...args]);

const times = { strataPush: [], skopeoPush: [], strataPull: [], skopeoPull: [] };
for (let rep = 0; rep < REPS; rep++) {
  // push: each into an empty registry
  const pushes = [
    ['strataPush', async () => {
      const r = await startRegistry(`push-strata-${rep}`);
      execFileSync(process.execPath, [strataBin, 'tag', IMAGE, `${r.host}/bench/img:1`], { env: { ...process.env, STRATA_ROOT: source } });
      const t = strata(['push', '-q', `${r.host}/bench/img:1`], source);
      execFileSync(process.execPath, [strataBin, 'rmi', `${r.host}/bench/img:1`], { stdio: 'ignore', env: { ...process.env, STRATA_ROOT: source } });
      await r.stop();
      return t;
    }],
    ['skopeoPush', async () => {
      const r = await startRegistry(`push-skopeo-${rep}`);
      const t = skopeo('--dest-tls-verify=false', `oci:${source}:${IMAGE}`, `docker://${r.host}/bench/img:1`);
      await r.stop();
      return t;
    }],
  ];
  // pull: from a registry that holds the image, into an empty store / layout
  const registry = await startRegistry(`pull-${rep}`);
  skopeo('--dest-tls-verify=false', `oci:${source}:${IMAGE}`, `docker://${registry.host}/bench/img:1`);
  const pulls = [
    ['strataPull', async () => {
      const dest = join(root, `pull-strata-${rep}`);
      const t = strata(['pull', '-q', '--platform', 'linux/amd64', `${registry.host}/bench/img:1`], dest);
      rmSync(dest, { recursive: true, force: true });
      return t;
    }],
    ['skopeoPull', async () => {
      const dest = join(root, `pull-skopeo-${rep}`);
      const t = skopeo('--src-tls-verify=false', `docker://${registry.host}/bench/img:1`, `oci:${dest}:x`);
      rmSync(dest, { recursive: true, force: true });
      return t;
    }],
  ];
  for (const [name, f] of [...(rep % 2 === 0 ? pushes : pushes.reverse()), ...(rep % 2 === 0 ? pulls : pulls.reverse())]) {
    times[name].push(await f());
    if (lastCpu !== undefined) cpu[name].push(lastCpu);
  }
  await registry.stop();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x) => Number(x.toFixed(2));
console.log(JSON.stringify({
  dir: base,
  layers: LAYERS,
  compressedBytes: bytes,
  seconds: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map(round)])),
  median: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, round(median(v))])),
  pushRatio: round(median(times.strataPush) / median(times.skopeoPush)),
  pullRatio: round(median(times.strataPull) / median(times.skopeoPull)),
  ...(TIME === undefined ? {} : {
    cpuSeconds: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v.map(round)])),
    pushCpuRatio: round(median(cpu.strataPush) / median(cpu.skopeoPush)),
    pullCpuRatio: round(median(cpu.strataPull) / median(cpu.skopeoPull)),
  }),
}, null, 2));
process.exit(0);
