import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LintRules, lint, lintRuleNames, parseDockerfile, type LintWarning } from '@strata/parser';

// Golden folders: fixtures/<case>/Dockerfile and expected.txt, one finding a
// line as `LINE:COLUMN LEVEL Rule: message` (an empty file: no findings).
// STRATA_UPDATE_GOLDEN=1 rewrites expected.txt from the current output.
const fixtures = join(__dirname, 'fixtures');

function format(warnings: readonly LintWarning[]): string {
  return warnings.map((w) => `${w.location.start.line}:${w.location.start.column} ${w.level} ${w.rule}: ${w.message}\n`).join('');
}

describe('lint fixtures', () => {
  const cases = readdirSync(fixtures).sort();
  it('has fixtures', () => {
    expect(cases.length).toBeGreaterThan(20);
  });
  for (const name of cases) {
    it(name, () => {
      const source = readFileSync(join(fixtures, name, 'Dockerfile'), 'utf8');
      const actual = format(lint(parseDockerfile(source, { file: 'Dockerfile' }), { source }));
      const expectedFile = join(fixtures, name, 'expected.txt');
      if (process.env.STRATA_UPDATE_GOLDEN === '1' || !existsSync(expectedFile)) writeFileSync(expectedFile, actual);
      expect(actual).toBe(readFileSync(expectedFile, 'utf8'));
    });
  }
});

describe('lint rules as data', () => {
  it('gives every rule a name, description and documentation URL', () => {
    for (const name of lintRuleNames) {
      const rule = LintRules[name];
      expect(rule.name).toBe(name);
      expect(rule.description.length).toBeGreaterThan(10);
      expect(rule.url).toMatch(/^https:\/\/docs\.docker\.com\/go\/dockerfile\/rule\/[a-z-]+\/$/);
    }
  });

  it('covers every rule named in the issue with a positive fixture', () => {
    const required = ['StageNameCasing', 'FromAsCasing', 'JSONArgsRecommended', 'MaintainerDeprecated', 'UndefinedVar', 'UndefinedArgInFrom', 'DuplicateStageName',
      'ReservedStageName', 'MultipleInstructionsDisallowed', 'WorkdirRelativePath', 'LegacyKeyValueFormat', 'ConsistentInstructionCasing', 'InvalidDefaultArgInFrom', 'SecretsUsedInArgOrEnv'];
    const seen = new Set(readdirSync(fixtures).flatMap((c) => readFileSync(join(fixtures, c, 'expected.txt'), 'utf8').split('\n').map((l) => /^\S+ \S+ (\w+):/.exec(l)?.[1]).filter((r): r is string => r !== undefined)));
    expect(required.filter((r) => !seen.has(r))).toEqual([]);
  });
});

describe('lint options', () => {
  const source = 'FROM alpine AS Build\nCMD echo hi\n';

  it('takes an outside check config under the file\'s own', () => {
    const result = parseDockerfile(source);
    expect(lint(result, { check: 'skip=JSONArgsRecommended' }).map((w) => w.rule)).toEqual(['StageNameCasing']);
    expect(lint(result, { check: 'error=true' }).map((w) => w.level)).toEqual(['error', 'error']);
  });

  it('rejects a malformed check directive', () => {
    expect(() => lint(parseDockerfile(`# check=skipp=x\n${source}`, { file: 'Dockerfile' }))).toThrow(expect.objectContaining({
      code: 'PARSE_INVALID_CHECK',
      message: 'invalid check option "skipp"',
      location: expect.objectContaining({ file: 'Dockerfile', start: expect.objectContaining({ line: 1 }) }),
    }));
  });

  it('uses the base image environment it is given', () => {
    const text = 'FROM node:20\nWORKDIR $NODE_HOME\n';
    const result = parseDockerfile(text);
    expect(lint(result).map((w) => w.message)).toContain("Usage of undefined variable '$NODE_HOME'");
    expect(lint(result, { baseImageEnv: (image) => (image === 'node:20' ? ['PATH', 'NODE_HOME'] : undefined) })).toEqual([]);
  });

  it('reports the parse error a build would stop with', () => {
    expect(() => lint(parseDockerfile('FROM alpine\nCOPPY a b\n'))).toThrow(expect.objectContaining({ code: 'PARSE_UNKNOWN_INSTRUCTION' }));
  });
});
