import * as hcl2json from '@cdktf/hcl2json';
import { BakeError } from './errors.js';
import { callFunction, typeName, type HclValue } from './hcl-functions.js';

// Evaluation of HCL expressions as buildx evaluates a bake file. Parsing is
// HashiCorp's own HCL parser (@cdktf/hcl2json, Go compiled to wasm): a file
// becomes JSON whose strings are HCL templates (`${…}`, `%{…}`, `$${` for a
// literal `${`), the form of HCL's JSON syntax; each template is parsed into
// an expression tree by the same parser and evaluated here. What is not
// evaluated: splat expressions (`list[*].attr`), typed variables' type
// constraints beyond the primitive overrides, and the functions
// hcl-functions.ts lists as left out.

export type { HclValue } from './hcl-functions.js';

/** A node of @cdktf/hcl2json's expression tree (the fields evaluation reads). */
interface AstNode {
  readonly type: string;
  readonly meta?: Record<string, unknown>;
  readonly children?: readonly AstNode[];
  readonly range?: { readonly start: { readonly byte: number }; readonly end: { readonly byte: number } };
}

interface Hcl2Json {
  parse(filename: string, contents: string): Promise<Record<string, unknown>>;
  getExpressionAst(filename: string, expression: string): Promise<AstNode | null>;
}

/** The wasm parser (it starts loading with this module, which only `strata bake` imports). */
export function hclParser(): Promise<Hcl2Json> {
  return Promise.resolve(hcl2json as unknown as Hcl2Json);
}

/** A user function (`function "name" { params = [...] variadic_params = rest  result = ... }`). */
export interface UserFunction {
  readonly params: readonly string[];
  readonly variadic?: string;
  /** The result template (an HCL JSON string value). */
  readonly result: unknown;
}

/** What names mean while evaluating: variables (lazily), user functions, and names bound by for/function scopes. */
export interface EvalScope {
  readonly file: string;
  /** A top-level name: a variable, `target`, a built-in; throws BAKE_EVAL for an unknown one. */
  lookup(name: string): Promise<HclValue>;
  readonly functions: ReadonlyMap<string, UserFunction>;
  readonly locals?: ReadonlyMap<string, HclValue>;
  /** `target.NAME.ATTR`: another target's attribute, evaluated on demand. */
  readonly targetAttribute?: (target: string, attribute: string) => Promise<HclValue>;
}

function withLocals(scope: EvalScope, locals: ReadonlyMap<string, HclValue>): EvalScope {
  return { ...scope, locals: new Map([...(scope.locals ?? []), ...locals]) };
}

function fail(scope: EvalScope, message: string): BakeError {
  return new BakeError('BAKE_EVAL', `${scope.file}: ${message}`);
}

