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

  it('a refused --ssh or --build-context value keeps its code and hint', async () => {
    const ssh = memoryIo();
    await expect(main(['build', '--ssh', 'bad id!', '.'], ssh)).resolves.toBe(2);
    expect(ssh.err()).toMatch(/BUILD_SSH_INVALID: --ssh bad id!/);
    expect(ssh.err()).toMatch(/hint: /);
    const named = memoryIo();
    await expect(main(['build', '--build-context', '=x', '.'], named)).resolves.toBe(2);
    expect(named.err()).toMatch(/BUILD_NAMED_CONTEXT_INVALID: .*expected NAME=VALUE/);
    expect(named.err()).toMatch(/hint: /);
  });
});

