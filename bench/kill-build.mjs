#!/usr/bin/env node
// Kill trials for builds, pulls and pushes (issue 9): each trial SIGKILLs
// bin/strata at a random moment of a `strata build`, `strata pull` or
// `strata push`, then checks that `strata verify` is clean, that the command
// succeeds when run again (a build reusing every step that completed before
// the kill, a push leaving the registry with the local manifest), and that no
// mount under the store or runc container of the dead process is left once the
// next command has run. Workers run side by side, each with its own stores and
// registry. Prints counts per kind; exits 1 on any failure.
// usage: node bench/kill-build.mjs [TRIALS=200] [SEED=42] [WORKERS=1]    (as root, after `pnpm run build`)
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runKillTrials } from '../tests/support/kill-trials.mjs';

const here = dirname(fileURLToPath(import.meta.url));

if (process.argv[2] === '--worker') {
  const [, , , trials, seed] = process.argv;
  const result = await runKillTrials({
    bin: join(here, '..', 'bin', 'strata'),
    testImageArchive: join(process.env.STRATA_TEST_IMAGES ?? '/var/cache/strata/test-images', 'busybox-amd64.oci.tar'),
    trials: Number(trials),
    seed: Number(seed),
    kinds: { build: 3, pull: 1, push: 1 },
    onTrial: (t) => {
      const ok = t.error === undefined && t.verifyClean && t.nextOk && t.lost.length === 0 && t.mounts.length + t.containers.length + t.tmp.length === 0;
      process.stderr.write(`[seed ${seed}] trial ${t.n} ${t.kind} ${t.error ?? `delay ${t.delay} ms, ${t.killed ? 'killed' : 'finished first'}, ${t.completed} steps done`} ${ok ? 'ok' : 'FAIL'}\n`);
    },
  });
  process.stdout.write(JSON.stringify(result));
} else {
  const trials = Number(process.argv[2] ?? 200);
  const seed = Number(process.argv[3] ?? 42);
  const workers = Number(process.argv[4] ?? 1);
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: workers }, (_, i) => {
    const share = Math.floor(trials / workers) + (i < trials % workers ? 1 : 0);
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--worker', String(share), String(seed + i)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker ${i} exited ${code}`))));
    });
  }));
  const counts = {};
  for (const r of results) {
    for (const [kind, c] of Object.entries(r.counts)) {
      const sum = (counts[kind] ??= {});
      for (const [k, v] of Object.entries(c)) sum[k] = (sum[k] ?? 0) + v;
    }
  }
  const failures = results.flatMap((r) => r.failures);
  console.log(`kill trials: ${trials} (seeds ${seed}..${seed + workers - 1}, ${workers} workers) in ${Math.round((Date.now() - started) / 1000)} s; calibrated run times (ms): ${results.map((r) => JSON.stringify(r.calibrationMs)).join(' ')}`);
  console.log('kind    trials  killed-midway  finished-first  steps-done-before-kill  verify-clean  next-ok  steps-lost  leftovers');
  for (const [kind, c] of Object.entries(counts)) {
    console.log(`${kind.padEnd(7)} ${String(c.trials).padStart(6)}  ${String(c.killedMidway).padStart(13)}  ${String(c.finishedFirst).padStart(14)}  ${String(c.stepsCompletedBeforeKill).padStart(22)}  ${String(c.verifyClean).padStart(12)}  ${String(c.nextOk).padStart(7)}  ${String(c.stepsLost).padStart(10)}  ${String(c.leftovers).padStart(9)}`);
  }
  if (failures.length > 0) {
    console.log(`FAILURES: ${failures.length}`);
    for (const f of failures.slice(0, 20)) console.log(JSON.stringify(f));
    process.exitCode = 1;
  } else {
    console.log('failures: 0 (no unclean verify, no failed rerun, no lost step, no leftover mount, container or temp folder)');
  }
}
