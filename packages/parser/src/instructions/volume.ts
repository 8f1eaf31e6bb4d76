import { InstructionErrors } from './errors.js';
import { baseFields, fail, flagsOf, requireAtLeastOne, type InstructionInput } from './common.js';
import type { VolumeInstruction } from './types.js';

/** `VOLUME path...` or `VOLUME ["path", ...]`. */
export function parseVolume(input: InstructionInput): VolumeInstruction {
  const { raw } = input;
  requireAtLeastOne(raw, 'VOLUME');
  const flags = flagsOf(raw, {});
  const volumes = raw.args.map((v) => v.trim());
  if (volumes.some((v) => v === '')) fail(raw, InstructionErrors.emptyVolume);
  return { kind: 'volume', ...baseFields(input, flags.used), volumes };
}
