import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { diskFullOr, type CacheKey } from '@strata/cache';
import { expandWord, parseDockerfile, parseStages, type Instruction, type ParseResult, type Stage, type Stages } from '@strata/parser';
import { buildCheckWarnings } from './build-checks.js';
import type { BuildOptions, BuildResult, StageSummary } from './build-options.js';
import { exportCacheUse, openCacheUse, type CacheUse } from './cache-transfer/use.js';
import { NamedContexts } from './context/named-contexts.js';
import { BuildError } from './errors.js';
import { discardEvents, type StepInstruction } from './events.js';
import { publishImage, writeTargetImage } from './finish-build.js';
import type { WrittenImage } from './image/write-image.js';
import { closeSession, openSession } from './open-session.js';
import { checkOutputs } from './output/write-outputs.js';
import { finalImageStages, planBuild, type PlannedStage } from './plan/plan.js';
import { stagePlatform } from './plan/stage-platform.js';
import { formatPlatform, hostPlatform, parsePlatform, platformArgs, type TargetPlatform } from './platform.js';
import { removeOrphanNetworks } from './runtime/network.js';
import { inUserNamespace } from './runtime/rootless.js';
import { removeOrphanContainers } from './runtime/runc.js';
import type { BuildSession, StageResult } from './session.js';
import { overlayDriver } from './snapshot/overlay.js';
import { baseName, stageBase } from './steps/from-step.js';
import { peekTriggerCount, takeTriggers } from './steps/onbuild.js';
import { runInstruction } from './steps/run-instruction.js';

// The plan of a build: parse, plan the stages, and for each platform open a
// session, run every stage's steps in order and write the target's image;
// then tag and write the outputs (finish-build.ts). What a step sees and
// returns is in session.ts; the steps themselves are under steps/.

function stepInstruction(ins: Instruction | Stage['from'], onbuild: boolean): StepInstruction {
  return { text: ins.original, location: ins.location, ...(onbuild ? { onbuild: true } : {}) };
}

/** Why a stage does not read the cache (--no-cache, --no-cache-filter), or undefined when it does. */
function cacheDisabled(session: BuildSession, planned: PlannedStage): string | undefined {
  if (session.options.noCache === true) return 'cache disabled (--no-cache)';
  const filter = session.options.noCacheFilter;
  if (filter === undefined) return undefined;
  const names = filter.map((f) => f.toLowerCase());
  const hit = names.includes(String(planned.stage.index)) || (planned.stage.name !== undefined && names.includes(planned.stage.name));
  return hit ? `cache disabled for stage ${planned.label} (--no-cache-filter)` : undefined;
}

