import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeCacheKey, RACY_NS, type CacheKey, type ContainerConfig, type SourceListing } from '@strata/cache';
import { applyChmod, parseChmod, type AddInstruction, type CopyInstruction } from '@strata/parser';
import { expanderFor, type BuildSession, type StageState, type StepOutcome } from '../session.js';
import {
  canonicalMode,
  fromSourcesId,
  keyInputs,
  selectionFingerprint,
  sourceFacts,
  sourceListing,
  sourcesDigest,
  stepKey,
  type SourceFact,
  type StepKeyInput,
} from '../cache-key.js';
import type { ContextEntry } from '../context/context.js';
import { buildError, BuildErrors } from '../errors.js';
import { containerConfig } from '../image/state.js';
import { resolveUser } from '../runtime/user.js';
import { lookupInLayers, readUserFiles } from '../snapshot/snapshotter.js';
import { layerStep } from './layer-step.js';
import { sniffArchive } from './archive.js';
import { hashSelected, selectionOf, selectLocals, sourceRoot, type LocalItem } from './copy-source.js';
import { resolveInImage } from './dest-path.js';
import { copyIntoUpper, resolveDestination, writeInlineSources, type CopyItem, type CopyPlan, type Owner } from './copy.js';
import { takePreviousCopy } from './incremental-copy.js';
import { GitSources } from './git-sources.js';
import { parseGitSource, redact, withAddFlags, type GitSource } from './git-url.js';
import { isHttpSource, isOtherUrl, parseChecksum, urlFileName } from './remote.js';
import { RemoteSources } from './remote-sources.js';

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
type Source =
  | { readonly kind: 'local'; readonly text: string }
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'git'; readonly git: GitSource };

