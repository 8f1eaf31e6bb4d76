import { expandWordWithMatches } from '../shell/expand.js';
import type { WordMatcher } from './variables.js';

/** The lint checks' expander: this package's shell expansion (BuildKit's ProcessWordWithMatches). */
export function defaultWordMatcher(escape: '\\' | '`'): WordMatcher {
  return (word, env) => expandWordWithMatches(word, env, { escape });
}

/** Heredoc bodies of COPY/ADD expand with quotes left alone and `\` as the escape (BuildKit's ExpandRaw). */
export function rawWordMatcher(): WordMatcher {
  return (word, env) => expandWordWithMatches(word, env, { escape: '\\', skipProcessQuotes: true });
}
