import type { ContainerRecord } from '@strata/cache';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { renderTable } from '../render/table.js';
import { openStore, reportStoreError, timeAgo } from '../store.js';

const syntax: CommandSyntax = {
  usage: 'strata ps [OPTIONS]',
  description: 'List containers, newest first: CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, NAMES.\nWithout -a only running ones.',
  options: [
    { name: 'all', short: 'a', type: 'boolean', description: 'Show all containers (default shows just running)' },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'Print only container IDs' },
    { name: 'no-trunc', type: 'boolean', description: 'Do not shorten IDs and commands' },
  ],
  positionals: [0, 0],
};

/** docker's STATUS: `Up 3 minutes`, `Exited (0) 2 seconds ago`, `Created`. */
export function statusText(c: ContainerRecord, now: Date): string {
  switch (c.status) {
    case 'created':
      return 'Created';
    case 'running':
      return `Up ${timeAgo(new Date(c.startedAt ?? c.created), now).replace(/ ago$/, '')}`;
    case 'exited': {
      const when = c.finishedAt ?? c.startedAt;
      const ago = when === undefined ? '' : ` ${timeAgo(new Date(when), now)}`;
      return c.exitCode === undefined ? `Exited (unknown)${ago}` : `Exited (${c.exitCode})${ago}`;
    }
  }
}

/** docker's COMMAND column: the command line in quotes, cut at 20 characters with an ellipsis. */
export function commandText(args: readonly string[], noTrunc: boolean): string {
  const text = args.join(' ');
  return `"${noTrunc || text.length <= 20 ? text : `${text.slice(0, 19)}…`}"`;
}

/** `strata ps [-a] [-q] [--no-trunc]`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('ps', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const noTrunc = argv.values['no-trunc'] === true;
  try {
    const store = await openStore(io);
    const all = await store.containers.list();
    const shown = argv.values.all === true ? all : all.filter((c) => c.status === 'running');
    const id = (c: ContainerRecord) => (noTrunc ? c.id : c.id.slice(0, 12));
    if (argv.values.quiet === true) {
      io.stdout.write(shown.map((c) => `${id(c)}\n`).join(''));
      return ExitCode.ok;
    }
    const now = new Date();
    const rows = [
      ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES'],
      ...shown.map((c) => [id(c), c.imageName, commandText(c.process.args, noTrunc), timeAgo(new Date(c.created), now), statusText(c, now), c.name]),
    ];
    io.stdout.write(renderTable(rows));
    return ExitCode.ok;
  } catch (error) {
    return reportStoreError(io, 'ps', error);
  }
}
