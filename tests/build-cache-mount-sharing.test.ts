// RUN --mount=type=cache as BuildKit has it: sharing=shared|locked|private
// between two `strata build` processes on one store (the RUNs write /proc/uptime
// stamps into the cache), and uid/gid/mode for a cache a non-root USER writes.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { runStrata } from './support/cli-json.js';
import { loadTestImage, testImage } from './support/test-images.js';

jest.setTimeout(180_000);

const base = 'localhost/test/busybox:latest';
let dir: string;
let root: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync('/dev/shm/strata-cache-sharing-');
  root = join(dir, 'store');
  await loadTestImage(await Store.open(root), testImage('busybox', 'amd64'), base);
  env = { PATH: process.env.PATH, HOME: dir, STRATA_ROOT: root };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The host folder of instance `n` of a cache mount with this id and no base (cache-mounts-v1/<base64url id>[.n]). */
const instanceDir = (id: string, n = 0) => join(root, 'cache-mounts-v1', Buffer.from(id).toString('base64url') + (n === 0 ? '' : `.${n}`));

function context(name: string, dockerfile: string): string {
  const ctx = join(dir, name);
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
  return ctx;
}

async function build(ctx: string, ...args: string[]): Promise<void> {
  const run = await runStrata(['build', '--progress=plain', ...args, ctx], { env, cwd: dir });
  if (run.code !== 0) throw new Error(`strata build failed (${run.code}):\n${run.out}\n${run.err}`);
}

async function waitFor(path: string, text: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(existsSync(path) && readFileSync(path, 'utf8').includes(text))) {
    if (Date.now() > deadline) throw new Error(`${path} never held ${text}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Seconds since boot (the clock the RUNs read too) at each `WHO start|end` line of the cache's log. */
function stamps(log: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of log.trim().split('\n')) {
    const [who, what, up] = line.split(' ');
    out[`${who} ${what}`] = Number(up);
  }
  return out;
}

/**
 * Build `a` runs its RUN (3 s) with the cache mount; once its start is in the
 * cache, build `b` starts with the same mount. Returns the stamps of both RUNs.
 */
async function pair(sharing: string): Promise<Record<string, number>> {
  const id = `pair-${sharing}`;
  const ctx = context(`pair-${sharing}`, [
    `FROM ${base}`,
    'ARG WHO',
    `RUN --mount=type=cache,target=/c,id=${id},sharing=${sharing} sh -c 'read up rest < /proc/uptime; echo "$WHO start $up" >> /c/log; sleep 3; read up rest < /proc/uptime; echo "$WHO end $up" >> /c/log'`,
    '',
  ].join('\n'));
  const a = build(ctx, '--build-arg', 'WHO=a');
  await waitFor(join(instanceDir(id), 'log'), 'a start');
  await Promise.all([a, build(ctx, '--build-arg', 'WHO=b')]);
  return stamps(readFileSync(join(instanceDir(id), 'log'), 'utf8'));
}

describe('RUN --mount=type=cache,sharing=', () => {
  it('shared (the default): the second build writes the cache while the first does', async () => {
    const t = await pair('shared');
    expect(t['b start']).toBeLessThan(t['a end'] as number);
  });

  it('locked: the second build waits until the first RUN has released the cache', async () => {
    const t = await pair('locked');
    expect(t['b start']).toBeGreaterThanOrEqual(t['a end'] as number);
    expect(t['b end']).toBeGreaterThan(t['b start'] as number);
  });

  it('private: a concurrent user gets a fresh copy of its own; the next user takes the first again', async () => {
    const id = 'solo';
    const ctx = context('private', [
      `FROM ${base}`,
      'ARG WHO',
      `RUN --mount=type=cache,target=/c,id=${id},sharing=private sh -c 'list=$(ls /c); echo "$list" > /c/seen-by-$WHO; echo $WHO > /c/owner; sleep 3'`,
      '',
    ].join('\n'));
    const a = build(ctx, '--build-arg', 'WHO=a');
    await waitFor(join(instanceDir(id), 'owner'), 'a');
    await Promise.all([a, build(ctx, '--build-arg', 'WHO=b')]);
    expect(readFileSync(join(instanceDir(id, 1), 'owner'), 'utf8')).toBe('b\n');
    // b's copy started empty: nothing of a's
    expect(readFileSync(join(instanceDir(id, 1), 'seen-by-b'), 'utf8')).toBe('\n');
    expect(readFileSync(join(instanceDir(id), 'owner'), 'utf8')).toBe('a\n');
    // nobody holds either now: the next build takes the first instance
    await build(ctx, '--build-arg', 'WHO=c');
    expect(readFileSync(join(instanceDir(id), 'seen-by-c'), 'utf8').split('\n')).toEqual(['owner', 'seen-by-a', '']);
    expect(readdirSync(join(root, 'cache-mounts-v1')).filter((n) => n.startsWith(Buffer.from(id).toString('base64url'))).length).toBe(2);
  });
});

describe('RUN --mount=type=cache,uid=,gid=,mode=', () => {
  it('makes the cache folder with that owner and mode, writable by USER 1000', async () => {
    const ctx = context('uid', [
      `FROM ${base}`,
      'USER 1000:1000',
      "RUN --mount=type=cache,target=/home/app/.cache,uid=1000,gid=1000,mode=0750 sh -c 'id -u > /home/app/.cache/who && mkdir /home/app/.cache/pip'",
      "RUN --mount=type=cache,target=/home/app/.cache,id=/home/app/.cache,uid=1000,gid=1000,mode=0750 sh -c 'cat /home/app/.cache/who > /dev/null && touch /home/app/.cache/again'",
      '',
    ].join('\n'));
    await build(ctx);
    const name = Buffer.from(JSON.stringify(['/home/app/.cache', 'scratch', '/cache', 1000, 1000, 0o750])).toString('base64url');
    const folder = join(root, 'cache-mounts-v1', name);
    const facts = statSync(folder);
    expect([facts.uid, facts.gid, facts.mode & 0o7777]).toEqual([1000, 1000, 0o750]);
    expect(readFileSync(join(folder, 'who'), 'utf8')).toBe('1000\n');
    expect(statSync(join(folder, 'pip')).uid).toBe(1000);
    // the same id and settings is the same cache
    expect(existsSync(join(folder, 'again'))).toBe(true);
  });
});
