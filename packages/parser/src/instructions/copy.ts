import type { RawInstruction } from '../ast.js';
import { chompHeredocContent, parseHeredocWord, type HeredocHeader } from '../heredoc.js';
import { InstructionErrors, valueError } from './errors.js';
import { flag } from './flags.js';
import { atFlag, baseFields, fail, flagsOf, type InstructionInput } from './common.js';
import { parseChmod } from './chmod.js';
import type { AddInstruction, CopyInstruction, InlineSource } from './types.js';

/** BuildKit's MustParseHeredoc: the heredoc a word starts, or undefined (also for a malformed one). */
function heredocOf(word: string): HeredocHeader | undefined {
  try {
    return parseHeredocWord(word);
  } catch {
    return undefined;
  }
}

interface SourcesAndDest {
  readonly sources: string[];
  readonly inlineSources: InlineSource[];
  readonly destination: string;
}

function sourcesAndDest(raw: RawInstruction, name: string): SourcesAndDest {
  const destination = raw.args[raw.args.length - 1] ?? '';
  if (heredocOf(destination) !== undefined) fail(raw, InstructionErrors.heredocPosition, name, 'a destination');
  const sources: string[] = [];
  const inlineSources: InlineSource[] = [];
  for (const src of raw.args.slice(0, -1)) {
    const heredoc = heredocOf(src);
    if (heredoc === undefined) {
      sources.push(src);
      continue;
    }
    // As BuildKit: the body is looked up by name (empty when there is none).
    const content = raw.heredocs.find((h) => h.name === heredoc.name)?.content ?? '';
    inlineSources.push({
      path: heredoc.name,
      data: heredoc.chomp ? chompHeredocContent(content) : content,
      expand: heredoc.expand,
    });
  }
  return { sources, inlineSources, destination };
}

function checkChmod(raw: RawInstruction, chmod: string): void {
  if (chmod === '' || /[$'"\\`]/.test(chmod)) return;
  atFlag(raw, 'chmod', 0, () => parseChmod(chmod));
}

/** `--checksum`: a digest (`sha256:<hex>`, for a URL) or a commit hash or its prefix (hex, for a git source). */
function checkChecksum(raw: RawInstruction, checksum: string): void {
  if (checksum === '' || checksum.includes('$')) return;
  if (!/^(?:[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+|[0-9a-fA-F]+)$/.test(checksum)) {
    atFlag(raw, 'checksum', 0, () => { throw valueError(InstructionErrors.invalidChecksum, checksum); });
  }
}

function requireDestination(raw: RawInstruction, name: string): void {
  if (raw.args.length < 2) {
    fail(raw, InstructionErrors.argumentCount, `${name} requires at least two arguments, but only one was provided. Destination could not be determined`);
  }
}

function optional<K extends string>(key: K, value: string): { [P in K]?: string } {
  return (value === '' ? {} : { [key]: value }) as { [P in K]?: string };
}

/** `COPY [--from=..] [--chown=..] [--chmod=..] [--link] [--parents] [--exclude=..] src... dest`. */
export function parseCopy(input: InstructionInput): CopyInstruction {
  const { raw } = input;
  requireDestination(raw, 'COPY');
  const flags = flagsOf(raw, {
    chown: flag.string(),
    from: flag.string(),
    chmod: flag.string(),
    link: flag.bool(),
    exclude: flag.strings(),
    parents: flag.bool(),
  });
  const v = flags.values;
  const paths = sourcesAndDest(raw, 'COPY');
  checkChmod(raw, v.chmod);
  return {
    kind: 'copy',
    ...baseFields(input, flags.used),
    ...paths,
    ...optional('from', v.from),
    ...optional('chown', v.chown),
    ...optional('chmod', v.chmod),
    link: v.link,
    parents: v.parents,
    excludes: v.exclude,
  };
}

/** `ADD [--chown=..] [--chmod=..] [--link] [--keep-git-dir] [--checksum=..] [--unpack] [--exclude=..] src... dest`. */
export function parseAdd(input: InstructionInput): AddInstruction {
  const { raw } = input;
  requireDestination(raw, 'ADD');
  const flags = flagsOf(raw, {
    chown: flag.string(),
    chmod: flag.string(),
    link: flag.bool(),
    'keep-git-dir': flag.bool(),
    checksum: flag.string(),
    unpack: flag.bool(),
    exclude: flag.strings(),
  });
  const v = flags.values;
  const paths = sourcesAndDest(raw, 'ADD');
  checkChmod(raw, v.chmod);
  checkChecksum(raw, v.checksum);
  return {
    kind: 'add',
    ...baseFields(input, flags.used),
    ...paths,
    ...optional('chown', v.chown),
    ...optional('chmod', v.chmod),
    ...optional('checksum', v.checksum),
    link: v.link,
    excludes: v.exclude,
    ...(flags.used.includes('keep-git-dir') ? { keepGitDir: v['keep-git-dir'] } : {}),
    ...(flags.used.includes('unpack') ? { unpack: v.unpack } : {}),
  };
}
