import { readFile } from 'node:fs/promises';

/** Whether `pid` is this process or another live node process (a strata whose containers and networks are its own). */
export async function isStrataAlive(pid: number): Promise<boolean> {
  if (pid === process.pid) return true;
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('node');
  } catch {
    return false;
  }
}
