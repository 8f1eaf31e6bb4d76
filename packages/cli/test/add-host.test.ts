import { parseAddHost } from '../src/build-flags.js';

describe('strata build --add-host', () => {
  it.each([
    ['mirror.example:192.0.2.7', { name: 'mirror.example', address: '192.0.2.7' }],
    ['db=10.0.0.5', { name: 'db', address: '10.0.0.5' }],
    ['v6host:fd00::1', { name: 'v6host', address: 'fd00::1' }],
    ['v6host:[fd00::1]', { name: 'v6host', address: 'fd00::1' }],
    ['v6host=::1', { name: 'v6host', address: '::1' }],
  ])('%s', (text, expected) => {
    expect(parseAddHost(text)).toEqual(expected);
  });

  it.each(['nohost', ':192.0.2.7', 'name:not-an-ip', 'bad_name!:192.0.2.7', 'name:'])('refuses %s with the form it wants', (text) => {
    expect(() => parseAddHost(text)).toThrow(/expected NAME:IP/);
  });
});
