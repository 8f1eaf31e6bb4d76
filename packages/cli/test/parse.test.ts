import { join } from 'node:path';
import { main } from '../src/index.js';
import { memoryIo } from './memory-io.js';

const dir = join(__dirname, 'fixtures', 'parse-basic');

describe('strata parse', () => {
  it('prints a readable listing with positions and heredoc bodies', async () => {
    const io = memoryIo({ cwd: dir });
    await expect(main(['parse', 'Dockerfile'], io)).resolves.toBe(0);
    expect(io.out()).toBe([
      'Dockerfile:1:1: # syntax=docker/dockerfile:1',
      'Dockerfile:2:1: from "alpine" "AS" "build"',
      'Dockerfile:3:1: env "A" "1" "=" "B" "\\"two words\\"" "="',
      'Dockerfile:4:1: run ["--mount=type=cache,target=/root/.cache"] "<<EOF"',
      '    <<EOF (expand)',
      '    | apk add git',
      'Dockerfile:7:1: copy ["--from=build"] "/src" "/dst"',
      'Dockerfile:8:1: onbuild (run "echo hi")',
      'Dockerfile:9:1: cmd (json) "sh" "-c" "echo $HOME"',
      '',
    ].join('\n'));
    expect(io.err()).toBe('');
  });

  it('prints the raw layer as JSON', async () => {
    const io = memoryIo({ cwd: dir });
    await expect(main(['parse', '--json', 'Dockerfile'], io)).resolves.toBe(0);
    const json = JSON.parse(io.out()) as { directives: unknown[]; instructions: { keyword: string; flags: string[]; args: string[]; heredocs: { name: string; content: string }[] }[]; warnings: unknown[] };
    expect(Object.keys(json)).toEqual(['directives', 'instructions', 'warnings']);
    expect(json.directives).toMatchObject([{ name: 'syntax', value: 'docker/dockerfile:1' }]);
    expect(json.instructions.map((i) => i.keyword)).toEqual(['from', 'env', 'run', 'copy', 'onbuild', 'cmd']);
    expect(json.instructions[2]).toMatchObject({ flags: ['--mount=type=cache,target=/root/.cache'], args: ['<<EOF'], heredocs: [{ name: 'EOF', content: 'apk add git\n' }] });
    expect(json.warnings).toEqual([]);
  });

  it('exits 1 with a located error for a file that does not parse', async () => {
    const io = memoryIo({ stdin: 'FROM a\nCMD ["a", 1]\n' });
    await expect(main(['parse', '-'], io)).resolves.toBe(1);
    expect(io.err()).toMatch(/^<stdin>:2:5: error: PARSE_JSON_NOT_STRINGS: when using JSON array syntax, arrays must be comprised of strings only\n/);
    expect(io.err()).toContain('\n  CMD ["a", 1]\n      ^~~~~~~~\nhint: ');
  });

  it('reports usage errors with exit 2', async () => {
    const io = memoryIo();
    await expect(main(['parse'], io)).resolves.toBe(2);
    expect(io.err()).toContain('Usage: strata parse [OPTIONS] FILE');
  });
});
