// Mount points a killed build left under the store's tmp folder (overlays of
// its steps, read-only source-stage overlays): removed before the folder is.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Mount points at or under any of `dirs`, from /proc/self/mountinfo, deepest first. */
export async function mountsUnder(dirs: readonly string[]): Promise<string[]> {
  if (dirs.length === 0) return [];
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    // mountinfo escapes space, tab, newline and backslash as \ooo
    const point = field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    if (dirs.some((dir) => point === dir || point.startsWith(`${dir}/`))) out.push(point);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/** Detaches a mount point (lazily: a process may still hold it); false when that failed. */
export function detachMount(point: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('umount', ['-l', point], (error) => resolve(error === null));
  });
}
