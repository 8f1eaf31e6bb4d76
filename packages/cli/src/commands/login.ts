import {
  DOCKER_HUB, dockerConfigPath, normalizeRegistryHost, RegistryClient, storeCredentials,
} from '@strata/registry';
import { parseCommandLine, writeUsageError, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { insecureRegistryOption, readStdin, registryClient, reportRegistryError } from './registry-common.js';

const syntax: CommandSyntax = {
  usage: 'strata login [OPTIONS] [SERVER]',
  description: [
    'Log in to a registry (default: Docker Hub). The credentials are checked against the',
    'registry, then stored as docker stores them: through the credential helper that',
    '~/.docker/config.json names (credsStore, credHelpers), else in config.json (mode 0600).',
  ].join('\n'),
  options: [
    { name: 'username', short: 'u', type: 'string', valueName: 'USER', description: 'Username' },
    { name: 'password', short: 'p', type: 'string', valueName: 'PASSWORD', description: 'Password (prefer --password-stdin)' },
    { name: 'password-stdin', type: 'boolean', description: 'Take the password from stdin' },
    insecureRegistryOption,
  ],
  positionals: [0, 1],
};

/** `strata login [-u USER] [-p PASSWORD | --password-stdin] [SERVER]`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('login', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const usageError = (message: string): number => writeUsageError(io, 'login', syntax, message);
  const username = argv.values.username as string | undefined;
  let password = argv.values.password as string | undefined;
  if (argv.values['password-stdin'] === true) {
    if (password !== undefined) return usageError('--password and --password-stdin are mutually exclusive');
    if (username === undefined) return usageError('Must provide --username with --password-stdin');
    password = await readStdin(io);
  }
  if (username === undefined || username === '' || password === undefined || password === '') {
    return usageError('non-interactive login needs --username and a password (--password-stdin or --password)');
  }
  if (argv.values.password !== undefined) {
    io.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  const server = normalizeRegistryHost(argv.positionals[0] ?? DOCKER_HUB);
  try {
    const client: RegistryClient = registryClient(io, argv.values['insecure-registry'] as string[] | undefined);
    await client.checkCredentials(server, { username, password });
    const where = await storeCredentials(server, { username, password }, { env: io.env });
    if (where.kind === 'file') {
      io.stderr.write(
        `WARNING! Your password will be stored unencrypted in ${dockerConfigPath({ env: io.env })}.\n` +
          'Configure a credential helper to remove this warning. See\n' +
          'https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n\n',
      );
    }
    io.stdout.write('Login Succeeded\n');
    return ExitCode.ok;
  } catch (error) {
    return reportRegistryError(io, 'login', error);
  }
}
