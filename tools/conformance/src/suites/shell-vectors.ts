import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  envFromList,
  expandWord,
  expandWordWithMatches,
  expandWords,
  isDockerfileError,
  reversePattern,
  reverseString,
  shellPatternToRegexSource,
} from '@strata/parser';
import type { CaseResult, ConformanceSuite } from '../suite.js';

const NAME = 'shell-vectors';

/** The environment of every envVarTest row (FORMAT.md section 8). */
const ENV_VAR_TEST_ENV = envFromList(['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL=']);

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

function attempt(run: () => unknown): Outcome {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    return { ok: false, error };
  }
}

function describe(outcome: Outcome): string {
  if (outcome.ok) return `result ${JSON.stringify(outcome.value)}`;
  const e = outcome.error;
  return isDockerfileError(e) ? `error ${e.code}: ${e.message}` : `non-DockerfileError exception: ${String(e)}`;
}

/** An expected failure must be an EXPAND_* DockerfileError (optionally with `contains` in its message). */
function expectError(id: string, outcome: Outcome, contains?: string): CaseResult {
  if (!outcome.ok && isDockerfileError(outcome.error) && outcome.error.code.startsWith('EXPAND_')) {
    if (contains === undefined || outcome.error.message.includes(contains)) return { id, status: 'pass' };
  }
  return { id, status: 'fail', detail: `expected an EXPAND_ error${contains === undefined ? '' : ` containing ${JSON.stringify(contains)}`}, got ${describe(outcome)}` };
}

