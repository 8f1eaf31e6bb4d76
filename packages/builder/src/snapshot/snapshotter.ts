import { spawn } from 'node:child_process';
import { access, lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SnapshotStore, type ChainId, type SnapshotInfo, type Store } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import type { LayerInfo } from '../image/state.js';

const OVERLAY_MARK = 'overlay-v1';

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
 * devices, opaque folders with `trusted.overlay.opaque=y`. Done once per
 * snapshot; a marker beside its `fs` folder records it.
 */
async function materializeForOverlay(info: SnapshotInfo): Promise<void> {
  const mark = join(info.path, '..', OVERLAY_MARK);
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
      await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(info.path, dir)]);
    }
    for (const s of info.specials) {
      const target = join(info.path, s.path);
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
 * Gives RUN steps their lower directories. Layers this build produced are used
 * straight from their overlay upper directories (already in overlayfs form);
 * others are unpacked into the store's snapshots by chain ID, once.
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

  /** Records the upper directory of a layer this build made, for later steps to stack on. */
  adopt(chainId: ChainId, upperDir: string): void {
    this.#local.set(chainId, upperDir);
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
        if (!this.#held.has(chainId)) {
          await this.#store.snapshots.acquire(chainId, this.#holder);
          this.#held.add(chainId);
        }
        await materializeForOverlay(info);
        dirs.push(info.path);
      }
      parent = chainId;
    }
    return dirs.reverse();
  }
}

/**
 * Looks a path up through overlay lower directories (topmost first) as the
 * merged view would show it: the first layer that has it wins; a whiteout
 * (0/0 character device) hides it. Returns the host path, or undefined.
 */
export async function lookupInLayers(lowerDirs: readonly string[], path: string): Promise<string | undefined> {
  const rel = path.replace(/^\/+/, '');
  for (const dir of lowerDirs) {
    const candidate = join(dir, rel);
    try {
      const st = await lstat(candidate);
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      return candidate;
    } catch {
      // not in this layer
    }
  }
  return undefined;
}

/** The image's /etc/passwd and /etc/group as the merged view shows them ('' when absent), for USER and --chown. */
export async function readUserFiles(lowerDirs: readonly string[]): Promise<{ passwd: string; group: string }> {
  const read = async (path: string): Promise<string> => {
    const host = await lookupInLayers(lowerDirs, path);
    return host === undefined ? '' : readFile(host, 'utf8').catch(() => '');
  };
  return { passwd: await read('/etc/passwd'), group: await read('/etc/group') };
}
