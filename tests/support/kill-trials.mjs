// Kill trials for whole commands: `strata build`, `strata pull` and `strata
// push` are SIGKILLed at a random moment (uniform over a calibrated run
// time), then the store must verify clean, the command must succeed when run
// again — a build reusing every step that completed before the kill — and no
// mount under the store or runc container or RUN network namespace of the dead process may be left
// once the next command has started. Used by bench/kill-build.mjs (hundreds
// of trials) and tests/security-kill.test.ts (a few dozen). Only child
// processes and files: no import of strata's packages (jest loads this file
// as CommonJS, bench as ESM).
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const STATE_DIR = '/run/strata/runc';
const NET_DIR = '/run/strata/net';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRegistry(dir) {
  const port = await freePort();
  const config = join(dir, 'registry.yml');
  writeFileSync(config, [
    'version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${JSON.stringify(join(dir, 'registry-data'))}`,
    '  maintenance:', '    uploadpurging:', '      enabled: false',
    'http:', `  addr: "127.0.0.1:${port}"`, `  secret: "${randomBytes(8).toString('hex')}"`, '',
  ].join('\n'));
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 100; i += 1) {
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false);
    if (ok) return { host, stop: () => child.kill('SIGKILL') };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('docker-registry did not start');
}

/** A deterministic pseudo-random source (LCG), so that a run can be repeated with its seed. */
function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 0x100000000);
}

function mountsUnder(root) {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.startsWith(`${root}/`));
}

/** The runc containers and RUN network namespaces (pasta's, /run/strata/net) of a process. */
function containersOf(pid) {
  const of = (dir) => {
    try {
      return readdirSync(dir).filter((n) => n.startsWith(`strata-${pid}-`)).map((n) => join(dir, n));
    } catch {
      return [];
    }
  };
  return [...of(STATE_DIR), ...of(NET_DIR)];
}

/**
 * Runs trials; resolves to counts per kind. `kinds` weighs the choice of
 * command ({ build: 3, pull: 1, push: 1 }). `onTrial` sees each trial's result.
 */
