import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDockerfileError, parseDockerfile, type ParseResult, type RawInstruction } from '@strata/parser';
import { corpus } from '../../../bench/parser-corpus.mjs';
import { maybeHuge, mutate, prng } from '../../../bench/parser-fuzz-mutate.mjs';

// Mutations of valid Dockerfiles (random characters, truncation, duplicated and
// swapped lines, quotes, escapes, heredoc markers, deep nesting, CRLF, BOM):
// every case must end in a result or a DockerfileError with a location, never
// in another exception or an internal error. bench/parser-fuzz.mjs runs the
// same generator for 100,000+ cases.

const CASES = 2500;

function seeds(): string[] {
  const texts = corpus(12, 7);
  for (const dir of ['fixtures', 'fixtures-negative']) {
    for (const name of readdirSync(join(__dirname, dir))) texts.push(readFileSync(join(__dirname, dir, name, 'Dockerfile'), 'utf8'));
  }
  return texts;
}

/** Invariants every successful parse keeps. */
function checkResult(text: string, result: ParseResult): string | undefined {
  const check = (i: RawInstruction): string | undefined => {
    const { start, end } = i.location;
    if (start.offset > end.offset || end.offset > text.length) return `location out of range: ${JSON.stringify(i.location)}`;
    if (!text.startsWith(i.original, start.offset)) return `original ${JSON.stringify(i.original)} is not at offset ${start.offset}`;
    if (i.keyword !== i.keyword.toLowerCase()) return `keyword not lower-cased: ${i.keyword}`;
    return i.onbuild === undefined ? undefined : check(i.onbuild);
  };
  if (result.instructions.length === 0) return 'no instructions and no error';
  for (const i of result.instructions) {
    const problem = check(i);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

describe('parser fuzz', () => {
  it(`ends ${CASES} mutated Dockerfiles in a result or a located DockerfileError`, () => {
    const rand = prng(20261127);
    const texts = seeds();
    const problems: string[] = [];
    let parsed = 0;
    let rejected = 0;
    for (let n = 0; n < CASES; n++) {
      const text = maybeHuge(rand, mutate(rand, texts));
      try {
        const problem = checkResult(text, parseDockerfile(text, { file: 'fuzz' }));
        if (problem !== undefined) problems.push(`case ${n}: ${problem}\n${JSON.stringify(text)}`);
        parsed++;
      } catch (error) {
        if (!isDockerfileError(error)) problems.push(`case ${n}: ${String(error)}\n${JSON.stringify(text)}`);
        else if (error.code === 'PARSE_INTERNAL') problems.push(`case ${n}: ${error.message}\n${JSON.stringify(text)}`);
        else if (error.location === undefined || error.location.start.line < 1 || error.sourceLine === undefined) {
          problems.push(`case ${n}: ${error.code} without a location or source line`);
        } else rejected++;
      }
    }
    expect(problems.slice(0, 5)).toEqual([]);
    // Both outcomes occur: the mutations neither always break nor never break the files.
    expect(parsed).toBeGreaterThan(CASES / 10);
    expect(rejected).toBeGreaterThan(CASES / 100);
  }, 120_000);
});
