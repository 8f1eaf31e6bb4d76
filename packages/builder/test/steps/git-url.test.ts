import { parseGitSource, redact, withAddFlags } from '../../src/steps/git-url.js';

// Which ADD sources name a git repository, and what their fragment and query say (BuildKit's rules).
describe('parseGitSource', () => {
  it.each([
    ['https://github.com/moby/buildkit.git', { scheme: 'https', remote: 'https://github.com/moby/buildkit.git', host: 'github.com', ref: '', subdir: '' }],
    ['https://example.com/foo.git#release/1.2', { ref: 'release/1.2', subdir: '' }],
    ['https://github.com/foo/bar.git#baz/qux:quux/quuz', { remote: 'https://github.com/foo/bar.git', ref: 'baz/qux', subdir: 'quux/quuz' }],
    ['https://github.com/docker/docker.git#:myfolder', { ref: '', subdir: 'myfolder' }],
    ['https://github.com/docker/docker.git#main:../../etc', { ref: 'main', subdir: 'etc' }],
    ['git://example.com/foo', { scheme: 'git', remote: 'git://example.com/foo' }],
    ['ssh://git@example.com:2222/org/repo.git#v1', { scheme: 'ssh', host: 'example.com:2222', remote: 'ssh://git@example.com:2222/org/repo.git', ref: 'v1' }],
    ['git@github.com:moby/buildkit.git', { scheme: 'ssh', host: 'github.com', remote: 'git@github.com:moby/buildkit.git' }],
    ['deploy@git.example.com:team/app#main:src', { scheme: 'ssh', remote: 'deploy@git.example.com:team/app', ref: 'main', subdir: 'src' }],
    ['https://x.example/r.git?ref=v2&subdir=docs', { ref: 'v2', subdir: 'docs' }],
    ['https://x.example/r.git?tag=v2', { ref: 'refs/tags/v2' }],
    ['https://x.example/r.git?branch=dev&keep-git-dir&submodules=false&checksum=abc1', { ref: 'refs/heads/dev', keepGitDir: true, submodules: false, checksum: 'abc1' }],
  ])('%s is a git source', (text, expected) => {
    expect(parseGitSource(text)).toMatchObject(expected);
  });

  it.each(['https://example.com/foo', 'https://example.com/foo.git/', 'https://example.com/foo.git.bar', 'http://x/archive.tar.gz', 'ftp://x/r.git', './.git', 'src/app', 'github.com/moby/buildkit'])(
    '%s is not',
    (text) => {
      expect(parseGitSource(text)).toBeUndefined();
    },
  );

  it('refuses conflicting or unknown query values and refs that look like options', () => {
    expect(() => parseGitSource('https://x/r.git#v1?ref=v2')).not.toThrow();
    expect(() => parseGitSource('https://x/r.git?ref=v2#v1')).toThrow(/ref conflicts/);
    expect(() => parseGitSource('https://x/r.git?tag=a&branch=b')).toThrow(/branch conflicts with tag/);
    expect(() => parseGitSource('https://x/r.git?depth=1')).toThrow(/unexpected query "depth"/);
    expect(() => parseGitSource('https://x/r.git#--upload-pack=evil')).toThrow(/invalid git ref/);
  });

  it('merges --checksum and --keep-git-dir, which must agree with the query and be hex', () => {
    const source = parseGitSource('https://x/r.git#v1') as NonNullable<ReturnType<typeof parseGitSource>>;
    expect(withAddFlags(source, { checksum: 'ABC123', keepGitDir: true })).toMatchObject({ checksum: 'abc123', keepGitDir: true });
    expect(() => withAddFlags(source, { checksum: 'sha256:abc' })).toThrow(/expected hex commit hash/);
    const queried = parseGitSource('https://x/r.git?checksum=aaa&keep-git-dir=true') as NonNullable<ReturnType<typeof parseGitSource>>;
    expect(() => withAddFlags(queried, { checksum: 'bbb' })).toThrow(/checksum mismatch/);
    expect(() => withAddFlags(queried, { keepGitDir: false })).toThrow(/inconsistent keep-git-dir/);
  });

  it('redacts a password (a token) in URLs it names', () => {
    expect(redact('https://user:secret-token@example.com/r.git#main')).toBe('https://user:xxxxx@example.com/r.git#main');
    expect(redact('https://example.com/r.git')).toBe('https://example.com/r.git');
  });
});
