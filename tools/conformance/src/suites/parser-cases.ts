import {
  chompHeredocContent,
  detectSyntax,
  findDirective,
  heredocsFromLine,
  isDockerfileError,
  parseDirectives,
  parseDockerfile,
  parseHeredocWord,
  parseJsonArgs,
  splitWords,
  type FoundDirective,
} from '@strata/parser';
import type { CaseResult, ConformanceSuite } from '../suite.js';
import { describeError, difference, readCases, type VectorCase } from '../vectors.js';

const SUITE = 'parser-cases';

/** Tests whose vectors live in the testfiles folders; `parser-testfiles` runs them. */
const IN_TESTFILES = new Set(['TestParseCases', 'TestParseErrorCases', 'TestParseIncludesLineNumbers']);

type Outcome = { ok: true } | { ok: false; detail: string };
const PASS: Outcome = { ok: true };

function compare(expected: unknown, actual: unknown): Outcome {
  const diff = difference(expected, actual);
  return diff === undefined ? PASS : { ok: false, detail: diff };
}

/** Runs `fn`, which must throw a DockerfileError (whose message must equal `message` when given). */
function mustThrow(fn: () => unknown, message?: string): Outcome {
  try {
    const value = fn();
    return { ok: false, detail: `expected an error, got ${JSON.stringify(value)}` };
  } catch (error) {
    if (!isDockerfileError(error)) return { ok: false, detail: `threw a non-DockerfileError: ${describeError(error)}` };
    if (message !== undefined && error.message !== message) return { ok: false, detail: `message ${JSON.stringify(error.message)}, expected ${JSON.stringify(message)}` };
    return PASS;
  }
}

interface GoHeredoc {
  readonly Name: string;
  readonly FileDescriptor: number;
  readonly Expand: boolean;
  readonly Chomp: boolean;
  readonly Content: string;
}

/** The fields of BuildKit's `DetectSyntax`/`ParseDirective` results that a row asserts. */
function directiveOutputs(found: FoundDirective | undefined, expected: Record<string, unknown>): Record<string, unknown> {
  const all: Record<string, unknown> = {
    ok: found !== undefined,
    ref: found?.ref ?? '',
    cmdline: found?.value ?? '',
    'loc[0].Start.Line': found?.location.start.line,
    'loc[0].End.Line': found?.location.end.line,
  };
  return Object.fromEntries(Object.keys(expected).map((k) => [k, all[k]]));
}

