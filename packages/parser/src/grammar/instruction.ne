# One logical Dockerfile line, as tokens of the moo lexer's `instruction`,
# `flags` and `args` states (see ../lexer.ts): the keyword, the `--flags`
# before the arguments (a bare `--` ends them), then the rest of the line.
# An empty line (a lone escape token continued to the end of the file) is an
# instruction with an empty keyword, as in BuildKit.
# Compiled by nearleyc in `prebuild`; the generated instruction.ts is not
# committed.

@preprocessor typescript

@{%
import { grammarLexer as lexer } from '../lexer.js';
import { instructionHead, flagList, type HeadTail } from '../ast.js';
%}

@lexer lexer

line -> %keyword tail
  {% ([keyword, tail]) => instructionHead(keyword, tail) %}
  | null
  {% () => instructionHead(null, { flags: null, end: false, rest: null }) %}

tail -> null
  {% (): HeadTail => ({ flags: null, end: false, rest: null }) %}
  | flags
  {% ([flags]): HeadTail => ({ flags, end: false, rest: null }) %}
  | flags %blank %rest
  {% ([flags, , rest]): HeadTail => ({ flags, end: false, rest }) %}
  | flags %blank %flagEnd
  {% ([flags]): HeadTail => ({ flags, end: true, rest: null }) %}
  | flags %blank %flagEnd %blank %rest
  {% ([flags, , , , rest]): HeadTail => ({ flags, end: true, rest }) %}
  | %blank %rest
  {% ([, rest]): HeadTail => ({ flags: null, end: false, rest }) %}
  | %blank %flagEnd
  {% (): HeadTail => ({ flags: null, end: true, rest: null }) %}
  | %blank %flagEnd %blank %rest
  {% ([, , , rest]): HeadTail => ({ flags: null, end: true, rest }) %}

flags -> %blank %flag
  {% ([, flag]) => flagList(null, flag) %}
  | flags %blank %flag
  {% ([list, , flag]) => flagList(list, flag) %}
