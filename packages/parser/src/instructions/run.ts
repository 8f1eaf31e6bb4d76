import { InstructionErrors, valueError } from './errors.js';
import { flag } from './flags.js';
import { atFlag, baseFields, commandLine, flagsOf, type InstructionInput } from './common.js';
import { parseDevice } from './device.js';
import { parseMount } from './mount.js';
import type { NetworkMode, RunInstruction, SecurityMode } from './types.js';

const networkModes: readonly string[] = ['default', 'none', 'host'];
const securityModes: readonly string[] = ['sandbox', 'insecure'];

/** `RUN [--mount=...] [--network=...] [--security=...] [--device=...] command` (shell, exec or heredoc form). */
export function parseRun(input: InstructionInput): RunInstruction {
  const { raw } = input;
  const flags = flagsOf(raw, {
    mount: flag.strings(),
    network: flag.string('default'),
    security: flag.string('sandbox'),
    device: flag.strings(),
  });
  const { network, security } = flags.values;
  if (!networkModes.includes(network)) atFlag(raw, 'network', 0, () => { throw valueError(InstructionErrors.invalidNetwork, network); });
  if (!securityModes.includes(security)) atFlag(raw, 'security', 0, () => { throw valueError(InstructionErrors.invalidSecurity, security); });
  const mounts = flags.values.mount.map((m, k) => atFlag(raw, 'mount', k, () => parseMount(m)));
  const devices = flags.values.device.map((d, k) => atFlag(raw, 'device', k, () => parseDevice(d)));
  return {
    kind: 'run',
    ...baseFields(input, flags.used),
    ...commandLine(raw),
    mounts,
    network: network as NetworkMode,
    security: security as SecurityMode,
    devices,
  };
}
