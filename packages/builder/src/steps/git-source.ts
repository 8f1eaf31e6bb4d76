import { spawn } from 'node:child_process';
import { lstat, lutimes, mkdir, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceFact } from '../cache-key.js';
import { buildError, BuildErrors } from '../errors.js';
import { DEFAULT_SSH_ID } from '../runtime/ssh-agent.js';
import type { BuildSession } from '../session.js';
import { isCommitHash, redact, type GitSource } from './git-url.js';

// ADD of a git repository, fetched by Debian's git on the build host, with
// BuildKit's behaviour: the ref is resolved with `git ls-remote` before the
// cache lookup (the resolved commit is the key, so a rebuild whose remote did
// not move runs no fetch), and only a miss fetches, shallow, into a bare
// repository in the build's temp folder and checks out the commit.

/** How git authenticates: the SSH agent (ssh URLs), an Authorization header (http(s), from GIT_AUTH_* secrets). */
export interface GitAuth {
  readonly sshAuthSock?: string;
  /** `http.<scope>.extraheader`, given to git through GIT_CONFIG_* variables, never on its command line. */
  readonly header?: { readonly scope: string; readonly value: string };
}

/** A ref resolved on the remote. */
export interface ResolvedGit {
  /** The full ref name that matched (`refs/heads/main`), or the commit hash itself. */
  readonly ref: string;
  /** What the ref names: a commit, or an annotated tag's object. */
  readonly object: string;
  /** The commit whose tree is added: the key. */
  readonly commit: string;
}

const SSH_COMMAND = 'ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR';
const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy'];

interface GitRun {
  readonly source: GitSource;
  readonly auth: GitAuth;
  readonly signal?: AbortSignal;
}

/**
 * Runs git with none of the host's git configuration (as BuildKit: no
 * system or global config, no terminal prompt, ssh without the user's
 * config), under umask 022 so that checked-out files are 0644/0755 whatever
 * strata's umask, and `protocol.file.allow=user` so that a submodule cannot
 * name a folder of the build host.
 */
