// Hand-made tar archives for tests that need entries no tar tool writes on
// request (absolute names, `..`, symlinks followed by writes through them).

export interface TarEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  readonly data?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly linkname?: string;
  /** Seconds since the epoch. */
  readonly mtime?: number;
}

const TYPEFLAG = { file: '0', link: '1', symlink: '2', directory: '5', fifo: '6' } as const;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(entry: TarEntry, size: number): Buffer {
  const block = Buffer.alloc(512);
  const put = (text: string, offset: number, width: number) => block.write(text.slice(0, width), offset, 'latin1');
  put(entry.name, 0, 100);
  put(octal(entry.mode ?? (entry.type === 'directory' ? 0o755 : 0o644), 8), 100, 8);
  put(octal(entry.uid ?? 0, 8), 108, 8);
  put(octal(entry.gid ?? 0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(entry.mtime ?? 1_700_000_000, 12), 136, 12);
  put('        ', 148, 8);
  put(TYPEFLAG[entry.type ?? 'file'], 156, 1);
  put(entry.linkname ?? '', 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return block;
}

/** An uncompressed ustar archive of `entries`, in order. */
export function tarBytes(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = Buffer.from(entry.type === undefined || entry.type === 'file' ? (entry.data ?? '') : '');
    parts.push(header(entry, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
