// What strata bake uses of @cdktf/hcl2json (HashiCorp's HCL parser as wasm).
// The package's own typings say `/// <reference lib="dom" />`, which would put
// the DOM's fetch and BodyInit types into every program that compiles them
// (tsconfig.tests.json compiles all packages as one): tsconfig `paths` point
// the module name here instead. Run time is unchanged.
export function parse(filename: string, contents: string): Promise<Record<string, unknown>>;
export function getExpressionAst(filename: string, expression: string): Promise<unknown>;