/** HCL's quoted-string escapes of a template literal, and the template escapes `$${` / `%%{`. */
function unescapeLiteral(raw: string): string {
  return raw
    .replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, e: string) => {
      if (e[0] === 'u' || e[0] === 'U') return String.fromCodePoint(parseInt(e.slice(1), 16));
      return ({ n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\' } as Record<string, string>)[e] ?? e;
    })
    .replace(/\$\$\{/g, '${')
    .replace(/%%\{/g, '%{');
}

/** Where the interpolation or directive whose body starts at `i` ends (past its `}`): nested braces and strings skipped. */
function interpolationEnd(t: string, i: number): number {
  let depth = 1;
  while (i < t.length) {
    const c = t[i];
    if (c === '"') {
      i = stringEnd(t, i + 1);
      continue;
    }
    if (c === '{') depth += 1;
    if (c === '}' && (depth -= 1) === 0) return i + 1;
    i += 1;
  }
  return t.length;
}

/** Where a quoted string inside an interpolation ends (past its closing quote). */
function stringEnd(t: string, i: number): number {
  while (i < t.length) {
    if (t[i] === '\\') i += 2;
    else if (t[i] === '"') return i + 1;
    else if ((t.startsWith('${', i) || t.startsWith('%{', i)) && !t.startsWith('$${', i - 1)) i = interpolationEnd(t, i + 2);
    else i += 1;
  }
  return t.length;
}

const ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A template string of the JSON form as an HCL quoted template the expression
 * parser reads: the literal parts escaped, interpolations (`${…}`, `%{…}`)
 * kept as written (their strings are HCL source already).
 */
function quote(t: string): string {
  let out = '"';
  let i = 0;
  while (i < t.length) {
    if (t.startsWith('$${', i) || t.startsWith('%%{', i)) {
      out += t.slice(i, i + 3);
      i += 3;
    } else if (t.startsWith('${', i) || t.startsWith('%{', i)) {
      const end = interpolationEnd(t, i + 2);
      out += t.slice(i, end);
      i = end;
    } else {
      const c = t[i] as string;
      out += ESCAPES[c] ?? c;
      i += 1;
    }
  }
  return `${out}"`;
}

const astCache = new Map<string, Promise<AstNode | null>>();

async function parseExpression(scope: EvalScope, source: string): Promise<AstNode> {
  let pending = astCache.get(source);
  if (pending === undefined) {
    pending = hclParser().then((p) => p.getExpressionAst(scope.file, source));
    astCache.set(source, pending);
  }
  let ast: AstNode | null;
  try {
    ast = await pending;
  } catch (error) {
    throw fail(scope, `cannot parse ${source}: ${(error as Error).message}`);
  }
  if (ast === null) throw fail(scope, `cannot parse ${source}`);
  return ast;
}

/** Evaluates a template string of the JSON form (a literal without `${`/`%{` is itself, unescaped). */
export async function evalTemplate(template: string, scope: EvalScope): Promise<HclValue> {
  if (!/[$%]\{/.test(template)) return template;
  const source = quote(template);
  return evalNode(await parseExpression(scope, source), scope, source);
}

/** Evaluates an expression written as HCL source (`a + 1`). */
export async function evalExpression(expression: string, scope: EvalScope): Promise<HclValue> {
  const source = `"\${${expression}}"`;
  return evalNode(await parseExpression(scope, source), scope, source);
}

/** Evaluates a value of the JSON form: strings are templates; lists and objects evaluated inside. */
export async function evalValue(raw: unknown, scope: EvalScope): Promise<HclValue> {
  if (typeof raw === 'string') return evalTemplate(raw, scope);
  if (raw === null || typeof raw === 'number' || typeof raw === 'boolean') return raw;
  if (Array.isArray(raw)) {
    const out: HclValue[] = [];
    for (const item of raw) out.push(await evalValue(item, scope));
    return out;
  }
  if (typeof raw === 'object') {
    const out: Record<string, HclValue> = {};
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) out[k] = await evalValue(v, scope);
    return out;
  }
  throw fail(scope, `unexpected value ${String(raw)}`);
}

/** A value in a template: strings as they are, numbers and bools as text; null and collections are errors. */
export function templateString(value: HclValue, scope: EvalScope): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) throw fail(scope, 'a template cannot include a null value');
  throw fail(scope, `a template cannot include a ${typeName(value)}`);
}

function truthy(value: HclValue, scope: EvalScope): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw fail(scope, `a condition must be a bool, not ${typeName(value)}`);
}

function num(value: HclValue, scope: EvalScope): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || Number.isNaN(n)) throw fail(scope, `a number is required, not ${typeName(value)}`);
  return n;
}

function equalValues(a: HclValue, b: HclValue): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function binary(op: string, a: HclValue, b: HclValue, scope: EvalScope): HclValue {
  switch (op) {
    case 'equal':
      return equalValues(a, b);
    case 'notEqual':
      return !equalValues(a, b);
    case 'logicalAnd':
      return truthy(a, scope) && truthy(b, scope);
    case 'logicalOr':
      return truthy(a, scope) || truthy(b, scope);
    case 'greaterThan':
      return num(a, scope) > num(b, scope);
    case 'greaterThanOrEqual':
      return num(a, scope) >= num(b, scope);
    case 'lessThan':
      return num(a, scope) < num(b, scope);
    case 'lessThanOrEqual':
      return num(a, scope) <= num(b, scope);
    case 'add':
      return num(a, scope) + num(b, scope);
    case 'subtract':
      return num(a, scope) - num(b, scope);
    case 'multiply':
      return num(a, scope) * num(b, scope);
    case 'divide':
      return num(a, scope) / num(b, scope);
    case 'modulo':
      return num(a, scope) % num(b, scope);
    default:
      throw fail(scope, `the operator ${op} is not supported`);
  }
}

