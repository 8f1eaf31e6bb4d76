import { InstructionErrors, valueError } from './errors.js';
import { splitCsv } from './csv.js';
import { parseGoBool } from './device.js';
import { suggest, withSuggestion } from './suggest.js';
import type { Mount, MountSharing, MountType } from './types.js';

const mountTypes: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const sharingModes: readonly MountSharing[] = ['shared', 'private', 'locked'];
const allKeys = ['type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid', 'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env'];

export interface ParseMountOptions {
  /**
   * Expands one option value (the builder passes the shell expander with the
   * ARG/ENV in scope). Without it, values holding `$` are kept as written and
   * not checked (`deferred`), as BuildKit defers them to build time.
   */
  readonly expand?: (value: string) => string;
}

const sizeUnits: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** A size as docker's RAMInBytes reads it: `512`, `64m`, `1.5GiB` (binary units). */
export function parseRamSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?) ?([kmgtp])?(?:i?b)?$/i.exec(text);
  if (match === null) return undefined;
  const unit = sizeUnits[(match[2] ?? '').toLowerCase()] ?? 1;
  return Math.trunc(Number(match[1]) * unit);
}

function fail(message: string): never {
  throw valueError(InstructionErrors.invalidMount, message);
}

function parseUint(value: string, radix: 8 | 10, what: string): number {
  const pattern = radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  const n = pattern.test(value) ? parseInt(value, radix) : NaN;
  if (!Number.isFinite(n) || n > 0xffffffff) fail(`invalid value ${value} for ${what}`);
  return n;
}

/**
 * One `RUN --mount` value (CSV `key=value` fields). Throws a location-less
 * DockerfileError (PARSE_INVALID_MOUNT) with BuildKit's message texts.
 */
export function parseMount(text: string, options: ParseMountOptions = {}): Mount {
  const fields = splitCsv(text, InstructionErrors.invalidMount);
  let type: MountType = 'bind';
  let from: string | undefined;
  let source: string | undefined;
  let target: string | undefined;
  let readOnly = false;
  let roAuto = true;
  let sizeLimit: number | undefined;
  let id: string | undefined;
  let sharing: MountSharing | undefined;
  let required = false;
  let env: string | undefined;
  let mode: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  let deferred = false;
  /** `type=$X`: checks that depend on the type wait for the expanded value. */
  let typeDeferred = false;

  for (const field of fields) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      switch (key) {
        case 'readonly':
        case 'ro':
          readOnly = true;
          roAuto = false;
          continue;
        case 'readwrite':
        case 'rw':
          readOnly = false;
          roAuto = false;
          continue;
        case 'required':
          if (!typeDeferred && type !== 'secret' && type !== 'ssh') fail(`unexpected key '${key}' for mount type '${type}'`);
          required = true;
          continue;
        default:
          fail(`invalid field '${field}' must be a key=value pair`);
      }
    }
    let value = field.slice(eq + 1);
    if (key === 'from') {
      const dollar = value.indexOf('$');
      if (dollar !== -1 && dollar !== value.length - 1) fail(`'${key}' doesn't support variable expansion, define alias stage instead`);
    } else if (options.expand !== undefined) {
      value = options.expand(value);
    } else if (value.includes('$')) {
      if (!allKeys.includes(key)) fail(withSuggestion(`unexpected key '${key}' in '${field}'`, suggest(key, allKeys)));
      deferred = true;
      if (key === 'type') typeDeferred = true;
      continue;
    }
    switch (key) {
      case 'type': {
        const v = value.toLowerCase() as MountType;
        if (!mountTypes.includes(v)) fail(withSuggestion(`unsupported mount type ${JSON.stringify(value)}`, suggest(value, mountTypes)));
        type = v;
        break;
      }
      case 'from':
        from = value;
        break;
      case 'source':
      case 'src':
        source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = value;
        break;
      case 'readonly':
      case 'ro': {
        const b = parseGoBool(value);
        if (b === undefined) fail(`invalid value for ${key}: ${value}`);
        readOnly = b;
        roAuto = false;
        break;
      }
      case 'readwrite':
      case 'rw': {
        const b = parseGoBool(value);
        if (b === undefined) fail(`invalid value for ${key}: ${value}`);
        readOnly = !b;
        roAuto = false;
        break;
      }
      case 'required': {
        if (!typeDeferred && type !== 'secret' && type !== 'ssh') fail(`unexpected key '${key}' for mount type '${type}'`);
        const b = parseGoBool(value);
        if (b === undefined) fail(`invalid value for ${key}: ${value}`);
        required = b;
        break;
      }
      case 'size': {
        if (!typeDeferred && type !== 'tmpfs') fail(`unexpected key '${key}' for mount type '${type}'`);
        const n = parseRamSize(value);
        if (n === undefined) fail(`invalid value for ${key}: ${value}`);
        sizeLimit = n;
        break;
      }
      case 'id':
        id = value;
        break;
      case 'sharing': {
        const v = value.toLowerCase() as MountSharing;
        if (!sharingModes.includes(v)) fail(withSuggestion(`unsupported sharing value ${JSON.stringify(value)}`, suggest(value, sharingModes)));
        sharing = v;
        break;
      }
      case 'mode':
        mode = parseUint(value, 8, 'mode');
        break;
      case 'uid':
        uid = parseUint(value, 10, 'uid');
        break;
      case 'gid':
        gid = parseUint(value, 10, 'gid');
        break;
      case 'env':
        env = value;
        break;
      default:
        fail(withSuggestion(`unexpected key '${key}' in '${field}'`, suggest(key, allKeys)));
    }
  }

  const fileInfoAllowed = typeDeferred || type === 'secret' || type === 'ssh' || type === 'cache';
  if (!fileInfoAllowed) {
    if (mode !== undefined) fail(`mode not allowed for ${JSON.stringify(type)} type mounts`);
    if (uid !== undefined) fail(`uid not allowed for ${JSON.stringify(type)} type mounts`);
    if (gid !== undefined) fail(`gid not allowed for ${JSON.stringify(type)} type mounts`);
  }
  if (roAuto) readOnly = !(type === 'cache' || type === 'tmpfs');
  if (type === 'secret') {
    if (from !== undefined && from !== '') fail('secret mount should not have a from');
    if (sharing !== undefined) fail('secret mount should not define sharing');
    if (!deferred && !source && !target && !id) fail('invalid secret mount. one of source, target required');
    if (source && id) fail("both source and id can't be set");
  }
  if (!typeDeferred && sharing !== undefined && type !== 'cache') fail(`invalid cache sharing set for ${type} mount`);

  return {
    type,
    readOnly,
    required,
    raw: text,
    deferred,
    ...(from === undefined ? {} : { from }),
    ...(source === undefined ? {} : { source }),
    ...(target === undefined ? {} : { target }),
    ...(sizeLimit === undefined ? {} : { sizeLimit }),
    ...(id === undefined ? {} : { id }),
    ...(sharing === undefined ? {} : { sharing }),
    ...(env === undefined ? {} : { env }),
    ...(mode === undefined ? {} : { mode }),
    ...(uid === undefined ? {} : { uid }),
    ...(gid === undefined ? {} : { gid }),
  };
}
