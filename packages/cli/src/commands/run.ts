import { createContainer, startContainer } from '@strata/builder';
import type { ContainerVolume } from '@strata/cache';
import { parseCommandLine, writeUsageError, type CommandSyntax } from '../argv.js';
import type { CliIo } from '../io.js';
import { findImage, openStore } from '../store.js';
import { containerStdio, holdSignals, releaseStdin, reportContainerError, RunExit, splitAtImage } from './container-common.js';

const syntax: CommandSyntax = {
  usage: 'strata run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: [
    'Create a container from an image of the store and run its ENTRYPOINT/CMD (or COMMAND) in runc,',
    'in the foreground: an overlay of the image\'s layers with a writable layer of its own, kept',
    'until `strata rm` (`strata commit` turns it into an image). Exits with the command\'s exit code;',
    '125 when strata could not run it, 126 when the command cannot be run, 127 when it is not found.',
  ].join('\n'),
  options: [
    { name: 'name', type: 'string', valueName: 'NAME', description: 'Name the container (default: a random adjective_animal)' },
    { name: 'rm', type: 'boolean', description: 'Remove the container when it exits' },
    { name: 'env', short: 'e', type: 'string', valueName: 'K=V', multiple: true, description: 'Set an environment variable (a bare K takes this shell\'s value)' },
    { name: 'workdir', short: 'w', type: 'string', valueName: 'DIR', description: 'Working folder inside the container' },
    { name: 'user', short: 'u', type: 'string', valueName: 'USER', description: 'name|uid[:group|gid] to run as' },
    { name: 'network', type: 'string', valueName: 'MODE', description: "'default' (a network of its own: the internet, not this machine's loopback or addresses), 'host' (this machine's network) or 'none' (loopback only)" },
    { name: 'volume', short: 'v', type: 'string', valueName: 'HOST:CTR[:ro]', multiple: true, description: 'Bind-mount a host folder (absolute path) into the container' },
    { name: 'interactive', short: 'i', type: 'boolean', description: 'Pass standard input to the container' },
    { name: 'tty', short: 't', type: 'boolean', description: 'Give the container a terminal (needs one here; runc relays it)' },
    { name: 'platform', type: 'string', valueName: 'PLATFORM', description: 'Platform to pick from a multi-platform image' },
  ],
  positionals: [1, 1],
};

function parseVolume(text: string): ContainerVolume | string {
  const parts = text.split(':');
  const [source, target, mode] = parts;
  if (parts.length < 2 || parts.length > 3 || source === undefined || target === undefined) return `-v ${text}: expected HOSTDIR:CTRDIR[:ro|rw]`;
  if (!source.startsWith('/')) return `-v ${text}: the host folder must be an absolute path (named volumes are not supported)`;
  if (!target.startsWith('/')) return `-v ${text}: the container path must be absolute`;
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') return `-v ${text}: the mode is ro or rw, not ${mode}`;
  return { source, target, readonly: mode === 'ro' };
}

/** `strata run [--name N] [--rm] [-e K=V]... [-w DIR] [-u USER] [--network default|host|none] [-v H:C[:ro]]... [-i] [-t] IMAGE [CMD...]`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { head, command } = splitAtImage(args, syntax);
  const argv = parseCommandLine('run', head, syntax, io);
  if (typeof argv === 'number') return argv === 0 ? 0 : RunExit.failed;
  const usage = (message: string) => (writeUsageError(io, 'run', syntax, message), RunExit.failed);
  const network = (argv.values.network as string | undefined) ?? 'default';
  if (network !== 'default' && network !== 'host' && network !== 'none') return usage(`--network ${network}: strata runs containers with 'default', 'host' or 'none'`);
  const volumes: ContainerVolume[] = [];
  for (const text of (argv.values.volume as string[] | undefined) ?? []) {
    const v = parseVolume(text);
    if (typeof v === 'string') return usage(v);
    volumes.push(v);
  }
  const tty = argv.values.tty === true;
  const interactive = argv.values.interactive === true;
  const [image = ''] = argv.positionals;
  const controller = new AbortController();
  const restore = holdSignals(() => controller.abort());
  try {
    const store = await openStore(io);
    const platform = argv.values.platform as string | undefined;
    const found = await findImage(store, image, platform);
    if (found === undefined) {
      io.stderr.write(`strata run: Unable to find image '${image}' in the store\nhint: pull it (strata pull ${image}), load it (strata load -i FILE) or build it.\n`);
      return RunExit.failed;
    }
    const str = (name: string) => argv.values[name] as string | undefined;
    const record = await createContainer(store, {
      image,
      manifest: found.image.descriptor,
      ...(str('name') === undefined ? {} : { name: str('name') as string }),
      command,
      env: (argv.values.env as string[] | undefined) ?? [],
      hostEnv: io.env,
      ...(str('workdir') === undefined ? {} : { workdir: str('workdir') as string }),
      ...(str('user') === undefined ? {} : { user: str('user') as string }),
      network,
      volumes,
      tty,
      interactive,
      autoRemove: argv.values.rm === true,
    });
    const result = await startContainer(store, record.id, { stdio: containerStdio(io, tty, interactive), signal: controller.signal });
    return result.exitCode;
  } catch (error) {
    return reportContainerError(io, 'run', error, RunExit.failed);
  } finally {
    restore();
    if (interactive && !tty) releaseStdin(io);
  }
}
