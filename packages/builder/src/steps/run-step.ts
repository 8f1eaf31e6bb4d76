import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { parseMount, type RunInstruction } from '@strata/parser';
import { expanderFor, runEnvironment, type BuildSession, type LogSink, type StageState, type StepOutcome } from '../session.js';
import { keyInputs, sourceFacts, sourcesDigest, stepKey, type StepKeyInput } from '../cache-key.js';
import { buildError, BuildErrors } from '../errors.js';
import { containerConfig } from '../image/state.js';
import { checkEmulation } from '../runtime/emulation.js';
import type { ContainerNetwork } from '../runtime/network.js';
import { DEFAULT_STATE_DIR } from '../runtime/runc.js';
import { runStep } from '../runtime/run-step.js';
import type { BindMount, TmpfsMount } from '../runtime/spec.js';
import { resolveUser } from '../runtime/user.js';
import { readUserFiles } from '../snapshot/snapshotter.js';
import { layerStep } from './layer-step.js';
import { DEFAULT_SHELL } from './metadata.js';
import { planCacheMount, RunCacheHolds } from './cache-mount.js';
import { planSshMount, withSshAuthSock } from './ssh-mount.js';
import { copyTree, mountOver, mountRoot, resolveInRoot, resolveMountFrom } from './mount-source.js';

/** How many trailing output lines a failed RUN reports. */
const TAIL_LINES = 20;

/** A `RUN <<EOF` script that starts with `#!`: written to a file and run directly, so its interpreter runs it. */
interface HeredocScript {
  readonly name: string;
  readonly body: string;
}

/** Where BuildKit mounts a `#!` heredoc script (read-only, inside /dev: never in the layer). */
const SCRIPT_DIR = '/dev/pipes';

interface RunCommand {
  readonly args: string[];
  readonly script?: HeredocScript;
}

/**
 * The command of a RUN with heredocs (shell form), as BuildKit runs it:
 * `RUN <<EOF` alone runs the body as the script (a body starting with `#!`
 * is written to /dev/pipes/<name> and executed, so the named interpreter
 * runs it); otherwise the shell gets the command line followed by the
 * heredoc bodies and their terminators, and does the redirection itself
 * (`RUN cat <<EOF > /etc/motd`, `RUN python3 <<EOF`).
 */
