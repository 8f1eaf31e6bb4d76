import { formatOutput, parseOutputSpec } from '../../src/output/output-spec.js';

describe('parseOutputSpec (docker --output syntax)', () => {
  it.each([
    ['type=oci,dest=out.tar', { type: 'oci', dest: 'out.tar' }],
    ['type=oci,dest=out.tar,compression=zstd', { type: 'oci', dest: 'out.tar', compression: 'zstd' }],
    ['dest=/tmp/img.tar,type=docker', { type: 'docker', dest: '/tmp/img.tar' }],
    ['type=registry', { type: 'registry' }],
    ['type=registry,compression=gzip', { type: 'registry', compression: 'gzip' }],
  ])('%s', (text, expected) => {
    const output = parseOutputSpec(text);
    expect(output).toEqual(expected);
    expect(parseOutputSpec(formatOutput(output))).toEqual(expected);
  });

  it.each([
    ['dest=out.tar', 'type= is missing'],
    ['type=local,dest=out', "unknown type 'local'"],
    ['type=oci', 'type=oci needs dest=FILE'],
    ['type=oci,dest=a,dest=b', 'dest is given twice'],
    ['type=oci,dest=a,compression=lz4', 'compression must be gzip or zstd'],
    ['type=docker,dest=a,compression=zstd', 'a docker-archive holds gzip layers'],
    ['type=registry,dest=a', 'takes no dest'],
    ['type=oci,dest=a,name=x', "unknown field 'name'"],
    ['type=oci,oops', "'oops' is not KEY=VALUE"],
  ])('refuses %s', (text, message) => {
    expect(() => parseOutputSpec(text)).toThrow(expect.objectContaining({ code: 'BUILD_OUTPUT_INVALID', message: expect.stringContaining(message) }));
  });
});
