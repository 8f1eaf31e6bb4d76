import { MediaType, parseDigest, type Digest, type Index, type Platform } from '@strata/cache';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches, selectPlatform } from '@strata/registry';

const digest = (c: string): Digest => parseDigest(`sha256:${c.repeat(64)}`);

describe('parsePlatform', () => {
  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/arm64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/v6', 'linux/arm/v6'],
    ['linux/armhf', 'linux/arm/v7'],
    ['arm64', 'linux/arm64'],
    ['Linux/AMD64', 'linux/amd64'],
  ])('%s -> %s', (input, output) => {
    expect(formatPlatform(parsePlatform(input))).toBe(output);
  });

  it.each(['', 'linux/', '/amd64', 'linux/arm64/v8/x', 'linux amd64', 'notanarch'])('rejects %j', (input) => {
    expect(() => parsePlatform(input)).toThrow(expect.objectContaining({ code: 'REGISTRY_INVALID_PLATFORM' }) as unknown as Error);
  });

  it('knows the host platform', () => {
    const host = hostPlatform();
    expect(host.os).toBe(process.platform);
    expect(host.architecture).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
  });
});

describe('platformMatches', () => {
  const p = (os: string, architecture: string, variant?: string): Platform => ({ os, architecture, ...(variant ? { variant } : {}) });
  it.each([
    [p('linux', 'arm64'), p('linux', 'arm64', 'v8'), true],
    [p('linux', 'arm64'), p('linux', 'arm64'), true],
    [p('linux', 'arm64', 'v8'), p('linux', 'arm64'), true],
    [p('linux', 'arm64'), p('linux', 'arm', 'v7'), false],
    [p('linux', 'arm', 'v7'), p('linux', 'arm', 'v6'), false],
    [p('linux', 'arm'), p('linux', 'arm', 'v7'), true],
    [p('linux', 'amd64'), p('linux', 'amd64', 'v3'), true],
    [p('linux', 'amd64'), p('windows', 'amd64'), false],
  ])('%j ~ %j = %s', (wanted, candidate, expected) => {
    expect(platformMatches(wanted, candidate)).toBe(expected);
  });
});

describe('selectPlatform', () => {
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [
      { mediaType: MediaType.ociManifest, digest: digest('1'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MediaType.ociManifest, digest: digest('2'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: MediaType.ociManifest, digest: digest('3'), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      {
        mediaType: MediaType.ociManifest, digest: digest('4'), size: 1, platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      },
    ],
  };

  it('picks linux/arm64 (variant v8 in the index)', () => {
    expect(selectPlatform(index, parsePlatform('linux/arm64')).digest).toBe(digest('3'));
  });

  it('prefers the exact variant', () => {
    const two: Index = {
      ...index,
      manifests: [
        { mediaType: MediaType.ociManifest, digest: digest('5'), size: 1, platform: { os: 'linux', architecture: 'amd64', variant: 'v3' } },
        { mediaType: MediaType.ociManifest, digest: digest('6'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    expect(selectPlatform(two, parsePlatform('linux/amd64')).digest).toBe(digest('6'));
    expect(selectPlatform(two, { os: 'linux', architecture: 'amd64', variant: 'v3' }).digest).toBe(digest('5'));
  });

  it('lists the platforms (without attestations) when none matches', () => {
    expect(() => selectPlatform(index, parsePlatform('linux/riscv64'), 'example:1')).toThrow(
      expect.objectContaining({
        code: 'REGISTRY_NO_MATCHING_PLATFORM',
        message: 'example:1 has no image for linux/riscv64; it has: linux/amd64, linux/arm/v7, linux/arm64',
      }) as unknown as Error,
    );
  });
});
