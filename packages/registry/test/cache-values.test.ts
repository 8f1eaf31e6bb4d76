// The registry has no OCI values of its own: media types, descriptors,
// digests and references are @strata/cache's, still exported here under the
// names this package used when it defined copies.
import * as cache from '@strata/cache';
import * as registry from '@strata/registry';

describe("@strata/registry's OCI names are @strata/cache's", () => {
  it('re-exports the same values', () => {
    expect(registry.MediaTypes).toBe(cache.MediaType);
    expect(registry.isIndexMediaType).toBe(cache.isIndexMediaType);
    expect(registry.isManifestMediaType).toBe(cache.isManifestMediaType);
    expect(registry.isDigestString).toBe(cache.isOciDigest);
    expect(registry.formatReference).toBe(cache.formatReference);
    expect(registry.formatRepository).toBe(cache.formatRepository);
    expect(registry.DOCKER_HUB).toBe(cache.DOCKER_HUB);
    expect(registry.DEFAULT_TAG).toBe(cache.DEFAULT_TAG);
  });

  it('takes the same types', () => {
    const digest: registry.DigestString = cache.digestOf('x');
    const descriptor: cache.Descriptor = { mediaType: cache.MediaType.ociLayerGzip, digest, size: 1 };
    const manifest: registry.ImageManifest = { schemaVersion: 2, config: descriptor, layers: [descriptor] };
    const index: registry.ImageIndex = { schemaVersion: 2, manifests: [descriptor] };
    const reference: registry.Reference = cache.parseReference('busybox');
    expect([manifest.config, index.manifests[0], reference.tag]).toEqual([descriptor, descriptor, 'latest']);
  });

  it('parses references with one grammar, each package failing with its own code', () => {
    for (const text of ['ubuntu:22.04', `ghcr.io/a/b@sha512:${'c'.repeat(128)}`, 'Registry.Example.com:5000/x/y:1']) {
      expect(registry.parseReference(text)).toEqual(cache.parseReference(text));
    }
    for (const text of ['Ubuntu', 'host:99999/app', `a@md5:${'a'.repeat(32)}`]) {
      expect(() => registry.parseReference(text)).toThrow(expect.objectContaining({ code: 'REGISTRY_INVALID_REFERENCE' }) as Error);
      expect(() => cache.parseReference(text)).toThrow(expect.objectContaining({ code: 'CACHE_INVALID_REFERENCE' }) as Error);
    }
  });
});
