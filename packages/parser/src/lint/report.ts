import type { SourceLocation } from '../location.js';
import { checkConfigFromComments, mergeCheckConfig, type CheckConfig } from './config.js';
import type { LintRule } from './rules.js';

/** One finding of a lint check. */
export interface LintWarning {
  /** The rule's name (`StageNameCasing`), what `# check=skip=` takes. */
  readonly rule: string;
  readonly description: string;
  readonly url: string;
  readonly message: string;
  /** 'error' when the rule says so or `# check=error=true` is in force. */
  readonly level: 'warning' | 'error';
  readonly location: SourceLocation;
}

/** Collects findings, honouring the file's check config and per-instruction `# check=` comments. */
export class Reporter {
  readonly warnings: LintWarning[] = [];
  constructor(private readonly config: CheckConfig) {}

  report<A extends unknown[]>(rule: LintRule<A>, location: SourceLocation, comments: readonly string[], ...args: A): void {
    const local = checkConfigFromComments(comments);
    const config = local === undefined ? this.config : mergeCheckConfig(this.config, local);
    if (rule.experimental === true) {
      if (config.experimental !== 'all' && !config.experimental.includes(rule.name)) return;
    } else if (config.skip === 'all' || config.skip.includes(rule.name)) {
      return;
    }
    this.warnings.push({
      rule: rule.name,
      description: rule.description,
      url: rule.url,
      message: rule.format(...args),
      level: config.error || rule.level === 'error' ? 'error' : 'warning',
      location,
    });
  }
}
