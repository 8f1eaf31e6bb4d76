import { BakeError } from './errors.js';
import { evalTemplate, evalValue, hclParser, type EvalScope, type UserFunction } from './hcl-eval.js';
import type { HclValue } from './hcl-functions.js';
import { emptyConfig, mergeTarget, targetFromAttributes, type BakeConfig } from './model.js';

/** A bake file read from disk (or stdin): its name, for messages, and its text. */
export interface BakeFile {
  readonly name: string;
  readonly text: string;
}

/** What evaluation reads from outside the files. */
export interface HclEnvironment {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** BAKE_LOCAL_PLATFORM: `os/arch[/variant]` of this machine. */
  readonly localPlatform: string;
  /** BAKE_CMD_CONTEXT. */
  readonly cmdContext: string;
}

type Attributes = Record<string, unknown>;
/** A block of the JSON form: `{ "target": { "app": [ {…} ] } }` (hcl2json) or `{ "target": { "app": {…} } }` (a JSON bake file). */
type Blocks = Record<string, Attributes[]>;

interface Parsed {
  readonly file: string;
  readonly blocks: Record<string, Blocks>;
}

function blocksOf(file: string, doc: Record<string, unknown>): Record<string, Blocks> {
  const out: Record<string, Blocks> = {};
  for (const [kind, value] of Object.entries(doc)) {
    if (!['variable', 'function', 'group', 'target'].includes(kind)) throw new BakeError('BAKE_INVALID', `${file}: unknown block type ${kind} (bake files have variable, function, group and target)`);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BakeError('BAKE_INVALID', `${file}: ${kind} must be an object of named blocks`);
    out[kind] = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([name, body]) => [name, (Array.isArray(body) ? body : [body]) as Attributes[]]));
  }
  return out;
}