async function git(args: readonly string[], run: GitRun): Promise<string> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    HOME: '/dev/null',
    LC_ALL: 'C',
    GIT_SSH_COMMAND: SSH_COMMAND,
  };
  for (const name of PROXY_VARIABLES) if (process.env[name] !== undefined) env[name] = process.env[name];
  if (run.auth.sshAuthSock !== undefined) env.SSH_AUTH_SOCK = run.auth.sshAuthSock;
  if (run.auth.header !== undefined) {
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = `http.${run.auth.header.scope}.extraheader`;
    env.GIT_CONFIG_VALUE_0 = run.auth.header.value;
  }
  const argv = ['-c', 'umask 022 && exec git "$@"', 'git', '-c', 'protocol.file.allow=user', '-c', 'advice.detachedHead=false', ...args];
  const child = spawn('sh', argv, { env, stdio: ['ignore', 'pipe', 'pipe'], ...(run.signal === undefined ? {} : { signal: run.signal }) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | Error>((resolve) => {
    child.once('error', resolve);
    child.once('close', (c) => resolve(c ?? -1));
  });
  if (code === 0) return stdout;
  if (code instanceof Error) throw code;
  if (code === 127) throw failed(run.source, 'git was not found on PATH (apt-get install git; scripts/bootstrap does)');
  const said = stderr.split(run.source.remote).join(redact(run.source.remote)).trim().split('\n').slice(-6).join('\n');
  throw new GitCommandError(`git ${args[0] ?? ''} failed (exit ${code})${said === '' ? '' : `: ${said}`}`, stderr);
}

class GitCommandError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

function failed(source: GitSource, detail: string, cause?: unknown) {
  return buildError(BuildErrors.gitFailed, [redact(source.text), detail], cause === undefined ? {} : { cause });
}

/** Runs git; its failure is BUILD_GIT_FAILED naming the source. */
async function gitOrFail(args: readonly string[], run: GitRun): Promise<string> {
  try {
    return await git(args, run);
  } catch (error) {
    if (error instanceof GitCommandError) throw failed(run.source, error.message, error);
    throw error;
  }
}

/** A secret's value, without the newline a file usually ends with. */
async function secretValue(session: BuildSession, id: string): Promise<string | undefined> {
  const file = session.options.secrets?.[id];
  if (file === undefined) return undefined;
  return (await readFile(file, 'utf8')).replace(/[\r\n]+$/, '');
}

/**
 * The credentials of a git source, as BuildKit finds them: ssh URLs use the
 * `default` SSH agent (--ssh default; none is BUILD_SSH_MISSING), http(s) URLs
 * the first of the secrets GIT_AUTH_HEADER.<host>, GIT_AUTH_TOKEN.<host>,
 * GIT_AUTH_HEADER, GIT_AUTH_TOKEN (a token is sent as basic x-access-token).
 */
export async function gitAuth(source: GitSource, session: BuildSession): Promise<GitAuth> {
  if (source.scheme === 'ssh') {
    if (!session.ssh.has(DEFAULT_SSH_ID)) throw buildError(BuildErrors.sshMissing, [`ADD ${redact(source.text)}`, DEFAULT_SSH_ID]);
    return { sshAuthSock: await session.ssh.socket(DEFAULT_SSH_ID) };
  }
  if (source.scheme === 'git') return {};
  const scope = ['https://github.com/', 'https://www.github.com/'].find((p) => source.remote.startsWith(p)) ?? source.remote;
  const candidates: [string, boolean][] = [
    [`GIT_AUTH_HEADER.${source.host}`, false],
    [`GIT_AUTH_TOKEN.${source.host}`, true],
    ['GIT_AUTH_HEADER', false],
    ['GIT_AUTH_TOKEN', true],
  ];
  for (const [id, token] of candidates) {
    const value = await secretValue(session, id);
    if (value === undefined) continue;
    const header = token ? `basic ${Buffer.from(`x-access-token:${value}`).toString('base64')}` : value;
    return { header: { scope, value: `Authorization: ${header}` } };
  }
  return {};
}

/** The remote's default branch (`ls-remote --symref HEAD`). */
async function defaultBranch(run: GitRun): Promise<string> {
  const out = await gitOrFail(['ls-remote', '--symref', '--', run.source.remote, 'HEAD'], run);
  const match = /^ref: refs\/heads\/(\S+)\s+HEAD$/m.exec(out);
  if (match?.[1] === undefined) throw failed(run.source, 'could not find the default branch of the repository');
  return match[1];
}

/**
 * Resolves the source's ref on the remote with `git ls-remote` (a full
 * commit hash needs no remote): a branch wins over a tag of the same name,
 * as git checkout prefers; an annotated tag's commit is the key unless the
 * .git folder is kept. `--checksum` must be a prefix of the commit (or of
 * the tag object): otherwise BUILD_CHECKSUM_MISMATCH.
 */
export async function resolveGit(source: GitSource, auth: GitAuth, signal?: AbortSignal): Promise<ResolvedGit> {
  const run: GitRun = { source, auth, ...(signal === undefined ? {} : { signal }) };
  const mismatch = (actual: string) => buildError(BuildErrors.gitChecksumMismatch, [redact(source.text), source.checksum ?? '', actual]);
  if (isCommitHash(source.ref)) {
    if (source.checksum !== undefined && !source.ref.startsWith(source.checksum)) throw mismatch(source.ref);
    return { ref: source.ref, object: source.ref, commit: source.ref };
  }
  const ref = source.ref === '' ? await defaultBranch(run) : source.ref;
  const out = await gitOrFail(['ls-remote', '--', source.remote, ref, `${ref}^{}`], run);
  const bare = (prefix: string) => ref.replace(new RegExp(`^${prefix}`), '');
  const partial = `refs/${bare('refs/')}`;
  const head = `refs/heads/${bare('refs/heads/')}`;
  const tag = `refs/tags/${bare('refs/tags/')}`;
  const found = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [sha, name] = line.split('\t');
    if (sha !== undefined && name !== undefined) found.set(name, sha);
  }
  let usedRef: string;
  let peeled: string | undefined;
  if (partial !== head && partial !== tag && found.has(partial)) usedRef = partial;
  else if (found.has(head)) usedRef = head;
  else if (found.has(tag)) {
    usedRef = tag;
    peeled = found.get(`${tag}^{}`);
  } else throw failed(source, `the repository has no ref ${ref}`);
  const object = found.get(usedRef) ?? '';
  if (!isCommitHash(object)) throw failed(source, `git ls-remote gave ${object}, not a commit hash`);
  if (source.checksum !== undefined && !object.startsWith(source.checksum) && !(peeled ?? '').startsWith(source.checksum)) {
    throw mismatch(peeled === undefined ? object : `${object} (tag) or ${peeled} (commit)`);
  }
  return { ref: usedRef, object, commit: peeled !== undefined && source.keepGitDir !== true ? peeled : object };
}

/** What the cache key holds of a git source: its remote, ref and subdir by name, its content by commit. */
export function gitFact(source: GitSource, resolved: ResolvedGit): SourceFact {
  return {
    path: `${redact(source.remote)}#${source.ref}${source.subdir === '' ? '' : `:${source.subdir}`}`,
    type: 'directory',
    mode: 0o755,
    digest: `git:${resolved.commit}${source.keepGitDir === true ? `:${resolved.ref}` : ''}${source.submodules === false ? ':no-submodules' : ''}`,
  };
}

/**
 * Fetches the resolved commit into a fresh bare repository under `work` and
 * checks it out; returns the folder whose contents the step adds: the tree
 * (or its `subdir`), with submodules (unless `?submodules=false`), without
 * .git unless kept (`--keep-git-dir`, the whole tree only, as BuildKit), and
 * every entry's mtime set to the commit's time (BuildKit's `mtime=commit`:
 * the same commit gives the same layer).
 */
