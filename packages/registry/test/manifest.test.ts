import { encodeManifest, MediaTypes, parseManifest, computeDigest } from '@strata/registry';

const d = `sha256:${'b'.repeat(64)}` as const;
const desc = { mediaType: MediaTypes.ociLayerGzip, digest: d, size: 3 };

describe('parseManifest', () => {
  it('reads an OCI manifest and computes its digest over the exact bytes', () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: desc, layers: [desc] }, null, 2));
    const doc = parseManifest(bytes);
    expect(doc.kind).toBe('manifest');
    expect(doc.digest).toBe(computeDigest(bytes));
    expect(doc.mediaType).toBe(MediaTypes.ociManifest);
  });

  it('takes the media type from Content-Type when the document has none', () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    expect(parseManifest(bytes, { contentType: `${MediaTypes.dockerManifestList}; charset=utf-8` }).mediaType).toBe(MediaTypes.dockerManifestList);
    expect(parseManifest(bytes).mediaType).toBe(MediaTypes.ociIndex);
  });

  it('reads Docker schema 2 manifests and lists', () => {
    const manifest = encodeManifest({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: desc, layers: [] });
    expect(parseManifest(manifest.bytes).kind).toBe('manifest');
    const list = encodeManifest({ schemaVersion: 2, mediaType: MediaTypes.dockerManifestList, manifests: [{ ...desc, mediaType: MediaTypes.dockerManifest, platform: { os: 'linux', architecture: 'amd64' } }] });
    expect(parseManifest(list.bytes).kind).toBe('index');
  });

  it.each([
    ['not json', 'REGISTRY_INVALID_MANIFEST'],
    ['[]', 'REGISTRY_INVALID_MANIFEST'],
    [JSON.stringify({ schemaVersion: 1, name: 'x' }), 'REGISTRY_UNSUPPORTED_MEDIA_TYPE'],
    [JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.example+json' }), 'REGISTRY_UNSUPPORTED_MEDIA_TYPE'],
    [JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: { ...desc, digest: 'nope' }, layers: [] }), 'REGISTRY_INVALID_MANIFEST'],
    [JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: desc }), 'REGISTRY_INVALID_MANIFEST'],
    [JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ ...desc, platform: { os: 'linux' } }] }), 'REGISTRY_INVALID_MANIFEST'],
  ])('rejects %s with %s', (text, code) => {
    expect(() => parseManifest(Buffer.from(text))).toThrow(expect.objectContaining({ code }) as unknown as Error);
  });
});