async function buildStage(planned: PlannedStage, targetSession: BuildSession, metaArgs: ReadonlyMap<string, string>): Promise<StageResult> {
  const { stage, label } = planned;
  const platform = stagePlatform({
    stage,
    base: planned.base,
    metaArgs,
    escape: targetSession.escape,
    target: targetSession.targetPlatform,
    ...(planned.base.kind === 'stage' ? { baseStagePlatform: targetSession.results.get(planned.base.index)?.platform } : {}),
  });
  const platformText = formatPlatform(platform);
  const disabled = cacheDisabled(targetSession, planned);
  const session: BuildSession = platformText === targetSession.platformText ? targetSession : { ...targetSession, platform, platformText };
  // the base's ONBUILD triggers count as steps; a base still to be pulled tells how many once FROM resolves it
  let total = stage.instructions.length + 1 + (await peekTriggerCount(planned, session));
  const base = (index: number, ins: Instruction | Stage['from'], onbuild = false) => ({
    stepId: `${session.labelPrefix}${stage.index}/${index}`,
    stage: `${session.labelPrefix}${label}`,
    index,
    total,
    instruction: stepInstruction(ins, onbuild),
  });
  const fromStarted = Date.now();
  session.emit({ type: 'step-started', ...base(1, stage.from), timestamp: fromStarted });
  let taken: ReturnType<typeof takeTriggers>;
  try {
    taken = takeTriggers(await stageBase(planned, session), baseName(planned, session), stage.from);
  } catch (thrown) {
    const e = withInstruction(thrown, stage.from) as { code?: string; message?: string };
    session.emit({ type: 'step-failed', ...base(1, stage.from), timestamp: Date.now(), code: e.code ?? 'BUILD_INTERNAL', message: e.message ?? String(e), durationMs: Date.now() - fromStarted });
    throw e;
  }
  let state = taken.state;
  total = stage.instructions.length + 1 + taken.triggers.length;
  session.emit({ type: 'step-completed', ...base(1, stage.from), timestamp: Date.now(), cacheKey: state.key, durationMs: Date.now() - fromStarted });
  const steps = [...taken.triggers.map((ins) => ({ ins, onbuild: true })), ...stage.instructions.map((ins) => ({ ins, onbuild: false }))];

  for (const [i, { ins, onbuild }] of steps.entries()) {
    const ev = base(i + 2, ins, onbuild);
    const started = Date.now();
    session.options.signal?.throwIfAborted();
    session.emit({ type: 'step-started', ...ev, timestamp: started });
    state = {
      ...state,
      cache: {
        stage: stage.index,
        locator: JSON.stringify([session.dockerfilePath, session.platformText, stage.index, i + 2]),
        ...(disabled === undefined ? {} : { disabled }),
        ...(steps.slice(i + 1).some((s) => s.ins.kind === 'run' && (s.ins.network === 'default' ? (session.options.network ?? 'default') : s.ins.network) === 'default')
          ? { runAhead: true }
          : {}),
      },
    };
    try {
      const outcome = await runInstruction(ins, state, session, metaArgs, (stream, text) =>
        session.emit({ type: 'step-log', ...ev, timestamp: Date.now(), stream, text }),
      );
      state = outcome.state;
      if (outcome.cached) {
        session.emit({
          type: 'step-cached',
          ...ev,
          timestamp: Date.now(),
          cacheKey: state.key,
          ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
          ...(outcome.revalidated === undefined ? {} : { revalidated: outcome.revalidated }),
        });
      } else {
        const layer = state.image.layers.length > 0 && outcome.newLayer ? state.image.layers[state.image.layers.length - 1] : undefined;
        session.emit({
          type: 'step-completed',
          ...ev,
          timestamp: Date.now(),
          cacheKey: state.key,
          durationMs: Date.now() - started,
          ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
          ...(layer === undefined ? {} : { layer: { digest: layer.descriptor.digest, size: layer.descriptor.size } }),
          ...(outcome.incremental === undefined ? {} : { incremental: outcome.incremental }),
          ...(outcome.revalidated === undefined ? {} : { revalidated: outcome.revalidated }),
          ...(outcome.network === undefined ? {} : { network: outcome.network }),
        });
      }
    } catch (thrown) {
      // a write that found the disk full (a layer, an upper folder) is CACHE_DISK_FULL naming the store, whichever writer met it
      const error = withInstruction(diskFullOr(thrown, session.store.root), ins);
      const e = error as { code?: string; message?: string };
      session.emit({ type: 'step-failed', ...ev, timestamp: Date.now(), code: e.code ?? 'BUILD_INTERNAL', message: e.message ?? String(error), durationMs: Date.now() - started });
      throw error;
    }
  }
  return { state, label, platform };
}

/**
 * Gives a builder error raised inside a step the step's location and source
 * text (in `details`), so every step failure points at its instruction.
 */
function withInstruction(error: unknown, ins: Instruction | Stage['from']): unknown {
  if (!(error instanceof BuildError) || error.details?.location !== undefined) return error;
  return new BuildError(error.code, error.message, error.hint, {
    cause: error.cause,
    details: { ...error.details, location: ins.location, instruction: ins.original },
  });
}

/** One platform's image, written to the store (not tagged), and its stages. */
interface PlatformBuild {
  readonly written: WrittenImage;
  readonly summaries: StageSummary[];
}

