// What the registry verbs (pull, push, login, logout) share: the client with
// the insecure-registry list, and error reports with code and hint.
import { isCacheError } from '@strata/cache';
import { insecureRegistriesFromEnv, isRegistryError, RegistryClient, type RegistryEventSink } from '@strata/registry';
import type { OptionSpec } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export const insecureRegistryOption: OptionSpec = {
  name: 'insecure-registry',
  type: 'string',
  valueName: 'HOST',
  multiple: true,
  description: 'Use plain HTTP for HOST[:PORT] (also STRATA_INSECURE_REGISTRIES; localhost and 127.0.0.0/8 always are)',
};

/** A registry client for a command: docker credentials from DOCKER_CONFIG/HOME of `io.env`. */
export function registryClient(io: CliIo, insecure: readonly string[] | undefined, onEvent?: RegistryEventSink): RegistryClient {
  return new RegistryClient({
    insecureRegistries: [...insecureRegistriesFromEnv(io.env), ...(insecure ?? [])],
    dockerConfig: { env: io.env },
    ...(onEvent !== undefined ? { onEvent } : {}),
  });
}

/** Prints a registry or store error with its code and hint; other errors go up. */
export function reportRegistryError(io: CliIo, command: string, error: unknown): number {
  if (!isRegistryError(error) && !isCacheError(error)) throw error;
  io.stderr.write(`strata ${command}: ${error.code}: ${error.message}\n${error.hint === undefined ? '' : `hint: ${error.hint}\n`}`);
  return ExitCode.failure;
}

/** docker's short layer id: the first 12 hex digits of a digest. */
export function shortId(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}

/** Reads all of stdin (for --password-stdin), without the trailing newline. */
export async function readStdin(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