function classifySources(keyword: 'COPY' | 'ADD', sources: readonly string[]): Source[] {
  return sources.map((text): Source => {
    const git = parseGitSource(text);
    if (git !== undefined) {
      if (keyword === 'COPY') throw buildError(BuildErrors.invalidInstruction, [`COPY ${text}: a source can't be a git repository for COPY (use ADD)`]);
      return { kind: 'git', git };
    }
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

/** COPY and ADD: select (context, stage, image, URL), key by content, copy into a fresh upper directory, commit. */
export async function runCopyStep(ins: CopyInstruction | AddInstruction, state: StageState, session: BuildSession): Promise<StepOutcome> {
  const expand = expanderFor(session, state);
  const config = containerConfig(state.image);
  const keyword = ins.kind === 'copy' ? 'COPY' : 'ADD';
  const sources = ins.sources.map(expand);
  const classified = classifySources(keyword, sources);
  // a URL's password (a token) is given to git or the server, never kept: not in the key, the history or a reason
  const shownSources = sources.map(redact);
  const destinationText = expand(ins.destination);
  const destination = resolveDestination(destinationText, config.WorkingDir ?? '/');
  const chown = ins.chown === undefined ? undefined : expand(ins.chown);
  const chmodText = ins.chmod === undefined ? undefined : expand(ins.chmod);
  const chmodSpec = chmodText === undefined ? undefined : parseChmod(chmodText);
  const excludes = ins.excludes.map(expand);
  const inline = ins.inlineSources.map((s) => ({ name: s.path, data: s.expand ? expand(s.data) : s.data }));
  const parents = ins.kind === 'copy' && ins.parents;
  const checksumText = ins.kind === 'add' && ins.checksum !== undefined ? expand(ins.checksum) : undefined;
  // a git source's --checksum is a commit (prefix), checked against what the ref resolves to
  const gitChecksum = classified.length === 1 && classified[0]?.kind === 'git' && checksumText !== '' ? checksumText : undefined;
  const checksum = checksumText === undefined || checksumText === '' || gitChecksum !== undefined ? undefined : parseChecksum(checksumText);
  if (checksum !== undefined && (classified.length !== 1 || classified[0]?.kind !== 'url')) {
    throw buildError(BuildErrors.invalidInstruction, ['ADD --checksum needs exactly one source, an http(s) URL or a git repository']);
  }
  // docker: local archives are extracted, downloaded ones are not; --unpack overrides both
  const unpack = ins.kind === 'add' ? ins.unpack : false;
  const unpackLocal = ins.kind === 'add' && unpack !== false;
  const unpackRemote = unpack === true;

  const root = await sourceRoot(ins, session, state);
  try {
    const localTexts = classified.flatMap((s) => (s.kind === 'local' ? [s.text] : []));
    // selected when first needed: a COPY --from whose digest is remembered neither mounts nor walks its stage on a hit
    let selecting: Promise<LocalItem[]> | undefined;
    const locals = (): Promise<LocalItem[]> => (selecting ??= root.open().then((opened) => selectLocals(opened.context, localTexts, { excludes, parents })));
    // URLs: keyed by --checksum, else by content (revalidated against the last download when the record says how)
    const fetcher = new RemoteSources(session, state, classified.flatMap((s) => (s.kind === 'url' ? [s.url] : [])), checksum);
    const remotes = fetcher.items;
    // git repositories: keyed by the commit their ref resolves to (ls-remote), checked out on a miss
    const keepGitDir = ins.kind === 'add' ? ins.keepGitDir : undefined;
    const gitFlags = { ...(gitChecksum === undefined ? {} : { checksum: gitChecksum }), ...(keepGitDir === undefined ? {} : { keepGitDir }) };
    const gits = new GitSources(session, classified.flatMap((s) => (s.kind === 'git' ? [withAddFlags(s.git, gitFlags)] : [])));
    const fetched = remotes.length + gits.items.length;
    // --normalize-permissions: modes are keyed and written canonical unless --chmod says otherwise
    const normalize = session.options.normalizePermissions === true && chmodSpec === undefined;
    let facts: SourceFact[] | undefined;
    const allFacts = async (): Promise<SourceFact[]> => {
      if (facts !== undefined) return facts;
      const selection = selectionOf(await locals());
      const opened = await root.open();
      const digests = await hashSelected(selection, (entry) => opened.hashFile(entry));
      const found = await sourceFacts(
        selection,
        async (file) => {
          const digest = digests.get(file);
          if (digest === undefined) throw new Error(`internal: ${file} was not hashed`);
          return digest;
        },
        { normalizePermissions: normalize },
      );
      for (const remote of remotes) found.push({ path: redact(remote.url), type: 'file', mode: 0o600, digest: await fetcher.digestOf(remote) });
      for (const git of gits.items) found.push(await gits.factOf(git));
      return (facts = found);
    };
    // a context selection whose stat facts are all as last time has the digest it had: no per-file lookups
    const memo = session.store.memo;
    const contextRoot = session.context.root;
    const print =
      root.identity === 'context' && fetched === 0 ? selectionFingerprint(selectionOf(await locals()), { normalizePermissions: normalize }) : undefined;
    // a stage's or image's selection: remembered by its layers' chain ID (its files) and what the step selects;
    // not read when the step's cache is off (--no-cache computes it again and rewrites it)
    const fromId =
      root.chainId === undefined || fetched > 0
        ? undefined
        : fromSourcesId(root.chainId, { sources: localTexts, excludes, parents, normalizePermissions: normalize });
    let digestOfSources =
      print !== undefined
        ? await memo.lookupSelection(contextRoot, print.fingerprint)
        : fromId !== undefined && state.cache?.disabled === undefined
          ? await session.store.records.fromSources(fromId)
          : undefined;
    if (digestOfSources === undefined) {
      // the racy rule measured from before the first read, not after the last: a file read within the
      // window of its change may change again in the same clock tick, whatever the other files took
      const readFromNs = BigInt(Date.now()) * 1_000_000n;
      digestOfSources = sourcesDigest(await allFacts());
      if (print !== undefined && readFromNs - print.newestChangeNs >= RACY_NS) await memo.recordSelection(contextRoot, print.fingerprint, digestOfSources);
      // a stage's files do not change under a chain ID: no racy window
      if (fromId !== undefined) await session.store.records.putFromSources(fromId, digestOfSources);
    }
    const canonical = {
      sources: shownSources,
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
      ...(keepGitDir === undefined ? {} : { keepGitDir }),
      ...(normalize ? { normalizePermissions: true } : {}),
    };
    const keyInput: StepKeyInput = { parent: state.key, platform: session.platformText, kind: ins.kind, instruction: canonical, env: [], sources: digestOfSources };
    const key = stepKey(keyInput);
    const createdBy = `${keyword} ${[...shownSources, ...inline.map((f) => `<<${f.name}`)].join(' ')} ${destinationText} # buildkit`;
    // --link: the layer depends on the sources and the instruction only, so a
    // layer made on another parent is reused when the parent changes (BuildKit's
    // point of --link). Not with --chown by name: that reads the parent's /etc/passwd.
    const linkKey =
      ins.link && (chown === undefined || /^[0-9]+(:[0-9]+)?$/.test(chown))
        ? stepKey({ parent: LINK_PARENT, platform: session.platformText, kind: ins.kind, instruction: canonical, env: [], sources: digestOfSources })
        : undefined;
    if (linkKey !== undefined && session.options.noCache !== true) await adoptLinkedLayer(session, linkKey, key, config, createdBy);
    // made on a miss only (a hash per entry), once: for the record and for an incremental copy
    let listing: Promise<SourceListing> | undefined;
    const listSources = (): Promise<SourceListing> => (listing ??= allFacts().then(sourceListing));
    let incremental: { changed: number } | undefined;
    // What the record keeps of the key's inputs. The source's identity (a stage's key, an image's digest) is
    // its content, which the sources digest and listing already stand for: kept as its kind only, so that a
    // stage that changed reads as "source changed: <path>" and its copy can run incrementally.
    const recordedInputs = keyInputs({ ...keyInput, instruction: { ...canonical, from: root.identity.replace(/:.*$/s, '') } });
    const outcome = await layerStep(session, state, {
      key,
      inputs: recordedInputs,
      sources: listSources,
      remote: () => fetcher.records(),
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
        const selected = await locals();
        for (const local of selected) {
          const archive = unpackLocal && local.source.root.type === 'file' ? await sniffArchive(local.source.root.hostPath) : undefined;
          items.push({ source: local.source, ...(local.parents === undefined ? {} : { parents: local.parents }), ...(archive === undefined ? {} : { archive }), label: local.source.root.contextPath });
        }
        for (const remote of remotes) {
          const got = await fetcher.fileOf(remote);
          const st = await lstat(got.path);
          const entry: ContextEntry = { hostPath: got.path, contextPath: urlFileName(remote.url), type: 'file', mode: 0o600, size: st.size, mtimeMs: got.mtimeMs ?? epoch * 1000 };
          const archive = unpackRemote ? await sniffArchive(got.path) : undefined;
          items.push({ source: { root: entry, children: [] }, ...(archive === undefined ? {} : { archive }), label: redact(remote.url) });
        }
        for (const git of gits.items) items.push(await gits.copyItemOf(git));
        // without --link, symlinks the image has on the way are followed inside the image root (BuildKit)
        const destination = ins.link ? canonical.destination : await resolveInImage(dirs, canonical.destination);
        // a pattern that matched several sources copies into a folder; a single match is copied as if named (docker, BuildKit)
        const wildcard = sources.some((s) => /[*?[]/.test(s)) && selected.length > 1;
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
        // one plain context source that only changed in some files: start from the last result
        const plain = items.length === 1 && items[0]?.archive === undefined && fetched === 0 && inline.length === 0 && !parents && !ins.link;
        const previous = plain ? await takePreviousCopy(session, state, recordedInputs, listSources) : undefined;
        if (previous !== undefined) incremental = { changed: previous.changed };
        const upper = previous?.upper ?? join(session.workDir, session.nextId());
        if (previous === undefined) await mkdir(upper, { recursive: true });
        // the index stands in for stat'ing kept files only when the snapshot was written since the last boot
        const trusted = previous?.layer?.filesAsIndexed === true ? previous.layer.index : undefined;
        const reuse = previous === undefined ? undefined : { unchanged: previous.unchanged, ...(trusted === undefined ? {} : { index: trusted }) };
        const copied = await copyIntoUpper(upper, dirs, items, reuse === undefined ? plan : { ...plan, reuse });
        if (inline.length > 0) await writeInlineSources(upper, dirs, inline, plan);
        if (gits.items.length > 0) await gits.settleFolderTimes(upper, destination);
        // what the copy wrote is what the commit finds, unless something else wrote into the folder after it
        const written = inline.length === 0 && gits.items.length === 0 && items.every((item) => item.archive === undefined) ? copied.written : undefined;
        const { kept } = copied;
        return {
          upper,
          // a plain source: the step can start from this result next time
          indexed: plain,
          ...(written === undefined ? {} : { known: (path: string) => written.get(path) }),
          ...(previous?.layer === undefined || kept === undefined
            ? {}
            : { previous: { blob: previous.layer.blob, index: previous.layer.index, kept: (path: string) => kept.has(path) } }),
        };
      },
    });
    if (linkKey !== undefined && !outcome.cached) {
      const made = await session.store.getCacheRecord(key);
      if (made?.layer !== undefined) await session.store.putCacheRecord(linkKey, { layer: made.layer, createdBy });
    }
    if (outcome.cached) await fetcher.refresh(key);
    const revalidated = fetcher.revalidations.length === 0 ? {} : { revalidated: fetcher.revalidations };
    return incremental === undefined ? { ...outcome, ...revalidated } : { ...outcome, incremental, ...revalidated };
  } finally {
    await root.release();
  }
}
