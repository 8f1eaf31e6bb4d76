import type { BuildEvent } from '@strata/builder';
import { plainRenderer, ttyRenderer, type ProgressRenderer } from '../render/progress.js';
import { renderTable } from '../render/table.js';
import type { TargetRun } from './graph.js';

/**
 * What `strata bake` shows while its targets build:
 *
 * - plain: each target's BuildKit-style lines (`#N [stage i/n] …`) with the
 *   target in front, `[app] #3 [build 2/5] RUN make`, written whole lines at a
 *   time so that concurrent targets interleave by line;
 * - tty: one live view of every target's steps, `=> [app build 2/5] RUN make`;
 * - json: every build event as one NDJSON line with a `target` field, and
 *   bake's own: `{"type":"bake-target-skipped","target":"app","needs":"base"}`,
 *   `{"type":"bake-target-failed","target":…,"code":…,"message":…}` and at the
 *   end `{"type":"bake-completed","durationMs":…,"targets":[{"target","result",
 *   "imageId","durationMs","cachedSteps","totalSteps"}]}` (result: built,
 *   cached, failed or skipped).
 */
export interface BakeRenderer {
  onEvent(target: string, event: BuildEvent): void;
  skipped(run: TargetRun): void;
  failed(run: TargetRun, code: string, message: string): void;
  /** The summary: a table (plain, tty) or the bake-completed line (json). */
  finish(runs: readonly TargetRun[], durationMs: number): void;
}

export type BakeProgress = 'plain' | 'tty' | 'json' | 'quiet';

/** built (some step ran), cached (every step hit the cache), failed, skipped. */
export function runResult(run: TargetRun): 'built' | 'cached' | 'failed' | 'skipped' | 'waiting' | 'running' {
  if (run.status === 'built') return run.totalSteps > 0 && run.cachedSteps === run.totalSteps ? 'cached' : 'built';
  return run.status;
}

/** The summary table: TARGET, RESULT, IMAGE ID (12 hex digits), TIME, CACHED (steps hit / steps that could). */
export function summaryTable(runs: readonly TargetRun[]): string {
  const rows = runs.map((r) => [
    r.name,
    runResult(r) + (r.status === 'skipped' ? ` (${r.skippedFor ?? '?'} failed)` : ''),
    r.result === undefined ? '-' : r.result.imageId.slice(r.result.imageId.indexOf(':') + 1, r.result.imageId.indexOf(':') + 13),
    r.durationMs === undefined ? '-' : `${(r.durationMs / 1000).toFixed(1)}s`,
    r.status === 'skipped' ? '-' : `${r.cachedSteps}/${r.totalSteps}`,
  ]);
  return renderTable([['TARGET', 'RESULT', 'IMAGE ID', 'TIME', 'CACHED'], ...rows]);
}

/** Lines written with `[target] ` in front of each. */
function prefixed(write: (text: string) => void, target: string): (text: string) => void {
  return (text) => write(text.replace(/^(?=.)/gm, `[${target}] `));
}

export function bakeRenderer(mode: BakeProgress, out: { stdout: (text: string) => void; stderr: (text: string) => void; width?: number }): BakeRenderer {
  if (mode === 'json') {
    const line = (value: unknown) => out.stdout(`${JSON.stringify(value)}\n`);
    return {
      onEvent: (target, event) => line({ ...event, target }),
      skipped: (run) => line({ type: 'bake-target-skipped', timestamp: Date.now(), target: run.name, needs: run.skippedFor }),
      failed: (run, code, message) => line({ type: 'bake-target-failed', timestamp: Date.now(), target: run.name, code, message }),
      finish: (runs, durationMs) =>
        line({
          type: 'bake-completed',
          timestamp: Date.now(),
          durationMs,
          targets: runs.map((r) => ({
            target: r.name,
            result: runResult(r),
            ...(r.result === undefined ? {} : { imageId: r.result.imageId, manifestDigest: r.result.manifestDigest, tags: r.result.tags }),
            ...(r.durationMs === undefined ? {} : { durationMs: r.durationMs }),
            cachedSteps: r.cachedSteps,
            totalSteps: r.totalSteps,
            ...(r.skippedFor === undefined ? {} : { needs: r.skippedFor }),
          })),
        }),
    };
  }
  if (mode === 'quiet') {
    return { onEvent: () => undefined, skipped: () => undefined, failed: () => undefined, finish: () => undefined };
  }
  if (mode === 'plain') {
    const renderers = new Map<string, ProgressRenderer>();
    const of = (target: string) => {
      let r = renderers.get(target);
      if (r === undefined) {
        r = plainRenderer(prefixed(out.stderr, target));
        renderers.set(target, r);
      }
      return r;
    };
    return {
      onEvent: (target, event) => of(target).onEvent(event),
      skipped: (run) => out.stderr(`[${run.name}] SKIPPED: it needs ${run.skippedFor ?? '?'}, which did not build\n`),
      failed: (run, code, message) => out.stderr(`[${run.name}] ERROR: ${code}: ${message}\n`),
      finish: (runs, durationMs) => out.stderr(`\n${summaryTable(runs)}bake: ${runs.length} targets in ${(durationMs / 1000).toFixed(1)}s\n`),
    };
  }
  // one live view: each target's stage labels and step ids carry its name
  const live = ttyRenderer(out.stderr, out.width === undefined ? {} : { width: out.width });
  const rename = (target: string, event: BuildEvent): BuildEvent => {
    if ('stepId' in event) return { ...event, stepId: `${target}:${event.stepId}`, stage: `${target} ${event.stage}` };
    if (event.type === 'export-started' || event.type === 'export-completed') return { ...event, output: `${target} ${event.output}` };
    return event;
  };
  const notes: string[] = [];
  return {
    onEvent: (target, event) => live.onEvent(rename(target, event)),
    skipped: (run) => notes.push(`[${run.name}] SKIPPED: it needs ${run.skippedFor ?? '?'}, which did not build`),
    failed: (run, code, message) => notes.push(`[${run.name}] ERROR: ${code}: ${message}`),
    finish: (runs, durationMs) => {
      live.close();
      out.stderr(`${notes.map((n) => `${n}\n`).join('')}\n${summaryTable(runs)}bake: ${runs.length} targets in ${(durationMs / 1000).toFixed(1)}s\n`);
    },
  };
}
