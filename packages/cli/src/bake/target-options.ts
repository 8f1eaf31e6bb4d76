import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import {
  parseCacheExport,
  parseCacheImport,
  parseNamedContext,
  parseOutputSpec,
  type BuildOptions,
  type BuildOutput,
  type CacheExportSpec,
  type CacheImportSpec,
  type NamedContext,
  type NetworkMode,
  type SshAgentSpec,
} from '@strata/builder';
import { parseAddHost, withLocalPath } from '../build-flags.js';
import { BakeError } from './errors.js';
import type { Entry, Target } from './model.js';

/** What a target's build needs from outside its definition. */
export interface TargetOptionsInput {
  readonly name: string;
  readonly target: Target;
  /** Built only for its consumers (`target:` contexts): not tagged, no outputs. */
  readonly linked: boolean;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `--allow` of the bake command. */
  readonly allow: readonly string[];
  /** Named contexts made of other targets' results (`target:NAME`, an arg naming another target's tag). */
  readonly produced: Readonly<Record<string, NamedContext>>;
  /** Where secrets given by environment variable are written for the build (0600), removed by the caller. */
  readonly scratch: () => string;
}

const csv = (e: Entry) => Object.entries(e).map(([k, v]) => `${k}=${v}`).join(',');


/** A bake output as strata's: registry pushes, oci/docker archives; a docker or image output without a file is the store itself. */
function outputOf(e: Entry, name: string, cwd: string): BuildOutput | undefined {
  switch (e.type) {
    case 'cacheonly':
      return undefined;
    case 'registry':
      return { type: 'registry' };
    case 'image':
      return e.push === 'true' ? { type: 'registry' } : undefined;
    case 'docker':
    case 'oci': {
      if (e.dest === undefined) return undefined;
      const { dest, ...rest } = e;
      const output = parseOutputSpec(csv({ ...rest, dest }));
      return output.type === 'registry' ? output : { ...output, dest: resolve(cwd, dest) };
    }
    default:
      throw new BakeError('BAKE_UNSUPPORTED', `target ${name}: output type=${e.type ?? '?'} is not supported (strata writes type=oci|docker,dest=FILE, type=registry or type=image,push=true; images stay in its store)`);
  }
}

/**
 * A resolved target as the builder's options: paths relative to the current
 * directory (the Dockerfile relative to the context, as buildx), named
 * contexts (other targets' results included), cache, secrets, SSH, outputs.
 */
export function targetBuildOptions(input: TargetOptionsInput): Omit<BuildOptions, 'store' | 'registry' | 'onEvent' | 'signal'> {
  const { target: t, name, cwd } = input;
  const contextText = t.context ?? '.';
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(contextText) || contextText.startsWith('git@')) {
    throw new BakeError('BAKE_UNSUPPORTED', `target ${name}: a remote context (${contextText}) is not supported; use a local folder`);
  }
  const context = resolve(cwd, contextText);
  const dockerfileText = t.dockerfile ?? 'Dockerfile';
  const dockerfile = isAbsolute(dockerfileText) ? dockerfileText : join(context, dockerfileText);
  const namedContexts: Record<string, NamedContext> = {};
  for (const [key, value] of Object.entries(t.contexts ?? {})) {
    if (value.startsWith('target:')) {
      const produced = input.produced[key];
      if (produced === undefined) throw new Error(`internal: target ${name}: context ${key} was not produced`);
      namedContexts[key] = produced;
    } else namedContexts[key] = parseNamedContext(value, { cwd });
  }
  for (const [key, value] of Object.entries(input.produced)) namedContexts[key] ??= value;
  const secrets: Record<string, string> = {};
  for (const s of t.secret ?? []) {
    if (s.src !== undefined) secrets[s.id] = resolve(cwd, s.src);
    else {
      const value = input.env[s.env ?? s.id];
      if (value === undefined) continue;
      const file = join(input.scratch(), s.id.replace(/[^A-Za-z0-9_.-]/g, '_'));
      writeFileSync(file, value, { mode: 0o600 });
      chmodSync(file, 0o600);
      secrets[s.id] = file;
    }
  }
  const ssh: SshAgentSpec[] = (t.ssh ?? []).map((s) => {
    if (s.paths !== undefined && s.paths.length > 0) return { id: s.id, paths: s.paths.map((p) => resolve(cwd, p)) };
    const sock = input.env.SSH_AUTH_SOCK;
    if (sock === undefined || sock === '') throw new BakeError('BAKE_INVALID', `target ${name}: ssh ${s.id} needs an agent: SSH_AUTH_SOCK is not set`);
    return { id: s.id, paths: [sock] };
  });
  const hostNetwork = t.network === 'host' || (t.entitlements ?? []).includes('network.host');
  if (hostNetwork && !input.allow.includes('network.host')) {
    throw new BakeError('BAKE_INVALID', `target ${name} asks for the network.host entitlement: grant it with strata bake --allow network.host`);
  }
  if (t.network !== undefined && !['default', 'host', 'none'].includes(t.network)) throw new BakeError('BAKE_INVALID', `target ${name}: network must be default, host or none`);
  const outputs = input.linked ? [] : (t.output ?? []).flatMap((e) => outputOf(e, name, cwd) ?? []);
  const extraHosts = Object.entries(t['extra-hosts'] ?? {}).flatMap(([host, ips]) =>
    (ips ?? '')
      .split(',')
      .filter((ip) => ip !== '')
      .map((address) => {
        try {
          return parseAddHost(`${host}=${address}`);
        } catch (error) {
          throw new BakeError('BAKE_INVALID', `target ${name}: extra-hosts: ${(error as Error).message}`);
        }
      }),
  );
  const args = Object.fromEntries(Object.entries(t.args ?? {}).filter((e): e is [string, string] => e[1] !== null));
  const labels = Object.fromEntries(Object.entries(t.labels ?? {}).filter((e): e is [string, string] => e[1] !== null));
  return {
    context,
    dockerfile,
    ...(t['dockerfile-inline'] === undefined ? {} : { dockerfileText: t['dockerfile-inline'] }),
    tags: input.linked ? [] : (t.tags ?? []),
    buildArgs: args,
    labels,
    ...(t.target === undefined ? {} : { target: t.target }),
    ...(t.platforms === undefined || t.platforms.length === 0 ? {} : { platform: t.platforms.join(',') }),
    noCache: t['no-cache'] === true,
    pull: t.pull === true,
    ...(t['no-cache-filter'] === undefined || t['no-cache-filter'].length === 0 ? {} : { noCacheFilter: t['no-cache-filter'] }),
    ...(t['cache-from'] === undefined ? {} : { cacheFrom: t['cache-from'].map((e) => withLocalPath(parseCacheImport(csv(e)), cwd)) }),
    ...(t['cache-to'] === undefined ? {} : { cacheTo: t['cache-to'].map((e) => withLocalPath(parseCacheExport(csv(e)), cwd)) }),
    ...(Object.keys(namedContexts).length === 0 ? {} : { namedContexts }),
    secrets,
    ...(ssh.length === 0 ? {} : { ssh }),
    ...(outputs.length === 0 ? {} : { output: outputs }),
    ...(t.network === undefined ? {} : { network: t.network as NetworkMode }),
    ...(hostNetwork ? { allow: ['network.host' as const] } : {}),
    ...(extraHosts.length === 0 ? {} : { extraHosts }),
  };
}

/** A folder for secrets given by environment variable (0700), under the system's temp folder. */
export function secretScratch(): string {
  return mkdtempSync(join(tmpdir(), 'strata-bake-secrets-'));
}
