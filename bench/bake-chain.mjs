#!/usr/bin/env node
// strata bake of a 5-target chain (each target FROM ${BASE_IMAGE}, the
// previous target's tag: jetson-containers' shape) against the same five
// builds as five `strata build` invocations in a row, and against BuildKit:
// `docker buildx bake` when the docker here has buildx, otherwise five
// `docker build` calls (DOCKER_BUILDKIT=1) on Debian's dockerd started by the
// script. Cold (fresh store / pruned build cache, the base loaded) and
// all-cached (the same again at once), alternating which tool goes first.
// usage: node bench/bake-chain.mjs [--reps 3] [--files 300]   (after `pnpm run build`; as root)
// STRATA_BENCH_DIR chooses where it works (default /var/tmp: a disk).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startDockerd } from './lib/dockerd.mjs';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '3' }, files: { type: 'string', default: '300' } } });
const reps = Number(values.reps);
const files = Number(values.files);
const repo = resolve(import.meta.dirname, '..');
const strata = join(repo, 'bin', 'strata');
const images = process.env.STRATA_TEST_IMAGES ?? '/var/cache/strata/test-images';
const busybox = JSON.parse(readFileSync(join(images, 'images.json'), 'utf8')).images.find((i) => i.name === 'busybox' && i.platform.architecture === 'amd64');
if (busybox === undefined) throw new Error('run scripts/test-images first');
const work = mkdtempSync(join(process.env.STRATA_BENCH_DIR ?? '/var/tmp', 'strata-bench-bake-'));
const BASE = 'localhost/bench/busybox:latest';
const TARGETS = ['t1', 't2', 't3', 't4', 't5'];
const tagOf = (t) => `localhost/bench/chain-${t}:1`;
const baseOf = (i) => (i === 0 ? BASE : tagOf(TARGETS[i - 1]));

// each target: a file of its own copied in, a RUN writing `files` small files and summing them
for (const [i, t] of TARGETS.entries()) {
  mkdirSync(join(work, t), { recursive: true });
  writeFileSync(join(work, t, 'input.txt'), `${t}\n`.repeat(1000));
  writeFileSync(
    join(work, t, 'Dockerfile'),
    [
      'ARG BASE_IMAGE',
      'FROM ${BASE_IMAGE}',
      `COPY input.txt /${t}/input.txt`,
      `RUN mkdir -p /${t}/out && i=0; while [ $i -lt ${files} ]; do echo "${t} $i" > /${t}/out/f$i; i=$((i+1)); done && cat /${t}/out/* | wc -l > /${t}/count`,
      `ENV LAST=${t}`,
      '',
    ].join('\n'),
  );
}
writeFileSync(
  join(work, 'docker-bake.hcl'),
  `group "default" {\n  targets = [${TARGETS.map((t) => `"${t}"`).join(', ')}]\n}\n` +
    TARGETS.map((t, i) => `target "${t}" {\n  context = "${t}"\n  args = { BASE_IMAGE = "${baseOf(i)}" }\n  tags = ["${tagOf(t)}"]\n}\n`).join(''),
);

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
function timed(cmd, args, env) {
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return ms;
}

// strata: a fresh store with the base loaded (not timed), then bake or five builds
let storeCount = 0;
function freshStore() {
  const root = join(work, `store-${(storeCount += 1)}`);
  const env = { ...process.env, STRATA_ROOT: root };
  execFileSync(strata, ['load', '-i', busybox.archive, '--name', 'localhost/bench/busybox'], { env, stdio: 'ignore' });
  return env;
}
const strataBake = (env) => timed(strata, ['bake', '--progress=plain'], env);
const strataBuilds = (env) => TARGETS.reduce((ms, t, i) => ms + timed(strata, ['build', '--progress=plain', '--build-arg', `BASE_IMAGE=${baseOf(i)}`, '-t', tagOf(t), t], env), 0);

// BuildKit through Debian's dockerd (its 20.10 client has no buildx here: five docker build calls).
// Each round gets a dockerd of its own (a fresh data-root: cold is an empty build cache; pruning
// one dockerd between rounds left its next build hanging here), the base loaded, none of it timed.
let dockerKind = '5 × docker build (no buildx here)';
const dockerEnv = { ...process.env, DOCKER_BUILDKIT: '1' };
let archive;
let dockerRounds = 0;
async function startDocker() {
  const started = await startDockerd(join(work, `dockerd-${(dockerRounds += 1)}`));
  if (started.error !== undefined) return started;
  archive ??= (() => {
    const file = join(work, 'busybox-docker.tar');
    execFileSync(strata, ['save', '--format', 'docker', '-o', file, BASE], { env: freshStore(), stdio: 'ignore' });
    return file;
  })();
  execFileSync('/usr/bin/docker', ['-H', `unix://${started.sock}`, 'load', '-i', archive], { env: dockerEnv, stdio: 'ignore' });
  if (spawnSync('/usr/bin/docker', ['-H', `unix://${started.sock}`, 'buildx', 'version'], { stdio: 'ignore' }).status === 0) dockerKind = 'docker buildx bake';
  return started;
}
function dockerRun(dockerd) {
  const args = (rest) => ['-H', `unix://${dockerd.sock}`, ...rest];
  if (dockerKind.startsWith('docker buildx')) return timed('/usr/bin/docker', args(['buildx', 'bake', '--progress=plain']), dockerEnv);
  return TARGETS.reduce((ms, t, i) => ms + timed('/usr/bin/docker', args(['build', '--progress=plain', '--network', 'host', '--build-arg', `BASE_IMAGE=${baseOf(i)}`, '-t', tagOf(t), t]), dockerEnv), 0);
}

const results = { 'strata bake': { cold: [], cached: [] }, '5 × strata build': { cold: [], cached: [] } };
const loads = [loadavg()[0]];
const BUILDKIT = 'buildkit';
try {
  const probe = await startDocker();
  if (probe.error !== undefined) console.log(`BuildKit skipped: ${probe.error}`);
  else {
    await probe.stop();
    results[BUILDKIT] = { cold: [], cached: [] };
  }
  for (let rep = 0; rep < reps; rep += 1) {
    const tools = Object.keys(results);
    const order = rep % 2 === 0 ? tools : [...tools].reverse();
    for (const tool of order) {
      if (tool === BUILDKIT) {
        const dockerd = await startDocker();
        try {
          results[tool].cold.push(dockerRun(dockerd));
          results[tool].cached.push(dockerRun(dockerd));
        } finally {
          await dockerd.stop();
        }
      } else {
        const env = freshStore();
        const run = tool === 'strata bake' ? strataBake : strataBuilds;
        results[tool].cold.push(run(env));
        results[tool].cached.push(run(env));
      }
      loads.push(loadavg()[0]);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const bake = results['strata bake'];
console.log(`5-target chain, ${files} files per RUN, ${reps} reps, medians (load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}, ${process.env.STRATA_BENCH_DIR ?? '/var/tmp'})`);
console.log('| | cold | all cached | cold vs bake | cached vs bake |');
console.log('|---|---|---|---|---|');
for (const [tool, r] of Object.entries(results)) {
  const cold = median(r.cold);
  const cached = median(r.cached);
  console.log(`| ${tool === BUILDKIT ? dockerKind : tool} | ${(cold / 1000).toFixed(2)} s | ${(cached / 1000).toFixed(2)} s | ${(cold / median(bake.cold)).toFixed(2)}× | ${(cached / median(bake.cached)).toFixed(2)}× |`);
}
