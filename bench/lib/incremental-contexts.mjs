// The contexts and Dockerfiles of bench/incremental.mjs, generated the same
// byte for byte every time (seeded), so that runs on different days and of
// different checkouts build the same inputs.
import { createCipheriv, createHash } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** issue #10's Dockerfile: one stage, COPY of the context's app/ folder, a RUN reading it. */
const SINGLE_STAGE = `ARG BASE
FROM $BASE
RUN echo one > /one
COPY app/ /app/
RUN find /app -type f | wc -l > /count
ENV APP_HOME=/app
CMD ["sh", "-c", "cat /count"]
`;

/**
 * issue #15's second workload: a build stage that copies the sources and
 * makes something of them, and a final stage that takes both with COPY --from.
 */
const MULTI_STAGE = `ARG BASE
FROM $BASE AS base
RUN echo base > /base
FROM base AS build
WORKDIR /work
COPY src/ ./src/
RUN mkdir dist && find src -type f -name '*.ts' | sort | xargs cat > dist/bundle.js && find src -type f | wc -l > dist/count
FROM base
WORKDIR /app
COPY --from=build /work/src ./src/
COPY --from=build /work/dist ./dist/
CMD ["sh", "-c", "cat /app/dist/count"]
`;

/**
 * The contexts by name. `folder` is the folder the Dockerfile copies, laid
 * out as `top` × `sub` folders of `smallFiles` text files of 60 B – 30 KB
 * (log-uniform), plus `bigFiles` files of 1–9 MB (every other one
 * incompressible) making the total up to `totalBytes`.
 */
export const CONTEXTS = {
  small: { seed: 2000, folder: 'app', top: 10, sub: 5, smallFiles: 2000, bigFiles: 0, dockerfile: SINGLE_STAGE },
  large: { seed: 10000, folder: 'app', top: 25, sub: 10, smallFiles: 9960, bigFiles: 40, totalBytes: 200e6, dockerfile: SINGLE_STAGE },
  // the changed file is a .ts one: the build stage's output (dist/bundle.js) changes with it
  multistage: { seed: 3000, folder: 'src', top: 12, sub: 5, smallFiles: 3000, bigFiles: 0, changed: 1501, dockerfile: MULTI_STAGE },
};

/** Deterministic pseudo-random numbers (an LCG: the same context every run). */
function random(seed) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** Incompressible bytes, the same for the same name (AES-CTR key stream). */
function noise(name, size) {
  const key = createHash('sha256').update(name).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

/**
 * Writes context `kind` (a key of CONTEXTS) and its Dockerfile into `dir`.
 * Every 25th file is 0755. Returns its size and `changed`: the file the
 * one-file-changed scenarios rewrite, a small one in the middle of the tree.
 * (small and large are the bytes issue #10's version of the script wrote.)
 */
export function makeContext(dir, kind) {
  const spec = CONTEXTS[kind];
  const rand = random(spec.seed);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'node', 'topic', 'service', 'launch', 'param', 'config', 'message', 'frame', 'sensor', 'import', 'return', 'const'];
  let text = '';
  while (text.length < 4 << 20) text += `${words[Math.floor(rand() * words.length)]}_${Math.floor(rand() * 1000)}${rand() < 0.1 ? '\n' : ' '}`;
  const pool = Buffer.from(text);
  const slice = (n) => {
    const at = Math.floor(rand() * (pool.length - n));
    return pool.subarray(at, at + n);
  };
  const root = join(dir, spec.folder);
  const { top, sub, smallFiles, bigFiles } = spec;
  let bytes = 0;
  let folders = 0;
  let changed;
  for (let t = 0; t < top; t++) for (let s = 0; s < sub; s++, folders++) mkdirSync(join(root, `pkg${t}`, `mod${s}`), { recursive: true });
  for (let i = 0; i < smallFiles; i++) {
    const folder = join(root, `pkg${i % top}`, `mod${Math.floor(i / top) % sub}`);
    const size = Math.floor(60 * Math.pow(2, rand() * 9)); // 60 B .. 30 KB, log-uniform
    const path = join(folder, `file${i}.${['py', 'ts', 'txt', 'json'][i % 4]}`);
    writeFileSync(path, Buffer.concat([Buffer.from(`# ${i}\n`), slice(size)]));
    if (i % 25 === 0) chmodSync(path, 0o755);
    if (i === (spec.changed ?? Math.floor(smallFiles / 2))) changed = path;
    bytes += size;
  }
  if (bigFiles > 0) {
    mkdirSync(join(root, 'assets'));
    folders++;
    // the big files make up the rest of totalBytes, in sizes of 1–9 MB
    const weights = Array.from({ length: bigFiles }, () => 1 + rand() * 8);
    const sum = weights.reduce((a, b) => a + b, 0);
    const rest = spec.totalBytes - bytes;
    for (let i = 0; i < bigFiles; i++) {
      const size = Math.floor((rest * weights[i]) / sum);
      let content;
      if (i % 2 === 0) content = noise(`${kind}-${i}`, size);
      else {
        const parts = [];
        for (let n = 0; n < size; ) {
          const part = slice(Math.min(size - n, 256 << 10));
          parts.push(part);
          n += part.length;
        }
        content = Buffer.concat(parts);
      }
      writeFileSync(join(root, 'assets', `blob${i}.${i % 2 === 0 ? 'bin' : 'log'}`), content);
      bytes += size;
    }
  }
  writeFileSync(join(dir, 'Dockerfile'), spec.dockerfile);
  return { files: smallFiles + bigFiles, folders, bytes, changed, folder: root };
}
