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
const rounds = Number(process.argv[3] ?? 9);
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

/** Runs the parsers in turn, round after round (a shared machine slows both alike); best and median MB/s of each. */
function measureInterleaved(fns) {
  for (const fn of fns) fn(); // warm up
  const times = fns.map(() => []);
  const cpu = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, i) => {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      fn();
      const used = process.cpuUsage(cpuStart);
      times[i].push(performance.now() - start);
      cpu[i].push((used.user + used.system) / 1000);
    });
  }
  const mbs = (ms) => bytes / 1e6 / (ms / 1000);
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  return times.map((list, i) => ({ best: mbs(Math.min(...list)), median: mbs(median(list)), cpu: mbs(median(cpu[i])) }));
}

const [own, peer, peerBare] = measureInterleaved([strata, dockerfileAst, dockerfileAstParseOnly]);
const row = (name, m, note = '') =>
  console.log(`${name.padEnd(16)} best ${m.best.toFixed(2).padStart(6)} MB/s   median ${m.median.toFixed(2).padStart(6)} MB/s   per CPU second ${m.cpu.toFixed(2).padStart(6)} MB${note}`);
console.log(`corpus: ${files} Dockerfiles, ${(bytes / 1e6).toFixed(2)} MB, ${rounds} interleaved rounds, node ${process.version}`);
row('@strata/parser', own);
row('dockerfile-ast', peer, '   (arguments and flags read, as strata returns them)');
row('dockerfile-ast', peerBare, '   (parse and instruction list only)');
console.log(`ratio (strata / dockerfile-ast): best ${(own.best / peer.best).toFixed(2)}x, median ${(own.median / peer.median).toFixed(2)}x, per CPU second ${(own.cpu / peer.cpu).toFixed(2)}x`);
