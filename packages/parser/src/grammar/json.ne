# A JSON text whose top level must be an array (BuildKit's exec form,
# `["executable", "arg"]`). Tokens come from the moo lexer's `json` state with
# white space dropped (see ../lexer.ts). Any JSON value may appear as
# an element: whether they are all strings is decided by the builder, since
# Go's encoding/json accepts the text first and BuildKit then rejects
# non-string elements. Compiled by nearleyc in `prebuild`.

@preprocessor typescript

@{%
import { grammarLexer as lexer } from '../lexer.js';
import { jsonArray, jsonString, jsonOther, jsonList } from '../ast.js';
%}

@lexer lexer

array -> %lbracket %rbracket
  {% () => jsonArray(null) %}
  | %lbracket values %rbracket
  {% ([, values]) => jsonArray(values) %}

values -> value
  {% ([value]) => jsonList(null, value) %}
  | values %comma value
  {% ([list, , value]) => jsonList(list, value) %}

value -> %string
  {% ([token]) => jsonString(token) %}
  | %number
  {% () => jsonOther() %}
  | %literal
  {% () => jsonOther() %}
  | array
  {% () => jsonOther() %}
  | object
  {% () => jsonOther() %}

object -> %lbrace %rbrace
  | %lbrace members %rbrace

members -> member
  | members %comma member

member -> %string %colon value
