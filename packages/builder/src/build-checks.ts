import { lint, type ParseResult, type Stages } from '@strata/parser';
import { readDockerignore } from './context/context.js';
import type { BuildEvent } from './events.js';

/** The build checks a build reports as warnings (BuildKit runs them all; strata the ones `strata lint` alone cannot judge). */
const BUILD_CHECKS = new Set(['CopyIgnoredFile']);

/**
 * The build checks that need the build's context and arguments, as warning
 * events: CopyIgnoredFile (a COPY/ADD source .dockerignore excludes), with
 * the sources expanded with the build args, honouring `# check=`.
 */
export async function buildCheckWarnings(
  raw: ParseResult,
  stages: Stages,
  input: { readonly source: string; readonly contextDir: string; readonly dockerfilePath: string; readonly buildArgs?: Readonly<Record<string, string>> },
): Promise<BuildEvent[]> {
  const dockerignore = await readDockerignore(input.contextDir, input.dockerfilePath);
  if (dockerignore.patterns.length === 0) return [];
  let found;
  try {
    found = lint(raw, { source: input.source, stages, dockerignore, ...(input.buildArgs === undefined ? {} : { buildArgs: input.buildArgs }) });
  } catch {
    // a malformed `# check=` is lint's to report; the build goes on as BuildKit's does
    return [];
  }
  return found
    .filter((w) => BUILD_CHECKS.has(w.rule))
    .map((w) => ({ type: 'warning', timestamp: Date.now(), code: w.rule, message: w.message, location: w.location }));
}
