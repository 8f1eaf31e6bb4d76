// Platforms (`os/architecture[/variant]`) as image indexes describe them, with
// the normalization containerd applies: aarch64 is arm64, whose variant v8 is
// the same as none; x86_64 is amd64; arm without a variant is arm/v7.
import type { Platform } from '@strata/cache';
import { registryError, RegistryErrors } from './errors.js';

const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  aarch64: { architecture: 'arm64' },
  arm64: { architecture: 'arm64' },
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  amd64: { architecture: 'amd64' },
  i386: { architecture: '386' },
  i686: { architecture: '386' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
};

/** Normalizes names and variants so equal platforms compare equal. */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase();
  const alias = ARCH_ALIASES[platform.architecture.toLowerCase()];
  const architecture = alias?.architecture ?? platform.architecture.toLowerCase();
  let variant = (platform.variant ?? alias?.variant)?.toLowerCase();
  if (variant === '') variant = undefined;
  if (architecture === 'arm64' && (variant === 'v8' || variant === '8')) variant = undefined;
  if (architecture === 'arm') {
    if (variant === undefined) variant = 'v7';
    else if (/^\d+$/.test(variant)) variant = `v${variant}`;
  }
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  return { os, architecture, ...(variant !== undefined ? { variant } : {}) };
}

/** Parses `os/arch[/variant]` (also `arch` alone, meaning linux). Throws REGISTRY_INVALID_PLATFORM. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  if (parts.some((p) => p === '' || !/^[A-Za-z0-9_.-]+$/.test(p)) || parts.length > 3) {
    throw registryError(RegistryErrors.invalidPlatform, [text]);
  }
  const [first, second, third] = parts as [string, string?, string?];
  if (second === undefined) {
    if (ARCH_ALIASES[first.toLowerCase()] === undefined) throw registryError(RegistryErrors.invalidPlatform, [text]);
    return normalizePlatform({ os: 'linux', architecture: first });
  }
  return normalizePlatform({ os: first, architecture: second, ...(third !== undefined ? { variant: third } : {}) });
}

export function formatPlatform(platform: Platform): string {
  const p = platform;
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** The platform of this process, as an image index would name it. */
export function hostPlatform(): Platform {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return normalizePlatform({ os, architecture: arch });
}

/**
 * True when an index entry's platform satisfies the wanted one. A wanted
 * platform without a variant accepts any variant of its architecture (arm
 * excepted: it means v7); linux/arm64 accepts variant v8 or none.
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return false;
  if (w.variant === undefined) return true;
  return w.variant === c.variant;
}

/** 2 for an exact match, 1 for a match by the rules above, 0 for none: lets selection prefer exact. */
export function platformScore(wanted: Platform, candidate: Platform): number {
  if (!platformMatches(wanted, candidate)) return 0;
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  return w.variant === c.variant ? 2 : 1;
}
