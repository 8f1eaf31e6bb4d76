#!/usr/bin/env node
// Cold and no-op build time of a realistic Dockerfile: strata (this checkout's
// bin/strata) against `buildah bud --layers` and, when dockerd can start here,
// `docker build` with BuildKit — measured by hyperfine in the same run, on the
// same disk, from the same base image (the offline busybox test image).
//
//   cold:  every run starts from a fresh store (strata: a new STRATA_ROOT with
//          the base loaded; buildah: new --root/--runroot with the base pulled
//          from the OCI archive; BuildKit: build cache pruned and the result
//          removed, the base kept in the image store) — the preparation is not timed.
//   no-op: the same build again with everything cached.
//
// The Dockerfile: RUN steps with file churn (2000 files written, part of them
// deleted, a 16 MB blob, a folder replaced), a COPY of ~3000 context files,
// a RUN that edits what was copied, metadata.
//
// usage (root, after `pnpm run build` and scripts/test-images):
//   node bench/build-vs-buildah.mjs [--runs N] [--dir FOLDER] [--no-buildkit]
// FOLDER defaults to a new folder under /var/tmp (a disk, like a real store);
// it is removed at the end. BuildKit needs `apt-get install docker.io`; it is
// skipped, with the reason printed, when dockerd does not start.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDockerd } from './lib/dockerd.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strata = join(repo, 'bin', 'strata');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const runs = Number(option('--runs', '3'));
const withBuildkit = !args.includes('--no-buildkit');
const root = option('--dir', undefined) ?? mkdtempSync('/var/tmp/strata-bench-build-');
mkdirSync(root, { recursive: true });

const images = JSON.parse(readFileSync('/var/cache/strata/test-images/images.json', 'utf8')).images;
const busybox = images.find((i) => i.name === 'busybox' && i.platform.architecture === 'amd64');
if (busybox === undefined) throw new Error('no busybox amd64 test image: run scripts/test-images');
const BASE = 'localhost/bench/busybox:latest';

