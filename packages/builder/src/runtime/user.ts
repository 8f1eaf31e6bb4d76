import { buildError, BuildErrors } from '../errors.js';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups: the groups that list the user as a member (none when a group was given). */
  readonly additionalGids: readonly number[];
  readonly home: string;
}

const NUMERIC = /^[0-9]+$/;

function lines(text: string): string[][] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

/** Parses /etc/passwd; malformed lines are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    const [name, , uid, gid, , home, shell] = f;
    if (name === undefined || uid === undefined || gid === undefined || !NUMERIC.test(uid) || !NUMERIC.test(gid)) continue;
    out.push({ name, uid: Number(uid), gid: Number(gid), home: home ?? '/', shell: shell ?? '' });
  }
  return out;
}

/** Parses /etc/group; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    const [name, , gid, members] = f;
    if (name === undefined || gid === undefined || !NUMERIC.test(gid)) continue;
    out.push({ name, gid: Number(gid), members: (members ?? '').split(',').filter((m) => m !== '') });
  }
  return out;
}

/**
 * Resolves a USER value (`name`, `uid`, `name:group`, `uid:gid`, ...) against
 * the image's passwd and group files, with docker's rules: a numeric uid
 * missing from passwd is used as is with gid 0 and home `/`; a name missing
 * from passwd is an error; without an explicit group, the user's primary
 * group plus the groups that list it as a member.
 */
export function resolveUser(spec: string, files: { passwd: string; group: string }): ResolvedUser {
  const value = spec === '' ? 'root' : spec;
  const colon = value.indexOf(':');
  const userPart = colon === -1 ? value : value.slice(0, colon);
  const groupPart = colon === -1 ? undefined : value.slice(colon + 1);
  const passwd = parsePasswd(files.passwd);
  const groups = parseGroup(files.group);

  const entry = NUMERIC.test(userPart)
    ? passwd.find((p) => p.uid === Number(userPart))
    : passwd.find((p) => p.name === userPart);
  if (entry === undefined && !NUMERIC.test(userPart)) throw buildError(BuildErrors.userUnknown, ['user', userPart]);
  const uid = entry?.uid ?? Number(userPart);
  const home = entry?.home ?? '/';

  if (groupPart !== undefined && groupPart !== '') {
    const group = NUMERIC.test(groupPart) ? groups.find((g) => g.gid === Number(groupPart)) : groups.find((g) => g.name === groupPart);
    if (group === undefined && !NUMERIC.test(groupPart)) throw buildError(BuildErrors.userUnknown, ['group', groupPart]);
    return { uid, gid: group?.gid ?? Number(groupPart), additionalGids: [], home };
  }
  const gid = entry?.gid ?? 0;
  const name = entry?.name;
  const additionalGids =
    name === undefined
      ? []
      : [...new Set(groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid))];
  return { uid, gid, additionalGids, home };
}
