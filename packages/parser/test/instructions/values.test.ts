import { applyChmod, parseChmod, parseDevice, parseGoDuration, parseMount, parsePortSpec, parseRamSize, suggest } from '@strata/parser';

describe('parseChmod / applyChmod', () => {
  it('reads octal and symbolic modes', () => {
    expect(parseChmod('755')).toEqual({ kind: 'octal', mode: 0o755 });
    expect(parseChmod('0644')).toEqual({ kind: 'octal', mode: 0o644 });
    expect(parseChmod('u+x,go-w')).toEqual({ kind: 'symbolic', clauses: [{ who: 'u', op: '+', perms: 'x' }, { who: 'go', op: '-', perms: 'w' }] });
  });

  it.each(['888', '7777777', 'u+q', 'x', ''])('rejects %j', (text) => {
    expect(() => parseChmod(text)).toThrow(expect.objectContaining({ code: 'PARSE_INVALID_CHMOD' }));
  });

  it('applies symbolic clauses like chmod(1)', () => {
    expect(applyChmod(parseChmod('u+x,go-w'), 0o666, false)).toBe(0o744);
    expect(applyChmod(parseChmod('a=rX'), 0o640, true)).toBe(0o555);
    expect(applyChmod(parseChmod('a=rX'), 0o640, false)).toBe(0o444);
    expect(applyChmod(parseChmod('+x'), 0o600, false)).toBe(0o711);
    expect(applyChmod(parseChmod('0700'), 0o644, false)).toBe(0o700);
  });
});

describe('parsePortSpec', () => {
  it('reads ports, ranges and protocols', () => {
    expect(parsePortSpec('80')).toEqual({ start: 80, end: 80, protocol: 'tcp', hostMapping: false });
    expect(parsePortSpec('8000-8010/UDP')).toEqual({ start: 8000, end: 8010, protocol: 'udp', protocolAsWritten: 'UDP', hostMapping: false });
    expect(parsePortSpec('127.0.0.1:8080:80/sctp')).toMatchObject({ start: 80, protocol: 'sctp', hostMapping: true });
  });

  it.each(['http', '80/icmp', '10-5', '65536', ''])('rejects %j', (text) => {
    expect(() => parsePortSpec(text)).toThrow(expect.objectContaining({ code: 'PARSE_INVALID_PORT' }));
  });
});

describe('parseMount', () => {
  it('expands values with the expander it is given', () => {
    const env: Record<string, string> = { T: 'tmpfs', SIZE: '64m' };
    const m = parseMount('type=$T,target=/t,size=$SIZE', { expand: (v) => v.replace(/\$(\w+)/g, (_, n: string) => env[n] ?? '') });
    expect(m).toMatchObject({ type: 'tmpfs', target: '/t', sizeLimit: 64 * 1024 * 1024, readOnly: false, deferred: false });
  });

  it('defers type-dependent checks when the type is a variable', () => {
    expect(parseMount('type=$T,target=/t,size=1g')).toMatchObject({ deferred: true, target: '/t' });
  });

  it('reads quoted CSV fields', () => {
    expect(parseMount('type=bind,"source=a,b",target=/x')).toMatchObject({ source: 'a,b', target: '/x' });
    expect(() => parseMount('type=bind,source="a')).toThrow(expect.objectContaining({ code: 'PARSE_INVALID_MOUNT' }));
  });

  it('reads ssh and secret options', () => {
    expect(parseMount('type=ssh,id=default,required,mode=0600,uid=1000,gid=1000')).toEqual({
      type: 'ssh', id: 'default', required: true, mode: 0o600, uid: 1000, gid: 1000, readOnly: true, raw: 'type=ssh,id=default,required,mode=0600,uid=1000,gid=1000', deferred: false,
    });
    expect(() => parseMount('type=secret,id=a,source=b')).toThrow("both source and id can't be set");
    expect(() => parseMount('type=secret,id=a,from=x')).toThrow('secret mount should not have a from');
  });
});

describe('small value parsers', () => {
  it('reads sizes as docker does', () => {
    expect(parseRamSize('512')).toBe(512);
    expect(parseRamSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseRamSize('10 mb')).toBe(10 * 1024 ** 2);
    expect(parseRamSize('big')).toBeUndefined();
  });

  it('reads Go durations in nanoseconds', () => {
    expect(parseGoDuration('1h2m3.5s')).toBe(3723.5e9);
    expect(parseGoDuration('250us')).toBe(250e3);
    expect(parseGoDuration('0')).toBe(0);
    expect(() => parseGoDuration('10')).toThrow('time: missing unit in duration "10"');
    expect(() => parseGoDuration('1d')).toThrow(expect.objectContaining({ code: 'PARSE_INVALID_DURATION' }));
  });

  it('reads devices', () => {
    expect(parseDevice('name=nvidia.com/gpu=all,required=false')).toEqual({ name: 'nvidia.com/gpu=all', required: false });
    expect(() => parseDevice('a,b')).toThrow("invalid field 'b' must be a key=value pair");
    expect(() => parseDevice('a,requird=1')).toThrow("unexpected key 'requird' in 'requird=1' (did you mean required?)");
  });

  it('suggests at edit distance below 3 only', () => {
    expect(suggest('form', ['from', 'chown'])).toBe('from');
    expect(suggest('xyz', ['from'])).toBeUndefined();
    expect(suggest('from', ['from', 'form'])).toBeUndefined();
  });
});
