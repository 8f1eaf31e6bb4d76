/** Types for parser-corpus.mjs. */
export declare function prng(seed: number): () => number;
export declare function dockerfile(rand: () => number): string;
export declare function corpus(count: number, seed?: number): string[];
