import type { BuildEvent } from '@strata/builder';

/** Something that turns build events into terminal output. */
export interface ProgressRenderer {
  onEvent(event: BuildEvent): void;
  /** Flushes what is left (a live view's last frame). */
  close(): void;
}

export function unreachable(x: never): never {
  throw new Error(`unexpected value ${JSON.stringify(x)}`);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * BuildKit's plain progress: one `#N` number per step,
 *
 *     #3 [build 2/5] RUN make
 *     #3 0.512 compiling...
 *     #3 DONE 1.2s
 *
 * and `#N CACHED` for cache hits. Log lines carry the seconds since the step began.
 */
export function plainRenderer(write: (text: string) => void): ProgressRenderer {
  const numbers = new Map<string, number>();
  const startedAt = new Map<string, number>();
  let next = 0;
  const num = (stepId: string): number => {
    let n = numbers.get(stepId);
    if (n === undefined) {
      next += 1;
      n = next;
      numbers.set(stepId, n);
    }
    return n;
  };
  return {
    onEvent(event: BuildEvent): void {
      switch (event.type) {
        case 'build-started':
          write(`#0 building ${event.target} for ${event.platform}\n`);
          return;
        case 'step-started': {
          const n = num(event.stepId);
          startedAt.set(event.stepId, event.timestamp);
          const text = event.instruction.text.replace(/\s*\\?\r?\n\s*/g, ' ').trim();
          write(`#${n} [${event.stage} ${event.index}/${event.total}] ${text}\n`);
          return;
        }
        case 'step-log': {
          const since = (event.timestamp - (startedAt.get(event.stepId) ?? event.timestamp)) / 1000;
          write(`#${num(event.stepId)} ${since.toFixed(3)} ${event.text}\n`);
          return;
        }
        case 'step-cached':
          write(`#${num(event.stepId)} CACHED\n`);
          return;
        case 'step-completed':
          write(`#${num(event.stepId)} DONE ${seconds(event.durationMs)}\n`);
          return;
        case 'step-failed':
          write(`#${num(event.stepId)} ERROR: ${event.message}\n`);
          return;
        case 'warning':
          write(`WARNING: ${event.code}: ${event.message}${event.location ? ` (${event.location.file ?? 'Dockerfile'}:${event.location.start.line})` : ''}\n`);
          return;
        case 'build-completed':
          write(`#${next + 1} writing image ${event.imageId} done\n`);
          for (const tag of event.tags) write(`#${next + 1} naming to ${tag} done\n`);
          write(`#${next + 1} DONE ${seconds(event.durationMs)}\n`);
          return;
        default:
          unreachable(event);
      }
    },
    close(): void {},
  };
}

/** `--progress=json`: every event as one JSON line (the events are plain JSON already). */
export function jsonRenderer(write: (text: string) => void): ProgressRenderer {
  return {
    onEvent: (event) => write(`${JSON.stringify(event)}\n`),
    close: () => undefined,
  };
}
