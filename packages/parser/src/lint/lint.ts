import type { ParseResult } from '../ast.js';
import { DockerfileError, isDockerfileError } from '../errors.js';
import { parseStages } from '../instructions/stages.js';
import type { Stages } from '../instructions/types.js';
import { emptyCheckConfig, mergeCheckConfig, parseCheckConfig, type CheckConfig } from './config.js';
import { defaultWordMatcher, rawWordMatcher } from './expand.js';
import { Reporter, type LintWarning } from './report.js';
import { LintRules } from './rules.js';
import { copyIgnoredFileCheck, type DockerignoreMatcher } from './ignored-files.js';
import { staticChecks } from './static-checks.js';
import { variableChecks, type WordMatcher } from './variables.js';

export interface LintOptions {
  /** The Dockerfile text: needed for `# check=` comments above instructions and doc comments. */
  readonly source?: string;
  /** A check config given from outside (like BUILDKIT_DOCKERFILE_CHECK), layered under the file's `# check=`. */
  readonly check?: string;
  /** Names of the environment variables a base image sets; default PATH only. */
  readonly baseImageEnv?: (image: string) => readonly string[] | undefined;
  /** The platform the predefined platform ARGs describe; default linux/amd64. */
  readonly platform?: string;
  /** The expander used to find variables; default: this package's shell expansion. */
  readonly match?: WordMatcher;
  /** Stages already parsed from `result` (saves parsing twice). */
  readonly stages?: Stages;
  /** The build context's .dockerignore: CopyIgnoredFile runs only with it. */
  readonly dockerignore?: DockerignoreMatcher;
  /** Build args, as a build gets them: ARG values for expanding what the checks read (default: ARG defaults). */
  readonly buildArgs?: Readonly<Record<string, string>>;
}

function isEmptyContinuationWarning(w: ParseResult['warnings'][number]): boolean {
  return (w.url ?? '').includes('no-empty-continuation') || /empty continuation/i.test(w.message) || w.code === 'NoEmptyContinuation' || /EMPTY_CONTINUATION/.test(w.code);
}

/** The file's own check config: its `# check=` directive over `options.check`. */
export function checkConfigOf(result: ParseResult, options: Pick<LintOptions, 'check'> = {}): CheckConfig {
  let config = options.check === undefined ? emptyCheckConfig : parseCheckConfig(options.check);
  const directive = result.directives.find((d) => d.name === 'check');
  if (directive === undefined) return config;
  try {
    return mergeCheckConfig(config, parseCheckConfig(directive.value));
  } catch (error) {
    if (!isDockerfileError(error)) throw error;
    // Point at the directive line.
    const location = { ...directive.location, ...(result.instructions[0]?.location.file === undefined ? {} : { file: result.instructions[0].location.file }) };
    throw new DockerfileError(error.code, error.message, error.hint, { location, sourceLine: `# check=${directive.value}` });
  }
}

/**
 * Runs the lint checks over a parsed Dockerfile and returns the findings in
 * source order. Throws a DockerfileError when the file does not get past the
 * typed layer (the same error a build would stop with) or its `# check=`
 * directive is malformed.
 */
export function lint(result: ParseResult, options: LintOptions = {}): LintWarning[] {
  const reporter = new Reporter(checkConfigOf(result, options));
  for (const warning of result.warnings) {
    if (isEmptyContinuationWarning(warning)) reporter.report(LintRules.NoEmptyContinuation, warning.location, []);
  }
  const stages = options.stages ?? parseStages(result, options.source === undefined ? {} : { source: options.source });
  staticChecks(stages, reporter);
  variableChecks(stages, reporter, {
    match: options.match ?? defaultWordMatcher(result.escapeToken),
    matchRaw: options.match ?? rawWordMatcher(),
    ...(options.baseImageEnv === undefined ? {} : { baseImageEnv: options.baseImageEnv }),
    ...(options.platform === undefined ? {} : { platform: options.platform }),
    ...(options.buildArgs === undefined ? {} : { buildArgs: options.buildArgs }),
    ...(options.dockerignore === undefined
      ? {}
      : { onCopySources: (ins, sources) => copyIgnoredFileCheck(ins, sources, options.dockerignore as DockerignoreMatcher, reporter) }),
  });
  return reporter.warnings
    .map((w, i) => ({ w, i }))
    .sort((a, b) => a.w.location.start.line - b.w.location.start.line || a.w.location.start.column - b.w.location.start.column || a.i - b.i)
    .map(({ w }) => w);
}
