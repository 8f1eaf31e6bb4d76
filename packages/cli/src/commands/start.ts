import { startContainer } from '@strata/builder';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import type { CliIo } from '../io.js';
import { openStore } from '../store.js';
import { containerStdio, holdSignals, releaseStdin, reportContainerError, RunExit } from './container-common.js';

const syntax: CommandSyntax = {
  usage: 'strata start [OPTIONS] CONTAINER',
  description: [
    'Run a stopped container again, in the foreground, with its writable layer as it was left:',
    'the same command, environment, user and mounts as its `strata run`. strata has no daemon, so a',
    'container always runs attached (-a is accepted for docker\'s command lines). Exits with the',
    'command\'s exit code (125 when strata could not run it).',
  ].join('\n'),
  options: [
    { name: 'attach', short: 'a', type: 'boolean', description: 'Attach the output (always on)' },
    { name: 'interactive', short: 'i', type: 'boolean', description: 'Pass standard input to the container' },
  ],
  positionals: [1, 1],
};

/** `strata start [-a] [-i] CONTAINER`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('start', args, syntax, io);
  if (typeof argv === 'number') return argv === 0 ? 0 : RunExit.failed;
  const [word = ''] = argv.positionals;
  const controller = new AbortController();
  const restore = holdSignals(() => controller.abort());
  let interactive = argv.values.interactive === true;
  try {
    const store = await openStore(io);
    const record = await store.containers.find(word);
    const tty = record.process.tty;
    interactive = interactive || (tty && record.process.interactive);
    const result = await startContainer(store, record.id, { stdio: containerStdio(io, tty, interactive), signal: controller.signal });
    return result.exitCode;
  } catch (error) {
    return reportContainerError(io, 'start', error, RunExit.failed);
  } finally {
    restore();
    if (interactive) releaseStdin(io);
  }
}