/** `value[key]` / `value.key` on a list, tuple, map or object. */
function index(value: HclValue, key: HclValue, scope: EvalScope, text: string): HclValue {
  if (Array.isArray(value)) {
    const i = num(key, scope);
    if (!Number.isInteger(i) || i < 0 || i >= value.length) throw fail(scope, `${text}: index ${i} is out of range (${value.length} elements)`);
    return value[i] as HclValue;
  }
  if (value !== null && typeof value === 'object') {
    const k = templateString(key, scope);
    if (!(k in value)) throw fail(scope, `${text}: no attribute or key ${JSON.stringify(k)}`);
    return value[k] as HclValue;
  }
  throw fail(scope, `${text}: a ${typeName(value)} has no attributes or elements`);
}

interface TraversalPart {
  readonly type: string;
  readonly segment: string;
}

async function traverse(value: HclValue, parts: readonly TraversalPart[], scope: EvalScope, text: string): Promise<HclValue> {
  let current = value;
  for (const part of parts) current = index(current, part.type === 'indexTraversal' && /^-?[0-9]+$/.test(part.segment) && Array.isArray(current) ? Number(part.segment) : part.segment, scope, text);
  return current;
}

async function lookupName(name: string, scope: EvalScope): Promise<HclValue> {
  if (scope.locals?.has(name) === true) return scope.locals.get(name) as HclValue;
  return scope.lookup(name);
}

async function callUser(name: string, fn: UserFunction, args: HclValue[], scope: EvalScope): Promise<HclValue> {
  if (args.length < fn.params.length || (fn.variadic === undefined && args.length > fn.params.length)) {
    throw fail(scope, `function ${name} takes ${fn.params.length}${fn.variadic === undefined ? '' : ' or more'} arguments, not ${args.length}`);
  }
  const locals = new Map<string, HclValue>(fn.params.map((p, i) => [p, args[i] as HclValue]));
  if (fn.variadic !== undefined) locals.set(fn.variadic, args.slice(fn.params.length));
  // a function sees its parameters and the file's variables, not the caller's locals
  return evalValue(fn.result, { ...scope, locals });
}

async function evalFor(node: AstNode, scope: EvalScope): Promise<HclValue> {
  const meta = node.meta as Record<string, string | boolean>;
  const collection = await evalExpression(String(meta.collectionExpression), scope);
  const entries: [HclValue, HclValue][] =
    Array.isArray(collection) ? collection.map((v, i) => [i, v]) : collection !== null && typeof collection === 'object' ? Object.entries(collection) : [];
  if (!Array.isArray(collection) && (collection === null || typeof collection !== 'object')) throw fail(scope, `for: cannot iterate a ${typeName(collection)}`);
  const isObject = String(meta.openRangeValue ?? meta.value ?? '').trim().startsWith('{');
  const list: HclValue[] = [];
  const object: Record<string, HclValue> = {};
  for (const [k, v] of entries) {
    const locals = new Map<string, HclValue>();
    if (meta.keyVar !== '') locals.set(String(meta.keyVar), k);
    locals.set(String(meta.valVar), v);
    const inner = withLocals(scope, locals);
    if (meta.conditionalExpression !== undefined && meta.conditionalExpression !== '' && !truthy(await evalExpression(String(meta.conditionalExpression), inner), scope)) continue;
    const value = await evalExpression(String(meta.valueExpression), inner);
    if (!isObject) list.push(value);
    else {
      const key = templateString(await evalExpression(String(meta.keyExpression), inner), scope);
      if (meta.groupedValue === true) object[key] = [...((object[key] as HclValue[] | undefined) ?? []), value];
      else object[key] = value;
    }
  }
  return isObject ? object : list;
}

