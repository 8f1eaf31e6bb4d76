#!/usr/bin/env node
// Differential check of @strata/parser against BuildKit's own parser.
//
// usage: node tools/conformance/differential/run.mjs BUILDKIT_CHECKOUT [CASES] [SEED]
//
// Needs Go (1.19 or newer) and a built strata (`pnpm run build`). The BuildKit
// sources are read from the checkout at run time and compiled in a temporary
// folder with two small stand-ins (github.com/pkg/errors, util/stack) so that
// no module download is needed; nothing from BuildKit enters this repository.
// Prints the cases where the dumps, heredocs, line ranges, warnings or the
// fact of an error differ.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const [checkout, casesArg = '20000', seedArg = '5'] = process.argv.slice(2);
if (checkout === undefined) {
  console.error('usage: run.mjs BUILDKIT_CHECKOUT [CASES] [SEED]');
  process.exit(2);
}

const { parseDockerfile, isDockerfileError } = await import(join(root, 'packages/parser/dist/index.js'));
const { formatDump } = await import(join(root, 'tools/conformance/dist/dump.js'));
const { corpus } = await import(join(root, 'bench/parser-corpus.mjs'));
const { mutate, prng } = await import(join(root, 'bench/parser-fuzz-mutate.mjs'));

function buildReference() {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bkdiff-'));
  const copy = (from, to, names) => {
    mkdirSync(join(dir, to), { recursive: true });
    for (const name of names) copyFileSync(join(checkout, from, name), join(dir, to, name));
  };
  copy('frontend/dockerfile/parser', 'parser', ['directives.go', 'errors.go', 'line_parsers.go', 'parser.go', 'split_command.go']);
  copy('frontend/dockerfile/shell', 'shell', ['lex.go', 'equal_env_unix.go']);
  copy('frontend/dockerfile/command', 'command', ['command.go']);
  mkdirSync(join(dir, 'errors'));
  writeFileSync(join(dir, 'errors', 'errors.go'), `package errors

import (
\tstderrors "errors"
\t"fmt"
)

func New(s string) error                      { return stderrors.New(s) }
func Errorf(f string, a ...interface{}) error { return fmt.Errorf(f, a...) }
func Wrapf(err error, f string, a ...interface{}) error {
\treturn fmt.Errorf("%s: %w", fmt.Sprintf(f, a...), err)
}
func Is(err, target error) bool             { return stderrors.Is(err, target) }
func As(err error, target interface{}) bool { return stderrors.As(err, target) }
`);
  mkdirSync(join(dir, 'stack'));
  writeFileSync(join(dir, 'stack', 'stack.go'), 'package stack\n\nfunc Enable(err error) error { return err }\n');
  mkdirSync(join(dir, 'cmd'));
  copyFileSync(join(here, 'bkparse.go'), join(dir, 'cmd', 'main.go'));
  const goVersion = /go(\d+\.\d+)/.exec(execFileSync('go', ['env', 'GOVERSION']).toString())?.[1] ?? '1.19';
  writeFileSync(join(dir, 'go.mod'), `module bkdiff\n\ngo ${goVersion}\n`);
  for (const pkg of ['parser', 'shell', 'command']) {
    for (const name of readdirSync(join(dir, pkg))) {
      const file = join(dir, pkg, name);
      let text = readFileSync(file, 'utf8')
        .replace('"github.com/pkg/errors"', 'errors "bkdiff/errors"')
        .replace('"github.com/moby/buildkit/util/stack"', '"bkdiff/stack"')
        .replace('"github.com/moby/buildkit/frontend/dockerfile/command"', '"bkdiff/command"')
        .replace('"github.com/moby/buildkit/frontend/dockerfile/shell"', '"bkdiff/shell"');
      // Go 1.19 lacks sync.OnceValue, bytes.CutPrefix and slices: spell them out.
      text = text
        .replace(/var directiveRegexp = sync\.OnceValue\(func\(\) \*regexp\.Regexp \{\n\treturn (regexp\.MustCompile\(.*\))\n\}\)/, 'var directiveRegexpValue = $1\n\nfunc directiveRegexp() *regexp.Regexp { return directiveRegexpValue }')
        .replace('line, ok := bytes.CutPrefix(line, []byte(*d.comment))', 'ok := bytes.HasPrefix(line, []byte(*d.comment))\n\tline = bytes.TrimPrefix(line, []byte(*d.comment))')
        .replace('\tslices.Reverse(out)', '\tfor i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {\n\t\tout[i], out[j] = out[j], out[i]\n\t}');
      if (!text.includes('sync.')) text = text.replace('\t"sync"\n', '');
      if (!text.includes('slices.')) text = text.replace('\t"slices"\n', '');
      writeFileSync(file, text);
    }
  }
  execFileSync('go', ['build', '-o', 'bkparse', './cmd'], { cwd: dir, env: { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off' }, stdio: 'inherit' });
  return join(dir, 'bkparse');
}

const binary = buildReference();
const seeds = corpus(12, 7);
for (const base of [join(root, 'packages/parser/test/fixtures'), join(root, 'packages/parser/test/fixtures-negative'), join(checkout, 'frontend/dockerfile/parser/testfiles')]) {
  for (const name of readdirSync(base)) if (name !== 'onbuild-too-deep') seeds.push(readFileSync(join(base, name, 'Dockerfile'), 'utf8'));
}
const rand = prng(Number(seedArg));
// Go reads bytes: lone surrogates (which UTF-8 cannot carry) are left out.
const inputs = Array.from({ length: Number(casesArg) }, () => mutate(rand, seeds).replace(/[\ud800-\udfff]/g, ''));
const reference = execFileSync(binary, { input: JSON.stringify(inputs), maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] })
  .toString()
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line));

