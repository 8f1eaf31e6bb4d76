import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceFact } from '../cache-key.js';
import { openContext } from '../context/context.js';
import type { BuildSession } from '../session.js';
import type { CopyItem } from './copy.js';
import { checkoutGit, gitAuth, gitFact, resolveGit, type GitAuth, type ResolvedGit } from './git-source.js';
import { redact, type GitSource } from './git-url.js';

interface ItemState {
  auth?: Promise<GitAuth>;
  resolved?: Promise<ResolvedGit>;
}

/**
 * The git sources of one ADD step: resolved once, before the key (`factOf`:
 * ls-remote only), and checked out only on a miss (`copyItemOf`), as a
 * folder source whose contents the step adds (no .dockerignore applies).
 */
export class GitSources {
  readonly #session: BuildSession;
  readonly #states = new Map<GitSource, ItemState>();
  /** The folders of each checkout copied so far (relative, parents first) and the commit time they carry. */
  readonly #folders: { readonly time: number; readonly dirs: readonly string[] }[] = [];

  constructor(
    session: BuildSession,
    readonly items: readonly GitSource[],
  ) {
    this.#session = session;
    for (const item of items) this.#states.set(item, {});
  }

  #state(item: GitSource): ItemState {
    const state = this.#states.get(item);
    if (state === undefined) throw new Error('internal: not a source of this step');
    return state;
  }

  #auth(item: GitSource): Promise<GitAuth> {
    const state = this.#state(item);
    return (state.auth ??= gitAuth(item, this.#session));
  }

  #resolved(item: GitSource): Promise<ResolvedGit> {
    const state = this.#state(item);
    return (state.resolved ??= this.#auth(item).then((auth) => resolveGit(item, auth, this.#session.options.signal)));
  }

  /** The source's part of the key: its remote and ref by name, its content by the resolved commit. */
  async factOf(item: GitSource): Promise<SourceFact> {
    return gitFact(item, await this.#resolved(item));
  }

  /** Fetches and checks out the resolved commit into the build's temp folder: the step's copy source. */
  async copyItemOf(item: GitSource): Promise<CopyItem> {
    const work = join(this.#session.workDir, `git-${this.#session.nextId()}`);
    const root = await checkoutGit(item, await this.#resolved(item), await this.#auth(item), work, this.#session.options.signal);
    const tree = await openContext(root, { ignoreFiles: false });
    const [source] = await tree.select(['.']);
    if (source === undefined) throw new Error(`internal: the checkout of ${redact(item.text)} is missing`);
    const dirs = source.children.filter((c) => c.type === 'directory').map((c) => c.contextPath);
    this.#folders.push({ time: source.root.mtimeMs / 1000, dirs });
    return { source, label: redact(item.text) };
  }

  /**
   * Gives the copied folders of each checkout (below `destination`, in the
   * upper directory) the commit time again: copying a folder's contents
   * touched it. Files and links kept theirs; the destination folder itself
   * is made as any COPY makes it.
   */
  async settleFolderTimes(upper: string, destination: string): Promise<void> {
    const base = join(upper, destination.replace(/\/+$/, '').replace(/^\/+/, ''));
    for (const { time, dirs } of this.#folders) {
      for (const rel of [...dirs].reverse()) await utimes(join(base, rel), time, time);
    }
  }
}
