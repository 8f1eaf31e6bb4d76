import { verifyStore } from '@strata/cache';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { formatBytes, openStore, reportStoreError } from './prune.js';

const syntax: CommandSyntax = {
  usage: 'strata verify [OPTIONS]',
  description: [
    'Re-hash every blob in the store and check every tag, cache record and snapshot.',
    'Exits 1 when a problem remains. --repair quarantines damaged blobs, drops tags whose',
    'manifest is gone and cache records whose layer is gone, and rewrites a damaged index.',
  ].join('\n'),
  options: [
    { name: 'repair', type: 'boolean', description: 'Fix what can be fixed' },
    { name: 'json', type: 'boolean', description: 'Print the report as JSON' },
  ],
  positionals: [0, 0],
};

/** `strata verify [--repair] [--json]`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('verify', args, syntax, io);
  if (typeof argv === 'number') return argv;
  try {
    const store = await openStore(io);
    const report = await verifyStore(store, { repair: argv.values.repair === true });
    const unresolved = report.problems.filter((p) => !p.repaired);
    if (argv.values.json === true) {
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      for (const p of report.problems) io.stdout.write(`${p.repaired ? 'repaired' : 'problem '}  ${p.kind}  ${p.subject}: ${p.detail}\n`);
      const summary = `Checked ${report.checkedBlobs} blob${report.checkedBlobs === 1 ? '' : 's'} (${formatBytes(report.checkedBytes)})`;
      if (report.ok) io.stdout.write(`${summary}: the store is consistent\n`);
      else io.stdout.write(`${summary}: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}, ${unresolved.length} unresolved\n`);
      if (unresolved.length > 0 && argv.values.repair !== true) io.stdout.write("Run 'strata verify --repair' to fix what can be fixed.\n");
    }
    return unresolved.length === 0 ? ExitCode.ok : ExitCode.failure;
  } catch (error) {
    return reportStoreError(io, 'verify', error);
  }
}
