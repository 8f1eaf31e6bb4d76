#!/usr/bin/env node
// Incremental rebuilds (issue #10's benchmark): strata (this checkout's
// bin/strata) against `buildah bud --layers --isolation chroot`, `docker build`
// with BuildKit (Debian's dockerd, started here) and the floor — a node script
// that only lstat()s every entry of the context — all timed by hyperfine in
// one run, on one disk (/var/tmp), from the same base image (the offline
// busybox test image) and the same Dockerfile:
//
//   ARG BASE / FROM $BASE, a small RUN, COPY app/ /app/, a RUN reading what
//   was copied, ENV, CMD
//
// over two generated contexts (deterministic): "small" (2000 files, ~50
// folders, mixed small sizes) and "large" (10,000 files, ~200 MB: many small
// files and some multi-MB ones, half of those incompressible).
//
// Scenarios (hyperfine --prepare does the per-run setup; it is not timed):
//   cold              fresh store/cache each run, the base already present
//   no-op             everything cached (one warm-up run first)
//   one file changed  prepare writes new content into one file (new each run)
//   all files touched prepare gives every file and folder a new mtime, same content
// and, strata only, the remote cache: a cold build with
// `--cache-to type=registry,ref=127.0.0.1:PORT/bench/cache:1,mode=max` into an
// emptied `docker-registry` started here (export cost = its time minus the
// plain cold build's, measured in the same hyperfine run), and a build on an
// empty store with `--cache-from` (its time, and whether any RUN ran).
//
// It prints one table per context (mean seconds; strata/buildah and
// strata/BuildKit ratios, < 1: strata is faster; no-op also strata/stat floor)
// and marks issue #10's targets as met or not: no-op ≤ 2× the stat floor and
// ≤ 40 % of BuildKit's, one file changed ≤ BuildKit's, export ≤ 10 % of cold.
//
// usage (root, after `pnpm run build` and scripts/test-images):
//   node bench/incremental.mjs [--runs 5] [--contexts small|large|both] [--no-buildkit] [--keep]
// Everything lives under one new folder in /var/tmp, removed at the end
// (--keep leaves it); dockerd, the registry and buildah's mounts are stopped
// and removed also when a run fails or is interrupted.
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDockerd } from './lib/dockerd.mjs';
import { loadTestModules } from './lib/load-ts.mjs';

// --- options ------------------------------------------------------------------------
const usage = 'usage: node bench/incremental.mjs [--runs N] [--contexts small|large|both] [--no-buildkit] [--keep]';
const options = { runs: 5, contexts: 'both', buildkit: true, keep: false };
{
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--runs') options.runs = Number(args[++i]);
    else if (a === '--contexts') options.contexts = args[++i];
    else if (a === '--no-buildkit') options.buildkit = false;
    else if (a === '--keep') options.keep = true;
    else if (a === '-h' || a === '--help') {
      console.log(usage);
      process.exit(0);
    } else {
      console.error(`unknown argument ${a}\n${usage}`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(options.runs) || options.runs < 1) {
    console.error(`--runs takes a whole number ≥ 1\n${usage}`);
    process.exit(2);
  }
  if (!['small', 'large', 'both'].includes(options.contexts)) {
    console.error(`--contexts takes small, large or both\n${usage}`);
    process.exit(2);
  }
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strata = join(repo, 'bin', 'strata');
const images = JSON.parse(readFileSync('/var/cache/strata/test-images/images.json', 'utf8')).images;
const busybox = images.find((i) => i.name === 'busybox' && i.platform.architecture === 'amd64');
if (busybox === undefined) throw new Error('no busybox amd64 test image: run scripts/test-images');
if (!existsSync(join(repo, 'packages', 'cli', 'dist'))) throw new Error('strata is not built: run pnpm run build');
const BASE = 'localhost/bench/busybox:latest';
const TAG = 'bench/app:1';

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
/** A short synchronous shell command (setup, not timed); its stdout is returned. */
const sh = (cmd) => {
  const r = spawnSync('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`failed (${r.status ?? r.signal}): ${cmd}\n${r.stderr}`);
  return r.stdout;
};
const unmountUnder = (dir) => `for m in $(awk '{print $2}' /proc/self/mounts | grep -F ${q(dir + '/')} | sort -r); do umount -l "$m"; done`;

const work = mkdtempSync('/var/tmp/strata-bench-incremental-');
const scripts = join(work, 'scripts');
mkdirSync(scripts);
/** Writes a shell script for hyperfine's --prepare (hyperfine -N runs it without a shell of its own). */
function script(name, body) {
  const path = join(scripts, `${name}.sh`);
  writeFileSync(path, `set -e\n${body}\n`);
  return `sh ${path}`;
}

// --- long-running children: tracked so that cleanup can stop them --------------------
const children = new Set();
/** Runs argv in its own process group (so a signal here can stop it and what it started); resolves with stdout. */
function run(argv, { capture = false, quiet = false } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', capture ? 'pipe' : quiet ? 'ignore' : 'inherit', quiet ? 'pipe' : 'inherit'], detached: true });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout?.on('data', (c) => (out += c));
    child.stderr?.on('data', (c) => (err = (err + c).slice(-4000)));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (code === 0) resolvePromise(out);
      else reject(new Error(`${argv.join(' ')} failed (${code ?? signal})${err ? `:\n${err}` : ''}`));
    });
  });
}

