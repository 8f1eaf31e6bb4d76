// SIGKILL during `strata build`, `strata pull` and `strata push` at random
// moments (tests/support/kill-trials.mjs; bench/kill-build.mjs runs 200+):
// after each kill the store verifies clean, the command succeeds when run
// again, a build reuses every step that completed before the kill, and no
// mount, runc container or temp folder of the dead process is left.
import { join } from 'node:path';
import { runKillTrials } from './support/kill-trials.mjs';
import { testImage } from './support/test-images.js';

const TRIALS = Number(process.env.STRATA_KILL_TRIALS ?? 24);
// a trial is a few seconds on an idle machine (a minute or two for all); leave room for a loaded one
jest.setTimeout(180_000 + TRIALS * 60_000);

it(`${TRIALS} kills of builds, pulls and pushes lose nothing and leave nothing behind`, async () => {
  const result = await runKillTrials({
    bin: join(__dirname, '..', 'bin', 'strata'),
    testImageArchive: testImage('busybox', 'amd64').archive,
    trials: TRIALS,
    seed: 20261127,
    kinds: { build: 3, pull: 1, push: 1 },
  });
  expect(result.failures).toEqual([]);
  const counts = Object.values(result.counts);
  expect(counts.reduce((n, c) => n + (c?.trials ?? 0), 0)).toBe(TRIALS);
  // most kills land while the command runs
  expect(counts.reduce((n, c) => n + (c?.killedMidway ?? 0), 0)).toBeGreaterThan(TRIALS / 2);
});
