import { parseDockerfile, parseInstruction, parseStages, type Instruction } from '@strata/parser';
import { raw, result } from './raw.js';

function parse(original: string, args: readonly string[], options: Parameters<typeof raw>[2] = {}): Instruction {
  return parseInstruction(raw(original, args, options));
}

function parseError(original: string, args: readonly string[], options: Parameters<typeof raw>[2] = {}): unknown {
  try {
    parse(original, args, options);
  } catch (error) {
    return error;
  }
  throw new Error(`expected ${original} to fail`);
}

describe('parseInstruction', () => {
  it('reads FROM with --platform and AS, lower-casing the stage name', () => {
    const from = parse('FROM --platform=$BUILDPLATFORM golang:1.22 AS Build', ['golang:1.22', 'AS', 'Build'], { flags: ['--platform=$BUILDPLATFORM'] });
    expect(from).toMatchObject({ kind: 'from', keyword: 'FROM', image: 'golang:1.22', stageName: 'build', stageNameAsWritten: 'Build', asKeyword: 'AS', platform: '$BUILDPLATFORM', flagsUsed: ['platform'] });
  });

  it('rejects bad stage names and argument counts in FROM', () => {
    expect(parseError('FROM a AS 1x', ['a', 'AS', '1x'])).toMatchObject({
      code: 'PARSE_INVALID_STAGE_NAME',
      message: 'invalid name for build stage: "1x", name can\'t start with a number or contain symbols',
    });
    expect(parseError('FROM a b', ['a', 'b'])).toMatchObject({ code: 'PARSE_ARGUMENT_COUNT', message: 'FROM requires either one or three arguments' });
  });

  it('reads RUN mounts, network, security and devices', () => {
    const run = parse('RUN --mount=type=cache,target=/root/.cache,sharing=locked,id=pip --network=none --device=vendor.com/gpu=all,required make', ['make'], {
      flags: ['--mount=type=cache,target=/root/.cache,sharing=locked,id=pip', '--network=none', '--device=vendor.com/gpu=all,required'],
    });
    expect(run).toMatchObject({
      kind: 'run',
      cmdLine: ['make'],
      prependShell: true,
      network: 'none',
      security: 'sandbox',
      mounts: [{ type: 'cache', target: '/root/.cache', sharing: 'locked', id: 'pip', readOnly: false, deferred: false }],
      devices: [{ name: 'vendor.com/gpu=all', required: true }],
      flagsUsed: ['mount', 'network', 'device'],
    });
  });

  it('defaults bind and secret mounts to read-only and keeps variables for later', () => {
    const run = parse('RUN x', ['x'], { flags: ['--mount=type=secret,id=npmrc,env=NPM_TOKEN', '--mount=target=/src,from=build', '--mount=type=bind,source=$SRC,target=/s,rw'] });
    if (run.kind !== 'run') throw new Error('not run');
    expect(run.mounts[0]).toMatchObject({ type: 'secret', id: 'npmrc', env: 'NPM_TOKEN', readOnly: true });
    expect(run.mounts[1]).toMatchObject({ type: 'bind', target: '/src', from: 'build', readOnly: true });
    expect(run.mounts[2]).toMatchObject({ type: 'bind', target: '/s', readOnly: false, deferred: true, raw: 'type=bind,source=$SRC,target=/s,rw' });
    expect(run.mounts[2]?.source).toBeUndefined();
  });

  it.each([
    ['type=foo', 'unsupported mount type "foo"'],
    ['type=cahce,target=/x', 'unsupported mount type "cahce" (did you mean cache?)'],
    ['type=bind,target=/x,mode=0755', 'mode not allowed for "bind" type mounts'],
    ['type=cache,target=/x,sharing=everyone', 'unsupported sharing value "everyone"'],
    ['type=secret', 'invalid secret mount. one of source, target required'],
    ['type=tmpfs,target=/t,size=lots', 'invalid value for size: lots'],
    ['type=bind,target=/x,required', "unexpected key 'required' for mount type 'bind'"],
    ['type=bind,targt=/x', "unexpected key 'targt' in 'targt=/x' (did you mean target?)"],
    ['type=bind,from=$A/b,target=/x', "'from' doesn't support variable expansion, define alias stage instead"],
    ['type=cache,target=/x,uid=-1', 'invalid value -1 for uid'],
  ])('rejects --mount=%s', (mount, message) => {
    expect(parseError(`RUN --mount=${mount} x`, ['x'], { flags: [`--mount=${mount}`] })).toMatchObject({ code: 'PARSE_INVALID_MOUNT', message });
  });

  it('rejects bad --network and --security values', () => {
    expect(parseError('RUN --network=bridge x', ['x'], { flags: ['--network=bridge'] })).toMatchObject({ code: 'PARSE_INVALID_NETWORK', message: 'invalid network mode "bridge"' });
    expect(parseError('RUN --security=open x', ['x'], { flags: ['--security=open'] })).toMatchObject({ code: 'PARSE_INVALID_SECURITY' });
  });

  it('turns RUN heredocs into inline files', () => {
    const run = parse('RUN <<EOF', ['<<EOF'], { heredocs: [{ name: 'EOF', content: 'echo hi\n', expand: true, chomp: false }] });
    expect(run).toMatchObject({ kind: 'run', cmdLine: ['<<EOF'], prependShell: true, files: [{ name: 'EOF', data: 'echo hi\n', chomp: false }] });
  });

  it('reads COPY with every flag and inline sources', () => {
    const copy = parse('COPY --from=build --chown=1000:1000 --chmod=u+rwx,go+rx --link --parents --exclude=*.md --exclude=*.txt <<-EOF a /dst/', ['<<-EOF', 'a', '/dst/'], {
      flags: ['--from=build', '--chown=1000:1000', '--chmod=u+rwx,go+rx', '--link', '--parents', '--exclude=*.md', '--exclude=*.txt'],
      heredocs: [{ name: 'EOF', content: '\thello\n', expand: true, chomp: true }],
    });
    expect(copy).toMatchObject({
      kind: 'copy',
      from: 'build',
      chown: '1000:1000',
      chmod: 'u+rwx,go+rx',
      link: true,
      parents: true,
      excludes: ['*.md', '*.txt'],
      sources: ['a'],
      inlineSources: [{ path: 'EOF', data: 'hello\n', expand: true }],
      destination: '/dst/',
    });
  });

  it('reads ADD flags and checks --chmod and --checksum', () => {
    const add = parse('ADD --checksum=sha256:abc --keep-git-dir=false --unpack https://x/y.tgz /y', ['https://x/y.tgz', '/y'], {
      flags: ['--checksum=sha256:abc', '--keep-git-dir=false', '--unpack'],
    });
    expect(add).toMatchObject({ kind: 'add', checksum: 'sha256:abc', keepGitDir: false, unpack: true, sources: ['https://x/y.tgz'] });
    expect(parseError('ADD --chmod=999 a b', ['a', 'b'], { flags: ['--chmod=999'] })).toMatchObject({ code: 'PARSE_INVALID_CHMOD' });
    expect(parseError('ADD --checksum=nope a b', ['a', 'b'], { flags: ['--checksum=nope'] })).toMatchObject({ code: 'PARSE_INVALID_CHECKSUM' });
    // a git source's checksum is a commit hash or a prefix of one
    expect(parse('ADD --checksum=be1f38e https://x/y.git /y', ['https://x/y.git', '/y'], { flags: ['--checksum=be1f38e'] })).toMatchObject({ checksum: 'be1f38e' });
    expect(parseError('COPY --from=a a b', ['a', 'b'], { flags: ['--form=a'] })).toMatchObject({ code: 'PARSE_UNKNOWN_FLAG', message: 'unknown flag: --form (did you mean from?)' });
    expect(parseError('ADD --from=a a b', ['a', 'b'], { flags: ['--from=a'] })).toMatchObject({ code: 'PARSE_UNKNOWN_FLAG', message: 'unknown flag: --from' });
  });

  it('reads ENV and LABEL pairs, new and legacy forms', () => {
    expect(parse('ENV A=1 B="x y"', ['A', '1', '=', 'B', '"x y"', '='])).toMatchObject({
      kind: 'env',
      pairs: [{ key: 'A', value: '1', legacy: false }, { key: 'B', value: '"x y"', legacy: false }],
    });
    expect(parse('LABEL maintainer me', ['maintainer', 'me', ''])).toMatchObject({ kind: 'label', pairs: [{ key: 'maintainer', value: 'me', legacy: true }] });
  });

  it('reads ARG names and defaults as written', () => {
    expect(parse('ARG A B="1 2" C=', ['A', 'B="1 2"', 'C='])).toMatchObject({
      kind: 'arg',
      args: [{ key: 'A' }, { key: 'B', defaultValue: '"1 2"' }, { key: 'C', defaultValue: '' }],
    });
    expect(parseError('ARG =x', ['=x'])).toMatchObject({ code: 'PARSE_BLANK_NAME', message: 'ARG names can not be blank' });
  });

  it('checks EXPOSE ports without variables', () => {
    expect(parse('EXPOSE 80/tcp 8000-8010/udp $PORT', ['80/tcp', '8000-8010/udp', '$PORT'])).toMatchObject({ kind: 'expose', ports: ['80/tcp', '8000-8010/udp', '$PORT'] });
    expect(parseError('EXPOSE 80/icmp', ['80/icmp'])).toMatchObject({ code: 'PARSE_INVALID_PORT' });
    expect(parseError('EXPOSE 70000', ['70000'])).toMatchObject({ code: 'PARSE_INVALID_PORT' });
  });

  it('reads the one-argument instructions', () => {
    expect(parse('USER app:app', ['app:app'])).toMatchObject({ kind: 'user', user: 'app:app' });
    expect(parse('WORKDIR /app', ['/app'])).toMatchObject({ kind: 'workdir', path: '/app' });
    expect(parse('STOPSIGNAL SIGTERM', ['SIGTERM'])).toMatchObject({ kind: 'stopsignal', signal: 'SIGTERM' });
    expect(parse('MAINTAINER me', ['me'])).toMatchObject({ kind: 'maintainer', maintainer: 'me' });
    expect(parse('VOLUME /a /b', ['/a', '/b'])).toMatchObject({ kind: 'volume', volumes: ['/a', '/b'] });
    expect(parseError('VOLUME [""]', [''], { json: true })).toMatchObject({ code: 'PARSE_EMPTY_VOLUME' });
  });

  it('reads CMD, ENTRYPOINT and SHELL', () => {
    expect(parse('CMD ["a", "b"]', ['a', 'b'], { json: true })).toMatchObject({ kind: 'cmd', cmdLine: ['a', 'b'], prependShell: false });
    expect(parse('entrypoint run me', ['run me'])).toMatchObject({ kind: 'entrypoint', keyword: 'entrypoint', cmdLine: ['run me'], prependShell: true });
    expect(parse('SHELL ["/bin/bash", "-c"]', ['/bin/bash', '-c'], { json: true })).toMatchObject({ kind: 'shell', shell: ['/bin/bash', '-c'] });
    expect(parseError('SHELL /bin/bash -c', ['/bin/bash -c'])).toMatchObject({ code: 'PARSE_NOT_JSON' });
  });

  it('reads HEALTHCHECK with durations in nanoseconds, and NONE', () => {
    const hc = parse('HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --retries=3 CMD curl -f http://x/', ['CMD', 'curl -f http://x/'], {
      flags: ['--interval=30s', '--timeout=1m30s', '--start-period=500ms', '--retries=3'],
    });
    expect(hc).toMatchObject({ kind: 'healthcheck', health: { test: ['CMD-SHELL', 'curl -f http://x/'], interval: 30e9, timeout: 90e9, startPeriod: 500e6, startInterval: 0, retries: 3 } });
    expect(parse('HEALTHCHECK NONE', ['NONE'])).toMatchObject({ health: { test: ['NONE'] } });
    expect(parse('HEALTHCHECK --interval=5s NONE', ['NONE'], { flags: ['--interval=5s'] })).toMatchObject({ health: { test: ['NONE'], interval: 0 } });
    expect(parseError('HEALTHCHECK --intervall=5s NONE', ['NONE'], { flags: ['--intervall=5s'] })).toMatchObject({ message: 'unknown flag: --intervall (did you mean interval?)' });
    expect(parse('HEALTHCHECK CMD ["a","b"]', ['CMD', 'a', 'b'], { json: true })).toMatchObject({ health: { test: ['CMD', 'a', 'b'] } });
    expect(parseError('HEALTHCHECK NONE x', ['NONE', 'x'])).toMatchObject({ message: 'HEALTHCHECK NONE takes no arguments' });
    expect(parseError('HEALTHCHECK PING x', ['PING', 'x'])).toMatchObject({ message: 'Unknown type "PING" in HEALTHCHECK (try CMD)' });
    expect(parseError('HEALTHCHECK --retries=-1 CMD x', ['CMD', 'x'], { flags: ['--retries=-1'] })).toMatchObject({ message: '--retries cannot be negative (-1)' });
    expect(parseError('HEALTHCHECK --interval=10 CMD x', ['CMD', 'x'], { flags: ['--interval=10'] })).toMatchObject({ code: 'PARSE_INVALID_DURATION' });
  });

  it('keeps ONBUILD triggers and refuses ONBUILD, FROM and MAINTAINER', () => {
    const trigger = raw('RUN echo hi', ['echo hi']);
    expect(parse('ONBUILD RUN echo hi', [], { onbuild: trigger })).toMatchObject({ kind: 'onbuild', expression: 'RUN echo hi', trigger });
    expect(parseError('ONBUILD FROM x', [], { onbuild: raw('FROM x', ['x']) })).toMatchObject({ code: 'PARSE_ONBUILD_TRIGGER', message: "FROM isn't allowed as an ONBUILD trigger" });
  });

  it('rejects unknown instructions with a suggestion in the same casing', () => {
    expect(parseError('COPPY a b', [''])).toMatchObject({ code: 'PARSE_UNKNOWN_INSTRUCTION', message: 'unknown instruction: COPPY (did you mean COPY?)' });
    expect(parseError('workdri /x', [''])).toMatchObject({ message: 'unknown instruction: workdri (did you mean workdir?)' });
    expect(parseError('FOO bar', [''])).toMatchObject({ message: 'unknown instruction: FOO (did you mean FROM?)' });
    expect(parseError('FROBNICATE bar', [''])).toMatchObject({ message: 'unknown instruction: FROBNICATE' });
  });

  it('places errors at the instruction, with its source line', () => {
    const error = parseError('USER a b', ['a', 'b'], { line: 7 });
    expect(error).toMatchObject({ name: 'DockerfileError', location: { file: 'Dockerfile', start: { line: 7, column: 1 } }, sourceLine: 'USER a b' });
  });
});

