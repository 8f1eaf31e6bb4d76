#!/usr/bin/env node
// @ts-check
// Builds two images at once with @strata/builder, from code, and renders the
// builder's typed events its own way: one prefixed line per finished step,
// the RUN output indented under its image, and a summary table at the end.
//
//   node examples/embed/embed.mjs --base docker.io/library/busybox:latest [--store DIR] [--tag-prefix NAME] [--no-cache]
//
// Nothing here is special to strata's CLI: this is what another build tool
// would write to drive builds itself.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from '@strata/builder';
import { Store, defaultStoreRoot } from '@strata/cache';
import { RegistryClient } from '@strata/registry';

/** @typedef {import('@strata/builder').BuildEvent} BuildEvent */
/** @typedef {import('@strata/builder').BuildResult} BuildResult */

const here = dirname(fileURLToPath(import.meta.url));

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    base: { type: 'string', default: 'docker.io/library/busybox:latest' },
    'tag-prefix': { type: 'string', default: 'localhost/embed' },
    'no-cache': { type: 'boolean', default: false },
  },
});

/** The two images: a folder with a Dockerfile each, and build args. */
const images = [
  { name: 'greeter', context: join(here, 'images', 'greeter'), buildArgs: { GREETING: 'hello from code' } },
  { name: 'counter', context: join(here, 'images', 'counter'), buildArgs: {} },
];

/** Per-image counters the summary reads. */
class Tally {
  ran = 0;
  cached = 0;
  layers = 0;
  bytes = 0;
}

/**
 * An onEvent sink for one image: prefixed lines, written whole so that the
 * two concurrent builds interleave by line, never inside one.
 * @param {string} name
 * @param {Tally} tally
 * @returns {(event: BuildEvent) => void}
 */
function renderer(name, tally) {
  const say = (/** @type {string} */ text) => process.stdout.write(`[${name}] ${text}\n`);
  const short = (/** @type {string} */ text) => text.replace(/\s*\\?\n\s*/g, ' ').slice(0, 60);
  return (event) => {
    switch (event.type) {
      case 'build-started':
        say(`building ${event.stages} stage(s) for ${event.platform}`);
        break;
      case 'step-started':
        break;
      case 'step-log':
        for (const line of event.text.split('\n')) if (line !== '') say(`  | ${line}`);
        break;
      case 'step-cached':
        tally.cached += 1;
        say(`= ${event.stage} ${event.index}/${event.total} ${short(event.instruction.text)} (cached)`);
        break;
      case 'step-completed':
        // steps that did work say why they ran (a cache miss); FROM and
        // metadata steps (ENV, LABEL, CMD, ...) only change the config
        if (event.reason === undefined) {
          say(`  ${event.stage} ${event.index}/${event.total} ${short(event.instruction.text)}`);
          break;
        }
        tally.ran += 1;
        if (event.layer !== undefined) {
          tally.layers += 1;
          tally.bytes += event.layer.size;
        }
        say(`+ ${event.stage} ${event.index}/${event.total} ${short(event.instruction.text)} (${(event.durationMs / 1000).toFixed(1)}s${event.layer === undefined ? ', no layer' : ''})`);
        break;
      case 'step-failed':
        say(`! ${event.stage} ${event.index}/${event.total} ${short(event.instruction.text)}: ${event.code}: ${event.message}`);
        break;
      case 'warning':
        say(`warning ${event.code}: ${event.message}`);
        break;
      case 'export-started':
      case 'export-completed':
        break;
      case 'build-completed':
        say(`done: ${event.imageId.slice(7, 19)} ${event.tags.join(' ')}`);
        break;
      default: {
        // a new event type: shown raw rather than lost
        say(JSON.stringify(event));
      }
    }
  };
}

async function main() {
  const store = await Store.open(values.store ?? defaultStoreRoot());
  // pulls base images the store lacks, with the docker credentials of this user
  const registry = new RegistryClient();
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());

  const started = Date.now();
  const runs = images.map((image) => {
    const tally = new Tally();
    const result = build({
      store,
      registry,
      context: image.context,
      tags: [`${values['tag-prefix']}/${image.name}:latest`],
      buildArgs: { BASE: values.base ?? '', ...image.buildArgs },
      noCache: values['no-cache'] === true,
      onEvent: renderer(image.name, tally),
      signal: controller.signal,
    });
    return { image, tally, result };
  });
  // both builds run at once; each settles on its own
  const settled = await Promise.allSettled(runs.map((r) => r.result));

  const rows = [['IMAGE', 'TAG', 'IMAGE ID', 'RAN', 'CACHED', 'NEW LAYERS', 'STATUS']];
  let failed = 0;
  for (const [i, outcome] of settled.entries()) {
    const { image, tally } = /** @type {(typeof runs)[number]} */ (runs[i]);
    if (outcome.status === 'fulfilled') {
      const r = outcome.value;
      rows.push([image.name, r.tags[0] ?? '', r.imageId.slice(7, 19), String(tally.ran), String(tally.cached), `${tally.layers} (${tally.bytes} B)`, 'ok']);
    } else {
      failed += 1;
      const e = /** @type {{ code?: string, message?: string, hint?: string }} */ (outcome.reason);
      rows.push([image.name, '', '', String(tally.ran), String(tally.cached), String(tally.layers), `failed: ${e.code ?? 'ERROR'}`]);
      process.stderr.write(`${image.name}: ${e.code ?? 'error'}: ${e.message ?? String(e)}\n${e.hint === undefined ? '' : `hint: ${e.hint}\n`}`);
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
  process.stdout.write('\n');
  for (const row of rows) process.stdout.write(`${row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()}\n`);
  process.stdout.write(`${images.length} images in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exitCode = 1;
  },
);
