#!/usr/bin/env node
// Rebuilds of a 2000-file context: strata (this checkout's bin/strata)
// against `buildah bud --layers`, BuildKit (`docker build`, only when a
// dockerd answers on DOCKER_HOST or /var/run/docker.sock) and, for the no-op
// scenario, a node script that only stats every file of the context (the
// floor a rebuild can reach). One Dockerfile for all: base image, RUN, COPY
// of the folder, RUN, ENV, CMD. Every tool builds once (cold, not timed),
// then hyperfine times the rebuilds; ratios are against the stat script and
// against the peers.
//
// --scenario noop (default): nothing changed, everything cached.
// --scenario one-changed: before each timed run (hyperfine --prepare, not
//   timed) one file of the folder gets new content, so the COPY and the RUN
//   after it run again and the metadata steps follow.
// --compare BIN: also time another strata launcher (e.g. an older checkout's
//   bin/strata) in the same run, with its own store.
//
//   [STRATA_BENCH_DIR=/var/tmp] node bench/rebuild-noop.mjs [--files 2000] [--runs 10] [--scenario noop|one-changed] [--compare BIN]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const FILES = opt('files', 2000);
const RUNS = opt('runs', 10);
const text = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const SCENARIO = text('scenario', 'noop');
if (!['noop', 'one-changed'].includes(SCENARIO)) throw new Error(`--scenario noop|one-changed, not ${SCENARIO}`);
const COMPARE = text('compare', undefined);
const STRATA = resolve(new URL('..', import.meta.url).pathname, 'bin', 'strata');
const IMAGE_TAR = '/var/cache/strata/test-images/busybox-amd64.oci.tar';
const base = 'localhost/test/busybox:latest';

// STRATA_BENCH_DIR: where the context and the stores live (default /dev/shm; a disk folder such as /var/tmp counts its writes and fsyncs)
const work = mkdtempSync(join(process.env.STRATA_BENCH_DIR ?? '/dev/shm', 'strata-bench-noop-'));
const ctx = join(work, 'ctx');
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const sh = (cmd, env = {}) => execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });

try {
  for (let i = 0; i < FILES; i++) {
    const dir = join(ctx, 'files', `d${i % 50}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${i}.txt`), `file ${i}\n`.repeat(1 + (i % 64)));
  }
  const dockerfile = (from) =>
    `FROM ${from}\nRUN echo one > /one\nCOPY files/ /files/\nRUN ls -R /files | wc -l > /count\nENV APP=1\nCMD ["sh"]\n`;
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile(base));
  writeFileSync(join(work, 'Dockerfile.buildah'), dockerfile(`oci-archive:${IMAGE_TAR}`));
  const statScript = join(work, 'stat.cjs');
  writeFileSync(
    statScript,
    `const fs=require('fs');const w=(d)=>{for(const e of fs.readdirSync(d,{withFileTypes:true})){const p=d+'/'+e.name;fs.lstatSync(p);if(e.isDirectory())w(p)}};w(${JSON.stringify(ctx)});\n`,
  );

  const commands = [];
  const strataCommand = (name, bin) => {
    const store = join(work, `${name}-store`);
    sh(`${bin} load --name ${base} -i ${IMAGE_TAR} >/dev/null`, { STRATA_ROOT: store });
    const strata = `STRATA_ROOT=${store} ${bin} build -q -t bench/app:1 ${ctx} >/dev/null`;
    sh(strata);
    commands.push([name, strata]);
  };
  strataCommand('strata', STRATA);
  if (COMPARE !== undefined) strataCommand('compare', resolve(COMPARE));

  if (has('buildah')) {
    const root = join(work, 'buildah-root');
    const flags = `--root ${root} --runroot ${join(work, 'buildah-run')} --storage-driver overlay`;
    const buildah = `buildah ${flags} bud --layers --isolation chroot -q -f ${join(work, 'Dockerfile.buildah')} -t bench/app:1 ${ctx} >/dev/null 2>&1`;
    sh(buildah);
    commands.push(['buildah', buildah]);
  }
  if (has('docker') && spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0) {
    sh(`docker load -i ${IMAGE_TAR} >/dev/null 2>&1 || true`);
    const docker = `DOCKER_BUILDKIT=1 docker build -q -t bench/app:1 ${ctx} >/dev/null`;
    try {
      sh(docker);
      commands.push(['buildkit', docker]);
    } catch {
      console.log('BuildKit: docker build failed (is the base image loaded under its name?), left out');
    }
  } else console.log('BuildKit: no dockerd answering, left out');
  if (SCENARIO === 'noop') commands.push(['stat-only', `node ${statScript}`]);

  // one-changed: a file's content is new before every run (warm-ups included), so every timed build misses the COPY
  const changed = join(ctx, 'files', 'd7', 'f7.txt');
  const prepare = SCENARIO === 'one-changed' ? ['--prepare', `sh -c 'date +%s%N > ${changed}'`] : [];
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const json = join(work, 'hyperfine.json');
  execFileSync('hyperfine', ['-N', ...prepare, '--warmup', '2', '--runs', String(RUNS), '--export-json', json, ...commands.flatMap(([name, cmd]) => ['-n', name, cmd.includes('>') || cmd.includes('=') ? `sh -c '${cmd}'` : cmd])], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const results = JSON.parse(readFileSync(json, 'utf8')).results;
  const mean = Object.fromEntries(results.map((r) => [r.command, r.mean]));
  const median = Object.fromEntries(results.map((r) => [r.command, r.median]));
  // CPU seconds of the command and its children (hyperfine's user + system): steadier than wall time on a shared machine
  const cpu = Object.fromEntries(results.map((r) => [r.command, r.user + r.system]));
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const title = SCENARIO === 'noop' ? 'no-op rebuild' : 'one file changed';
  console.log(`${title}, ${FILES}-file context, ${RUNS} runs each (load average before ${loadBefore}, after ${load})`);
  for (const [name] of commands) console.log(`  ${name.padEnd(10)} mean ${mean[name].toFixed(3)} s  median ${median[name].toFixed(3)} s  cpu ${cpu[name].toFixed(3)} s`);
  if (SCENARIO === 'noop') console.log(`  strata / stat-only: ${(median.strata / median['stat-only']).toFixed(2)}x (target <= 2x)`);
  if (median.compare !== undefined) console.log(`  strata / compare:   ${(median.strata / median.compare).toFixed(2)} (cpu ${(cpu.strata / cpu.compare).toFixed(2)})`);
  if (median.buildah !== undefined) console.log(`  strata / buildah:   ${(median.strata / median.buildah).toFixed(2)} (cpu ${(cpu.strata / cpu.buildah).toFixed(2)})`);
  const buildkitTarget = SCENARIO === 'noop' ? '<= 0.40' : '<= 1';
  if (median.buildkit !== undefined) console.log(`  strata / buildkit:  ${(median.strata / median.buildkit).toFixed(2)} (target ${buildkitTarget})`);
} finally {
  if (existsSync(join(work, 'buildah-root'))) spawnSync('buildah', ['--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run'), '--storage-driver', 'overlay', 'rm', '-a'], { stdio: 'ignore' });
  spawnSync('sh', ['-c', `umount -R ${join(work, 'buildah-root')}/overlay/* 2>/dev/null; true`]);
  rmSync(work, { recursive: true, force: true });
}
