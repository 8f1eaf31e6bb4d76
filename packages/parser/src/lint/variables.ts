import type { AddInstruction, CopyInstruction, Instruction, Stages } from '../instructions/types.js';
import { suggest } from '../instructions/suggest.js';
import type { Reporter } from './report.js';
import { LintRules } from './rules.js';

/** The outcome of expanding one word: the text, and which variables were set and which were not. */
export interface WordMatch {
  readonly result: string;
  readonly matched: ReadonlySet<string>;
  readonly unmatched: ReadonlySet<string>;
}

/** Expands one word against `env` (throws on an expansion error such as `${X:?}`). */
export type WordMatcher = (word: string, env: ReadonlyMap<string, string>) => WordMatch;

export interface VariableCheckOptions {
  readonly match: WordMatcher;
  /** The expander for COPY/ADD heredoc bodies (quotes kept); default `match`. */
  readonly matchRaw?: WordMatcher;
  /** Names the base image's config sets (default: PATH only). Undefined for unknown images. */
  readonly baseImageEnv?: (image: string) => readonly string[] | undefined;
  /** `os/arch[/variant]` the predefined platform ARGs describe (default linux/amd64). */
  readonly platform?: string;
  /** Build args: they override ARG defaults, as in a build (default none: the defaults). */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** Called with each COPY/ADD's sources expanded (those that expand), for CopyIgnoredFile. */
  readonly onCopySources?: (instruction: CopyInstruction | AddInstruction, sources: readonly string[]) => void;
}

/** ARGs BuildKit never puts into the environment. */
const nonEnvArgs = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

/** The predefined platform ARGs and their values for `platform`. */
export function platformArgs(platform: string, target: string): Map<string, string> {
  const [os = 'linux', arch = 'amd64', variant = ''] = platform.split('/');
  return new Map([
    ['BUILDPLATFORM', platform], ['BUILDOS', os], ['BUILDOSVERSION', ''], ['BUILDARCH', arch], ['BUILDVARIANT', variant],
    ['TARGETPLATFORM', platform], ['TARGETOS', os], ['TARGETOSVERSION', ''], ['TARGETARCH', arch], ['TARGETVARIANT', variant],
    ['TARGETSTAGE', target],
  ]);
}

function tryMatch(match: WordMatcher, word: string, env: ReadonlyMap<string, string>): WordMatch | undefined {
  try {
    return match(word, env);
  } catch {
    return undefined;
  }
}

// Loosely docker's reference grammar: [host[:port]/]path[:tag][@digest].
const referencePattern = /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$/;

/** Whether `name` could be an image reference (InvalidDefaultArgInFrom). */
export function isValidImageReference(name: string): boolean {
  return name !== '' && referencePattern.test(name);
}

/**
 * The words of an instruction that BuildKit expands (and checks for
 * UndefinedVar) with the stage's variables. EXPOSE is expanded without the
 * check, RUN/CMD/ENTRYPOINT text is left to the shell.
 */
function expandedWords(instruction: Exclude<Instruction, { kind: 'from' }>): string[] {
  switch (instruction.kind) {
    case 'env':
    case 'label':
      return instruction.pairs.flatMap((p) => [p.key, p.value]);
    case 'copy':
    case 'add': {
      const words = [...instruction.sources, instruction.destination, instruction.chown ?? '', instruction.chmod ?? ''];
      if (instruction.kind === 'add') words.push(instruction.checksum ?? '');
      return words;
    }
    case 'workdir':
      return [instruction.path];
    case 'user':
      return [instruction.user];
    case 'volume':
      return [...instruction.volumes];
    case 'stopsignal':
      return [instruction.signal];
    case 'run':
      return instruction.mounts.flatMap((m) => mountValues(m.raw));
    default:
      return [];
  }
}

function mountValues(raw: string): string[] {
  // Only the option values are expanded; keys are not.
  return raw.split(',').flatMap((field) => {
    const eq = field.indexOf('=');
    return eq < 0 ? [] : [field.slice(eq + 1)];
  });
}

interface StageScope {
  /** Variables set in the stage's environment (image env, ENV, ARG with a value). */
  readonly env: Map<string, string>;
  /** Names whose value lint cannot know (set by the base image, or computed from such). */
  readonly unknown: Set<string>;
  /** ARGs declared in the stage, or in the stage it is built on (BuildKit's `buildArgs`). */
  readonly buildArgs: Set<string>;
}

const touchesUnknown = (m: WordMatch | undefined, unknown: ReadonlySet<string>): boolean =>
  m === undefined || [...m.matched].some((name) => unknown.has(name));

/**
 * UndefinedVar, UndefinedArgInFrom, InvalidDefaultArgInFrom and
 * WorkdirRelativePath: they need the variables in scope at each instruction.
 */
