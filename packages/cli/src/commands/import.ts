import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { importRootfs, type ContainerConfig } from '@strata/cache';
import { expandWord, parseDockerfile, parseInstruction, type Instruction } from '@strata/parser';
import { hostPlatform, parsePlatform } from '@strata/registry';
import { parseCommandLine, writeUsageError, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { openStore, reportImageError } from '../store.js';

const syntax: CommandSyntax = {
  usage: 'strata import [OPTIONS] FILE|- [REPOSITORY[:TAG]]',
  description: [
    'Make an image from a root filesystem tar (or a gzip-compressed one; - reads standard input):',
    'one layer, a config for the platform, `Imported from -` in its history. Prints the image ID.',
    '--change applies Dockerfile instructions: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL,',
    'ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR.',
  ].join('\n'),
  options: [
    { name: 'tag', short: 't', type: 'string', valueName: 'NAME', description: 'Name the image (same as the REPOSITORY[:TAG] argument)' },
    { name: 'change', short: 'c', type: 'string', valueName: 'INSTRUCTION', multiple: true, description: 'Apply a Dockerfile instruction to the config (repeatable)' },
    { name: 'platform', type: 'string', valueName: 'PLATFORM', description: 'os/arch[/variant] of the image (default: this machine\'s)' },
    { name: 'message', short: 'm', type: 'string', valueName: 'TEXT', description: 'Set the history comment' },
  ],
  positionals: [1, 2],
};

const CHANGE_KINDS = ['cmd', 'entrypoint', 'env', 'expose', 'healthcheck', 'label', 'onbuild', 'stopsignal', 'user', 'volume', 'workdir'];

/** A `--change` problem the user must fix. */
export class ChangeError extends Error {}

function envOf(config: ContainerConfig): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of config.Env ?? []) {
    const eq = entry.indexOf('=');
    env.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? '' : entry.slice(eq + 1));
  }
  return env;
}

function command(ins: { cmdLine: readonly string[]; prependShell: boolean }, config: ContainerConfig): string[] {
  return ins.prependShell ? [...(config.Shell ?? ['/bin/sh', '-c']), ins.cmdLine.join(' ')] : [...ins.cmdLine];
}

/** Applies one `--change` instruction to a config, as docker import (and docker build) record it. */
export function applyChange(config: ContainerConfig, text: string): ContainerConfig {
  const raw = parseDockerfile(text).instructions[0];
  if (raw === undefined) throw new ChangeError(`--change '${text}' holds no instruction`);
  const ins: Instruction = parseInstruction(raw);
  if (!CHANGE_KINDS.includes(ins.kind)) {
    throw new ChangeError(`--change does not accept ${ins.kind.toUpperCase()} (only ${CHANGE_KINDS.map((k) => k.toUpperCase()).join(', ')})`);
  }
  const env = envOf(config);
  const expand = (word: string) => expandWord(word, { get: (name: string) => env.get(name) });
  switch (ins.kind) {
    case 'cmd':
      return { ...config, Cmd: command(ins, config) };
    case 'entrypoint':
      return { ...config, Entrypoint: command(ins, config) };
    case 'env': {
      for (const p of ins.pairs) env.set(expand(p.key), expand(p.value));
      return { ...config, Env: [...env].map(([k, v]) => `${k}=${v}`) };
    }
    case 'label': {
      const labels: Record<string, string> = { ...(config.Labels ?? {}) };
      for (const p of ins.pairs) labels[expand(p.key)] = expand(p.value);
      return { ...config, Labels: labels };
    }
    case 'expose': {
      const ports: Record<string, object> = { ...(config.ExposedPorts ?? {}) };
      for (const spec of ins.ports.map(expand)) ports[spec.includes('/') ? spec.toLowerCase() : `${spec}/tcp`] = {};
      return { ...config, ExposedPorts: ports };
    }
    case 'volume': {
      const volumes: Record<string, object> = { ...(config.Volumes ?? {}) };
      for (const v of ins.volumes.map(expand)) volumes[v] = {};
      return { ...config, Volumes: volumes };
    }
    case 'user':
      return { ...config, User: expand(ins.user) };
    case 'workdir':
      return { ...config, WorkingDir: expand(ins.path) };
    case 'stopsignal':
      return { ...config, StopSignal: expand(ins.signal) };
    case 'onbuild':
      return { ...config, OnBuild: [...(config.OnBuild ?? []), ins.expression] };
    case 'healthcheck': {
      const h = ins.health;
      return {
        ...config,
        Healthcheck: {
          Test: [...h.test],
          ...(h.interval ? { Interval: h.interval } : {}),
          ...(h.timeout ? { Timeout: h.timeout } : {}),
          ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}),
          ...(h.startInterval ? { StartInterval: h.startInterval } : {}),
          ...(h.retries ? { Retries: h.retries } : {}),
        },
      };
    }
    default:
      throw new ChangeError(`--change does not accept ${ins.kind.toUpperCase()}`);
  }
}

/** `strata import [-t NAME] [--platform P] [-c INSTRUCTION]... [-m TEXT] FILE|- [REPOSITORY[:TAG]]` (also `strata image import`). */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('import', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const usageError = (message: string): number => writeUsageError(io, 'import', syntax, message);
  const [file = '', positionalName] = argv.positionals;
  const tag = argv.values.tag as string | undefined;
  if (tag !== undefined && positionalName !== undefined) return usageError('give the name either with -t or as the second argument, not both');
  const name = tag ?? positionalName;
  let spool: string | undefined;
  try {
    let config: ContainerConfig = {};
    for (const change of (argv.values.change as string[] | undefined) ?? []) {
      try {
        config = applyChange(config, change);
      } catch (error) {
        if (error instanceof ChangeError) return usageError(error.message);
        throw error;
      }
    }
    const platformText = argv.values.platform as string | undefined;
    const platform = platformText === undefined ? hostPlatform() : parsePlatform(platformText);
    const store = await openStore(io);
    let path = resolve(io.cwd, file);
    if (file === '-') {
      spool = await mkdtemp(join(tmpdir(), 'strata-import-'));
      path = join(spool, 'rootfs.tar');
      await pipeline(io.stdin, createWriteStream(path));
    }
    const message = argv.values.message as string | undefined;
    const result = await importRootfs(store, path, {
      platform: { os: platform.os, architecture: platform.architecture, ...(platform.variant === undefined ? {} : { variant: platform.variant }) },
      config,
      ...(name === undefined ? {} : { name }),
      ...(message === undefined ? {} : { comment: message }),
    });
    io.stdout.write(`${result.configDigest}\n`);
    if (name === undefined) io.stderr.write('strata import: the image has no name, so `strata prune` will remove it; give one (-t NAME) to keep it\n');
    return ExitCode.ok;
  } catch (error) {
    return reportImageError(io, 'import', error);
  } finally {
    if (spool !== undefined) await rm(spool, { recursive: true, force: true });
  }
}