export async function checkoutGit(source: GitSource, resolved: ResolvedGit, auth: GitAuth, work: string, signal?: AbortSignal): Promise<string> {
  const run: GitRun = { source, auth, ...(signal === undefined ? {} : { signal }) };
  const repo = join(work, 'repo.git');
  const tree = join(work, 'tree');
  await mkdir(work, { recursive: true, mode: 0o700 });
  await gitOrFail(['-c', 'init.defaultBranch=master', 'init', '-q', '--bare', repo], run);
  await gitOrFail(['--git-dir', repo, 'remote', 'add', 'origin', source.remote], run);
  await fetchInto(repo, resolved, run);
  const keep = source.keepGitDir === true && source.subdir === '';
  if (keep) {
    await mkdir(tree, { mode: 0o755 });
    const inTree = ['-C', tree];
    await gitOrFail([...inTree, '-c', 'init.defaultBranch=master', 'init', '-q'], run);
    // the file protocol, not a local clone's hard links: nothing of the build host but the repository's objects
    await gitOrFail([...inTree, 'remote', 'add', 'origin', `file://${repo}`], run);
    const pull = isCommitHash(resolved.ref) ? resolved.ref : `+${resolved.ref}:${resolved.ref}`;
    if (isCommitHash(resolved.ref)) await gitOrFail(['--git-dir', repo, 'update-ref', 'refs/strata/commit', resolved.ref], run);
    await gitOrFail([...inTree, 'fetch', '-q', '-u', '--depth=1', 'origin', isCommitHash(resolved.ref) ? 'refs/strata/commit' : pull], run);
    await gitOrFail([...inTree, 'checkout', '-q', 'FETCH_HEAD'], run);
    await gitOrFail([...inTree, 'remote', 'set-url', 'origin', redact(source.remote)], run);
    await gitOrFail([...inTree, 'reflog', 'expire', '--all', '--expire=now'], run);
    await rm(join(tree, '.git', 'FETCH_HEAD'), { force: true });
    if (source.submodules !== false) await gitOrFail([...inTree, 'submodule', 'update', '-q', '--init', '--recursive', '--depth=1'], run);
  } else {
    await mkdir(tree, { mode: 0o755 });
    const withTree = ['--git-dir', repo, '--work-tree', tree];
    await gitOrFail([...withTree, 'checkout', '-q', '--no-overlay', resolved.commit, '--', '.'], run);
    if (source.submodules !== false) {
      // submodule update works from inside the work tree
      await gitOrFail(['-C', tree, '--git-dir', repo, '--work-tree', tree, 'submodule', 'update', '-q', '--init', '--recursive', '--depth=1'], run);
      await removeGitLinks(tree);
    }
  }
  const time = Number((await gitOrFail(['--git-dir', repo, 'log', '-1', '--format=%ct', `${resolved.commit}^{commit}`], run)).trim());
  const root = await subdirOf(source, tree);
  await setTimes(root, Number.isFinite(time) ? time : 0);
  return root;
}

/**
 * Fetches the resolved ref (or commit) into `repo`, shallow; a commit a
 * server will not give by hash comes with a full fetch. A ref that moved
 * since ls-remote is fetched again by the resolved hash.
 */
async function fetchInto(repo: string, resolved: ResolvedGit, run: GitRun): Promise<void> {
  const inRepo = ['--git-dir', repo];
  if (isCommitHash(resolved.ref)) {
    try {
      await git([...inRepo, 'fetch', '-q', '--depth=1', 'origin', resolved.ref], run);
    } catch (error) {
      if (!(error instanceof GitCommandError)) throw error;
      await gitOrFail([...inRepo, 'fetch', '-q', '--tags', 'origin', '+refs/heads/*:refs/heads/*'], run);
    }
    await gitOrFail([...inRepo, 'cat-file', '-e', `${resolved.ref}^{commit}`], run).catch(() => {
      throw failed(run.source, `the repository has no commit ${resolved.ref}`);
    });
    return;
  }
  await gitOrFail([...inRepo, 'fetch', '-q', '--depth=1', '--no-tags', 'origin', `+${resolved.ref}:${resolved.ref}`], run);
  const fetched = (await gitOrFail([...inRepo, 'rev-parse', resolved.ref], run)).trim();
  if (fetched !== resolved.object) {
    await gitOrFail([...inRepo, 'fetch', '-q', '--depth=1', 'origin', resolved.object], run);
    await gitOrFail([...inRepo, 'update-ref', resolved.ref, resolved.object], run);
  }
}

/** The `.git` files submodules leave in the tree (they point into the temp repository). */
async function removeGitLinks(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name === '.git') await rm(path, { recursive: true, force: true });
    else if (entry.isDirectory()) await removeGitLinks(path);
  }
}

/** `subdir` inside the checkout; each of its parts must be a folder, not a link (BuildKit). */
async function subdirOf(source: GitSource, tree: string): Promise<string> {
  let path = tree;
  for (const part of source.subdir.split('/').filter((p) => p !== '')) {
    path = join(path, part);
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined) throw failed(source, `the repository has no folder ${source.subdir}`);
    if (!st.isDirectory()) throw failed(source, `${source.subdir} is not a folder in the repository`);
  }
  return path;
}

/** Every entry's mtime (and atime) to `seconds`, folders after what they hold. */
async function setTimes(dir: string, seconds: number): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await setTimes(path, seconds);
    else await lutimes(path, seconds, seconds);
  }
  await utimes(dir, seconds, seconds);
}
