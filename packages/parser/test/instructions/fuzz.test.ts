import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDockerfileError, lint, parseDockerfile, parseStages, type ParseResult } from '@strata/parser';
import { corpus } from '../../../../bench/parser-corpus.mjs';
import { mutate, prng } from '../../../../bench/parser-fuzz-mutate.mjs';

// The typed layer and lint over mutated Dockerfiles (the raw layer's fuzz
// generator): whatever parses must end in stages and findings or in a
// located DockerfileError, never in another exception.

const CASES = 1000;

function seeds(): string[] {
  const texts = corpus(12, 11);
  const lintFixtures = join(__dirname, '..', 'lint', 'fixtures');
  for (const name of readdirSync(lintFixtures)) texts.push(readFileSync(join(lintFixtures, name, 'Dockerfile'), 'utf8'));
  return texts;
}

describe('typed layer and lint fuzz', () => {
  it(`ends ${CASES} mutated Dockerfiles in stages or a located DockerfileError`, () => {
    const rand = prng(424242);
    const texts = seeds();
    const problems: string[] = [];
    let typed = 0;
    let rejected = 0;
    for (let n = 0; n < CASES && problems.length < 5; n++) {
      const text = mutate(rand, texts);
      let result: ParseResult;
      try {
        result = parseDockerfile(text, { file: 'fuzz' });
      } catch {
        continue; // the raw layer's own fuzz test covers this side
      }
      try {
        const stages = parseStages(result, { source: text });
        lint(result, { source: text, stages });
        typed++;
      } catch (error) {
        if (!isDockerfileError(error)) problems.push(`case ${n}: ${String((error as Error).stack ?? error)}\n${JSON.stringify(text)}`);
        else if (error.code !== 'PARSE_INVALID_CHECK' && (error.location === undefined || error.sourceLine === undefined)) {
          problems.push(`case ${n}: ${error.code} (${error.message}) without a location or source line\n${JSON.stringify(text)}`);
        } else rejected++;
      }
    }
    expect(problems).toEqual([]);
    expect(typed).toBeGreaterThan(CASES / 10);
    expect(rejected).toBeGreaterThan(CASES / 100);
  });
});
