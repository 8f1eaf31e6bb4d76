import { parseInstruction, type Instruction, type Stage, type Stages } from '@strata/parser';
import { buildError, BuildErrors } from '../errors.js';

/** Where a stage starts: scratch, another stage of this file, or an image reference. */
export type StageBase =
  | { readonly kind: 'scratch' }
  | { readonly kind: 'stage'; readonly index: number }
  | { readonly kind: 'image'; readonly reference: string }
  /** A named build context (`--build-context NAME=…`), which BuildKit takes before a stage or an image of that name. */
  | { readonly kind: 'named'; readonly name: string };

export interface PlannedStage {
  readonly stage: Stage;
  /** The stage's name, or its index as text. */
  readonly label: string;
  readonly base: StageBase;
  /** Stage indexes this stage needs first (its base, COPY --from / RUN --mount from=, also in the base stage's ONBUILD triggers). */
  readonly dependsOn: readonly number[];
}

export interface BuildPlan {
  /** The stages to build, dependencies first; the last one is the target. */
  readonly stages: readonly PlannedStage[];
  readonly target: PlannedStage;
}

/** Finds a stage by name (case-insensitive) or index among the stages before `before`. */
export function findStage(stages: readonly Stage[], ref: string, before: number): Stage | undefined {
  const name = ref.toLowerCase();
  const byName = stages.find((s) => s.index < before && s.name === name);
  if (byName !== undefined) return byName;
  if (/^[0-9]+$/.test(ref)) {
    const i = Number(ref);
    return i < before ? stages[i] : undefined;
  }
  return undefined;
}

/** What an instruction reads from another stage or image: COPY --from, RUN --mount from=. */
function stageRefs(ins: Instruction): string[] {
  if (ins.kind === 'copy' && ins.from !== undefined) return [ins.from];
  if (ins.kind === 'run') return ins.mounts.flatMap((m) => (m.from === undefined ? [] : [m.from]));
  return [];
}

/** A stage's own ONBUILD instructions as the instructions a child stage runs (a trigger that does not parse fails in the child, with its error). */
function triggerInstructions(stage: Stage): Instruction[] {
  const out: Instruction[] = [];
  for (const ins of stage.instructions) {
    if (ins.kind !== 'onbuild') continue;
    try {
      out.push(parseInstruction(ins.trigger));
    } catch {
      // reported when the child stage runs its triggers
    }
  }
  return out;
}

/**
 * Chooses the stages a build needs: the target (`--target`, else the last)
 * and, transitively, the stages it starts from or copies from. Stages nothing
 * needs are not built. `expandFrom` expands a FROM's image with the global ARGs.
 */
export function planBuild(
  parsed: Stages,
  options: { target?: string; expandFrom: (image: string, stage: Stage) => string; named?: (ref: string) => boolean },
): BuildPlan {
  const all = parsed.stages;
  if (all.length === 0) throw buildError(BuildErrors.noStages, []);
  let target: Stage | undefined;
  if (options.target === undefined) target = all[all.length - 1];
  else {
    target = all.find((s) => s.name === options.target?.toLowerCase());
    if (target === undefined) {
      const names = all.map((s) => s.name).filter((n): n is string => n !== undefined);
      throw buildError(BuildErrors.targetUnknown, [options.target, names]);
    }
  }
  const planned = new Map<number, PlannedStage>();
  const visit = (stage: Stage, path: readonly number[]): void => {
    if (planned.has(stage.index)) return;
    if (path.includes(stage.index)) throw buildError(BuildErrors.stageCycle, [stage.name ?? String(stage.index)]);
    const image = options.expandFrom(stage.from.image, stage);
    let base: StageBase;
    const dependsOn: number[] = [];
    // a named context comes first: one with a stage's name replaces that stage (BuildKit)
    const scratch = image.toLowerCase() === 'scratch';
    const named = !scratch && options.named?.(image) === true;
    const fromStage = named ? undefined : findStage(all, image, stage.index);
    if (scratch) base = { kind: 'scratch' };
    else if (named) base = { kind: 'named', name: image };
    else if (fromStage !== undefined) {
      base = { kind: 'stage', index: fromStage.index };
      dependsOn.push(fromStage.index);
    } else base = { kind: 'image', reference: image };
    // the base stage's ONBUILD triggers run in this stage: what they read is needed too
    const triggers = base.kind === 'stage' ? triggerInstructions(all[base.index] as Stage) : [];
    for (const ins of [...triggers, ...stage.instructions]) {
      for (const ref of stageRefs(ins)) {
        const dep = options.named?.(ref) === true ? undefined : findStage(all, ref, stage.index);
        if (dep !== undefined && !dependsOn.includes(dep.index)) dependsOn.push(dep.index);
      }
    }
    for (const d of dependsOn) visit(all[d] as Stage, [...path, stage.index]);
    planned.set(stage.index, { stage, label: stage.name ?? String(stage.index), base, dependsOn });
  };
  visit(target as Stage, []);
  const stages = [...planned.values()];
  return { stages, target: planned.get((target as Stage).index) as PlannedStage };
}

/** The stages whose steps make the final image: the target and the stages it starts FROM, transitively. */
export function finalImageStages(plan: BuildPlan): number[] {
  const byIndex = new Map(plan.stages.map((p) => [p.stage.index, p]));
  const out: number[] = [];
  for (let p: PlannedStage | undefined = plan.target; p !== undefined; p = p.base.kind === 'stage' ? byIndex.get(p.base.index) : undefined) {
    out.push(p.stage.index);
  }
  return out;
}