/** Evaluates one node of the tree; `source` is the text the tree was parsed from (object keys are read from it). */
async function evalNode(node: AstNode, scope: EvalScope, source: string): Promise<HclValue> {
  const children = node.children ?? [];
  const meta = (node.meta ?? {}) as Record<string, unknown>;
  const child = (i: number) => evalNode(children[i] as AstNode, scope, source);
  switch (node.type) {
    case 'templateWrap':
      return child(0);
    case 'template': {
      if (children.length === 1 && children[0]?.type === 'literalValue') return templateString(await child(0), scope);
      let out = '';
      for (let i = 0; i < children.length; i += 1) out += templateString(await child(i), scope);
      return out;
    }
    case 'literalValue': {
      const value = String(meta.value);
      if (meta.type === 'number') return Number(value);
      if (meta.type === 'bool') return value === 'true';
      if (meta.type === 'string') return unescapeLiteral(value);
      return null;
    }
    case 'scopeTraversal': {
      const parts = meta.traversal as TraversalPart[];
      const [first, ...rest] = parts;
      if (first === undefined) throw fail(scope, 'an empty reference');
      if (first.segment === 'target' && scope.targetAttribute !== undefined && scope.locals?.has('target') !== true) {
        const [name, attribute, ...more] = rest;
        if (name === undefined || attribute === undefined) throw fail(scope, `${String(meta.fullAccessor)}: write target.NAME.ATTRIBUTE`);
        return traverse(await scope.targetAttribute(name.segment, attribute.segment), more, scope, String(meta.fullAccessor));
      }
      return traverse(await lookupName(first.segment, scope), rest, scope, String(meta.fullAccessor ?? first.segment));
    }
    case 'relativeTraversal':
      return traverse(await child(0), meta.traversal as TraversalPart[], scope, String(meta.value ?? ''));
    case 'index':
      return index(await child(0), await child(1), scope, String(meta.value ?? ''));
    case 'function': {
      const name = String(meta.name);
      // can() and try() catch their arguments' errors: evaluated one by one here
      if (name === 'can' || name === 'try') {
        for (let i = 0; i < children.length; i += 1) {
          try {
            const value = await child(i);
            return name === 'can' ? true : value;
          } catch (error) {
            if (!(error instanceof BakeError)) throw error;
          }
        }
        if (name === 'can') return false;
        throw fail(scope, 'try: no argument could be evaluated');
      }
      const args: HclValue[] = [];
      for (let i = 0; i < children.length; i += 1) args.push(await child(i));
      if (meta.expandedFinalArgument === true) {
        const last = args.pop();
        if (!Array.isArray(last)) throw fail(scope, `${name}(...): only a list can be expanded with ...`);
        args.push(...last);
      }
      const user = scope.functions.get(name);
      if (user !== undefined) return callUser(name, user, args, scope);
      try {
        return callFunction(name, args);
      } catch (error) {
        throw fail(scope, `${name}(): ${(error as Error).message}`);
      }
    }
    case 'tuple': {
      const out: HclValue[] = [];
      for (let i = 0; i < children.length; i += 1) out.push(await child(i));
      return out;
    }
    case 'object': {
      const out: Record<string, HclValue> = {};
      for (let i = 0; i + 1 < children.length; i += 2) {
        const keyNode = children[i] as AstNode;
        const key =
          (keyNode.children ?? []).length > 0
            ? templateString(await evalNode((keyNode.children as AstNode[])[0] as AstNode, scope, source), scope)
            : source.slice(keyNode.range?.start.byte ?? 0, keyNode.range?.end.byte ?? 0);
        out[key] = await child(i + 1);
      }
      return out;
    }
    case 'conditional':
      return truthy(await child(0), scope) ? child(1) : child(2);
    case 'binaryOp': {
      const op = String(meta.operator);
      // && and || short-circuit as in HCL: `x != "" && x`
      if (op === 'logicalAnd' && !truthy(await child(0), scope)) return false;
      if (op === 'logicalOr' && truthy(await child(0), scope)) return true;
      return binary(op, await child(0), await child(1), scope);
    }
    case 'unaryOp': {
      const value = await child(0);
      if (meta.operator === 'logicalNot') return !truthy(value, scope);
      if (meta.operator === 'negate') return -num(value, scope);
      throw fail(scope, `the operator ${String(meta.operator)} is not supported`);
    }
    case 'for':
      return evalFor(node, scope);
    case '':
      // parentheses (and an object key written as an expression)
      if (children.length === 1) return child(0);
      throw fail(scope, 'an expression strata cannot evaluate');
    case 'splat':
      throw fail(scope, `splat expressions ([*]) are not supported: ${String(meta.value ?? '')}`);
    default:
      throw fail(scope, `${node.type} expressions are not supported`);
  }
}
