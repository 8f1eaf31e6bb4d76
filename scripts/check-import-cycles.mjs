#!/usr/bin/env node
// Fails on an import cycle between the source files of packages/*/src: a
// ring of modules is one idea split over several files, and a reader cannot
// start at either end. Every relative `import` and `export ... from` counts,
// `import type` too (a ring of types is still a ring for a reader), and so do
// `import()` calls and `import('...')` types. Specifiers resolve as tsc's
// NodeNext does: `./x.js` is `./x.ts`, a folder is its `index.ts`. Imports of
// other packages (`@strata/...`) cannot close a ring: package dependencies
// point downwards (tsconfig references).
//
//   node scripts/check-import-cycles.mjs [ROOT]     (ROOT: the repository; default this one)
//
// Prints each cycle as a chain of files (several chains for files tangled
// together: every import inside the tangle is on one of them, so breaking
// every chain breaks the tangle) and exits 1; prints nothing and exits 0
// when there is none. Used by tests/import-cycles.test.ts.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
// TypeScript's own parser reads the imports: no regular expression over source text
const ts = createRequire(join(repo, 'package.json'))('typescript');

/** Every .ts file (not .d.ts) under packages/<name>/src of `root`, absolute. */
function sourceFiles(root) {
  const files = [];
  const packages = join(root, 'packages');
  if (!existsSync(packages)) return files;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
    }
  };
  for (const name of readdirSync(packages).sort()) {
    const src = join(packages, name, 'src');
    if (existsSync(src) && statSync(src).isDirectory()) walk(src);
  }
  return files.sort();
}

/** The module specifiers a file names: static imports and re-exports, import() calls and import types. */
function specifiers(file) {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found = [];
  const literal = (node) => (node !== undefined && ts.isStringLiteralLike(node) ? node.text : undefined);
  const visit = (node) => {
    let name;
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) name = literal(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) name = literal(node.moduleReference.expression);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) name = literal(node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) name = literal(node.argument.literal);
    if (name !== undefined) found.push(name);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The source file a relative specifier names, if it is one of `files`. */
function resolveSpecifier(from, specifier, files) {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  const base = resolve(dirname(from), specifier);
  const candidates = [
    base.replace(/\.js$/, '.ts'),
    base,
    `${base}.ts`,
    join(base.replace(/\.js$/, ''), 'index.ts'),
    join(base, 'index.ts'),
  ];
  return candidates.find((candidate) => files.has(candidate));
}

/** file -> the files it imports (sorted, without duplicates). */
export function importGraph(root) {
  const list = sourceFiles(root);
  const files = new Set(list);
  const graph = new Map();
  for (const file of list) {
    const targets = new Set();
    for (const specifier of specifiers(file)) {
      const target = resolveSpecifier(file, specifier, files);
      if (target !== undefined) targets.add(target);
    }
    graph.set(file, [...targets].sort());
  }
  return graph;
}

/** Strongly connected components (Tarjan), each a sorted list of files; only those that hold a cycle. */
function tangles(graph) {
  let counter = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  const connect = (v) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), index.get(w)));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v).includes(v)) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** The shortest path from `from` to `to` inside `members` (breadth first), both ends included. */
function shortestPath(graph, members, from, to) {
  const previous = new Map([[from, undefined]]);
  const queue = [from];
  while (queue.length > 0) {
    const v = queue.shift();
    if (v === to) break;
    for (const w of graph.get(v)) {
      if (members.has(w) && !previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  const path = [];
  for (let v = to; v !== undefined; v = previous.get(v)) path.unshift(v);
  return path;
}

/**
 * Cycles as chains of files, first file repeated at the end: for each import
 * inside a tangle, the shortest cycle through it (so every import of the
 * tangle is on a printed chain), each chain started at its smallest file.
 */
export function findCycles(root) {
  const graph = importGraph(root);
  const cycles = [];
  for (const component of tangles(graph)) {
    const members = new Set(component);
    const seen = new Set();
    const chains = [];
    for (const from of component) {
      for (const to of graph.get(from)) {
        if (!members.has(to)) continue;
        const ring = from === to ? [from] : [from, ...shortestPath(graph, members, to, from).slice(0, -1)];
        const start = ring.indexOf([...ring].sort()[0]);
        const rotated = [...ring.slice(start), ...ring.slice(0, start)];
        const key = rotated.join('\n');
        if (seen.has(key)) continue;
        seen.add(key);
        chains.push([...rotated, rotated[0]].map((file) => relative(root, file).split(sep).join('/')));
      }
    }
    chains.sort((a, b) => a.length - b.length || (a.join() < b.join() ? -1 : 1));
    cycles.push({ files: component.map((file) => relative(root, file).split(sep).join('/')), chains });
  }
  return cycles;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? repo);
  const cycles = findCycles(root);
  for (const { files, chains } of cycles) {
    console.log(`import cycle among ${files.length} file${files.length === 1 ? '' : 's'}:`);
    for (const chain of chains) console.log(`  ${chain.join(' -> ')}`);
  }
  if (cycles.length > 0) {
    console.log(`${cycles.length} import cycle${cycles.length === 1 ? '' : 's'} between source files of packages/*/src: move what the files share into a module they both import.`);
    process.exitCode = 1;
  }
}
