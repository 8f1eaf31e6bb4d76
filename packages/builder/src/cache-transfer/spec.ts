import { buildError, BuildErrors } from '../errors.js';

/**
 * Where build cache goes (`--cache-to`) or comes from (`--cache-from`):
 * a registry reference or an OCI layout folder on disk.
 */
export type CacheLocation =
  | { readonly type: 'registry'; readonly ref: string }
  | { readonly type: 'local'; readonly dir: string; /** The layout's ref name (index.json annotation); default `latest`. */ readonly tag?: string };

export interface CacheExportSpec {
  readonly location: CacheLocation;
  /** `min`: the steps of the final image only (default); `max`: every stage built. */
  readonly mode?: 'min' | 'max';
  /** Also export RUN --mount=type=cache folders the build used. */
  readonly mounts?: boolean;
}

export interface CacheImportSpec {
  readonly location: CacheLocation;
}

function fields(text: string, flag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq === -1) throw buildError(BuildErrors.invalidCacheSpec, [flag, text, `'${part}' is not KEY=VALUE`]);
    out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

function location(f: Map<string, string>, flag: string, text: string, dirKey: 'src' | 'dest'): CacheLocation {
  const type = f.get('type') ?? (f.has('ref') ? 'registry' : undefined);
  if (type === 'registry') {
    const ref = f.get('ref');
    if (ref === undefined || ref === '') throw buildError(BuildErrors.invalidCacheSpec, [flag, text, 'type=registry needs ref=REFERENCE']);
    return { type, ref };
  }
  if (type === 'local') {
    const dir = f.get(dirKey);
    if (dir === undefined || dir === '') throw buildError(BuildErrors.invalidCacheSpec, [flag, text, `type=local needs ${dirKey}=DIR`]);
    const tag = f.get('tag');
    return { type, dir, ...(tag === undefined ? {} : { tag }) };
  }
  throw buildError(BuildErrors.invalidCacheSpec, [flag, text, `type must be registry or local, not '${type ?? ''}'`]);
}

const EXPORT_KEYS = new Set(['type', 'ref', 'dest', 'tag', 'mode', 'mounts']);
const IMPORT_KEYS = new Set(['type', 'ref', 'src', 'tag']);

function checkKeys(f: Map<string, string>, allowed: ReadonlySet<string>, flag: string, text: string): void {
  for (const key of f.keys()) if (!allowed.has(key)) throw buildError(BuildErrors.invalidCacheSpec, [flag, text, `unknown field '${key}'`]);
}

/** Parses `type=registry,ref=R[,mode=min|max][,mounts=true]` or `type=local,dest=DIR[,...]` (docker's --cache-to syntax). */
export function parseCacheExport(text: string): CacheExportSpec {
  const f = fields(text, '--cache-to');
  checkKeys(f, EXPORT_KEYS, '--cache-to', text);
  const mode = f.get('mode');
  if (mode !== undefined && mode !== 'min' && mode !== 'max') throw buildError(BuildErrors.invalidCacheSpec, ['--cache-to', text, `mode must be min or max, not '${mode}'`]);
  const mounts = f.get('mounts');
  if (mounts !== undefined && mounts !== 'true' && mounts !== 'false') throw buildError(BuildErrors.invalidCacheSpec, ['--cache-to', text, 'mounts must be true or false']);
  return {
    location: location(f, '--cache-to', text, 'dest'),
    ...(mode === undefined ? {} : { mode }),
    ...(mounts === undefined ? {} : { mounts: mounts === 'true' }),
  };
}

/** Parses `type=registry,ref=R` or `type=local,src=DIR` (a bare reference means type=registry). */
export function parseCacheImport(text: string): CacheImportSpec {
  const f = text.includes('=') ? fields(text, '--cache-from') : new Map([['type', 'registry'], ['ref', text]]);
  checkKeys(f, IMPORT_KEYS, '--cache-from', text);
  return { location: location(f, '--cache-from', text, 'src') };
}

/** How a location is named in events and reasons. */
export function describeLocation(location: CacheLocation): string {
  return location.type === 'registry' ? location.ref : `${location.dir}${location.tag === undefined ? '' : `:${location.tag}`}`;
}
