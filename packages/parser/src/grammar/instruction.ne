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
import { instructionHead, flagList, headTail } from '../ast.js';
%}

@lexer lexer

line -> %keyword tail
  {% ([keyword, tail]) => instructionHead(keyword, tail) %}
  | null
  {% () => instructionHead(null, headTail(null, false, null)) %}

# After the keyword: flags, then maybe a bare `--`, then maybe the rest. A
# trailing blank only occurs when a line is lexed as bytes and its last
# character ends in the byte 0x85 or 0xA0, which BuildKit takes for a space.
tail -> flagsPart endPart restPart
  {% ([flags, end, rest]) => headTail(flags, end, rest) %}

flagsPart -> null
  {% () => null %}
  | flags
  {% ([flags]) => flags %}

endPart -> null
  {% () => false %}
  | %blank %flagEnd
  {% () => true %}

restPart -> null
  {% () => null %}
  | %blank
  {% () => null %}
  | %blank %rest
  {% ([, rest]) => rest %}

flags -> %blank %flag
  {% ([, flag]) => flagList(null, flag) %}
  | flags %blank %flag
  {% ([list, , flag]) => flagList(list, flag) %}
