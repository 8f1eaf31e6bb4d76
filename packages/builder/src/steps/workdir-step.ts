import { chmod, lchown, lstat, mkdir, utimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { WorkdirInstruction } from '@strata/parser';
import { expanderFor, type BuildSession, type StageState, type StepOutcome } from '../session.js';
import { keyInputs, stepKey, type StepKeyInput } from '../cache-key.js';
import { containerConfig } from '../image/state.js';
import { resolveUser } from '../runtime/user.js';
import { lookupInLayers, readUserFiles } from '../snapshot/snapshotter.js';
import { layerStep } from './layer-step.js';

/**
 * WORKDIR sets the working folder and, like BuildKit, creates it when the
 * image lacks it (owned by the current USER), which makes a layer.
 */
export async function runWorkdirStep(ins: WorkdirInstruction, state: StageState, session: BuildSession): Promise<StepOutcome> {
  const expand = expanderFor(session, state);
  const config = containerConfig(state.image);
  const path = posix.resolve(config.WorkingDir || '/', expand(ins.path));
  const keyInput: StepKeyInput = { parent: state.key, platform: session.platformText, kind: 'workdir', instruction: path, env: [] };
  const key = stepKey(keyInput);
  const createdBy = `WORKDIR ${path}`;
  const newConfig = { ...config, WorkingDir: path };
  return layerStep(session, state, {
    key,
    inputs: keyInputs(keyInput),
    createdBy,
    config: newConfig,
    produce: async () => {
      const lowerDirs = await session.snapshotter.lowerDirs(state.image.layers);
      if (path === '/' || (await lookupInLayers(lowerDirs, path)) !== undefined) return undefined;
      const upper = join(session.workDir, session.nextId());
      const user = config.User ? resolveUser(config.User, await readUserFiles(lowerDirs)) : { uid: 0, gid: 0 };
      const epoch = session.epoch ?? Math.floor(Date.now() / 1000);
      // parents the image has keep their metadata; new ones belong to the user
      let rel = '';
      for (const part of path.split('/').filter((p) => p !== '')) {
        rel = rel === '' ? part : `${rel}/${part}`;
        const target = join(upper, rel);
        const inImage = await lookupInLayers(lowerDirs, rel);
        await mkdir(target, { recursive: true });
        if (inImage !== undefined) {
          const st = await lstat(inImage);
          await chmod(target, st.mode & 0o7777);
          await lchown(target, st.uid, st.gid);
          await utimes(target, st.atime, st.mtime);
        } else {
          await chmod(target, 0o755);
          await lchown(target, user.uid, user.gid);
          await utimes(target, epoch, epoch);
        }
      }
      return upper;
    },
  });
}
