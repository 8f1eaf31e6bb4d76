import type { ConformanceSuite } from '../suite.js';

/** Every suite the runner knows. Add a suite by importing it here. */
export const suites: readonly ConformanceSuite[] = [];
