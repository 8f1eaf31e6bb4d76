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

type Revalidation = NonNullable<Extract<BuildEvent, { type: 'step-cached' }>['revalidated']>[number];

/** `revalidated URL: not modified (ETag), nothing downloaded` / `...: modified (Last-Modified), downloaded again`. */
function revalidationLine(r: Revalidation): string {
  const by = r.by === 'etag' ? 'ETag' : 'Last-Modified';
  return r.result === 'not-modified' ? `revalidated ${r.url}: not modified (${by}), nothing downloaded` : `revalidated ${r.url}: modified (${by}), downloaded again`;
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
          write(`#0 building stage ${event.target} for ${event.platform}\n`);
          if (event.rootless !== undefined) write(`#0 rootless: a user namespace, overlays by ${event.rootless.overlay}\n`);
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
          for (const r of event.revalidated ?? []) write(`#${num(event.stepId)} ${revalidationLine(r)}\n`);
          write(`#${num(event.stepId)} CACHED\n`);
          return;
        case 'step-completed':
          if (event.network?.mode === 'host') write(`#${num(event.stepId)} network: ${event.network.description}\n`);
          for (const r of event.revalidated ?? []) write(`#${num(event.stepId)} ${revalidationLine(r)}\n`);
          if (event.incremental !== undefined) write(`#${num(event.stepId)} incremental: ${event.incremental.changed} changed since the last build of this step\n`);
          write(`#${num(event.stepId)} DONE ${seconds(event.durationMs)}\n`);
          return;
        case 'step-failed':
          write(`#${num(event.stepId)} ERROR: ${event.message}\n`);
          return;
        case 'warning':
          write(`WARNING: ${event.code}: ${event.message}${event.location ? ` (${event.location.file ?? 'Dockerfile'}:${event.location.start.line})` : ''}\n`);
          return;
        case 'export-started':
          write(`#${num(`export ${event.output}`)} exporting to ${event.output}\n`);
          return;
        case 'export-completed': {
          const n = num(`export ${event.output}`);
          for (const t of event.targets) write(`#${n} ${event.output.startsWith('type=registry') ? 'pushed' : 'wrote'} ${t.target} ${t.digest}\n`);
          write(`#${n} DONE ${seconds(event.durationMs)}\n`);
          return;
        }
        case 'cache-mount-restored':
          write(`#0 restored cache mount ${event.id} from ${event.source} (${event.size} bytes)\n`);
          return;
        case 'cache-imported':
          write(`#0 importing cache from ${event.source}: ${event.records} records\n`);
          return;
        case 'cache-exported':
          write(
            `#${next + 1} exporting cache to ${event.destination}: ${event.records} records, ${event.uploaded} blobs uploaded (${event.bytesUploaded} bytes), ${event.present} present, done ${seconds(event.durationMs)}\n`,
          );
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

/**
 * `--progress=json`: every event as one JSON line on standard output (the
 * events are plain JSON already; see BuildEvent in @strata/builder). Each has
 * `type` and `timestamp` (ms since the epoch); step events also carry `stepId`,
 * `stage`, `index`/`total` and `instruction: {text, location}`.
 *
 *     {"type":"build-started","stages":2,"target":"app","platform":"linux/amd64",...}
 *     {"type":"cache-imported","source":"reg/app:cache","records":5,"mounts":1,...}
 *     {"type":"cache-mount-restored","id":"pip","source":"reg/app:cache","size":52310,...}
 *     {"type":"step-started","stepId":"1/3","stage":"app","index":3,"total":5,...}
 *     {"type":"step-cached","cacheKey":"strata.v1:sha256:…","reason":"inputs unchanged",...}
 *     {"type":"step-cached",...,"revalidated":[{"url":"https://…/x.tgz","result":"not-modified","by":"etag"}]}
 *     {"type":"step-completed","cacheKey":"…","durationMs":812,"reason":"source changed: src/main.py","layer":{"digest":"sha256:…","size":1234},"incremental":{"changed":1},"network":{"mode":"default","description":"…"},...}
 *     {"type":"step-log","stream":"stdout","text":"compiling",...}
 *     {"type":"step-failed","code":"BUILD_STEP_FAILED","message":"…","durationMs":40,...}
 *     {"type":"warning","code":"CacheSourceEmpty","message":"…"}
 *     {"type":"cache-exported","destination":"reg/app:cache","manifestDigest":"sha256:…","records":5,"listings":2,"uploaded":1,"present":4,"bytesUploaded":2048,"durationMs":90,...}
 *     {"type":"build-completed","imageId":"sha256:…","manifestDigest":"sha256:…","tags":["…"],"durationMs":2100}
 *
 * `revalidated` (step-cached, step-completed): an ADD of a URL without
 * --checksum asked the server whether it changed since its last download
 * (`by`: `etag` sent If-None-Match, `last-modified` If-Modified-Since);
 * `not-modified` (304) keyed the step by the digest it had, nothing downloaded.
 *
 * `reason` on a hit: `inputs unchanged` or `imported from <source>`. On a
 * miss: `not in the cache` (never built here), `instruction changed`,
 * `build arg or environment changed: NAME[, NAME…]`, `source changed: PATH[, …]`,
 * `source added: PATH`, `source removed: PATH`, `sources changed`,
 * `parent changed` (an earlier step or the base image changed),
 * `cache disabled (--no-cache)` or `cache disabled for stage S (--no-cache-filter)`.
 * Tools match on the words before the colon; lists stop at three names and add `and N more`.
 */
export function jsonRenderer(write: (text: string) => void): ProgressRenderer {
  return {
    onEvent: (event) => write(`${JSON.stringify(event)}\n`),
    close: () => undefined,
  };
}

interface TtyStep {
  readonly label: string;
  readonly text: string;
  readonly started: number;
  status: 'running' | 'cached' | 'done' | 'error';
  durationMs: number;
  lastLog: string;
}

const ESC = '\u001b[';

/**
 * The live terminal view (`--progress=tty`, the default on a terminal): a block
 * redrawn in place after each event, BuildKit style —
 *
 *     [+] Building 12.3s (5/9)
 *      => [build 3/9] RUN make                        4.1s
 *      => => # compiling main.c
 *      => CACHED [build 2/9] COPY . .                 0.0s
 *
 * Log lines of a running step show under it (the last one); the full log is in
 * --progress=plain and json.
 */
export function ttyRenderer(write: (text: string) => void, options: { width?: number; now?: () => number } = {}): ProgressRenderer {
  const width = options.width ?? 100;
  const now = options.now ?? Date.now;
  const steps = new Map<string, TtyStep>();
  let started = now();
  let drawn = 0;
  let finished = false;
  let footer: string[] = [];

  const fit = (line: string): string => (line.length > width ? `${line.slice(0, width - 1)}…` : line);
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

  function draw(): void {
    const all = [...steps.values()];
    const complete = all.filter((s) => s.status !== 'running').length;
    const lines = [`[+] Building ${seconds(now() - started)} (${complete}/${all.length})${finished ? ' FINISHED' : ''}`];
    for (const s of all) {
      const prefix = s.status === 'cached' ? ' => CACHED ' : s.status === 'error' ? ' => ERROR ' : ' => ';
      const time = s.status === 'running' ? seconds(now() - s.started) : seconds(s.durationMs);
      const head = fit(`${prefix}[${s.label}] ${s.text}`);
      lines.push(`${head.padEnd(Math.max(head.length, width - 8))}${time.padStart(7)}`);
      if (s.status === 'running' && s.lastLog !== '') lines.push(fit(` => => # ${s.lastLog}`));
    }
    lines.push(...footer);
    const rewind = drawn > 0 ? `${ESC}${drawn}F${ESC}J` : '';
    write(`${rewind}${lines.join('\n')}\n`);
    drawn = lines.length;
  }

  return {
    onEvent(event: BuildEvent): void {
      switch (event.type) {
        case 'build-started':
          started = Math.min(started, event.timestamp);
          break;
        case 'step-started':
          steps.set(event.stepId, {
            label: `${event.stage} ${event.index}/${event.total}`,
            text: event.instruction.text.replace(/\s*\\?\r?\n\s*/g, ' ').trim(),
            started: event.timestamp,
            status: 'running',
            durationMs: 0,
            lastLog: '',
          });
          break;
        case 'step-log': {
          const step = steps.get(event.stepId);
          if (step !== undefined && event.text.trim() !== '') step.lastLog = event.text.trim();
          break;
        }
        case 'step-cached': {
          const step = steps.get(event.stepId);
          if (step !== undefined) step.status = 'cached';
          break;
        }
        case 'step-completed': {
          const step = steps.get(event.stepId);
          if (step !== undefined) {
            step.status = 'done';
            step.durationMs = event.durationMs;
          }
          break;
        }
        case 'step-failed': {
          const step = steps.get(event.stepId);
          if (step !== undefined) {
            step.status = 'error';
            step.durationMs = event.durationMs;
          }
          break;
        }
        case 'warning':
          footer = [...footer, `WARNING: ${event.code}: ${event.message}`];
          break;
        case 'export-started':
          steps.set(`export ${event.output}`, { label: 'export', text: event.output, started: event.timestamp, status: 'running', durationMs: 0, lastLog: '' });
          break;
        case 'export-completed': {
          const step = steps.get(`export ${event.output}`);
          if (step !== undefined) {
            step.status = 'done';
            step.durationMs = event.durationMs;
          }
          break;
        }
        case 'cache-mount-restored':
          footer = [...footer, ` => restored cache mount ${event.id} from ${event.source}`];
          break;
        case 'cache-imported':
          footer = [...footer, ` => importing cache from ${event.source} (${event.records} records)`];
          break;
        case 'cache-exported':
          footer = [...footer, ` => exporting cache to ${event.destination}: ${event.uploaded} blobs uploaded, ${event.present} present`];
          break;
        case 'build-completed':
          finished = true;
          footer = [...footer, ` => writing image ${event.imageId}`, ...event.tags.map((t) => ` => naming to ${t}`)];
          break;
        default:
          unreachable(event);
      }
      draw();
    },
    close(): void {
      if (drawn > 0) draw();
    },
  };
}
