import type { ErrorRule } from '../errors.js';
import { DockerfileError, isDockerfileError } from '../errors.js';
import type { RawInstruction } from '../ast.js';
import type { SourceLocation } from '../location.js';
import { withSuggestion } from './suggest.js';

function rule<A extends unknown[]>(code: string, message: (...args: A) => string, hint?: string): ErrorRule<A> {
  return hint === undefined ? { code, message } : { code, message, hint };
}

/**
 * Errors of the typed instruction layer. Message texts follow BuildKit's
 * (tools and tests match on them); callers branch on `code`.
 */
export const InstructionErrors = {
  argumentCount: rule('PARSE_ARGUMENT_COUNT', (text: string) => text,
    'Check the instruction against the Dockerfile reference: it takes a different number of arguments.'),
  blankName: rule('PARSE_BLANK_NAME', (instruction: string) => `${instruction} names can not be blank`,
    'Write the name before the "=", as in NAME=value.'),
  duplicateFlag: rule('PARSE_DUPLICATE_FLAG', (flag: string) => `duplicate flag specified: ${flag}`,
    'Give this flag once.'),
  emptyVolume: rule('PARSE_EMPTY_VOLUME', () => 'VOLUME specified can not be an empty string'),
  flagSyntax: rule('PARSE_FLAG_SYNTAX', (arg: string) => `arg should start with -- : ${arg}`),
  flagValue: rule('PARSE_FLAG_VALUE', (text: string) => text,
    'String flags take a value (--name=value); boolean flags are bare or =true/=false.'),
  heredocPosition: rule('PARSE_HEREDOC_POSITION', (instruction: string, what: string) => `${instruction} cannot accept a heredoc as ${what}`,
    'A heredoc can be a source of COPY/ADD, never its destination.'),
  invalidChmod: rule('PARSE_INVALID_CHMOD', (value: string) => `invalid chmod parameter: '${value}'. it should be octal string like '0755' or symbolic like 'u+rwx,go+rx'`),
  invalidChecksum: rule('PARSE_INVALID_CHECKSUM', (value: string) => `invalid checksum digest format: ${value}`,
    'Write the checksum as ALGORITHM:HEX, for example sha256:<64 hex digits>.'),
  invalidDevice: rule('PARSE_INVALID_DEVICE', (text: string) => text,
    'Write --device=NAME[,required[=true|false]].'),
  invalidDuration: rule('PARSE_INVALID_DURATION', (text: string) => text,
    'Write durations as Go does: a number with a unit, such as 30s, 1m30s or 500ms.'),
  invalidHealthcheck: rule('PARSE_INVALID_HEALTHCHECK', (text: string) => text,
    'Write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE.'),
  invalidMount: rule('PARSE_INVALID_MOUNT', (text: string) => text,
    'Write --mount=type=bind|cache|tmpfs|secret|ssh,target=PATH[,option=value...].'),
  invalidNetwork: rule('PARSE_INVALID_NETWORK', (value: string) => `invalid network mode "${value}"`,
    'Use --network=default, none or host.'),
  invalidPort: rule('PARSE_INVALID_PORT', (text: string) => text,
    'Write ports as PORT[/PROTOCOL] or START-END[/PROTOCOL]; protocols are tcp, udp and sctp.'),
  invalidSecurity: rule('PARSE_INVALID_SECURITY', (value: string) => `security "${value}" is not valid`,
    'Use --security=sandbox or insecure.'),
  invalidStageName: rule('PARSE_INVALID_STAGE_NAME', (name: string) => `invalid name for build stage: ${JSON.stringify(name)}, name can't start with a number or contain symbols`,
    'Stage names start with a lower-case letter and contain only letters, digits, "-", "_" and ".".'),
  noStage: rule('PARSE_NO_STAGE', (keyword: string) => `no build stage in current context: ${keyword} must come after a FROM`,
    'Only ARG instructions may come before the first FROM.'),
  notJson: rule('PARSE_NOT_JSON', (instruction: string, original: string) => `${instruction} requires the arguments to be in JSON form: ${original}`,
    'Write the arguments as a JSON array, for example SHELL ["/bin/bash", "-c"].'),
  onbuildTrigger: rule('PARSE_ONBUILD_TRIGGER', (text: string) => text,
    'ONBUILD takes one instruction other than ONBUILD, FROM or MAINTAINER.'),
  unknownFlag: rule('PARSE_UNKNOWN_FLAG', (flag: string, suggestion?: string) => withSuggestion(`unknown flag: ${flag}`, suggestion),
    'Check the flag against the instruction\'s documented flags.'),
  unknownInstruction: rule('PARSE_UNKNOWN_INSTRUCTION', (name: string, suggestion?: string) => withSuggestion(`unknown instruction: ${name}`, suggestion),
    'Instructions are FROM, RUN, CMD, LABEL, MAINTAINER, EXPOSE, ENV, ADD, COPY, ENTRYPOINT, VOLUME, USER, WORKDIR, ARG, ONBUILD, STOPSIGNAL, HEALTHCHECK and SHELL.'),
} as const;

/** Where an instruction-level error points: the instruction's location and its first source line. */
export function instructionError<A extends unknown[]>(raw: RawInstruction, entry: ErrorRule<A>, ...args: A): DockerfileError {
  const firstLine = raw.original.split(/\r?\n/, 1)[0] ?? '';
  return new DockerfileError(entry.code, entry.message(...args), entry.hint, {
    location: raw.location,
    sourceLine: firstLine,
  });
}

/** A location-less error from a value parser (flags, mounts, ports); `locateError` places it. */
export function valueError<A extends unknown[]>(entry: ErrorRule<A>, ...args: A): DockerfileError {
  return new DockerfileError(entry.code, entry.message(...args), entry.hint);
}

/**
 * Gives a location-less DockerfileError the location of `raw`, or `at` (a
 * part of it, such as one flag) when given; anything else passes through.
 */
export function locateError(error: unknown, raw: RawInstruction, at?: SourceLocation): unknown {
  if (!isDockerfileError(error) || error.location !== undefined) return error;
  const location = at ?? raw.location;
  const lines = raw.original.split(/\r?\n/);
  const sourceLine = lines[location.start.line - raw.location.start.line] ?? lines[0] ?? '';
  return new DockerfileError(error.code, error.message, error.hint, { location, sourceLine: sourceLine.replace(/\r$/, ''), cause: error.cause });
}