function run(row: VectorCase): Outcome {
  const input = row.input;
  switch (row.test) {
    case 'TestParseWords':
      return compare(row.expected, splitWords(input as string));

    case 'TestParseWarnsOnEmptyContinutationLine': {
      const expected = row.expected as Record<string, unknown>;
      const { warnings } = parseDockerfile(input as string);
      if (warnings.length !== expected['len(Warnings)']) return { ok: false, detail: `${warnings.length} warnings: ${JSON.stringify(warnings.map((w) => w.message))}` };
      const checks: [string, string | undefined][] = [
        ['Warnings[0].Short contains', warnings[0]?.message],
        ['Warnings[1].Short contains', warnings[1]?.message],
        ['Warnings[0].Detail[0] contains', warnings[0]?.detail],
      ];
      for (const [key, text] of checks) {
        for (const part of (expected[key] as string[] | undefined) ?? []) {
          if (text === undefined || !text.includes(part)) return { ok: false, detail: `${key} ${JSON.stringify(part)}: got ${JSON.stringify(text)}` };
        }
      }
      return PASS;
    }

    case 'TestParseReturnsScannerErrors': {
      const { template, substitute } = input as { template: string; substitute: { char: string; repeat: number } };
      const text = template.replace('%s', substitute.char.repeat(substitute.repeat));
      return mustThrow(() => parseDockerfile(text), row.expected as string);
    }

    case 'TestParseExtractsHeredoc':
    case 'TestParseJSONHeredoc': {
      const result = parseDockerfile(input as string);
      for (const entry of row.expected as { child_index: number; Heredocs?: GoHeredoc[] | null }[]) {
        const instruction = result.instructions[entry.child_index];
        if (instruction === undefined) return { ok: false, detail: `no instruction ${entry.child_index}` };
        const actual = instruction.heredocs.map((h) => ({
          Name: h.name,
          FileDescriptor: h.fileDescriptor ?? 0,
          Expand: h.expand,
          Chomp: h.chomp,
          Content: h.content,
        }));
        const outcome = compare(entry.Heredocs ?? [], actual);
        if (!outcome.ok) return { ok: false, detail: `child ${entry.child_index}: ${outcome.detail}` };
      }
      return PASS;
    }

    case 'TestHeredocChomp':
      return compare(row.expected, chompHeredocContent(input as string));

    case 'TestParseHeredocHelpers':
      if (row.expect_error) return mustThrow(() => parseHeredocWord(input as string));
      if (row.expected === null) return compare(undefined, parseHeredocWord(input as string));
      return compare((row.expected as { Name: string }).Name, parseHeredocWord(input as string)?.name);

    case 'TestHeredocsFromLine': {
      // BuildKit's test checks `heredocs[i].Name == expected[i]` for every heredoc
      // found, so finding fewer passes there. It does for `RUN <<- EOF`: the
      // shell lexer splits `<<-` from `EOF`, neither is a heredoc word, and
      // BuildKit's parser reads no heredoc from that line. strata matches
      // BuildKit's behaviour, so the row is checked the way BuildKit checks it.
      const expected = (row.expected as string[] | null) ?? [];
      const names = heredocsFromLine(input as string).map((h) => h.name);
      if (names.length > expected.length) return { ok: false, detail: `found ${JSON.stringify(names)}, expected at most ${JSON.stringify(expected)}` };
      return compare(expected.slice(0, names.length), names);
    }

    case 'TestDirectives':
      return compare(row.expected, parseDirectives(input as string).map((d) => ({ Name: d.name, Value: d.value })));

    case 'TestDetectSyntax':
    case 'TestDetectSyntaxBOM': {
      const expected = row.expected as Record<string, unknown>;
      return compare(expected, directiveOutputs(detectSyntax(input as string), expected));
    }

    case 'TestParseDirective': {
      const { key, dockerfile } = input as { key: 'syntax' | 'escape' | 'check'; dockerfile: string };
      const expected = row.expected as Record<string, unknown>;
      return compare(expected, directiveOutputs(findDirective(key, dockerfile), expected));
    }

    case 'TestJSONArraysOfStrings':
      if (row.expect_error) return mustThrow(() => parseJsonArgs(input as string), row.expected as string);
      return compare(row.expected, parseJsonArgs(input as string));

    // parseNameVal(input, KEY) has no public counterpart: the same splitting is
    // observable as the arguments of a LABEL/ENV instruction.
    case 'TestParseNameValOldFormat':
    case 'TestParseNameValNewFormat':
      return compare(row.expected, parseDockerfile(`LABEL ${input as string}`).instructions[0]?.args);

    case 'TestParseNameValWithoutVal':
      return mustThrow(() => parseDockerfile(`ENV ${input as string}`), row.expected as string);

    default:
      return { ok: false, detail: `no runner for ${row.test}` };
  }
}

/** The rows of cases.json from BuildKit's parser package (`frontend/dockerfile/parser/`). */
export const parserCases: ConformanceSuite = {
  name: SUITE,
  run(dir) {
    const rows = readCases(dir).filter((c) => c.source_file.startsWith('frontend/dockerfile/parser/') && !IN_TESTFILES.has(c.test));
    return rows.map((row): CaseResult => {
      const id = `${SUITE}/${row.test}/${row.name}`;
      try {
        const outcome = run(row);
        return outcome.ok ? { id, status: 'pass' } : { id, status: 'fail', detail: outcome.detail };
      } catch (error) {
        return { id, status: 'fail', detail: `threw ${describeError(error)}` };
      }
    });
  },
};
