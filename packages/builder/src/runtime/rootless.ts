import { readFileSync } from 'node:fs';

/**
 * Whether this process runs in a user namespace other than the initial one
 * (rootless strata: see bin/strata and docs/ARCHITECTURE.md, "Rootless").
 * The initial namespace maps all 2^32 ids onto themselves.
 */
export function inUserNamespace(): boolean {
  if (userNamespace === undefined) {
    try {
      userNamespace = !/^\s*0\s+0\s+4294967295\s*$/.test(readFileSync('/proc/self/uid_map', 'utf8'));
    } catch {
      userNamespace = false;
    }
  }
  return userNamespace;
}

/** A process does not change user namespace: read once. */
let userNamespace: boolean | undefined;

/**
 * Where strata keeps its runtime state (runc's state folder, RUN network
 * namespaces): `$STRATA_RUN_DIR`, which rootless strata sets to a folder of
 * the user's (`$XDG_RUNTIME_DIR/strata`), else /run/strata.
 */
export function runDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.STRATA_RUN_DIR ?? '/run/strata';
}
