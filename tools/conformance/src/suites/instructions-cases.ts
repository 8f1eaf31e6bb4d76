import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  flag,
  handleJsonArgs,
  isDockerfileError,
  parseDevice,
  parseDockerfile,
  parseFlags,
  parseInstruction,
  parseOptInterval,
  parseStages,
  type FlagSpec,
  type Instruction,
  type RawInstruction,
} from '@strata/parser';
import type { CaseResult, ConformanceSuite } from '../suite.js';

/**
 * The rows of cases.json from BuildKit's frontend/dockerfile/instructions
 * tests (bflag, rundevice, parse, parse_heredoc, support), each run through
 * the typed layer. Error texts are compared as the row says: exactly, or as
 * a substring.
 */
interface Row {
  readonly source_file: string;
  readonly test: string;
  readonly name: string;
  readonly op: string;
  readonly input: unknown;
  readonly expected: unknown;
  readonly expect_error: boolean;
}

const PREFIX = 'frontend/dockerfile/instructions/';

type Outcome = string | undefined; // undefined = pass, otherwise what went wrong

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function same(actual: unknown, expected: unknown, what: string): Outcome {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  return a === e ? undefined : `${what}: expected ${e}, got ${a}`;
}

/** Go nil slices are JSON null; strata gives empty arrays. */
const orEmpty = <T>(v: readonly T[] | null | undefined): readonly T[] => v ?? [];

function firstInstruction(text: string): RawInstruction {
  const first = parseDockerfile(text, { file: 'Dockerfile' }).instructions[0];
  if (first === undefined) throw new Error('no instruction parsed');
  return first;
}

/** An instruction made by hand, as the Go tests build a parser.Node. */
function handMade(node: { Original?: string; Value: string; Next_values: string[] }): RawInstruction {
  const original = node.Original ?? [node.Value.toUpperCase(), ...node.Next_values].join(' ');
  const value = {
    keyword: node.Value,
    flags: [],
    args: node.Next_values,
    json: false,
    heredocs: [],
    original,
    logicalLine: original,
    location: { start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: original.length + 1, offset: original.length } },
  };
  return value;
}

function expectError(run: () => unknown, expected: string, exact: boolean): Outcome {
  try {
    run();
  } catch (error) {
    if (!isDockerfileError(error)) return `threw a non-DockerfileError: ${errorText(error)}`;
    const message = error.message;
    if (exact ? message === expected : message.includes(expected)) return undefined;
    return `expected error ${exact ? '' : 'containing '}${JSON.stringify(expected)}, got ${JSON.stringify(message)}`;
  }
  return `expected error ${JSON.stringify(expected)}, but it succeeded`;
}

function asKind<K extends Instruction['kind']>(i: Instruction, kind: K): Extract<Instruction, { kind: K }> {
  if (i.kind !== kind) throw new Error(`expected a ${kind} instruction, got ${i.kind}`);
  return i as Extract<Instruction, { kind: K }>;
}

/** Resolves a Go-ish path of TestCommentsDetection (`stages[0].Commands[1].(ArgCommand).Args[0].Key`) on strata's values. */
function resolvePath(root: Record<string, unknown>, path: string): unknown {
  const names: Record<string, string> = { stages: 'stages', meta: 'metaArgs', DocComment: 'docComment', Args: 'args', Key: 'key', Commands: 'instructions' };
  let value: unknown = root;
  for (const part of path.replace(/\.\((\w+)\)/g, '').split('.')) {
    const m = /^(\w+)(?:\[(\d+)\])?$/.exec(part);
    if (m === null) return undefined;
    const key = names[m[1] ?? ''] ?? m[1] ?? '';
    value = (value as Record<string, unknown> | undefined)?.[key];
    if (m[2] !== undefined) value = (value as unknown[] | undefined)?.[Number(m[2])];
  }
  return value;
}

