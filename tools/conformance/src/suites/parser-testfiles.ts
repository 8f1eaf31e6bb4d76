import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDockerfileError, parseDockerfile } from '@strata/parser';
import { formatDump } from '../dump.js';
import type { CaseResult, ConformanceSuite } from '../suite.js';
import { describeError, difference, readCases } from '../vectors.js';

const SUITE = 'parser-testfiles';

function listCases(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort() : [];
}

/** `parser/testfiles/<case>`: the parse must succeed and dump byte for byte as `result`. */
function positive(dir: string, name: string): CaseResult {
  const id = `${SUITE}/testfiles/${name}`;
  const folder = join(dir, 'parser', 'testfiles', name);
  const source = readFileSync(join(folder, 'Dockerfile'), 'utf8');
  const expected = readFileSync(join(folder, 'result'), 'utf8');
  let actual: string;
  try {
    actual = formatDump(parseDockerfile(source, { file: 'Dockerfile' }));
  } catch (error) {
    return { id, status: 'fail', detail: `parse failed: ${describeError(error)}` };
  }
  if (actual === expected) return { id, status: 'pass' };
  const want = expected.split('\n');
  const got = actual.split('\n');
  const at = want.findIndex((line, i) => line !== got[i]);
  return { id, status: 'fail', detail: `line ${at + 1}:\n  expected ${want[at] ?? '<end>'}\n  actual   ${got[at] ?? '<end>'}` };
}

/** `parser/testfiles-negative/<case>`: the parse must throw a DockerfileError. */
function negative(dir: string, name: string): CaseResult {
  const id = `${SUITE}/testfiles-negative/${name}`;
  const source = readFileSync(join(dir, 'parser', 'testfiles-negative', name, 'Dockerfile'), 'utf8');
  try {
    parseDockerfile(source, { file: 'Dockerfile' });
  } catch (error) {
    if (isDockerfileError(error)) return { id, status: 'pass' };
    return { id, status: 'fail', detail: `threw a non-DockerfileError: ${describeError(error)}` };
  }
  return { id, status: 'fail', detail: 'parsed without error' };
}

/** `parser/testfile-line`: instruction line ranges as `TestParseIncludesLineNumbers` expects them (from cases.json). */
function lineNumbers(dir: string): CaseResult[] {
  const rows = readCases(dir).filter((c) => c.test === 'TestParseIncludesLineNumbers');
  return rows.map((row) => {
    const id = `${SUITE}/testfile-line`;
    const expected = row.expected as { 'AST.StartLine': number; 'AST.EndLine': number; 'len(AST.Children)': number; children_lines: number[][] };
    try {
      const result = parseDockerfile(readFileSync(join(dir, 'parser', 'testfile-line', 'Dockerfile'), 'utf8'));
      const children = result.instructions.map((i) => [i.location.start.line, i.location.end.line]);
      const actual = {
        'AST.StartLine': children[0]?.[0],
        'AST.EndLine': children[children.length - 1]?.[1],
        'len(AST.Children)': children.length,
        children_lines: children,
      };
      const diff = difference(expected, actual);
      return diff === undefined ? { id, status: 'pass' } : { id, status: 'fail', detail: diff };
    } catch (error) {
      return { id, status: 'fail', detail: `parse failed: ${describeError(error)}` };
    }
  });
}

/** BuildKit's parser test folders: `TestParseCases`, `TestParseErrorCases`, `TestParseIncludesLineNumbers`. */
export const parserTestfiles: ConformanceSuite = {
  name: SUITE,
  run(dir) {
    return [
      ...listCases(join(dir, 'parser', 'testfiles')).map((name) => positive(dir, name)),
      ...listCases(join(dir, 'parser', 'testfiles-negative')).map((name) => negative(dir, name)),
      ...lineNumbers(dir),
    ];
  },
};
