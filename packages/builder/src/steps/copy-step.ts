import { spawn } from 'node:child_process';
import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { applyChmod, parseChmod, type AddInstruction, type CopyInstruction } from '@strata/parser';
import type { BuildSession, StageState, StepOutcome } from '../build.js';
import { expanderFor } from '../build.js';
import { sourceFacts, sourcesDigest, stepKey } from '../cache-key.js';
import { openContext, type BuildContext, type SelectedSource } from '../context/context.js';
import { buildError, BuildErrors } from '../errors.js';
import { resolveBaseImage } from '../image/resolve-base.js';
import { containerConfig, type ImageState } from '../image/state.js';
import { findStage } from '../plan/plan.js';
import { resolveUser } from '../runtime/user.js';
import { unmount } from '../snapshot/overlay.js';
import { lookupInLayers, readUserFiles } from '../snapshot/snapshotter.js';
import { layerStep } from './layer-step.js';
import { copyIntoUpper, resolveDestination, writeInlineSources, type CopyPlan, type Owner } from './copy.js';

/** Where COPY reads from: the build context, or a stage's / image's root filesystem mounted read-only. */
interface SourceRoot {
  readonly context: BuildContext;
  /** The source stage's or image's identity, for the cache key. */
  readonly identity: string;
  release(): Promise<void>;
}

async function sourceRoot(ins: CopyInstruction | AddInstruction, session: BuildSession, state: StageState): Promise<SourceRoot> {
  const from = ins.kind === 'copy' && ins.from !== undefined ? expanderFor(session, state)(ins.from) : undefined;
  if (from === undefined) return { context: session.context, identity: 'context', release: async () => undefined };
  let image: ImageState;
  let identity: string;
  const stage = findStage(session.stages, from, session.stages.length);
  if (stage !== undefined) {
    const result = session.results.get(stage.index);
    if (result === undefined) throw buildError(BuildErrors.invalidInstruction, [`COPY --from=${from}: stage ${from} was not built before this step`]);
    image = result.state.image;
    identity = `stage:${result.state.key}`;
  } else {
    const base = await resolveBaseImage(session.store, from, session.platform);
    image = base.image;
    identity = `image:${base.manifestDigest}`;
  }
  const lowers = await session.snapshotter.lowerDirs(image.layers);
  const dir = join(session.workDir, session.nextId());
  const empty = join(dir, 'empty');
  await mkdir(empty, { recursive: true });
  const merged = join(dir, 'merged');
  if (lowers.length === 0) {
    return { context: await openContext(empty, { ignoreFiles: false }), identity, release: async () => undefined };
  }
  // a read-only overlay: lower directories only (the empty folder keeps the count >= 2)
  await mkdir(merged, { recursive: true });
  await mountOverlayReadOnly([...lowers, empty], merged);
  return {
    context: await openContext(merged, { ignoreFiles: false }),
    identity,
    release: () => unmount(merged),
  };
}

async function mountOverlayReadOnly(lowers: readonly string[], target: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')}`, target], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(buildError(BuildErrors.mountFailed, [`a source stage at ${target}`, stderr.trim()])),
    );
  });
}

async function resolveOwner(chown: string | undefined, lowerDirs: () => Promise<readonly string[]>): Promise<Owner | undefined> {
  if (chown === undefined || chown === '') return undefined;
  if (/^[0-9]+(:[0-9]+)?$/.test(chown)) {
    const [u, g] = chown.split(':');
    return { uid: Number(u), gid: Number(g ?? u) };
  }
  const dirs = await lowerDirs();
  const files = await readUserFiles(dirs);
  const [userPart = '', groupPart] = chown.split(':');
  const user = resolveUser(groupPart === undefined ? userPart : `${userPart}:${groupPart}`, files);
  // docker: --chown=user without a group uses the user's primary group
  return { uid: user.uid, gid: user.gid };
}

/** COPY and ADD (local sources): select, key by content, copy into a fresh upper directory, commit. */
export async function runCopyStep(ins: CopyInstruction | AddInstruction, state: StageState, session: BuildSession): Promise<StepOutcome> {
  const expand = expanderFor(session, state);
  const config = containerConfig(state.image);
  const keyword = ins.kind === 'copy' ? 'COPY' : 'ADD';
  const sources = ins.sources.map(expand);
  if (ins.kind === 'add' && sources.some((s) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || s.startsWith('git@'))) {
    throw buildError(BuildErrors.unsupported, ['ADD of a URL or git repository']);
  }
  const destinationText = expand(ins.destination);
  const destination = resolveDestination(destinationText, config.WorkingDir ?? '/');
  const chown = ins.chown === undefined ? undefined : expand(ins.chown);
  const chmodText = ins.chmod === undefined ? undefined : expand(ins.chmod);
  const chmodSpec = chmodText === undefined ? undefined : parseChmod(chmodText);
  const excludes = ins.excludes.map(expand);
  const inline = ins.inlineSources.map((s) => ({ name: s.path, data: s.expand ? expand(s.data) : s.data }));

  const root = await sourceRoot(ins, session, state);
  try {
    const selection: SelectedSource[] = sources.length > 0 ? await root.context.select(sources, { excludes }) : [];
    const facts = await sourceFacts(selection, async (file) => (await session.store.memo.hashFile(file)).digest);
    const canonical = {
      sources,
      destination,
      chown: chown ?? null,
      chmod: chmodText ?? null,
      excludes,
      link: ins.link,
      parents: ins.kind === 'copy' ? ins.parents : false,
      inline,
      from: root.identity,
    };
    const key = stepKey({ parent: state.key, platform: session.platformText, kind: ins.kind, instruction: canonical, env: [], sources: sourcesDigest(facts) });
    const createdBy = `${keyword} ${[...sources, ...inline.map((f) => `<<${f.name}`)].join(' ')} ${destinationText} # buildkit`;
    return await layerStep(session, state, {
      key,
      createdBy,
      config,
      produce: async () => {
        let lowerDirs: readonly string[] | undefined;
        const lowers = async () => (lowerDirs ??= await session.snapshotter.lowerDirs(state.image.layers));
        const owner = await resolveOwner(chown, lowers);
        const dirs = await lowers();
        const wildcard = sources.some((s) => /[*?[]/.test(s));
        const destExists = await lookupInLayers(dirs, destination);
        let destIsDir = destination.endsWith('/') || sources.length + inline.length > 1 || wildcard;
        if (!destIsDir && destExists !== undefined) destIsDir = (await lstat(destExists)).isDirectory();
        const plan: CopyPlan = {
          destination,
          destIsDir,
          ...(owner === undefined ? {} : { owner }),
          ...(chmodSpec === undefined ? {} : { chmod: (mode: number, isDir: boolean) => applyChmod(chmodSpec, mode, isDir) }),
          epoch: session.epoch ?? Math.floor(Date.now() / 1000),
        };
        const upper = join(session.workDir, session.nextId());
        await mkdir(upper, { recursive: true });
        await copyIntoUpper(upper, dirs, selection, plan);
        if (inline.length > 0) await writeInlineSources(upper, dirs, inline, plan);
        return upper;
      },
    });
  } finally {
    await root.release();
  }
}
