/**
 * A small ustar + PAX reader for tests: it checks every header checksum and
 * returns each entry with the PAX records that applied to it, so tests can
 * assert the exact encoding. GNU tar and umoci are the independent oracles;
 * this reader only looks closer.
 */
import { gunzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';

export interface ReadEntry {
  readonly name: string;
  readonly rawName: string;
  readonly typeflag: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly linkname: string;
  readonly uname: string;
  readonly gname: string;
  readonly devmajor: number;
  readonly devminor: number;
  readonly pax: ReadonlyMap<string, Buffer>;
  readonly content: Buffer;
}

function field(block: Buffer, offset: number, width: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end === -1 || end > offset + width ? offset + width : end);
}

function octal(block: Buffer, offset: number, width: number): number {
  const text = field(block, offset, width).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

export function checksumOf(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return sum;
}

export function parsePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    const length = parseInt(body.toString('latin1', pos, space), 10);
    const record = body.subarray(pos, pos + length);
    if (record[record.length - 1] !== 0x0a) throw new Error(`PAX record at ${pos} does not end with a newline (length ${length})`);
    const eq = record.indexOf(0x3d);
    out.set(record.toString('utf8', space - pos + 1, eq), Buffer.from(record.subarray(eq + 1, record.length - 1)));
    pos += length;
  }
  return out;
}

/** Reads every entry of an uncompressed tar; PAX 'x' headers are folded into the entry they precede. */
export function readTar(tar: Buffer): ReadEntry[] {
  const entries: ReadEntry[] = [];
  let pos = 0;
  let pending: Map<string, Buffer> | undefined;
  while (pos + 512 <= tar.length) {
    const block = tar.subarray(pos, pos + 512);
    if (block.every((b) => b === 0)) break;
    const stored = octal(block, 148, 8);
    if (stored !== checksumOf(block)) throw new Error(`bad checksum at offset ${pos}`);
    if (field(block, 257, 6) !== 'ustar' || block.toString('latin1', 263, 265) !== '00') throw new Error(`not a ustar header at ${pos}`);
    const typeflag = String.fromCharCode(block[156] as number);
    let size = octal(block, 124, 12);
    const pax = typeflag === 'x' ? new Map<string, Buffer>() : (pending ?? new Map<string, Buffer>());
    if (typeflag !== 'x' && pax.has('size')) size = Number(pax.get('size')?.toString());
    const start = pos + 512;
    const content = tar.subarray(start, start + (typeflag === 'x' || typeflag === '0' ? size : 0));
    pos = start + Math.ceil((typeflag === 'x' || typeflag === '0' ? size : 0) / 512) * 512;
    if (typeflag === 'x') {
      pending = parsePax(Buffer.from(content));
      continue;
    }
    pending = undefined;
    const rawName = field(block, 0, 100);
    const text = (key: string, fallback: string): string => pax.get(key)?.toString('utf8') ?? fallback;
    const num = (key: string, fallback: number): number => (pax.has(key) ? Number(pax.get(key)?.toString()) : fallback);
    entries.push({
      name: text('path', rawName),
      rawName,
      typeflag,
      mode: octal(block, 100, 8),
      uid: num('uid', octal(block, 108, 8)),
      gid: num('gid', octal(block, 116, 8)),
      size,
      mtime: num('mtime', octal(block, 136, 12)),
      linkname: text('linkpath', field(block, 157, 100)),
      uname: field(block, 265, 32),
      gname: field(block, 297, 32),
      devmajor: octal(block, 329, 8),
      devminor: octal(block, 337, 8),
      pax,
      content: Buffer.from(content),
    });
  }
  return entries;
}

/** The uncompressed tar of a layer blob, decompressed by the system's own tools where zlib has none. */
export function untarBytes(blob: Buffer, compression: 'gzip' | 'zstd' | 'none'): Buffer {
  if (compression === 'none') return blob;
  if (compression === 'gzip') return gunzipSync(blob);
  return execFileSync('zstd', ['-d', '-c', '-q'], { input: blob, maxBuffer: 1 << 30 });
}
