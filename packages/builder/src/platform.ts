import { formatPlatform, hostPlatform, parsePlatform, platformMatches, type Platform } from '@strata/registry';

/**
 * A build's target platform: registry's normalized form (containerd's rules:
 * aarch64 is arm64, arm64/v8 is arm64 with no variant), so that matching and
 * the TARGET* build args read as BuildKit's.
 */
export type TargetPlatform = Platform;

export { formatPlatform, hostPlatform, parsePlatform, platformMatches };

/**
 * The platform fields an image config records: as docker does for arm64
 * images, the variant v8 is written out.
 */
export function configPlatform(p: TargetPlatform): { os: string; architecture: string; variant?: string } {
  const variant = p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  return variant === undefined ? { os: p.os, architecture: p.architecture } : { os: p.os, architecture: p.architecture, variant };
}

/** The automatic platform build args (BUILDPLATFORM, TARGETARCH, ...), as BuildKit sets them. */
export function platformArgs(build: TargetPlatform, target: TargetPlatform): Record<string, string> {
  return {
    BUILDPLATFORM: formatPlatform(build),
    BUILDOS: build.os,
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? '',
    TARGETPLATFORM: formatPlatform(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? '',
  };
}
