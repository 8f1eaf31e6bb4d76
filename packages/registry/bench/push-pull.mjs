#!/usr/bin/env node
// Push and pull of an image (default 10 layers of ~50 MB, incompressible)
// against the reference registry, strata (@strata/registry + @strata/cache)
// next to `skopeo copy` in the same run, alternating, each on its own
// registry instance. Prints seconds per run and the strata/skopeo ratios.
//
//   pnpm run build && node packages/registry/bench/push-pull.mjs [--layers N] [--size BYTES] [--reps N]
//
// Needs docker-registry and skopeo (scripts/bootstrap installs both). Works in
// a scratch folder under /dev/shm (or TMPDIR) and removes it.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const { Store } = await import(join(here, '..', '..', 'cache', 'dist', 'index.js'));
const { RegistryClient, parsePlatform, pullImage, pushImage } = await import(join(here, '..', 'dist', 'index.js'));

const { values } = parseArgs({ options: { layers: { type: 'string' }, size: { type: 'string' }, reps: { type: 'string' } } });
const LAYERS = Number(values.layers ?? 10);
const SIZE = Number(values.size ?? 50_000_000);
const REPS = Number(values.reps ?? 2);

const root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'strata-bench-'));
const children = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const seconds = async (f) => {
  const start = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - start) / 1e9;
};
const freePort = () => new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});

async function startRegistry(name) {
  const dir = join(root, name);
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${dir}/storage`, 'http:', `  addr: 127.0.0.1:${port}`, '',
  ].join('\n'));
  children.push(spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' }));
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/v2/`)).ok) return `127.0.0.1:${port}`;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('docker-registry did not start');
}

// The image: real gzip streams so skopeo copies them as they are.
const layers = [];
const diffIds = [];
for (let i = 0; i < LAYERS; i++) {
  const raw = randomBytes(SIZE);
  diffIds.push(sha(raw));
  layers.push(gzipSync(raw, { level: 1 }));
}
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
const manifest = Buffer.from(JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
  layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(l), size: l.length })),
}));
const bytes = layers.reduce((n, l) => n + l.length, 0);
const layout = join(root, 'layout');
mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
const store = await Store.open(join(root, 'store'));
for (const blob of [...layers, config, manifest]) {
  writeFileSync(join(layout, 'blobs', 'sha256', sha(blob).slice(7)), blob);
  await store.putBlob(blob);
}
layers.length = 0;
writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{
  mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length,
  annotations: { 'org.opencontainers.image.ref.name': 'bench' },
}] }));
await store.tag('localhost/bench:1', { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length });

const skopeo = (...args) => execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', ...args]);
const runs = { strataPush: [], skopeoPush: [], strataPull: [], skopeoPull: [] };
for (let rep = 0; rep < REPS; rep++) {
  const [a, b] = [await startRegistry(`a${rep}`), await startRegistry(`b${rep}`)];
  const client = new RegistryClient({ credentials: async () => undefined });
  const pushes = [
    ['strataPush', () => pushImage(store, `${a}/bench/img:1`, { client, source: 'localhost/bench:1' })],
    ['skopeoPush', () => skopeo('--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${b}/bench/img:1`)],
  ];
  const pulls = [
    ['strataPull', async () => pullImage(await Store.open(join(root, `pull-${rep}`)), `${a}/bench/img:1`, {
      client: new RegistryClient({ credentials: async () => undefined }), platform: parsePlatform('linux/amd64'),
    })],
    ['skopeoPull', () => skopeo('--src-tls-verify=false', `docker://${b}/bench/img:1`, `oci:${join(root, `pull-layout-${rep}`)}:x`)],
  ];
  for (const [name, run] of rep % 2 === 0 ? pushes : pushes.reverse()) runs[name].push(await seconds(run));
  for (const [name, run] of rep % 2 === 0 ? pulls : pulls.reverse()) runs[name].push(await seconds(run));
  rmSync(join(root, `pull-${rep}`), { recursive: true, force: true });
  rmSync(join(root, `pull-layout-${rep}`), { recursive: true, force: true });
}
const sum = (xs) => xs.reduce((n, x) => n + x, 0);
console.log(JSON.stringify({
  layers: LAYERS,
  bytes,
  seconds: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map((x) => Number(x.toFixed(2)))])),
  pushRatio: Number((sum(runs.strataPush) / sum(runs.skopeoPush)).toFixed(2)),
  pullRatio: Number((sum(runs.strataPull) / sum(runs.skopeoPull)).toFixed(2)),
}, null, 2));
await Promise.all(children.map((child) => new Promise((resolve) => {
  child.once('exit', resolve);
  child.kill();
})));
process.exit(0);