export function variableChecks(stages: Stages, reporter: Reporter, options: VariableCheckOptions): void {
  const { match } = options;
  const lastStage = stages.stages[stages.stages.length - 1];
  const globals = platformArgs(options.platform ?? 'linux/amd64', lastStage?.name ?? '');
  const declared = new Set<string>(globals.keys());
  // Meta ARG defaults, each expanded with the ones before it.
  for (const meta of stages.metaArgs) {
    for (const arg of meta.args) {
      declared.add(arg.key);
      const given = options.buildArgs?.[arg.key];
      if (given !== undefined) {
        globals.set(arg.key, given);
      } else if (arg.defaultValue !== undefined) {
        const value = tryMatch(match, arg.defaultValue, globals);
        if (value !== undefined) globals.set(arg.key, value.result);
      } else if (!globals.has(arg.key)) {
        globals.set(arg.key, '');
      }
    }
  }
  const declaredList = [...declared];
  const stageEnv = new Map<string, StageScope>();
  const stageWorkdirSet = new Map<string, boolean>();

  for (const stage of stages.stages) {
    const from = stage.from;
    let baseImage = from.image;
    for (const word of [from.image, from.platform ?? '']) {
      if (word === '') continue;
      const m = tryMatch(match, word, globals);
      if (m === undefined) continue;
      if (word === from.image) baseImage = m.result;
      for (const name of m.unmatched) {
        if (declared.has(name)) continue;
        reporter.report(LintRules.UndefinedArgInFrom, from.location, from.comments, name, suggest(name, declaredList));
      }
    }
    if (from.image.includes('$')) {
      const m = tryMatch(match, from.image, defaultsOnly(stages, match, options));
      if (m !== undefined && !isValidImageReference(m.result)) {
        reporter.report(LintRules.InvalidDefaultArgInFrom, from.location, from.comments, from.image);
      }
    }

    const parent = stageEnv.get(baseImage.toLowerCase());
    const imageEnv = parent === undefined ? (options.baseImageEnv ?? (() => ['PATH']))(baseImage) : undefined;
    const fromImage = imageEnv ?? ['PATH'];
    const scope: StageScope = parent === undefined
      ? { env: new Map(fromImage.map((k) => [k, ''])), unknown: new Set(fromImage), buildArgs: new Set<string>() }
      : { env: new Map(parent.env), unknown: new Set(parent.unknown), buildArgs: new Set(parent.buildArgs) };
    const buildArgs = scope.buildArgs;
    let workdirSet = stageWorkdirSet.get(baseImage.toLowerCase()) ?? false;

    for (const instruction of stage.instructions) {
      const unmatched = new Set<string>();
      const collect = (word: string, matcher: WordMatcher = match): string | undefined => {
        if (word === '') return word;
        const m = tryMatch(matcher, word, scope.env);
        if (m === undefined) return undefined;
        for (const name of m.unmatched) unmatched.add(name);
        return m.result;
      };
      if (instruction.kind === 'arg') {
        for (const arg of instruction.args) {
          const given = options.buildArgs?.[arg.key];
          if (given !== undefined) {
            scope.env.set(arg.key, given);
            scope.unknown.delete(arg.key);
          } else if (arg.defaultValue !== undefined) {
            const m = tryMatch(match, arg.defaultValue, scope.env);
            collect(arg.defaultValue);
            scope.env.set(arg.key, m?.result ?? '');
            if (touchesUnknown(m, scope.unknown)) scope.unknown.add(arg.key);
            else scope.unknown.delete(arg.key);
          } else if (globals.has(arg.key)) {
            scope.env.set(arg.key, globals.get(arg.key) ?? '');
            scope.unknown.delete(arg.key);
          }
          buildArgs.add(arg.key);
        }
      } else {
        for (const word of expandedWords(instruction)) collect(word);
        if (instruction.kind === 'copy' || instruction.kind === 'add') {
          for (const inline of instruction.inlineSources) if (inline.expand) collect(inline.data, options.matchRaw ?? match);
          const sources = instruction.sources.flatMap((s) => {
            const m = tryMatch(match, s, scope.env);
            return m === undefined ? [] : [m.result];
          });
          options.onCopySources?.(instruction, sources);
        }
      }
      for (const name of unmatched) {
        if (buildArgs.has(name) || nonEnvArgs.has(name)) continue;
        reporter.report(LintRules.UndefinedVar, instruction.location, instruction.comments, name, suggest(name, [...scope.env.keys()]));
      }
      if (instruction.kind === 'env') {
        // All pairs of one ENV see the environment from before it.
        const values = instruction.pairs.map((p) => [tryMatch(match, p.key, scope.env)?.result ?? p.key, tryMatch(match, p.value, scope.env)] as const);
        for (const [k, m] of values) {
          scope.env.set(k, m?.result ?? '');
          if (touchesUnknown(m, scope.unknown)) scope.unknown.add(k);
          else scope.unknown.delete(k);
        }
      }
      if (instruction.kind === 'workdir') {
        const m = tryMatch(match, instruction.path, scope.env);
        const path = m?.result ?? instruction.path;
        // A path built from a value lint cannot know (the image's $HOME, say) is not judged.
        if (!workdirSet && !touchesUnknown(m, scope.unknown) && !path.startsWith('/')) {
          reporter.report(LintRules.WorkdirRelativePath, instruction.location, instruction.comments, path);
        }
        workdirSet = true;
      }
    }
    for (const key of stage.name === undefined ? [String(stage.index)] : [stage.name, String(stage.index)]) {
      stageEnv.set(key, scope);
      stageWorkdirSet.set(key, workdirSet);
    }
  }
}

/** Meta ARGs with their defaults only (no build args): what InvalidDefaultArgInFrom checks. */
function defaultsOnly(stages: Stages, match: WordMatcher, options: VariableCheckOptions): Map<string, string> {
  const env = platformArgs(options.platform ?? 'linux/amd64', '');
  for (const meta of stages.metaArgs) {
    for (const arg of meta.args) {
      const value = arg.defaultValue === undefined ? undefined : tryMatch(match, arg.defaultValue, env);
      env.set(arg.key, value?.result ?? '');
    }
  }
  return env;
}

