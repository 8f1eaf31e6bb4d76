import { removeContainer } from '@strata/builder';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { openStore } from '../store.js';
import { reportContainerError } from './container-common.js';

const syntax: CommandSyntax = {
  usage: 'strata rm [OPTIONS] CONTAINER [CONTAINER...]',
  description: [
    'Remove containers (by name, ID or ID prefix) with their writable layers. Their images stay;',
    '`strata rmi` and `strata prune` remove those once no container uses them.',
  ].join('\n'),
  options: [{ name: 'force', short: 'f', type: 'boolean', description: 'Kill and remove a running container' }],
  positionals: [1, Number.POSITIVE_INFINITY],
};

/** `strata rm [-f] CONTAINER...`: prints each argument removed, as docker does. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('rm', args, syntax, io);
  if (typeof argv === 'number') return argv;
  let code: number = ExitCode.ok;
  let store;
  try {
    store = await openStore(io);
  } catch (error) {
    return reportContainerError(io, 'rm', error, ExitCode.failure);
  }
  for (const word of argv.positionals) {
    try {
      await removeContainer(store, word, { force: argv.values.force === true });
      io.stdout.write(`${word}\n`);
    } catch (error) {
      code = reportContainerError(io, 'rm', error, ExitCode.failure);
    }
  }
  return code;
}