async function parseFile(file: BakeFile, kind: 'hcl' | 'json'): Promise<Parsed> {
  let doc: Record<string, unknown>;
  try {
    doc = kind === 'json' ? (JSON.parse(file.text) as Record<string, unknown>) : await (await hclParser()).parse(file.name, file.text);
  } catch (error) {
    throw new BakeError('BAKE_PARSE', `${file.name}: ${(error as Error).message.replace(/^parse config: /, '')}`, { cause: error });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new BakeError('BAKE_PARSE', `${file.name}: the file is not an object of blocks`);
  return { file: file.name, blocks: blocksOf(file.name, doc) };
}

/** A `${name}` reference as hcl2json writes a bare name (function params): the name. */
function bareName(raw: unknown): string {
  const text = String(raw);
  const m = /^\$\{([A-Za-z_][A-Za-z0-9_-]*)\}$/.exec(text);
  return m === null ? text : (m[1] as string);
}

/** A variable's value from the environment, typed after its default as buildx does (bool, number, CSV list). */
function fromEnvironment(name: string, text: string, typed: HclValue | undefined, file: string): HclValue {
  if (typeof typed === 'boolean') {
    if (/^(1|t|true|TRUE|True)$/.test(text)) return true;
    if (/^(0|f|false|FALSE|False)$/.test(text)) return false;
    throw new BakeError('BAKE_EVAL', `${file}: variable ${name}: ${text} is not a bool`);
  }
  if (typeof typed === 'number') {
    const n = Number(text);
    if (text.trim() === '' || Number.isNaN(n)) throw new BakeError('BAKE_EVAL', `${file}: variable ${name}: ${text} is not a number`);
    return n;
  }
  if (Array.isArray(typed)) return text === '' ? [] : text.split(',').map((s) => s.trim());
  return text;
}

/**
 * Reads docker-bake.hcl and docker-bake.json files as one definition, as
 * buildx merges them: variables (defaults; an environment variable of the
 * same name overrides, typed like the default; `NAME_JSON` as JSON),
 * user functions, groups and targets, every string evaluated as an HCL
 * template. Targets of the same name in several blocks or files merge.
 */
export async function loadHclFiles(files: readonly (BakeFile & { kind: 'hcl' | 'json' })[], environment: HclEnvironment): Promise<BakeConfig> {
  const parsed: Parsed[] = [];
  for (const f of files) parsed.push(await parseFile(f, f.kind));
  const variables = new Map<string, { body: Attributes; file: string }>();
  const functions = new Map<string, UserFunction>();
  for (const p of parsed) {
    for (const [name, bodies] of Object.entries(p.blocks.variable ?? {})) for (const body of bodies) variables.set(name, { body: { ...(variables.get(name)?.body ?? {}), ...body }, file: p.file });
    for (const [name, bodies] of Object.entries(p.blocks.function ?? {})) {
      const body = bodies[bodies.length - 1] ?? {};
      const params = Array.isArray(body.params) ? body.params.map(bareName) : [];
      functions.set(name, { params, ...(body.variadic_params === undefined ? {} : { variadic: bareName(body.variadic_params) }), result: body.result ?? null });
    }
  }
  const envLookup = environment.env.BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP === undefined || environment.env.BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP === '';
  const values = new Map<string, Promise<HclValue>>();
  const evaluating: string[] = [];
  const targetBlocks = new Map<string, { body: Attributes; file: string }[]>();
  for (const p of parsed) for (const [name, bodies] of Object.entries(p.blocks.target ?? {})) for (const body of bodies) targetBlocks.set(name, [...(targetBlocks.get(name) ?? []), { body, file: p.file }]);

  const scopeFor = (file: string): EvalScope => ({ file, functions, lookup: (name) => lookup(name, file), targetAttribute: (target, attr) => targetAttribute(target, attr, file) });
  const variableValue = async (name: string): Promise<HclValue> => {
    const def = variables.get(name) as { body: Attributes; file: string };
    evaluating.push(name);
    try {
      const scope = scopeFor(def.file);
      const defaultValue = def.body.default === undefined ? undefined : await evalValue(def.body.default, scope);
      const json = envLookup ? environment.env[`${name}_JSON`] : undefined;
      if (json !== undefined && !variables.has(`${name}_JSON`)) return JSON.parse(json) as HclValue;
      const text = envLookup ? environment.env[name] : undefined;
      if (text !== undefined) return fromEnvironment(name, text, defaultValue ?? undefined, def.file);
      return defaultValue === undefined ? '' : defaultValue;
    } finally {
      evaluating.pop();
    }
  };
  async function lookup(name: string, file: string): Promise<HclValue> {
    if (variables.has(name)) {
      if (evaluating.includes(name)) throw new BakeError('BAKE_EVAL', `${file}: variable ${name} refers to itself (${[...evaluating, name].join(' -> ')})`);
      let v = values.get(name);
      if (v === undefined) {
        v = variableValue(name);
        values.set(name, v);
      }
      return v;
    }
    if (name === 'BAKE_LOCAL_PLATFORM') return environment.localPlatform;
    if (name === 'BAKE_CMD_CONTEXT') return environment.cmdContext;
    throw new BakeError('BAKE_EVAL', `${file}: unknown variable ${name}: declare it with variable "${name}" {}`);
  }

  // `target.NAME.ATTR`: another target's attributes as its blocks write them (evaluated on demand, cycles refused)
  const attrValues = new Map<string, Promise<HclValue>>();
  const attrStack: string[] = [];
  const targetAttribute = async (target: string, attr: string, file: string): Promise<HclValue> => {
    const blocks = targetBlocks.get(target);
    if (blocks === undefined) throw new BakeError('BAKE_EVAL', `${file}: target.${target}: there is no target ${target}`);
    const id = `${target}.${attr}`;
    if (attrStack.includes(id)) throw new BakeError('BAKE_EVAL', `${file}: target.${id} refers to itself`);
    let pending = attrValues.get(id);
    if (pending === undefined) {
      attrStack.push(id);
      pending = (async () => {
        try {
          for (const block of [...blocks].reverse()) if (block.body[attr] !== undefined) return await evalValue(block.body[attr], scopeFor(block.file));
          const inherits = blocks.flatMap((b) => (Array.isArray(b.body.inherits) ? b.body.inherits.map(String) : []));
          for (const parent of [...inherits].reverse()) {
            const value = await targetAttribute(parent, attr, file).catch(() => undefined);
            if (value !== undefined) return value;
          }
          return null;
        } finally {
          attrStack.splice(attrStack.indexOf(id), 1);
        }
      })();
      attrValues.set(id, pending);
    }
    return pending;
  };

  const config = emptyConfig();
  for (const p of parsed) {
    for (const [name, bodies] of Object.entries(p.blocks.group ?? {})) {
      for (const body of bodies) {
        const scope = scopeFor(p.file);
        const targets = await evalValue(body.targets ?? [], scope);
        const description = body.description === undefined ? undefined : await evalTemplate(String(body.description), scope);
        const prior = config.groups.get(name);
        config.groups.set(name, {
          ...(description === undefined ? (prior?.description === undefined ? {} : { description: prior.description }) : { description: String(description) }),
          targets: [...(prior?.targets ?? []), ...(Array.isArray(targets) ? targets.map(String) : [String(targets)])],
        });
      }
    }
  }
  for (const [name, blocks] of targetBlocks) {
    let merged = config.targets.get(name) ?? {};
    for (const block of blocks) {
      const attrs: Record<string, HclValue> = {};
      for (const [key, raw] of Object.entries(block.body)) attrs[key] = await evalValue(raw, scopeFor(block.file));
      merged = mergeTarget(merged, targetFromAttributes(name, attrs, config.ignored));
      if (attrs.inherits !== undefined) merged.inherits = [...(merged.inherits ?? []), ...(Array.isArray(attrs.inherits) ? attrs.inherits.map(String) : [String(attrs.inherits)])];
    }
    config.targets.set(name, merged);
  }
  return config;
}
