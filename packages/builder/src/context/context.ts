import dockerignore from '@balena/dockerignore';
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { lstat, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { factsOf, type FileFacts } from '@strata/cache';
import type { DockerignoreMatcher } from '@strata/parser';
import { basename, join, posix, relative, resolve, sep } from 'node:path';
import { buildError, BuildErrors } from '../errors.js';

/** One entry selected from the build context. */
export interface ContextEntry {
  /** Absolute path on the host. */
  readonly hostPath: string;
  /** Path relative to the context root, `/`-separated. */
  readonly contextPath: string;
  readonly type: 'file' | 'directory' | 'symlink';
  readonly mode: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly linkTarget?: string;
  /** For a file: the facts the content memo is keyed on, from the same lstat (so a memo hit costs no second stat). */
  readonly facts?: FileFacts;
  /** For a file: its number of names (hard links) when the context was walked. */
  readonly links?: number;
}

/** A source of COPY/ADD as selected: a file or folder (whose contents are copied) and what lies under it. */
export interface SelectedSource {
  readonly root: ContextEntry;
  /** For a folder, every entry under it (not the folder itself), parents before children. */
  readonly children: readonly ContextEntry[];
}

export interface BuildContext {
  readonly root: string;
  /** True when `path` (relative, `/`-separated) is excluded by .dockerignore. */
  isIgnored(path: string): boolean;
  /** Selects COPY/ADD sources (paths or patterns relative to the context root). */
  select(sources: readonly string[], options?: { excludes?: readonly string[] }): Promise<SelectedSource[]>;
}

// The package is CommonJS with a `default` property pointing at itself; through
// NodeNext's interop the callable is reached as `.default` (at run time too).
const ignore = dockerignore.default;
type Matcher = ReturnType<typeof ignore>;

/** Linux's limit on symlinks followed while resolving one path. */
const MAX_LINKS = 40;

function hasMagic(p: string): boolean {
  return /[*?[\]]/.test(p);
}

function toPosix(p: string): string {
  return sep === '/' ? p : p.split(sep).join('/');
}

async function readIgnoreFile(root: string, dockerfile: string | undefined): Promise<string[]> {
  const candidates = dockerfile === undefined ? [] : [`${dockerfile}.dockerignore`];
  candidates.push(join(root, '.dockerignore'));
  for (const file of candidates) {
    try {
      const text = await readFile(file, 'utf8');
      return text
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'));
    } catch {
      // next candidate
    }
  }
  return [];
}

/**
 * A context's .dockerignore (`<Dockerfile>.dockerignore` first, then the
 * root's) as the lint checks take it (@strata/parser's CopyIgnoredFile):
 * its patterns and docker's matching of a path or its parent folders.
 */
export async function readDockerignore(contextDir: string, dockerfile?: string): Promise<DockerignoreMatcher> {
  const patterns = await readIgnoreFile(resolve(contextDir), dockerfile);
  const matcher = ignore().add(patterns);
  return { patterns, matches: (path) => matcher.ignores(path) };
}

/**
 * The entry for a path, from one synchronous lstat: a context walk makes
 * thousands of these, and a thread-pool round trip each costs several times
 * the call itself (most of a no-op rebuild's walk).
 */
function entryOf(root: string, hostPath: string, contextPath = toPosix(relative(root, hostPath))): ContextEntry {
  const st = lstatSync(hostPath, { bigint: true });
  const mode = Number(st.mode) & 0o7777;
  const mtimeMs = Number(st.mtimeNs / 1000n) / 1000;
  if (st.isSymbolicLink()) {
    return { hostPath, contextPath, type: 'symlink', mode, size: 0, mtimeMs, linkTarget: readlinkSync(hostPath) };
  }
  if (st.isDirectory()) return { hostPath, contextPath, type: 'directory', mode, size: 0, mtimeMs };
  if (st.isFile()) return { hostPath, contextPath, type: 'file', mode, size: Number(st.size), mtimeMs, facts: factsOf(st), links: Number(st.nlink) };
  throw buildError(BuildErrors.contextPath, [contextPath, 'is not a regular file, folder or symbolic link']);
}

/**
 * Opens a build context folder with docker's .dockerignore semantics
 * (`<Dockerfile>.dockerignore` beside the Dockerfile first, then
 * `.dockerignore` at the root). Nothing outside the root is ever read: a
 * source that climbs out, or a symbolic link given as a source that points
 * out, is BUILD_CONTEXT_PATH.
 */
export async function openContext(rootDir: string, options: { dockerfile?: string; ignoreFiles?: boolean } = {}): Promise<BuildContext> {
  const root = await realpath(resolve(rootDir));
  const patterns = options.ignoreFiles === false ? [] : await readIgnoreFile(root, options.dockerfile);
  const matcher = ignore().add(patterns);
  const hasExceptions = patterns.some((p) => p.startsWith('!'));
  // no patterns: nothing is ignored, and a walk need not ask the matcher 2000 times
  const isIgnored = patterns.length === 0 ? () => false : (path: string): boolean => path !== '' && path !== '.' && matcher.ignores(path);

  /**
   * --exclude patterns match a path relative to the context root or, below a
   * folder source, relative to that folder (BuildKit matches them against the
   * copied tree: `COPY --exclude=storage/views app/ /app/`).
   */
  const excluded = (excludes: Matcher, path: string, base: string): boolean =>
    excludes.ignores(path) || (base !== '' && path.startsWith(`${base}/`) && excludes.ignores(path.slice(base.length + 1)));

  async function walk(dir: ContextEntry, excludes: Matcher | undefined, out: ContextEntry[], base = dir.contextPath): Promise<void> {
    const names = readdirSync(dir.hostPath).sort();
    for (const name of names) {
      // names from readdir never hold a separator: plain concatenation is join() here
      const hostPath = `${dir.hostPath}/${name}`;
      const contextPath = dir.contextPath === '' ? name : `${dir.contextPath}/${name}`;
      const ignored = isIgnored(contextPath);
      const entry = entryOf(root, hostPath, contextPath);
      if (entry.type === 'directory') {
        if (ignored && !hasExceptions) continue;
        const before = out.length;
        if (!ignored) out.push(entry);
        await walk(entry, excludes, out, base);
        // an ignored folder with re-included children is still created
        if (ignored && out.length > before) out.splice(before, 0, entry);
        continue;
      }
      if (ignored) continue;
      out.push(entry);
    }
    if (excludes !== undefined) {
      for (let i = out.length - 1; i >= 0; i -= 1) {
        const e = out[i];
        if (e !== undefined && excluded(excludes, e.contextPath, base)) out.splice(i, 1);
      }
    }
  }

  /**
   * The host path of `rel` with every symlink among its parents followed
   * inside the root (an absolute target starts at the root, `..` stops at
   * it), as BuildKit scopes them: a parent never leads out of the context or
   * source stage, whatever the link says. The last component is left as it is.
   */
  async function scopedPath(rel: string): Promise<string> {
    let pending = rel.split('/').filter((p) => p !== '' && p !== '.');
    const last = pending.pop();
    if (last === undefined) return root;
    let resolved: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const part = pending[0] as string;
      pending = pending.slice(1);
      if (part === '..') {
        resolved = resolved.slice(0, -1);
        continue;
      }
      const host = join(root, ...resolved, part);
      const st = await lstat(host).catch(() => undefined);
      if (st?.isSymbolicLink() !== true) {
        resolved.push(part);
        continue;
      }
      links += 1;
      if (links > MAX_LINKS) throw buildError(BuildErrors.contextPath, [rel, 'has too many levels of symbolic links']);
      const target = await readlink(host);
      if (target.startsWith('/')) resolved = [];
      pending = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
    }
    return join(root, ...resolved, last);
  }

  async function resolveSource(source: string): Promise<string[]> {
    const normalized = posix.normalize(source);
    if (normalized === '..' || normalized.startsWith('../')) {
      throw buildError(BuildErrors.contextPath, [source, 'is outside the build context']);
    }
    // an absolute source is relative to the context root, as in docker
    const cleaned = normalized.replace(/^\/+/, '').replace(/^\.(\/|$)/, '');
    if (!hasMagic(cleaned)) {
      const host = await scopedPath(cleaned);
      try {
        await lstat(host);
      } catch {
        throw buildError(BuildErrors.contextPath, [source, 'was not found in the build context']);
      }
      if (cleaned !== '' && isIgnored(cleaned)) {
        throw buildError(BuildErrors.contextPath, [source, 'is excluded by .dockerignore']);
      }
      return [host];
    }
    // loaded on the first pattern only: a build without wildcards never pays for fast-glob's ~100 modules
    const { default: fg } = await import('fast-glob');
    const matches = await fg(cleaned, { cwd: root, dot: true, onlyFiles: false, followSymbolicLinks: false, unique: true });
    // a pattern's fixed folders may be symlinks that fast-glob followed on the host: keep only what lies inside
    const kept: string[] = [];
    for (const m of matches.filter((m) => !isIgnored(m)).sort()) {
      const host = await scopedPath(m);
      if (host === join(root, m) && (await lstat(host).then(() => true, () => false))) kept.push(host);
    }
    if (kept.length === 0) throw buildError(BuildErrors.contextPath, [source, 'matched no file in the build context']);
    return kept;
  }

  async function select(sources: readonly string[], opts: { excludes?: readonly string[] } = {}): Promise<SelectedSource[]> {
    const excludes = opts.excludes !== undefined && opts.excludes.length > 0 ? ignore().add([...opts.excludes]) : undefined;
    const out: SelectedSource[] = [];
    for (const source of sources) {
      for (const host of await resolveSource(source)) {
        let entry = entryOf(root, host);
        if (excludes !== undefined && entry.contextPath !== '' && excludes.ignores(entry.contextPath)) continue;
        if (entry.type === 'symlink') {
          // a source named explicitly is followed, but only inside the context
          const real = await realpath(host).catch(() => undefined);
          if (real === undefined || (real !== root && !real.startsWith(root + sep))) {
            throw buildError(BuildErrors.contextPath, [entry.contextPath, `is a symbolic link to ${entry.linkTarget ?? '?'}, outside the build context`]);
          }
          const st = await stat(real);
          entry = st.isDirectory()
            ? { ...entry, hostPath: real, type: 'directory', mode: st.mode & 0o7777 }
            : { ...entry, hostPath: real, type: 'file', mode: st.mode & 0o7777, size: st.size, mtimeMs: st.mtimeMs };
          delete (entry as { linkTarget?: string }).linkTarget;
        }
        const children: ContextEntry[] = [];
        if (entry.type === 'directory') await walk(entry, excludes, children);
        out.push({ root: entry, children });
      }
    }
    return out;
  }

  return { root, isIgnored, select };
}

/** The file name a selected source gets when copied into a folder. */
export function sourceBaseName(entry: ContextEntry): string {
  return entry.contextPath === '' ? '' : basename(entry.contextPath);
}
