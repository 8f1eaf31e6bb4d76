#!/usr/bin/env node
// Incremental rebuilds (issue #10's benchmark, extended for issue #15):
// strata (this checkout's bin/strata, and with --baseline another checkout's)
// against `buildah bud --layers --isolation chroot`, `docker build` with
// BuildKit (Debian's dockerd, started here) and the floor — a node script that
// only lstat()s every entry of the context — all timed by hyperfine in one run
// per scenario, from the same base image (the offline busybox test image).
//
// Contexts (bench/lib/incremental-contexts.mjs; deterministic):
//   small       2000 files, ~10 MB; issue #10's one-stage Dockerfile (a RUN,
//               COPY app/ /app/, a RUN reading it, ENV, CMD)
//   large       10,000 files, ~200 MB (many small files and 40 of 1–9 MB,
//               half of those incompressible); the same Dockerfile
//   multistage  3000 files; FROM base AS build, COPY src/ ./src/, a RUN
//               making dist/ from them; FROM base, COPY --from=build of src/
//               and dist/, CMD
// Disks: ext4 (everything under /var/tmp) and tmpfs (everything under
// /dev/shm): contexts, stores, the registry's storage, buildah's
// --root/--runroot and dockerd's --data-root/--exec-root.
//
// Scenarios (hyperfine --prepare does the per-run setup; it is not timed):
//   cold              fresh store/cache each run, the base already present
//   no-op             everything cached (one warm-up run first)
//   one file changed  prepare writes new content into one file (new each run)
//   all files touched prepare gives every file and folder a new mtime, same content
//   build + push      prepare changes one file and empties the registry; the
//                     build is followed by a push of its result to the
//                     registry (strata build --push; buildah bud + buildah
//                     push; docker build + docker push)
// the last two on small and large only; and, strata only (and the baseline),
// on small and large, the remote cache: a cold build with
// `--cache-to type=registry,ref=127.0.0.1:PORT/bench/cache:1,mode=max` into an
// emptied `docker-registry` started here (export cost = its time minus the
// plain cold build's, measured in the same hyperfine run), and a build on an
// empty store with `--cache-from` (its time, and whether any RUN ran).
//
// It prints one table per (disk, context) (bench/lib/incremental-report.mjs)
// and marks issue #15's targets as met or not.
//
// usage (root, after `pnpm run build` and scripts/test-images):
//   node bench/incremental.mjs [--runs 5] [--contexts small|large|multistage|both|all|LIST]
//        [--disk ext4|tmpfs|both] [--baseline CHECKOUT] [--no-buildkit] [--keep]
// Everything lives under new folders in /var/tmp and /dev/shm, removed at the
// end (--keep leaves them); dockerd, the registry and buildah's mounts are
// stopped and removed also when a run fails or is interrupted.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDockerd } from './lib/dockerd.mjs';
import { CONTEXTS, makeContext } from './lib/incremental-contexts.mjs';
import { report } from './lib/incremental-report.mjs';
import { loadTestModules } from './lib/load-ts.mjs';

// --- options ------------------------------------------------------------------------
const usage = `usage: node bench/incremental.mjs [--runs N] [--contexts small|large|multistage|both|all|small,multistage,...]
       [--disk ext4|tmpfs|both] [--baseline CHECKOUT] [--no-buildkit] [--keep]
  --contexts  both (the default) = small,large as before; all = small,large,multistage
  --disk      ext4 (the default: /var/tmp), tmpfs (/dev/shm) or both
  --baseline  another strata checkout (built): each strata build is also timed with its bin/strata`;
