import { lstat, mkdir, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { chainIdOf, forEachLimit, hashFileContent, type ChainId } from '@strata/cache';
import type { AddInstruction, CopyInstruction } from '@strata/parser';
import { expanderFor, type BuildSession, type StageState } from '../session.js';
import { openContext, type BuildContext, type ContextEntry, type SelectedSource } from '../context/context.js';
import { buildError, BuildErrors } from '../errors.js';
import { resolveBaseImage } from '../image/resolve-base.js';
import type { ImageState } from '../image/state.js';
import { findStage } from '../plan/plan.js';
import type { FoundContext } from '../context/named-contexts.js';
import { baseImage } from './from-step.js';
import { mountRoot } from './mount-source.js';
import { namedImage } from './named-base.js';

/**
 * Where COPY reads from: the build context, or a stage's / image's root
 * filesystem, mounted read-only only when it is first read (a step whose key
 * needs no file of it, COPY --from with a remembered sources digest that hits
 * the cache, mounts nothing).
 */
export interface SourceRoot {
  /** The source stage's or image's identity, for the cache key (`context` for the build context). */
  readonly identity: string;
  /**
   * A stage's or image's layers as one chain ID: what its files are (the
   * store's snapshots are named by it), for the remembered COPY --from
   * sources digests. Undefined for the build context and a root with no layer.
   */
  readonly chainId?: ChainId;
  /** The root to select from and hash in: mounted at the first call, once. */
  open(): Promise<OpenRoot>;
  /** Unmounts what `open` mounted, if anything. */
  release(): Promise<void>;
}

/** A source root ready to be read. */
export interface OpenRoot {
  readonly context: BuildContext;
  /** The sha256 of a selected file, for the cache key. */
  hashFile(entry: ContextEntry): Promise<string>;
}

/** Files hashed at once: each hash waits on a few reads, so keeping several in flight hides their latency. */
const HASH_CONCURRENCY = 8;

/**
 * The digests of every selected file, by host path, several at a time (a
 * sequential loop pays one thread-pool round trip after another, which on a
 * loaded machine is most of a big COPY's time).
 */
export async function hashSelected(selection: readonly SelectedSource[], hashFile: (entry: ContextEntry) => Promise<string>): Promise<Map<string, string>> {
  const files = selection.flatMap((s) => [s.root, ...s.children]).filter((e) => e.type === 'file');
  const digests = new Map<string, string>();
  await forEachLimit(files, HASH_CONCURRENCY, async (entry) => void digests.set(entry.hostPath, await hashFile(entry)));
  return digests;
}

/** The root a COPY/ADD reads from: the context, or the `--from` stage or image (resolved now, mounted on first `open`). */
export async function sourceRoot(ins: CopyInstruction | AddInstruction, session: BuildSession, state: StageState): Promise<SourceRoot> {
  const from = ins.kind === 'copy' && ins.from !== undefined ? expanderFor(session, state)(ins.from) : undefined;
  if (from === undefined) {
    // the build context: the memo makes a rebuild read no file whose facts did not change
    const hashFile = async (entry: ContextEntry) => (await session.store.memo.hashFile(entry.hostPath, { root: session.context.root, facts: entry.facts })).digest;
    const opened: OpenRoot = { context: session.context, hashFile };
    return { identity: 'context', open: async () => opened, release: async () => undefined };
  }
  // a named context first (--build-context), as BuildKit: a folder is read in place, an image mounted
  const found = session.named?.find(from, session.platformText);
  if (found !== undefined && (found.context.type === 'local' || found.context.type === 'url')) return namedFolderRoot(found, session);
  let image: ImageState;
  let identity: string;
  const stage = found === undefined ? findStage(session.stages, from, session.stages.length) : undefined;
  if (found !== undefined) {
    const named = await namedImage(found, session, baseImage);
    image = named.image;
    identity = named.identity;
  } else if (stage !== undefined) {
    const result = session.results.get(stage.index);
    if (result === undefined) throw buildError(BuildErrors.invalidInstruction, [`COPY --from=${from}: stage ${from} was not built before this step`]);
    image = result.state.image;
    identity = `stage:${result.state.key}`;
  } else {
    const base = await resolveBaseImage(session.store, from, session.platform);
    image = base.image;
    identity = `image:${base.manifestDigest}`;
  }
  let mounted: Promise<{ opened: OpenRoot; release: () => Promise<void> }> | undefined;
  const open = async (): Promise<OpenRoot> => (await (mounted ??= mountSourceRoot(image, session))).opened;
  const release = async (): Promise<void> => {
    if (mounted === undefined) return;
    // a mount that failed has nothing to release
    const done = await mounted.catch(() => undefined);
    await done?.release();
  };
  if (image.layers.length === 0) return { identity, open, release };
  return { identity, chainId: chainIdOf(image.layers.map((l) => l.diffId)), open, release };
}

/**
 * A named context's folder, read in place as the build context is (its own
 * .dockerignore; files hashed through the memo, so an unchanged folder reads
 * no file again). Keyed by what is selected from it, as a context COPY.
 */
function namedFolderRoot(found: FoundContext, session: BuildSession): SourceRoot {
  let opening: Promise<OpenRoot> | undefined;
  const open = (): Promise<OpenRoot> =>
    (opening ??= (async () => {
      const context = await openContext(await (session.named as NonNullable<BuildSession['named']>).localDir(found, session.options.signal));
      const hashFile = async (entry: ContextEntry) => (await session.store.memo.hashFile(entry.hostPath, { root: context.root, facts: entry.facts })).digest;
      return { context, hashFile };
    })());
  return { identity: 'named-folder', open, release: async () => undefined };
}

/** A stage's or image's root, mounted read-only for this step (an empty folder for no layer). */
async function mountSourceRoot(image: ImageState, session: BuildSession): Promise<{ opened: OpenRoot; release: () => Promise<void> }> {
  // a stage's files sit under a mount made for this step only: a memo entry for their path would never be read again
  const hashFile = (entry: ContextEntry) => hashFileContent(entry.hostPath, BigInt(entry.size));
  const dir = join(session.workDir, session.nextId());
  if (image.layers.length === 0) {
    const empty = join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    return { opened: { context: await openContext(empty, { ignoreFiles: false }), hashFile }, release: () => rm(dir, { recursive: true, force: true }) };
  }
  const root = await mountRoot(image, session, dir, { readOnly: true });
  try {
    return { opened: { context: await openContext(root.path, { ignoreFiles: false }), hashFile }, release: () => root.release() };
  } catch (error) {
    await root.release();
    throw error;
  }
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

/** A local source as selected, with the folders --parents keeps above it. */
export interface LocalItem {
  readonly source: SelectedSource;
  readonly parents?: { pivot: string; folders: ContextEntry[] };
}

/** Selects the local sources (paths or patterns) of a COPY/ADD from its root. */
export async function selectLocals(context: BuildContext, sources: readonly string[], options: { excludes: readonly string[]; parents: boolean }): Promise<LocalItem[]> {
  const locals: LocalItem[] = [];
  for (const text of sources) {
    if (!options.parents) {
      for (const selected of await context.select([text], { excludes: options.excludes })) locals.push({ source: selected });
      continue;
    }
    const { pivot, pattern } = splitPivot(text);
    for (const selected of await context.select([pattern], { excludes: options.excludes })) {
      locals.push({ source: selected, parents: { pivot, folders: await foldersBelow(context, pivot, selected.root.contextPath) } });
    }
  }
  return locals;
}

/** What the sources digest is made of: --parents' folders (keyed as sources: their modes are written) and each source. */
export function selectionOf(locals: readonly LocalItem[]): SelectedSource[] {
  return locals.flatMap((l): SelectedSource[] => [...(l.parents?.folders ?? []).map((folder) => ({ root: folder, children: [] })), l.source]);
}