function runRow(row: Row): Outcome {
  const input = row.input;
  const exact = row.op.includes('exactly');
  switch (row.test) {
    case 'TestCommandsExactlyOneArgument':
    case 'TestCommandsAtLeastOneArgument':
    case 'TestCommandsNoDestinationArgument':
    case 'TestErrorCases':
    case 'TestErrorCasesHeredoc': {
      const raw = firstInstruction(input as string);
      return expectError(() => parseInstruction(raw), row.expected as string, exact);
    }
    case 'TestCommandsTooManyArguments':
    case 'TestCommandsBlankNames': {
      const raw = handMade((input as { node: Parameters<typeof handMade>[0] }).node);
      return expectError(() => parseInstruction(raw), row.expected as string, true);
    }
    case 'TestHealthCheckCmd': {
      const raw = handMade((input as { node: Parameters<typeof handMade>[0] }).node);
      return same(asKind(parseInstruction(raw), 'healthcheck').health.test, row.expected, 'Health.Test');
    }
    case 'TestParseOptInterval': {
      const expected = row.expected as string;
      if (!row.expect_error) {
        parseOptInterval('interval', input as string);
        return undefined;
      }
      return expectError(() => parseOptInterval('interval', input as string), expected.replace(/^error contains: /, ''), false);
    }
    case 'TestNilLinter': {
      const spec = input as { commands: string[]; suffixes: string[]; template: string };
      for (const cmd of spec.commands) {
        for (const suffix of spec.suffixes) {
          const text = spec.template.replace('{cmd}', cmd).replace('{suffix}', suffix);
          let result;
          try {
            result = parseDockerfile(text);
          } catch (error) {
            if (isDockerfileError(error)) continue;
            return `parseDockerfile(${JSON.stringify(text)}) threw ${errorText(error)}`;
          }
          try {
            parseStages(result, { source: text });
          } catch (error) {
            if (!isDockerfileError(error)) return `parseStages(${JSON.stringify(text)}) threw ${errorText(error)}`;
          }
        }
      }
      return undefined;
    }
    case 'TestCommentsDetection': {
      const text = input as string;
      const stages = parseStages(parseDockerfile(text), { source: text });
      const root = { stages: stages.stages, metaArgs: stages.metaArgs };
      for (const [path, expected] of Object.entries(row.expected as Record<string, unknown>)) {
        const problem = same(resolvePath(root, path), expected, path);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    case 'TestRunCmdFlagsUsed': {
      const run = asKind(parseInstruction(firstInstruction(input as string)), 'run');
      return same(run.flagsUsed, (row.expected as { FlagsUsed: string[] }).FlagsUsed, 'FlagsUsed');
    }
    case 'TestCopyHeredoc': {
      const copy = asKind(parseInstruction(firstInstruction(input as string)), 'copy');
      const e = row.expected as { DestPath: string; SourcePaths: string[] | null; SourceContents: { Path: string; Data: string; Expand: boolean }[] | null };
      return (
        same(copy.destination, e.DestPath, 'DestPath') ??
        same(copy.sources, orEmpty(e.SourcePaths), 'SourcePaths') ??
        same(copy.inlineSources.map((s) => ({ Path: s.path, Data: s.data, Expand: s.expand })), orEmpty(e.SourceContents), 'SourceContents')
      );
    }
    case 'TestRunHeredoc': {
      const run = asKind(parseInstruction(firstInstruction(input as string)), 'run');
      const e = row.expected as { PrependShell: boolean; CmdLine: string[]; Files: { Name: string; Data: string; Chomp: boolean }[] | null };
      return (
        same(run.prependShell, e.PrependShell, 'PrependShell') ??
        same(run.cmdLine, e.CmdLine, 'CmdLine') ??
        same(run.files.map((f) => ({ Name: f.name, Data: f.data, Chomp: f.chomp })), orEmpty(e.Files), 'Files')
      );
    }
    case 'TestBuilderFlags':
      return builderFlags(input as BuilderFlagsInput, row.expected as Record<string, unknown>);
    case 'TestParseDevice': {
      if (row.expect_error) return expectError(() => parseDevice(input as string), row.expected as string, true);
      const d = parseDevice(input as string);
      return same({ Name: d.name, Required: d.required }, row.expected, 'Device');
    }
    case 'TestHandleJSONArgs': {
      const i = input as { args: string[]; attributes: { json?: boolean } | null };
      return same(handleJsonArgs(i.args, i.attributes?.json === true), row.expected, 'handleJSONArgs');
    }
    default:
      return `no runner for ${row.test}`;
  }
}

interface BuilderFlagsInput {
  readonly flags: ({ string: string; default: string } | { bool: string; default: boolean })[];
  readonly args: string[];
}

function builderFlags(input: BuilderFlagsInput, expected: Record<string, unknown>): Outcome {
  const specs: Record<string, FlagSpec> = {};
  for (const f of input.flags) {
    if ('string' in f) specs[f.string] = flag.string(f.default);
    else specs[f.bool] = flag.bool(f.default);
  }
  let parsed;
  try {
    parsed = parseFlags(input.args, specs);
  } catch (error) {
    if (!isDockerfileError(error)) return `threw a non-DockerfileError: ${errorText(error)}`;
    return expected.parse_error === true ? undefined : `unexpected error: ${error.message}`;
  }
  if (expected.parse_error === true) return 'expected a parse error';
  for (const [key, want] of Object.entries(expected)) {
    if (key === 'parse_error') continue;
    let got: unknown;
    if (key === 'sorted(Used())') got = [...parsed.used].sort();
    else {
      const [name = '', prop] = key.split('.');
      if (prop === 'IsUsed') got = parsed.used.includes(name);
      else got = parsed.values[name];
    }
    const problem = same(got, want, key);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

export const instructionsCases: ConformanceSuite = {
  name: 'instructions-cases',
  run(dir: string): CaseResult[] {
    const all = (JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { cases: Row[] }).cases;
    const rows = all.filter((r) => r.source_file.startsWith(PREFIX));
    const counts = new Map<string, number>();
    return rows.map((row) => {
      const base = `${row.source_file.slice(PREFIX.length)}#${row.test}/${row.name}`;
      const n = counts.get(base) ?? 0;
      counts.set(base, n + 1);
      const id = `instructions-cases/${base}${n > 0 ? `#${n}` : ''}`;
      let outcome: Outcome;
      try {
        outcome = runRow(row);
      } catch (error) {
        outcome = `threw: ${errorText(error)}`;
      }
      return outcome === undefined ? { id, status: 'pass' } : { id, status: 'fail', detail: outcome };
    });
  },
};
