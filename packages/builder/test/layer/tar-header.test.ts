import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeHeader, endOfArchive, headerChecksum, octalLimit, padding, paxFields, paxRecord, type TarHeader } from '../../src/layer/tar-header.js';
import { checksumOf, parsePax, readTar } from './support/tar-reader.js';

const base: TarHeader = { path: 'etc/hostname', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 };

function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, endOfArchive()]);
}

function withContent(h: TarHeader, content: Buffer): Buffer {
  return Buffer.concat([encodeHeader({ ...h, size: content.length }), content, Buffer.alloc(padding(content.length))]);
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync('/dev/shm/strata-tar-header-');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `tar -tv` of the archive, as GNU tar prints it with numeric owners and UTC times. */
function gnuList(tar: Buffer): string[] {
  const file = join(dir, `list-${Math.random().toString(16).slice(2)}.tar`);
  writeFileSync(file, tar);
  const out = execFileSync('tar', ['--numeric-owner', '--utc', '-tvf', file], { encoding: 'utf8' });
  return out.trimEnd().split('\n');
}

describe('ustar header', () => {
  test('lays out the POSIX fields, with empty uname/gname and a valid checksum', () => {
    const block = encodeHeader({ ...base, mode: 0o4755, uid: 1000, gid: 100, size: 12 });
    expect(block.length).toBe(512);
    expect(block.toString('latin1', 0, 12)).toBe('etc/hostname');
    expect(block.toString('latin1', 100, 108)).toBe('0004755\0');
    expect(block.toString('latin1', 108, 116)).toBe('0001750\0');
    expect(block.toString('latin1', 116, 124)).toBe('0000144\0');
    expect(block.toString('latin1', 124, 136)).toBe('00000000014\0');
    expect(block.toString('latin1', 136, 148)).toBe(`${(1_700_000_000).toString(8)}\0`);
    expect(block.toString('latin1', 156, 157)).toBe('0');
    expect(block.toString('latin1', 257, 265)).toBe('ustar\u000000');
    expect(block.subarray(265, 329).every((b) => b === 0)).toBe(true);
    const stored = parseInt(block.toString('latin1', 148, 154), 8);
    expect(block.toString('latin1', 154, 156)).toBe('\0 ');
    expect(stored).toBe(headerChecksum(block));
    expect(stored).toBe(checksumOf(block));
  });

  test('directories end with a slash; devices carry major and minor', () => {
    const d = encodeHeader({ ...base, path: 'var/lib', type: 'dir', mode: 0o1777 });
    expect(d.toString('latin1', 0, 8)).toBe('var/lib/');
    expect(d.toString('latin1', 156, 157)).toBe('5');
    const c = encodeHeader({ ...base, path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 });
    expect(c.toString('latin1', 156, 157)).toBe('3');
    expect(c.toString('latin1', 329, 345)).toBe('0000001\u00000000003\0');
  });

  test('the same header always gives the same bytes', () => {
    const h: TarHeader = { ...base, xattrs: new Map([['user.b', Buffer.from('2')], ['security.capability', Buffer.from([1, 0, 0, 2])], ['user.a', Buffer.from('1')]]) };
    const reordered: TarHeader = { ...base, xattrs: new Map([['user.a', Buffer.from('1')], ['user.b', Buffer.from('2')], ['security.capability', Buffer.from([1, 0, 0, 2])]]) };
    expect(encodeHeader(h).equals(encodeHeader(h))).toBe(true);
    expect(encodeHeader(h).equals(encodeHeader(reordered))).toBe(true);
  });

  test('rejects values no tar field can hold, with BUILD_LAYER_FIELD', () => {
    expect(() => encodeHeader({ ...base, mode: 0o10000 })).toThrow(expect.objectContaining({ code: 'BUILD_LAYER_FIELD' }));
    expect(() => encodeHeader({ ...base, path: 'a\0b' })).toThrow(expect.objectContaining({ code: 'BUILD_LAYER_FIELD' }));
    expect(() => encodeHeader({ ...base, uid: -1 })).toThrow(expect.objectContaining({ code: 'BUILD_LAYER_FIELD' }));
    expect(() => encodeHeader({ ...base, type: 'symlink', size: 4, linkname: 'x' })).toThrow(expect.objectContaining({ code: 'BUILD_LAYER_FIELD' }));
    expect(() => encodeHeader({ ...base, type: 'char', devmajor: octalLimit(8) + 1 })).toThrow(expect.objectContaining({ code: 'BUILD_LAYER_FIELD' }));
  });
});

describe('PAX records', () => {
  test('the length prefix counts the whole record, its own digits included, in bytes', () => {
    for (let n = 0; n < 1200; n++) {
      const value = 'é'.repeat(n % 7) + 'x'.repeat(n);
      const record = paxRecord('path', value);
      const length = parseInt(record.toString('latin1', 0, record.indexOf(0x20)), 10);
      expect(length).toBe(record.length);
      expect(record[record.length - 1]).toBe(0x0a);
    }
    // the boundary where the prefix grows a digit: " path=" + 91 bytes + "\n" is 98, plus 2 digits is 100, which needs 3
    const edge = paxRecord('path', 'a'.repeat(91));
    expect(edge.toString('latin1', 0, 4)).toBe('101 ');
    expect(edge.length).toBe(101);
    expect(paxRecord('path', 'é').toString('utf8')).toBe('11 path=é\n');
  });

  test('ustar holds names up to 100 bytes; longer names go to a PAX path record', () => {
    expect(paxFields({ ...base, path: 'a'.repeat(100) })).toEqual([]);
    const dirName = 'd'.repeat(99);
    expect(paxFields({ ...base, path: dirName, type: 'dir' })).toEqual([]);
    expect(paxFields({ ...base, path: 'd'.repeat(100), type: 'dir' })).toEqual([['path', `${'d'.repeat(100)}/`]]);
    const long = `usr/share/${'deep/'.repeat(30)}file.txt`;
    const bytes = encodeHeader({ ...base, path: long });
    expect(bytes.length).toBe(512 * 3);
    expect(bytes.toString('latin1', 156, 157)).toBe('x');
    const [entry] = readTar(archive(withContent({ ...base, path: long }, Buffer.from('hi\n'))));
    expect(entry?.name).toBe(long);
    expect(entry?.rawName).toBe(long.slice(0, 100));
    expect(gnuList(archive(withContent({ ...base, path: long }, Buffer.from('hi\n'))))).toEqual([
      `-rw-r--r-- 0/0               3 2023-11-14 22:13 ${long}`,
    ]);
  });

  test('non-ASCII names and link targets are PAX records in UTF-8', () => {
    const name = 'opt/café/日本語.txt';
    const fields = paxFields({ ...base, path: name });
    expect(fields).toEqual([['path', name]]);
    const link = encodeHeader({ ...base, path: 'l', type: 'symlink', linkname: 'ünïcode' });
    const entries = readTar(archive(withContent({ ...base, path: name }, Buffer.from('x')), link));
    expect(entries.map((e) => [e.name, e.linkname])).toEqual([
      [name, ''],
      ['l', 'ünïcode'],
    ]);
    expect(entries[1]?.pax.get('linkpath')?.toString('utf8')).toBe('ünïcode');
    const listed = gnuList(archive(withContent({ ...base, path: name }, Buffer.from('x')), link));
    expect(listed[0]).toMatch(/ opt\/café\/日本語\.txt$/);
    expect(listed[1]).toMatch(/ l -> ünïcode$/);
  });

  test('uid and gid above 2097151 go to PAX; the ustar fields then hold 0', () => {
    expect(paxFields({ ...base, uid: octalLimit(8), gid: octalLimit(8) })).toEqual([]);
    const h = { ...base, uid: 3_000_000, gid: 100_000_000 };
    expect(paxFields(h)).toEqual([
      ['gid', '100000000'],
      ['uid', '3000000'],
    ]);
    const bytes = encodeHeader(h);
    const main = bytes.subarray(bytes.length - 512);
    expect(main.toString('latin1', 108, 124)).toBe('0000000\u00000000000\0');
    expect(gnuList(archive(bytes))).toEqual(['-rw-r--r-- 3000000/100000000 0 2023-11-14 22:13 etc/hostname']);
  });

  test('sizes from 8 GiB on are PAX size records with decimal digits', () => {
    expect(octalLimit(12)).toBe(8 ** 11 - 1);
    expect(paxFields({ ...base, size: 8 ** 11 - 1 })).toEqual([]);
    expect(paxFields({ ...base, size: 8 ** 11 })).toEqual([['size', '8589934592']]);
    const big = 20 * 2 ** 30 + 7;
    const bytes = encodeHeader({ ...base, size: big });
    const main = bytes.subarray(bytes.length - 512);
    expect(main.toString('latin1', 124, 136)).toBe('00000000000\0');
    const body = bytes.subarray(512, 512 + parseInt(bytes.toString('latin1', 124, 135), 8));
    expect(parsePax(body).get('size')?.toString()).toBe(String(big));
  });

  test('mtimes before 1970 or past the octal field are PAX mtime records', () => {
    expect(paxFields({ ...base, mtime: -1 })).toEqual([['mtime', '-1']]);
    expect(paxFields({ ...base, mtime: 8 ** 11 })).toEqual([['mtime', String(8 ** 11)]]);
    const [entry] = readTar(archive(encodeHeader({ ...base, mtime: -86_400 })));
    expect(entry?.mtime).toBe(-86_400);
  });

  test('extended attributes are SCHILY.xattr records sorted by name, binary values kept', () => {
    const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const h: TarHeader = { ...base, xattrs: new Map([['user.z', Buffer.from('last')], ['security.capability', cap]]) };
    expect(paxFields(h).map(([k]) => k)).toEqual(['SCHILY.xattr.security.capability', 'SCHILY.xattr.user.z']);
    const [entry] = readTar(archive(encodeHeader(h)));
    expect(entry?.pax.get('SCHILY.xattr.security.capability')).toEqual(cap);
    expect(entry?.pax.get('SCHILY.xattr.user.z')?.toString()).toBe('last');
    expect(gnuList(archive(encodeHeader(h)))).toEqual(['-rw-r--r-- 0/0               0 2023-11-14 22:13 etc/hostname']);
  });

  test('the PAX header itself is a valid ustar block named after the entry', () => {
    const bytes = encodeHeader({ ...base, path: `${'x'.repeat(120)}/name`, uid: 5_000_000 });
    const pax = bytes.subarray(0, 512);
    expect(pax.toString('latin1', 0, 16)).toBe('PaxHeaders/name\0');
    expect(pax.toString('latin1', 156, 157)).toBe('x');
    expect(parseInt(pax.toString('latin1', 148, 154), 8)).toBe(headerChecksum(pax));
  });
});
