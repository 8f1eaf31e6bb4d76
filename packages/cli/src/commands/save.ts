import { exportImages, saveImages, type ArchiveFormat, type ExportImage } from '@strata/cache';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { parseCommandLine, writeUsageError, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { findImage, openStore, platformChooser, reportImageError } from '../store.js';

const syntax: CommandSyntax = {
  usage: 'strata save [OPTIONS] IMAGE [IMAGE...]',
  description: [
    'Write images to a tar archive: a docker-archive that `docker load` reads (default), or an',
    'OCI archive (--format oci). A docker-archive holds one platform of a multi-platform image',
    '(this machine\'s, or --platform); an OCI archive keeps the whole index.',
  ].join('\n'),
  options: [
    { name: 'output', short: 'o', type: 'string', valueName: 'FILE', description: 'Write to FILE instead of standard output' },
    { name: 'format', type: 'string', valueName: 'FORMAT', description: 'docker (default) or oci' },
    { name: 'platform', type: 'string', valueName: 'PLATFORM', description: 'os/arch[/variant] to save of a multi-platform image (docker format)' },
  ],
  positionals: [1, Number.POSITIVE_INFINITY],
};

/** `strata save [-o FILE] [--format docker|oci] [--platform P] IMAGE...` (also `strata image save`). */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('save', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const usageError = (message: string): number => writeUsageError(io, 'save', syntax, message);
  const format = (argv.values.format as string | undefined) ?? 'docker';
  if (format !== 'docker' && format !== 'oci') return usageError(`unknown format '${format}' (docker or oci)`);
  const output = argv.values.output as string | undefined;
  if (output === undefined && io.isTty) {
    io.stderr.write('strata save: cowardly refusing to write an archive to a terminal; use -o FILE or redirect the output\n');
    return ExitCode.usage;
  }
  try {
    const store = await openStore(io);
    const platform = argv.values.platform as string | undefined;
    const images: ExportImage[] = [];
    for (const word of argv.positionals) {
      const found = await findImage(store, word, platform);
      if (found === undefined) {
        io.stderr.write(`Error: No such image: ${word}\nhint: \`strata images\` lists the names and IDs in the store.\n`);
        return ExitCode.failure;
      }
      if (found.byId) images.push({ descriptor: found.descriptor });
      else for (const name of found.names) images.push({ name, descriptor: found.descriptor });
    }
    const { choose, wanted } = platformChooser(platform);
    const options = { format: format as ArchiveFormat, choose, wanted };
    if (output === undefined) {
      // standard output stays open (it is not ours to end)
      for await (const chunk of exportImages(store, images, options)) {
        if (!io.stdout.write(chunk as Uint8Array)) await once(io.stdout, 'drain');
      }
    }
    else await saveImages(store, images, resolve(io.cwd, output), options);
    return ExitCode.ok;
  } catch (error) {
    return reportImageError(io, 'save', error);
  }
}
