import { parseDockerfile, parseStages } from '@strata/parser';
import { planBuild } from '../../src/plan/plan.js';

function plan(text: string, target?: string) {
  const stages = parseStages(parseDockerfile(text));
  return planBuild(stages, { ...(target === undefined ? {} : { target }), expandFrom: (image) => image.replace('${BASE}', 'alpine') });
}

const multi = `
FROM alpine AS deps
RUN echo deps
FROM golang AS build
COPY --from=deps /x /x
FROM alpine AS unused
RUN echo never
FROM build AS test
RUN echo test
FROM \${BASE} AS final
COPY --from=build /app /app
`;

describe('planBuild', () => {
  it('builds the last stage and only what it needs, dependencies first', () => {
    const p = plan(multi);
    expect(p.stages.map((s) => s.label)).toEqual(['deps', 'build', 'final']);
    expect(p.target.base).toEqual({ kind: 'image', reference: 'alpine' });
  });

  it('--target picks a stage; FROM <stage> is a dependency', () => {
    const p = plan(multi, 'test');
    expect(p.stages.map((s) => s.label)).toEqual(['deps', 'build', 'test']);
    expect(p.target.base).toEqual({ kind: 'stage', index: 1 });
  });

  it('an unknown target lists the stage names', () => {
    expect(() => plan(multi, 'nope')).toThrow(expect.objectContaining({ code: 'BUILD_TARGET_UNKNOWN', message: expect.stringContaining('deps, build, unused, test, final') }));
  });

  it('FROM scratch and COPY --from by index', () => {
    const p = plan('FROM busybox\nRUN true\nFROM scratch\nCOPY --from=0 /bin/busybox /busybox\n');
    expect(p.stages.map((s) => s.label)).toEqual(['0', '1']);
    expect(p.target.base).toEqual({ kind: 'scratch' });
    expect(p.target.dependsOn).toEqual([0]);
  });

  it('RUN --mount from=<stage> (bind or cache) is a dependency; from=<image> is not', () => {
    const p = plan(
      'FROM alpine AS tools\nFROM alpine AS cachesrc\nFROM alpine AS unused\nFROM alpine\n' +
        'RUN --mount=type=bind,from=tools,source=/bin,target=/t --mount=type=cache,from=cachesrc,target=/c --mount=type=bind,from=busybox,target=/b true\n',
    );
    expect(p.stages.map((s) => s.label)).toEqual(['tools', 'cachesrc', '3']);
    expect(p.target.dependsOn).toEqual([0, 1]);
  });

  it("what a base stage's ONBUILD triggers read (COPY --from, RUN --mount from=) is built before the child", () => {
    const p = plan(
      'FROM alpine AS base\nONBUILD COPY --from=assets /a /a\nONBUILD RUN --mount=from=tools,target=/t true\n' +
        'FROM alpine AS assets\nFROM alpine AS tools\nFROM alpine AS unused\nFROM base\n',
    );
    expect(p.stages.map((s) => s.label)).toEqual(['base', 'assets', 'tools', '4']);
    expect(p.target.dependsOn).toEqual([0, 1, 2]);
  });
});