/** Builds the plan for one platform; the image is written to the store (not tagged). */
async function buildForPlatform(
  options: BuildOptions,
  parsed: Stages,
  raw: ParseResult,
  platform: TargetPlatform,
  paths: { contextDir: string; dockerfilePath: string },
  labelPrefix: string,
  builtKeys: Set<CacheKey>,
  cache: CacheUse,
  named?: NamedContexts,
): Promise<PlatformBuild> {
  const started = Date.now();
  const emit = options.onEvent ?? discardEvents;
  const platformText = formatPlatform(platform);

  // global ARGs (before the first FROM): build args override their defaults
  const meta = new Map<string, string>(Object.entries(platformArgs(hostPlatform(), platform)));
  for (const ins of parsed.metaArgs) {
    for (const def of ins.args) {
      const given = options.buildArgs?.[def.key];
      if (given !== undefined) meta.set(def.key, given);
      else if (def.defaultValue !== undefined) meta.set(def.key, expandWord(def.defaultValue, Object.fromEntries(meta), { escape: raw.escapeToken }));
    }
  }
  const expandFrom = (image: string) => expandWord(image, Object.fromEntries(meta), { escape: raw.escapeToken });
  const plan = planBuild(parsed, {
    ...(options.target === undefined ? {} : { target: options.target }),
    expandFrom,
    ...(named === undefined ? {} : { named: (ref: string) => named.has(ref) }),
  });

  const session = await openSession({ options, stages: parsed.stages, escape: raw.escapeToken, platform, ...paths, labelPrefix, builtKeys, cache, ...(named === undefined ? {} : { named }) });
  const rootless = inUserNamespace() ? { rootless: { overlay: await overlayDriver(session.workDir) } } : {};
  emit({ type: 'build-started', timestamp: started, stages: plan.stages.length, target: plan.target.label, platform: platformText, ...rootless });
  try {
    for (const planned of plan.stages) {
      const result = await buildStage(planned, session, meta);
      session.results.set(planned.stage.index, result);
    }
    const target = session.results.get(plan.target.stage.index) as StageResult;
    const written = await writeTargetImage(options, target);
    const summaries = [...session.results].map(([index, r]) => ({ name: r.label, imageId: index === plan.target.stage.index ? written.imageId : '' }));
    cache.finalStages.push({ platform: platformText, stages: finalImageStages(plan) });
    return { written, summaries };
  } finally {
    await closeSession(session);
  }
}

/**
 * Builds a Dockerfile into an image in the store and tags it. Every step is
 * looked up in the cache first; a step that runs becomes at most one layer.
 * Several platforms (`linux/amd64,linux/arm64`) build one after the other and
 * are tagged as one OCI image index.
 */
export async function build(given: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  // outputs compress what they write (their compression=, else options.compression); the stored image is never compressed
  const options: BuildOptions = given;
  const emit = options.onEvent ?? discardEvents;
  // steps of builds that were killed outright still run under the runtime: stop them
  await removeOrphanContainers(options.runtime === undefined ? {} : { runtime: options.runtime });
  await removeOrphanNetworks();
  const contextDir = resolve(options.context);
  const dockerfilePath = resolve(options.dockerfile ?? join(contextDir, 'Dockerfile'));
  const text = options.dockerfileText ?? (await readFile(dockerfilePath, 'utf8'));
  const raw = parseDockerfile(text, { file: options.dockerfile ?? 'Dockerfile' });
  for (const w of raw.warnings) emit({ type: 'warning', timestamp: Date.now(), code: w.code, message: w.message, location: w.location });
  const parsed = parseStages(raw);
  for (const warning of await buildCheckWarnings(raw, parsed, { source: text, contextDir, dockerfilePath, ...(options.buildArgs === undefined ? {} : { buildArgs: options.buildArgs }) })) emit(warning);
  const platforms = options.platform === undefined ? [hostPlatform()] : options.platform.split(',').map((p) => parsePlatform(p.trim()));
  const multi = platforms.length > 1;
  checkOutputs(options, platforms.length);
  const builds: PlatformBuild[] = [];
  // One after the other, sharing `builtKeys`: a stage that runs on its own
  // platform (FROM --platform=$BUILDPLATFORM) is keyed the same for every
  // target, so only the first target runs its steps.
  const builtKeys = new Set<CacheKey>();
  const cache = await openCacheUse(options, emit);
  // --build-context: looked up before stages and images; what they download is removed after the platforms' builds
  const named = options.namedContexts === undefined ? undefined : new NamedContexts(options.store, options.namedContexts);
  try {
    for (const platform of platforms) {
      builds.push(
        await buildForPlatform(options, parsed, raw, platform, { contextDir, dockerfilePath }, multi ? `${formatPlatform(platform)} ` : '', builtKeys, cache, named),
      );
    }
  } finally {
    await named?.close();
  }
  const { descriptor, imageId, tags, outputs } = await publishImage(options, builds.map((b) => b.written), emit);
  const cacheExports = await exportCacheUse(options, cache, emit);
  emit({ type: 'build-completed', timestamp: Date.now(), imageId, manifestDigest: descriptor.digest, tags, durationMs: Date.now() - started });
  return {
    imageId,
    manifestDigest: descriptor.digest,
    tags,
    stages: builds.flatMap((b) => b.summaries),
    outputs,
    ...(cacheExports.length === 0 ? {} : { cacheExports }),
  };
}
