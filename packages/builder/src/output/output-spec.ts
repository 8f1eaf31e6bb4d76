import { buildError, BuildErrors } from '../errors.js';

/** A layer compression an output can ask for. */
export type OutputCompression = 'gzip' | 'zstd';

/**
 * Where a build's result goes besides the store (BuildKit's exporters):
 *
 * - `oci`: an OCI archive (an OCI image layout in a tar) at `dest`; a
 *   multi-platform build writes its index.
 * - `docker`: a docker-archive (what `docker load` reads) at `dest`; one
 *   platform, gzip layers.
 * - `registry`: every tag pushed to its registry (`--push`).
 *
 * Each writes the store's export form of the image: its uncompressed (built)
 * layers gzip, compressed once and remembered. `compression` applies to what
 * the output writes, every layer converted to it; the image in the store
 * keeps its layers as they are (and its ID: the config does not change).
 */
export type BuildOutput =
  | { readonly type: 'oci'; readonly dest: string; readonly compression?: OutputCompression }
  | { readonly type: 'docker'; readonly dest: string }
  | { readonly type: 'registry'; readonly compression?: OutputCompression };

/** What a finished output did. */
export interface OutputResult {
  readonly type: BuildOutput['type'];
  /** The file written, or the reference pushed. */
  readonly target: string;
  /** The digest of the top manifest or index written or pushed. */
  readonly digest: string;
}

/** `type=oci,dest=out.tar` → its fields (docker's CSV form; values are not quoted). */
function fields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq === -1) throw buildError(BuildErrors.outputInvalid, [text, `'${part}' is not KEY=VALUE`]);
    const key = part.slice(0, eq).trim().toLowerCase();
    if (out.has(key)) throw buildError(BuildErrors.outputInvalid, [text, `${key} is given twice`]);
    out.set(key, part.slice(eq + 1).trim());
  }
  return out;
}

/**
 * Reads docker's `--output` syntax: `type=oci,dest=FILE[,compression=zstd]`,
 * `type=docker,dest=FILE`, `type=registry[,compression=zstd]`. `dest` is
 * returned as written (the caller resolves it against its directory).
 */
export function parseOutputSpec(text: string): BuildOutput {
  const f = fields(text);
  const type = f.get('type');
  const dest = f.get('dest');
  const compression = f.get('compression');
  for (const key of f.keys()) {
    if (!['type', 'dest', 'compression'].includes(key)) throw buildError(BuildErrors.outputInvalid, [text, `unknown field '${key}'`]);
  }
  if (compression !== undefined && compression !== 'gzip' && compression !== 'zstd') {
    throw buildError(BuildErrors.outputInvalid, [text, `compression must be gzip or zstd, not '${compression}'`]);
  }
  const withCompression: { compression?: OutputCompression } = compression === undefined ? {} : { compression };
  switch (type) {
    case 'oci':
    case 'docker': {
      if (dest === undefined || dest === '') throw buildError(BuildErrors.outputInvalid, [text, `type=${type} needs dest=FILE`]);
      if (type === 'docker') {
        if (compression !== undefined) throw buildError(BuildErrors.outputInvalid, [text, 'a docker-archive holds gzip layers (what docker load reads); compression applies to type=oci and type=registry']);
        return { type, dest };
      }
      return { type, dest, ...withCompression };
    }
    case 'registry':
      if (dest !== undefined) throw buildError(BuildErrors.outputInvalid, [text, 'type=registry pushes the tags (-t); it takes no dest']);
      return { type, ...withCompression };
    case undefined:
      throw buildError(BuildErrors.outputInvalid, [text, 'type= is missing']);
    default:
      throw buildError(BuildErrors.outputInvalid, [text, `unknown type '${type}' (oci, docker or registry)`]);
  }
}

/** Text of an output for messages and events: `type=oci,dest=FILE`. */
export function formatOutput(output: BuildOutput): string {
  const parts = [`type=${output.type}`];
  if ('dest' in output) parts.push(`dest=${output.dest}`);
  if ('compression' in output && output.compression !== undefined) parts.push(`compression=${output.compression}`);
  return parts.join(',');
}
