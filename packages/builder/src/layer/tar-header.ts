/**
 * A deterministic tar header encoder: POSIX ustar headers, with a PAX extended
 * header ('x') in front whenever a value does not fit ustar's fields (long or
 * non-ASCII names and link targets, uid/gid above 2097151, sizes of 8 GiB and
 * more, negative or far-future mtimes) and for extended attributes
 * (`SCHILY.xattr.<name>`, the form GNU tar, Go and umoci read). Nothing in the
 * output depends on the clock, the host or the order of a Map: the same header
 * in gives the same bytes out.
 */
import { buildError } from '../errors.js';
import { LayerErrors } from './errors.js';

export const BLOCK = 512;

export type TarType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

const TYPEFLAG: Record<TarType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

export interface TarHeader {
  /** Path inside the layer, relative, '/'-separated, without a trailing slash. */
  readonly path: string;
  readonly type: TarType;
  /** Permission bits with setuid, setgid and sticky (`mode & 0o7777`). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes of content that follow (regular files only; 0 otherwise). */
  readonly size: number;
  /** Whole seconds since the epoch. */
  readonly mtime: number;
  /** Target of a symlink or (for hardlinks) the path of the entry it links to. */
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** Extended attributes, written sorted by name. */
  readonly xattrs?: ReadonlyMap<string, Uint8Array>;
}

// ustar field offsets and widths (POSIX.1-2001, pax "ustar Interchange Format")
const NAME = [0, 100] as const;
const MODE = [100, 8] as const;
const UID = [108, 8] as const;
const GID = [116, 8] as const;
const SIZE = [124, 12] as const;
const MTIME = [136, 12] as const;
const CHKSUM = [148, 8] as const;
const TYPE = 156;
const LINKNAME = [157, 100] as const;
const MAGIC = 257; // "ustar\0" then version "00"
const DEVMAJOR = [329, 8] as const;
const DEVMINOR = [337, 8] as const;

/** The largest value an octal field of `width` bytes holds (width-1 digits and a NUL). */
export function octalLimit(width: number): number {
  return 8 ** (width - 1) - 1;
}

function fitsOctal(value: number, width: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value <= octalLimit(width);
}

function writeOctal(block: Buffer, [offset, width]: readonly [number, number], value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  block.write(digits, offset, width - 1, 'latin1');
  block[offset + width - 1] = 0;
}

function isPortable(text: string): boolean {
  // ASCII without NUL: what a ustar name field holds unambiguously.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0 || c > 0x7e) return false;
  }
  return true;
}

/** The stand-in written in a ustar field whose real value is in the PAX header. */
function placeholder(text: string, width: number): string {
  let out = '';
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    out += c > 0 && c <= 0x7e && ch.length === 1 ? ch : '_';
    if (out.length >= width) break;
  }
  return out.slice(0, width);
}

/**
 * One PAX record, "<length> <key>=<value>\n", where length counts the whole
 * record, its own digits included, in bytes.
 */
export function paxRecord(key: string, value: string | Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), typeof value === 'string' ? Buffer.from(value, 'utf8') : value, Buffer.from('\n')]);
  let digits = String(body.length).length;
  while (String(body.length + digits).length !== digits) digits++;
  return Buffer.concat([Buffer.from(String(body.length + digits), 'latin1'), body]);
}

function headerBlock(fields: {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(fields.name, NAME[0], NAME[1], 'utf8');
  writeOctal(block, MODE, fields.mode);
  writeOctal(block, UID, fields.uid);
  writeOctal(block, GID, fields.gid);
  writeOctal(block, SIZE, fields.size);
  writeOctal(block, MTIME, fields.mtime);
  block.write(fields.type, TYPE, 1, 'latin1');
  block.write(fields.linkname, LINKNAME[0], LINKNAME[1], 'utf8');
  block.write('ustar\u000000', MAGIC, 8, 'latin1');
  // uname and gname stay empty: owners are numeric in a layer.
  writeOctal(block, DEVMAJOR, fields.devmajor);
  writeOctal(block, DEVMINOR, fields.devminor);
  block.fill(0x20, CHKSUM[0], CHKSUM[0] + CHKSUM[1]);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i] as number;
  // six octal digits, NUL, space: the form every tar writes and reads
  block.write(sum.toString(8).padStart(6, '0'), CHKSUM[0], 6, 'latin1');
  block[CHKSUM[0] + 6] = 0;
  block[CHKSUM[0] + 7] = 0x20;
  return block;
}

