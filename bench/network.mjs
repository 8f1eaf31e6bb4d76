#!/usr/bin/env node
// What a RUN's own network costs: a build of N trivial RUN steps (--no-cache,
// so every step runs) with `--network default` (a namespace and a pasta per
// RUN), `--network host` (what every RUN was before) and `--network none`,
// timed as whole commands by hyperfine in one run, with Buildah (`bud
// --isolation chroot`, which runs RUN in the host's network) as the peer.
// Prints the added milliseconds per RUN (target: <= 30 ms).
// usage: node bench/network.mjs [--steps 20] [--runs 5]     (after `pnpm run build`; as root)
// The store and context are on /dev/shm (STRATA_BENCH_DIR to change).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '20' }, runs: { type: 'string', default: '5' } } });
const steps = Number(values.steps);
const runs = Number(values.runs);
const strata = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'bin', 'strata');
const images = process.env.STRATA_TEST_IMAGES ?? '/var/cache/strata/test-images';
const busybox = JSON.parse(readFileSync(join(images, 'images.json'), 'utf8')).images.find((i) => i.name === 'busybox' && i.platform.architecture === 'amd64');
if (busybox === undefined) throw new Error('run scripts/test-images first');
const work = mkdtempSync(join(process.env.STRATA_BENCH_DIR ?? '/dev/shm', 'strata-bench-network-'));
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

try {
  const store = join(work, 'store');
  const env = { ...process.env, STRATA_ROOT: store };
  execFileSync(strata, ['load', '--name', 'localhost/bench/busybox:1.0', '-i', busybox.archive], { env, stdio: 'ignore' });
  const ctx = join(work, 'ctx');
  mkdirSync(ctx);
  const lines = ['FROM localhost/bench/busybox:1.0'];
  for (let i = 0; i < steps; i += 1) lines.push(`RUN echo ${i} > /f${i}`);
  writeFileSync(join(ctx, 'Dockerfile'), `${lines.join('\n')}\n`);

  const commands = {
    default: `${strata} build -q --no-cache --network default ${ctx}`,
    host: `${strata} build -q --no-cache --network host ${ctx}`,
    none: `${strata} build -q --no-cache --network none ${ctx}`,
  };
  if (has('buildah') && has('skopeo')) {
    // the same base for the peer, in its own storage
    const root = join(work, 'buildah');
    const b = (args) => execFileSync('buildah', ['--root', root, '--runroot', join(work, 'buildah-run'), '--storage-driver', 'overlay', ...args], { stdio: 'ignore' });
    b(['pull', `oci-archive:${busybox.archive}`]);
    const id = execFileSync('buildah', ['--root', root, '--runroot', join(work, 'buildah-run'), '--storage-driver', 'overlay', 'images', '-q']).toString().trim().split('\n')[0];
    b(['tag', id, 'localhost/bench/busybox:1.0']);
    commands['buildah (host network)'] =
      `buildah --root ${root} --runroot ${join(work, 'buildah-run')} --storage-driver overlay bud --quiet --layers --no-cache --isolation chroot ${ctx}`;
  }
  const json = join(work, 'hyperfine.json');
  const args = ['-N', '--warmup', '1', '--runs', String(runs), '--export-json', json];
  for (const [name, cmd] of Object.entries(commands)) args.push('-n', name, cmd);
  execFileSync('hyperfine', args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const results = Object.fromEntries(JSON.parse(readFileSync(json, 'utf8')).results.map((r) => [r.command, r]));
  const mean = (name) => results[name].mean;
  console.log(`${steps} trivial RUN steps, --no-cache, mean of ${runs} (hyperfine -N)`);
  for (const name of Object.keys(commands)) {
    const r = results[name];
    console.log(`  ${name.padEnd(24)} ${r.mean.toFixed(3)} s ± ${r.stddev.toFixed(3)}   ${(r.mean / mean('host')).toFixed(2)}x host`);
  }
  const added = ((mean('default') - mean('host')) / steps) * 1000;
  console.log(`  added per RUN by its own network: ${added.toFixed(1)} ms (target <= 30 ms)`);
  if (results['buildah (host network)'] !== undefined) console.log(`  strata default / buildah: ${(mean('default') / mean('buildah (host network)')).toFixed(2)}x`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
