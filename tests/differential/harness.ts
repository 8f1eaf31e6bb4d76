// The differential harness: cases on disk, Buildah in a throw-away store,
// umoci unpacking, config reading. Each case is a folder under cases/ with a
// Dockerfile (its first lines `ARG BASE` / `FROM $BASE`: both builders get
// the same base reference from the local registry), its context files, and
// optionally case.json ({ buildArgs, target }) and prepare.sh (run in the
// copied context to make what git cannot hold: tar archives, odd modes).
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const CASES_DIR = join(__dirname, 'cases');

export interface DiffCase {
  readonly name: string;
  readonly dir: string;
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly target?: string;
}

export function loadCases(): DiffCase[] {
  return readdirSync(CASES_DIR)
    .sort()
    .map((name) => {
      const dir = join(CASES_DIR, name);
      const spec = existsSync(join(dir, 'case.json'))
        ? (JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { buildArgs?: Record<string, string>; target?: string })
        : {};
      return { name, dir, buildArgs: spec.buildArgs ?? {}, ...(spec.target !== undefined ? { target: spec.target } : {}) };
    });
}

const HARNESS_FILES = new Set(['case.json', 'prepare.sh']);

/** Copies a case's context (without the harness files) to `dest` and runs its prepare.sh there. */
export function prepareContext(c: DiffCase, dest: string): string {
  mkdirSync(dest, { recursive: true });
  for (const name of readdirSync(c.dir)) {
    if (!HARNESS_FILES.has(name)) cpSync(join(c.dir, name), join(dest, name), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }
  if (existsSync(join(c.dir, 'prepare.sh'))) execFileSync('sh', ['-eu', join(c.dir, 'prepare.sh')], { cwd: dest, stdio: 'pipe' });
  return dest;
}

/**
 * Buildah with its own storage under `dir`, never the host's. The overlay
 * driver, as docker's overlay2: a hardlink to a file of a lower layer is
 * broken by the copy-up in both builders (vfs would keep it).
 */
export class Buildah {
  constructor(private readonly dir: string) {}

  private async run(args: readonly string[], options: { timeoutMs?: number } = {}): Promise<string> {
    const global = ['--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'runroot'), '--storage-driver', 'overlay'];
    try {
      const { stdout } = await execFileAsync('buildah', [...global, ...args], {
        maxBuffer: 64 << 20,
        env: { ...process.env, BUILDAH_LAYERS: 'true' },
        ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
      });
      return stdout;
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`buildah ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    }
  }

  /** `buildah bud --layers --isolation chroot` in docker format (HEALTHCHECK, SHELL and ONBUILD exist only there). */
  async bud(options: { context: string; tag: string; buildArgs: Readonly<Record<string, string>>; target?: string; timeoutMs?: number }): Promise<void> {
    const args = ['bud', '--layers', '--isolation', 'chroot', '--format', 'docker', '--tls-verify=false', '-t', options.tag];
    for (const [k, v] of Object.entries(options.buildArgs)) args.push('--build-arg', `${k}=${v}`);
    if (options.target !== undefined) args.push('--target', options.target);
    args.push('-f', join(options.context, 'Dockerfile'), options.context);
    await this.run(args, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
  }

  /** The image's docker-format config (`.config` of the config blob). */
  async config(tag: string): Promise<Record<string, unknown>> {
    const inspect = JSON.parse(await this.run(['inspect', '--type', 'image', tag])) as { Docker: { config: Record<string, unknown> } };
    return inspect.Docker.config;
  }

  /** Removes Buildah's containers and unmounts anything left under its storage. */
  async cleanup(): Promise<void> {
    await this.run(['rm', '--all']).catch(() => undefined);
    await this.run(['rmi', '--all', '--force']).catch(() => undefined);
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[1] ?? '')
      .filter((target) => target.startsWith(this.dir + '/'))
      .reverse();
    for (const target of mounts) execFileSync('umount', ['-l', target]);
  }

  /** Pushes the image to an OCI layout at `layout` (tag `latest`). */
  async pushOci(tag: string, layout: string): Promise<void> {
    mkdirSync(dirname(layout), { recursive: true });
    await this.run(['push', '--quiet', tag, `oci:${layout}:latest`]);
  }
}

/** Unpacks an image from an OCI layout with umoci as root: owners, fifos and devices are made for real. */
export async function unpack(layout: string, ref: string, dest: string): Promise<string> {
  mkdirSync(dirname(dest), { recursive: true });
  await execFileAsync('umoci', ['raw', 'unpack', '--image', `${layout}:${ref}`, dest], { maxBuffer: 16 << 20 });
  return dest;
}

/** The image config's `.config` from an OCI layout, read raw with skopeo (parsed, it would drop docker's fields such as Healthcheck). */
export async function layoutConfig(layout: string, ref: string): Promise<Record<string, unknown>> {
  const { stdout } = await execFileAsync('skopeo', ['inspect', '--raw', '--config', `oci:${layout}:${ref}`], { maxBuffer: 16 << 20 });
  return (JSON.parse(stdout) as { config?: Record<string, unknown> }).config ?? {};
}
