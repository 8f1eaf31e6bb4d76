import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { saveImages, type Descriptor, type ExportImage, type Store } from '@strata/cache';
import { pushImage, type RegistryClient } from '@strata/registry';
import type { BuildOptions } from '../build-options.js';
import { buildError, BuildErrors } from '../errors.js';
import type { BuildEvent } from '../events.js';
import { formatOutput, type BuildOutput, type OutputCompression, type OutputResult } from './output-spec.js';

/** `options.output` as a list; `options.compression` given to the outputs that name none (a docker-archive is always gzip). */
export function outputsOf(options: BuildOptions): readonly BuildOutput[] {
  const { output, compression } = options;
  if (output === undefined) return [];
  const list = Array.isArray(output) ? (output as readonly BuildOutput[]) : [output as BuildOutput];
  if (compression === undefined) return list;
  return list.map((o) => (o.type === 'docker' || o.compression !== undefined ? o : { ...o, compression }));
}

/**
 * The layer compression an output writes: the one it asks for (or
 * `BuildOptions.compression`), every layer converted to it; by default gzip
 * for the uncompressed layers, compressed ones as they are. A docker-archive
 * is always gzip. The image in the store is never compressed: an output
 * writes the store's export form of it (@strata/cache `exportForm`).
 */
export function outputCompression(output: BuildOutput): { compression: OutputCompression; force: boolean } {
  const asked = 'compression' in output ? output.compression : undefined;
  return asked === undefined ? { compression: 'gzip', force: false } : { compression: asked, force: true };
}

/** Refuses outputs that cannot be written, before anything is built. */
export function checkOutputs(options: BuildOptions, platforms: number): void {
  for (const output of outputsOf(options)) {
    const text = formatOutput(output);
    if (output.type !== 'registry') {
      const folder = dirname(resolve(output.dest));
      if (!statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
        throw buildError(BuildErrors.outputInvalid, [text, `the folder ${folder} does not exist`]);
      }
    }
    if (output.type === 'docker' && platforms > 1) {
      throw buildError(BuildErrors.outputInvalid, [text, 'a docker-archive holds one platform; use type=oci for a multi-platform build']);
    }
    if (output.type === 'registry') {
      if ((options.tags ?? []).length === 0) throw buildError(BuildErrors.outputInvalid, [text, 'there is nothing to push: name the image with a tag (-t REGISTRY/NAME:TAG)']);
      if (options.registry === undefined) throw buildError(BuildErrors.outputInvalid, [text, 'pushing needs a registry client (BuildOptions.registry)']);
    }
  }
}

export interface OutputSubject {
  readonly store: Store;
  /** The built image: a manifest, or an index for several platforms. */
  readonly descriptor: Descriptor;
  /** The normalized references it was tagged with. */
  readonly tags: readonly string[];
  readonly registry?: RegistryClient;
  readonly emit: (event: BuildEvent) => void;
  readonly signal?: AbortSignal;
}

async function writeOne(output: BuildOutput, subject: OutputSubject): Promise<OutputResult[]> {
  const { store, descriptor, tags } = subject;
  const { compression, force } = outputCompression(output);
  if (output.type === 'registry') {
    const results: OutputResult[] = [];
    for (const tag of tags) {
      subject.signal?.throwIfAborted();
      // the export form is made (and remembered) at the first tag; the others find it
      const pushed = await pushImage(store, tag, { client: subject.registry as RegistryClient, compression, force });
      results.push({ type: 'registry', target: tag, digest: pushed.digest });
    }
    return results;
  }
  // Archives come from @strata/cache's exporter, as `strata save` writes them.
  const images: ExportImage[] = tags.length === 0 ? [{ descriptor }] : tags.map((name) => ({ name, descriptor }));
  const dest = resolve(output.dest);
  const saved = await saveImages(store, images, dest, {
    format: output.type,
    compression,
    force,
    ...(subject.signal === undefined ? {} : { signal: subject.signal }),
  });
  return [{ type: output.type, target: dest, digest: saved[0]?.descriptor.digest ?? descriptor.digest }];
}

/**
 * Writes the archives and pushes the tags that the outputs ask for, in the
 * order given, each announced by `export-started` and `export-completed`.
 */
export async function writeOutputs(outputs: readonly BuildOutput[], subject: OutputSubject): Promise<OutputResult[]> {
  const results: OutputResult[] = [];
  for (const output of outputs) {
    subject.signal?.throwIfAborted();
    const started = Date.now();
    const text = formatOutput(output);
    subject.emit({ type: 'export-started', timestamp: started, output: text });
    const done = await writeOne(output, subject);
    results.push(...done);
    subject.emit({ type: 'export-completed', timestamp: Date.now(), output: text, targets: done.map((r) => ({ target: r.target, digest: r.digest })), durationMs: Date.now() - started });
  }
  return results;
}
