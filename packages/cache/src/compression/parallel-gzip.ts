/**
 * gzip on every core, as one ordinary gzip member: the input is cut into
 * fixed 1 MiB blocks, each block is deflated on libuv's thread pool with the
 * previous block's last 32 KiB as its dictionary (so matches reach across the
 * cut as in a single stream) and ended with a sync flush (an empty stored
 * block, byte aligned), the last one with a final block; the raw deflate
 * pieces are concatenated between a fixed gzip header and the CRC-32/ISIZE
 * trailer. Block boundaries do not depend on timing or core count, so the
 * output is deterministic; any gzip reader reads it (pigz does the same).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { constants, crc32, deflateRaw, type ZlibOptions } from 'node:zlib';

const BLOCK = 1 << 20;
const WINDOW = 32 * 1024;
/** Blocks in flight at once: enough to keep libuv's 4 pool threads busy. */
const IN_FLIGHT = 4;

function deflate(data: Buffer, options: ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => deflateRaw(data, options, (error, out) => (error === null ? resolve(out) : reject(error))));
}

/** True when this Node has what the parallel compressor needs (zlib.crc32: Node 20.15+). */
export function parallelGzipAvailable(): boolean {
  return typeof crc32 === 'function';
}

export class ParallelGzip extends Transform {
  private readonly level: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private previousTail: Buffer | undefined;
  private readonly inFlight: Array<Promise<Buffer>> = [];
  private crc = 0;
  private total = 0;

  constructor(level: number) {
    super({ highWaterMark: 1 << 20 });
    this.level = level;
    // Fixed header: no name, mtime 0, XFL as zlib writes it for the level, OS 3 (Unix).
    const xfl = level === 9 ? 2 : level === 1 ? 4 : 0;
    this.push(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0x03]));
  }

  private start(block: Buffer, last: boolean): void {
    this.crc = crc32(block, this.crc);
    this.total += block.length;
    const options: ZlibOptions = {
      level: this.level,
      finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
      ...(this.previousTail === undefined ? {} : { dictionary: this.previousTail }),
    };
    this.previousTail = block.length >= WINDOW ? block.subarray(block.length - WINDOW) : undefined;
    this.inFlight.push(deflate(block, options));
  }

  private async drain(limit: number): Promise<void> {
    while (this.inFlight.length > limit) this.push(await (this.inFlight.shift() as Promise<Buffer>));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const work = async (): Promise<void> => {
      while (this.pendingBytes >= BLOCK) {
        const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
        this.start(all.subarray(0, BLOCK), false);
        const rest = all.subarray(BLOCK);
        this.pending = rest.length > 0 ? [rest] : [];
        this.pendingBytes = rest.length;
        await this.drain(IN_FLIGHT - 1);
      }
    };
    work().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    const work = async (): Promise<void> => {
      this.start(Buffer.concat(this.pending), true);
      this.pending = [];
      await this.drain(0);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.total % 2 ** 32, 4);
      this.push(trailer);
    };
    work().then(() => callback(), callback);
  }
}
