import type { ArgInstruction, Instruction, Stage } from '@strata/parser';
import { stepKey } from '../cache-key.js';
import { buildError, BuildErrors } from '../errors.js';
import { containerConfig, withConfig, withHistory } from '../image/state.js';
import { hostPlatform, platformArgs } from '../platform.js';
import { expanderFor, type BuildSession, type LogSink, type StageState, type StepOutcome } from '../session.js';
import { runCopyStep } from './copy-step.js';
import { applyMetadata } from './metadata.js';
import { runRunStep } from './run-step.js';
import { runWorkdirStep } from './workdir-step.js';

/**
 * Runs one instruction of a stage (its own or a base's ONBUILD trigger): RUN,
 * COPY/ADD and WORKDIR in their modules; ARG and the metadata instructions,
 * which change the config only, here.
 */
export async function runInstruction(
  ins: Exclude<Instruction, Stage['from']>,
  state: StageState,
  session: BuildSession,
  metaArgs: ReadonlyMap<string, string>,
  log: LogSink,
): Promise<StepOutcome> {
  switch (ins.kind) {
    case 'arg': {
      const args = declaredArgs(ins, state, session, metaArgs);
      // names only: a value reaches exactly the steps that use it, through their expanded
      // instruction or (RUN) their environment, so a changed arg no step uses invalidates nothing
      const declared = ins.args.map((a) => a.key);
      const key = stepKey({ parent: state.key, platform: session.platformText, kind: 'arg', instruction: declared, env: [] });
      return { state: { ...state, args, key }, cached: false };
    }
    case 'run':
      return runRunStep(ins, state, session, log);
    case 'copy':
    case 'add':
      return runCopyStep(ins, state, session);
    case 'workdir':
      return runWorkdirStep(ins, state, session);
    default: {
      const expand = expanderFor(session, state);
      const change = applyMetadata(ins, containerConfig(state.image), expand, state);
      if (change === undefined) throw buildError(BuildErrors.unsupported, [`the ${ins.keyword.toUpperCase()} instruction`]);
      const key = stepKey({ parent: state.key, platform: session.platformText, kind: ins.kind, instruction: change.canonical, env: [] });
      const image = withHistory(withConfig(state.image, () => change.config), { created: state.time, created_by: change.createdBy, comment: 'buildkit.dockerfile.v0' });
      return { state: { ...state, image, key, ...(ins.kind === 'cmd' ? { cmdSet: true } : {}) }, cached: false };
    }
  }
}

/** The ARGs in scope after an ARG instruction: build arg, else automatic platform arg, else its default, else the global ARG. */
function declaredArgs(ins: ArgInstruction, state: StageState, session: BuildSession, metaArgs: ReadonlyMap<string, string>): Map<string, string> {
  const args = new Map(state.args);
  const expand = expanderFor(session, state);
  for (const def of ins.args) {
    const given = session.options.buildArgs?.[def.key];
    const auto = platformArgs(hostPlatform(), session.targetPlatform)[def.key];
    let value: string | undefined = given ?? auto;
    if (value === undefined && def.defaultValue !== undefined) value = expand(def.defaultValue);
    if (value === undefined) value = metaArgs.get(def.key);
    if (value !== undefined) args.set(def.key, value);
  }
  return args;
}
