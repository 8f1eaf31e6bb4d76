import type { BuildEvent } from '@strata/builder';
import { plainRenderer, ttyRenderer } from '../src/render/progress.js';

const location = { file: 'Dockerfile', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 10, offset: 9 } };
const step = (index: number, text: string) => ({ stepId: `0/${index}`, stage: 'build', index, total: 3, instruction: { text, location } });

const events: BuildEvent[] = [
  { type: 'build-started', timestamp: 1000, stages: 1, target: 'build', platform: 'linux/amd64' },
  { type: 'step-started', ...step(1, 'FROM busybox'), timestamp: 1000 },
  { type: 'step-completed', ...step(1, 'FROM busybox'), timestamp: 1000, durationMs: 0 },
  { type: 'step-started', ...step(2, 'COPY . /src'), timestamp: 1000 },
  { type: 'step-cached', ...step(2, 'COPY . /src'), timestamp: 1010, cacheKey: 'strata.v1:sha256:aa' },
  { type: 'step-started', ...step(3, 'RUN make'), timestamp: 1100 },
  { type: 'step-log', ...step(3, 'RUN make'), timestamp: 1500, stream: 'stdout', text: 'compiling main.c' },
  { type: 'step-completed', ...step(3, 'RUN make'), timestamp: 3600, durationMs: 2500 },
  { type: 'build-completed', timestamp: 3700, imageId: 'sha256:abc', manifestDigest: 'sha256:def', tags: ['docker.io/library/app:1'], durationMs: 2700 },
];

describe('progress renderers', () => {
  it('plain: BuildKit-style numbered steps, CACHED, log lines with seconds, DONE', () => {
    let out = '';
    const r = plainRenderer((t) => (out += t));
    for (const e of events) r.onEvent(e);
    r.close();
    expect(out.split('\n')).toEqual([
      '#0 building stage build for linux/amd64',
      '#1 [build 1/3] FROM busybox',
      '#1 DONE 0.0s',
      '#2 [build 2/3] COPY . /src',
      '#2 CACHED',
      '#3 [build 3/3] RUN make',
      '#3 0.400 compiling main.c',
      '#3 DONE 2.5s',
      '#4 writing image sha256:abc done',
      '#4 naming to docker.io/library/app:1 done',
      '#4 DONE 2.7s',
      '',
    ]);
  });

  it('tty: redraws one block in place; the last frame has every step and its state', () => {
    let out = '';
    let clock = 1000;
    const r = ttyRenderer((t) => (out += t), { width: 60, now: () => clock });
    for (const e of events) {
      clock = e.timestamp;
      r.onEvent(e);
      if (e.type === 'step-log') {
        // while RUN runs, its last log line shows under it
        expect(out.slice(out.lastIndexOf('[+]'))).toContain(' => => # compiling main.c');
      }
    }
    r.close();
    // each redraw moves the cursor up over the previous block and clears it
    expect(out).toMatch(/\u001b\[\d+F\u001b\[J/);
    const last = out.slice(out.lastIndexOf('[+]')).split('\n');
    expect(last[0]).toBe('[+] Building 2.7s (3/3) FINISHED');
    expect(last[1]).toMatch(/^ => \[build 1\/3\] FROM busybox +0\.0s$/);
    expect(last[2]).toMatch(/^ => CACHED \[build 2\/3\] COPY \. \/src +0\.0s$/);
    expect(last[3]).toMatch(/^ => \[build 3\/3\] RUN make +2\.5s$/);
    expect(last.slice(4)).toEqual([' => writing image sha256:abc', ' => naming to docker.io/library/app:1', '']);
  });
});
