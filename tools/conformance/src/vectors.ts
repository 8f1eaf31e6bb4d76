import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One row of `cases.json` (see its `description`). */
export interface VectorCase {
  readonly source_file: string;
  readonly test: string;
  readonly name: string;
  readonly op: string;
  readonly input: unknown;
  readonly expected: unknown;
  readonly expect_error: boolean;
  readonly line?: number;
  readonly note?: string;
}

/** The rows of `cases.json` in the conformance folder. */
export function readCases(dir: string): VectorCase[] {
  const parsed = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { cases: VectorCase[] };
  return parsed.cases;
}

/** Reads a `{ "file": path }` input relative to the conformance folder, or returns a string input. */
export function inputText(dir: string, input: unknown): string {
  if (typeof input === 'string') return input;
  if (typeof input === 'object' && input !== null && typeof (input as { file?: unknown }).file === 'string') {
    return readFileSync(join(dir, (input as { file: string }).file), 'utf8');
  }
  throw new Error(`unsupported input: ${JSON.stringify(input)}`);
}

/** Compares two JSON-like values; returns a description of the first difference, or undefined. */
export function difference(expected: unknown, actual: unknown, path = '$'): string | undefined {
  if (Object.is(expected, actual)) return undefined;
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (expected.length !== actual.length) return `${path}: expected ${expected.length} items, got ${actual.length} (${JSON.stringify(actual)})`;
    for (let i = 0; i < expected.length; i++) {
      const d = difference(expected[i], actual[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (typeof expected === 'object' && expected !== null && typeof actual === 'object' && actual !== null && !Array.isArray(expected) && !Array.isArray(actual)) {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    for (const key of keys) {
      const d = difference((expected as Record<string, unknown>)[key], (actual as Record<string, unknown>)[key], `${path}.${key}`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

/** The message of an error, or a description of a non-error value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
