import { pruneStore, type PruneOptions } from '@strata/cache';
import { formatBytes, openStore, reportStoreError } from '../store.js';
import { parseCommandLine, writeUsageError, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';

const syntax: CommandSyntax = {
  usage: 'strata prune [OPTIONS]',
  description: [
    'Remove what no tag references: unreferenced blobs and snapshots, and build cache',
    '(cache records, least recently used first) as the options say. Tagged images stay.',
    'Blobs written in the last 5 minutes stay too: another build may be about to tag them.',
  ].join('\n'),
  options: [
    { name: 'all', short: 'a', type: 'boolean', description: 'Remove all build cache, not just dangling data' },
    { name: 'keep-storage', type: 'string', valueName: 'SIZE', description: 'Keep at most SIZE of build cache (e.g. 10GB, 512MB)' },
    { name: 'filter', type: 'string', valueName: 'FILTER', multiple: true, description: 'until=DURATION: only cache unused for longer (e.g. 24h, 7d)' },
    { name: 'dry-run', type: 'boolean', description: 'Say what would be removed, remove nothing' },
    { name: 'json', type: 'boolean', description: 'Print the result as JSON' },
  ],
  positionals: [0, 0],
};

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4 };

/** `10GB`, `512m`, `1.5GiB`, `0` → bytes (binary units, as docker's --keep-storage). */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = SIZE_UNITS[(match?.[2] ?? '').toLowerCase()];
  if (match === null || unit === undefined) return undefined;
  return Math.floor(Number(match[1]) * unit);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `24h`, `1h30m`, `90s`, `7d` → milliseconds. */
export function parseDuration(text: string): number | undefined {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return undefined;
  return parts.reduce((n, p) => n + Number(p[1]) * (DURATION_UNITS[p[2] ?? ''] ?? 0), 0);
}

// Shared with the other store verbs (du, verify, build, images…), which import them from here or ../store.js.
export { formatBytes, openStore, reportStoreError } from '../store.js';

/** `strata prune [--all] [--keep-storage SIZE] [--filter until=DURATION] [--dry-run] [--json]`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('prune', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const usageError = (message: string): number => writeUsageError(io, 'prune', syntax, message);
  const options: { -readonly [K in keyof PruneOptions]: PruneOptions[K] } = {};
  if (argv.values.all === true) options.all = true;
  if (argv.values['dry-run'] === true) options.dryRun = true;
  const keep = argv.values['keep-storage'];
  if (typeof keep === 'string') {
    const bytes = parseSize(keep);
    if (bytes === undefined) return usageError(`invalid size '${keep}' for --keep-storage (try 10GB or 512MB)`);
    options.keepStorage = bytes;
  }
  const filters = argv.values.filter;
  for (const filter of Array.isArray(filters) ? filters : []) {
    const [name, value = ''] = filter.split('=', 2);
    if (name !== 'until') return usageError(`unknown filter '${name ?? ''}' (strata prune knows until=DURATION)`);
    const ms = parseDuration(value);
    if (ms === undefined) return usageError(`invalid duration '${value}' (try 24h, 90m or 7d)`);
    options.until = ms;
  }
  try {
    const store = await openStore(io);
    const result = await pruneStore(store, options);
    if (argv.values.json === true) {
      io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return ExitCode.ok;
    }
    const r = result.removed;
    const verb = options.dryRun === true ? 'Would delete' : 'Deleted';
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
    io.stdout.write(`${verb} ${plural(r.records, 'cache record')}, ${plural(r.blobs, 'blob')}, ${plural(r.snapshots, 'snapshot')}`);
    if (r.quarantined > 0) io.stdout.write(`, ${plural(r.quarantined, 'quarantined file')}`);
    io.stdout.write(r.memoTables > 0 ? `, ${plural(r.memoTables, 'stale memo table')}\n` : '\n');
    if (result.keptRecent > 0) io.stdout.write(`Kept ${plural(result.keptRecent, 'unreferenced blob')} written in the last 5 minutes\n`);
    io.stdout.write(`Total reclaimed space: ${formatBytes(result.reclaimed)}\n`);
    return ExitCode.ok;
  } catch (error) {
    return reportStoreError(io, 'prune', error);
  }
}
