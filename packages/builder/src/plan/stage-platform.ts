import { expandWord, type Stage } from '@strata/parser';
import { buildError, BuildErrors } from '../errors.js';
import { parsePlatform, type TargetPlatform } from '../platform.js';
import type { StageBase } from './plan.js';

export interface StagePlatformInput {
  readonly stage: Stage;
  readonly base: StageBase;
  /** The global ARGs (with BUILDPLATFORM, TARGETPLATFORM, ...): what `FROM --platform=$X` expands with. */
  readonly metaArgs: ReadonlyMap<string, string>;
  readonly escape: '\\' | '`';
  /** The platform being built (`--platform`, one of them in a multi-platform build). */
  readonly target: TargetPlatform;
  /** The platform of the stage this one starts from, for `FROM <stage>`. */
  readonly baseStagePlatform?: TargetPlatform;
}

/**
 * The platform a stage's steps run on, as BuildKit chooses it: `FROM
 * --platform=...` (expanded with the global ARGs, so `$BUILDPLATFORM` works);
 * else, for `FROM <stage>`, that stage's platform; else the target platform.
 *
 * This is what makes the cross-compile pattern cheap in a multi-platform
 * build: a `FROM --platform=$BUILDPLATFORM` stage (and stages built on it)
 * gets the same platform, hence the same cache keys, for every target, so
 * the second target finds its steps in the cache instead of running them.
 */
export function stagePlatform(input: StagePlatformInput): TargetPlatform {
  const written = input.stage.from.platform;
  if (written !== undefined) {
    const text = expandWord(written, Object.fromEntries(input.metaArgs), { escape: input.escape });
    try {
      return parsePlatform(text);
    } catch (cause) {
      throw buildError(BuildErrors.invalidInstruction, [`FROM --platform=${written}: '${text}' is not a platform (os/arch[/variant])`], {
        cause,
        details: { location: input.stage.from.location, instruction: input.stage.from.original },
      });
    }
  }
  if (input.base.kind === 'stage' && input.baseStagePlatform !== undefined) return input.baseStagePlatform;
  return input.target;
}