// The Go toolchain's Unicode tables may be older or newer than Node's: a
// character one side prints and the other escapes is the same string. Compare
// the dumps with every quoted string decoded (a raw byte stays \xHH).
function decodeGoString(body) {
  return body.replace(/\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8})|(.))/g, (m, x, u, U, c) => {
    if (x !== undefined) return `\\x${x}`;
    if (u !== undefined || U !== undefined) return String.fromCodePoint(parseInt(u ?? U, 16));
    return { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' }[c] ?? c;
  });
}
const normalize = (dump) => dump?.replace(/"((?:[^"\\]|\\.)*)"/g, (m, body) => JSON.stringify(decodeGoString(body)));

let same = 0;
const differences = [];
inputs.forEach((text, i) => {
  const go = reference[i];
  let mine;
  try {
    const r = parseDockerfile(text);
    mine = {
      dump: formatDump(r),
      heredocs: r.instructions.map((x) => x.heredocs.map((h) => ({ Name: h.name, FileDescriptor: h.fileDescriptor ?? 0, Expand: h.expand, Chomp: h.chomp, Content: h.content }))),
      lines: r.instructions.map((x) => [x.location.start.line, x.location.end.line]),
      warnings: r.warnings.map((w) => w.message),
    };
  } catch (error) {
    mine = { error: isDockerfileError(error) ? error.message : `NOT A DockerfileError: ${error}` };
  }
  const goView = go.error !== undefined ? { error: go.error } : { dump: normalize(go.dump), heredocs: go.heredocs, lines: go.lines, warnings: go.warnings ?? [] };
  if (mine.dump !== undefined) mine.dump = normalize(mine.dump);
  if (JSON.stringify(goView) === JSON.stringify(mine)) same++;
  else differences.push({ text, go: goView, strata: mine });
});
for (const d of differences.slice(0, 10)) {
  console.log(`--- ${JSON.stringify(d.text).slice(0, 400)}`);
  for (const key of Object.keys({ ...d.go, ...d.strata })) {
    const [a, b] = [d.go[key], d.strata[key]];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    if (typeof a === 'string' && typeof b === 'string') {
      const [la, lb] = [a.split('\n'), b.split('\n')];
      const at = la.findIndex((line, i) => line !== lb[i]);
      console.log(`  ${key} line ${at + 1}\n    buildkit: ${la[at]}\n    strata:   ${lb[at]}`);
    } else console.log(`  ${key}\n    buildkit: ${JSON.stringify(a)?.slice(0, 300)}\n    strata:   ${JSON.stringify(b)?.slice(0, 300)}`);
  }
}
console.log(`differential: ${same} same, ${differences.length} different (of ${inputs.length})`);
