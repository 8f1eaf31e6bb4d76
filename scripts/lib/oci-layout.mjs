#!/usr/bin/env node
// Writes a one-layer OCI image layout from a rootfs tar (used by scripts/test-images).
//
// usage: node scripts/lib/oci-layout.mjs SPEC.json
//
// SPEC.json:
//   { "rootfs": "/path/rootfs.tar",        uncompressed layer tar
//     "layout": "/path/layout-dir",        created (must not exist, or be empty)
//     "platform": { "os": "linux", "architecture": "arm64", "variant": "v8" },
//     "created": 1700000000,               seconds since the epoch (SOURCE_DATE_EPOCH)
//     "config": { "Env": [...], "Cmd": [...] },
//     "history": { "created_by": "...", "comment": "..." },
//     "ref": "latest",
//     "annotations": { ... } }             optional, on the manifest
//
// Prints one JSON line: { manifestDigest, manifestSize, configDigest, configSize,
// layerDigest, layerSize, diffId }.
//
// Every file is written to a temporary name, fsynced and renamed into place;
// blobs first, index.json last, so a layout with an index.json is complete.
// The layer is gzipped by node:zlib with no name and mtime 0 in its header;
// digests are sha256 via node:crypto, computed while streaming.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';

export const MEDIA_TYPES = Object.freeze({
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
});

const REF_NAME = 'org.opencontainers.image.ref.name';

/** A pass-through stream that hashes and counts what flows through it. */
function hashingStream() {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  return {
    stream,
    result: () => ({ digest: `sha256:${hash.digest('hex')}`, size }),
  };
}

async function fsyncPath(path) {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes bytes to `path` through a temporary file, fsync and rename. */
async function writeFileAtomic(path, bytes) {
  const tmp = `${path}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

function blobPath(layout, digest) {
  const [algorithm, hex] = digest.split(':');
  return join(layout, 'blobs', algorithm, hex);
}

/** Stores bytes as a blob; returns its descriptor fields. */
async function writeBlob(layout, bytes) {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFileAtomic(blobPath(layout, digest), bytes);
  return { digest, size: bytes.length };
}

/** Gzips the rootfs tar into a blob; returns the compressed digest and the diffId. */
async function writeLayer(layout, rootfs) {
  const tmp = join(layout, 'blobs', 'sha256', `.layer.tmp-${process.pid}`);
  const uncompressed = hashingStream();
  const compressed = hashingStream();
  try {
    await pipeline(
      createReadStream(rootfs),
      uncompressed.stream,
      createGzip({ level: 6 }),
      compressed.stream,
      createWriteStream(tmp, { mode: 0o644 }),
    );
    await fsyncPath(tmp);
    const layer = compressed.result();
    await rename(tmp, blobPath(layout, layer.digest));
    return { ...layer, diffId: uncompressed.result().digest };
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}

/** JSON with sorted keys at every level, so equal content gives equal digests. */
export function canonicalJson(value) {
  const sort = (v) => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])]));
    }
    return v;
  };
  return Buffer.from(JSON.stringify(sort(value)));
}

function requireField(spec, path) {
  let value = spec;
  for (const key of path.split('.')) value = value?.[key];
  if (value === undefined || value === null || value === '') {
    throw new Error(`oci-layout: spec is missing "${path}"`);
  }
  return value;
}

/** Writes the layout described by `spec` (see the header); returns the digests. */
export async function writeLayout(spec) {
  const rootfs = requireField(spec, 'rootfs');
  const layout = requireField(spec, 'layout');
  const os = requireField(spec, 'platform.os');
  const architecture = requireField(spec, 'platform.architecture');
  const created = new Date(Number(requireField(spec, 'created')) * 1000).toISOString().replace('.000Z', 'Z');
  const platform = { architecture, os, ...(spec.platform.variant ? { variant: spec.platform.variant } : {}) };

  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });

  const layer = await writeLayer(layout, rootfs);

  const config = await writeBlob(
    layout,
    canonicalJson({
      created,
      ...platform,
      config: spec.config ?? {},
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created, ...(spec.history ?? {}) }],
    }),
  );

  const manifest = await writeBlob(
    layout,
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      config: { mediaType: MEDIA_TYPES.config, digest: config.digest, size: config.size },
      layers: [{ mediaType: MEDIA_TYPES.layerGzip, digest: layer.digest, size: layer.size }],
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
    }),
  );

  await writeFileAtomic(join(layout, 'oci-layout'), canonicalJson({ imageLayoutVersion: '1.0.0' }));
  await writeFileAtomic(
    join(layout, 'index.json'),
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests: [
        {
          mediaType: MEDIA_TYPES.manifest,
          digest: manifest.digest,
          size: manifest.size,
          platform,
          annotations: { [REF_NAME]: spec.ref ?? 'latest' },
        },
      ],
    }),
  );
  for (const dir of [join(layout, 'blobs', 'sha256'), join(layout, 'blobs'), layout]) await fsyncPath(dir);

  return {
    manifestDigest: manifest.digest,
    manifestSize: manifest.size,
    configDigest: config.digest,
    configSize: config.size,
    layerDigest: layer.digest,
    layerSize: layer.size,
    diffId: layer.diffId,
  };
}

async function main(argv) {
  if (argv.length !== 1 || argv[0].startsWith('-')) {
    process.stderr.write('usage: node scripts/lib/oci-layout.mjs SPEC.json\n');
    return 2;
  }
  const spec = JSON.parse(await readFile(argv[0], 'utf8'));
  process.stdout.write(`${JSON.stringify(await writeLayout(spec))}\n`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`oci-layout: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
