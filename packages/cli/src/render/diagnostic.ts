/** A location in a file, as @strata/parser gives it (line and column 1-based). */
export interface DiagnosticLocation {
  readonly file?: string;
  readonly start: { readonly line: number; readonly column: number };
  readonly end: { readonly line: number; readonly column: number };
}

/** Anything worth showing with a file position: a lint finding or a typed error. */
export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  /** A stable code (`PARSE_UNKNOWN_INSTRUCTION`) or rule name (`StageNameCasing`). */
  readonly code?: string;
  readonly message: string;
  readonly hint?: string;
  readonly url?: string;
  readonly location?: DiagnosticLocation;
  /** The line the diagnostic points at, when the source text is not at hand. */
  readonly sourceLine?: string;
}

export interface RenderOptions {
  /** The file name to print when the location has none. */
  readonly file?: string;
  /** The whole source text: the pointed-at line is taken from it. */
  readonly source?: string;
  /** Print the severity word before the code (`error: PARSE_X: ...`); lint lines leave it out. */
  readonly showSeverity?: boolean;
  readonly color?: boolean;
}

const ansi = { red: '\u001b[31m', yellow: '\u001b[33m', bold: '\u001b[1m', dim: '\u001b[2m', reset: '\u001b[0m' };

function paint(text: string, code: string, color: boolean): string {
  return color ? `${code}${text}${ansi.reset}` : text;
}

/**
 * The caret line under `line`: spaces (tabs kept, so it lines up) to the
 * start column, `^`, then `~` to the end column on the same line or to the
 * end of the text.
 */
export function caretLine(line: string, startColumn: number, endColumn?: number): string {
  const start = Math.max(1, Math.min(startColumn, line.length + 1));
  const prefix = line.slice(0, start - 1).replace(/[^\t]/g, ' ');
  const trimmedEnd = line.replace(/\s+$/, '').length + 1;
  const end = Math.max(start + 1, Math.min(endColumn ?? trimmedEnd, trimmedEnd));
  return `${prefix}^${'~'.repeat(Math.max(0, end - start - 1))}`;
}

function sourceLineOf(d: Diagnostic, options: RenderOptions): string | undefined {
  const line = d.location?.start.line;
  if (options.source !== undefined && line !== undefined) {
    const lines = options.source.replace(/^\uFEFF/, '').split(/\r?\n/);
    const text = lines[line - 1];
    if (text !== undefined) return text;
  }
  return d.sourceLine;
}

/**
 * Renders one diagnostic for a terminal:
 *
 *     Dockerfile:3:1: StageNameCasing: Stage name 'Build' should be lowercase
 *       FROM alpine AS Build
 *       ^~~~~~~~~~~~~~~~~~~~
 *
 * then `hint:` and the documentation URL when there are any. Ends with a newline.
 */
export function renderDiagnostic(d: Diagnostic, options: RenderOptions = {}): string {
  const color = options.color === true;
  const file = d.location?.file ?? options.file;
  const where = d.location === undefined ? file : `${file ?? '<input>'}:${d.location.start.line}:${d.location.start.column}`;
  const severity = options.showSeverity === true ? `${paint(d.severity, d.severity === 'error' ? ansi.red : ansi.yellow, color)}: ` : '';
  const code = d.code === undefined ? '' : `${paint(d.code, ansi.bold, color)}: `;
  const out = [`${where === undefined ? '' : `${where}: `}${severity}${code}${d.message}`];
  const line = sourceLineOf(d, options);
  if (line !== undefined && d.location !== undefined) {
    const sameLine = d.location.end.line === d.location.start.line;
    out.push(`  ${line}`);
    out.push(`  ${paint(caretLine(line, d.location.start.column, sameLine ? d.location.end.column : undefined), d.severity === 'error' ? ansi.red : ansi.yellow, color)}`);
  }
  if (d.hint !== undefined && d.hint !== '') out.push(`${paint('hint', ansi.dim, color)}: ${d.hint}`);
  if (d.url !== undefined) out.push(`${paint('see', ansi.dim, color)}: ${d.url}`);
  return `${out.join('\n')}\n`;
}

/** A thrown value as a Diagnostic: typed errors (`code`, `location`, `hint`) keep their fields. */
export function diagnosticFromError(error: unknown): Diagnostic {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown; message?: unknown; hint?: unknown; location?: unknown; sourceLine?: unknown;
  };
  const location = e.location as DiagnosticLocation | undefined;
  return {
    severity: 'error',
    message: typeof e.message === 'string' ? e.message : String(error),
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(typeof e.hint === 'string' ? { hint: e.hint } : {}),
    ...(location !== undefined && typeof location === 'object' && location.start !== undefined ? { location } : {}),
    ...(typeof e.sourceLine === 'string' ? { sourceLine: e.sourceLine } : {}),
  };
}