/** The checksum stored in a header block (for tests and readers). */
export function headerChecksum(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= CHKSUM[0] && i < CHKSUM[0] + CHKSUM[1] ? 0x20 : (block[i] as number);
  return sum;
}

/** Bytes of zero padding after `size` bytes of content. */
export function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** The PAX keys and values a header needs, sorted by key (empty when ustar holds it all). */
export function paxFields(h: TarHeader): Array<[string, string | Uint8Array]> {
  const records: Array<[string, string | Uint8Array]> = [];
  const name = h.type === 'dir' ? `${h.path}/` : h.path;
  if (Buffer.byteLength(name, 'utf8') > NAME[1] || !isPortable(name)) records.push(['path', name]);
  const link = h.linkname ?? '';
  if (Buffer.byteLength(link, 'utf8') > LINKNAME[1] || !isPortable(link)) records.push(['linkpath', link]);
  if (!fitsOctal(h.uid, UID[1])) records.push(['uid', String(h.uid)]);
  if (!fitsOctal(h.gid, GID[1])) records.push(['gid', String(h.gid)]);
  if (!fitsOctal(h.size, SIZE[1])) records.push(['size', String(h.size)]);
  if (!fitsOctal(h.mtime, MTIME[1])) records.push(['mtime', String(h.mtime)]);
  if (h.xattrs !== undefined) {
    for (const key of [...h.xattrs.keys()].sort()) records.push([`SCHILY.xattr.${key}`, h.xattrs.get(key) as Uint8Array]);
  }
  records.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return records;
}

function check(h: TarHeader): void {
  const bad = (field: string, value: unknown): never => {
    throw buildError(LayerErrors.field, [h.path, field, String(value)]);
  };
  if (h.path.length === 0 || h.path.includes('\0')) bad('path', JSON.stringify(h.path));
  if ((h.linkname ?? '').includes('\0')) bad('link target', JSON.stringify(h.linkname));
  if (!Number.isSafeInteger(h.uid) || h.uid < 0) bad('uid', h.uid);
  if (!Number.isSafeInteger(h.gid) || h.gid < 0) bad('gid', h.gid);
  if (!Number.isSafeInteger(h.size) || h.size < 0) bad('size', h.size);
  if (h.size > 0 && h.type !== 'file') bad('size of a non-regular entry', h.size);
  if (!Number.isSafeInteger(h.mtime)) bad('mtime', h.mtime);
  if (!Number.isInteger(h.mode) || h.mode < 0 || h.mode > 0o7777) bad('mode', h.mode.toString(8));
  // Linux majors are 12 bits and minors 20: both fit the 7 octal digits.
  if (!fitsOctal(h.devmajor ?? 0, DEVMAJOR[1])) bad('device major', h.devmajor);
  if (!fitsOctal(h.devminor ?? 0, DEVMINOR[1])) bad('device minor', h.devminor);
}

/**
 * Encodes one entry's header: a ustar block, preceded by a PAX 'x' header and
 * its records when needed. Content (for files) and its padding follow it in
 * the archive; the caller writes those.
 */
export function encodeHeader(h: TarHeader): Buffer {
  check(h);
  const name = h.type === 'dir' ? `${h.path}/` : h.path;
  const link = h.linkname ?? '';
  const fields = paxFields(h);
  const keys = new Set(fields.map(([key]) => key));
  const main = headerBlock({
    name: keys.has('path') ? placeholder(name, NAME[1]) : name,
    type: TYPEFLAG[h.type],
    mode: h.mode,
    uid: keys.has('uid') ? 0 : h.uid,
    gid: keys.has('gid') ? 0 : h.gid,
    size: keys.has('size') ? 0 : h.size,
    mtime: keys.has('mtime') ? 0 : h.mtime,
    linkname: keys.has('linkpath') ? placeholder(link, LINKNAME[1]) : link,
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (fields.length === 0) return main;
  const body = Buffer.concat(fields.map(([key, value]) => paxRecord(key, value)));
  const base = name.endsWith('/') ? name.slice(0, -1) : name;
  const pax = headerBlock({
    name: placeholder(`PaxHeaders/${base.slice(base.lastIndexOf('/') + 1)}`, NAME[1]),
    type: 'x',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: fitsOctal(h.mtime, MTIME[1]) ? h.mtime : 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([pax, body, Buffer.alloc(padding(body.length)), main]);
}

/** The end of an archive: two zero blocks. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}
