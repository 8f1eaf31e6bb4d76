import { InstructionErrors } from './errors.js';
import { flag } from './flags.js';
import { baseFields, fail, flagsOf, type InstructionInput } from './common.js';
import type { FromInstruction } from './types.js';

const validStageName = /^[a-z][a-z0-9-_.]*$/;

/** `FROM [--platform=P] IMAGE [AS NAME]`. */
export function parseFrom(input: InstructionInput): FromInstruction {
  const { raw } = input;
  const args = raw.args;
  let stageName: string | undefined;
  let asKeyword: string | undefined;
  let stageNameAsWritten: string | undefined;
  if (args.length === 3 && (args[1] ?? '').toLowerCase() === 'as') {
    asKeyword = args[1];
    stageNameAsWritten = args[2] ?? '';
    stageName = stageNameAsWritten.toLowerCase();
    if (!validStageName.test(stageName)) fail(raw, InstructionErrors.invalidStageName, stageNameAsWritten);
  } else if (args.length !== 1) {
    fail(raw, InstructionErrors.argumentCount, 'FROM requires either one or three arguments');
  }
  const flags = flagsOf(raw, { platform: flag.string() });
  const platform = flags.used.includes('platform') ? flags.values.platform : undefined;
  return {
    kind: 'from',
    ...baseFields(input, flags.used),
    image: args[0] ?? '',
    ...(stageName === undefined ? {} : { stageName, stageNameAsWritten, asKeyword }),
    ...(platform === undefined || platform === '' ? {} : { platform }),
  };
}
