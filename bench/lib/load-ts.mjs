// Test support written in TypeScript (tests/**), for benchmarks that reuse it
// instead of copying it: transpiled (typescript's transpileModule, CommonJS)
// into a folder of the benchmark's and required from there.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const repo = join(dirname(new URL(import.meta.url).pathname), '..', '..');

/** Transpiles `files` (paths under tests/) into `out`; returns a require for them (`load('support/registry.js')`). */
export function loadTestModules(out, files) {
  const ts = require('typescript');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'package.json'), '{"type":"commonjs"}');
  for (const file of files) {
    const { outputText } = ts.transpileModule(readFileSync(join(repo, 'tests', file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    const target = join(out, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  return (file) => require(join(out, file));
}
