import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChainId, Digest } from './digest.js';
import { cacheError, CacheErrors, errnoCode } from './errors.js';
import { isIdentityAlive, processIdentity, removeTree, writeFileAtomic } from './fs-util.js';
import { withLock } from './lock.js';
import type { ContainerConfig, Descriptor } from './oci.js';

/** Where a container is in its life: made, its process running, or its process gone. */
export type ContainerStatus = 'created' | 'running' | 'exited';

/** What a container runs: resolved once at `run`, reused by every `start`. */
export interface ContainerProcess {
  readonly args: readonly string[];
  /** `NAME=value`, the image's ENV with the run's `-e` applied. */
  readonly env: readonly string[];
  readonly cwd: string;
  /** The USER value (`name`, `uid[:gid]`); resolved against the container's own /etc/passwd at each start. */
  readonly user: string;
  readonly tty: boolean;
  readonly interactive: boolean;
}

export interface ContainerVolume {
  readonly source: string;
  readonly target: string;
  readonly readonly: boolean;
}

/**
 * One container: the image it was made from (by manifest digest, so the
 * image stays usable when its tag moves or goes), the process it runs, and
 * its state. Its writable layer is the folder beside the record.
 */
export interface ContainerRecord {
  readonly version: 1;
  /** 64 hex digits; ps shows the first 12. */
  readonly id: string;
  readonly name: string;
  /** What the user named the image (`busybox`, an ID): the IMAGE column of ps. */
  readonly imageName: string;
  /** The image manifest (one platform): a root of the store's garbage collection. */
  readonly manifest: Descriptor;
  /** The image ID (config digest). */
  readonly imageId: Digest;
  /** Chain IDs of the image's layers, bottom first: the snapshots the container stacks on. */
  readonly chainIds: readonly ChainId[];
  /** The container's config as `commit` records it (the image's, with the run's command, env, workdir, user). */
  readonly config: ContainerConfig;
  readonly process: ContainerProcess;
  readonly network: 'default' | 'host' | 'none';
  readonly volumes: readonly ContainerVolume[];
  /** Remove the container when its process exits (`--rm`). */
  readonly autoRemove: boolean;
  readonly created: string;
  readonly status: ContainerStatus;
  /** The strata process driving it while it runs (`<pid>.<start time>`). */
  readonly owner?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly exitCode?: number;
}

export type NewContainer = Omit<ContainerRecord, 'version' | 'id' | 'name' | 'created' | 'status'> & { readonly name?: string };

const ID_RE = /^[0-9a-f]{64}$/;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const ADJECTIVES = [
  'amber', 'brave', 'calm', 'deft', 'eager', 'fond', 'gentle', 'hardy', 'keen', 'lucid', 'merry', 'nimble',
  'plucky', 'quiet', 'rapid', 'steady', 'tidy', 'upbeat', 'vivid', 'witty', 'young', 'zesty',
];
const NOUNS = [
  'otter', 'falcon', 'heron', 'lynx', 'marten', 'newt', 'osprey', 'puffin', 'quokka', 'raven', 'stoat',
  'tern', 'vole', 'wren', 'yak', 'badger', 'condor', 'dingo', 'egret', 'gecko', 'ibis', 'kestrel',
];

function randomName(): string {
  const [a, b] = randomBytes(2);
  return `${ADJECTIVES[(a ?? 0) % ADJECTIVES.length]}_${NOUNS[(b ?? 0) % NOUNS.length]}`;
}

/**
 * The store's containers: `containers-v1/<id>.json` (the record) and
 * `containers-v1/<id>/` (its writable layer and runtime files). Records are
 * written atomically; creation runs under a lock so that names stay unique.
 */
export class ContainerStore {
  readonly #dir: string;
  readonly #tmp: string;
  readonly #lock: string;

  constructor(dir: string, tmp: string, locks: string) {
    this.#dir = dir;
    this.#tmp = tmp;
    this.#lock = join(locks, 'containers.lock');
  }

