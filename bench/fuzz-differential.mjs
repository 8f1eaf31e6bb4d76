#!/usr/bin/env node
// Differential fuzzing (issue #9 item 7): COUNT random Dockerfiles assembled
// from valid instructions (RUN with mkdir/touch/echo>/rm/ln -s/ln/chmod/mkfifo
// on a small pool of paths, COPY from a generated context, ENV, LABEL,
// WORKDIR, USER with numeric ids, EXPOSE, CMD, ENTRYPOINT) are each built by
// strata (the builder library) and by `buildah bud --layers --isolation
// chroot` from the busybox test image in a local registry, and compared
// exactly as the differential test does: the same harness, manifest walk and
// known-differences normalization from tests/differential, which this script
// transpiles (typescript's transpileModule, CommonJS) into its temp folder so
// that there is one comparison, not two. Prints cases run, equal, different
// (case index, seed and the first differences) and failures; exit 1 when a
// case differs or fails.
// usage: node bench/fuzz-differential.mjs [--seed 1] [--count 20] [--minutes M] [--case-timeout S] [--keep]
//   (after `pnpm run build`; as root; buildah, umoci, skopeo, docker-registry installed;
//    scripts/test-images run). --minutes stops starting new cases after M minutes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { loadTestModules } from './lib/load-ts.mjs';

const { Store } = await import('../packages/cache/dist/index.js');
const { build } = await import('../packages/builder/dist/index.js');
const { RegistryClient } = await import('../packages/registry/dist/index.js');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const seed = Number(arg('seed', 1));
const count = Number(arg('count', 20));
const minutes = Number(arg('minutes', Infinity));
/** `--case-timeout S`: a case whose builds take longer is stopped and counted as failed (a hang is a finding too). */
const caseTimeoutMs = Number(arg('case-timeout', 300)) * 1000;
const keep = process.argv.includes('--keep');
/** `--only 7,15`: run just these case indexes of the seed (to replay a finding). */
const only = arg('only', undefined)?.split(',').map(Number);

const work = mkdtempSync(join(process.env.STRATA_BENCH_DIR ?? '/dev/shm', 'strata-fuzz-diff-'));

const load = loadTestModules(join(work, 'ts'), ['differential/harness.ts', 'differential/manifest.ts', 'differential/known-differences.ts', 'support/registry.ts', 'support/token-server.ts']);
const { Buildah, unpack, layoutConfig } = load('differential/harness.js');
const { compareManifests, readManifest } = load('differential/manifest.js');
const { comparableConfig, dropKnownPaths, workdirsOf } = load('differential/known-differences.js');
const { startRegistry } = load('support/registry.js');

