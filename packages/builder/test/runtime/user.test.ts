import { resolveUser } from '@strata/builder';

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  'broken line',
  'app:x:1001:1001:App:/srv/app:/bin/false',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
].join('\n');
const group = ['root:x:0:', 'app:x:1001:', 'video:x:44:app,other', 'audio:x:29:app', 'staff:x:50:'].join('\n');
const files = { passwd, group };

describe('resolveUser (docker USER semantics)', () => {
  const rows: [string, ReturnType<typeof resolveUser>][] = [
    ['', { uid: 0, gid: 0, additionalGids: [], home: '/root' }],
    ['root', { uid: 0, gid: 0, additionalGids: [], home: '/root' }],
    ['app', { uid: 1001, gid: 1001, additionalGids: [44, 29], home: '/srv/app' }],
    ['1001', { uid: 1001, gid: 1001, additionalGids: [44, 29], home: '/srv/app' }],
    ['app:staff', { uid: 1001, gid: 50, additionalGids: [], home: '/srv/app' }],
    ['app:4242', { uid: 1001, gid: 4242, additionalGids: [], home: '/srv/app' }],
    ['4000', { uid: 4000, gid: 0, additionalGids: [], home: '/' }],
    ['4000:4000', { uid: 4000, gid: 4000, additionalGids: [], home: '/' }],
  ];
  it.each(rows)('USER %j', (spec, expected) => {
    expect(resolveUser(spec, files)).toEqual(expected);
  });

  it('rejects an unknown user name', () => {
    expect(() => resolveUser('ghost', files)).toThrow(expect.objectContaining({ code: 'BUILD_USER_UNKNOWN' }));
  });

  it('rejects an unknown group name', () => {
    expect(() => resolveUser('app:ghosts', files)).toThrow(expect.objectContaining({ code: 'BUILD_USER_UNKNOWN', message: expect.stringContaining('group ghosts') }));
  });
});
