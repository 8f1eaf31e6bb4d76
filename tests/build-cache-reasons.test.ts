// Why a step hit or missed the cache, as --progress=json reports it, and
// --no-cache-filter: real builds (runc over overlayfs) in a store on tmpfs,
// through this worktree's bin/strata.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { loadTestImage, testImage } from './support/test-images.js';
import { strataBuildJson, type JsonEvent } from './support/cli-json.js';

jest.setTimeout(180_000);

const base = 'localhost/test/busybox:latest';

describe('cache reasons in --progress=json, --no-cache-filter', () => {
  let dir: string;
  let context: string;
  let env: NodeJS.ProcessEnv;

  const dockerfile = (runText: string) => `
FROM ${base} AS deps
RUN echo deps > /deps.txt
FROM ${base} AS app
ARG FLAVOUR=plain
COPY src/ /src/
RUN ${runText}
COPY --from=deps /deps.txt /deps.txt
`;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-cache-reasons-');
    const store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    context = join(dir, 'ctx');
    mkdirSync(join(context, 'src', 'lib'), { recursive: true });
    writeFileSync(join(context, 'src', 'main.py'), 'print("hello")\n');
    writeFileSync(join(context, 'src', 'lib', 'util.py'), 'X = 1\n');
    writeFileSync(join(context, 'Dockerfile'), dockerfile('cat /src/main.py > /out.txt'));
    env = { PATH: process.env.PATH, HOME: dir, STRATA_ROOT: join(dir, 'store') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const strataBuild = (...extra: string[]): Promise<JsonEvent[]> => strataBuildJson(['-t', 'localhost/test/reasons:1', ...extra, context], env);

  /** `<stage> <KEYWORD>` -> `hit|miss: reason` for the layer steps. */
  function outcomes(events: JsonEvent[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of events) {
      if ((e.type !== 'step-cached' && e.type !== 'step-completed') || e.instruction === undefined || (e.index ?? 0) < 2) continue;
      const keyword = e.instruction.text.split(' ')[0] ?? '';
      if (!['RUN', 'COPY'].includes(keyword)) continue;
      const name = `${e.stage} ${keyword}${e.instruction.text.includes('--from') ? ' --from' : ''}`;
      out[name] = `${e.type === 'step-cached' ? 'hit' : 'miss'}: ${e.reason ?? ''}`;
    }
    return out;
  }

  it('a first build misses everywhere: not in the cache', async () => {
    expect(outcomes(await strataBuild())).toEqual({
      'deps RUN': 'miss: not in the cache',
      'app COPY': 'miss: not in the cache',
      'app RUN': 'miss: not in the cache',
      'app COPY --from': 'miss: not in the cache',
    });
  });

  it('a rebuild hits everywhere: inputs unchanged', async () => {
    const events = await strataBuild();
    expect(new Set(Object.values(outcomes(events)))).toEqual(new Set(['hit: inputs unchanged']));
  });

  it('names the changed source; later steps missed because their parent changed', async () => {
    writeFileSync(join(context, 'src', 'main.py'), 'print("hello, world")\n');
    expect(outcomes(await strataBuild())).toEqual({
      'deps RUN': 'hit: inputs unchanged',
      'app COPY': 'miss: source changed: src/main.py',
      'app RUN': 'miss: parent changed',
      'app COPY --from': 'miss: parent changed',
    });
    writeFileSync(join(context, 'src', 'new.py'), 'Y = 2\n');
    expect(outcomes(await strataBuild())['app COPY']).toBe('miss: source added: src/new.py');
  });

  it('a changed RUN says instruction changed; a build arg the step sees says so by name', async () => {
    writeFileSync(join(context, 'Dockerfile'), dockerfile('cat /src/main.py > /out.txt && echo "$FLAVOUR" >> /out.txt'));
    const changed = outcomes(await strataBuild());
    expect(changed['app COPY']).toBe('hit: inputs unchanged');
    expect(changed['app RUN']).toBe('miss: instruction changed');
    const arg = outcomes(await strataBuild('--build-arg', 'FLAVOUR=spicy'));
    expect(arg['app COPY']).toBe('hit: inputs unchanged');
    expect(arg['app RUN']).toBe('miss: build arg or environment changed: FLAVOUR');
    // a build arg no step declares invalidates nothing
    const unused = outcomes(await strataBuild('--build-arg', 'FLAVOUR=spicy', '--build-arg', 'UNUSED=1'));
    expect(new Set(Object.values(unused))).toEqual(new Set(['hit: inputs unchanged']));
  });

  it('--no-cache-filter runs the named stage only; other stages still hit', async () => {
    const events = await strataBuild('--build-arg', 'FLAVOUR=spicy', '--no-cache-filter', 'deps');
    const o = outcomes(events);
    expect(o['deps RUN']).toBe('miss: cache disabled for stage deps (--no-cache-filter)');
    expect(o['app COPY']).toBe('hit: inputs unchanged');
    expect(o['app RUN']).toBe('hit: inputs unchanged');
    // the stage's output is byte-identical, so the COPY --from it still hits
    expect(o['app COPY --from']).toBe('hit: inputs unchanged');
  });
});