/** mulberry32: a small seeded generator, so a case is reproduced by its seed. */
function prng(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PATHS = ['/f/a', '/f/b', '/f/d', '/f/d/x', '/f/d/y', '/f/e/z', '/g', '/g/h', '/tmp/t', '/etc/motd'];
const DIRS = ['/f', '/f/d', '/f/e', '/g', '/w', '/w/sub', 'rel', '/tmp'];
const MODES = ['755', '644', '600', '700', '4755', '2755', '1777', '000', '444'];
const IDS = ['0', '1000', '1000:1000', '65534', '4242:7', '0:1000'];
const WORDS = ['alpha', 'beta', 'has space', 'quo"te', '$HOME', 'x=y', ''];

/** One random Dockerfile and its context files (name → content, mode). */
function generate(rand) {
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const n = (k) => Math.floor(rand() * k);
  const json = (xs) => JSON.stringify(xs);
  const files = new Map();
  for (let i = 0, k = 1 + n(4); i < k; i++) files.set(`ctx${i}.txt`, { content: `${pick(WORDS)} ${i}\n`.repeat(1 + n(50)), mode: pick([0o644, 0o755, 0o600, 0o640]) });
  if (rand() < 0.5) files.set('sub/inner.txt', { content: 'inner\n', mode: 0o644 });
  const shellOp = () => {
    const p = pick(PATHS);
    const q = pick(PATHS);
    switch (n(9)) {
      case 0: return `mkdir -p ${p}`;
      case 1: return `mkdir -p $(dirname ${p}) && touch ${p}`;
      // never into a fifo: opening one for writing blocks until a reader comes
      case 2: return `mkdir -p $(dirname ${p}) && { [ -p ${p} ] || echo ${JSON.stringify(pick(WORDS))} > ${p}; }`;
      case 3: return `rm -rf ${p}`;
      case 4: return `mkdir -p $(dirname ${p}) && ln -sfn ${pick([q, 'dangling', '../x', q.slice(1)])} ${p}`;
      case 5: return `mkdir -p $(dirname ${q}) && touch ${p} && ln -f ${p} ${q}`;
      case 6: return `chmod ${pick(MODES)} ${p}`;
      case 7: return `mkdir -p $(dirname ${p}) && rm -rf ${p} && mkfifo ${p}`;
      default: return `chown ${pick(IDS)} ${p}`;
    }
  };
  const lines = ['ARG BASE', 'FROM $BASE'];
  for (let i = 0, k = 3 + n(10); i < k; i++) {
    switch (n(12)) {
      case 0: case 1: case 2: {
        // `|| true`: a step whose path is missing must not fail the build (the same in both builders)
        const ops = Array.from({ length: 1 + n(4) }, () => `{ ${shellOp()}; } 2>/dev/null || true`);
        lines.push(`RUN ${ops.join(' ; ')}`);
        break;
      }
      case 3: {
        const src = rand() < 0.2 && files.has('sub/inner.txt') ? 'sub' : pick([...files.keys()].filter((f) => !f.includes('/')));
        const dst = pick(['/c/', '/c/file', '/f/d/', 'relative/', '/w/']);
        const chown = rand() < 0.3 ? `--chown=${pick(IDS)} ` : '';
        lines.push(`COPY ${chown}${src} ${src === 'sub' ? dst.replace(/[^/]*$/, '') + 'sub/' : dst}`);
        break;
      }
      case 4: {
        // HOME is never set empty: runc (BuildKit) replaces an empty HOME with the user's home, Buildah's chroot keeps it
        // empty (found by this script, seed 100004); strata does as runc.
        const key = pick(['A', 'B', 'PATH_X', 'HOME']);
        lines.push(`ENV ${key}=${JSON.stringify(key === 'HOME' ? pick(WORDS.filter((w) => w !== '')) : pick(WORDS))}`);
        break;
      }
      case 5: lines.push(`LABEL ${pick(['l.one', 'l.two', 'org.x'])}=${JSON.stringify(pick(WORDS))}`); break;
      case 6: lines.push(`WORKDIR ${pick(DIRS)}`); break;
      case 7: lines.push(`USER ${pick(IDS)}`); break;
      case 8: lines.push(`EXPOSE ${pick(['80', '443/tcp', '53/udp', '8000-8002', '9000'])}`); break;
      case 9: lines.push(rand() < 0.5 ? `CMD ${json([pick(['sh', 'echo']), pick(WORDS)])}` : `CMD echo ${pick(['hi', '$A', 'x y'])}`); break;
      case 10: lines.push(rand() < 0.5 ? `ENTRYPOINT ${json(['/bin/sh', '-c'])}` : `ENTRYPOINT echo ${pick(['e', '$B'])}`); break;
      default: lines.push(`RUN id -u > /id${i} ; id -g > /gid${i} ; pwd > /pwd${i} ; env | grep -E '^(A|B|PATH_X)=' | sort > /env${i} || true`);
    }
  }
  return { dockerfile: lines.join('\n') + '\n', files };
}

function writeContext(dir, c) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), c.dockerfile);
  for (const [name, { content, mode }] of c.files) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content, { mode });
  }
}

const registry = await startRegistry({ auth: 'none' });
const images = JSON.parse(readFileSync(join(process.env.STRATA_TEST_IMAGES ?? '/var/cache/strata/test-images', 'images.json'), 'utf8')).images;
const busybox = images.find((i) => i.name === 'busybox' && i.platform.architecture === 'amd64');
const base = `${registry.host}/differential/busybox:latest`;
execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${busybox.layout}:latest`, `docker://${base}`], { stdio: 'pipe' });
const store = await Store.open(join(work, 'store'));
const buildah = new Buildah(join(work, 'buildah'));
const client = new RegistryClient({});