function heredocCommand(ins: RunInstruction, shell: readonly string[]): RunCommand | undefined {
  if (ins.files.length === 0 || !ins.prependShell) return undefined;
  const first = ins.files[0];
  const line = ins.cmdLine.join(' ');
  if (ins.files.length === 1 && first !== undefined && /^<<-?\s*["']?[A-Za-z0-9_.-]+["']?$/.test(line.trim())) {
    const body = first.chomp ? first.data.replace(/^\t+/gm, '') : first.data;
    if (body.startsWith('#!')) return { args: [posix.join(SCRIPT_DIR, first.name)], script: { name: first.name, body } };
    return { args: [...shell, body] };
  }
  const bodies = ins.files.map((f) => `${f.data}${f.data.endsWith('\n') || f.data === '' ? '' : '\n'}${f.name}\n`).join('');
  return { args: [...shell, `${line}\n${bodies}`] };
}

/** The mounts of one run, set up; `release` undoes the setup (unmounts, drops throwaway copies). */
interface ActiveMounts {
  readonly binds: BindMount[];
  readonly tmpfs: TmpfsMount[];
  release(): Promise<void>;
}

/** One mount's share of a run: what it adds to the container, and how to undo it. */
interface MountSetup {
  readonly bind?: BindMount;
  readonly tmpfs?: TmpfsMount;
  readonly release?: () => Promise<void>;
}

/**
 * A RUN's mounts as far as the cache key needs them (resolved before the
 * lookup), and the work of setting them up, done on a cache miss only.
 */
interface PlannedMounts {
  /** Canonical form for the cache key (cache mount contents are not part of it; bind sources are, by content or source identity). */
  readonly canonical: unknown[];
  /** The first ssh mount's socket: the step's SSH_AUTH_SOCK. */
  readonly sshAuthSock?: string;
  setup(scratch: string, log: LogSink): Promise<ActiveMounts>;
}

/** `log`: the step's output, for what a mount waits for (a locked cache another build holds). */
type Setup = (scratch: string, log: LogSink) => Promise<MountSetup>;

/** Sets the planned mounts up in order; on a failure, what was set up is released again. */
async function setupAll(setups: readonly Setup[], scratch: string, log: LogSink): Promise<ActiveMounts> {
  const done: MountSetup[] = [];
  const release = async () => {
    for (const m of [...done].reverse()) await m.release?.();
  };
  try {
    for (const [i, setup] of setups.entries()) done.push(await setup(join(scratch, `mount-${i}`), log));
  } catch (error) {
    await release();
    throw error;
  }
  return {
    binds: done.flatMap((m) => (m.bind === undefined ? [] : [m.bind])),
    tmpfs: done.flatMap((m) => (m.tmpfs === undefined ? [] : [m.tmpfs])),
    release,
  };
}

async function planMounts(
  ins: RunInstruction,
  session: BuildSession,
  expandScope: (w: string) => string,
  workdir: string,
  script: HeredocScript | undefined,
): Promise<PlannedMounts> {
  // the script itself is in the key with the command
  const setups: Setup[] = script === undefined ? [] : [scriptSetup(script)];
  const canonical: unknown[] = [];
  let sshMounts = 0;
  let sshAuthSock: string | undefined;
  const cacheHolds = new RunCacheHolds();
  for (const written of ins.mounts) {
    // a value that held a variable is read again now that the ARG/ENV in scope are known (every value expanded once)
    const m = written.deferred ? parseMount(written.raw, { expand: expandScope }) : written;
    const expand = written.deferred ? (word: string) => word : expandScope;
    const target = m.target === undefined ? undefined : posix.resolve(workdir, expand(m.target));
    switch (m.type) {
      case 'tmpfs': {
        if (target === undefined) throw buildError(BuildErrors.invalidInstruction, ['RUN --mount=type=tmpfs needs a target']);
        const tmpfs: TmpfsMount = { target, ...(m.sizeLimit === undefined ? {} : { size: m.sizeLimit }) };
        setups.push(async () => ({ tmpfs }));
        canonical.push(['tmpfs', target, m.sizeLimit ?? null]);
        break;
      }
      case 'cache': {
        if (target === undefined) throw buildError(BuildErrors.invalidInstruction, ['RUN --mount=type=cache needs a target']);
        const cache = await planCacheMount(m, target, expand, session, cacheHolds);
        setups.push(cache.setup);
        canonical.push(cache.canonical);
        break;
      }
      case 'secret': {
        const id = m.id ?? (target === undefined ? undefined : posix.basename(target));
        const file = id === undefined ? undefined : session.options.secrets?.[id];
        if (file === undefined) {
          if (m.required) throw buildError(BuildErrors.invalidInstruction, [`secret ${id ?? '(no id)'} is required but was not given (--secret id=${id ?? 'ID'},src=FILE)`]);
          break;
        }
        const bind: BindMount = { source: file, target: target ?? `/run/secrets/${id}`, readonly: true };
        setups.push(async () => ({ bind }));
        // the secret's content is deliberately not part of the key
        canonical.push(['secret', id, target ?? null]);
        break;
      }
      case 'bind': {
        if (target === undefined) throw buildError(BuildErrors.invalidInstruction, ['RUN --mount=type=bind needs a target']);
        const source = expand(m.source ?? (m.from === undefined ? '.' : '/'));
        const readonly = m.readOnly;
        if (m.from !== undefined) {
          const fromName = m.from;
          const from = await resolveMountFrom(fromName, session);
          const path = posix.resolve('/', source);
          setups.push(async (scratch) => {
            // its own overlay: `rw` writes land in a throwaway upper directory
            const root = await mountRoot(from.image, session, scratch);
            const host = await resolveInRoot(root.path, path);
            if (host === undefined) {
              await root.release();
              throw buildError(BuildErrors.mountSource, [m.raw, `${path} was not found in ${fromName}`]);
            }
            return { bind: { source: host, target, readonly }, release: () => root.release() };
          });
          canonical.push(['bind', from.identity, path, target, readonly]);
          break;
        }
        const [selected] = await session.context.select([source]);
        if (selected === undefined) throw buildError(BuildErrors.contextPath, [source, 'was not found in the build context']);
        // what the step can read is part of its key, as for COPY
        const facts = await sourceFacts([selected], async (file) => (await session.store.memo.hashFile(file, { root: session.context.root })).digest);
        const hostPath = selected.root.hostPath;
        setups.push(async (scratch) => {
          if (readonly) return { bind: { source: hostPath, target, readonly } };
          // rw: a throwaway copy, never the user's files
          if (selected.root.type === 'directory') {
            const root = await mountOver([hostPath], session, scratch);
            return { bind: { source: root.path, target, readonly }, release: () => root.release() };
          }
          await mkdir(scratch, { recursive: true });
          const copy = join(scratch, 'file');
          await copyTree(hostPath, copy);
          return { bind: { source: copy, target, readonly }, release: () => rm(scratch, { recursive: true, force: true }) };
        });
        canonical.push(['bind', 'context', source, target, readonly, sourcesDigest(facts)]);
        break;
      }
      case 'ssh': {
        const ssh = planSshMount(m, { target, index: sshMounts++, session, expand });
        sshAuthSock ??= ssh.target;
        if (ssh.setup !== undefined) setups.push(ssh.setup);
        canonical.push(ssh.canonical);
        break;
      }
    }
  }
  return { canonical, ...(sshAuthSock === undefined ? {} : { sshAuthSock }), setup: (scratch, log) => setupAll(setups, scratch, log) };
}

/** The `#!` script as a read-only mount of a folder holding it (mode 0755) at /dev/pipes. */
function scriptSetup(script: HeredocScript): Setup {
  return async (scratch) => {
    await mkdir(scratch, { recursive: true, mode: 0o755 });
    await chmod(scratch, 0o755);
    await writeFile(join(scratch, script.name), script.body, { mode: 0o755 });
    await chmod(join(scratch, script.name), 0o755);
    return { bind: { source: scratch, target: SCRIPT_DIR, readonly: true } };
  };
}

/** RUN: key, then (on a miss) run in runc over the parent layers and commit the upper directory. */
export async function runRunStep(ins: RunInstruction, state: StageState, session: BuildSession, log: LogSink): Promise<StepOutcome> {
  const config = containerConfig(state.image);
  const shell = config.Shell ?? DEFAULT_SHELL;
  const command = heredocCommand(ins, shell) ?? { args: ins.prependShell ? [...shell, ins.cmdLine.join(' ')] : [...ins.cmdLine] };
  const { args, script } = command;
  const expand = expanderFor(session, state);
  const workdir = config.WorkingDir || '/';
  const mounts = await planMounts(ins, session, expand, workdir, script);
  const env = withSshAuthSock(runEnvironment(state), mounts.sshAuthSock);
  const network = ins.network !== 'default' ? ins.network : (session.options.network ?? 'default');
  // BuildKit's network.host entitlement: a Dockerfile alone cannot take the host's network
  if (ins.network === 'host' && session.options.network !== 'host' && !(session.options.allow ?? []).includes('network.host')) {
    throw buildError(BuildErrors.networkNotAllowed, []);
  }
  const extraHosts = (session.options.extraHosts ?? []).map((h) => `${h.name}=${h.address}`);
  const keyInput: StepKeyInput = {
    parent: state.key,
    platform: session.platformText,
    kind: 'run',
    instruction: {
      args,
      mounts: mounts.canonical,
      network,
      security: ins.security,
      ...(script === undefined ? {} : { script }),
      ...(extraHosts.length === 0 ? {} : { extraHosts }),
    },
    env,
  };
  const key = stepKey(keyInput);
  const argsInScope = [...state.args];
  const prefix = argsInScope.length > 0 ? `|${argsInScope.length} ${argsInScope.map(([k, v]) => `${k}=${v}`).join(' ')} ` : '';
  const createdBy = `RUN ${prefix}${args.join(' ')} # buildkit`;
  let used: StepOutcome['network'];
  const outcome = await layerStep(session, state, {
    key,
    inputs: keyInputs(keyInput),
    createdBy,
    config,
    produce: () =>
      executeRun(ins, state, session, log, { args, env, workdir, mounts, network }, (n) => {
        used = { mode: n.mode, description: n.description };
      }),
  });
  return used === undefined ? outcome : { ...outcome, network: used };
}

/** The RUN container's /etc/hosts: loopback names, then `--add-host` entries. */
function hostsFile(extra: readonly { readonly name: string; readonly address: string }[]): string {
  let text = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
  for (const h of extra) text += `${h.address}\t${h.name}\n`;
  return text;
}

interface RunPlan {
  readonly args: string[];
  readonly env: string[];
  readonly workdir: string;
  readonly mounts: PlannedMounts;
  readonly network: 'default' | 'host' | 'none';
}

/** Runs the command over the parent layers; returns the upper directory with its changes. */
async function executeRun(
  ins: RunInstruction,
  state: StageState,
  session: BuildSession,
  log: LogSink,
  plan: RunPlan,
  onNetwork: (network: ContainerNetwork) => void,
): Promise<string> {
  const { args, env, workdir, mounts, network } = plan;
  const config = containerConfig(state.image);
  await checkEmulation(session.platform, session.options.binfmtDir);
  const lowerDirs = await session.snapshotter.lowerDirs(state.image.layers);
  const user = resolveUser(config.User ?? '', await readUserFiles(lowerDirs));
  const id = session.nextId();
  const dir = join(session.workDir, id);
  // the step's own: runStep writes the resolv.conf its network needs
  const etc = join(dir, 'etc');
  await mkdir(etc, { recursive: true });
  const hosts = join(etc, 'hosts');
  await writeFile(hosts, hostsFile(session.options.extraHosts ?? []));
  const resolvConf = join(etc, 'resolv.conf');

  const tail: string[] = [];
  let partial = { stdout: '', stderr: '' };
  const onOutput = (stream: 'stdout' | 'stderr', chunk: string) => {
    const text = partial[stream] + chunk;
    const lines = text.split('\n');
    partial = { ...partial, [stream]: lines.pop() ?? '' };
    for (const line of lines) {
      log(stream, line);
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    }
  };
  const active = await mounts.setup(join(dir, 'mounts'), log);
  let result;
  try {
    result = await runStep({
      overlay: {
        lowerDirs,
        upperDir: join(dir, 'upper'),
        workDir: join(dir, 'work'),
        target: join(dir, 'merged'),
        emptyDir: join(session.workDir, 'empty'),
        baseDir: session.store.root,
      },
      container: {
        process: { args, env, cwd: workdir, uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
        network,
        hostname: 'strata',
        etcFiles: { hosts, resolvConf },
        binds: active.binds,
        tmpfs: active.tmpfs,
      },
      ...(session.options.runtime === undefined ? {} : { runtime: session.options.runtime }),
      stateDir: DEFAULT_STATE_DIR,
      bundleDir: join(dir, 'bundle'),
      id,
      onOutput,
      onNetwork,
      networks: session.networks,
      moreRuns: state.cache?.runAhead === true,
      ...(session.options.signal === undefined ? {} : { signal: session.options.signal }),
    });
  } finally {
    await active.release();
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    if (partial[stream] !== '') {
      log(stream, partial[stream]);
      tail.push(partial[stream]);
    }
  }
  if (result.exitCode !== 0) {
    throw buildError(BuildErrors.stepFailed, [args.join(' '), result.exitCode], {
      details: { exitCode: result.exitCode, output: tail.slice(-TAIL_LINES) },
    });
  }
  return join(dir, 'upper');
}