// --- the contexts ---------------------------------------------------------------------
const DOCKERFILE = `ARG BASE
FROM $BASE
RUN echo one > /one
COPY app/ /app/
RUN find /app -type f | wc -l > /count
ENV APP_HOME=/app
CMD ["sh", "-c", "cat /count"]
`;

/** Deterministic pseudo-random numbers (an LCG: the same context every run). */
function random(seed) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** Incompressible bytes, the same for the same name (AES-CTR key stream). */
function noise(name, size) {
  const key = createHash('sha256').update(name).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

/**
 * small: 2000 files in 50 folders (10 × 5), 60 B – 32 KB, text-like;
 * large: 10,000 files — 9,960 small ones in 250 folders and 40 of 1–9 MB
 * (every other one incompressible), ~200 MB in all. Every 25th file is 0755.
 */
function makeContext(dir, kind) {
  const rand = random(kind === 'small' ? 2000 : 10000);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'node', 'topic', 'service', 'launch', 'param', 'config', 'message', 'frame', 'sensor', 'import', 'return', 'const'];
  let text = '';
  while (text.length < 4 << 20) text += `${words[Math.floor(rand() * words.length)]}_${Math.floor(rand() * 1000)}${rand() < 0.1 ? '\n' : ' '}`;
  const pool = Buffer.from(text);
  const slice = (n) => {
    const at = Math.floor(rand() * (pool.length - n));
    return pool.subarray(at, at + n);
  };
  const app = join(dir, 'app');
  const [top, sub, smallFiles, bigFiles] = kind === 'small' ? [10, 5, 2000, 0] : [25, 10, 9960, 40];
  let bytes = 0;
  let folders = 0;
  let changed; // the file the one-file-changed scenario rewrites: a small one in the middle of the tree
  for (let t = 0; t < top; t++) for (let s = 0; s < sub; s++, folders++) mkdirSync(join(app, `pkg${t}`, `mod${s}`), { recursive: true });
  for (let i = 0; i < smallFiles; i++) {
    const folder = join(app, `pkg${i % top}`, `mod${Math.floor(i / top) % sub}`);
    const size = Math.floor(60 * Math.pow(2, rand() * 9)); // 60 B .. 30 KB, log-uniform
    const path = join(folder, `file${i}.${['py', 'ts', 'txt', 'json'][i % 4]}`);
    writeFileSync(path, Buffer.concat([Buffer.from(`# ${i}\n`), slice(size)]));
    if (i % 25 === 0) chmodSync(path, 0o755);
    if (i === Math.floor(smallFiles / 2)) changed = path;
    bytes += size;
  }
  if (bigFiles > 0) {
    mkdirSync(join(app, 'assets'));
    folders++;
    // the big files make up the rest of ~200 MB, in sizes of 1–9 MB
    const weights = Array.from({ length: bigFiles }, () => 1 + rand() * 8);
    const sum = weights.reduce((a, b) => a + b, 0);
    const rest = 200e6 - bytes;
    for (let i = 0; i < bigFiles; i++) {
      const size = Math.floor((rest * weights[i]) / sum);
      let content;
      if (i % 2 === 0) content = noise(`${kind}-${i}`, size);
      else {
        const parts = [];
        for (let n = 0; n < size; ) {
          const part = slice(Math.min(size - n, 256 << 10));
          parts.push(part);
          n += part.length;
        }
        content = Buffer.concat(parts);
      }
      writeFileSync(join(app, 'assets', `blob${i}.${i % 2 === 0 ? 'bin' : 'log'}`), content);
      bytes += size;
    }
  }
  writeFileSync(join(dir, 'Dockerfile'), DOCKERFILE);
  return { files: smallFiles + bigFiles, folders, bytes, changed };
}

