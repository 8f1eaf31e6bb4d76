import { parseChallenges } from '@strata/registry';

describe('parseChallenges', () => {
  it('reads a Bearer challenge with quoted params', () => {
    expect(
      parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"'),
    ).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/ubuntu:pull' } },
    ]);
  });

  it('reads several challenges, token values and escapes', () => {
    expect(parseChallenges('Basic realm="a \\"quoted\\" realm", Bearer realm=https://x/token, error=insufficient_scope')).toEqual([
      { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
      { scheme: 'bearer', params: { realm: 'https://x/token', error: 'insufficient_scope' } },
    ]);
  });

  it('keeps commas inside quoted values', () => {
    expect(parseChallenges('Bearer realm="r",scope="repository:a:pull,push repository:b:pull"')[0]?.params.scope).toBe(
      'repository:a:pull,push repository:b:pull',
    );
  });

  it('answers nothing for an absent header', () => {
    expect(parseChallenges(null)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
  });
});
