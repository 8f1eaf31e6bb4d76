import { posix } from 'node:path';
import { buildError, BuildErrors } from '../errors.js';
import { redact } from '../redact.js';

/**
 * An ADD source that names a git repository, by BuildKit's rules: an
 * http(s) URL whose path ends in `.git`, any `git://` or `ssh://` URL, or
 * scp-like `user@host:path`. The fragment is `#ref[:subdir]`; BuildKit's
 * query form (`?ref=`, `?tag=`, `?branch=`, `?subdir=`, `?checksum=`,
 * `?keep-git-dir`, `?submodules=false`) says the same.
 */
export interface GitSource {
  /** The source as written. */
  readonly text: string;
  /** What git is given: the URL without fragment or query. */
  readonly remote: string;
  readonly scheme: 'http' | 'https' | 'ssh' | 'git';
  /** The host (and port), for host-scoped auth secrets (`GIT_AUTH_TOKEN.<host>`). */
  readonly host: string;
  /** A branch, tag, commit or full ref name; empty: the remote's default branch. */
  readonly ref: string;
  /** A folder inside the repository whose contents are added; empty: the whole tree. */
  readonly subdir: string;
  /** `?checksum=` / `?commit=`: a commit hash or its prefix. */
  readonly checksum?: string;
  readonly keepGitDir?: boolean;
  /** `?submodules=false` skips submodules (BuildKit checks them out by default). */
  readonly submodules?: boolean;
}

const PROTOCOL = /^([a-zA-Z0-9]+):\/\//;
const SCP_LIKE = /^([a-zA-Z0-9-_]+)@([a-zA-Z0-9-.]+):(.*?)(?:\?(.*?))?(?:#(.*))?$/;

function invalid(text: string, problem: string): never {
  throw buildError(BuildErrors.invalidInstruction, [`ADD ${redact(text)}: ${problem}`]);
}

export { redact };

function parseBool(text: string, key: string, value: string): boolean {
  if (value === '' || /^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  return invalid(text, `invalid ${key} value: ${JSON.stringify(value)}`);
}

/** The parsed git source, or undefined when `text` names no git repository (a context path or another URL). */
export function parseGitSource(text: string): GitSource | undefined {
  let scheme: GitSource['scheme'];
  let host: string;
  let path: string;
  let query: string;
  let fragment: string;
  const protocol = PROTOCOL.exec(text)?.[1]?.toLowerCase();
  if (protocol !== undefined) {
    if (protocol !== 'http' && protocol !== 'https' && protocol !== 'ssh' && protocol !== 'git') return undefined;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      if (protocol === 'http' || protocol === 'https') return undefined;
      return invalid(text, 'not a valid URL');
    }
    if ((protocol === 'http' || protocol === 'https') && !url.pathname.endsWith('.git')) return undefined;
    scheme = protocol;
    host = url.host;
    path = url.pathname;
    query = url.search.replace(/^\?/, '');
    fragment = url.hash.replace(/^#/, '');
  } else {
    const scp = SCP_LIKE.exec(text);
    if (scp === null) return undefined;
    scheme = 'ssh';
    host = scp[2] ?? '';
    path = scp[3] ?? '';
    query = scp[4] ?? '';
    fragment = scp[5] ?? '';
  }
  if (path === '' || path === '/') invalid(text, 'the URL names no repository');
  const cut = text.search(/[?#]/);
  const remote = cut === -1 ? text : text.slice(0, cut);
  const colon = fragment.indexOf(':');
  let ref = colon === -1 ? fragment : fragment.slice(0, colon);
  let subdir = colon === -1 ? '' : fragment.slice(colon + 1);
  let checksum: string | undefined;
  let keepGitDir: boolean | undefined;
  let submodules: boolean | undefined;
  let tag = '';
  let branch = '';
  const seen = new Set<string>();
  for (const [key, value] of new URLSearchParams(query)) {
    if (seen.has(key)) invalid(text, `query ${JSON.stringify(key)} has multiple values`);
    seen.add(key);
    switch (key) {
      case 'ref':
        if (ref !== '' && ref !== value) invalid(text, `ref conflicts: ${JSON.stringify(ref)} vs ${JSON.stringify(value)}`);
        ref = value;
        break;
      case 'tag':
        tag = value.startsWith('refs/tags/') ? value : `refs/tags/${value}`;
        break;
      case 'branch':
        branch = value.startsWith('refs/heads/') ? value : `refs/heads/${value}`;
        break;
      case 'subdir':
        if (subdir !== '' && subdir !== value) invalid(text, `subdir conflicts: ${JSON.stringify(subdir)} vs ${JSON.stringify(value)}`);
        subdir = value;
        break;
      case 'checksum':
      case 'commit':
        checksum = value;
        break;
      case 'keep-git-dir':
        keepGitDir = parseBool(text, key, value);
        break;
      case 'submodules':
        submodules = parseBool(text, key, value);
        break;
      default:
        invalid(text, `unexpected query ${JSON.stringify(key)}`);
    }
  }
  if (tag !== '' && branch !== '') invalid(text, 'branch conflicts with tag');
  for (const named of [tag, branch]) {
    if (named === '') continue;
    if (ref !== '' && ref !== named) invalid(text, `ref conflicts: ${JSON.stringify(ref)} vs ${JSON.stringify(named)}`);
    ref = named;
  }
  if (ref.startsWith('-')) invalid(text, `invalid git ref ${JSON.stringify(ref)}`);
  subdir = posix.join('/', subdir).replace(/^\/+/, '');
  return {
    text,
    remote,
    scheme,
    host,
    ref,
    subdir,
    ...(checksum === undefined ? {} : { checksum }),
    ...(keepGitDir === undefined ? {} : { keepGitDir }),
    ...(submodules === undefined ? {} : { submodules }),
  };
}

/**
 * The git source with the step's `--checksum` and `--keep-git-dir` merged in
 * (each may also come from the URL's query; they must agree, as in BuildKit).
 */
export function withAddFlags(source: GitSource, flags: { checksum?: string; keepGitDir?: boolean }): GitSource {
  let { checksum, keepGitDir } = source;
  if (flags.checksum !== undefined) {
    if (checksum !== undefined && checksum !== flags.checksum) invalid(source.text, `checksum mismatch ${JSON.stringify(flags.checksum)} != ${JSON.stringify(checksum)}`);
    checksum = flags.checksum;
  }
  if (flags.keepGitDir !== undefined) {
    if (keepGitDir !== undefined && keepGitDir !== flags.keepGitDir) invalid(source.text, 'inconsistent keep-git-dir configuration');
    keepGitDir = flags.keepGitDir;
  }
  if (checksum !== undefined && !/^[0-9a-fA-F]+$/.test(checksum)) invalid(source.text, `invalid checksum ${checksum} for Git URL, expected hex commit hash`);
  return {
    ...source,
    ...(checksum === undefined ? {} : { checksum: checksum.toLowerCase() }),
    ...(keepGitDir === undefined ? {} : { keepGitDir }),
  };
}

/** A full commit hash (sha1 or sha256). */
export function isCommitHash(text: string): boolean {
  return /^[0-9a-f]{40}$/.test(text) || /^[0-9a-f]{64}$/.test(text);
}
