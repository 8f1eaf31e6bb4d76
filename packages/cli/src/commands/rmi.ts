import { familiarName, isCacheError } from '@strata/cache';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { findImage, openStore, reportImageError, shortImageId } from '../store.js';

const syntax: CommandSyntax = {
  usage: 'strata rmi [OPTIONS] IMAGE [IMAGE...]',
  description: [
    'Remove image names from the store. A name removes that tag; an image ID removes every',
    'tag of the image (with --force when it has several). Layers no tag needs any more',
    'are deleted by `strata prune`.',
  ].join('\n'),
  options: [{ name: 'force', short: 'f', type: 'boolean', description: 'Remove every tag of an image ID that has several' }],
  positionals: [1, Number.POSITIVE_INFINITY],
};

/** `strata rmi [-f] IMAGE...` (also `strata image rm`): prints `Untagged: NAME` per tag, as docker does. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('rmi', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const force = argv.values.force === true;
  let code: number = ExitCode.ok;
  try {
    const store = await openStore(io);
    for (const word of argv.positionals) {
      let found;
      try {
        found = await findImage(store, word);
      } catch (error) {
        // A tag whose image is damaged can still be removed by its name.
        if (!isCacheError(error) || error.code === 'CACHE_INVALID_REFERENCE') throw error;
        found = undefined;
        if (await store.untag(word)) {
          io.stdout.write(`Untagged: ${familiarName(word)}\n`);
          continue;
        }
      }
      if (found === undefined) {
        io.stderr.write(`Error: No such image: ${word}\n`);
        code = ExitCode.failure;
        continue;
      }
      if (found.byId && found.names.length > 1 && !force) {
        io.stderr.write(`Error: conflict: unable to delete ${shortImageId(found.image.configDigest)} (must be forced) - image is referenced in multiple repositories\n`);
        code = ExitCode.failure;
        continue;
      }
      for (const name of found.names) {
        if (await store.untag(name)) io.stdout.write(`Untagged: ${familiarName(name)}\n`);
      }
    }
    return code;
  } catch (error) {
    return reportImageError(io, 'rmi', error);
  }
}
