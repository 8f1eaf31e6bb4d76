import { commitContainer } from '@strata/builder';
import type { ContainerConfig } from '@strata/cache';
import { parseCommandLine, writeUsageError, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { openStore } from '../store.js';
import { reportContainerError } from './container-common.js';
import { applyChange, ChangeError } from './import.js';

const syntax: CommandSyntax = {
  usage: 'strata commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  description: [
    'Make an image from a stopped container: its writable layer becomes a new layer (deletions as',
    'whiteouts, replaced folders as opaque) on top of its image, with a history entry holding the',
    'container\'s command, the message and the author. The config is the container\'s (its command,',
    'environment, workdir and user); --change edits it with CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK,',
    'LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. Prints the image ID.',
  ].join('\n'),
  options: [
    { name: 'message', short: 'm', type: 'string', valueName: 'TEXT', description: 'Commit message (the history comment)' },
    { name: 'author', short: 'a', type: 'string', valueName: 'NAME', description: 'Author (e.g. "Jane Doe <jane@example.com>")' },
    { name: 'change', short: 'c', type: 'string', valueName: 'INSTRUCTION', multiple: true, description: 'Apply a Dockerfile instruction to the config (repeatable)' },
  ],
  positionals: [1, 2],
};

/** `strata commit [-m TEXT] [-a AUTHOR] [-c INSTRUCTION]... CONTAINER [REF]`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('commit', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const [word = '', ref] = argv.positionals;
  const changes = (argv.values.change as string[] | undefined) ?? [];
  const change = (config: ContainerConfig) => changes.reduce((c, text) => applyChange(c, text), config);
  try {
    // a wrong --change is a usage error, found before any work
    change({});
  } catch (error) {
    if (error instanceof ChangeError) return writeUsageError(io, 'commit', syntax, error.message);
    throw error;
  }
  const message = argv.values.message as string | undefined;
  const author = argv.values.author as string | undefined;
  try {
    const store = await openStore(io);
    const result = await commitContainer(store, word, {
      change,
      ...(message === undefined ? {} : { message }),
      ...(author === undefined ? {} : { author }),
      ...(ref === undefined ? {} : { tag: ref }),
    });
    io.stdout.write(`${result.imageId}\n`);
    if (ref === undefined) io.stderr.write('strata commit: the image has no name, so `strata prune` will remove it; give one (REPOSITORY[:TAG]) to keep it\n');
    return ExitCode.ok;
  } catch (error) {
    return reportContainerError(io, 'commit', error, ExitCode.failure);
  }
}