function expectValue(id: string, outcome: Outcome, expected: unknown): CaseResult {
  if (outcome.ok && JSON.stringify(outcome.value) === JSON.stringify(expected)) return { id, status: 'pass' };
  return { id, status: 'fail', detail: `expected ${JSON.stringify(expected)}, got ${describe(outcome)}` };
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** shell/envVarTest: `PLATFORM|input|expected`, one ProcessWord each (W rows are Windows-only). */
function runEnvVarTest(dir: string): CaseResult[] {
  const results: CaseResult[] = [];
  lines(join(dir, 'shell', 'envVarTest')).forEach((raw, index) => {
    if (raw.startsWith('#')) return;
    const line = raw.trim();
    if (line === '') return;
    const id = `${NAME}/envVarTest:${index + 1}`;
    const fields = line.split('|');
    if (fields.length !== 3) {
      results.push({ id, status: 'fail', detail: `malformed row: ${JSON.stringify(line)}` });
      return;
    }
    const [platform, source, expected] = fields.map((f) => f.trim()) as [string, string, string];
    if (platform === 'W') {
      results.push({ id, status: 'not-applicable', detail: 'Windows-only row (case-insensitive variable names)' });
      return;
    }
    const outcome = attempt(() => expandWord(source, ENV_VAR_TEST_ENV));
    results.push(expected === 'error' ? expectError(id, outcome) : expectValue(id, outcome, expected));
  });
  return results;
}

/** shell/wordsTest: `input|w1,w2,...` through ProcessWords; `ENV k=v` lines add to the env of later rows. */
function runWordsTest(dir: string): CaseResult[] {
  const results: CaseResult[] = [];
  const env: string[] = [];
  lines(join(dir, 'shell', 'wordsTest')).forEach((line, index) => {
    if (line.startsWith('#') || (line === '' && index > 0)) return;
    if (line.startsWith('ENV ')) {
      env.push(line.slice(3).replace(/^ +/, ''));
      return;
    }
    const id = `${NAME}/wordsTest:${index + 1}`;
    const fields = line.split('|');
    if (fields.length !== 2) {
      results.push({ id, status: 'fail', detail: `malformed row: ${JSON.stringify(line)}` });
      return;
    }
    const source = (fields[0] as string).trim();
    const expected = (fields[1] as string).replace(/^ +/, '').split(',');
    const outcome = attempt(() => expandWords(source, envFromList(env)));
    results.push(expected.length === 1 && expected[0] === 'error' ? expectError(id, outcome) : expectValue(id, outcome, expected));
  });
  return results;
}

interface Case {
  readonly source_file: string;
  readonly test: string;
  readonly name: string;
  readonly input: unknown;
  readonly expected: unknown;
  readonly expect_error: boolean;
  readonly line?: number;
}

function envOf(envs: unknown): Map<string, string> {
  if (Array.isArray(envs)) return envFromList(envs as string[]);
  return new Map(Object.entries((envs ?? {}) as Record<string, string>));
}

function sorted(set: ReadonlySet<string>): string[] {
  return [...set].sort();
}

/** One row of cases.json from frontend/dockerfile/shell/. */
function runCase(c: Case, id: string): CaseResult {
  const input = c.input as Record<string, unknown>;
  switch (c.test) {
    case 'TestShellParser4EnvVars': {
      if (input.platform === 'W') return { id, status: 'not-applicable', detail: 'Windows-only row' };
      const outcome = attempt(() => expandWord(input.word as string, envOf(input.envs)));
      return c.expect_error ? expectError(id, outcome) : expectValue(id, outcome, c.expected);
    }
    case 'TestShellParser4Words': {
      const outcome = attempt(() => expandWords(input.word as string, envOf(input.envs)));
      return c.expect_error ? expectError(id, outcome) : expectValue(id, outcome, c.expected);
    }
    case 'TestShellParserMandatoryEnvVars': {
      const outcome = attempt(() => expandWord(input.word as string, envOf(input.envs)));
      if (!c.expect_error) return expectValue(id, outcome, c.expected);
      const prefix = 'error contains: ';
      const text = typeof c.expected === 'string' && c.expected.startsWith(prefix) ? c.expected.slice(prefix.length) : undefined;
      return expectError(id, outcome, text);
    }
    case 'TestProcessWithMatches': {
      const outcome = attempt(() => expandWordWithMatches(input.word as string, envOf(input.envs)));
      if (c.expect_error) return expectError(id, outcome);
      const actual = outcome.ok
        ? (() => {
            const m = outcome.value as ReturnType<typeof expandWordWithMatches>;
            return { ok: true as const, value: { Result: m.result, Matched: sorted(m.matched), Unmatched: sorted(m.unmatched) } };
          })()
        : outcome;
      const expected = c.expected as { Result: string; Matched: string[]; Unmatched: string[] };
      return expectValue(id, actual, { Result: expected.Result, Matched: [...expected.Matched].sort(), Unmatched: [...expected.Unmatched].sort() });
    }
    case 'TestProcessWithMatchesPlatform': {
      const outcome = attempt(() => expandWordWithMatches(input.word as string, envOf(input.envs)).result);
      return c.expect_error ? expectError(id, outcome) : expectValue(id, outcome, c.expected);
    }
    case 'TestGetEnv': {
      // getEnv reads the environment as EnvsFromSlice builds it: last duplicate wins, unset reads as "".
      const outcome = attempt(() => envFromList(input.envs as string[]).get(input.name as string) ?? '');
      return expectValue(id, outcome, c.expected);
    }
    case 'TestConvertShellPatternToRegex': {
      const outcome = attempt(() => shellPatternToRegexSource(c.input as string, { greedy: true, anchored: true }));
      if (!c.expect_error) return expectValue(id, outcome, c.expected);
      // The pattern API throws a PatternError; through expansion it is an EXPAND_INVALID_PATTERN.
      if (outcome.ok) return { id, status: 'fail', detail: `expected an invalid-pattern error, got ${describe(outcome)}` };
      return expectError(id, attempt(() => expandWord(`\${V#${c.input as string}}`, { V: 'value' }, { escape: '`' })));
    }
    case 'TestReverseString':
      return expectValue(id, attempt(() => reverseString(c.input as string)), c.expected);
    case 'TestReversePattern':
      return expectValue(id, attempt(() => reversePattern(c.input as string)), c.expected);
    default:
      return { id, status: 'fail', detail: `no runner for ${c.test}` };
  }
}

function runCases(dir: string): CaseResult[] {
  const all = (JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { cases: Case[] }).cases;
  const counts = new Map<string, number>();
  return all
    .filter((c) => c.source_file.startsWith('frontend/dockerfile/shell/'))
    .map((c) => {
      const n = (counts.get(c.test) ?? 0) + 1;
      counts.set(c.test, n);
      return runCase(c, `${NAME}/cases.json/${c.test}#${n} (${c.name})`);
    });
}

/** BuildKit's shell expansion vectors: envVarTest, wordsTest and the shell rows of cases.json. */
export const shellVectorsSuite: ConformanceSuite = {
  name: NAME,
  run(dir: string): CaseResult[] {
    return [...runEnvVarTest(dir), ...runWordsTest(dir), ...runCases(dir)];
  },
};
