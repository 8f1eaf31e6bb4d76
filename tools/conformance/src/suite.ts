/** The outcome of one conformance vector. */
export interface CaseResult {
  /** A stable, readable id: `<suite>/<case name>` or `<suite>/<source file>#<n>`. */
  readonly id: string;
  readonly status: 'pass' | 'fail' | 'not-applicable';
  /** For a failure: what was expected and what strata produced. For not-applicable: why. */
  readonly detail?: string;
}

/**
 * One group of vectors, read from the conformance folder
 * (`../shared/conformance/buildkit`, see its README and FORMAT.md).
 * `not-applicable` is only for rows that cannot apply to strata at all
 * (Windows-only rows); every other row must pass.
 */
export interface ConformanceSuite {
  readonly name: string;
  run(dir: string): CaseResult[];
}

export interface SuiteSummary {
  readonly name: string;
  readonly passed: number;
  readonly failed: number;
  readonly notApplicable: number;
  readonly failures: readonly CaseResult[];
}

export function summarize(name: string, results: readonly CaseResult[]): SuiteSummary {
  const failures = results.filter((r) => r.status === 'fail');
  return {
    name,
    passed: results.filter((r) => r.status === 'pass').length,
    failed: failures.length,
    notApplicable: results.filter((r) => r.status === 'not-applicable').length,
    failures,
  };
}
