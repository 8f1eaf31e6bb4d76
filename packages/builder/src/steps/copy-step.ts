import { spawn } from 'node:child_process';
import { lstat, mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { makeCacheKey, type CacheKey, type ContainerConfig } from '@strata/cache';
import { applyChmod, parseChmod, type AddInstruction, type CopyInstruction } from '@strata/parser';
import type { BuildSession, StageState, StepOutcome } from '../build.js';
import { expanderFor } from '../build.js';
import { canonicalMode, keyInputs, sourceFacts, sourceListing, sourcesDigest, stepKey, type StepKeyInput } from '../cache-key.js';
import { openContext, type BuildContext, type ContextEntry, type SelectedSource } from '../context/context.js';
import { buildError, BuildErrors } from '../errors.js';
import { resolveBaseImage } from '../image/resolve-base.js';
import { containerConfig, type ImageState } from '../image/state.js';
import { findStage } from '../plan/plan.js';
import { resolveUser } from '../runtime/user.js';
import { unmount } from '../snapshot/overlay.js';
import { lookupInLayers, readUserFiles } from '../snapshot/snapshotter.js';
import { layerStep } from './layer-step.js';
import { sniffArchive } from './archive.js';
import { resolveInImage } from './dest-path.js';
import { copyIntoUpper, resolveDestination, writeInlineSources, type CopyItem, type CopyPlan, type Owner } from './copy.js';
import { download, isGitSource, isHttpSource, isOtherUrl, parseChecksum, urlFileName, type Downloaded } from './remote.js';

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

/** The parent of every --link layer key: the layer is made as if on scratch. */
const LINK_PARENT = makeCacheKey('strata.copy-link.v1');

/**
 * A --link step whose own key is new but whose layer was made before (on
 * another parent): records the step with that layer, so the layer step
 * finds it and copies nothing.
 */
async function adoptLinkedLayer(session: BuildSession, linkKey: CacheKey, key: CacheKey, config: ContainerConfig, createdBy: string): Promise<void> {
  if ((await session.store.getCacheRecord(key)) !== undefined) return;
  const linked = await session.store.getCacheRecord(linkKey);
  if (linked?.layer === undefined || !(await session.store.hasBlob(linked.layer.digest))) return;
  await session.store.putCacheRecord(key, { layer: linked.layer, config, createdBy });
}

/** A source of the step as written, after expansion. */
type Source = { readonly kind: 'local'; readonly text: string } | { readonly kind: 'url'; readonly url: string };

function classifySources(keyword: 'COPY' | 'ADD', sources: readonly string[]): Source[] {
  return sources.map((text): Source => {
    if (keyword === 'ADD' && isGitSource(text)) throw buildError(BuildErrors.unsupported, [`ADD of a git repository (${text})`]);
    if (isHttpSource(text)) {
      if (keyword === 'COPY') throw buildError(BuildErrors.invalidInstruction, [`COPY ${text}: a source can't be a URL for COPY (use ADD)`]);
      try {
        new URL(text);
      } catch {
        throw buildError(BuildErrors.invalidInstruction, [`ADD ${text}: not a valid URL`]);
      }
      return { kind: 'url', url: text };
    }
    if (isOtherUrl(text)) throw buildError(BuildErrors.unsupported, [`ADD of ${text.split(':')[0] ?? ''}:// sources`]);
    return { kind: 'local', text };
  });
}

/**
 * --parents: splits a source at its `/./` pivot (rsync's --relative): the
 * folders after it are kept under the destination, those before it are not.
 */
function splitPivot(source: string): { pivot: string; pattern: string } {
  const cleaned = source.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
  const at = cleaned.indexOf('/./');
  if (at < 0) return { pivot: '', pattern: cleaned };
  const pivot = posix.normalize(cleaned.slice(0, at)).replace(/^\.$/, '');
  return { pivot, pattern: `${cleaned.slice(0, at)}/${cleaned.slice(at + 3)}` };
}

/** The folders between the pivot and a selected source, outermost first, as the context has them. */
async function foldersBelow(context: BuildContext, pivot: string, contextPath: string): Promise<ContextEntry[]> {
  const parts = contextPath.split('/').slice(0, -1);
  const skip = pivot === '' ? 0 : pivot.split('/').length;
  const out: ContextEntry[] = [];
  for (let i = skip; i < parts.length; i += 1) {
    const rel = parts.slice(0, i + 1).join('/');
    const hostPath = join(context.root, rel);
    const st = await lstat(hostPath);
    out.push({ hostPath, contextPath: rel, type: 'directory', mode: st.isDirectory() ? st.mode & 0o7777 : 0o755, size: 0, mtimeMs: st.mtimeMs });
  }
  return out;
}

interface LocalItem {
  readonly source: SelectedSource;
  readonly parents?: { pivot: string; folders: ContextEntry[] };
}

interface RemoteItem {
  readonly url: string;
  /** Downloaded before the key when there is no --checksum; on a miss otherwise. */
  downloaded?: Downloaded;
}

/** COPY and ADD: select (context, stage, image, URL), key by content, copy into a fresh upper directory, commit. */
export async function runCopyStep(ins: CopyInstruction | AddInstruction, state: StageState, session: BuildSession): Promise<StepOutcome> {
  const expand = expanderFor(session, state);
  const config = containerConfig(state.image);
  const keyword = ins.kind === 'copy' ? 'COPY' : 'ADD';
  const sources = ins.sources.map(expand);
  const classified = classifySources(keyword, sources);
  const destinationText = expand(ins.destination);
  const destination = resolveDestination(destinationText, config.WorkingDir ?? '/');
  const chown = ins.chown === undefined ? undefined : expand(ins.chown);
  const chmodText = ins.chmod === undefined ? undefined : expand(ins.chmod);
  const chmodSpec = chmodText === undefined ? undefined : parseChmod(chmodText);
  const excludes = ins.excludes.map(expand);
  const inline = ins.inlineSources.map((s) => ({ name: s.path, data: s.expand ? expand(s.data) : s.data }));
  const parents = ins.kind === 'copy' && ins.parents;
  const checksumText = ins.kind === 'add' && ins.checksum !== undefined ? expand(ins.checksum) : undefined;
  const checksum = checksumText === undefined || checksumText === '' ? undefined : parseChecksum(checksumText);
  if (checksum !== undefined && (classified.length !== 1 || classified[0]?.kind !== 'url')) {
    throw buildError(BuildErrors.invalidInstruction, ['ADD --checksum needs exactly one source, an http(s) URL']);
  }
  // docker: local archives are extracted, downloaded ones are not; --unpack overrides both
  const unpack = ins.kind === 'add' ? ins.unpack : false;
  const unpackLocal = ins.kind === 'add' && unpack !== false;
  const unpackRemote = unpack === true;

  const root = await sourceRoot(ins, session, state);
  try {
    const locals: LocalItem[] = [];
    for (const source of classified) {
      if (source.kind !== 'local') continue;
      if (!parents) {
        for (const selected of await root.context.select([source.text], { excludes })) locals.push({ source: selected });
        continue;
      }
      const { pivot, pattern } = splitPivot(source.text);
      for (const selected of await root.context.select([pattern], { excludes })) {
        locals.push({ source: selected, parents: { pivot, folders: await foldersBelow(root.context, pivot, selected.root.contextPath) } });
      }
    }
    const remotes: RemoteItem[] = classified.flatMap((s) => (s.kind === 'url' ? [{ url: s.url }] : []));
    const fetchRemote = async (item: RemoteItem): Promise<Downloaded> =>
      (item.downloaded ??= await download(item.url, {
        path: join(session.workDir, `download-${session.nextId()}`),
        ...(checksum === undefined ? {} : { checksum }),
        ...(session.options.signal === undefined ? {} : { signal: session.options.signal }),
      }));
    // --normalize-permissions: modes are keyed and written canonical unless --chmod says otherwise
    const normalize = session.options.normalizePermissions === true && chmodSpec === undefined;
    const facts = await sourceFacts(
      locals.map((l) => l.source),
      async (file) => (await session.store.memo.hashFile(file, { root: session.context.root })).digest,
      { normalizePermissions: normalize },
    );
    for (const remote of remotes) {
      // with --checksum the key needs no download: a hit never fetches
      const digest = checksum?.text ?? (await fetchRemote(remote)).digest;
      facts.push({ path: remote.url, type: 'file', mode: 0o600, digest });
    }
    const canonical = {
      sources,
      destination,
      chown: chown ?? null,
      chmod: chmodText ?? null,
      excludes,
      link: ins.link,
      parents,
      inline,
      from: root.identity,
      ...(checksum === undefined ? {} : { checksum: checksum.text }),
      ...(ins.kind === 'add' && ins.unpack !== undefined ? { unpack: ins.unpack } : {}),
      ...(normalize ? { normalizePermissions: true } : {}),
    };
    const keyInput: StepKeyInput = { parent: state.key, platform: session.platformText, kind: ins.kind, instruction: canonical, env: [], sources: sourcesDigest(facts) };
    const key = stepKey(keyInput);
    const createdBy = `${keyword} ${[...sources, ...inline.map((f) => `<<${f.name}`)].join(' ')} ${destinationText} # buildkit`;
    // --link: the layer depends on the sources and the instruction only, so a
    // layer made on another parent is reused when the parent changes (BuildKit's
    // point of --link). Not with --chown by name: that reads the parent's /etc/passwd.
    const linkKey =
      ins.link && (chown === undefined || /^[0-9]+(:[0-9]+)?$/.test(chown))
        ? stepKey({ parent: LINK_PARENT, platform: session.platformText, kind: ins.kind, instruction: canonical, env: [], sources: sourcesDigest(facts) })
        : undefined;
    if (linkKey !== undefined && session.options.noCache !== true) await adoptLinkedLayer(session, linkKey, key, config, createdBy);
    const outcome = await layerStep(session, state, {
      key,
      inputs: keyInputs(keyInput),
      sources: sourceListing(facts),
      createdBy,
      config,
      produce: async () => {
        let lowerDirs: readonly string[] | undefined;
        const lowers = async () => (lowerDirs ??= await session.snapshotter.lowerDirs(state.image.layers));
        const owner = await resolveOwner(chown, lowers);
        // --link: the layer is made as if on scratch (BuildKit): nothing of the parent layers is read
        const dirs = ins.link ? [] : await lowers();
        const epoch = session.epoch ?? Math.floor(Date.now() / 1000);
        const items: CopyItem[] = [];
        for (const local of locals) {
          const archive = unpackLocal && local.source.root.type === 'file' ? await sniffArchive(local.source.root.hostPath) : undefined;
          items.push({ source: local.source, ...(local.parents === undefined ? {} : { parents: local.parents }), ...(archive === undefined ? {} : { archive }), label: local.source.root.contextPath });
        }
        for (const remote of remotes) {
          const got = await fetchRemote(remote);
          const st = await lstat(got.path);
          const entry: ContextEntry = { hostPath: got.path, contextPath: urlFileName(remote.url), type: 'file', mode: 0o600, size: st.size, mtimeMs: got.mtimeMs ?? epoch * 1000 };
          const archive = unpackRemote ? await sniffArchive(got.path) : undefined;
          items.push({ source: { root: entry, children: [] }, ...(archive === undefined ? {} : { archive }), label: remote.url });
        }
        // without --link, symlinks the image has on the way are followed inside the image root (BuildKit)
        const destination = ins.link ? canonical.destination : await resolveInImage(dirs, canonical.destination);
        // a pattern that matched several sources copies into a folder; a single match is copied as if named (docker, BuildKit)
        const wildcard = sources.some((s) => /[*?[]/.test(s)) && locals.length > 1;
        let destIsDir = parents || destination.endsWith('/') || sources.length + inline.length > 1 || wildcard;
        const destExists = destIsDir ? undefined : await lookupInLayers(dirs, destination);
        if (!destIsDir && destExists !== undefined) destIsDir = (await lstat(destExists)).isDirectory();
        const plan: CopyPlan = {
          destination,
          destIsDir,
          ...(owner === undefined ? {} : { owner }),
          ...(chmodSpec === undefined ? {} : { chmod: (mode: number, isDir: boolean) => applyChmod(chmodSpec, mode, isDir) }),
          ...(normalize ? { chmod: canonicalMode } : {}),
          epoch,
          scratch: () => join(session.workDir, `staging-${session.nextId()}`),
        };
        const upper = join(session.workDir, session.nextId());
        await mkdir(upper, { recursive: true });
        await copyIntoUpper(upper, dirs, items, plan);
        if (inline.length > 0) await writeInlineSources(upper, dirs, inline, plan);
        return upper;
      },
    });
    if (linkKey !== undefined && !outcome.cached) {
      const made = await session.store.getCacheRecord(key);
      if (made?.layer !== undefined) await session.store.putCacheRecord(linkKey, { layer: made.layer, createdBy });
    }
    return outcome;
  } finally {
    await root.release();
  }
}
