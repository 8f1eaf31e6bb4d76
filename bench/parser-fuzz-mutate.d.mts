/** Types for parser-fuzz-mutate.mjs (imported by packages/parser/test/fuzz.test.ts). */
export declare function prng(seed: number): () => number;
export declare function mutate(rand: () => number, seeds: readonly string[]): string;
export declare function maybeHuge(rand: () => number, text: string): string;
