import type { RawInstruction } from '../ast.js';
import type { DockerfileError } from '../errors.js';
import type { ErrorRule } from '../errors.js';
import { InstructionErrors, instructionError, locateError } from './errors.js';
import { parseFlags, type FlagSpecs, type ParsedFlags } from './flags.js';
import { flagIndex, flagLocation } from './flag-location.js';
import type { CommandLine, InlineFile } from './types.js';

/** What every per-instruction parser gets. */
export interface InstructionInput {
  readonly raw: RawInstruction;
  /** Comment lines right above the instruction (see `commentsBefore`). */
  readonly comments: readonly string[];
}

/** The fields every typed instruction shares. */
export function baseFields(input: InstructionInput, flagsUsed: readonly string[]) {
  const { raw } = input;
  return {
    keyword: keywordAsWritten(raw),
    flagsUsed,
    original: raw.original,
    location: raw.location,
    comments: input.comments,
  };
}

/** The keyword with its casing as written; falls back to upper case when `original` does not start with it. */
export function keywordAsWritten(raw: RawInstruction): string {
  const match = /^\s*(\S+)/.exec(raw.original);
  const word = match?.[1];
  if (word !== undefined && word.toLowerCase() === raw.keyword) return word;
  if (word !== undefined && word.toLowerCase().startsWith(raw.keyword)) return word.slice(0, raw.keyword.length);
  return raw.keyword.toUpperCase();
}

export function fail<A extends unknown[]>(raw: RawInstruction, entry: ErrorRule<A>, ...args: A): never {
  throw instructionError(raw, entry, ...args);
}

/** parseFlags with errors placed at the instruction. */
export function flagsOf<S extends FlagSpecs>(raw: RawInstruction, specs: S): ParsedFlags<S> {
  try {
    return parseFlags(raw.flags, specs);
  } catch (error) {
    // The first prefix of the flags that fails ends at the offending flag.
    let bad = 0;
    while (bad < raw.flags.length - 1 && succeeds(() => parseFlags(raw.flags.slice(0, bad + 1), specs))) bad++;
    throw locateError(error, raw, flagLocation(raw, bad)) as DockerfileError;
  }
}

function succeeds(run: () => unknown): boolean {
  try {
    run();
    return true;
  } catch {
    return false;
  }
}

/** Runs `parse` (a value parser of one flag) with its errors placed at the `k`-th `--name` flag. */
export function atFlag<T>(raw: RawInstruction, name: string, k: number, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw locateError(error, raw, flagLocation(raw, flagIndex(raw, name, k))) as DockerfileError;
  }
}

export function requireExactlyOne(raw: RawInstruction, name: string): string {
  const [first] = raw.args;
  if (raw.args.length !== 1 || first === undefined) fail(raw, InstructionErrors.argumentCount, `${name} requires exactly one argument`);
  return first;
}

export function requireAtLeastOne(raw: RawInstruction, name: string): void {
  if (raw.args.length === 0) fail(raw, InstructionErrors.argumentCount, `${name} requires at least one argument`);
}

/**
 * BuildKit's handleJSONArgs: exec form keeps the elements, shell form joins
 * them into one string (the raw layer already gives one).
 */
export function handleJsonArgs(args: readonly string[], json: boolean): string[] {
  if (args.length === 0) return [];
  if (json) return [...args];
  return [args.join(' ')];
}

/** RUN/CMD/ENTRYPOINT's command line, heredocs becoming inline files. */
export function commandLine(raw: RawInstruction): CommandLine {
  const files: InlineFile[] = raw.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp }));
  return { cmdLine: handleJsonArgs(raw.args, raw.json), prependShell: !raw.json, files };
}

/** The rest of the first comment line that starts with `name ` (BuildKit's doc comments). */
export function docComment(comments: readonly string[], name: string | undefined): string {
  if (name === undefined || name === '') return '';
  for (const line of comments) {
    if (line.startsWith(`${name} `)) return line.slice(name.length + 1);
  }
  return '';
}
