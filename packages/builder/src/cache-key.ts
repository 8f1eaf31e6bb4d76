import { createHash } from 'node:crypto';
import { makeCacheKey, type CacheKey, type KeyInputs, type SourceListing } from '@strata/cache';
import type { ContextEntry, SelectedSource } from './context/context.js';

/**
 * Cache keys of build steps. A key is the sha256 of a canonical JSON array
 * that starts with a versioned tag; changing what goes into a key means a new
 * tag (`strata.step.v2`), never a silent reinterpretation of old records.
 *
 * What goes in: the parent step's key, the platform the step runs on (the
 * stage's: `FROM --platform=$BUILDPLATFORM` gives every target of a
 * multi-platform build the same keys, so they share that stage), the step's kind
 * and canonical expanded instruction, the environment it runs with (ENV and
 * the build args in scope, which is how a changed build arg reaches exactly the
 * steps that can see it), and for COPY/ADD the content digest of the selected
 * sources. Never mtimes, atimes, ctimes or inode numbers.
 */
export const STEP_KEY_TAG = 'strata.step.v1';
export const BASE_KEY_TAG = 'strata.base.v1';
export const SOURCES_TAG = 'strata.sources.v1';

export interface StepKeyInput {
  readonly parent: CacheKey;
  /** The platform of the step's stage (`os/arch[/variant]`), not necessarily the build's target. */
  readonly platform: string;
  readonly kind: string;
  /** The instruction after expansion, in a canonical form (JSON of its typed fields). */
  readonly instruction: unknown;
  /** `KEY=value` in the order the step sees them. */
  readonly env: readonly string[];
  /** Digest of the sources for COPY/ADD, or of the source stage's result. */
  readonly sources?: string;
}

