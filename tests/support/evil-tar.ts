// Hand-made tar archives for attack tests: every header field can be set to a
// value no honest tar writer produces (negative or huge sizes in base-256,
// PAX records with junk, names with `..`), which tar-stream's packer refuses.
import { gzipSync } from 'node:zlib';

export type EvilType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo' | 'pax';

const TYPE_FLAG: Record<EvilType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6', pax: 'x' };

export interface EvilEntry {
  readonly name: string;
  readonly type?: EvilType;
  /** The body; its length is the size unless `size` says otherwise. */
  readonly body?: Buffer | string;
  /** A size to write in the header (a number, or raw 12 bytes such as a base-256 value). */
  readonly size?: number | Buffer;
  readonly mode?: number;
  readonly uid?: number | Buffer;
  readonly gid?: number;
  readonly mtime?: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** PAX records put in an extended header before this entry. */
  readonly pax?: Readonly<Record<string, string>>;
}

function octal(buf: Buffer, offset: number, length: number, value: number): void {
  buf.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
}

/** A base-256 (GNU) number field: 0x80 then big-endian bytes; negative values in two's complement (0xff…). */
export function base256(value: bigint, length = 12): Buffer {
  const out = Buffer.alloc(length);
  let v = value < 0n ? (1n << BigInt(8 * length)) + value : value;
  for (let i = length - 1; i >= 1; i -= 1) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[0] = value < 0n ? 0xff : 0x80;
  return out;
}

function header(e: EvilEntry, bodyLength: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name.slice(0, 100), 0, 100, 'utf8');
  octal(h, 100, 8, e.mode ?? (e.type === 'directory' ? 0o755 : 0o644));
  if (Buffer.isBuffer(e.uid)) e.uid.copy(h, 108, 0, 8);
  else octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  if (Buffer.isBuffer(e.size)) e.size.copy(h, 124, 0, 12);
  else octal(h, 124, 12, e.size ?? bodyLength);
  octal(h, 136, 12, e.mtime ?? 1_700_000_000);
  h.write(TYPE_FLAG[e.type ?? 'file'], 156, 1, 'latin1');
  if (e.linkname !== undefined) h.write(e.linkname.slice(0, 100), 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 8, 'latin1');
  octal(h, 329, 8, e.devmajor ?? 0);
  octal(h, 337, 8, e.devminor ?? 0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

function padded(body: Buffer): Buffer {
  const pad = (512 - (body.length % 512)) % 512;
  return Buffer.concat([body, Buffer.alloc(pad)]);
}

function paxBody(records: Readonly<Record<string, string>>): Buffer {
  let out = '';
  for (const [key, value] of Object.entries(records)) {
    const line = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(line) + 1;
    while (`${length}${line}`.length !== length) length = Buffer.byteLength(`${length}${line}`);
    out += `${length}${line}`;
  }
  return Buffer.from(out, 'utf8');
}

/** A tar of these entries, ended by two zero blocks unless `truncate` cuts it short (bytes kept). */
export function evilTar(entries: readonly EvilEntry[], options: { truncate?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.pax !== undefined) {
      const body = paxBody(e.pax);
      parts.push(header({ name: 'PaxHeader', type: 'pax' }, body.length), padded(body));
    }
    const body = typeof e.body === 'string' ? Buffer.from(e.body) : (e.body ?? Buffer.alloc(0));
    parts.push(header(e, body.length), padded(body));
  }
  parts.push(Buffer.alloc(1024));
  const tar = Buffer.concat(parts);
  return options.truncate === undefined ? tar : tar.subarray(0, options.truncate);
}

export function evilTarGz(entries: readonly EvilEntry[], options: { truncate?: number } = {}): Buffer {
  return gzipSync(evilTar(entries, options));
}
