import { diskUsage } from '@strata/cache';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { formatBytes, openStore, reportStoreError } from './prune.js';

const syntax: CommandSyntax = {
  usage: 'strata du [OPTIONS]',
  description: 'Show the store\'s disk usage by kind: images, build cache, snapshots, unreferenced blobs.',
  options: [{ name: 'json', type: 'boolean', description: 'Print the usage as JSON (sizes in bytes)' }],
  positionals: [0, 0],
};

/** `strata du [--json]`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('du', args, syntax, io);
  if (typeof argv === 'number') return argv;
  try {
    const store = await openStore(io);
    const du = await diskUsage(store);
    if (argv.values.json === true) {
      io.stdout.write(`${JSON.stringify({ root: store.root, ...du }, null, 2)}\n`);
      return ExitCode.ok;
    }
    const rows: [string, string, string][] = [
      ['TYPE', 'COUNT', 'SIZE'],
      ['Images', String(du.images.count), formatBytes(du.images.size)],
      ['Build cache', String(du.cache.count), formatBytes(du.cache.size)],
      ['Snapshots', String(du.snapshots.count), formatBytes(du.snapshots.size)],
      ['Unreferenced', String(du.unreferenced.count), formatBytes(du.unreferenced.size)],
      ['Quarantine', String(du.quarantine.count), formatBytes(du.quarantine.size)],
      ['Total', '', formatBytes(du.total)],
    ];
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    for (const [a, b, c] of rows) io.stdout.write(`${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}\n`.replace(/ +\n$/, '\n'));
    io.stdout.write(`(store: ${store.root}; images and cache share blobs, each counted once)\n`);
    return ExitCode.ok;
  } catch (error) {
    return reportStoreError(io, 'du', error);
  }
}
