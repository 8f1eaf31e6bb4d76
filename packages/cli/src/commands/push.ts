import { parseDigest, type Digest, type Store } from '@strata/cache';
import { openStore } from '../store.js';
import {
  formatReference, manifestReference, parseReference, pushImage, type Reference, type RegistryEvent,
} from '@strata/registry';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { insecureRegistryOption, registryClient, reportRegistryError, shortId } from './registry-common.js';

const syntax: CommandSyntax = {
  usage: 'strata push [OPTIONS] NAME[:TAG]',
  description: 'Upload an image from the store to a registry. Layers the registry has are skipped;\nlayers of other images from the same registry are mounted instead of uploaded.',
  options: [
    { name: 'quiet', short: 'q', type: 'boolean', description: 'Print only the digest' },
    insecureRegistryOption,
  ],
  positionals: [1, 1],
};

/**
 * Repositories on the target registry that hold each blob, from the images in
 * the store named for that registry (what docker learns from its pulls).
 */
async function mountCandidates(store: Store, target: Reference): Promise<Map<string, string[]>> {
  const byDigest = new Map<string, string[]>();
  for (const image of await store.images()) {
    let ref: Reference;
    try {
      ref = parseReference(image.ref);
    } catch {
      continue;
    }
    if (ref.registry !== target.registry || ref.repository === target.repository) continue;
    const { blobs } = await store.imageBlobs(image.descriptor);
    for (const digest of blobs.keys()) {
      const repos = byDigest.get(digest) ?? [];
      if (!repos.includes(ref.repository)) repos.push(ref.repository);
      byDigest.set(digest, repos);
    }
  }
  return byDigest;
}

/** `strata push [-q] REF`, printing as docker does. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('push', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const quiet = argv.values.quiet === true;
  try {
    const ref = parseReference(argv.positionals[0] ?? '');
    const store = await openStore(io);
    const candidates = await mountCandidates(store, ref);
    const layerLines = new Map<string, string>();
    const onEvent = (event: RegistryEvent): void => {
      if (event.type !== 'blob-pushed') return;
      const status = event.outcome === 'exists' ? 'Layer already exists' : event.outcome === 'mounted' ? `Mounted from ${event.from ?? ''}` : 'Pushed';
      layerLines.set(event.digest, `${shortId(event.digest)}: ${status}`);
    };
    if (!quiet) io.stdout.write(`The push refers to repository [${formatReference({ registry: ref.registry, repository: ref.repository })}]\n`);
    const result = await pushImage(store, ref, {
      client: registryClient(io, argv.values['insecure-registry'] as string[] | undefined, onEvent),
      mountFrom: (digest: Digest) => candidates.get(digest) ?? [],
    });
    if (quiet) {
      io.stdout.write(`${result.digest}\n`);
      return ExitCode.ok;
    }
    // docker lists layers top first and leaves the config out
    const manifest = JSON.parse((await store.readBlob(parseDigest(result.digest))).toString('utf8')) as { layers?: { digest: string }[] };
    const layers = (manifest.layers ?? []).map((l) => l.digest).reverse();
    for (const digest of layers) {
      const line = layerLines.get(digest);
      if (line !== undefined) io.stdout.write(`${line}\n`);
    }
    io.stdout.write(`${manifestReference(ref)}: digest: ${result.digest} size: ${result.size}\n`);
    return ExitCode.ok;
  } catch (error) {
    return reportRegistryError(io, 'push', error);
  }
}