// --- services: registry and dockerd -------------------------------------------------
// the tests' registry (tests/support/registry.ts: docker-registry on 127.0.0.1), its storage on the measured disk
const { startRegistry } = loadTestModules(join(work, 'ts'), ['support/registry.ts', 'support/token-server.ts'])('support/registry.js');
let registry;
const dockerDir = join(work, 'docker');
let dockerd;

// --- cleanup, also on failure and on signals ------------------------------------------
const buildahDirs = new Set();
const buildahCli = (dir) => `buildah --root ${q(join(dir, 'root'))} --runroot ${q(join(dir, 'runroot'))} --storage-driver overlay`;
/** Removes buildah's working containers and unmounts its layers (its images stay). */
const buildahRelease = (dir) => `${buildahCli(dir)} rm --all >/dev/null 2>&1; ${unmountUnder(dir)}`;
const buildahReset = (dir) => `${buildahRelease(dir)}; rm -rf ${q(dir)}`;

let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    for (const child of children) {
      try {
        process.kill(-child.pid, 'SIGTERM'); // the whole group: hyperfine and the build it runs
      } catch {
        // already gone
      }
    }
    for (let i = 0; i < 100 && children.size > 0; i++) await new Promise((r) => setTimeout(r, 100));
    for (const child of children) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of buildahDirs) spawnSync('bash', ['-c', `${(options.keep ? buildahRelease : buildahReset)(dir)}; true`], { stdio: 'ignore' });
    await dockerd?.stop?.();
    await registry?.stop();
    spawnSync('bash', ['-c', `${unmountUnder(work)}; true`], { stdio: 'ignore' });
    if (options.keep) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping and cleaning up ${work}`);
    cleanup().finally(() => process.exit(128 + number));
  });
}

// --- hyperfine ------------------------------------------------------------------------
/** One hyperfine run of several commands (each with its own --prepare); returns results by name. */
async function hyperfine(label, commands, extra = []) {
  const out = join(work, `${label}.json`);
  const argv = ['hyperfine', '-N', '--style', 'basic', '--runs', String(options.runs), '--export-json', out, ...extra];
  // hyperfine takes one --prepare for all commands or one per command, in order
  const prepared = commands.some((c) => c.prepare !== undefined);
  for (const c of commands) argv.push('-n', c.name, ...(prepared ? ['--prepare', c.prepare ?? 'true'] : []), c.command);
  console.log(`\n== ${label}`);
  await run(argv);
  return Object.fromEntries(JSON.parse(readFileSync(out, 'utf8')).results.map((r) => [r.command, r]));
}

/** A build with --progress=json: its events. */
async function strataEvents(argv) {
  const out = await run(argv, { capture: true });
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

// --- one context ----------------------------------------------------------------------
async function benchContext(kind, services) {
  const dir = join(work, kind);
  const context = join(dir, 'context');
  mkdirSync(context, { recursive: true });
  const made = makeContext(context, kind);
  const startLoad = load();
  console.log(`\n### ${kind} context: ${made.files} files, ${made.folders} folders, ${(made.bytes / 1e6).toFixed(1)} MB under ${context} (load average ${startLoad})`);

  const strataStore = join(dir, 'strata-store');
  const exportStore = join(dir, 'strata-export-store');
  const importStore = join(dir, 'strata-import-store');
  const strataEnv = (store) => ['env', `STRATA_ROOT=${store}`, strata];
  const strataBuild = (store, ...extra) => [...strataEnv(store), 'build', '-q', '-t', TAG, '--build-arg', `BASE=${BASE}`, ...extra, context];
  const freshStore = (store) => `rm -rf ${q(store)}\nSTRATA_ROOT=${q(store)} ${q(strata)} load -q -i ${q(busybox.archive)} --name ${BASE} >/dev/null`;
  const cacheRef = `${services.registry}/bench/cache:1`;
  const emptyRegistry = `rm -rf ${q(join(registry.storageDir, 'docker'))}`;

  const buildahDir = join(dir, 'buildah');
  buildahDirs.add(buildahDir);
  const buildah = buildahCli(buildahDir);
  const docker = dockerd?.docker;

  const tools = [
    {
      name: 'strata',
      cold: script(`${kind}-strata-cold`, freshStore(strataStore)),
      build: strataBuild(strataStore).map(q).join(' '),
    },
    {
      name: 'buildah',
      cold: script(`${kind}-buildah-cold`, `${buildahReset(buildahDir)}\nid=$(${buildah} pull -q oci-archive:${q(busybox.archive)})\n${buildah} tag "$id" ${BASE}`),
      build: `${buildah} bud --layers --isolation chroot -q -t ${TAG} --build-arg BASE=${BASE} ${q(context)}`,
    },
  ];
  if (services.buildkit) {
    tools.push({
      name: 'BuildKit',
      cold: script(`${kind}-buildkit-cold`, `${docker} rmi -f ${TAG} >/dev/null 2>&1 || true\n${docker} builder prune -af >/dev/null`),
      // --network host: dockerd runs with --bridge=none, and RUN needs no network here
      build: `env DOCKER_BUILDKIT=1 ${docker} build --network host -q -t ${TAG} --build-arg BASE=${BASE} ${q(context)}`,
    });
  }
  const exportBuild = strataBuild(exportStore, '--cache-to', `type=registry,ref=${cacheRef},mode=max`);
  const importBuild = strataBuild(importStore, '--cache-from', `type=registry,ref=${cacheRef}`);
  const statScript = join(dir, 'stat.cjs');
  writeFileSync(
    statScript,
    `const fs=require('fs');const w=(d)=>{for(const e of fs.readdirSync(d,{withFileTypes:true})){const p=d+'/'+e.name;fs.lstatSync(p);if(e.isDirectory())w(p)}};w(${JSON.stringify(context)});\n`,
  );
  const floor = { name: 'stat floor', command: `${q(process.execPath)} ${q(statScript)}` };

  // the scenarios' per-run preparation
  const counter = join(dir, 'counter');
  const bump = `n=$(cat ${q(counter)} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${q(counter)}`;
  const changedFile = made.changed;
  const changeOne = script(`${kind}-change-one`, `${bump}\nprintf 'changed in run %s\\n' "$n" > ${q(changedFile)}`);
  const touchAll = script(`${kind}-touch-all`, `${bump}\nfind ${q(join(context, 'app'))} -exec touch -d @$((1600000000 + n * 3600)) {} +`);

  const results = {};
  results.cold = await hyperfine(`${kind}: cold (fresh store each run, base present)`, [
    { name: 'strata', prepare: tools[0].cold, command: tools[0].build },
    { name: 'strata --cache-to', prepare: script(`${kind}-export-cold`, `${freshStore(exportStore)}\n${emptyRegistry}`), command: exportBuild.map(q).join(' ') },
    ...tools.slice(1).map((t) => ({ name: t.name, prepare: t.cold, command: t.build })),
  ]);

  // the export once more with --progress=json: what strata says it uploaded and how long that took
  sh(`${freshStore(exportStore)}\n${emptyRegistry}`);
  const json = (argv) => [...argv.slice(0, -1).filter((a) => a !== '-q'), '--progress', 'json', context];
  const exported = await strataEvents(json(exportBuild));
  const exportEvent = exported.find((e) => e.type === 'cache-exported');
  const exportedImage = exported.find((e) => e.type === 'build-completed')?.imageId;

  results.import = await hyperfine(`${kind}: --cache-from on an empty store (base present)`, [
    { name: 'strata --cache-from', prepare: script(`${kind}-import-empty`, freshStore(importStore)), command: importBuild.map(q).join(' ') },
  ]);
  sh(freshStore(importStore));
  const imported = await strataEvents(json(importBuild));
  const isRun = (e) => /^RUN\b/.test(e.instruction?.text ?? '');
  const runsRan = imported.filter((e) => e.type === 'step-completed' && isRun(e)).length;
  const runsImported = imported.filter((e) => e.type === 'step-cached' && isRun(e) && /^imported from/.test(e.reason ?? '')).length;
  const importedImage = imported.find((e) => e.type === 'build-completed')?.imageId;
  if (!options.keep) for (const store of [exportStore, importStore]) rmSync(store, { recursive: true, force: true });

  results.noop = await hyperfine(`${kind}: no-op (everything cached)`, [...tools.map((t) => ({ name: t.name, command: t.build })), floor], ['--warmup', '1']);
  results.one = await hyperfine(
    `${kind}: one file changed`,
    tools.map((t) => ({ name: t.name, prepare: changeOne, command: t.build })),
  );
  // warm-up: the first run of each tool also sees the file the other tools' runs changed
  results.touched = await hyperfine(
    `${kind}: all files touched (new mtimes, same content)`,
    tools.map((t) => ({ name: t.name, prepare: touchAll, command: t.build })),
    ['--warmup', '1'],
  );
  // free the disk before the next context (--keep: keep the stores to look into)
  if (!options.keep) {
    spawnSync('bash', ['-c', `${buildahReset(buildahDir)}; true`], { stdio: 'ignore' });
    buildahDirs.delete(buildahDir);
    rmSync(strataStore, { recursive: true, force: true });
  }

  return report(kind, made, results, { exportEvent, runsRan, runsImported, sameImage: exportedImage !== undefined && exportedImage === importedImage, buildkit: services.buildkit, loads: [startLoad, load()] });
}

