/** Levenshtein distance between two strings (UTF-16 code units). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

export interface SuggestOptions {
  /** Compare ignoring case; the suggestion then takes the casing style of `value`. */
  readonly caseInsensitive?: boolean;
}

/**
 * The closest of `candidates` to `value` at edit distance < 3, or undefined.
 * An exact match yields undefined: the error was about something else.
 */
export function suggest(value: string, candidates: Iterable<string>, options: SuggestOptions = {}): string | undefined {
  const fold = options.caseInsensitive === true;
  const needle = fold ? value.toLowerCase() : value;
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const c = fold ? candidate.toLowerCase() : candidate;
    if (c === needle) return undefined;
    const d = editDistance(needle, c);
    if (d < bestDistance) {
      bestDistance = d;
      best = fold ? matchCase(c, value) : candidate;
    }
  }
  return best;
}

function matchCase(lower: string, original: string): string {
  if (original === original.toLowerCase()) return lower;
  if (original === original.toUpperCase()) return lower.toUpperCase();
  return lower;
}

/** Appends BuildKit's ` (did you mean X?)` to a message when there is a suggestion. */
export function withSuggestion(message: string, suggestion: string | undefined): string {
  return suggestion === undefined ? message : `${message} (did you mean ${suggestion}?)`;
}
