import { DOCKER_HUB, eraseCredentials, normalizeRegistryHost } from '@strata/registry';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { reportRegistryError } from './registry-common.js';

const syntax: CommandSyntax = {
  usage: 'strata logout [SERVER]',
  description: 'Remove the stored credentials for a registry (default: Docker Hub).',
  options: [],
  positionals: [0, 1],
};

/** `strata logout [SERVER]`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('logout', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const server = normalizeRegistryHost(argv.positionals[0] ?? DOCKER_HUB);
  try {
    if (await eraseCredentials(server, { env: io.env })) {
      io.stdout.write(`Removing login credentials for ${server}\n`);
    } else {
      io.stdout.write(`Not logged in to ${server}\n`);
    }
    return ExitCode.ok;
  } catch (error) {
    return reportRegistryError(io, 'logout', error);
  }
}
