/**
 * A real overlayfs mount: changes made through the merged view land in the
 * upper directory as whiteouts and opaque directories; the layer written from
 * it, applied by umoci on top of the lower layer, gives the merged tree back.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import { writeLayer, type LayerWriteResult } from '../../src/layer/index.js';
import { summarize } from './support/fixture.js';
import { readTar } from './support/tar-reader.js';

let work: string;
let lower: string;
let upper: string;
let merged: string;
let mergedTree: ReturnType<typeof summarize>;

function sha(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

beforeAll(() => {
  work = mkdtempSync('/dev/shm/strata-overlay-layer-');
  lower = join(work, 'lower');
  upper = join(work, 'upper');
  merged = join(work, 'merged');
  for (const d of [lower, upper, merged, join(work, 'work')]) mkdirSync(d);
  for (const d of ['etc', 'keep/deep', 'replaced/sub', 'doomed/inner', 'usr/bin']) mkdirSync(join(lower, d), { recursive: true });
  writeFileSync(join(lower, 'etc/hostname'), 'lower\n');
  writeFileSync(join(lower, 'etc/gone.conf'), 'deleted in the upper layer\n');
  writeFileSync(join(lower, 'keep/deep/file'), 'untouched\n');
  writeFileSync(join(lower, 'replaced/old'), 'old\n');
  writeFileSync(join(lower, 'replaced/sub/older'), 'older\n');
  writeFileSync(join(lower, 'doomed/inner/x'), 'x\n');
  writeFileSync(join(lower, 'usr/bin/tool'), '#!/bin/sh\n');
  chmodSync(join(lower, 'usr/bin/tool'), 0o755);

  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${join(work, 'work')}`, merged]);
  try {
    rmSync(join(merged, 'etc/gone.conf'));
    rmSync(join(merged, 'doomed'), { recursive: true });
    rmSync(join(merged, 'replaced'), { recursive: true });
    mkdirSync(join(merged, 'replaced'));
    writeFileSync(join(merged, 'replaced/new'), 'new\n');
    appendFileSync(join(merged, 'etc/hostname'), 'changed\n');
    chmodSync(join(merged, 'usr/bin/tool'), 0o4750);
    mkdirSync(join(merged, 'opt/added'), { recursive: true });
    writeFileSync(join(merged, 'opt/added/file'), 'added\n');
    symlinkSync('../opt/added/file', join(merged, 'etc/link'));
    mergedTree = summarize(merged);
  } finally {
    execFileSync('umount', [merged]);
  }
});
afterAll(() => {
  try {
    execFileSync('umount', [merged], { stdio: 'ignore' });
  } catch {
    // already unmounted
  }
  rmSync(work, { recursive: true, force: true });
});

test('the kernel wrote whiteouts and an opaque marker into the upper directory', () => {
  // this kernel's forms: a 0/0 character device, or (xwhiteout) an empty file with an overlay.whiteout xattr
  const gone = statSync(join(upper, 'etc/gone.conf'));
  const attrs = listAttributesSync(join(upper, 'etc/gone.conf'));
  expect((gone.isCharacterDevice() && gone.rdev === 0) || (gone.size === 0 && attrs.some((a) => a.endsWith('overlay.whiteout')))).toBe(true);
  const opaque = listAttributesSync(join(upper, 'replaced')).find((a) => a.endsWith('overlay.opaque'));
  expect(opaque).toBeDefined();
  expect(getAttributeSync(join(upper, 'replaced'), opaque as string)?.toString()).toBe('y');
  expect(statSync(join(upper, 'keep'), { throwIfNoEntry: false })).toBeUndefined();
});

test('the upper layer has .wh. entries, an opaque marker, only the changed paths, and no overlay xattrs', async () => {
  const file = join(work, 'upper.tar');
  const r = await writeLayer(upper, { output: file, compression: 'none' });
  const entries = readTar(readFileSync(file));
  expect(entries.map((e) => `${e.typeflag} ${e.name}${e.linkname === '' ? '' : ` -> ${e.linkname}`}`)).toEqual([
    '0 .wh.doomed',
    '5 etc/',
    '0 etc/.wh.gone.conf',
    '0 etc/hostname',
    '2 etc/link -> ../opt/added/file',
    '5 opt/',
    '5 opt/added/',
    '0 opt/added/file',
    '5 replaced/',
    '0 replaced/.wh..wh..opq',
    '0 replaced/new',
    '5 usr/',
    '5 usr/bin/',
    '0 usr/bin/tool',
  ]);
  expect(entries.flatMap((e) => [...e.pax.keys()])).toEqual([]);
  expect(entries.find((e) => e.name === 'usr/bin/tool')?.mode).toBe(0o4750);
  expect(entries.find((e) => e.name === '.wh.doomed')?.size).toBe(0);
  expect(r.entries).toBe(entries.length);
});

test('umoci applies the lower layer and then this one and gets the merged tree back', async () => {
  const layout = join(work, 'layout');
  const blobs = join(layout, 'blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layers: LayerWriteResult[] = [];
  for (const [i, dir] of [lower, upper].entries()) {
    const tmp = join(work, `layer-${i}`);
    const r = await writeLayer(dir, { output: tmp });
    execFileSync('mv', [tmp, join(blobs, r.digest.slice(7))]);
    layers.push(r);
  }
  const blob = (json: unknown): { digest: string; size: number } => {
    const text = JSON.stringify(json);
    writeFileSync(join(blobs, sha(text)), text);
    return { digest: `sha256:${sha(text)}`, size: Buffer.byteLength(text) };
  };
  const config = blob({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } });
  const manifest = blob({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  });
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'test' } }],
    }),
  );
  const bundle = join(work, 'bundle');
  execFileSync('umoci', ['unpack', '--image', `${layout}:test`, bundle], { stdio: 'pipe' });
  const unpacked = summarize(join(bundle, 'rootfs'));
  expect(unpacked).toEqual(mergedTree);
  expect(Object.keys(unpacked)).not.toContain('etc/gone.conf');
  expect(Object.keys(unpacked)).not.toContain('replaced/old');
  expect(unpacked['keep/deep/file']?.sha256).toBe(sha('untouched\n'));
});
