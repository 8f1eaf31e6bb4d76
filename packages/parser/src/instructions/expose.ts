import { InstructionErrors, locateError, valueError } from './errors.js';
import { baseFields, flagsOf, requireAtLeastOne, type InstructionInput } from './common.js';
import type { ExposeInstruction } from './types.js';
import type { DockerfileError } from '../errors.js';

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

export interface PortSpec {
  readonly start: number;
  readonly end: number;
  /** Lower-cased; `tcp` when not written. */
  readonly protocol: PortProtocol;
  /** The protocol as written, when written (ExposeProtoCasing looks at it). */
  readonly protocolAsWritten?: string;
  /** An `ip:` or `hostPort:` part was written; EXPOSE ignores it (BuildKit warns). */
  readonly hostMapping: boolean;
}

function parsePortNumber(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

/**
 * One expanded EXPOSE word: `PORT`, `START-END`, optionally `/tcp|/udp|/sctp`
 * and a leading `[ip:][hostPort:]` that EXPOSE does not use. Throws a
 * location-less DockerfileError (PARSE_INVALID_PORT).
 */
export function parsePortSpec(text: string): PortSpec {
  const slash = text.lastIndexOf('/');
  let portPart = slash < 0 ? text : text.slice(0, slash);
  const protoText = slash < 0 ? undefined : text.slice(slash + 1);
  const protocol = (protoText ?? 'tcp').toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') {
    throw valueError(InstructionErrors.invalidPort, `invalid port: ${JSON.stringify(text)}: invalid proto: ${protoText ?? ''}`);
  }
  const colon = portPart.lastIndexOf(':');
  const hostMapping = colon >= 0;
  if (hostMapping) portPart = portPart.slice(colon + 1);
  const dash = portPart.indexOf('-');
  const start = parsePortNumber(dash < 0 ? portPart : portPart.slice(0, dash));
  const end = dash < 0 ? start : parsePortNumber(portPart.slice(dash + 1));
  if (start === undefined || end === undefined || end < start) {
    throw valueError(InstructionErrors.invalidPort, `invalid containerPort: ${portPart}`);
  }
  return {
    start,
    end,
    protocol,
    ...(protoText === undefined ? {} : { protocolAsWritten: protoText }),
    hostMapping,
  };
}

/** `EXPOSE port[/proto] ...`: ports without variables are checked now, the rest once expanded. */
export function parseExpose(input: InstructionInput): ExposeInstruction {
  const { raw } = input;
  requireAtLeastOne(raw, 'EXPOSE');
  const flags = flagsOf(raw, {});
  for (const port of raw.args) {
    // Variables and quotes are dealt with by expansion first; check those words then.
    if (/[$'"\\`]/.test(port)) continue;
    try {
      parsePortSpec(port);
    } catch (error) {
      throw locateError(error, raw) as DockerfileError;
    }
  }
  return { kind: 'expose', ...baseFields(input, flags.used), ports: [...raw.args] };
}
