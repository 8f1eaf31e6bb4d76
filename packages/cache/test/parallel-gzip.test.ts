import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { ParallelGzip } from '../src/compression/parallel-gzip.js';

/** Deterministic noise (xorshift32). */
function bytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function compress(data: Buffer, pieces: number, level = 1): Promise<Buffer> {
  const parts: Buffer[] = [];
  const step = Math.max(1, Math.ceil(data.length / pieces));
  for (let i = 0; i < data.length; i += step) parts.push(data.subarray(i, i + step));
  return buffer(Readable.from(parts).pipe(new ParallelGzip(level)));
}

/** Compressible input: text-like repeats mixed with noise, over several 1 MiB blocks. */
function sample(size: number): Buffer {
  const text = Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(64));
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) {
    const src = (i / 4096) % 3 === 0 ? bytes(4096, i + 1) : text;
    src.copy(out, i, 0, Math.min(4096, size - i));
  }
  return out;
}

describe('ParallelGzip', () => {
  test.each([0, 1, 1 << 20, 3.5 * (1 << 20) + 13])('%d bytes: gzip reads back the input, one gzip member', async (size) => {
    const input = sample(size);
    const gz = await compress(input, 7);
    expect(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 1 << 28 }).equals(input)).toBe(true);
    expect(execFileSync('gzip', ['-t'], { input: gz }).length).toBe(0);
    expect(gz.subarray(0, 10)).toEqual(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3]));
    expect(gz.readUInt32LE(gz.length - 4)).toBe(size);
  });

  test('the output does not depend on how the input was cut', async () => {
    const input = sample(5 * (1 << 20) + 999);
    const a = await compress(input, 1);
    const b = await compress(input, 13);
    const c = await compress(input, 5000);
    expect(b.equals(a)).toBe(true);
    expect(c.equals(a)).toBe(true);
  });

  test('each block is primed with the previous 32 KiB: compresses as well as one zlib stream', async () => {
    // a 16 KiB random unit repeated: without priming, every 1 MiB block would pay for the unit again
    const unit = bytes(16 * 1024, 7);
    const input = Buffer.concat(Array.from({ length: 260 }, () => unit));
    const single = gzipSync(input, { level: 6 });
    const gz = await compress(input, 9, 6);
    expect(gz.length).toBeLessThan(single.length * 1.1 + 1024);
    expect(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 1 << 28 }).equals(input)).toBe(true);
  });
});
