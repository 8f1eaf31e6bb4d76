import type { ConformanceSuite } from '../suite.js';
import { instructionsCases } from './instructions-cases.js';
import { parserCases } from './parser-cases.js';
import { parserTestfiles } from './parser-testfiles.js';
import { shellVectorsSuite } from './shell-vectors.js';

/** Every suite the runner knows. Add a suite by importing it here. */
export const suites: readonly ConformanceSuite[] = [
  parserTestfiles,
  parserCases,
  instructionsCases,
  shellVectorsSuite,
];
