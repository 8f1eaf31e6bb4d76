import type { KeyInputs, SourceListing } from '@strata/cache';

/** How many changed names a reason lists before "and N more". */
const LISTED = 3;

function listed(kind: string, names: readonly string[]): string {
  const shown = names.slice(0, LISTED).join(', ');
  return names.length > LISTED ? `${kind}: ${shown} and ${names.length - LISTED} more` : `${kind}: ${shown}`;
}

/**
 * Why a step missed the cache, from the inputs it had when it last ran at the
 * same position (`previous`) and its inputs now. The first difference in this
 * order wins: the instruction, its variables, its sources, then the parent
 * (an earlier step or the base changed). The words are stable: tools match
 * on the part before the colon.
 */
export function explainMiss(
  previous: KeyInputs | undefined,
  current: KeyInputs,
  listings: { previous?: SourceListing; current?: SourceListing } = {},
): string {
  if (previous === undefined) return 'not in the cache';
  if (previous.instruction !== current.instruction) return 'instruction changed';
  const names = new Set([...Object.keys(previous.env), ...Object.keys(current.env)]);
  const changedEnv = [...names].filter((n) => previous.env[n] !== current.env[n]).sort();
  if (changedEnv.length > 0) return listed('build arg or environment changed', changedEnv);
  if (previous.sources !== current.sources) {
    const before = listings.previous;
    const after = listings.current;
    if (before === undefined || after === undefined) return 'sources changed';
    const changed: string[] = [];
    const added: string[] = [];
    for (const [path, digest] of Object.entries(after)) {
      const old = before[path];
      if (old === undefined) added.push(path);
      else if (old !== digest) changed.push(path);
    }
    const removed = Object.keys(before).filter((p) => after[p] === undefined);
    if (changed.length > 0) return listed('source changed', changed.sort());
    if (added.length > 0) return listed('source added', added.sort());
    if (removed.length > 0) return listed('source removed', removed.sort());
    return 'sources changed';
  }
  if (previous.parent !== current.parent) return 'parent changed';
  return 'not in the cache';
}
