/** A point in a source text. line and column are 1-based (columns count UTF-16 code units); offset is 0-based. */
export interface Position {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

/** A range in a source text: `start` inclusive, `end` exclusive. */
export interface SourceRange {
  readonly start: Position;
  readonly end: Position;
}

/** Where a diagnostic applies: a range, and the file name when known. */
export interface SourceLocation extends SourceRange {
  readonly file?: string;
}
