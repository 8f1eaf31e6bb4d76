// Mutations of valid Dockerfiles for the parser fuzz test
// (packages/parser/test/fuzz.test.ts) and bench/parser-fuzz.mjs.
// Deterministic: the same seed gives the same cases.

import { prng } from './parser-corpus.mjs';

export { prng };

const SPECIAL = ['\\', '`', '"', "'", '<<', '<<-', '<<"EOF"', '--', '-- ', '[', ']', '{', '}', ',', '=', '#', '$', '${', '}', '\n', '\r\n', '\r', '\t', ' ', '\0', '\u00a0', '\u0085', '\ufeff', '\ud800', '☃', 'EOF', '\nEOF\n', 'ONBUILD ', '# escape=`\n', '# syntax=x\n', '\\\n', '`\n', ' \\ \n'];
const KEYWORDS = ['FROM', 'RUN', 'CMD', 'COPY', 'ADD', 'ENV', 'LABEL', 'ARG', 'ONBUILD', 'HEALTHCHECK', 'EXPOSE', 'USER', 'SHELL', 'VOLUME', 'WORKDIR', 'bogus'];

function int(rand, n) {
  return Math.floor(rand() * n);
}

function randomChar(rand) {
  const r = rand();
  if (r < 0.5) return String.fromCharCode(0x20 + int(rand, 95));
  if (r < 0.8) return SPECIAL[int(rand, SPECIAL.length)];
  if (r < 0.9) return String.fromCharCode(int(rand, 32));
  return String.fromCodePoint(0x80 + int(rand, 0x2ff80));
}

function splice(text, at, remove, insert) {
  return text.slice(0, at) + insert + text.slice(at + remove);
}

const MUTATIONS = [
  // random characters (bytes, specials) inserted
  (rand, text) => {
    let out = text;
    for (let n = 1 + int(rand, 6); n > 0; n--) out = splice(out, int(rand, out.length + 1), 0, randomChar(rand));
    return out;
  },
  // characters replaced
  (rand, text) => {
    let out = text;
    for (let n = 1 + int(rand, 6); n > 0; n--) out = splice(out, int(rand, out.length + 1), 1, randomChar(rand));
    return out;
  },
  // truncation
  (rand, text) => text.slice(0, int(rand, text.length + 1)),
  // a range deleted
  (rand, text) => {
    const at = int(rand, text.length + 1);
    return splice(text, at, int(rand, 40), '');
  },
  // lines duplicated or swapped
  (rand, text) => {
    const lines = text.split('\n');
    const i = int(rand, lines.length);
    const j = int(rand, lines.length);
    if (rand() < 0.5) lines.splice(j, 0, lines[i] ?? '');
    else [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
    return lines.join('\n');
  },
  // quotes, escapes and heredoc markers sprinkled
  (rand, text) => {
    let out = text;
    const marks = ['"', "'", '\\', '`', '<<EOF', '<<-X', ' <<', '\\\n', '--'];
    for (let n = 1 + int(rand, 4); n > 0; n--) out = splice(out, int(rand, out.length + 1), 0, marks[int(rand, marks.length)]);
    return out;
  },
  // a random instruction line inserted
  (rand, text) => {
    const lines = text.split('\n');
    let line = KEYWORDS[int(rand, KEYWORDS.length)];
    for (let n = int(rand, 5); n > 0; n--) line += ` ${rand() < 0.3 ? '--f=' : ''}${randomChar(rand)}${randomChar(rand)}`;
    lines.splice(int(rand, lines.length + 1), 0, line);
    return lines.join('\n');
  },
  // deep nesting (ONBUILD chains, JSON brackets, ${ } substitutions in heredoc lines)
  (rand, text) => {
    // Now and then far deeper than any real file (Go's JSON decoder allows 10,000 levels).
    const depth = rand() < 0.01 ? 5000 + int(rand, 6000) : 1 + int(rand, 200);
    const kinds = [
      'ONBUILD '.repeat(depth) + 'RUN x',
      'CMD ' + '['.repeat(depth) + ']'.repeat(int(rand, depth + 1)),
      'RUN <<E' + '${a:-'.repeat(depth) + '}'.repeat(int(rand, depth + 1)),
      'LABEL ' + '"'.repeat(depth),
    ];
    return `${text}\n${kinds[int(rand, kinds.length)]}\n`;
  },
  // CRLF or a BOM
  (rand, text) => (rand() < 0.5 ? text.replace(/\n/g, '\r\n') : `\ufeff${text}`),
];

/** A mutated copy of one of `seeds`. */
export function mutate(rand, seeds) {
  let text = seeds[int(rand, seeds.length)];
  for (let n = 1 + int(rand, 3); n > 0; n--) text = MUTATIONS[int(rand, MUTATIONS.length)](rand, text);
  return text;
}

/** A line longer than BuildKit's 65535-byte limit, now and then. */
export function maybeHuge(rand, text) {
  if (rand() >= 0.001) return text;
  return `${text}\nRUN ${'x'.repeat(65536 + int(rand, 1000))}\n`;
}
