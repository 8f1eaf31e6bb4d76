import { parseDockerfile, parseInstruction, type FromInstruction, type Instruction, type ParseResult } from '@strata/parser';
import type { BuildSession, StageState } from '../session.js';
import { buildError, BuildErrors } from '../errors.js';
import { resolveBaseImage } from '../image/resolve-base.js';
import { containerConfig, withConfig } from '../image/state.js';
import type { PlannedStage } from '../plan/plan.js';

/** An instruction a stage runs: its own, or a trigger of its base image. */
export type StageInstruction = Exclude<Instruction, FromInstruction>;

/** Keywords a trigger may not be (docker and BuildKit refuse them at ONBUILD time; an image made elsewhere may still carry them). */
const FORBIDDEN = new Map([
  ['onbuild', 'chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed'],
  ['from', 'FROM isn\'t allowed as an ONBUILD trigger'],
  ['maintainer', 'MAINTAINER isn\'t allowed as an ONBUILD trigger'],
]);

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * One trigger (an instruction line as the base's config stores it, heredoc
 * bodies appended) to the instruction it runs as. The result points at the
 * child's FROM: that is the line of this Dockerfile the step comes from.
 */
export function parseTrigger(text: string, base: string, from: FromInstruction): StageInstruction {
  const invalid = (problem: string, cause?: unknown) =>
    buildError(BuildErrors.onbuildTrigger, [base, text, problem], cause === undefined ? {} : { cause });
  let parsed: ParseResult;
  try {
    parsed = parseDockerfile(text, { file: `ONBUILD trigger of ${base}` });
  } catch (error) {
    throw invalid(messageOf(error), error);
  }
  const [raw, ...rest] = parsed.instructions;
  if (raw === undefined || rest.length > 0) throw invalid(`a trigger is exactly one instruction, this one has ${parsed.instructions.length}`);
  const forbidden = FORBIDDEN.get(raw.keyword.toLowerCase());
  if (forbidden !== undefined) throw invalid(forbidden);
  let instruction: Instruction;
  try {
    instruction = parseInstruction(raw);
  } catch (error) {
    throw invalid(messageOf(error), error);
  }
  if (instruction.kind === 'from') throw invalid(FORBIDDEN.get('from') as string);
  return { ...instruction, location: from.location };
}

/**
 * A stage's base image brings its ONBUILD triggers: they run right after FROM,
 * before the stage's own instructions, in the order they were declared (as
 * BuildKit runs them). The child does not inherit them: OnBuild is cleared in
 * its config, and the stage's own ONBUILD instructions start a fresh list.
 * Triggers are ordinary steps afterwards, so they chain into the cache keys.
 */
export function takeTriggers(state: StageState, base: string, from: FromInstruction): { state: StageState; triggers: StageInstruction[] } {
  const config = containerConfig(state.image);
  if (config.OnBuild === undefined || config.OnBuild === null) return { state, triggers: [] };
  const triggers = config.OnBuild.map((text) => parseTrigger(text, base, from));
  const image = withConfig(state.image, (c) => {
    const { OnBuild: _consumed, ...rest } = c;
    return rest;
  });
  return { state: { ...state, image }, triggers };
}

/**
 * How many triggers the stage's base brings, when that is known without a
 * pull (an earlier stage, or an image already in the store), so that FROM's
 * step-started event already counts them in `total`. 0 when unknown: the
 * count is corrected once the base is resolved.
 */
export async function peekTriggerCount(planned: PlannedStage, session: BuildSession): Promise<number> {
  const base = planned.base;
  if (base.kind === 'stage') {
    const image = session.results.get(base.index)?.state.image;
    return image === undefined ? 0 : (containerConfig(image).OnBuild?.length ?? 0);
  }
  if (base.kind !== 'image' || session.options.pull === true) return 0;
  try {
    const { image } = await resolveBaseImage(session.store, base.reference, session.platform);
    return containerConfig(image).OnBuild?.length ?? 0;
  } catch {
    return 0;
  }
}