export async function runKillTrials(options) {
  const { bin, trials, testImageArchive } = options;
  const random = lcg(options.seed ?? 42);
  const weights = Object.entries(options.kinds ?? { build: 3, pull: 1, push: 1 });
  const total = weights.reduce((n, [, w]) => n + w, 0);
  const pick = () => {
    let r = random() * total;
    for (const [kind, w] of weights) if ((r -= w) < 0) return kind;
    return weights[0][0];
  };
  const work = mkdtempSync(join(options.tmp ?? '/dev/shm', 'strata-kill-'));
  const registry = await startRegistry(work);
  const counts = {};
  const failures = [];
  let buildRoot;
  let buildsInStore = 0;

  const run = (args, env = {}) => {
    const r = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const must = (what, r) => {
    if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.err.slice(-2000)}`);
    return r;
  };
  const newStore = (name) => {
    const root = join(work, name);
    must(`load into ${name}`, run(['load', '--name', 'localhost/kill/busybox:1', '-i', testImageArchive], { STRATA_ROOT: root }));
    return root;
  };
  /** A root filesystem tar of `mb` MiB of random files. */
  const randomRootfs = (name, mb) => {
    const dir = join(work, `${name}-rootfs`);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < mb; i += 1) writeFileSync(join(dir, `f${i}`), randomBytes(1024 * 1024));
    const tar = join(work, `${name}.tar`);
    const r = spawnSync('tar', ['-cf', tar, '-C', dir, '.']);
    if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
    rmSync(dir, { recursive: true, force: true });
    return tar;
  };

  /** Starts a command, SIGKILLs it after `delayMs`; resolves to the events it printed (NDJSON) and whether the kill hit it. */
  const killAfter = (args, env, delayMs) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let exited = false;
      child.stdout.on('data', (c) => (out += c.toString('utf8')));
      child.stderr.resume();
      const timer = setTimeout(() => {
        if (!exited) child.kill('SIGKILL');
      }, delayMs);
      child.on('close', (code, signal) => {
        exited = true;
        clearTimeout(timer);
        const events = out.split('\n').filter((l) => l.startsWith('{')).map((l) => {
          try {
            return JSON.parse(l);
          } catch {
            return {}; // a line cut by the kill
          }
        });
        resolve({ pid: child.pid, killed: signal === 'SIGKILL', code, events });
      });
    });

  const timed = (fn) => {
    const t = Date.now();
    fn();
    return Date.now() - t;
  };

  // ---- builds -------------------------------------------------------------
  const buildContext = (n) => {
    const ctx = join(work, `ctx-${n}`);
    mkdirSync(join(ctx, 'data'), { recursive: true });
    writeFileSync(join(ctx, 'data', 'id'), `trial ${n}\n`);
    writeFileSync(join(ctx, 'data', 'blob'), randomBytes(256 * 1024));
    writeFileSync(join(ctx, 'Dockerfile'), [
      'FROM localhost/kill/busybox:1',
      `RUN echo build-${n} > /id && head -c 300000 /dev/urandom > /r1`,
      'COPY data /data',
      `ENV TRIAL=${n}`,
      `RUN echo ${n} > /n && head -c 200000 /dev/urandom > /r2`,
      '',
    ].join('\n'));
    return ctx;
  };
  let buildMs;
  const buildTrial = async (n) => {
    if (buildRoot === undefined || buildsInStore >= 50) {
      if (buildRoot !== undefined) rmSync(buildRoot, { recursive: true, force: true });
      buildRoot = newStore(`build-store-${n}`);
      buildsInStore = 0;
    }
    buildsInStore += 1;
    const env = { STRATA_ROOT: buildRoot };
    if (buildMs === undefined) buildMs = timed(() => must('calibration build', run(['build', '-q', '-t', 'localhost/kill/cal:1', buildContext('cal')], env)));
    const ctx = buildContext(n);
    const delay = Math.floor(random() * buildMs * 1.1);
    const { pid, killed, events } = await killAfter(['build', '--progress=json', '-t', `localhost/kill/b:${n}`, ctx], env, delay);
    // layer steps have cache records (metadata steps like ENV are recomputed, never "cached")
    const completed = events.filter((e) => e.type === 'step-completed' && /^(RUN|COPY|ADD) /.test(e.instruction?.text ?? '')).map((e) => e.instruction.text);
    const verify = run(['verify'], env);
    const again = run(['build', '--progress=json', '-t', `localhost/kill/b:${n}`, ctx], env);
    const cached = new Set(again.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((e) => e.type === 'step-cached').map((e) => e.instruction.text));
    const lost = completed.filter((text) => !cached.has(text));
    return {
      killed, delay, completed: completed.length,
      verifyClean: verify.code === 0, verifyOut: verify.out + verify.err,
      nextOk: again.code === 0, nextErr: again.err.slice(-1500),
      lost,
      mounts: mountsUnder(buildRoot), containers: containersOf(pid),
      tmp: readdirSync(join(buildRoot, 'tmp')),
    };
  };

  // ---- pulls --------------------------------------------------------------
  let pullMs;
  let pullRef;
  const pullTrial = async (n) => {
    if (pullRef === undefined) {
      const src = newStore('pull-source');
      pullRef = `${registry.host}/kill/pullsrc:1`;
      // one image of several layers: busybox and two of random bytes
      const ctx = join(work, 'pull-ctx');
      mkdirSync(ctx, { recursive: true });
      writeFileSync(join(ctx, 'a'), randomBytes(1024 * 1024));
      writeFileSync(join(ctx, 'b'), randomBytes(1024 * 1024));
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM localhost/kill/busybox:1\nCOPY a /a\nCOPY b /b\n');
      must('pull source build', run(['build', '-q', '-t', pullRef, ctx], { STRATA_ROOT: src }));
      must('pull source push', run(['push', pullRef], { STRATA_ROOT: src }));
      const root = join(work, 'pull-cal');
      pullMs = timed(() => must('calibration pull', run(['pull', pullRef], { STRATA_ROOT: root })));
      rmSync(root, { recursive: true, force: true });
    }
    const root = join(work, `pull-${n}`);
    const env = { STRATA_ROOT: root };
    const delay = Math.floor(random() * pullMs * 1.1);
    const { pid, killed } = await killAfter(['pull', pullRef], env, delay);
    const verify = run(['verify'], env);
    const again = run(['pull', pullRef], env);
    const verifyAfter = run(['verify'], env);
    const result = {
      killed, delay, completed: 0,
      verifyClean: verify.code === 0 && verifyAfter.code === 0, verifyOut: verify.out + verify.err + verifyAfter.out,
      nextOk: again.code === 0, nextErr: again.err.slice(-1500), lost: [],
      mounts: mountsUnder(root), containers: containersOf(pid), tmp: readdirSync(join(root, 'tmp')),
    };
    rmSync(root, { recursive: true, force: true });
    return result;
  };

  // ---- pushes -------------------------------------------------------------
  let pushRoot;
  let pushMs;
  const pushTrial = async (n) => {
    if (pushRoot === undefined) {
      pushRoot = newStore('push-store');
      const ref = `${registry.host}/kill/push-cal:1`;
      must('import', run(['import', randomRootfs('push-cal', 2), ref], { STRATA_ROOT: pushRoot }));
      pushMs = timed(() => must('calibration push', run(['push', ref], { STRATA_ROOT: pushRoot })));
    }
    const env = { STRATA_ROOT: pushRoot };
    const ref = `${registry.host}/kill/push-${n}:1`;
    // a fresh image per trial: its blob is new to the registry
    must('import', run(['import', randomRootfs(`push-${n}`, 2), ref], env));
    rmSync(join(work, `push-${n}.tar`), { force: true });
    const delay = Math.floor(random() * pushMs * 1.1);
    const { pid, killed } = await killAfter(['push', ref], env, delay);
    const verify = run(['verify'], env);
    const again = run(['push', ref], env);
    const index = JSON.parse(readFileSync(join(pushRoot, 'index.json'), 'utf8'));
    const localDigest = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref)?.digest;
    const remote = spawnSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' });
    const remoteDigest = remote.status === 0 ? `sha256:${createHash('sha256').update(remote.stdout).digest('hex')}` : `skopeo: ${remote.stderr}`;
    return {
      killed, delay, completed: 0,
      verifyClean: verify.code === 0, verifyOut: verify.out + verify.err,
      nextOk: again.code === 0 && localDigest === remoteDigest, nextErr: `${again.err.slice(-1500)} local ${localDigest} remote ${remoteDigest}`,
      lost: [], mounts: mountsUnder(pushRoot), containers: containersOf(pid), tmp: readdirSync(join(pushRoot, 'tmp')),
    };
  };

  const trialOf = { build: buildTrial, pull: pullTrial, push: pushTrial };
  try {
    for (let n = 0; n < trials; n += 1) {
      const kind = pick();
      const c = (counts[kind] ??= { trials: 0, killedMidway: 0, finishedFirst: 0, stepsCompletedBeforeKill: 0, verifyClean: 0, nextOk: 0, stepsLost: 0, leftovers: 0 });
      let r;
      try {
        r = await trialOf[kind](n);
      } catch (error) {
        failures.push({ n, kind, error: String(error?.stack ?? error) });
        options.onTrial?.({ n, kind, error: String(error) });
        continue;
      }
      c.trials += 1;
      if (r.killed) c.killedMidway += 1;
      else c.finishedFirst += 1;
      c.stepsCompletedBeforeKill += r.completed;
      if (r.verifyClean) c.verifyClean += 1;
      if (r.nextOk) c.nextOk += 1;
      c.stepsLost += r.lost.length;
      const leftovers = r.mounts.length + r.containers.length + r.tmp.length;
      if (leftovers > 0) c.leftovers += 1;
      if (!r.verifyClean || !r.nextOk || r.lost.length > 0 || leftovers > 0) {
        failures.push({ n, kind, delay: r.delay, verify: r.verifyClean ? 'clean' : r.verifyOut.slice(-1500), next: r.nextOk ? 'ok' : r.nextErr, lost: r.lost, mounts: r.mounts, containers: r.containers, tmp: r.tmp });
      }
      options.onTrial?.({ n, kind, ...r });
    }
  } finally {
    registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return { counts, failures, calibrationMs: { build: buildMs, pull: pullMs, push: pushMs } };
}
