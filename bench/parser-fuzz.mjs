#!/usr/bin/env node
// The parser fuzz run at scale: N (default 100,000) mutated Dockerfiles through
// the built parser (packages/parser/dist); every case must end in a result or a
// DockerfileError that is not PARSE_INTERNAL. Prints counts; exit 1 on a finding.
// usage: node bench/parser-fuzz.mjs [CASES] [SEED]     (after `pnpm run build`)
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { corpus } from './parser-corpus.mjs';
import { maybeHuge, mutate, prng } from './parser-fuzz-mutate.mjs';

const { parseDockerfile, isDockerfileError } = await import('../packages/parser/dist/index.js');

const cases = Number(process.argv[2] ?? 100000);
const seed = Number(process.argv[3] ?? 1);
const root = new URL('../packages/parser/test/', import.meta.url).pathname;
const seeds = corpus(12, 7);
for (const dir of ['fixtures', 'fixtures-negative']) {
  for (const name of readdirSync(join(root, dir))) seeds.push(readFileSync(join(root, dir, name, 'Dockerfile'), 'utf8'));
}

/** The invariants the jest fuzz test also checks: locations inside the text, `original` at its offset. */
function checkResult(text, result) {
  if (result.instructions.length === 0) return 'no instructions and no error';
  for (let i of result.instructions) {
    for (; i !== undefined; i = i.onbuild) {
      const { start, end } = i.location;
      if (start.offset > end.offset || end.offset > text.length) return `location out of range: ${JSON.stringify(i.location)}`;
      if (!text.startsWith(i.original, start.offset)) return `original is not at offset ${start.offset}`;
    }
  }
  return undefined;
}

const rand = prng(seed);
const codes = new Map();
let parsed = 0;
let findings = 0;
let slowest = { ms: 0, n: -1 };
const start = performance.now();
for (let n = 0; n < cases; n++) {
  const text = maybeHuge(rand, mutate(rand, seeds));
  const t0 = performance.now();
  try {
    const problem = checkResult(text, parseDockerfile(text));
    if (problem !== undefined) {
      findings++;
      if (findings <= 5) console.log(`FINDING case ${n}: ${problem}\n  input: ${JSON.stringify(text).slice(0, 2000)}`);
    }
    parsed++;
  } catch (error) {
    if (!isDockerfileError(error) || error.code === 'PARSE_INTERNAL') {
      findings++;
      if (findings <= 5) console.log(`FINDING case ${n}: ${error?.stack ?? error}\n  input: ${JSON.stringify(text).slice(0, 2000)}`);
    } else codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
  }
  const ms = performance.now() - t0;
  if (ms > slowest.ms) slowest = { ms, n };
}
const seconds = (performance.now() - start) / 1000;
console.log(`parser fuzz: ${cases} cases (seed ${seed}) in ${seconds.toFixed(1)} s`);
console.log(`  parsed:   ${parsed}`);
for (const [code, count] of [...codes].sort((a, b) => b[1] - a[1])) console.log(`  ${code.padEnd(28)} ${count}`);
console.log(`  findings (non-DockerfileError, PARSE_INTERNAL or a broken invariant): ${findings}`);
console.log(`  slowest case: #${slowest.n}, ${slowest.ms.toFixed(1)} ms`);
process.exitCode = findings === 0 ? 0 : 1;
