import { mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { openContext, sourcesDigest } from '@strata/builder';
import { selectionFingerprint, sourceFacts } from '../../src/cache-key.js';
import { scratchDir } from '../support/busybox-rootfs.js';

describe('build context', () => {
  let root: string;
  beforeAll(() => {
    root = scratchDir('context');
    mkdirSync(join(root, 'src', 'sub'), { recursive: true });
    mkdirSync(join(root, 'node_modules', 'x'), { recursive: true });
    mkdirSync(join(root, 'logs'), { recursive: true });
    writeFileSync(join(root, 'src', 'a.ts'), 'a');
    writeFileSync(join(root, 'src', 'sub', 'b.ts'), 'b');
    writeFileSync(join(root, 'src', 'sub', 'b.test.ts'), 'test');
    writeFileSync(join(root, 'node_modules', 'x', 'index.js'), 'x');
    writeFileSync(join(root, 'logs', 'keep.log'), 'keep');
    writeFileSync(join(root, 'logs', 'drop.log'), 'drop');
    writeFileSync(join(root, 'README.md'), 'readme');
    symlinkSync('a.ts', join(root, 'src', 'link-in'));
    symlinkSync('/etc/passwd', join(root, 'outside'));
    writeFileSync(join(root, '.dockerignore'), ['node_modules', '**/*.test.ts', 'logs', '!logs/keep.log', '# comment', ''].join('\n'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('applies .dockerignore with docker semantics, exceptions included', async () => {
    const ctx = await openContext(root);
    const [all] = await ctx.select(['.']);
    const paths = (all?.children ?? []).map((c) => c.contextPath);
    expect(paths).toEqual(['.dockerignore', 'README.md', 'logs', 'logs/keep.log', 'outside', 'src', 'src/a.ts', 'src/link-in', 'src/sub', 'src/sub/b.ts']);
    expect(ctx.isIgnored('node_modules/x/index.js')).toBe(true);
  });

  it('keeps symbolic links inside folders as links', async () => {
    const ctx = await openContext(root);
    const [src] = await ctx.select(['src']);
    const link = src?.children.find((c) => c.contextPath === 'src/link-in');
    expect(link).toMatchObject({ type: 'symlink', linkTarget: 'a.ts' });
  });

  it('expands wildcards against the context', async () => {
    const ctx = await openContext(root);
    const selected = await ctx.select(['src/*.ts', 'README.*']);
    expect(selected.map((s) => s.root.contextPath)).toEqual(['src/a.ts', 'README.md']);
  });

  it.each([
    ['../etc/passwd', 'is outside the build context'],
    ['outside', 'outside the build context'],
    ['missing.txt', 'was not found in the build context'],
    ['node_modules', 'is excluded by .dockerignore'],
    ['nothing*', 'matched no file'],
  ])('refuses %s (%s)', async (source, message) => {
    const ctx = await openContext(root);
    await expect(ctx.select([source])).rejects.toMatchObject({ code: 'BUILD_CONTEXT_PATH', message: expect.stringContaining(message) });
  });

  it('keys sources by path, type, mode, bytes and link target — never by time', async () => {
    const ctx = await openContext(root);
    const hash = async (): Promise<string> => {
      const selection = await ctx.select(['src']);
      return sourcesDigest(await sourceFacts(selection, async (file) => `sha256:${Buffer.from(file).toString('hex')}`));
    };
    const first = await hash();
    const future = new Date(Date.now() + 3_600_000);
    utimesSync(join(root, 'src', 'a.ts'), future, future);
    expect(await hash()).toBe(first);
    chmodSync(join(root, 'src', 'a.ts'), 0o600);
    expect(await hash()).not.toBe(first);
    chmodSync(join(root, 'src', 'a.ts'), 0o644);
  });

  it('fingerprints a selection by its stat facts: any touch, chmod, rename or new file is a new fingerprint', async () => {
    const ctx = await openContext(root);
    const print = async (options: { normalizePermissions?: boolean } = {}) => selectionFingerprint(await ctx.select(['src']), options)?.fingerprint;
    const first = await print();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(await print()).toBe(first);
    expect(await print({ normalizePermissions: true })).not.toBe(first);
    // a touch alone changes no content digest, but the fingerprint stands in for content: it must change
    const later = new Date(Date.now() + 7_200_000);
    utimesSync(join(root, 'src', 'a.ts'), later, later);
    const touched = await print();
    expect(touched).not.toBe(first);
    chmodSync(join(root, 'src', 'a.ts'), 0o600);
    const chmodded = await print();
    expect(chmodded).not.toBe(touched);
    chmodSync(join(root, 'src', 'a.ts'), 0o644);
    writeFileSync(join(root, 'src', 'new.ts'), 'x');
    expect(await print()).not.toBe(chmodded);
    rmSync(join(root, 'src', 'new.ts'));
  });

  it('gives no fingerprint when a selected file carries no facts from the walk', async () => {
    const ctx = await openContext(root);
    const [selected] = await ctx.select(['src']);
    if (selected === undefined) throw new Error('nothing selected');
    const file = selected.children.find((c) => c.type === 'file');
    if (file === undefined) throw new Error('no file under src');
    const children = selected.children.map((c) => (c === file ? { ...c, facts: undefined } : c));
    expect(selectionFingerprint([{ root: selected.root, children }])).toBeUndefined();
    expect(selectionFingerprint([selected])?.newestChangeNs).toBeGreaterThan(0n);
  });
});
