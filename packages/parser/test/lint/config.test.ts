import { isValidImageReference, looksLikeSecret, mergeCheckConfig, parseCheckConfig } from '@strata/parser';

describe('parseCheckConfig', () => {
  it('reads skip lists, skip=all, error and experimental', () => {
    expect(parseCheckConfig('skip=A, B;error=true')).toEqual({ skip: ['A', 'B'], error: true, experimental: [] });
    expect(parseCheckConfig(' skip=all ')).toEqual({ skip: 'all', error: false, experimental: [] });
    expect(parseCheckConfig('experimental=all;error=false')).toEqual({ skip: [], error: false, experimental: 'all' });
    expect(parseCheckConfig('')).toEqual({ skip: [], error: false, experimental: [] });
  });

  it.each(['skip', 'error=maybe', 'ignore=A'])('rejects %j', (value) => {
    expect(() => parseCheckConfig(value)).toThrow(expect.objectContaining({ code: 'PARSE_INVALID_CHECK' }));
  });

  it('merges configs', () => {
    expect(mergeCheckConfig(parseCheckConfig('skip=A'), parseCheckConfig('skip=B;error=true'))).toEqual({ skip: ['A', 'B'], error: true, experimental: [] });
    expect(mergeCheckConfig(parseCheckConfig('skip=all'), parseCheckConfig('skip=B')).skip).toBe('all');
  });
});

describe('looksLikeSecret', () => {
  it.each([['GITHUB_TOKEN', true], ['password', true], ['AWS_SECRET_ACCESS_KEY', true], ['auth', true], ['PUBLIC_KEY', false], ['KEY_FILE', false], ['MONKEY', false], ['tokenizer', false], ['APP_VERSION', false]])('%s -> %s', (name, expected) => {
    expect(looksLikeSecret(name)).toBe(expected);
  });
});

describe('isValidImageReference', () => {
  it.each([['alpine', true], ['alpine:3.19', true], ['docker.io/library/alpine:3.19', true], ['localhost:5000/a/b@sha256:' + 'a'.repeat(64), true], ['busybox:', false], ['', false], ['Alpine', false], ['/alpine', false]])('%j -> %s', (name, expected) => {
    expect(isValidImageReference(name)).toBe(expected);
  });
});
