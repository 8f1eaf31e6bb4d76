import { digestOf, MediaType, parseDigest } from '@strata/cache';
import { encodeManifest, parseManifest } from '@strata/registry';

const d = parseDigest(`sha256:${'b'.repeat(64)}`);
const desc = { mediaType: MediaType.ociLayerGzip, digest: d, size: 3 };

describe('parseManifest', () => {
  it('reads an OCI manifest and computes its digest over the exact bytes', () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: desc, layers: [desc] }, null, 2));
    const doc = parseManifest(bytes);
    expect(doc.kind).toBe('manifest');
    expect(doc.digest).toBe(digestOf(bytes));
    expect(doc.mediaType).toBe(MediaType.ociManifest);
  });

  it('takes the media type from Content-Type when the document has none', () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect(parseManifest(bytes, { contentType: `${MediaType.dockerManifestList}; charset=utf-8` }).mediaType).toBe(MediaType.dockerManifestList);
    expect(parseManifest(bytes).mediaType).toBe(MediaType.ociIndex);
  });

  it('reads Docker schema 2 manifests and lists', () => {
    const manifest = encodeManifest({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config: desc, layers: [] });
    expect(parseManifest(manifest.bytes).kind).toBe('manifest');
    const list = encodeManifest({ schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: [{ ...desc, mediaType: MediaType.dockerManifest, platform: { os: 'linux', architecture: 'amd64' } }] });
    expect(parseManifest(list.bytes).kind).toBe('index');
  });

  it.each([
    ['not json', 'REGISTRY_INVALID_MANIFEST'],
    ['[]', 'REGISTRY_INVALID_MANIFEST'],
    [JSON.stringify({ schemaVersion: 1, name: 'x' }), 'REGISTRY_UNSUPPORTED_MEDIA_TYPE'],
    [JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.example+json' }), 'REGISTRY_UNSUPPORTED_MEDIA_TYPE'],
    [JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { ...desc, digest: 'nope' }, layers: [] }), 'REGISTRY_INVALID_MANIFEST'],
    [JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: desc }), 'REGISTRY_INVALID_MANIFEST'],
    [JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...desc, platform: { os: 'linux' } }] }), 'REGISTRY_INVALID_MANIFEST'],
  ])('rejects %s with %s', (text, code) => {
    expect(() => parseManifest(Buffer.from(text))).toThrow(expect.objectContaining({ code }) as unknown as Error);
  });
});
