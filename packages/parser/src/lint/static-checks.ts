import type { SourceLocation } from '../location.js';
import { parsePortSpec } from '../instructions/expose.js';
import type { Instruction, Stages } from '../instructions/types.js';
import type { Reporter } from './report.js';
import { LintRules } from './rules.js';

const reservedStageNames = new Set(['context', 'scratch']);

const secretWords = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const allowedWords = /(?:_|^)(?:public|file|version)(?:_|$)/i;

/** Whether an ARG/ENV name looks like it holds a secret (SecretsUsedInArgOrEnv). */
export function looksLikeSecret(name: string): boolean {
  return secretWords.test(name) && !allowedWords.test(name);
}

const isSelfConsistent = (s: string): boolean => s === s.toLowerCase() || s === s.toUpperCase();

/** Checks that need no variable expansion, run over every stage. */
export function staticChecks(stages: Stages, reporter: Reporter): void {
  const seen = new Set<string>();
  const shellStages = new Set<string>();
  for (const meta of stages.metaArgs) definitionDescription('ARG', meta, meta.args.map((a) => a.key), reporter);
  for (const stage of stages.stages) {
    const from = stage.from;
    if (stage.name !== undefined) definitionDescription('FROM', from, [stage.name], reporter);
    if (from.stageNameAsWritten !== undefined && from.stageNameAsWritten !== from.stageNameAsWritten.toLowerCase()) {
      reporter.report(LintRules.StageNameCasing, from.location, from.comments, from.stageNameAsWritten);
    }
    if (from.asKeyword !== undefined && isSelfConsistent(from.keyword)) {
      const wanted = from.keyword === from.keyword.toLowerCase() ? from.asKeyword.toLowerCase() : from.asKeyword.toUpperCase();
      if (from.asKeyword !== wanted) reporter.report(LintRules.FromAsCasing, from.location, from.comments, from.keyword, from.asKeyword);
    }
    if (stage.name !== undefined) {
      if (reservedStageNames.has(stage.name)) reporter.report(LintRules.ReservedStageName, from.location, from.comments, stage.name);
      if (seen.has(stage.name)) reporter.report(LintRules.DuplicateStageName, from.location, from.comments, stage.name);
      seen.add(stage.name);
    }
    platformChecks(from, stage.name, reporter);
    // A stage built on an earlier stage inherits its SHELL.
    const inherited = shellStages.has(from.image.toLowerCase());
    if (stageInstructionChecks(stage.instructions, inherited, reporter)) {
      shellStages.add(String(stage.index));
      if (stage.name !== undefined) shellStages.add(stage.name);
    }
  }
  casingCheck(stages, reporter);
}

function platformChecks(from: Stages['stages'][number]['from'], stageName: string | undefined, reporter: Reporter): void {
  const platform = from.platform;
  if (platform === undefined) return;
  if (platform === '$TARGETPLATFORM' || platform === '${TARGETPLATFORM}') {
    reporter.report(LintRules.RedundantTargetPlatform, from.location, from.comments, platform);
    return;
  }
  if (/[$'"\\]/.test(platform)) return;
  const [os = '', arch = ''] = platform.split('/');
  if (os === '' || arch === '') return;
  const name = stageName ?? '';
  if (name.includes(os) || name.includes(arch)) return;
  reporter.report(LintRules.FromPlatformFlagConstDisallowed, from.location, from.comments, platform);
}

/** The checks within one stage; returns whether the stage's image has a SHELL set. */
function stageInstructionChecks(instructions: readonly Exclude<Instruction, { kind: 'from' }>[], inheritedShell: boolean, reporter: Reporter): boolean {
  const once: Partial<Record<'cmd' | 'entrypoint' | 'healthcheck', Instruction>> = {};
  let hasShell = inheritedShell;
  for (const instruction of instructions) {
    const { location, comments } = instruction;
    switch (instruction.kind) {
      case 'maintainer':
        reporter.report(LintRules.MaintainerDeprecated, location, comments);
        break;
      case 'env':
      case 'label':
        for (const pair of instruction.pairs) {
          if (pair.legacy) reporter.report(LintRules.LegacyKeyValueFormat, location, comments, instruction.keyword);
          if (instruction.kind === 'env' && looksLikeSecret(pair.key)) reporter.report(LintRules.SecretsUsedInArgOrEnv, location, comments, 'ENV', pair.key);
        }
        break;
      case 'arg':
        definitionDescription('ARG', instruction, instruction.args.map((a) => a.key), reporter);
        for (const arg of instruction.args) {
          if (looksLikeSecret(arg.key)) reporter.report(LintRules.SecretsUsedInArgOrEnv, location, comments, 'ARG', arg.key);
        }
        break;
      case 'shell':
        hasShell = true;
        break;
      case 'expose':
        for (const port of instruction.ports) exposeChecks(port, location, comments, reporter);
        break;
      default:
        break;
    }
    if (instruction.kind === 'cmd' || instruction.kind === 'entrypoint' || instruction.kind === 'healthcheck') {
      const previous = once[instruction.kind];
      // Report the earlier one: it is the instruction that has no effect.
      if (previous !== undefined) reporter.report(LintRules.MultipleInstructionsDisallowed, previous.location, previous.comments, instruction.keyword);
      once[instruction.kind] = instruction;
      if (instruction.kind !== 'healthcheck' && instruction.prependShell && !hasShell) {
        reporter.report(LintRules.JSONArgsRecommended, location, comments, instruction.keyword);
      }
    }
  }
  return hasShell;
}

function exposeChecks(port: string, location: SourceLocation, comments: readonly string[], reporter: Reporter): void {
  if (/[$'"\\`]/.test(port)) return;
  let spec;
  try {
    spec = parsePortSpec(port);
  } catch {
    return;
  }
  if (spec.protocolAsWritten !== undefined && spec.protocolAsWritten !== spec.protocolAsWritten.toLowerCase()) {
    reporter.report(LintRules.ExposeProtoCasing, location, comments, port);
  }
  if (spec.hostMapping) reporter.report(LintRules.ExposeInvalidFormat, location, comments, port);
}

function casingCheck(stages: Stages, reporter: Reporter): void {
  const all: Instruction[] = stages.stages.flatMap((s) => [s.from, ...s.instructions]);
  let lower = 0;
  let upper = 0;
  for (const i of all) {
    if (!isSelfConsistent(i.keyword)) continue;
    if (i.keyword === i.keyword.toLowerCase()) lower++;
    else upper++;
  }
  const majorityLower = lower > upper;
  for (const i of all) {
    if (majorityLower && i.keyword !== i.keyword.toLowerCase()) {
      reporter.report(LintRules.ConsistentInstructionCasing, i.location, i.comments, i.keyword, 'lowercase');
    } else if (!majorityLower && i.keyword !== i.keyword.toUpperCase()) {
      reporter.report(LintRules.ConsistentInstructionCasing, i.location, i.comments, i.keyword, 'uppercase');
    }
  }
}

/** InvalidDefinitionDescription (experimental): a comment right above FROM AS / ARG should start with the name it describes. */
function definitionDescription(instruction: 'ARG' | 'FROM', at: Instruction, names: readonly string[], reporter: Reporter): void {
  const last = at.comments[at.comments.length - 1];
  if (last === undefined || names.length === 0) return;
  if (names.includes(last.split(' ')[0] ?? '')) return;
  reporter.report(LintRules.InvalidDefinitionDescription, at.location, at.comments, instruction, names.length > 1 ? '<arg_key>' : (names[0] ?? ''));
}