const sh = (cmd) => execFileSync('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

// --- the context ------------------------------------------------------------------
const context = join(root, 'context');
function makeContext() {
  mkdirSync(context, { recursive: true });
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const words = ['alpha', 'beta', 'gamma', 'delta', 'node', 'ros', 'topic', 'service', 'launch', 'param', 'config', 'message', 'frame', 'sensor'];
  let files = 0;
  for (let p = 0; p < 30; p++) {
    for (let d = 0; d < 5; d++) {
      const dir = join(context, 'app', 'src', `pkg${p}`, `mod${d}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 20; f++, files++) {
        const n = 200 + Math.floor(rand() * 8000);
        let text = '';
        while (text.length < n) text += `${words[Math.floor(rand() * words.length)]}_${Math.floor(rand() * 1000)} `;
        writeFileSync(join(dir, f % 4 === 0 ? `file${f}.txt` : `file${f}.py`), text);
      }
    }
  }
  writeFileSync(
    join(context, 'Dockerfile'),
    `ARG BASE
FROM $BASE
ENV APP_HOME=/srv/app LANG=C.UTF-8
RUN mkdir -p /opt/data && i=0 && while [ $i -lt 2000 ]; do echo "record $i of the data set" > /opt/data/f$i; i=$((i+1)); done
RUN head -c 16777216 /dev/urandom > /opt/blob && rm -f /opt/data/f1* && mkdir -p /opt/cache && cp -r /opt/data /opt/cache/data
RUN rm -rf /opt/cache/data && mkdir /opt/cache/data && echo fresh > /opt/cache/data/marker
COPY app/ /srv/app/
RUN find /srv/app -name '*.txt' | head -500 | xargs rm && cp -r /srv/app/src/pkg1 /srv/app/pkg1-copy && chmod -R go-w /srv/app/pkg1-copy
WORKDIR /srv/app
CMD ["sh"]
`,
  );
  return files;
}

// --- the builders -----------------------------------------------------------------
const builders = [];

// strata: a fresh store with the base loaded
const strataStore = join(root, 'strata-store');
builders.push({
  name: 'strata',
  cold: `rm -rf ${q(strataStore)} && STRATA_ROOT=${q(strataStore)} ${q(strata)} load -q -i ${q(busybox.archive)} --name ${BASE} >/dev/null`,
  build: `STRATA_ROOT=${q(strataStore)} ${q(strata)} build -q -t bench/app:1 --build-arg BASE=${BASE} ${q(context)} >/dev/null`,
});

// buildah: fresh --root/--runroot (overlay driver, as docker's overlay2), the base pulled from the archive
const buildahDir = join(root, 'buildah');
const buildah = `buildah --root ${q(join(buildahDir, 'root'))} --runroot ${q(join(buildahDir, 'runroot'))} --storage-driver overlay`;
const unmountUnder = (dir) => `for m in $(awk '{print $2}' /proc/self/mounts | grep -F ${q(dir + '/')} | sort -r); do umount -l "$m"; done`;
const buildahReset = `${buildah} rm --all >/dev/null 2>&1; ${unmountUnder(buildahDir)}; rm -rf ${q(buildahDir)}`;
builders.push({
  name: 'buildah',
  cold: `${buildahReset}; id=$(${buildah} pull -q oci-archive:${q(busybox.archive)}) && ${buildah} tag "$id" ${BASE}`,
  // runc, as strata (buildah picks crun, which refuses this host's hybrid cgroups)
  build: `${buildah} bud --layers --runtime runc -q -t bench/app:1 --build-arg BASE=${BASE} ${q(context)} >/dev/null`,
  cleanup: buildahReset,
});

// BuildKit: dockerd (Debian's docker.io) with a temp data-root; its own 20.10 CLI speaks to it
const dockerDir = join(root, 'docker');
let dockerd;
async function stopDockerd() {
  if (dockerd?.stop === undefined) return;
  await dockerd.stop();
  sh(`${unmountUnder(dockerDir)}; true`);
}

// --- run ----------------------------------------------------------------------------
const files = makeContext();
console.log(`context: ${files} files (${sh(`du -sh ${q(join(context, 'app'))} | cut -f1`).trim()}) + a 6-step Dockerfile with file churn; ${runs} runs each; under ${root}`);

if (withBuildkit) {
  dockerd = await startDockerd(dockerDir);
  if (dockerd.error === undefined) {
    const docker = `DOCKER_BUILDKIT=1 ${dockerd.docker}`;
    writeFileSync(join(dockerDir, 'dockerd.log'), dockerd.log());
    // the base image goes into dockerd from the local files: strata saves it as a docker-archive
    const archive = join(root, 'busybox.docker.tar');
    sh(`STRATA_ROOT=${q(join(root, 'export-store'))} ${q(strata)} load -q -i ${q(busybox.archive)} --name ${BASE} && STRATA_ROOT=${q(join(root, 'export-store'))} ${q(strata)} save --format docker -o ${q(archive)} ${BASE}`);
    sh(`${dockerd.docker} load -q -i ${q(archive)} >/dev/null`);
    builders.push({
      name: 'buildkit',
      cold: `${docker} rmi -f bench/app:1 >/dev/null 2>&1; ${docker} builder prune -af >/dev/null`,
      // --network host: dockerd runs with --bridge=none, and RUN needs no network here
      build: `${docker} build --network host -q -t bench/app:1 --build-arg BASE=${BASE} ${q(context)} >/dev/null`,
    });
    console.log(`BuildKit: dockerd ${sh(`${dockerd.docker} version -f '{{.Server.Version}}'`).trim()} (data-root under ${dockerDir})`);
  } else {
    console.log(`BuildKit skipped: ${dockerd.error}`);
  }
} else {
  console.log('BuildKit skipped: --no-buildkit');
}

function hyperfine(label, extra, commands) {
  const out = join(root, `${label}.json`);
  const argv = ['--style', 'basic', '--runs', String(runs), '--export-json', out, ...extra];
  for (const c of commands) argv.push('-n', c.name, ...(c.prepare ? ['--prepare', c.prepare] : []), c.command);
  // hyperfine takes one --prepare for all commands or one per command, in order
  const r = spawnSync('hyperfine', argv, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`hyperfine ${label} failed (${r.status})`);
  return JSON.parse(readFileSync(out, 'utf8')).results;
}

function report(label, results) {
  const mean = Object.fromEntries(results.map((r) => [r.command, r]));
  const ours = mean.strata;
  console.log(`\n${label}:`);
  for (const r of results) {
    const ratio = r.command === 'strata' ? '' : `  -> ${r.command}/strata = ${(r.mean / ours.mean).toFixed(2)}x`;
    console.log(`  ${r.command.padEnd(8)} mean ${r.mean.toFixed(2)} s ± ${(r.stddev ?? 0).toFixed(2)} (median ${r.median.toFixed(2)} s)${ratio}`);
  }
}

try {
  const cold = hyperfine('cold', [], builders.map((b) => ({ name: b.name, prepare: b.cold, command: b.build })));
  report('cold build (fresh store each run; ratio > 1: strata is faster)', cold);
  // no-op: one warm-up run fills each cache, then every run is fully cached
  const noop = hyperfine('noop', ['--warmup', '1'], builders.map((b) => ({ name: b.name, prepare: 'true', command: b.build })));
  report('no-op rebuild (everything cached)', noop);
} finally {
  for (const b of builders) if (b.cleanup) sh(`${b.cleanup}; true`);
  await stopDockerd();
  if (option('--dir', undefined) === undefined) rmSync(root, { recursive: true, force: true });
}