describe('parseStages', () => {
  it('groups instructions into stages after the meta args', () => {
    const stages = parseStages(result([
      raw('ARG BASE=alpine', ['BASE=alpine']),
      raw('FROM $BASE AS one', ['$BASE', 'AS', 'one']),
      raw('RUN a', ['a']),
      raw('FROM one', ['one']),
      raw('CMD b', ['b']),
    ]));
    expect(stages.metaArgs.map((a) => a.args[0]?.key)).toEqual(['BASE']);
    expect(stages.stages.map((s) => [s.index, s.name, s.instructions.map((i) => i.kind)])).toEqual([[0, 'one', ['run']], [1, undefined, ['cmd']]]);
  });

  it('refuses instructions other than ARG before the first FROM', () => {
    expect(() => parseStages(result([raw('RUN a', ['a'])]))).toThrow(expect.objectContaining({ code: 'PARSE_NO_STAGE' }));
  });

  it('attaches doc comments when given the source', () => {
    const source = '# foo sets foo\nARG foo=bar\n\n# base defines first stage\nFROM busybox AS base\n# this is irrelevant\nARG foo\n';
    const stages = parseStages(result([
      raw('ARG foo=bar', ['foo=bar'], { line: 2 }),
      raw('FROM busybox AS base', ['busybox', 'AS', 'base'], { line: 5 }),
      raw('ARG foo', ['foo'], { line: 7 }),
    ]), { source });
    expect(stages.metaArgs[0]?.args[0]?.docComment).toBe('sets foo');
    expect(stages.stages[0]?.docComment).toBe('defines first stage');
    expect(stages.stages[0]?.instructions[0]).toMatchObject({ kind: 'arg', comments: ['this is irrelevant'], args: [{ key: 'foo', docComment: '' }] });
  });

  it('gives errors the whole physical line when it has the source', () => {
    const source = 'FROM alpine\n\t  FROM a b\n';
    expect(() => parseStages(parseDockerfile(source, { file: 'Dockerfile' }), { source })).toThrow(expect.objectContaining({
      code: 'PARSE_ARGUMENT_COUNT',
      message: 'FROM requires either one or three arguments',
      sourceLine: '\t  FROM a b',
      location: expect.objectContaining({ file: 'Dockerfile', start: expect.objectContaining({ line: 2, column: 4 }) }),
    }));
  });

  it('reads a real file end to end', () => {
    const source = [
      '# syntax=docker/dockerfile:1',
      'ARG GO=1.22',
      'FROM --platform=$BUILDPLATFORM golang:${GO} AS build',
      'RUN --mount=type=cache,target=/go/pkg/mod \\',
      '    --mount=type=bind,source=go.mod,target=go.mod \\',
      '    go mod download',
      'COPY --chmod=0755 <<-EOF /usr/local/bin/hello',
      '\t#!/bin/sh',
      '\techo hello',
      '\tEOF',
      'ONBUILD RUN echo child',
      'HEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/ || exit 1',
      'FROM scratch',
      'COPY --from=build /out /',
      '',
    ].join('\n');
    const { metaArgs, stages } = parseStages(parseDockerfile(source), { source });
    expect(metaArgs[0]?.args).toEqual([{ key: 'GO', defaultValue: '1.22', docComment: '' }]);
    const [build, final] = stages;
    expect(build?.from).toMatchObject({ image: 'golang:${GO}', stageName: 'build', platform: '$BUILDPLATFORM' });
    expect(build?.instructions.map((i) => i.kind)).toEqual(['run', 'copy', 'onbuild', 'healthcheck']);
    expect(build?.instructions[0]).toMatchObject({ mounts: [{ type: 'cache', target: '/go/pkg/mod' }, { type: 'bind', source: 'go.mod', target: 'go.mod', readOnly: true }], cmdLine: ['go mod download'] });
    expect(build?.instructions[1]).toMatchObject({ chmod: '0755', sources: [], inlineSources: [{ path: 'EOF', data: '#!/bin/sh\necho hello\n', expand: true }], destination: '/usr/local/bin/hello' });
    expect(build?.instructions[2]).toMatchObject({ expression: 'RUN echo child' });
    expect(build?.instructions[3]).toMatchObject({ health: { test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], interval: 300e9, timeout: 3e9 } });
    expect(final?.instructions[0]).toMatchObject({ kind: 'copy', from: 'build', sources: ['/out'], destination: '/' });
  });

  it('points flag errors at the flag itself', () => {
    const at = (source: string): unknown => {
      try {
        parseStages(parseDockerfile(source, { file: 'Dockerfile' }), { source });
      } catch (error) {
        return error;
      }
      throw new Error('expected an error');
    };
    expect(at('FROM a\nRUN --network=none \\\n    --mount=type=cahce,target=/x true\n')).toMatchObject({
      code: 'PARSE_INVALID_MOUNT',
      location: { start: { line: 3, column: 5 }, end: { line: 3, column: 33 } },
      sourceLine: '    --mount=type=cahce,target=/x true',
    });
    expect(at('FROM a\nCOPY --chown=1 --form=x a b\n')).toMatchObject({
      code: 'PARSE_UNKNOWN_FLAG',
      location: { start: { line: 2, column: 16 }, end: { line: 2, column: 24 } },
      sourceLine: 'COPY --chown=1 --form=x a b',
    });
    expect(at('FROM a\n  HEALTHCHECK --interval=1ns CMD true\n')).toMatchObject({
      code: 'PARSE_INVALID_DURATION',
      location: { start: { line: 2, column: 15 }, end: { line: 2, column: 29 } },
      sourceLine: '  HEALTHCHECK --interval=1ns CMD true',
    });
    expect(at('FROM a\nRUN --mount=type=cache,target=/a --mount=type=bind,mode=0700,target=/b x\n')).toMatchObject({
      message: 'mode not allowed for "bind" type mounts',
      location: { start: { line: 2, column: 34 } },
    });
  });
});
