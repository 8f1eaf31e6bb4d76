import { formatReference, parseReference, registryEndpoint, credentialKey, normalizeRegistryHost } from '@strata/registry';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference normalizes as docker does', () => {
  it.each([
    ['ubuntu', 'docker.io', 'library/ubuntu', 'latest', undefined, 'docker.io/library/ubuntu:latest'],
    ['ubuntu:22.04', 'docker.io', 'library/ubuntu', '22.04', undefined, 'docker.io/library/ubuntu:22.04'],
    ['nvidia/cuda:12.2.0-base', 'docker.io', 'nvidia/cuda', '12.2.0-base', undefined, 'docker.io/nvidia/cuda:12.2.0-base'],
    ['docker.io/ubuntu', 'docker.io', 'library/ubuntu', 'latest', undefined, 'docker.io/library/ubuntu:latest'],
    ['index.docker.io/library/ubuntu', 'docker.io', 'library/ubuntu', 'latest', undefined, 'docker.io/library/ubuntu:latest'],
    ['localhost/app', 'localhost', 'app', 'latest', undefined, 'localhost/app:latest'],
    ['localhost:5000/team/app:v1', 'localhost:5000', 'team/app', 'v1', undefined, 'localhost:5000/team/app:v1'],
    ['127.0.0.1:5000/a/b/c', '127.0.0.1:5000', 'a/b/c', 'latest', undefined, '127.0.0.1:5000/a/b/c:latest'],
    ['nvcr.io/nvidia/l4t-base:r36.2.0', 'nvcr.io', 'nvidia/l4t-base', 'r36.2.0', undefined, 'nvcr.io/nvidia/l4t-base:r36.2.0'],
    [`ubuntu@${D}`, 'docker.io', 'library/ubuntu', undefined, D, `docker.io/library/ubuntu@${D}`],
    [`ubuntu:22.04@${D}`, 'docker.io', 'library/ubuntu', '22.04', D, `docker.io/library/ubuntu:22.04@${D}`],
    ['Registry.Example.com/app', 'registry.example.com', 'app', 'latest', undefined, 'registry.example.com/app:latest'],
    ['[::1]:5000/app:v2', '[::1]:5000', 'app', 'v2', undefined, '[::1]:5000/app:v2'],
    ['my_org/my-app__x.y:tag_1.0-rc', 'docker.io', 'my_org/my-app__x.y', 'tag_1.0-rc', undefined, 'docker.io/my_org/my-app__x.y:tag_1.0-rc'],
  ])('%s', (input, registry, repository, tag, digest, formatted) => {
    const ref = parseReference(input);
    expect(ref).toEqual({ registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) });
    expect(formatReference(ref)).toBe(formatted);
    expect(parseReference(formatted)).toEqual(ref);
  });

  it('formats the familiar form', () => {
    expect(formatReference(parseReference('ubuntu'), { familiar: true })).toBe('ubuntu:latest');
    expect(formatReference(parseReference('nvidia/cuda:1'), { familiar: true })).toBe('nvidia/cuda:1');
    expect(formatReference(parseReference('localhost:5000/x'), { familiar: true })).toBe('localhost:5000/x:latest');
  });

  it('can leave the tag out', () => {
    expect(parseReference('ubuntu', { defaultTag: false })).toEqual({ registry: 'docker.io', repository: 'library/ubuntu' });
  });
});

describe('parseReference rejects bad input with REGISTRY_INVALID_REFERENCE', () => {
  it.each([
    ['', /empty/],
    ['Ubuntu', /lowercase/],
    ['docker.io/Library/ubuntu', /lowercase/],
    ['ubuntu:', /not a valid tag/],
    ['ubuntu:-bad', /not a valid tag/],
    [`ubuntu:${'x'.repeat(129)}`, /not a valid tag/],
    ['ubuntu@sha256:abc', /not a digest/],
    ['ubuntu@md5:' + 'a'.repeat(32), /not a digest/],
    ['a//b', /not a valid repository name/],
    ['-app', /not a valid repository name/],
    ['app-', /not a valid repository name/],
    ['host:99999/app', /port 99999/],
    ['my app', /whitespace/],
    ['localhost:5000/', /empty/],
    [`registry.example.com/${'a'.repeat(250)}`, /longer than 255/],
  ])('%j', (input, detail) => {
    let error: unknown;
    try {
      parseReference(input);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'REGISTRY_INVALID_REFERENCE' });
    expect((error as Error).message).toMatch(detail);
    expect((error as { hint?: string }).hint).toBeTruthy();
  });
});

describe('registry host helpers', () => {
  it('maps Docker Hub to its API endpoint and credential key', () => {
    expect(registryEndpoint('docker.io')).toBe('registry-1.docker.io');
    expect(registryEndpoint('ghcr.io')).toBe('ghcr.io');
    expect(credentialKey('docker.io')).toBe('https://index.docker.io/v1/');
    expect(credentialKey('localhost:5000')).toBe('localhost:5000');
  });

  it.each([
    ['https://index.docker.io/v1/', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['docker.io', 'docker.io'],
    ['http://LOCALHOST:5000', 'localhost:5000'],
    ['ghcr.io/some/path', 'ghcr.io'],
  ])('normalizes %s', (input, host) => {
    expect(normalizeRegistryHost(input)).toBe(host);
  });
});
