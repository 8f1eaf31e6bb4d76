import { dockerfileError, type ErrorRule } from '../errors.js';

const invalidCheck: ErrorRule<[string]> = {
  code: 'PARSE_INVALID_CHECK',
  message: (detail: string) => detail,
  hint: 'Write # check=skip=<rules>|all;error=true|false;experimental=<rules>|all',
};

/** What `# check=skip=A,B;error=true;experimental=C` says. */
export interface CheckConfig {
  /** Rule names to skip, or 'all'. */
  readonly skip: readonly string[] | 'all';
  /** Report every finding as an error (the build, or `strata lint`, fails). */
  readonly error: boolean;
  /** Experimental rules to run, or 'all'. */
  readonly experimental: readonly string[] | 'all';
}

export const emptyCheckConfig: CheckConfig = { skip: [], error: false, experimental: [] };

function names(value: string): readonly string[] | 'all' {
  const v = value.trim();
  if (v === 'all') return 'all';
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * Reads the value of a `check` directive as BuildKit's ParseLintOptions does;
 * throws DockerfileError PARSE_INVALID_CHECK on an unknown option or a
 * non-boolean `error`.
 */
export function parseCheckConfig(value: string): CheckConfig {
  const text = value.trim();
  if (text === '') return emptyCheckConfig;
  let skip: CheckConfig['skip'] = [];
  let experimental: CheckConfig['experimental'] = [];
  let error = false;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw dockerfileError(invalidCheck, [`invalid check option ${JSON.stringify(part)}`]);
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1);
    if (key === 'skip') skip = names(v);
    else if (key === 'experimental') experimental = names(v);
    else if (key === 'error') {
      const b = v.trim();
      if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(b)) error = true;
      else if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(b)) error = false;
      else throw dockerfileError(invalidCheck, [`failed to parse check option ${JSON.stringify(part)}: invalid syntax`]);
    } else {
      throw dockerfileError(invalidCheck, [`invalid check option ${JSON.stringify(key)}`]);
    }
  }
  return { skip, error, experimental };
}

/** `other` layered over `base`: skips and experimental rules add up, error stays on once on. */
export function mergeCheckConfig(base: CheckConfig, other: CheckConfig): CheckConfig {
  const join = (a: readonly string[] | 'all', b: readonly string[] | 'all'): readonly string[] | 'all' =>
    a === 'all' || b === 'all' ? 'all' : [...a, ...b];
  return { skip: join(base.skip, other.skip), error: base.error || other.error, experimental: join(base.experimental, other.experimental) };
}

/** A `check=...` comment above an instruction (BuildKit honours these per instruction), if any. */
export function checkConfigFromComments(comments: readonly string[]): CheckConfig | undefined {
  for (const comment of comments) {
    const match = /^check\s*=\s*(.+?)\s*$/i.exec(comment);
    if (match === null) continue;
    const value = (match[1] ?? '').split(' ', 1)[0] ?? '';
    try {
      return parseCheckConfig(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