const results = { run: 0, equal: 0, bothRejected: 0, different: [], failed: [] };
const started = performance.now();
try {
  for (let i = 0; i < count; i++) {
    if ((performance.now() - started) / 60000 >= minutes) break;
    if (only !== undefined && !only.includes(i)) continue;
    const caseSeed = seed * 100003 + i;
    const c = generate(prng(caseSeed));
    const name = `fuzz-${i}`;
    const context = join(work, 'contexts', name);
    writeContext(context, c);
    const tag = `localhost/fuzz/${name}:latest`;
    const buildArgs = { BASE: base };
    results.run++;
    const t = performance.now();
    try {
      const [s, p] = await Promise.allSettled([
        build({ store, context, registry: client, tags: [tag], buildArgs, signal: AbortSignal.timeout(caseTimeoutMs) }),
        buildah.bud({ context, tag, buildArgs, timeoutMs: caseTimeoutMs }),
      ]);
      if (performance.now() - t >= caseTimeoutMs) throw new Error(`timed out after ${caseTimeoutMs / 1000} s (strata ${s.status}, buildah ${p.status})`);
      if (s.status === 'rejected' && p.status === 'rejected') {
        // both refuse the Dockerfile (COPY onto a file a RUN made, ...): they agree
        results.bothRejected++;
        process.stdout.write(`case ${i} (seed ${caseSeed}): both builders failed (agree): ${String(s.reason.message).split('\n')[0]}\n`);
        continue;
      }
      if (s.status === 'rejected') throw new Error(`only strata failed: ${s.reason.message}`);
      if (p.status === 'rejected') throw new Error(`only buildah failed: ${p.reason.message}`);
      const peerLayout = join(work, 'buildah-oci', name);
      await buildah.pushOci(tag, peerLayout);
      const [ours, theirs] = await Promise.all([unpack(store.root, tag, join(work, 'rootfs', `${name}-strata`)), unpack(peerLayout, 'latest', join(work, 'rootfs', `${name}-buildah`))]);
      const ourConfig = await layoutConfig(store.root, tag);
      const [ourTree, theirTree] = dropKnownPaths(name, readManifest(ours), readManifest(theirs), [...workdirsOf(c.dockerfile), ...(ourConfig.WorkingDir ? [ourConfig.WorkingDir] : [])]);
      const diffs = compareManifests(ourTree, theirTree, ['strata', 'buildah']);
      const a = comparableConfig(ourConfig, 'strata');
      const b = comparableConfig(await buildah.config(tag), 'buildah');
      for (const field of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (!isDeepStrictEqual(a[field], b[field])) diffs.push(`config ${field}: strata ${JSON.stringify(a[field])} | buildah ${JSON.stringify(b[field])}`);
      }
      if (diffs.length === 0) results.equal++;
      else results.different.push({ i, caseSeed, diffs, dockerfile: c.dockerfile });
      for (const d of [ours, theirs, peerLayout]) rmSync(d, { recursive: true, force: true });
      process.stdout.write(`case ${i} (seed ${caseSeed}): ${diffs.length === 0 ? 'equal' : `${diffs.length} differences: ${diffs[0]}`} in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    } catch (error) {
      results.failed.push({ i, caseSeed, error: String(error.message ?? error).split('\n').slice(0, 6).join('\n'), dockerfile: c.dockerfile });
      process.stdout.write(`case ${i} (seed ${caseSeed}): failed: ${results.failed.at(-1).error.split('\n')[0]}\n`);
    }
  }
} finally {
  await registry.stop();
  await buildah.cleanup();
  try {
    if (!keep) rmSync(work, { recursive: true, force: true });
  } catch (error) {
    console.error(`could not remove ${work}: ${error.message}`);
  }
}

console.log(`\n${results.run} cases (seed ${seed}) in ${((performance.now() - started) / 60000).toFixed(1)} min: ${results.equal} equal, ${results.bothRejected} rejected by both, ${results.different.length} different, ${results.failed.length} failed`);
for (const d of results.different) console.log(`\n--- different: case ${d.i} (seed ${d.caseSeed})\n${d.dockerfile}${d.diffs.slice(0, 8).join('\n')}`);
for (const f of results.failed) console.log(`\n--- failed: case ${f.i} (seed ${f.caseSeed})\n${f.dockerfile}${f.error}`);
process.exitCode = results.different.length + results.failed.length > 0 ? 1 : 0;
