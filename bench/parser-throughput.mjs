#!/usr/bin/env node
// Parse throughput of @strata/parser (built: packages/parser/dist) against the
// dockerfile-ast npm package, on the same generated corpus in the same run.
// usage: node bench/parser-throughput.mjs [FILES] [ROUNDS]     (after `pnpm run build`)
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { corpus } from './parser-corpus.mjs';

const require = createRequire(import.meta.url);
const { parseDockerfile } = await import('../packages/parser/dist/index.js');
const { DockerfileParser } = require('dockerfile-ast');

const files = Number(process.argv[2] ?? 400);
const rounds = Number(process.argv[3] ?? 5);
const texts = corpus(files);
const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);

function strata() {
  let n = 0;
  for (const text of texts) {
    const result = parseDockerfile(text);
    for (const i of result.instructions) n += i.args.length + i.flags.length;
  }
  return n;
}

function dockerfileAst() {
  let n = 0;
  for (const text of texts) {
    const dockerfile = DockerfileParser.parse(text);
    for (const i of dockerfile.getInstructions()) n += i.getArguments().length + (i.getFlags?.().length ?? 0);
  }
  return n;
}

// dockerfile-ast computes some parts on demand; its bare parse is measured too.
function dockerfileAstParseOnly() {
  let n = 0;
  for (const text of texts) n += DockerfileParser.parse(text).getInstructions().length;
  return n;
}

function measure(fn) {
  fn(); // warm up
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  return bytes / 1e6 / (median / 1000);
}

// Alternate the order so neither parser always runs on a colder process.
const a1 = measure(strata);
const b1 = measure(dockerfileAst);
const b2 = measure(dockerfileAst);
const a2 = measure(strata);
const c1 = measure(dockerfileAstParseOnly);
const strataMBs = Math.max(a1, a2);
const peerMBs = Math.max(b1, b2);
console.log(`corpus: ${files} Dockerfiles, ${(bytes / 1e6).toFixed(2)} MB, ${rounds} rounds (median), node ${process.version}`);
console.log(`@strata/parser   ${strataMBs.toFixed(2)} MB/s`);
console.log(`dockerfile-ast   ${peerMBs.toFixed(2)} MB/s  (with arguments and flags read, as strata returns them)`);
console.log(`dockerfile-ast   ${c1.toFixed(2)} MB/s  (parse and instruction list only)`);
console.log(`ratio (strata / dockerfile-ast): ${(strataMBs / peerMBs).toFixed(2)}x`);
