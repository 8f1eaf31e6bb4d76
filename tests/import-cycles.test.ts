// No import cycles between the source files of packages/*/src
// (scripts/check-import-cycles.mjs), and proof that the check finds one.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const repo = join(__dirname, '..');
const script = join(repo, 'scripts', 'check-import-cycles.mjs');

function check(root?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [script, ...(root === undefined ? [] : [root])], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'strata-import-cycles-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('import cycles', () => {
  it('has none between the source files of packages/*/src', () => {
    const result = check();
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('scripts/check-import-cycles.mjs', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  it('reports each cycle as a chain of files and fails', () => {
    const root = tree({
      // a ring of types only, through a re-export
      'packages/one/src/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
      'packages/one/src/b.ts': "export type { A as B } from './a.js';\n",
      // a three-file ring through a folder's index, written without the .js
      'packages/one/src/x.ts': "import { sub } from './sub';\nexport const x = (): number => sub;\n",
      'packages/one/src/sub/index.ts': "import { y } from '../y.js';\nexport const sub = y;\n",
      'packages/one/src/y.ts': "export const y = 1;\nexport async function later(): Promise<unknown> { return import('./x.js'); }\n",
      // no ring: imports that only point one way, another package, and text that is no import
      'packages/one/src/leaf.ts': "import { y } from './y.js';\nimport { Store } from '@strata/cache';\n// import './leaf2.js'\nexport const text = \"import { z } from './leaf2.js'\";\nexport { y, Store };\n",
      'packages/one/src/leaf2.ts': "export { text } from './leaf.js';\n",
      'packages/two/src/index.ts': "export * from './c.js';\n",
      'packages/two/src/c.ts': "export const c = 'c';\n",
    });
    roots.push(root);
    const result = check(root);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim().split('\n')).toEqual([
      'import cycle among 2 files:',
      '  packages/one/src/a.ts -> packages/one/src/b.ts -> packages/one/src/a.ts',
      'import cycle among 3 files:',
      '  packages/one/src/sub/index.ts -> packages/one/src/y.ts -> packages/one/src/x.ts -> packages/one/src/sub/index.ts',
      '2 import cycles between source files of packages/*/src: move what the files share into a module they both import.',
    ]);
    expect(result.status).toBe(1);
  });

  it('passes a tree without a cycle', () => {
    const root = tree({
      'packages/one/src/index.ts': "export { a } from './a.js';\nexport type { B } from './b/index.js';\n",
      'packages/one/src/a.ts': "import type { B } from './b';\nexport const a = (b: B): B => b;\n",
      'packages/one/src/b/index.ts': 'export interface B { readonly n: number }\n',
    });
    roots.push(root);
    expect(check(root)).toEqual({ status: 0, stdout: '', stderr: '' });
  });
});
