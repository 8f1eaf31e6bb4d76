// Each package README's "## Example" is real code: the block is extracted and
// type-checked against the packages' built declarations (dist/*.d.ts, what a
// user's editor sees; strict, as the packages are), so an example that drifts
// from the API fails here. Running them needs root,
// registries and networks, which the other tests cover.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const PACKAGES = ['parser', 'cache', 'registry', 'builder', 'cli'];

/** The first ```ts block after the "## Example" heading. */
function exampleOf(readme: string): string | undefined {
  const at = readme.search(/^## Example\s*$/m);
  if (at === -1) return undefined;
  return /```ts\n([\s\S]*?)\n```/.exec(readme.slice(at))?.[1];
}

describe('package README examples', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'strata-readme-examples-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every package README has an example', () => {
    for (const name of PACKAGES) expect([name, exampleOf(readFileSync(join(ROOT, 'packages', name, 'README.md'), 'utf8')) !== undefined]).toEqual([name, true]);
  });

  // tsc on a loaded machine can take a while
  it('the examples type-check against the packages', () => {
    const files = PACKAGES.map((name) => {
      const file = join(dir, `${name}.mts`); // .mts: an ES module wherever it is, so top-level await is allowed
      writeFileSync(file, `${exampleOf(readFileSync(join(ROOT, 'packages', name, 'README.md'), 'utf8')) ?? ''}\nexport {};\n`);
      return file;
    });
    const paths = Object.fromEntries(PACKAGES.map((name) => [`@strata/${name}`, [join(ROOT, 'packages', name, 'dist', 'index.d.ts')]]));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.base.json'),
        compilerOptions: {
          noEmit: true, composite: false, incremental: false, declaration: false, declarationMap: false,
          types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')], baseUrl: ROOT, paths,
        },
        files,
      }),
    );
    let output = '';
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8', cwd: ROOT });
    } catch (error) {
      output = `${(error as { stdout?: string }).stdout ?? ''}`.split(dir).join('<README>');
    }
    expect(output).toBe('');
  }, 300_000);
});
