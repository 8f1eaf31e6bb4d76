import type { ConformanceSuite } from '../suite.js';
import { parserCases } from './parser-cases.js';
import { parserTestfiles } from './parser-testfiles.js';

/** Every suite the runner knows. Add a suite by importing it here. */
export const suites: readonly ConformanceSuite[] = [
  parserTestfiles,
  parserCases,
];
