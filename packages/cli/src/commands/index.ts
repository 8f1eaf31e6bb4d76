import type { CommandSpec } from '../io.js';

/**
 * Every verb of the CLI. Each entry loads its module lazily: `strata --version`
 * and a no-op rebuild do not pay for the code of other commands.
 */
export const commands: readonly CommandSpec[] = [];
