import type { ContainerConfig } from '@strata/cache';
import type { Instruction } from '@strata/parser';
import { buildError, BuildErrors } from '../errors.js';
import { setEnv } from '../image/state.js';

/** Expands one word with the ARG/ENV in scope (quotes removed). */
export type Expand = (word: string) => string;

/** A metadata instruction's effect: the config after it, and its history line. */
export interface MetadataChange {
  readonly config: ContainerConfig;
  readonly createdBy: string;
  /** The expanded instruction, for the cache key chain. */
  readonly canonical: unknown;
}

function normalizePort(spec: string): string[] {
  const [portPart = '', proto = 'tcp'] = spec.split('/');
  const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(portPart);
  if (m === null) throw buildError(BuildErrors.invalidInstruction, [`EXPOSE: invalid port '${spec}'`]);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (to < from || to > 65535) throw buildError(BuildErrors.invalidInstruction, [`EXPOSE: invalid port range '${spec}'`]);
  const out: string[] = [];
  for (let p = from; p <= to; p += 1) out.push(`${p}/${proto.toLowerCase()}`);
  return out;
}

/** The command as stored in config: exec form as is, shell form behind the shell. */
export function commandOf(ins: { cmdLine: readonly string[]; prependShell: boolean }, shell: readonly string[]): string[] {
  return ins.prependShell ? [...shell, ins.cmdLine.join(' ')] : [...ins.cmdLine];
}

export const DEFAULT_SHELL = ['/bin/sh', '-c'] as const;

/**
 * Applies ENV, LABEL, EXPOSE, VOLUME, USER, CMD, ENTRYPOINT, SHELL,
 * STOPSIGNAL, HEALTHCHECK, ONBUILD and MAINTAINER to a container config, the
 * way docker build records them. Returns undefined for other instructions.
 * `stage.cmdSet`: a CMD came earlier in this stage (ENTRYPOINT then keeps it).
 */
export function applyMetadata(ins: Instruction, config: ContainerConfig, expand: Expand, stage: { readonly cmdSet?: boolean } = {}): MetadataChange | undefined {
  const shell = config.Shell ?? DEFAULT_SHELL;
  switch (ins.kind) {
    case 'env': {
      const pairs = ins.pairs.map((p) => [expand(p.key), expand(p.value)] as const);
      return {
        config: { ...config, Env: setEnv(config.Env, pairs) },
        createdBy: `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`,
        canonical: pairs,
      };
    }
    case 'label': {
      const pairs = ins.pairs.map((p) => [expand(p.key), expand(p.value)] as const);
      const labels = { ...(config.Labels ?? {}) };
      for (const [k, v] of pairs) labels[k] = v;
      return { config: { ...config, Labels: labels }, createdBy: `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, canonical: pairs };
    }
    case 'maintainer':
      return { config, createdBy: `MAINTAINER ${ins.maintainer}`, canonical: ins.maintainer };
    case 'expose': {
      const ports = ins.ports.flatMap((p) => expand(p).split(/\s+/).filter((x) => x !== '')).flatMap(normalizePort);
      const exposed: Record<string, object> = { ...(config.ExposedPorts ?? {}) };
      for (const p of ports) exposed[p] = {};
      return { config: { ...config, ExposedPorts: exposed }, createdBy: `EXPOSE map[${ports.map((p) => `${p}:{}`).join(' ')}]`, canonical: ports };
    }
    case 'volume': {
      const volumes: Record<string, object> = { ...(config.Volumes ?? {}) };
      const list = ins.volumes.map(expand);
      for (const v of list) {
        if (v.trim() === '') throw buildError(BuildErrors.invalidInstruction, ['VOLUME specified can not be an empty string']);
        volumes[v] = {};
      }
      return { config: { ...config, Volumes: volumes }, createdBy: `VOLUME [${list.join(' ')}]`, canonical: list };
    }
    case 'user': {
      const user = expand(ins.user);
      return { config: { ...config, User: user }, createdBy: `USER ${user}`, canonical: user };
    }
    case 'cmd': {
      const cmd = commandOf(ins, shell);
      return { config: { ...config, Cmd: cmd }, createdBy: `CMD ${JSON.stringify(cmd)}`, canonical: cmd };
    }
    case 'entrypoint': {
      const ep = commandOf(ins, shell);
      // docker build: a new ENTRYPOINT resets a CMD inherited from the base image,
      // not one this stage set before it
      return { config: { ...config, Entrypoint: ep, Cmd: stage.cmdSet === true ? (config.Cmd ?? null) : null }, createdBy: `ENTRYPOINT ${JSON.stringify(ep)}`, canonical: ep };
    }
    case 'shell':
      return { config: { ...config, Shell: [...ins.shell] }, createdBy: `SHELL ${JSON.stringify(ins.shell)}`, canonical: ins.shell };
    case 'stopsignal': {
      const signal = expand(ins.signal);
      return { config: { ...config, StopSignal: signal }, createdBy: `STOPSIGNAL ${signal}`, canonical: signal };
    }
    case 'healthcheck': {
      const h = ins.health;
      const test = h.test[0] === 'CMD-SHELL' && h.test.length === 2 ? ['CMD-SHELL', h.test[1] as string] : [...h.test];
      const healthcheck = {
        Test: test,
        ...(h.interval ? { Interval: h.interval } : {}),
        ...(h.timeout ? { Timeout: h.timeout } : {}),
        ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}),
        ...(h.startInterval ? { StartInterval: h.startInterval } : {}),
        ...(h.retries ? { Retries: h.retries } : {}),
      };
      return { config: { ...config, Healthcheck: healthcheck }, createdBy: `HEALTHCHECK ${JSON.stringify(healthcheck)}`, canonical: healthcheck };
    }
    case 'onbuild':
      return { config: { ...config, OnBuild: [...(config.OnBuild ?? []), ins.expression] }, createdBy: `ONBUILD ${ins.expression}`, canonical: ins.expression };
    default:
      return undefined;
  }
}
