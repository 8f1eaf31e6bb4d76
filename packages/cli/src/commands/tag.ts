import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { findImage, openStore, reportImageError } from '../store.js';

const syntax: CommandSyntax = {
  usage: 'strata tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Give an image in the store another name. SOURCE is a name or an image ID; a multi-platform\nimage keeps all its platforms under the new name.',
  options: [],
  positionals: [2, 2],
};

/** `strata tag SOURCE TARGET` (also `strata image tag`). */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('tag', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const [source = '', target = ''] = argv.positionals;
  try {
    const store = await openStore(io);
    const found = await findImage(store, source);
    if (found === undefined) {
      io.stderr.write(`Error: No such image: ${source}\nhint: \`strata images\` lists the names and IDs in the store.\n`);
      return ExitCode.failure;
    }
    await store.tag(target, found.descriptor);
    return ExitCode.ok;
  } catch (error) {
    return reportImageError(io, 'tag', error);
  }
}
