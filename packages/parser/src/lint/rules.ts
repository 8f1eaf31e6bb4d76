/**
 * Lint checks as data, one record per rule, in the shape of BuildKit's build
 * checks: a stable name (what `# check=skip=` names), a description, the
 * documentation URL, and a formatter for the message of one finding.
 */
export interface LintRule<A extends unknown[] = never[]> {
  readonly name: string;
  readonly description: string;
  readonly url: string;
  /** 'warning' unless set; `# check=error=true` turns every finding into an error. */
  readonly level?: 'warning' | 'error';
  /** Experimental rules run only when named in `# check=experimental=`. */
  readonly experimental?: boolean;
  readonly format: (...args: A) => string;
}

function rule<A extends unknown[]>(name: string, slug: string, description: string, format: (...args: A) => string, extra: { experimental?: boolean } = {}): LintRule<A> {
  return { name, description, url: `https://docs.docker.com/go/dockerfile/rule/${slug}/`, format, ...extra };
}

const didYouMean = (suggestion: string | undefined, prefix = ''): string => (suggestion === undefined || suggestion === '' ? '' : ` (did you mean ${prefix}${suggestion}?)`);

export const LintRules = {
  StageNameCasing: rule('StageNameCasing', 'stage-name-casing', 'Stage names should be lowercase',
    (stageName: string) => `Stage name '${stageName}' should be lowercase`),
  FromAsCasing: rule('FromAsCasing', 'from-as-casing', "The 'as' keyword should match the case of the 'from' keyword",
    (from: string, as: string) => `'${as}' and '${from}' keywords' casing do not match`),
  NoEmptyContinuation: rule('NoEmptyContinuation', 'no-empty-continuation', 'Empty continuation lines will become errors in a future release',
    () => 'Empty continuation line'),
  ConsistentInstructionCasing: rule('ConsistentInstructionCasing', 'consistent-instruction-casing', 'All commands within the Dockerfile should use the same casing (either upper or lower)',
    (command: string, casing: 'lowercase' | 'uppercase') => `Command '${command}' should match the case of the command majority (${casing})`),
  DuplicateStageName: rule('DuplicateStageName', 'duplicate-stage-name', 'Stage names should be unique',
    (stageName: string) => `Duplicate stage name ${JSON.stringify(stageName)}, stage names should be unique`),
  ReservedStageName: rule('ReservedStageName', 'reserved-stage-name', 'Reserved words should not be used as stage names',
    (stageName: string) => `Stage name should not use the same name as reserved stage ${JSON.stringify(stageName)}`),
  JSONArgsRecommended: rule('JSONArgsRecommended', 'json-args-recommended', 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals',
    (instruction: string) => `JSON arguments recommended for ${instruction} to prevent unintended behavior related to OS signals`),
  MaintainerDeprecated: rule('MaintainerDeprecated', 'maintainer-deprecated', 'The MAINTAINER instruction is deprecated, use a label instead to define an image author',
    () => 'Maintainer instruction is deprecated in favor of using label'),
  UndefinedArgInFrom: rule('UndefinedArgInFrom', 'undefined-arg-in-from', 'FROM command must use declared ARGs',
    (arg: string, suggestion?: string) => `FROM argument '${arg}' is not declared${didYouMean(suggestion)}`),
  WorkdirRelativePath: rule('WorkdirRelativePath', 'workdir-relative-path', 'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes',
    (workdir: string) => `Relative workdir ${JSON.stringify(workdir)} can have unexpected results if the base image changes`),
  UndefinedVar: rule('UndefinedVar', 'undefined-var', 'Variables should be defined before their use',
    (name: string, suggestion?: string) => `Usage of undefined variable '$${name}'${didYouMean(suggestion, '$')}`),
  MultipleInstructionsDisallowed: rule('MultipleInstructionsDisallowed', 'multiple-instructions-disallowed', 'Multiple instructions of the same type should not be used in the same stage',
    (instruction: string) => `Multiple ${instruction} instructions should not be used in the same stage because only the last one will be used`),
  LegacyKeyValueFormat: rule('LegacyKeyValueFormat', 'legacy-key-value-format', 'Legacy key/value format with whitespace separator should not be used',
    (instruction: string) => `"${instruction} key=value" should be used instead of legacy "${instruction} key value" format`),
  RedundantTargetPlatform: rule('RedundantTargetPlatform', 'redundant-target-platform', 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
    (platform: string) => `Setting platform to predefined ${platform} in FROM is redundant as this is the default behavior`),
  SecretsUsedInArgOrEnv: rule('SecretsUsedInArgOrEnv', 'secrets-used-in-arg-or-env', 'Sensitive data should not be used in the ARG or ENV commands',
    (instruction: string, key: string) => `Do not use ARG or ENV instructions for sensitive data (${instruction} ${JSON.stringify(key)})`),
  InvalidDefaultArgInFrom: rule('InvalidDefaultArgInFrom', 'invalid-default-arg-in-from', 'Default value for global ARG results in an empty or invalid base image name',
    (image: string) => `Default value for ARG ${image} results in empty or invalid base image name`),
  FromPlatformFlagConstDisallowed: rule('FromPlatformFlagConstDisallowed', 'from-platform-flag-const-disallowed', 'FROM --platform flag should not use a constant value',
    (platform: string) => `FROM --platform flag should not use constant value ${JSON.stringify(platform)}`),
  CopyIgnoredFile: rule('CopyIgnoredFile', 'copy-ignored-file', 'Attempting to Copy file that is excluded by .dockerignore',
    (cmd: 'Copy' | 'Add', file: string) => `Attempting to ${cmd} file ${JSON.stringify(file)} that is excluded by .dockerignore`),
  InvalidDefinitionDescription: rule('InvalidDefinitionDescription', 'invalid-definition-description',
    'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.',
    (instruction: string, name: string) => `Comment for ${instruction} should follow the format: \`# ${name} <description>\``, { experimental: true }),
  ExposeProtoCasing: rule('ExposeProtoCasing', 'expose-proto-casing', 'Protocol in EXPOSE instruction should be lowercase',
    (port: string) => `Defined protocol '${port}' in EXPOSE instruction should be lowercase`),
  ExposeInvalidFormat: rule('ExposeInvalidFormat', 'expose-invalid-format', 'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release',
    (port: string) => `EXPOSE instruction should not define an IP address or host-port mapping, found '${port}'`),
} as const;

export type LintRuleName = keyof typeof LintRules;

export const lintRuleNames: readonly LintRuleName[] = Object.keys(LintRules) as LintRuleName[];
