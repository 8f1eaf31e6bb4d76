import type { AddInstruction, CopyInstruction } from '../instructions/types.js';
import type { Reporter } from './report.js';
import { LintRules } from './rules.js';

/**
 * The build context's .dockerignore, as the CopyIgnoredFile check needs it.
 * The parser reads no files: the caller (the builder's `readDockerignore`)
 * gives the patterns and docker's matching.
 */
export interface DockerignoreMatcher {
  /** The patterns as written (`!` exclusions included), comments and blank lines left out. */
  readonly patterns: readonly string[];
  /** Whether a context path (`/`-separated, relative) or one of its parent folders matches a pattern. */
  matches(path: string): boolean;
}

/** Go's path.Clean: no `.` or empty segments, `..` resolved where it can be, no trailing slash. */
export function cleanPath(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined === '' ? '.' : joined;
}

/** A pattern as BuildKit's .dockerignore reader keeps it: cleaned, without a leading slash. */
function cleanPattern(pattern: string): string {
  const cleaned = cleanPath(pattern);
  return cleaned.length > 1 && cleaned.startsWith('/') ? cleaned.slice(1) : cleaned;
}

/** Sources fetched rather than read from the context (URLs, git repositories) are not checked. */
const isRemote = (source: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(source) || /^git@[^:]+:/.test(source);

/**
 * BuildKit's CopyIgnoredFile: a COPY (without --from) or ADD source from the
 * context that .dockerignore excludes, it or a parent folder. Not checked
 * when there is no .dockerignore or it has `!` exceptions (a file inside an
 * excluded folder may be let back in); the context root (`.`, `/`) only when
 * a pattern excludes every entry of the root (`*`, `**`, `**`+`/*`).
 * `sources` are the instruction's sources expanded.
 */
export function copyIgnoredFileCheck(instruction: CopyInstruction | AddInstruction, sources: readonly string[], ignore: DockerignoreMatcher, reporter: Reporter): void {
  if (ignore.patterns.length === 0 || ignore.patterns.some((p) => p.startsWith('!'))) return;
  if (instruction.kind === 'copy' && instruction.from !== undefined) return;
  const cmd = instruction.kind === 'add' ? 'Add' : 'Copy';
  const rootIgnored = ignore.patterns.some((p) => ['*', '**', '**/*'].includes(cleanPattern(p)));
  for (const written of sources) {
    if (instruction.kind === 'add' && isRemote(written)) continue;
    const source = cleanPath(written);
    const ignored = source === '.' || source === '/' ? rootIgnored : ignore.matches(source);
    if (ignored) reporter.report(LintRules.CopyIgnoredFile, instruction.location, instruction.comments, cmd, source);
  }
}
