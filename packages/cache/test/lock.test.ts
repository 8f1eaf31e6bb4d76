import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock, withLock } from '../src/index.js';
import { tempRoot } from './helpers.js';

const DIST = join(__dirname, '..', 'dist', 'index.js');

describe('inter-process lock', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempRoot('strata-lock-')));
  afterEach(() => cleanup());

  it('excludes concurrent holders', async () => {
    const lockPath = join(dir, 'x.lock');
    let inside = 0;
    let maxInside = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 12 }, () =>
        withLock(lockPath, dir, async () => {
          inside += 1;
          maxInside = Math.max(maxInside, inside);
          await new Promise((r) => setTimeout(r, 3));
          inside -= 1;
          done += 1;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(done).toBe(12);
    expect(existsSync(lockPath)).toBe(false);
  });

  it('takes over a lock whose holder process is gone', async () => {
    const lockPath = join(dir, 'x.lock');
    // pid 2^22-1 is above the default pid_max range in use; its start time cannot match.
    writeFileSync(lockPath, '4194303.12345 lock-4194303.12345-abc\n');
    const broken: string[] = [];
    const lock = await acquireLock(lockPath, dir, { onBreak: (h) => broken.push(h), timeoutMs: 5000 });
    expect(broken).toEqual(['4194303.12345']);
    expect(await lock.isHeld()).toBe(true);
    expect(readFileSync(lockPath, 'utf8')).toMatch(new RegExp(`^${process.pid}\\.`));
    await lock.release();
    expect(existsSync(lockPath)).toBe(false);
  });

  it('takes over a lock from a holder killed with SIGKILL, and waits for a live one', async () => {
    expect(existsSync(DIST)).toBe(true);
    const lockPath = join(dir, 'x.lock');
    const script = `import(${JSON.stringify(DIST)}).then(async ({ acquireLock }) => {
      await acquireLock(${JSON.stringify(lockPath)}, ${JSON.stringify(dir)});
      process.stdout.write('LOCKED\\n');
      setInterval(() => {}, 1000);
    });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => c.toString().includes('LOCKED') && resolve()));
    const waits: string[] = [];
    await expect(acquireLock(lockPath, dir, { timeoutMs: 300, onWait: (h) => waits.push(h) })).rejects.toMatchObject({ code: 'CACHE_LOCK_TIMEOUT' });
    expect(waits).toHaveLength(1);
    expect(waits[0]).toMatch(new RegExp(`^${child.pid}\\.`));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const broken: string[] = [];
    const lock = await acquireLock(lockPath, dir, { timeoutMs: 5000, onBreak: (h) => broken.push(h) });
    expect(broken).toEqual([waits[0]]);
    await lock.release();
  });

  it('lets only one of several waiters break a stale lock', async () => {
    const lockPath = join(dir, 'x.lock');
    for (let round = 0; round < 15; round++) {
      writeFileSync(lockPath, `4194303.${round} stale\n`);
      let inside = 0;
      let maxInside = 0;
      const breaks: string[] = [];
      await Promise.all(
        Array.from({ length: 8 }, () =>
          withLock(lockPath, dir, async () => {
            inside += 1;
            maxInside = Math.max(maxInside, inside);
            await new Promise((r) => setTimeout(r, 1));
            inside -= 1;
          }, { onBreak: (h) => breaks.push(h) }),
        ),
      );
      expect({ round, maxInside, breaks }).toEqual({ round, maxInside: 1, breaks: [`4194303.${round}`] });
      expect(existsSync(lockPath)).toBe(false);
      expect(existsSync(`${lockPath}.break`)).toBe(false);
    }
  });

  it('clears a breaker lock left by a dead process', async () => {
    const lockPath = join(dir, 'x.lock');
    writeFileSync(lockPath, '4194303.1 stale\n');
    writeFileSync(`${lockPath}.break`, '4194303.2 breaker\n');
    const lock = await acquireLock(lockPath, dir, { timeoutMs: 5000 });
    expect(await lock.isHeld()).toBe(true);
    await lock.release();
  });
});
