import type { CommandSyntax } from '../src/argv.js';
import { splitAtImage } from '../src/commands/container-common.js';
import { commandText } from '../src/commands/ps.js';

const syntax: CommandSyntax = {
  usage: 'strata run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: '',
  options: [
    { name: 'name', type: 'string', description: '' },
    { name: 'rm', type: 'boolean', description: '' },
    { name: 'env', short: 'e', type: 'string', multiple: true, description: '' },
    { name: 'interactive', short: 'i', type: 'boolean', description: '' },
    { name: 'tty', short: 't', type: 'boolean', description: '' },
  ],
  positionals: [1, 1],
};

describe('strata run: options end at the image', () => {
  it.each([
    [['busybox'], ['busybox'], []],
    [['busybox', 'sh', '-c', 'echo -n hi'], ['busybox'], ['sh', '-c', 'echo -n hi']],
    [['--rm', '-it', 'busybox', 'ls', '-l'], ['--rm', '-it', 'busybox'], ['ls', '-l']],
    [['--name', 'web', '-e', 'A=1', 'busybox', '-e'], ['--name', 'web', '-e', 'A=1', 'busybox'], ['-e']],
    [['--name=web', '-eA=1', '-ie', 'B=2', 'img', 'x'], ['--name=web', '-eA=1', '-ie', 'B=2', 'img'], ['x']],
    [['--rm', '--', 'img', '--help'], ['--rm', 'img'], ['--help']],
  ])('%j -> options %j, command %j', (args, head, command) => {
    expect(splitAtImage(args, syntax)).toEqual({ head, command });
  });

  it('shows commands as docker ps does, cut at 20 characters', () => {
    expect(commandText(['sh'], false)).toBe('"sh"');
    expect(commandText(['sh', '-c', 'echo hello world && sleep 1'], false)).toBe('"sh -c echo hello wo…"');
    expect(commandText(['sh', '-c', 'echo hello world && sleep 1'], true)).toBe('"sh -c echo hello world && sleep 1"');
  });
});
