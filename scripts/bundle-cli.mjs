#!/usr/bin/env node
// Bundles the CLI (packages/cli/dist, after `tsc -b`) into one CommonJS file,
// packages/cli/dist/bundle/strata.cjs, which `bin/strata` runs with a V8 code
// cache beside it. Resolving, reading and compiling ~200 ES modules was ~40%
// of a no-op rebuild; one file whose compiled code is cached starts in a
// fraction of that. What the sources load lazily (`await import`) stays lazy:
// esbuild keeps such a module's initialization until the import runs. Native
// addons stay outside the bundle.   node scripts/bundle-cli.mjs
import { createRequire } from 'node:module';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(repo, 'packages', 'cli');
// esbuild is @strata/cli's dev dependency: resolve it from there
const { build } = createRequire(join(cli, 'package.json'))('esbuild');
const outdir = join(cli, 'dist', 'bundle');

/**
 * `await import('node:https')` in the sources (a built-in loaded on first
 * use) would stay a real dynamic import in the bundle, which a vm script run
 * with a code cache cannot perform: turn it into a lazily required module.
 */
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(plugin) {
    plugin.onResolve({ filter: /^node:/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, namespace: 'lazy-builtin' } : undefined));
    plugin.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: [join(cli, 'dist', 'index.js')],
  outfile: join(outdir, 'strata.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // @cdktf/hcl2json (strata bake) reads its wasm beside its own files
  external: ['@napi-rs/xattr', '@cdktf/hcl2json'],
  legalComments: 'none',
  charset: 'ascii',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  metafile: true,
  plugins: [lazyBuiltins],
});
const output = readFileSync(join(outdir, 'strata.cjs'), 'utf8');
const dynamic = /\bimport\((?!\))/.exec(output);
if (dynamic !== null) {
  throw new Error(`the bundle still has a dynamic import() at offset ${dynamic.index}: ${output.slice(dynamic.index, dynamic.index + 60)}`);
}
// which module brings how many bytes: `node -e` over it, or esbuild's analyzer
writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
