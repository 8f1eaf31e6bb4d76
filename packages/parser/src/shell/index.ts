export { expandWord, expandWords, expandWordWithMatches } from './expand.js';
export type { ExpandOptions, WordMatches } from './expand.js';
export { envFromList, envLookup } from './env.js';
export type { EnvGetter, EnvLookup, ExpansionEnv } from './env.js';
export { ExpandErrors } from './errors.js';
export type { WordOrigin } from './errors.js';
export { PatternError, parseShellPattern, reversePattern, reverseString, shellPatternToRegexSource } from './pattern.js';
export type { ShellPattern } from './pattern.js';