/** The key of a step, derived from its parent's. */
export function stepKey(input: StepKeyInput): CacheKey {
  const material = JSON.stringify([STEP_KEY_TAG, input.parent, input.platform, input.kind, input.instruction, input.env, input.sources ?? null]);
  return makeCacheKey(material);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * What a key is made of, as digests, for the step's cache record: a later
 * miss at the same step compares its own inputs with these to say what
 * changed. Values of variables are hashed, never stored.
 */
export function keyInputs(input: StepKeyInput): KeyInputs {
  const env: Record<string, string> = {};
  for (const entry of input.env) {
    const eq = entry.indexOf('=');
    const name = eq === -1 ? entry : entry.slice(0, eq);
    env[name] = sha256(eq === -1 ? '' : entry.slice(eq + 1)).slice(0, 16);
  }
  return {
    parent: input.parent,
    instruction: sha256(JSON.stringify([STEP_KEY_TAG, input.platform, input.kind, input.instruction])),
    env,
    ...(input.sources === undefined ? {} : { sources: input.sources }),
  };
}

/** A COPY/ADD selection as path -> digest of its fact, for naming the file that changed. */
export function sourceListing(facts: readonly SourceFact[]): SourceListing {
  const listing: Record<string, string> = {};
  for (const f of facts) listing[f.path] = sha256(JSON.stringify([f.type, f.mode, f.digest ?? null, f.linkTarget ?? null])).slice(0, 16);
  return listing;
}

/** The key of a stage's base: an image (by manifest digest) or scratch. */
export function baseKey(base: { manifestDigest?: string; platform: string }): CacheKey {
  return makeCacheKey(JSON.stringify([BASE_KEY_TAG, base.manifestDigest ?? 'scratch', base.platform]));
}

/** How a COPY/ADD sees one file: everything that can change the layer, nothing that cannot. */
export interface SourceFact {
  readonly path: string;
  readonly type: ContextEntry['type'];
  readonly mode: number;
  /** sha256 of the bytes, for files. */
  readonly digest?: string;
  readonly linkTarget?: string;
}

/** The digest of a COPY/ADD source selection (paths relative to each source root). */
export function sourcesDigest(facts: readonly SourceFact[]): string {
  const hash = createHash('sha256');
  hash.update(`${SOURCES_TAG}\n`);
  for (const f of facts) hash.update(`${JSON.stringify([f.path, f.type, f.mode, f.digest ?? null, f.linkTarget ?? null])}\n`);
  return `sha256:${hash.digest('hex')}`;
}

export const SELECTION_TAG = 'strata.selection.v2';

/** A selection's stat fingerprint, and the newest change among its files (a selection changed in the last instant is not remembered). */
export interface SelectionFingerprint {
  readonly fingerprint: string;
  /** The newest mtime or ctime of its files: a backdated mtime (`tar x`, `cp -p`, `touch -d`) leaves ctime at the change. */
  readonly newestChangeNs: bigint;
}

/**
 * A fingerprint of everything `sourceFacts` reads from a context selection,
 * with stat facts standing in for file contents (as the content memo does):
 * equal fingerprints mean equal `sourcesDigest`. Undefined when a file has
 * no facts from the walk (a symlink given as a source, followed).
 */
export function selectionFingerprint(selection: readonly SelectedSource[], options: { normalizePermissions?: boolean } = {}): SelectionFingerprint | undefined {
  // the names as one string and the files' stat facts as one array of 64-bit numbers, each hashed once:
  // thousands of small update() calls, or of bigint-to-text conversions, cost more than the hashing (v1 was text)
  // the digest it stands for is a SOURCES_TAG digest: a new way of computing that one is a new fingerprint too
  const lines: string[] = [SELECTION_TAG, SOURCES_TAG, options.normalizePermissions === true ? 'normalize' : 'as-is'];
  const count = selection.reduce((n, s) => n + 1 + s.children.length, 0);
  // per entry: its line's length (names and link targets may hold newlines: the lengths keep entries apart), then
  // size, mtime, ctime, inode, device (zeros for what is no file: its type is in its line)
  const facts = new BigUint64Array(count * 6);
  let at = 0;
  let newestChangeNs = 0n;
  for (const s of selection) {
    for (const e of [s.root, ...s.children]) {
      const line = `${e.hostPath}\0${e.contextPath}\0${e.type}\0${e.mode}\0${e.linkTarget ?? ''}`;
      lines.push(line);
      facts[at] = BigInt(line.length);
      if (e.type === 'file') {
        const f = e.facts;
        if (f === undefined) return undefined;
        if (f.mtimeNs > newestChangeNs) newestChangeNs = f.mtimeNs;
        if (f.ctimeNs > newestChangeNs) newestChangeNs = f.ctimeNs;
        // times before 1970 are negative: as 64-bit two's complement, still one number each
        facts[at + 1] = BigInt.asUintN(64, f.size);
        facts[at + 2] = BigInt.asUintN(64, f.mtimeNs);
        facts[at + 3] = BigInt.asUintN(64, f.ctimeNs);
        facts[at + 4] = BigInt.asUintN(64, f.ino);
        facts[at + 5] = BigInt.asUintN(64, f.dev);
      }
      at += 6;
    }
  }
  const hash = createHash('sha256').update(lines.join('\n')).update(new Uint8Array(facts.buffer));
  return { fingerprint: hash.digest('hex'), newestChangeNs };
}

export const FROM_SOURCES_TAG = 'strata.from-sources.v1';

/** What a COPY --from selects from a root filesystem, besides the root. */
export interface FromSelection {
  /** The source patterns, expanded, as the step gives them. */
  readonly sources: readonly string[];
  readonly excludes: readonly string[];
  readonly parents: boolean;
  readonly normalizePermissions: boolean;
}

/**
 * Names a COPY --from selection for the store's remembered sources digests
 * (`records.fromSources`): the root's layers as a chain ID (its files: equal
 * chain IDs are equal trees, whatever stage key or image name led to them)
 * and everything `selectLocals` and `sourceFacts` take from the step. Equal
 * names mean equal `sourcesDigest`, so the digest remembered for one is the
 * digest a cold computation gives. A new way of selecting or of computing the
 * sources digest (SOURCES_TAG) is a new name.
 */
export function fromSourcesId(chainId: string, selection: FromSelection): string {
  return JSON.stringify([FROM_SOURCES_TAG, SOURCES_TAG, chainId, selection.sources, selection.excludes, selection.parents, selection.normalizePermissions]);
}

/**
 * docker's canonical permissions (`--normalize-permissions`): folders 0755,
 * files 0755 when any execute bit is set, else 0644. Laptops with umask 002
 * and CI runners with 022 then key, and write, the same layer.
 */
export function canonicalMode(mode: number, isDir: boolean): number {
  if (isDir) return 0o755;
  return (mode & 0o111) !== 0 ? 0o755 : 0o644;
}

/** Lists a selection as (path, type, mode, digest, link) facts, hashing files through `hashFile`. */
export async function sourceFacts(
  selection: readonly SelectedSource[],
  hashFile: (hostPath: string) => Promise<string>,
  options: { normalizePermissions?: boolean } = {},
): Promise<SourceFact[]> {
  const facts: SourceFact[] = [];
  const fact = async (e: ContextEntry, path: string): Promise<SourceFact> => ({
    path,
    type: e.type,
    mode: options.normalizePermissions === true ? canonicalMode(e.mode, e.type === 'directory') : e.mode,
    ...(e.type === 'file' ? { digest: await hashFile(e.hostPath) } : {}),
    ...(e.linkTarget === undefined ? {} : { linkTarget: e.linkTarget }),
  });
  for (const s of selection) {
    facts.push(await fact(s.root, s.root.contextPath));
    for (const c of s.children) facts.push(await fact(c, c.contextPath));
  }
  return facts;
}
