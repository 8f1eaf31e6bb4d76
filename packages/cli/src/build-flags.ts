import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { CacheExportSpec, CacheImportSpec } from '@strata/builder';

// Flags that `strata build` and `strata bake` read the same way.

/** A local cache folder relative to the working directory. */
export function withLocalPath<T extends CacheImportSpec | CacheExportSpec>(spec: T, cwd: string): T {
  return spec.location.type === 'local' ? { ...spec, location: { ...spec.location, dir: resolve(cwd, spec.location.dir) } } : spec;
}

/** `--add-host NAME:IP` (docker's form; `NAME=IP` too, and an IPv6 address in brackets or bare). */
export function parseAddHost(text: string): { name: string; address: string } {
  const eq = text.indexOf('=');
  const at = eq >= 0 ? eq : text.indexOf(':');
  const name = at > 0 ? text.slice(0, at) : '';
  const address = text.slice(at + 1).replace(/^\[(.*)\]$/, '$1');
  if (name === '' || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name) || isIP(address) === 0) {
    throw new Error(`--add-host ${text}: expected NAME:IP with a host name and an IPv4 or IPv6 address`);
  }
  return { name, address };
}
