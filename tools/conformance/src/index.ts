import { summarize, type SuiteSummary } from './suite.js';
import { suites } from './suites/index.js';

export type { CaseResult, ConformanceSuite, SuiteSummary } from './suite.js';
export { suites } from './suites/index.js';

/** Runs every suite (or those named) against the vectors in `dir`. */
export function runConformance(dir: string, only?: readonly string[]): SuiteSummary[] {
  return suites
    .filter((s) => only === undefined || only.length === 0 || only.includes(s.name))
    .map((s) => summarize(s.name, s.run(dir)));
}
