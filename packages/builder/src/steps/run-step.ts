import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Mount, RunInstruction } from '@strata/parser';
import type { BuildSession, LogSink, StageState, StepOutcome } from '../build.js';
import { expanderFor, runEnvironment } from '../build.js';
import { stepKey } from '../cache-key.js';
import { buildError, BuildErrors } from '../errors.js';
import { containerConfig } from '../image/state.js';
import { checkEmulation } from '../runtime/emulation.js';
import { runStep } from '../runtime/run-step.js';
import type { BindMount, TmpfsMount } from '../runtime/spec.js';
import { resolveUser } from '../runtime/user.js';
import { readUserFiles } from '../snapshot/snapshotter.js';
import { layerStep } from './layer-step.js';
import { DEFAULT_SHELL } from './metadata.js';

/** How many trailing output lines a failed RUN reports. */
const TAIL_LINES = 20;

/**
 * The command of a RUN with heredocs (shell form), as BuildKit runs it:
 * `RUN <<EOF` alone runs the body as the script; otherwise the shell gets the
 * command line followed by the heredoc bodies and their terminators, and does
 * the redirection itself (`RUN cat <<EOF > /etc/motd`, `RUN python3 <<EOF`).
 */
function heredocCommand(ins: RunInstruction, shell: readonly string[]): string[] | undefined {
  if (ins.files.length === 0 || !ins.prependShell) return undefined;
  const first = ins.files[0];
  const line = ins.cmdLine.join(' ');
  if (ins.files.length === 1 && first !== undefined && /^<<-?\s*["']?[A-Za-z0-9_.-]+["']?$/.test(line.trim())) {
    const body = first.chomp ? first.data.replace(/^\t+/gm, '') : first.data;
    if (body.startsWith('#!')) throw buildError(BuildErrors.unsupported, ['a RUN heredoc script with a #! interpreter line']);
    return [...shell, body];
  }
  const bodies = ins.files.map((f) => `${f.data}${f.data.endsWith('\n') || f.data === '' ? '' : '\n'}${f.name}\n`).join('');
  return [...shell, `${line}\n${bodies}`];
}

interface PreparedMounts {
  readonly binds: BindMount[];
  readonly tmpfs: TmpfsMount[];
  /** Canonical form for the cache key (cache mount contents are not part of it). */
  readonly canonical: unknown[];
}

async function prepareMounts(mounts: readonly Mount[], session: BuildSession, expand: (w: string) => string, workdir: string): Promise<PreparedMounts> {
  const binds: BindMount[] = [];
  const tmpfs: TmpfsMount[] = [];
  const canonical: unknown[] = [];
  for (const m of mounts) {
    const target = m.target === undefined ? undefined : posix.resolve(workdir, expand(m.target));
    switch (m.type) {
      case 'tmpfs': {
        if (target === undefined) throw buildError(BuildErrors.invalidInstruction, ['RUN --mount=type=tmpfs needs a target']);
        tmpfs.push({ target, ...(m.sizeLimit === undefined ? {} : { size: m.sizeLimit }) });
        canonical.push(['tmpfs', target, m.sizeLimit ?? null]);
        break;
      }
      case 'cache': {
        if (target === undefined) throw buildError(BuildErrors.invalidInstruction, ['RUN --mount=type=cache needs a target']);
        const id = m.id === undefined ? target : expand(m.id);
        const dir = join(session.store.root, 'cache-mounts-v1', Buffer.from(id).toString('base64url'));
        await mkdir(dir, { recursive: true });
        binds.push({ source: dir, target, readonly: m.readOnly });
        canonical.push(['cache', target, id, m.readOnly]);
        break;
      }
      case 'secret': {
        const id = m.id ?? (target === undefined ? undefined : posix.basename(target));
        const file = id === undefined ? undefined : session.options.secrets?.[id];
        if (file === undefined) {
          if (m.required) throw buildError(BuildErrors.invalidInstruction, [`secret ${id ?? '(no id)'} is required but was not given (--secret id=${id ?? 'ID'},src=FILE)`]);
          break;
        }
        binds.push({ source: file, target: target ?? `/run/secrets/${id}`, readonly: true });
        // the secret's content is deliberately not part of the key
        canonical.push(['secret', id, target ?? null]);
        break;
      }
      case 'bind': {
        if (m.from !== undefined) throw buildError(BuildErrors.unsupported, ['RUN --mount=type=bind,from=<stage|image>']);
        if (target === undefined) throw buildError(BuildErrors.invalidInstruction, ['RUN --mount=type=bind needs a target']);
        const source = expand(m.source ?? '.');
        const [selected] = await session.context.select([source]);
        if (selected === undefined) throw buildError(BuildErrors.contextPath, [source, 'was not found in the build context']);
        binds.push({ source: selected.root.hostPath, target, readonly: !(m.readOnly === false && m.raw.includes('rw')) });
        canonical.push(['bind', source, target]);
        break;
      }
      case 'ssh':
        throw buildError(BuildErrors.unsupported, ['RUN --mount=type=ssh']);
    }
  }
  return { binds, tmpfs, canonical };
}

/** RUN: key, then (on a miss) run in runc over the parent layers and commit the upper directory. */
export async function runRunStep(ins: RunInstruction, state: StageState, session: BuildSession, log: LogSink): Promise<StepOutcome> {
  const config = containerConfig(state.image);
  const shell = config.Shell ?? DEFAULT_SHELL;
  const args = heredocCommand(ins, shell) ?? (ins.prependShell ? [...shell, ins.cmdLine.join(' ')] : [...ins.cmdLine]);
  const env = runEnvironment(state);
  const expand = expanderFor(session, state);
  const workdir = config.WorkingDir || '/';
  const mounts = await prepareMounts(ins.mounts, session, expand, workdir);
  const network = ins.network !== 'default' ? ins.network : (session.options.network ?? 'default');
  const key = stepKey({
    parent: state.key,
    platform: session.platformText,
    kind: 'run',
    instruction: { args, mounts: mounts.canonical, network, security: ins.security },
    env,
  });
  const argsInScope = [...state.args];
  const prefix = argsInScope.length > 0 ? `|${argsInScope.length} ${argsInScope.map(([k, v]) => `${k}=${v}`).join(' ')} ` : '';
  const createdBy = `RUN ${prefix}${args.join(' ')} # buildkit`;
  return layerStep(session, state, {
    key,
    createdBy,
    config,
    produce: () => executeRun(ins, state, session, log, { args, env, workdir, mounts, network }),
  });
}

interface RunPlan {
  readonly args: string[];
  readonly env: string[];
  readonly workdir: string;
  readonly mounts: PreparedMounts;
  readonly network: 'default' | 'host' | 'none';
}

/** Runs the command over the parent layers; returns the upper directory with its changes. */
async function executeRun(ins: RunInstruction, state: StageState, session: BuildSession, log: LogSink, plan: RunPlan): Promise<string> {
  const { args, env, workdir, mounts, network } = plan;
  const config = containerConfig(state.image);
  await checkEmulation(session.platform, session.options.binfmtDir);
  const lowerDirs = await session.snapshotter.lowerDirs(state.image.layers);
  const user = resolveUser(config.User ?? '', await readUserFiles(lowerDirs));
  const id = session.nextId();
  const dir = join(session.workDir, id);
  const etc = join(session.workDir, 'etc');
  await mkdir(etc, { recursive: true });
  const hosts = join(etc, 'hosts');
  await writeFile(hosts, '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  const resolvConf = join(etc, 'resolv.conf');
  await writeFile(resolvConf, await readFile('/etc/resolv.conf', 'utf8').catch(() => 'nameserver 127.0.0.1\n'));

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
  const result = await runStep({
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
      binds: mounts.binds,
      tmpfs: mounts.tmpfs,
    },
    ...(session.options.runtime === undefined ? {} : { runtime: session.options.runtime }),
    stateDir: '/run/strata/runc',
    bundleDir: join(dir, 'bundle'),
    id,
    onOutput,
    ...(session.options.signal === undefined ? {} : { signal: session.options.signal }),
  });
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
