import { spawn } from 'node:child_process';
import { access, lstat, mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { getAttribute } from '@napi-rs/xattr';
import { SNAPSHOT_OVERLAY_MARK, SnapshotStore, type ChainId, type Digest, type SnapshotInfo, type Store } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import type { LayerInfo } from '../image/state.js';
import { serializeLayerIndex, type LayerIndex } from '../layer/layer-index.js';
import { inUserNamespace } from '../runtime/rootless.js';


function run(cmd: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || `exit ${code}`}`))));
  });
}

/**
 * A snapshot unpacked by the store records whiteouts, opaque folders and
 * device nodes instead of creating them. To serve as an overlayfs lower
 * directory it needs them in overlayfs's own form: whiteouts as 0/0 character
 * devices, opaque folders with `trusted.overlay.opaque=y` (`user.overlay.opaque`
 * in a user namespace, where overlays are mounted with userxattr). Done once per
 * snapshot; a marker beside its `fs` folder records it.
 */
const USER_NAMESPACE = inUserNamespace();
const OVERLAY_XATTR = USER_NAMESPACE ? 'user.overlay' : 'trusted.overlay';

async function materializeForOverlay(info: SnapshotInfo): Promise<void> {
  const mark = join(info.path, '..', SNAPSHOT_OVERLAY_MARK);
  try {
    await access(mark);
    return;
  } catch {
    // not yet
  }
  try {
    for (const path of info.whiteouts) {
      await rm(join(info.path, path), { recursive: true, force: true });
      await run('mknod', ['-m', '000', join(info.path, path), 'c', '0', '0']);
    }
    for (const dir of info.opaqueDirs) {
      await mkdir(join(info.path, dir), { recursive: true });
      await run('setfattr', ['-n', `${OVERLAY_XATTR}.opaque`, '-v', 'y', join(info.path, dir)]);
    }
    for (const s of info.specials) {
      const target = join(info.path, s.path);
      // rootless: a user namespace cannot make device nodes (and nothing in it could open one);
      // the layer's blob keeps them, so images and their IDs are unchanged
      if (s.type !== 'fifo' && USER_NAMESPACE) continue;
      await rm(target, { force: true });
      const mode = (s.mode & 0o7777).toString(8);
      if (s.type === 'fifo') await run('mknod', ['-m', mode, target, 'p']);
      else await run('mknod', ['-m', mode, target, s.type === 'block-device' ? 'b' : 'c', String(s.devmajor ?? 0), String(s.devminor ?? 0)]);
    }
  } catch (error) {
    throw buildError(BuildErrors.mountFailed, ['a snapshot as an overlay layer', (error as Error).message], { cause: error });
  }
  await writeFile(mark, '');
}

/**
 * Gives RUN steps their lower directories: the store's snapshots by chain ID.
 * A layer this build produced becomes its snapshot by renaming its overlay
 * upper folder into the store (already in overlayfs form, nothing copied);
 * others are unpacked from their blobs, once. The build holds every snapshot
 * it uses until it ends.
 */
export class Snapshotter {
  readonly #store: Store;
  readonly #local = new Map<ChainId, string>();
  readonly #held = new Set<ChainId>();
  /** This build's name among the snapshots' holders: prune keeps what it holds. */
  readonly #holder: string;

  constructor(store: Store, holder: string) {
    this.#store = store;
    this.#holder = holder;
  }

  /** Drops this build's hold on every snapshot it used. */
  async releaseAll(): Promise<void> {
    for (const chainId of this.#held) await this.#store.snapshots.release(chainId, this.#holder);
    this.#held.clear();
  }

  /** Chain IDs of each prefix of `layers`. */
  static chainIds(layers: readonly LayerInfo[]): ChainId[] {
    const out: ChainId[] = [];
    let parent: ChainId | undefined;
    for (const layer of layers) {
      parent = SnapshotStore.chainId(parent, layer.diffId);
      out.push(parent);
    }
    return out;
  }

  /**
   * Makes the upper folder of the layer this build just committed (the last
   * of `layers`) the store's snapshot of its chain, for later steps and later
   * builds to stack on. When the store cannot take it, the folder still
   * serves this build's later steps.
   */
  async adopt(layers: readonly LayerInfo[], upperDir: string, facts: { entries: number; contentBytes: number; index?: LayerIndex }): Promise<void> {
    const chain = Snapshotter.chainIds(layers);
    const chainId = chain[chain.length - 1] as ChainId;
    const parent = chain[chain.length - 2];
    const layer = layers[layers.length - 1] as LayerInfo;
    let info: SnapshotInfo;
    try {
      info = await this.#store.snapshots.adopt(upperDir, {
        ...(parent === undefined ? {} : { parent }),
        diffId: layer.diffId,
        digest: layer.descriptor.digest as Digest,
        size: facts.contentBytes,
        entries: facts.entries,
        ...(facts.index === undefined ? {} : { layerIndex: serializeLayerIndex(facts.index) }),
      });
      await this.#hold(chainId);
    } catch {
      // the folder is where it was (or is gone with the snapshot that won): the next unpack finds the store's
      if (await access(upperDir).then(() => true, () => false)) this.#local.set(chainId, upperDir);
      return;
    }
    this.#local.set(chainId, info.path);
  }

  async #hold(chainId: ChainId): Promise<void> {
    if (this.#held.has(chainId)) return;
    await this.#store.snapshots.acquire(chainId, this.#holder);
    this.#held.add(chainId);
  }

  /** The overlay lower directories for an image's layers, topmost first. */
  async lowerDirs(layers: readonly LayerInfo[]): Promise<string[]> {
    const chainIds = Snapshotter.chainIds(layers);
    const dirs: string[] = [];
    let parent: ChainId | undefined;
    for (const [i, layer] of layers.entries()) {
      const chainId = chainIds[i] as ChainId;
      const local = this.#local.get(chainId);
      if (local !== undefined) {
        dirs.push(local);
      } else {
        const info = await this.#store.snapshots.unpack({
          layer: layer.descriptor,
          diffId: layer.diffId,
          ...(parent === undefined ? {} : { parent }),
        });
        await this.#hold(chainId);
        await materializeForOverlay(info);
        dirs.push(info.path);
      }
      parent = chainId;
    }
    return dirs.reverse();
  }
}

/** Linux's limit on symlinks followed while resolving one path (ELOOP beyond it). */
const MAX_LINKS = 40;

/**
 * What a lower directory deletes from the layers below it. A store snapshot
 * records its whiteouts and opaque folders in meta.json (and only turns them
 * into overlayfs's on-disk form once it has served as an overlay lower); an
 * overlay upper directory has only the on-disk form. Both are consulted, so a
 * lookup is right whichever form a directory is in.
 */
interface LayerMarks {
  readonly whiteouts: ReadonlySet<string>;
  readonly opaqueDirs: ReadonlySet<string>;
}

const NO_MARKS: LayerMarks = { whiteouts: new Set(), opaqueDirs: new Set() };

async function recordedMarks(dir: string): Promise<LayerMarks> {
  let meta: Partial<SnapshotInfo>;
  try {
    meta = JSON.parse(await readFile(join(dir, '..', 'meta.json'), 'utf8')) as Partial<SnapshotInfo>;
  } catch {
    return NO_MARKS; // not a store snapshot: an upper directory this build made
  }
  if (!Array.isArray(meta.whiteouts) || !Array.isArray(meta.opaqueDirs)) return NO_MARKS;
  return { whiteouts: new Set(meta.whiteouts), opaqueDirs: new Set(meta.opaqueDirs) };
}

async function overlayAttribute(path: string, key: string): Promise<string | undefined> {
  for (const prefix of ['trusted.overlay.', 'user.overlay.']) {
    const value = await getAttribute(path, prefix + key).catch(() => null);
    if (value !== null) return value.toString('latin1');
  }
  return undefined;
}

type Entry = { readonly kind: 'absent' } | { readonly kind: 'whiteout' } | { readonly kind: 'present'; readonly host: string; readonly stat: Stats };

/** One layer's own entry at `rel` (a path whose parents are folders in that layer). */
async function entryIn(dir: string, marks: LayerMarks, rel: string): Promise<Entry> {
  if (marks.whiteouts.has(rel)) return { kind: 'whiteout' };
  const host = join(dir, rel);
  let st: Stats;
  try {
    st = await lstat(host);
  } catch {
    return { kind: 'absent' };
  }
  if (st.isCharacterDevice() && st.rdev === 0) return { kind: 'whiteout' };
  // overlayfs's xattr form of a whiteout (an empty file marked as one)
  if (st.isFile() && st.size === 0 && (await overlayAttribute(host, 'whiteout')) !== undefined) return { kind: 'whiteout' };
  return { kind: 'present', host, stat: st };
}

async function isOpaque(dir: string, marks: LayerMarks, rel: string): Promise<boolean> {
  return marks.opaqueDirs.has(rel) || (await overlayAttribute(join(dir, rel), 'opaque')) === 'y';
}

/**
 * Looks a path up through overlay lower directories (topmost first) as the
 * merged view would show it, one component at a time as overlayfs does: the
 * topmost layer with an entry decides; a whiteout hides it and everything
 * under it; a folder merges with the folders below it down to the first layer
 * where it is opaque (`.wh..wh..opq`) or is not a folder; a symlink on the
 * way is followed inside the image (an absolute target starts at its root).
 * The last component is not followed. Returns the host path, or undefined.
 */
export async function lookupInLayers(lowerDirs: readonly string[], path: string): Promise<string | undefined> {
  const marks = new Map<string, Promise<LayerMarks>>();
  const marksOf = (dir: string): Promise<LayerMarks> => {
    let m = marks.get(dir);
    if (m === undefined) marks.set(dir, (m = recordedMarks(dir)));
    return m;
  };
  let pending = path.split('/').filter((p) => p !== '' && p !== '.');
  let links = 0;
  restart: for (;;) {
    // layers whose folder at the current prefix takes part in the merged folder
    let live: readonly string[] = lowerDirs;
    let prefix: string[] = [];
    if (pending.length === 0) return lowerDirs[0];
    for (const [i, part] of pending.entries()) {
      if (part === '..') {
        // lexical inside the image root; the layers must be re-merged from the top
        pending = [...prefix.slice(0, -1), ...pending.slice(i + 1)];
        continue restart;
      }
      const rel = [...prefix, part].join('/');
      const last = i === pending.length - 1;
      const next: string[] = [];
      let top: Extract<Entry, { kind: 'present' }> | undefined;
      for (const dir of live) {
        const m = await marksOf(dir);
        const entry = await entryIn(dir, m, rel);
        if (entry.kind === 'absent') continue;
        if (entry.kind === 'whiteout') break;
        top ??= entry;
        // a non-folder hides whatever the layers below have at this path
        if (!entry.stat.isDirectory()) break;
        next.push(dir);
        if (await isOpaque(dir, m, rel)) break;
      }
      if (top === undefined) return undefined;
      if (last) return top.host;
      if (top.stat.isSymbolicLink()) {
        links += 1;
        if (links > MAX_LINKS) return undefined;
        const target = await readlink(top.host);
        const base = target.startsWith('/') ? [] : prefix;
        pending = [...base, ...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending.slice(i + 1)];
        continue restart;
      }
      if (!top.stat.isDirectory()) return undefined;
      live = next;
      prefix = [...prefix, part];
    }
    return undefined;
  }
}

/** The image's /etc/passwd and /etc/group as the merged view shows them ('' when absent), for USER and --chown. */
export async function readUserFiles(lowerDirs: readonly string[]): Promise<{ passwd: string; group: string }> {
  const read = async (path: string): Promise<string> => {
    const host = await lookupInLayers(lowerDirs, path);
    return host === undefined ? '' : readFile(host, 'utf8').catch(() => '');
  };
  return { passwd: await read('/etc/passwd'), group: await read('/etc/group') };
}
