import type { ParseResult, RawInstruction } from '../ast.js';
import { DockerfileError, isDockerfileError } from '../errors.js';
import { InstructionErrors, locateError } from './errors.js';
import { docComment, fail, type InstructionInput } from './common.js';
import { commentsBefore } from './comments.js';
import { suggest } from './suggest.js';
import { parseAdd, parseCopy } from './copy.js';
import { parseArg } from './arg.js';
import { parseCmd } from './cmd.js';
import { parseEntrypoint } from './entrypoint.js';
import { parseEnv } from './env.js';
import { parseExpose } from './expose.js';
import { parseFrom } from './from.js';
import { parseHealthcheck } from './healthcheck.js';
import { parseLabel } from './label.js';
import { parseMaintainer } from './maintainer.js';
import { parseOnbuild } from './onbuild.js';
import { parseRun } from './run.js';
import { parseShell } from './shell.js';
import { parseStopSignal } from './stopsignal.js';
import { parseUser } from './user.js';
import { parseVolume } from './volume.js';
import { parseWorkdir } from './workdir.js';
import type { ArgInstruction, Instruction, InstructionKind, Stage, Stages } from './types.js';

const parsers: { readonly [K in InstructionKind]: (input: InstructionInput) => Extract<Instruction, { kind: K }> } = {
  add: parseAdd,
  arg: parseArg,
  cmd: parseCmd,
  copy: parseCopy,
  entrypoint: parseEntrypoint,
  env: parseEnv,
  expose: parseExpose,
  from: parseFrom,
  healthcheck: parseHealthcheck,
  label: parseLabel,
  maintainer: parseMaintainer,
  onbuild: parseOnbuild,
  run: parseRun,
  shell: parseShell,
  stopsignal: parseStopSignal,
  user: parseUser,
  volume: parseVolume,
  workdir: parseWorkdir,
};

/** Every instruction keyword, lower case. */
export const instructionKinds: readonly InstructionKind[] = Object.keys(parsers) as InstructionKind[];

function isKind(keyword: string): keyword is InstructionKind {
  return Object.prototype.hasOwnProperty.call(parsers, keyword);
}

export interface ParseInstructionOptions {
  /** Comment lines above the instruction (for doc comments); see `commentsBefore`. */
  readonly comments?: readonly string[];
}

/** One raw instruction to its typed form; throws a located DockerfileError (PARSE_*). */
export function parseInstruction(raw: RawInstruction, options: ParseInstructionOptions = {}): Instruction {
  const keyword = raw.keyword.toLowerCase();
  if (!isKind(keyword)) {
    const written = /^\s*(\S+)/.exec(raw.original)?.[1] ?? raw.keyword;
    const name = written.toLowerCase() === keyword ? written : raw.keyword;
    const candidates = instructionKinds.map((k) => k.toUpperCase());
    fail(raw, InstructionErrors.unknownInstruction, name, suggest(name, candidates, { caseInsensitive: true }));
  }
  const input: InstructionInput = { raw, comments: options.comments ?? [] };
  try {
    return parsers[keyword](input);
  } catch (error) {
    throw locateError(error, raw) as DockerfileError;
  }
}

export interface ParseStagesOptions {
  /** The Dockerfile text: with it, comments above FROM and ARG become doc comments. */
  readonly source?: string;
}

/**
 * The raw layer's instructions grouped into build stages. ARGs before the
 * first FROM are the meta (global) args; any other instruction there is an
 * error. Throws the first located DockerfileError.
 */
export function parseStages(result: ParseResult, options: ParseStagesOptions = {}): Stages {
  const comments = commentsBefore(result, options.source);
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  let current: { from: Stage['from']; name?: string; instructions: Stage['instructions'][number][]; docComment: string } | undefined;
  const finish = (): void => {
    if (current !== undefined) stages.push({ ...current, index: stages.length });
  };
  const lines = options.source?.replace(/^\uFEFF/, '').split(/\r?\n/);
  result.instructions.forEach((raw, i) => {
    let instruction: Instruction;
    try {
      instruction = parseInstruction(raw, { comments: comments[i] ?? [] });
    } catch (error) {
      throw lines === undefined ? error : withPhysicalLine(error, lines);
    }
    if (instruction.kind === 'from') {
      finish();
      current = {
        from: instruction,
        ...(instruction.stageName === undefined ? {} : { name: instruction.stageName }),
        instructions: [],
        docComment: docComment(instruction.comments, instruction.stageName),
      };
      return;
    }
    if (current === undefined) {
      if (instruction.kind === 'arg') {
        metaArgs.push(instruction);
        return;
      }
      try {
        fail(raw, InstructionErrors.noStage, instruction.keyword);
      } catch (error) {
        throw lines === undefined ? error : withPhysicalLine(error, lines);
      }
    }
    current.instructions.push(instruction);
  });
  finish();
  return { metaArgs, stages };
}

/** The error with the whole physical line it points at (the raw layer's `original` starts at the keyword). */
function withPhysicalLine(error: unknown, lines: readonly string[]): unknown {
  if (!isDockerfileError(error) || error.location === undefined) return error;
  const line = lines[error.location.start.line - 1];
  if (line === undefined || line === error.sourceLine) return error;
  return new DockerfileError(error.code, error.message, error.hint, { location: error.location, sourceLine: line, cause: error.cause });
}
