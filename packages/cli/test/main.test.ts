import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main, VERSION } from '../src/index.js';
import { memoryIo } from './memory-io.js';

describe('strata main', () => {
  it('prints the version from package.json', async () => {
    const io = memoryIo();
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
    await expect(main(['--version'], io)).resolves.toBe(0);
    expect(io.out()).toBe(`strata version ${pkg.version}\n`);
  });

  it('rejects an unknown command with a usage exit code', async () => {
    const io = memoryIo();
    await expect(main(['frobnicate'], io)).resolves.toBe(2);
    expect(io.err()).toContain("'frobnicate' is not a strata command");
  });

  it('prints usage for --help', async () => {
    const io = memoryIo();
    await expect(main(['--help'], io)).resolves.toBe(0);
    expect(io.out()).toContain('Usage: strata');
  });
});
