import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runConformance } from '../tools/conformance/src/index.js';

// The vectors live outside the repository (../shared/conformance/buildkit beside
// the clone; CI lays a copy there). STRATA_CONFORMANCE_DIR points elsewhere.
const dir = process.env.STRATA_CONFORMANCE_DIR ?? join(__dirname, '..', '..', 'shared', 'conformance', 'buildkit');

describe('BuildKit conformance vectors', () => {
  it('finds the vectors', () => {
    expect(existsSync(dir)).toBe(true);
  });

  for (const summary of existsSync(dir) ? runConformance(dir) : []) {
    it(`${summary.name}: every vector passes`, () => {
      expect(summary.failures.map((f) => `${f.id}: ${f.detail ?? ''}`)).toEqual([]);
      expect(summary.passed).toBeGreaterThan(0);
    });
  }
});
