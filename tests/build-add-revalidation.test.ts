// ADD of an http(s) URL without --checksum: the step's record keeps the
// download's ETag / Last-Modified, and a rebuild sends a conditional request;
// a 304 keeps the cache with nothing downloaded, new content reruns the step.
// The server runs in this process on 127.0.0.1 (strata downloads on the host).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { runStrata } from './support/cli-json.js';
import { loadTestImage, testImage } from './support/test-images.js';

jest.setTimeout(120_000);

interface Served {
  body: string;
  etag?: string;
  lastModified?: string;
  /** Answers 200 whatever the request's conditions (a server that ignores them). */
  ignoreConditions?: boolean;
}

describe('ADD URL revalidation (ETag, Last-Modified)', () => {
  const base = 'localhost/test/busybox:latest';
  let dir: string;
  let store: Store;
  let context: string;
  let server: Server;
  let url: string;
  const files = new Map<string, Served>();
  /** Every request: path, its conditional headers, the status answered. */
  const seen: { path: string; headers: IncomingHttpHeaders; status: number }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-add-revalidate-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    context = join(dir, 'ctx');
    mkdirSync(context);
    server = createServer((req, res) => {
      const file = files.get(req.url ?? '');
      const record = (status: number) => seen.push({ path: req.url ?? '', headers: req.headers, status });
      if (file === undefined) {
        record(404);
        res.writeHead(404).end();
        return;
      }
      const headers = { ...(file.etag === undefined ? {} : { etag: file.etag }), ...(file.lastModified === undefined ? {} : { 'last-modified': file.lastModified }) };
      const inm = req.headers['if-none-match'];
      const ims = req.headers['if-modified-since'];
      const fresh =
        file.ignoreConditions !== true &&
        ((inm !== undefined && file.etag !== undefined && inm === file.etag) ||
          (inm === undefined && ims !== undefined && file.lastModified !== undefined && Date.parse(file.lastModified) <= Date.parse(ims)));
      if (fresh) {
        record(304);
        res.writeHead(304, headers).end();
        return;
      }
      record(200);
      res.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(file.body) }).end(file.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  let counter = 0;
  async function buildText(text: string, buildArgs: Record<string, string> = {}) {
    const events: BuildEvent[] = [];
    const tag = `localhost/test/revalidate:${(counter += 1)}`;
    const before = seen.length;
    await build({ store, context, dockerfileText: text, tags: [tag], buildArgs, onEvent: (e) => events.push(e) });
    const add = events.find((e) => (e.type === 'step-cached' || e.type === 'step-completed') && e.instruction.text.startsWith('ADD'));
    return { tag, add, requests: seen.slice(before) };
  }

  it('ETag: an unchanged file is revalidated with If-None-Match, answered 304, and the step hits; a new ETag reruns it', async () => {
    files.set('/etag.txt', { body: 'one\n', etag: '"v1"' });
    const dockerfile = `FROM ${base}\nADD ${url}/etag.txt /etag.txt\nRUN cat /etag.txt > /copy.txt\n`;
    const first = await buildText(dockerfile);
    expect(first.add?.type).toBe('step-completed');
    expect(first.requests.map((r) => [r.status, r.headers['if-none-match']])).toEqual([[200, undefined]]);
    expect(first.add).not.toHaveProperty('revalidated');

    const again = await buildText(dockerfile);
    expect(again.requests.map((r) => [r.status, r.headers['if-none-match']])).toEqual([[304, '"v1"']]);
    expect(again.add).toMatchObject({ type: 'step-cached', revalidated: [{ url: `${url}/etag.txt`, result: 'not-modified', by: 'etag' }] });

    files.set('/etag.txt', { body: 'two\n', etag: '"v2"' });
    const changed = await buildText(dockerfile);
    expect(changed.requests.map((r) => [r.status, r.headers['if-none-match']])).toEqual([[200, '"v1"']]);
    expect(changed.add).toMatchObject({ type: 'step-completed', revalidated: [{ result: 'modified', by: 'etag' }] });
    // and the next build asks with the new ETag
    const after = await buildText(dockerfile);
    expect(after.requests.map((r) => [r.status, r.headers['if-none-match']])).toEqual([[304, '"v2"']]);
    expect(after.add?.type).toBe('step-cached');
  });

  it('Last-Modified alone: If-Modified-Since, 304 keeps the cache; a newer file reruns', async () => {
    files.set('/dated.txt', { body: 'dated 1\n', lastModified: 'Wed, 01 Mar 2023 10:00:00 GMT' });
    const dockerfile = `FROM ${base}\nADD ${url}/dated.txt /dated.txt\n`;
    await buildText(dockerfile);
    const again = await buildText(dockerfile);
    expect(again.requests.map((r) => [r.status, r.headers['if-modified-since'], r.headers['if-none-match']])).toEqual([[304, 'Wed, 01 Mar 2023 10:00:00 GMT', undefined]]);
    expect(again.add).toMatchObject({ type: 'step-cached', revalidated: [{ result: 'not-modified', by: 'last-modified' }] });
    files.set('/dated.txt', { body: 'dated 2\n', lastModified: 'Thu, 02 Mar 2023 10:00:00 GMT' });
    const changed = await buildText(dockerfile);
    expect(changed.requests.map((r) => r.status)).toEqual([200]);
    expect(changed.add).toMatchObject({ type: 'step-completed', revalidated: [{ result: 'modified', by: 'last-modified' }] });
  });

  it('a server that ignores If-None-Match but sends the same ETag: not modified, body not read', async () => {
    files.set('/stubborn.txt', { body: 'x'.repeat(1 << 20), etag: 'W/"same"', ignoreConditions: true });
    const dockerfile = `FROM ${base}\nADD ${url}/stubborn.txt /stubborn.txt\n`;
    await buildText(dockerfile);
    const again = await buildText(dockerfile);
    expect(again.requests.map((r) => [r.status, r.headers['if-none-match']])).toEqual([[200, 'W/"same"']]);
    expect(again.add).toMatchObject({ type: 'step-cached', revalidated: [{ result: 'not-modified', by: 'etag' }] });
  });

  it('not modified, but the step misses for another reason (parent changed): downloaded then, with that content', async () => {
    files.set('/parent.txt', { body: 'kept\n', etag: '"p1"' });
    const dockerfile = `FROM ${base}\nARG X=1\nRUN echo $X > /x\nADD ${url}/parent.txt /parent.txt\n`;
    await buildText(dockerfile);
    const other = await buildText(dockerfile, { X: '2' });
    expect(other.requests.map((r) => [r.status, r.headers['if-none-match'] ?? null])).toEqual([[304, '"p1"'], [200, null]]);
    expect(other.add).toMatchObject({ type: 'step-completed', reason: 'parent changed', revalidated: [{ result: 'not-modified' }] });
  });

  it('plain progress says what the revalidation found', async () => {
    files.set('/plain.txt', { body: 'plain\n', etag: '"pl1"' });
    const ctx = join(dir, 'plain-ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${base}\nADD ${url}/plain.txt /plain.txt\n`);
    const env = { PATH: process.env.PATH, HOME: dir, STRATA_ROOT: store.root };
    const first = await runStrata(['build', '--progress=plain', ctx], { env, cwd: dir });
    expect(first.code).toBe(0);
    const second = await runStrata(['build', '--progress=plain', ctx], { env, cwd: dir });
    expect(second.err + second.out).toMatch(new RegExp(`#\\d+ revalidated ${url}/plain.txt: not modified \\(ETag\\), nothing downloaded\\n#\\d+ CACHED`));
    files.set('/plain.txt', { body: 'plain 2\n', etag: '"pl2"' });
    const third = await runStrata(['build', '--progress=plain', ctx], { env, cwd: dir });
    expect(third.err + third.out).toContain(`revalidated ${url}/plain.txt: modified (ETag), downloaded again`);
  });
});
