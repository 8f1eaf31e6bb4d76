import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// Heredocs in RUN and COPY, as BuildKit runs them.
describe('strata build with heredocs', () => {
  let dir: string;
  let store: Store;
  let context: string;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-heredoc-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), 'localhost/test/busybox:latest');
    context = join(dir, 'ctx');
    mkdirSync(context);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function rootfsOf(ref: string): string {
    const out = join(dir, `rootfs-${Math.random().toString(36).slice(2)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }

  it('runs a heredoc script, feeds heredocs to commands (quoted: no expansion; <<-: tabs), and copies inline files', async () => {
    writeFileSync(
      join(context, 'Dockerfile'),
      [
        'FROM localhost/test/busybox:latest',
        'ENV WHO=world',
        'RUN <<EOF',
        'echo "script sees $WHO" > /script.txt',
        'mkdir -p /made/by/script',
        'EOF',
        'RUN cat <<EOF > /expanded.txt && cat <<\'RAW\' > /raw.txt',
        'hello $WHO',
        'EOF',
        'literal $WHO',
        'RAW',
        'RUN sh <<-EOF',
        '\techo tabbed > /tabbed.txt',
        '\tEOF',
        'COPY <<EOF /etc/motd',
        'welcome $WHO',
        'EOF',
        '',
      ].join('\n'),
    );
    await build({ store, context, tags: ['localhost/test/heredoc:1'] });
    const root = rootfsOf('localhost/test/heredoc:1');
    expect(readFileSync(join(root, 'script.txt'), 'utf8')).toBe('script sees world\n');
    expect(readFileSync(join(root, 'expanded.txt'), 'utf8')).toBe('hello world\n');
    expect(readFileSync(join(root, 'raw.txt'), 'utf8')).toBe('literal $WHO\n');
    expect(readFileSync(join(root, 'tabbed.txt'), 'utf8')).toBe('tabbed\n');
    expect(readFileSync(join(root, 'etc/motd'), 'utf8')).toBe('welcome world\n');
    expect(execFileSync('ls', [join(root, 'made/by')], { encoding: 'utf8' })).toBe('script\n');
  });

  it('runs a heredoc script with a #! line by its interpreter, never by the shell (busybox has no /usr/bin/env: the exec fails, as in BuildKit)', async () => {
    writeFileSync(join(context, 'Dockerfile.shebang'), 'FROM localhost/test/busybox:latest\nRUN <<EOF\n#!/usr/bin/env python3\nprint("hi")\nEOF\n');
    await expect(build({ store, context, dockerfile: join(context, 'Dockerfile.shebang') })).rejects.toMatchObject({
      code: 'BUILD_STEP_FAILED',
      details: { output: expect.arrayContaining([expect.stringContaining('exec /dev/pipes/EOF')]) },
    });
  });
});