const options = { runs: 5, contexts: 'both', disk: 'ext4', baseline: undefined, buildkit: true, keep: false };
const fail = (message) => {
  console.error(`${message}\n${usage}`);
  process.exit(2);
};
{
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => (i + 1 < args.length ? args[++i] : fail(`${a} takes a value`));
    if (a === '--runs') options.runs = Number(value());
    else if (a === '--contexts') options.contexts = value();
    else if (a === '--disk') options.disk = value();
    else if (a === '--baseline') options.baseline = value();
    else if (a === '--no-buildkit') options.buildkit = false;
    else if (a === '--keep') options.keep = true;
    else if (a === '-h' || a === '--help') {
      console.log(usage);
      process.exit(0);
    } else fail(`unknown argument ${a}`);
  }
  if (!Number.isInteger(options.runs) || options.runs < 1) fail('--runs takes a whole number ≥ 1');
}
const kinds = { both: ['small', 'large'], all: ['small', 'large', 'multistage'] }[options.contexts] ?? options.contexts.split(',');
for (const k of kinds) if (CONTEXTS[k] === undefined) fail(`--contexts: no context ${k} (small, large, multistage, both or all)`);
const DISKS = { ext4: '/var/tmp', tmpfs: '/dev/shm' };
const disks = options.disk === 'both' ? ['ext4', 'tmpfs'] : [options.disk];
for (const d of disks) if (DISKS[d] === undefined) fail('--disk takes ext4, tmpfs or both');

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strata = join(repo, 'bin', 'strata');
if (!existsSync(join(repo, 'packages', 'cli', 'dist'))) throw new Error('strata is not built: run pnpm run build');
/** --baseline: a checkout (its bin/strata) or the CLI file itself. */
let baseline;
if (options.baseline !== undefined) {
  const given = resolve(options.baseline);
  baseline = existsSync(given) && statSync(given).isDirectory() ? join(given, 'bin', 'strata') : given;
  const checkout = resolve(dirname(baseline), '..');
  if (!existsSync(baseline)) fail(`--baseline: no ${baseline}`);
  if (!existsSync(join(checkout, 'packages', 'cli', 'dist'))) fail(`--baseline: ${checkout} is not built (pnpm install --frozen-lockfile && pnpm run build in it)`);
  if (resolve(baseline) === resolve(strata)) fail('--baseline: that is this checkout');
}
const images = JSON.parse(readFileSync('/var/cache/strata/test-images/images.json', 'utf8')).images;
const busybox = images.find((i) => i.name === 'busybox' && i.platform.architecture === 'amd64');
if (busybox === undefined) throw new Error('no busybox amd64 test image: run scripts/test-images');
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
const describeCli = (cli) => {
  const head = spawnSync('git', ['-C', dirname(cli), 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).stdout?.trim();
  const dirty = spawnSync('git', ['-C', dirname(cli), 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).stdout?.trim();
  return `${cli}${head ? ` (${head.slice(0, 60)}${dirty ? ', with uncommitted changes' : ''})` : ''}`;
};

// the TypeScript test support (the tests' registry) is transpiled into a folder of its own
const top = mkdtempSync('/var/tmp/strata-bench-incremental-');
/** Per-disk work folders (where everything measured lives), removed by cleanup. */
const works = new Set();
// the tests' registry (tests/support/registry.ts: docker-registry on 127.0.0.1), its storage on the measured disk
const { startRegistry } = loadTestModules(join(top, 'ts'), ['support/registry.ts', 'support/token-server.ts'])('support/registry.js');

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

// --- cleanup, also on failure and on signals ------------------------------------------
const buildahDirs = new Set();
const buildahCli = (dir) => `buildah --root ${q(join(dir, 'root'))} --runroot ${q(join(dir, 'runroot'))} --storage-driver overlay`;
/** Removes buildah's working containers and unmounts its layers (its images stay). */
const buildahRelease = (dir) => `${buildahCli(dir)} rm --all >/dev/null 2>&1; ${unmountUnder(dir)}`;
const buildahReset = (dir) => `${buildahRelease(dir)}; rm -rf ${q(dir)}`;
/** The running services of the disk being measured: { registry, dockerd }. */
const services = {};

/** Stops what runs on the current disk: buildah's mounts, dockerd, the registry (and with `remove`, its work folder). */
async function stopDisk(work, { remove }) {
  for (const dir of buildahDirs) spawnSync('bash', ['-c', `${(remove ? buildahReset : buildahRelease)(dir)}; true`], { stdio: 'ignore' });
  buildahDirs.clear();
  await services.dockerd?.stop?.();
  services.dockerd = undefined;
  await services.registry?.stop();
  services.registry = undefined;
  spawnSync('bash', ['-c', `${unmountUnder(work)}; true`], { stdio: 'ignore' });
  if (remove) {
    rmSync(work, { recursive: true, force: true });
    works.delete(work);
  }
}

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
    for (const work of [...works]) await stopDisk(work, { remove: !options.keep });
    if (options.keep) console.log(`kept ${[...works].join(' ')}`);
    rmSync(top, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping and cleaning up ${[top, ...works].join(' ')}`);
    cleanup().finally(() => process.exit(128 + number));
  });
}

// --- hyperfine ------------------------------------------------------------------------
/** One hyperfine run of several commands (each with its own --prepare); returns results by name. */
async function hyperfine(work, label, commands, extra = []) {
  const out = join(work, 'hyperfine.json');
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
async function benchContext(disk, work, kind) {
  const started = Date.now();
  const dir = join(work, kind);
  const context = join(dir, 'context');
  mkdirSync(context, { recursive: true });
  const made = makeContext(context, kind);
  const startLoad = load();
  const title = `${disk} ${kind}`;
  console.log(`\n### ${disk}, ${kind} context: ${made.files} files, ${made.folders} folders, ${(made.bytes / 1e6).toFixed(1)} MB under ${context} (load average ${startLoad})`);
  /** Writes a shell script for hyperfine's --prepare or a command that needs a shell (hyperfine -N runs none). */
  const script = (name, body) => {
    const path = join(dir, `${name}.sh`);
    writeFileSync(path, `set -e\n${body}\n`);
    return `sh ${path}`;
  };
  const { registry, dockerd } = services;
  const docker = dockerd?.docker;
  const cacheScenarios = kind !== 'multistage'; // the remote cache, all files touched, build + push: on issue #10's contexts
  const emptyRegistry = `rm -rf ${q(join(registry.storageDir, 'docker'))}`;
  const pushRef = `${registry.host}/bench/app:push`;

  // the scenarios' per-run preparation
  const counter = join(dir, 'counter');
  const bump = `n=$(cat ${q(counter)} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${q(counter)}`;
  const changeOneBody = `${bump}\nprintf 'changed in run %s\\n' "$n" > ${q(made.changed)}`;
  const changeOne = script('change-one', changeOneBody);
  const changeOneAndEmpty = script('change-one-empty-registry', `${changeOneBody}\n${emptyRegistry}`);
  const touchAll = script('touch-all', `${bump}\nfind ${q(made.folder)} -exec touch -d @$((1600000000 + n * 3600)) {} +`);

  // strata and the baseline: the same command lines, each CLI with stores of its own
  const freshStore = (cli, store) => `rm -rf ${q(store)}\nSTRATA_ROOT=${q(store)} ${q(cli)} load -q -i ${q(busybox.archive)} --name ${BASE} >/dev/null`;
  const strataBuild = (cli, store, tag, ...extra) => ['env', `STRATA_ROOT=${store}`, cli, 'build', '-q', '-t', tag, '--build-arg', `BASE=${BASE}`, ...extra, context];
  const strataTools = [{ name: 'strata', cli: strata, id: 'strata' }, ...(baseline ? [{ name: 'before', cli: baseline, id: 'before' }] : [])].map((t) => ({
    ...t,
    store: join(dir, `${t.id}-store`),
    exportStore: join(dir, `${t.id}-export-store`),
    importStore: join(dir, `${t.id}-import-store`),
    cacheRef: `${registry.host}/bench/cache-${t.id}:1`,
  }));
  for (const t of strataTools) {
    t.cold = script(`${t.id}-cold`, freshStore(t.cli, t.store));
    t.build = strataBuild(t.cli, t.store, TAG).map(q).join(' ');
    t.push = strataBuild(t.cli, t.store, pushRef, '--push').map(q).join(' ');
    t.exportBuild = strataBuild(t.cli, t.exportStore, TAG, '--cache-to', `type=registry,ref=${t.cacheRef},mode=max`);
    t.importBuild = strataBuild(t.cli, t.importStore, TAG, '--cache-from', `type=registry,ref=${t.cacheRef}`);
  }

  const buildahDir = join(dir, 'buildah');
  buildahDirs.add(buildahDir);
  const buildah = buildahCli(buildahDir);
  const buildahBud = (tag) => `${buildah} bud --layers --isolation chroot -q -t ${tag} --build-arg BASE=${BASE} ${q(context)}`;
  const tools = [
    ...strataTools,
    {
      name: 'buildah',
      cold: script('buildah-cold', `${buildahReset(buildahDir)}\nid=$(${buildah} pull -q oci-archive:${q(busybox.archive)})\n${buildah} tag "$id" ${BASE}`),
      build: buildahBud(TAG),
      push: script('buildah-push', `${buildahBud(pushRef)} >/dev/null\n${buildah} push --tls-verify=false -q ${pushRef} docker://${pushRef}`),
    },
  ];
  if (dockerd !== undefined) {
    // --network host: dockerd runs with --bridge=none, and RUN needs no network here
    const dockerBuild = (tag) => `env DOCKER_BUILDKIT=1 ${docker} build --network host -q -t ${tag} --build-arg BASE=${BASE} ${q(context)}`;
    tools.push({
      name: 'BuildKit',
      cold: script('buildkit-cold', `${docker} rmi -f ${TAG} ${pushRef} >/dev/null 2>&1 || true\n${docker} builder prune -af >/dev/null`),
      build: dockerBuild(TAG),
      push: script('buildkit-push', `${dockerBuild(pushRef)} >/dev/null\n${docker} push -q ${pushRef} >/dev/null`),
    });
  }
  const statScript = join(dir, 'stat.cjs');
  writeFileSync(
    statScript,
    `const fs=require('fs');const w=(d)=>{for(const e of fs.readdirSync(d,{withFileTypes:true})){const p=d+'/'+e.name;fs.lstatSync(p);if(e.isDirectory())w(p)}};w(${JSON.stringify(context)});\n`,
  );
  const floor = { name: 'stat floor', command: `${q(process.execPath)} ${q(statScript)}` };

  const results = {};
  const cold = await hyperfine(dir, `${title}: cold (fresh store each run, base present)`, [
    ...strataTools.map((t) => ({ name: t.name, prepare: t.cold, command: t.build })),
    ...(cacheScenarios
      ? strataTools.map((t) => ({ name: `${t.name} --cache-to`, prepare: script(`${t.id}-export-cold`, `${freshStore(t.cli, t.exportStore)}\n${emptyRegistry}`), command: t.exportBuild.map(q).join(' ') }))
      : []),
    ...tools.slice(strataTools.length).map((t) => ({ name: t.name, prepare: t.cold, command: t.build })),
  ]);
  results.cold = cold;
  const extra = { disk, kind, made, runs: options.runs, baseline: baseline !== undefined };

  if (cacheScenarios) {
    results.export = Object.fromEntries(strataTools.map((t) => [t.name, cold[`${t.name} --cache-to`]]));
    // each CLI's export once more, into a registry emptied once: the caches the import scenario reads;
    // this checkout's with --progress=json: what strata says it uploaded and how long that took
    sh(emptyRegistry);
    const json = (argv) => [...argv.slice(0, -1).filter((a) => a !== '-q'), '--progress', 'json', context];
    for (const t of strataTools) {
      sh(freshStore(t.cli, t.exportStore));
      if (t.name !== 'strata') await run(t.exportBuild, { quiet: true });
      else {
        const exported = await strataEvents(json(t.exportBuild));
        extra.exportEvent = exported.find((e) => e.type === 'cache-exported');
        extra.exportedImage = exported.find((e) => e.type === 'build-completed')?.imageId;
      }
    }
    results.import = await hyperfine(
      dir,
      `${title}: --cache-from on an empty store (base present)`,
      strataTools.map((t) => ({ name: t.name, prepare: script(`${t.id}-import-empty`, freshStore(t.cli, t.importStore)), command: t.importBuild.map(q).join(' ') })),
    );
    const t = strataTools[0];
    sh(freshStore(t.cli, t.importStore));
    const imported = await strataEvents(json(t.importBuild));
    const isRun = (e) => /^RUN\b/.test(e.instruction?.text ?? '');
    extra.runsRan = imported.filter((e) => e.type === 'step-completed' && isRun(e)).length;
    extra.runsImported = imported.filter((e) => e.type === 'step-cached' && isRun(e) && /^imported from/.test(e.reason ?? '')).length;
    const importedImage = imported.find((e) => e.type === 'build-completed')?.imageId;
    extra.sameImage = extra.exportedImage !== undefined && extra.exportedImage === importedImage;
    if (!options.keep) for (const s of strataTools) for (const store of [s.exportStore, s.importStore]) rmSync(store, { recursive: true, force: true });
  }

  results.noop = await hyperfine(dir, `${title}: no-op (everything cached)`, [...tools.map((t) => ({ name: t.name, command: t.build })), floor], ['--warmup', '1']);
  results.one = await hyperfine(
    dir,
    `${title}: one file changed`,
    tools.map((t) => ({ name: t.name, prepare: changeOne, command: t.build })),
  );
  if (cacheScenarios) {
    // warm-up: the first run of each tool also sees the file the other tools' runs changed
    results.touched = await hyperfine(
      dir,
      `${title}: all files touched (new mtimes, same content)`,
      tools.map((t) => ({ name: t.name, prepare: touchAll, command: t.build })),
      ['--warmup', '1'],
    );
    results.push = await hyperfine(
      dir,
      `${title}: build + push (one file changed, registry emptied before each run)`,
      tools.map((t) => ({ name: t.name, prepare: changeOneAndEmpty, command: t.push })),
    );
  }
  // free the disk before the next context (--keep: keep the stores to look into)
  if (!options.keep) {
    spawnSync('bash', ['-c', `${buildahReset(buildahDir)}; true`], { stdio: 'ignore' });
    buildahDirs.delete(buildahDir);
    if (docker !== undefined) spawnSync('bash', ['-c', `${docker} rmi -f ${TAG} ${pushRef} >/dev/null 2>&1; ${docker} builder prune -af >/dev/null 2>&1; true`], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
  sh(`${emptyRegistry}; true`);
  return report(results, { ...extra, loads: [startLoad, load()], minutes: (Date.now() - started) / 60000, buildkit: dockerd !== undefined });
}

// --- one disk: its services, then the contexts ------------------------------------------
async function benchDisk(disk) {
  const parent = DISKS[disk];
  const fstype = sh(`findmnt -n -o FSTYPE --target ${q(parent)}`).trim().split('\n')[0];
  const label = `${disk} (${parent}${fstype === disk ? '' : `, which is ${fstype}`})`;
  const work = mkdtempSync(join(parent, 'strata-bench-incremental-'));
  works.add(work);
  console.log(`\n## ${label}: work folder ${work}`);
  services.registry = await startRegistry({ auth: 'none', parentDir: work });
  console.log(`registry: docker-registry on ${services.registry.host}, storage under ${services.registry.storageDir}`);
  let buildkit = 'BuildKit skipped: --no-buildkit';
  if (options.buildkit) {
    const started = await startDockerd(join(work, 'docker'), { insecureRegistries: [services.registry.host] });
    if (started.error === undefined) {
      services.dockerd = started;
      // the base image goes into dockerd from the local files: strata saves it as a docker-archive
      const exportStore = join(work, 'base-export-store');
      const archive = join(work, 'busybox.docker.tar');
      sh(`STRATA_ROOT=${q(exportStore)} ${q(strata)} load -q -i ${q(busybox.archive)} --name ${BASE} >/dev/null && STRATA_ROOT=${q(exportStore)} ${q(strata)} save --format docker -o ${q(archive)} ${BASE}`);
      sh(`${started.docker} load -q -i ${q(archive)} >/dev/null`);
      rmSync(exportStore, { recursive: true, force: true });
      rmSync(archive, { force: true });
      const info = sh(`${started.docker} info -f '{{.ServerVersion}} {{.Driver}}'`).trim().split(' ');
      buildkit = `BuildKit: dockerd ${info[0]}, storage driver ${info[1]}, data-root under ${join(work, 'docker')}`;
    } else {
      buildkit = `BuildKit skipped: ${started.error}`;
    }
  }
  console.log(buildkit);
  const tables = [];
  try {
    for (const kind of kinds) tables.push(await benchContext(label, work, kind));
  } finally {
    await stopDisk(work, { remove: !options.keep });
  }
  return { label, buildkit, tables };
}

// --- main -------------------------------------------------------------------------------
const startLoad = load();
const startedAt = new Date();
const clis = { strata: describeCli(strata), before: baseline && describeCli(baseline) };
try {
  console.log(`strata: ${clis.strata}`);
  if (baseline) console.log(`before (--baseline): ${clis.before}`);
  console.log(`${options.runs} run${options.runs === 1 ? "" : "s"} each; contexts ${kinds.join(', ')}; disks ${disks.join(', ')}; load average at start ${startLoad}`);
  const done = [];
  for (const disk of disks) done.push(await benchDisk(disk));
  const minutes = (Date.now() - startedAt.getTime()) / 60000;
  console.log(`\n## Results (${startedAt.toISOString()}, ${minutes.toFixed(1)} min; buildah ${sh('buildah --version').trim().split(' ')[2]}; hyperfine -N)`);
  console.log(`strata: ${clis.strata}${baseline ? `\nbefore: ${clis.before}` : ''}`);
  console.log(`load average at start ${startLoad}, at end ${load()}`);
  for (const d of done) {
    console.log(`\n${d.buildkit}\n`);
    console.log(d.tables.join('\n\n'));
  }
} finally {
  await cleanup();
}