  /** The folder that holds a container's writable layer (upper, work, merged) and runtime files. */
  path(id: string): string {
    return join(this.#dir, id);
  }

  /** Records a new container (status `created`); a name already in use is CACHE_CONTAINER_CONFLICT. */
  async create(input: NewContainer): Promise<ContainerRecord> {
    if (input.name !== undefined && !NAME_RE.test(input.name)) {
      throw cacheError(CacheErrors.invalidArgument, [`invalid container name '${input.name}': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`]);
    }
    await mkdir(this.#dir, { recursive: true });
    // writable layers hold any image's setuid files and device nodes: root only, as snapshots-v1
    if (process.getuid?.() === 0) await chmod(this.#dir, 0o700);
    return withLock(this.#lock, this.#tmp, async () => {
      const existing = await this.list();
      const taken = new Set(existing.map((c) => c.name));
      if (input.name !== undefined && taken.has(input.name)) {
        const other = existing.find((c) => c.name === input.name);
        throw cacheError(CacheErrors.containerConflict, [input.name, other?.id.slice(0, 12) ?? '?']);
      }
      let name = input.name;
      for (let i = 0; name === undefined; i += 1) {
        const candidate = i < 20 ? randomName() : `${randomName()}_${i}`;
        if (!taken.has(candidate)) name = candidate;
      }
      const record: ContainerRecord = {
        ...input,
        version: 1,
        id: randomBytes(32).toString('hex'),
        name,
        created: new Date().toISOString(),
        status: 'created',
      };
      await mkdir(this.path(record.id), { recursive: true });
      await this.#write(record);
      return record;
    });
  }

  async #write(record: ContainerRecord): Promise<void> {
    await writeFileAtomic(this.#tmp, join(this.#dir, `${record.id}.json`), `${JSON.stringify(record, null, 2)}\n`);
  }

  /**
   * Records that a container's process ended (exit code undefined: it never
   * started). Returns undefined when the container was removed meanwhile.
   */
  async finish(id: string, exitCode: number | undefined): Promise<ContainerRecord | undefined> {
    return withLock(this.#lock, this.#tmp, async () => {
      const current = await this.get(id);
      if (current === undefined) return undefined;
      const { owner: _owner, exitCode: _exit, ...rest } = current;
      const next: ContainerRecord = {
        ...rest,
        status: 'exited',
        finishedAt: new Date().toISOString(),
        ...(exitCode === undefined ? {} : { exitCode }),
      };
      await this.#write(next);
      return next;
    });
  }

  /**
   * Marks a container running, owned by this process, unless another live
   * process runs it already: then returns undefined. Check and write happen
   * under the containers lock, so two `start`s of one container cannot both win.
   */
  async claim(id: string): Promise<ContainerRecord | undefined> {
    return withLock(this.#lock, this.#tmp, async () => {
      const current = await this.get(id);
      if (current === undefined) throw cacheError(CacheErrors.containerNotFound, [id]);
      if (current.status === 'running') return undefined;
      const { exitCode: _exit, finishedAt: _finished, ...rest } = current;
      const next: ContainerRecord = { ...rest, status: 'running', owner: processIdentity(), startedAt: new Date().toISOString() };
      await this.#write(next);
      return next;
    });
  }

  /**
   * A record by full ID. A container recorded as running whose owning
   * process is gone (killed) reads as exited, with no exit code.
   */
  async get(id: string): Promise<ContainerRecord | undefined> {
    if (!ID_RE.test(id)) return undefined;
    let text: string;
    try {
      text = await readFile(join(this.#dir, `${id}.json`), 'utf8');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    let record: ContainerRecord;
    try {
      record = JSON.parse(text) as ContainerRecord;
    } catch (error) {
      throw cacheError(CacheErrors.corruptRecord, [join(this.#dir, `${id}.json`), 'not JSON'], { cause: error });
    }
    if (record.status === 'running' && (record.owner === undefined || !isIdentityAlive(record.owner))) {
      const { owner: _owner, ...rest } = record;
      return { ...rest, status: 'exited' };
    }
    return record;
  }

  /** Every container, newest first (as docker ps lists them). Damaged records are skipped. */
  async list(): Promise<ContainerRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return [];
      throw error;
    }
    const out: ContainerRecord[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      try {
        const record = await this.get(name.slice(0, -'.json'.length));
        if (record !== undefined) out.push(record);
      } catch {
        // a damaged record is not a container
      }
    }
    return out.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  /**
   * Finds a container by name, full ID or unique ID prefix (as docker does).
   * Unknown: CACHE_CONTAINER_NOT_FOUND; a prefix of several: CACHE_CONTAINER_AMBIGUOUS.
   */
  async find(word: string): Promise<ContainerRecord> {
    const all = await this.list();
    const exact = all.find((c) => c.id === word || c.name === word);
    if (exact !== undefined) return exact;
    const matches = /^[0-9a-f]+$/.test(word) ? all.filter((c) => c.id.startsWith(word)) : [];
    if (matches.length === 1) return matches[0] as ContainerRecord;
    if (matches.length > 1) throw cacheError(CacheErrors.containerAmbiguous, [word, matches.length]);
    throw cacheError(CacheErrors.containerNotFound, [word]);
  }

  /** Removes the record, then the container's folder (its writable layer). The caller unmounts first. */
  async remove(id: string): Promise<boolean> {
    if (!ID_RE.test(id)) return false;
    let had = true;
    try {
      await unlink(join(this.#dir, `${id}.json`));
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
      had = false;
    }
    const removed = await removeTree(this.path(id), this.#tmp);
    return had || removed;
  }
}
