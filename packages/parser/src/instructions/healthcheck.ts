import type { DockerfileError } from '../errors.js';
import { InstructionErrors, locateError, valueError } from './errors.js';
import { flag } from './flags.js';
import { atFlag, baseFields, fail, flagsOf, handleJsonArgs, requireAtLeastOne, type InstructionInput } from './common.js';
import type { HealthConfig, HealthcheckInstruction } from './types.js';

const unitNs: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * A Go duration (`1h30m`, `500ms`, `1.5s`, `0`) in nanoseconds. Throws a
 * location-less DockerfileError (PARSE_INVALID_DURATION).
 */
export function parseGoDuration(text: string): number {
  const bad = (): never => { throw valueError(InstructionErrors.invalidDuration, `time: invalid duration ${JSON.stringify(text)}`); };
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') bad();
  let total = 0;
  const part = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const match = part.exec(s);
    if (match === null) {
      if (/^(\d+\.?\d*|\.\d+)$/.test(s)) throw valueError(InstructionErrors.invalidDuration, `time: missing unit in duration ${JSON.stringify(text)}`);
      return bad();
    }
    total += Number(match[1]) * (unitNs[match[2] ?? ''] ?? 0);
    s = s.slice(match[0].length);
  }
  return sign * Math.round(total);
}

/** BuildKit's parseOptInterval: "" and 0 mean the default; anything else must be at least 1ms. */
export function parseOptInterval(name: string, value: string): number {
  if (value === '') return 0;
  const d = parseGoDuration(value);
  if (d === 0) return 0;
  if (d < 1e6) throw valueError(InstructionErrors.invalidDuration, `Interval ${JSON.stringify(name)} cannot be less than 1ms`);
  return d;
}

const healthcheckFlags = {
  interval: flag.string(),
  timeout: flag.string(),
  'start-period': flag.string(),
  'start-interval': flag.string(),
  retries: flag.string(),
} as const;

/** `HEALTHCHECK [--interval=..] [--timeout=..] [--start-period=..] [--start-interval=..] [--retries=N] CMD command` or `HEALTHCHECK NONE`. */
export function parseHealthcheck(input: InstructionInput): HealthcheckInstruction {
  const { raw } = input;
  requireAtLeastOne(raw, 'HEALTHCHECK');
  const type = (raw.args[0] ?? '').toUpperCase();
  const args = raw.args.slice(1);
  if (type === 'NONE') {
    if (args.length !== 0) fail(raw, InstructionErrors.invalidHealthcheck, 'HEALTHCHECK NONE takes no arguments');
    // BuildKit does not look at flags here; the known ones are accepted (and have no effect), others refused.
    const flags = flagsOf(raw, healthcheckFlags);
    const health: HealthConfig = { test: ['NONE'], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
    return { kind: 'healthcheck', ...baseFields(input, flags.used), health };
  }
  const flags = flagsOf(raw, healthcheckFlags);
  if (type !== 'CMD') fail(raw, InstructionErrors.invalidHealthcheck, `Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`);
  const cmd = handleJsonArgs(args, raw.json);
  if (cmd.length === 0) fail(raw, InstructionErrors.invalidHealthcheck, 'Missing command after HEALTHCHECK CMD');
  const test = [raw.json ? 'CMD' : 'CMD-SHELL', ...cmd];
  try {
    const v = flags.values;
    let retries = 0;
    if (v.retries !== '') {
      const text = v.retries;
      retries = atFlag(raw, 'retries', 0, () => {
        if (!/^[+-]?\d+$/.test(text) || Math.abs(Number(text)) > 2 ** 31 - 1) {
          throw valueError(InstructionErrors.invalidHealthcheck, `strconv.ParseInt: parsing ${JSON.stringify(text)}: invalid syntax`);
        }
        const n = Number(text);
        if (n < 0) throw valueError(InstructionErrors.invalidHealthcheck, `--retries cannot be negative (${n})`);
        return n;
      });
    }
    const health: HealthConfig = {
      test,
      interval: atFlag(raw, 'interval', 0, () => parseOptInterval('interval', v.interval)),
      timeout: atFlag(raw, 'timeout', 0, () => parseOptInterval('timeout', v.timeout)),
      startPeriod: atFlag(raw, 'start-period', 0, () => parseOptInterval('start-period', v['start-period'])),
      startInterval: atFlag(raw, 'start-interval', 0, () => parseOptInterval('start-interval', v['start-interval'])),
      retries,
    };
    return { kind: 'healthcheck', ...baseFields(input, flags.used), health };
  } catch (error) {
    throw locateError(error, raw) as DockerfileError;
  }
}
