import { listImages, parseReference, splitName, type ImageSummary } from '@strata/cache';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo, CommandRun } from '../io.js';
import { renderTable } from '../render/table.js';
import { formatBytes, openStore, platformChooser, reportImageError, shortImageId, timeAgo } from '../store.js';
import { checkTemplate, renderTemplate } from './inspect.js';

const syntax: CommandSyntax = {
  usage: 'strata images [OPTIONS] [REPOSITORY[:TAG]]',
  description: [
    'List the images in the store, newest first: REPOSITORY TAG IMAGE ID CREATED SIZE.',
    'IMAGE ID is the start of the config digest; SIZE is the sum of the layers as stored.',
    'A multi-platform tag is listed once, with the platform of this machine (or the first stored).',
  ].join('\n'),
  options: [
    { name: 'quiet', short: 'q', type: 'boolean', description: 'Print only image IDs' },
    { name: 'digests', type: 'boolean', description: 'Show digests (the registry\'s, for images pulled or pushed)' },
    { name: 'no-trunc', type: 'boolean', description: 'Do not shorten image IDs' },
    { name: 'format', type: 'string', valueName: 'FORMAT', description: "'table', 'json' (one object a line, like docker), or a template such as '{{.Repository}}:{{.Tag}}'" },
  ],
  positionals: [0, 1],
};

/** One row as docker's `images --format json` names the fields. */
export interface ImageRow {
  readonly Containers: string;
  readonly CreatedAt: string;
  readonly CreatedSince: string;
  readonly Digest: string;
  readonly ID: string;
  readonly Repository: string;
  readonly SharedSize: string;
  readonly Size: string;
  readonly Tag: string;
  readonly UniqueSize: string;
  readonly VirtualSize: string;
}

/**
 * DIGEST of a row: the image's repo digest for the row's repository (what the
 * registry serves, recorded at pull or push), else the stored manifest's digest.
 */
function rowDigest(repository: string, repoDigests: readonly string[], stored: string): string {
  for (const name of repoDigests) {
    const parts = splitName(name);
    if (parts.repository === repository && parts.digest !== undefined) return parts.digest;
  }
  return stored;
}

function rowOf(summary: ImageSummary, now: Date, noTrunc: boolean, repoDigests: readonly string[]): ImageRow {
  const { repository, tag, digest } = splitName(summary.name);
  const created = summary.image.config.created;
  const date = created === undefined ? undefined : new Date(created);
  const size = formatBytes(summary.image.size);
  return {
    Containers: 'N/A',
    CreatedAt: date === undefined || Number.isNaN(date.getTime()) ? 'N/A' : date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
    CreatedSince: date === undefined ? 'N/A' : timeAgo(date, now),
    Digest: digest ?? rowDigest(repository, repoDigests, summary.image.top.digest),
    ID: noTrunc ? summary.image.configDigest : shortImageId(summary.image.configDigest),
    Repository: repository,
    SharedSize: 'N/A',
    Size: size,
    Tag: digest !== undefined ? '<none>' : (tag ?? '<none>'),
    UniqueSize: 'N/A',
    VirtualSize: size,
  };
}

function matchesFilter(name: string, filter: string | undefined): boolean {
  if (filter === undefined) return true;
  const wanted = splitName(filter.includes(':') || filter.includes('@') ? filter : `${filter}:latest`);
  const have = splitName(name);
  if (have.repository !== wanted.repository) return false;
  // `strata images busybox` lists every tag of busybox, as docker does.
  return filter.slice(filter.lastIndexOf('/') + 1).includes(':') ? have.tag === wanted.tag : true;
}

/** `strata images [-q] [--digests] [--no-trunc] [--format table|json|TEMPLATE] [REPOSITORY[:TAG]]`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('images', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const format = argv.values.format as string | undefined;
  if (format !== undefined && format !== 'table' && format !== 'json') {
    const problem = checkTemplate(format);
    if (problem !== undefined) {
      io.stderr.write(`strata images: ${problem}\n`);
      return ExitCode.usage;
    }
  }
  const filter = argv.positionals[0];
  try {
    if (filter !== undefined) parseReference(filter.includes(':') || filter.includes('@') ? filter : `${filter}:latest`);
    const store = await openStore(io);
    const { images, broken } = await listImages(store, { choose: platformChooser(undefined).choose });
    for (const b of broken) io.stderr.write(`strata images: skipped ${b.name}: ${(b.error as Error).message}\n`);
    const now = new Date();
    const listed = images
      .filter((i) => matchesFilter(i.name, filter))
      .sort((a, b) => (b.image.config.created ?? '').localeCompare(a.image.config.created ?? '') || a.name.localeCompare(b.name));
    const recorded = new Map<string, string[]>();
    for (const i of listed) {
      if (!recorded.has(i.image.top.digest)) recorded.set(i.image.top.digest, await store.repoDigests(i.image.top.digest));
    }
    const rows = listed.map((i) => rowOf(i, now, argv.values['no-trunc'] === true, recorded.get(i.image.top.digest) ?? []));
    if (argv.values.quiet === true) {
      const seen = new Set<string>();
      for (const r of rows) {
        if (!seen.has(r.ID)) io.stdout.write(`${r.ID}\n`);
        seen.add(r.ID);
      }
      return ExitCode.ok;
    }
    if (format === 'json') {
      for (const r of rows) io.stdout.write(`${JSON.stringify(r)}\n`);
      return ExitCode.ok;
    }
    if (format !== undefined && format !== 'table') {
      for (const r of rows) io.stdout.write(`${renderTemplate(format, r)}\n`);
      return ExitCode.ok;
    }
    const digests = argv.values.digests === true;
    const header = digests ? ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE'] : ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'];
    const body = rows.map((r) => (digests ? [r.Repository, r.Tag, r.Digest, r.ID, r.CreatedSince, r.Size] : [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size]));
    io.stdout.write(renderTable([header, ...body]));
    return ExitCode.ok;
  } catch (error) {
    return reportImageError(io, 'images', error);
  }
}

const subcommands: Record<string, { summary: string; load: () => Promise<CommandRun> }> = {
  ls: { summary: 'List images', load: async () => run },
  inspect: { summary: 'Show details of images', load: async () => (await import('./inspect.js')).run },
  tag: { summary: 'Give an image another name', load: async () => (await import('./tag.js')).run },
  rm: { summary: 'Remove image names', load: async () => (await import('./rmi.js')).run },
  save: { summary: 'Write images to a tar archive', load: async () => (await import('./save.js')).run },
  load: { summary: 'Load images from a tar archive or OCI layout', load: async () => (await import('./load.js')).run },
  import: { summary: 'Make an image from a root filesystem tar', load: async () => (await import('./import.js')).run },
};

/** `strata image ls|inspect|tag|rm|save|load|import …`: docker's `image` management group. */
export async function runImage(args: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = args;
  const usage = [
    'Usage: strata image COMMAND',
    '',
    'Manage images in the store',
    '',
    'Commands:',
    ...Object.entries(subcommands).map(([n, s]) => `  ${n.padEnd(9)}${s.summary}`),
    '',
  ].join('\n');
  if (name === undefined || name === '--help' || name === '-h') {
    (name === undefined ? io.stderr : io.stdout).write(usage);
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  const sub = subcommands[name === 'list' ? 'ls' : name === 'remove' ? 'rm' : name];
  if (sub === undefined) {
    io.stderr.write(`strata image: unknown command '${name}'\n\n${usage}`);
    return ExitCode.usage;
  }
  return (await sub.load())(rest, io);
}
