import { openStore } from '../store.js';
import {
  formatReference, hostPlatform, parsePlatform, parseReference, pullImage, type RegistryEvent,
} from '@strata/registry';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { insecureRegistryOption, registryClient, reportRegistryError, shortId } from './registry-common.js';

const syntax: CommandSyntax = {
  usage: 'strata pull [OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry into the store. For a multi-platform image, the\nplatform of this machine is chosen unless --platform names another.',
  options: [
    { name: 'platform', type: 'string', valueName: 'PLATFORM', description: 'os/arch[/variant] to pull from a multi-platform image (e.g. linux/arm64)' },
    { name: 'quiet', short: 'q', type: 'boolean', description: 'Print only the image name' },
    insecureRegistryOption,
  ],
  positionals: [1, 1],
};

/** `strata pull [--platform P] [-q] REF`, printing as docker does. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('pull', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const quiet = argv.values.quiet === true;
  try {
    const ref = parseReference(argv.positionals[0] ?? '');
    const platformText = argv.values.platform as string | undefined;
    const platform = platformText === undefined ? hostPlatform() : parsePlatform(platformText);
    const say = (line: string): void => {
      if (!quiet) io.stdout.write(`${line}\n`);
    };
    say(`${ref.tag ?? ref.digest ?? 'latest'}: Pulling from ${ref.repository}`);
    const onEvent = (event: RegistryEvent): void => {
      if (event.type === 'blob-present') say(`${shortId(event.digest)}: Already exists`);
      if (event.type === 'blob-downloaded') say(`${shortId(event.digest)}: Pull complete`);
    };
    const store = await openStore(io);
    const result = await pullImage(store, ref, { client: registryClient(io, argv.values['insecure-registry'] as string[] | undefined, onEvent), platform });
    say(`Digest: ${result.indexDigest ?? result.descriptor.digest}`);
    const familiar = formatReference(ref, { familiar: true });
    say(result.downloaded > 0 ? `Status: Downloaded newer image for ${familiar}` : `Status: Image is up to date for ${familiar}`);
    io.stdout.write(`${result.name}\n`);
    return ExitCode.ok;
  } catch (error) {
    return reportRegistryError(io, 'pull', error);
  }
}
