import { familiarName, parseReference, type Store, type StoredImage } from '@strata/cache';
import { parseCommandLine, type CommandSyntax } from '../argv.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { findImage, openStore, reportImageError } from '../store.js';

const syntax: CommandSyntax = {
  usage: 'strata inspect [OPTIONS] IMAGE [IMAGE...]',
  description: [
    'Print what the store knows of images as a JSON array shaped like `docker image inspect`.',
    'IMAGE is a name or an image ID. For a multi-platform image, the platform of this machine',
    'is shown unless --platform names another.',
  ].join('\n'),
  options: [
    { name: 'format', short: 'f', type: 'string', valueName: 'TEMPLATE', description: 'Print each image with a template: {{.Field}}, {{.A.B}}, {{json .X}}' },
    { name: 'platform', type: 'string', valueName: 'PLATFORM', description: 'os/arch[/variant] to show of a multi-platform image' },
  ],
  positionals: [1, Number.POSITIVE_INFINITY],
};

/** docker's container config as `docker image inspect` prints it: every field, null where unset. */
function dockerConfig(image: StoredImage): Record<string, unknown> {
  const c = image.config.config ?? {};
  return {
    Hostname: '',
    Domainname: '',
    User: c.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(c.ExposedPorts === undefined ? {} : { ExposedPorts: c.ExposedPorts }),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c.Env ?? null,
    Cmd: c.Cmd ?? null,
    ...(c.Healthcheck === undefined ? {} : { Healthcheck: c.Healthcheck }),
    ...(c.ArgsEscaped === undefined ? {} : { ArgsEscaped: c.ArgsEscaped }),
    Image: '',
    Volumes: c.Volumes ?? null,
    WorkingDir: c.WorkingDir ?? '',
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: c.OnBuild ?? null,
    Labels: c.Labels ?? null,
    ...(c.StopSignal === undefined ? {} : { StopSignal: c.StopSignal }),
    ...(c.Shell === undefined ? {} : { Shell: c.Shell }),
  };
}

/**
 * The repo digests of an image: those recorded when it was pulled or pushed
 * (for the tag's manifest or index, and for the platform manifest shown),
 * and its `name@digest` names (a pull by digest). Familiar, sorted, once each.
 */
export async function repoDigestsOf(store: Store, image: StoredImage, digestNames: readonly string[] = []): Promise<string[]> {
  const recorded = await store.repoDigests(image.top.digest);
  if (image.descriptor.digest !== image.top.digest) recorded.push(...(await store.repoDigests(image.descriptor.digest)));
  return [...new Set([...recorded, ...digestNames].map(familiarName))].sort();
}

/** One image as `docker image inspect` shows it. */
export async function inspectImage(store: Store, image: StoredImage): Promise<Record<string, unknown>> {
  const tags: string[] = [];
  const digestNames: string[] = [];
  for (const t of await store.images()) {
    if (t.descriptor.digest !== image.top.digest && t.descriptor.digest !== image.descriptor.digest) continue;
    if (parseReference(t.ref).digest !== undefined) digestNames.push(t.ref);
    else tags.push(familiarName(t.ref));
  }
  const digests = await repoDigestsOf(store, image, digestNames);
  const config = image.config;
  const history = config.history ?? [];
  const comment = [...history].reverse().find((h) => h.comment !== undefined)?.comment ?? '';
  return {
    Id: image.configDigest,
    RepoTags: tags,
    RepoDigests: digests,
    Parent: '',
    Comment: comment,
    Created: config.created ?? '',
    DockerVersion: '',
    Author: config.author ?? '',
    Config: dockerConfig(image),
    Architecture: config.architecture,
    ...(config.variant === undefined ? {} : { Variant: config.variant }),
    Os: config.os,
    ...(config['os.version'] === undefined ? {} : { OsVersion: config['os.version'] }),
    Size: image.size,
    RootFS: { Type: 'layers', Layers: [...config.rootfs.diff_ids] },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    Descriptor: { mediaType: image.descriptor.mediaType, digest: image.descriptor.digest, size: image.descriptor.size },
    History: history,
  };
}

/** Go-template paths docker users type: `{{.Field}}`, `{{.A.B}}`, `{{json .X}}`, text between. */
export function renderTemplate(template: string, value: unknown): string {
  const lookup = (path: string): unknown => {
    if (path === '.') return value;
    let current: unknown = value;
    for (const key of path.replace(/^\./, '').split('.')) {
      if (current === null || typeof current !== 'object') return undefined;
      current = (current as Record<string, unknown>)[key];
    }
    return current;
  };
  const text = (v: unknown): string => {
    if (v === undefined || v === null) return '<no value>';
    if (Array.isArray(v)) return `[${v.map(text).join(' ')}]`;
    if (typeof v === 'object') return `map[${Object.keys(v).sort().map((k) => `${k}:${text((v as Record<string, unknown>)[k])}`).join(' ')}]`;
    return String(v);
  };
  return template.replace(/\{\{-?\s*(json\s+)?(\.[A-Za-z0-9_.]*)\s*-?\}\}/g, (_all, json: string | undefined, path: string) => {
    const v = lookup(path);
    return json !== undefined ? JSON.stringify(v ?? null) : text(v);
  }).replace(/\\n/g, '\n');
}

/** Checks that every `{{…}}` of a template is one strata understands. */
export function checkTemplate(template: string): string | undefined {
  for (const m of template.matchAll(/\{\{(.*?)\}\}/g)) {
    if (!/^-?\s*(json\s+)?\.[A-Za-z0-9_.]*\s*-?$/.test(m[1] ?? '')) return `unsupported template action '{{${m[1] ?? ''}}}' (strata knows {{.Field}}, {{.A.B}} and {{json .X}})`;
  }
  return undefined;
}

/** `strata inspect [--format T] [--platform P] IMAGE...` (also `strata image inspect`). */
export async function run(args: string[], io: CliIo): Promise<number> {
  const argv = parseCommandLine('inspect', args, syntax, io);
  if (typeof argv === 'number') return argv;
  const format = argv.values.format as string | undefined;
  if (format !== undefined) {
    const problem = checkTemplate(format);
    if (problem !== undefined) {
      io.stderr.write(`strata inspect: ${problem}\n`);
      return ExitCode.usage;
    }
  }
  try {
    const store = await openStore(io);
    const out: Record<string, unknown>[] = [];
    let code: number = ExitCode.ok;
    for (const word of argv.positionals) {
      const found = await findImage(store, word, argv.values.platform as string | undefined);
      if (found === undefined) {
        io.stderr.write(`Error: No such image: ${word}\n`);
        code = ExitCode.failure;
        continue;
      }
      out.push(await inspectImage(store, found.image));
    }
    if (format === undefined) io.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    else for (const item of out) io.stdout.write(`${renderTemplate(format, item)}\n`);
    return code;
  } catch (error) {
    return reportImageError(io, 'inspect', error);
  }
}

