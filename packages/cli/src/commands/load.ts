import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { familiarName, importImages } from '@strata/cache';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { openStore, reportImageError } from '../store.js';

const syntax: CommandSyntax = {
  usage: 'strata load [OPTIONS]',
  description: [
    'Load images from a docker-archive or an OCI archive (also gzip-compressed), or from an OCI',
    'layout folder, into the store. Every blob is checked against its digest while it is read;',
    'a damaged archive tags nothing.',
  ].join('\n'),
  options: [
    { name: 'input', short: 'i', type: 'string', valueName: 'FILE', description: 'Read from FILE (an archive or an OCI layout folder) instead of standard input' },
    { name: 'name', type: 'string', valueName: 'REPO[:TAG]', description: 'Name for images the archive does not name (an OCI ref.name that is only a tag keeps its tag)' },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'Print nothing' },
  ],
  positionals: [0, 0],
};

/** `strata load [-i FILE] [--name REPO] [-q]` (also `strata image load`): prints `Loaded image: NAME` as docker does. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('load', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const input = argv.values.input as string | undefined;
  const name = argv.values.name as string | undefined;
  let spool: string | undefined;
  try {
    const store = await openStore(io);
    let path: string;
    if (input === undefined || input === '-') {
      spool = await mkdtemp(join(tmpdir(), 'strata-load-'));
      path = join(spool, 'archive.tar');
      await pipeline(io.stdin, createWriteStream(path));
    } else {
      path = resolve(io.cwd, input);
    }
    const result = await importImages(store, path, name === undefined ? {} : { name });
    if (argv.values.quiet !== true) for (const image of result.images) io.stdout.write(`Loaded image: ${familiarName(image.name)}\n`);
    return ExitCode.ok;
  } catch (error) {
    return reportImageError(io, 'load', error);
  } finally {
    if (spool !== undefined) await rm(spool, { recursive: true, force: true });
  }
}
