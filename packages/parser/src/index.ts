export type { Position, SourceRange, SourceLocation } from './location.js';
export { DockerfileError, ParserErrors, dockerfileError, isDockerfileError } from './errors.js';
export type { ErrorRule, DockerfileErrorOptions } from './errors.js';
export type { Directive, Heredoc, RawInstruction, ParseWarning, ParseResult } from './ast.js';
export * from './instructions/index.js';
