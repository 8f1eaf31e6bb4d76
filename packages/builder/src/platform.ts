import type { Platform } from '@strata/cache';

/** A normalized os/architecture/variant triple. */
export interface TargetPlatform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
  i686: '386',
};

/** Parses and normalizes `os/arch[/variant]` as docker does (`linux/aarch64` → linux/arm64/v8). */
export function parsePlatform(text: string): TargetPlatform {
  const parts = text.trim().toLowerCase().split('/');
  const [os, rawArch, rawVariant] = parts;
  if (os === undefined || os === '' || rawArch === undefined || rawArch === '' || parts.length > 3) {
    throw new RangeError(`invalid platform '${text}': expected os/arch[/variant], e.g. linux/arm64`);
  }
  const architecture = ARCH_ALIASES[rawArch] ?? rawArch;
  let variant = rawVariant === undefined || rawVariant === '' ? undefined : rawVariant;
  if (architecture === 'arm64' && (variant === undefined || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && variant === undefined) variant = rawArch === 'armel' ? 'v6' : 'v7';
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

export function formatPlatform(p: TargetPlatform): string {
  return p.variant === undefined ? `${p.os}/${p.architecture}` : `${p.os}/${p.architecture}/${p.variant}`;
}

/** The platform of the machine strata runs on. */
export function hostPlatform(): TargetPlatform {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  return parsePlatform(`linux/${arch}`);
}

/** Whether an image's platform satisfies a requested one (arm64 with no variant matches v8). */
export function platformMatches(wanted: TargetPlatform, have: Platform | TargetPlatform): boolean {
  if (wanted.os !== have.os) return false;
  const h = parsePlatform(`${have.os}/${have.architecture}${have.variant ? `/${have.variant}` : ''}`);
  if (wanted.architecture !== h.architecture) return false;
  return wanted.variant === undefined || h.variant === undefined || wanted.variant === h.variant;
}

/** The automatic platform build args (BUILDPLATFORM, TARGETARCH, ...). */
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