// --- the table --------------------------------------------------------------------------
function report(kind, made, results, extra) {
  const s = (r) => (r === undefined ? '—' : r.stddev == null ? r.mean.toFixed(3) : `${r.mean.toFixed(3)} ± ${r.stddev.toFixed(3)}`);
  const ratio = (a, b) => (a === undefined || b === undefined ? '—' : (a.mean / b.mean).toFixed(2));
  const lines = [];
  lines.push(`${kind} context: ${made.files} files, ${made.folders} folders, ${(made.bytes / 1e6).toFixed(1)} MB; ${options.runs} runs each; load average ${extra.loads[0]} at its start, ${extra.loads[1]} at its end; mean seconds${options.runs > 1 ? ' ± σ' : ''}; ratios < 1: strata is faster`);
  lines.push('');
  lines.push('| scenario | strata | buildah | BuildKit | stat floor | strata/buildah | strata/BuildKit | strata/floor |');
  lines.push('|---|---|---|---|---|---|---|---|');
  const row = (label, r) => {
    const [st, bu, bk, fl] = [r.strata, r.buildah, r.BuildKit, r['stat floor']];
    lines.push(`| ${label} | ${s(st)} | ${s(bu)} | ${s(bk)} | ${s(fl)} | ${ratio(st, bu)} | ${ratio(st, bk)} | ${ratio(st, fl)} |`);
  };
  row('cold', results.cold);
  row('no-op', results.noop);
  row('one file changed', results.one);
  row('all files touched', results.touched);
  const cold = results.cold.strata;
  const exp = results.cold['strata --cache-to'];
  const imp = results.import['strata --cache-from'];
  lines.push(`| cold + --cache-to (mode=max, empty registry) | ${s(exp)} | | | | | | |`);
  lines.push(`| --cache-from, empty store | ${s(imp)} | | | | | | |`);
  lines.push('');
  const mark = (ok) => (ok ? 'met' : 'NOT met');
  const noop = results.noop;
  const floorRatio = noop.strata.mean / noop['stat floor'].mean;
  lines.push(`- no-op ≤ 2× the stat floor: ${floorRatio.toFixed(2)}× — ${mark(floorRatio <= 2)}`);
  if (extra.buildkit) {
    const bk = noop.strata.mean / noop.BuildKit.mean;
    lines.push(`- no-op ≤ 40 % of BuildKit's: ${(bk * 100).toFixed(0)} % — ${mark(bk <= 0.4)}`);
    const one = results.one.strata.mean / results.one.BuildKit.mean;
    lines.push(`- one file changed ≤ BuildKit's: ${one.toFixed(2)}× — ${mark(one <= 1)}`);
  } else {
    lines.push('- no-op ≤ 40 % of BuildKit\'s, one file changed ≤ BuildKit\'s: not measured (no BuildKit)');
  }
  const cost = exp.mean - cold.mean;
  lines.push(`- export ≤ 10 % of cold: +${cost.toFixed(3)} s over the cold build's ${cold.mean.toFixed(3)} s = ${((cost / cold.mean) * 100).toFixed(1)} % — ${mark(cost / cold.mean <= 0.1)}`);
  if (extra.exportEvent !== undefined) {
    const e = extra.exportEvent;
    lines.push(
      // less noisy than a difference of two means on a shared machine
      `  strata's own account of one export (cache-exported event): ${(e.durationMs / 1000).toFixed(3)} s = ${((e.durationMs / 1000 / cold.mean) * 100).toFixed(1)} % of the cold mean — ${mark(e.durationMs / 1000 / cold.mean <= 0.1)}; ${e.records} records, ${e.uploaded} blobs uploaded (${(e.bytesUploaded / 1e6).toFixed(1)} MB), ${e.present} present`,
    );
  }
  lines.push(
    `- import on an empty store: ${imp.mean.toFixed(3)} s (${((imp.mean / cold.mean) * 100).toFixed(0)} % of cold); RUN steps run: ${extra.runsRan}, imported: ${extra.runsImported} — ${mark(extra.runsRan === 0 && extra.runsImported > 0)}; same image ID as the exporting build: ${extra.sameImage ? 'yes' : 'NO'}`,
  );
  return lines.join('\n');
}

