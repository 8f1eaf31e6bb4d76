// WWW-Authenticate parsing (RFC 7235): one header may carry several
// challenges, each a scheme followed by comma-separated name=value params
// whose values are tokens or quoted strings.

export interface AuthChallenge {
  /** Lowercased scheme: `bearer`, `basic`, ... */
  readonly scheme: string;
  /** Parameter names lowercased (`realm`, `service`, `scope`, `error`). */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

export function parseChallenges(header: string | null | undefined): AuthChallenge[] {
  if (!header) return [];
  const out: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  const skip = (): void => {
    while (i < header.length && (header[i] === ' ' || header[i] === '\t' || header[i] === ',')) i++;
  };
  while (i < header.length) {
    skip();
    const word = TOKEN_RE.exec(header.slice(i))?.[0];
    if (word === undefined) {
      i++;
      continue;
    }
    let j = i + word.length;
    while (header[j] === ' ' || header[j] === '\t') j++;
    if (header[j] === '=' && out.length > 0) {
      // a parameter of the current challenge
      j++;
      while (header[j] === ' ' || header[j] === '\t') j++;
      let value = '';
      if (header[j] === '"') {
        j++;
        while (j < header.length && header[j] !== '"') {
          if (header[j] === '\\' && j + 1 < header.length) j++;
          value += header[j];
          j++;
        }
        j++; // closing quote
      } else {
        const token = /^[^,\s]*/.exec(header.slice(j))?.[0] ?? '';
        value = token;
        j += token.length;
      }
      const current = out[out.length - 1];
      if (current !== undefined) current.params[word.toLowerCase()] = value;
      i = j;
    } else {
      out.push({ scheme: word.toLowerCase(), params: {} });
      i = i + word.length;
    }
  }
  return out;
}
