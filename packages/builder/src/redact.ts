/** A URL as messages, events, history and keys may show it: a password (`user:secret@`) becomes `user:xxxxx@`. */
export function redact(url: string): string {
  return url.replace(/^([a-zA-Z0-9]+:\/\/[^/@:]*):[^/@]*@/, '$1:xxxxx@');
}