// --- main -------------------------------------------------------------------------------
const startLoad = load();
try {
  console.log(`strata ${strata}; work folder ${work}; ${options.runs} runs; load average at start ${startLoad}`);
  registry = await startRegistry({ auth: 'none', parentDir: work });
  const services = { registry: registry.host, buildkit: false };
  console.log(`registry: docker-registry on ${services.registry}`);
  if (options.buildkit) {
    dockerd = await startDockerd(dockerDir);
    const reason = dockerd.error;
    if (reason === undefined) {
      // the base image goes into dockerd from the local files: strata saves it as a docker-archive
      const exportStore = join(work, 'base-export-store');
      const archive = join(work, 'busybox.docker.tar');
      sh(`STRATA_ROOT=${q(exportStore)} ${q(strata)} load -q -i ${q(busybox.archive)} --name ${BASE} >/dev/null && STRATA_ROOT=${q(exportStore)} ${q(strata)} save --format docker -o ${q(archive)} ${BASE}`);
      sh(`${dockerd.docker} load -q -i ${q(archive)} >/dev/null`);
      rmSync(exportStore, { recursive: true, force: true });
      services.buildkit = true;
      console.log(`BuildKit: dockerd ${sh(`${dockerd.docker} version -f '{{.Server.Version}}'`).trim()} (data-root under ${dockerDir})`);
    } else {
      console.log(`BuildKit skipped: ${reason}`);
    }
  } else {
    console.log('BuildKit skipped: --no-buildkit');
  }
  const tables = [];
  for (const kind of options.contexts === 'both' ? ['small', 'large'] : [options.contexts]) tables.push(await benchContext(kind, services));
  console.log(`\n## Results (${new Date().toISOString()}; buildah ${sh('buildah --version').trim().split(' ')[2]}${services.buildkit ? `, dockerd ${sh(`${dockerd.docker} version -f '{{.Server.Version}}'`).trim()}` : ''}, hyperfine -N, /var/tmp)`);
  console.log(`load average at start ${startLoad}, at end ${load()}\n`);
  console.log(tables.join('\n\n'));
} finally {
  await cleanup();
}
