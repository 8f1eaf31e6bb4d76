import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';

export type TarEntry = Partial<Header> & { name: string; body?: string };

/** A tar archive of these entries (and its gzip), built in memory. */
export async function makeTar(entries: readonly TarEntry[]): Promise<{ tar: Buffer; gz: Buffer }> {
  const p = pack();
  const parts: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    p.on('data', (chunk: unknown) => parts.push(chunk as Buffer));
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      p.entry({ mtime: new Date(1_700_000_000_000), mode: header.type === 'directory' ? 0o755 : 0o644, ...header }, body ?? '', (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }
  p.finalize();
  await done;
  const tar = Buffer.concat(parts);
  return { tar, gz: gzipSync(tar) };
}
