import { familiarName, isCacheError, type Store } from '@strata/cache';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { findImage, openStore, reportImageError, shortImageId, type FoundImage } from '../store.js';

const syntax: CommandSyntax = {
  usage: 'strata rmi [OPTIONS] IMAGE [IMAGE...]',
  description: [
    'Remove image names from the store. A name removes that tag; an image ID removes every',
    'tag of the image (with --force when it has several). Layers no tag needs any more',
    'are deleted by `strata prune`. The last name of an image that a container uses is kept unless',
    '--force (the image itself stays for the container in any case).',
  ].join('\n'),
  options: [
    { name: 'force', short: 'f', type: 'boolean', description: 'Remove every tag of an image ID that has several, or the last tag of an image a container uses' },
  ],
  positionals: [1, Number.POSITIVE_INFINITY],
};

/**
 * The short ID of a container that uses the image, when removing these names
 * leaves the image with no name (docker only refuses the last reference).
 */
async function containerUsing(store: Store, found: FoundImage): Promise<string | undefined> {
  const users = (await store.containers.list()).filter(
    (c) => c.imageId === found.image.configDigest || c.manifest.digest === found.image.descriptor.digest,
  );
  if (users.length === 0) return undefined;
  const everyName = found.byId ? found.names : ((await findImage(store, found.image.configDigest))?.names ?? found.names);
  if (everyName.some((n) => !found.names.includes(n))) return undefined;
  return users[0]?.id.slice(0, 12);
}

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
      if (!force) {
        const user = await containerUsing(store, found);
        if (user !== undefined) {
          io.stderr.write(
            `Error: conflict: unable to remove repository reference "${word}" (must force) - container ${user} is using its referenced image ${shortImageId(found.image.configDigest)}\n`,
          );
          code = ExitCode.failure;
          continue;
        }
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
