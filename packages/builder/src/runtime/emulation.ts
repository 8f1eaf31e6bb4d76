import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildError, BuildErrors } from '../errors.js';
import { hostPlatform, type TargetPlatform } from '../platform.js';

/** binfmt_misc handler names qemu-user-static registers, by image architecture. */
const QEMU_HANDLERS: Record<string, string> = {
  arm64: 'qemu-aarch64',
  arm: 'qemu-arm',
  amd64: 'qemu-x86_64',
  '386': 'qemu-i386',
  ppc64le: 'qemu-ppc64le',
  s390x: 'qemu-s390x',
  riscv64: 'qemu-riscv64',
};

export const DEFAULT_BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/**
 * Checks that a RUN step for `target` can execute here: natively, or through
 * qemu-user registered in binfmt_misc with the F flag (the interpreter is
 * opened at registration, so it works inside the container's root). Throws
 * BUILD_EMULATION_MISSING naming the command that fixes it.
 */
export async function checkEmulation(target: TargetPlatform, binfmtDir: string = DEFAULT_BINFMT_DIR): Promise<void> {
  const host = hostPlatform();
  if (target.architecture === host.architecture) return;
  const handler = QEMU_HANDLERS[target.architecture];
  if (handler === undefined) throw buildError(BuildErrors.emulationMissing, [target.architecture, 'strata knows no qemu handler for it']);
  let text: string;
  try {
    text = await readFile(join(binfmtDir, handler), 'utf8');
  } catch {
    throw buildError(BuildErrors.emulationMissing, [target.architecture, `${handler} is not registered in ${binfmtDir}`]);
  }
  if (!/^enabled$/m.test(text)) throw buildError(BuildErrors.emulationMissing, [target.architecture, `${handler} is registered but disabled`]);
  const flags = /^flags:\s*(\S*)/m.exec(text)?.[1] ?? '';
  if (!flags.includes('F')) {
    throw buildError(BuildErrors.emulationMissing, [target.architecture, `${handler} is registered without the F flag, so it cannot run inside a container`]);
  }
}
