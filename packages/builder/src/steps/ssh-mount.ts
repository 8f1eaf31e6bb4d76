import type { Mount } from '@strata/parser';
import { buildError, BuildErrors } from '../errors.js';
import { DEFAULT_SSH_ID } from '../runtime/ssh-agent.js';
import type { BindMount } from '../runtime/spec.js';
import type { BuildSession } from '../session.js';

/** A RUN's ssh mount, planned: its part of the key, the socket path the step sees, its setup on a miss (none without an agent). */
export interface PlannedSshMount {
  readonly canonical: unknown[];
  readonly target: string;
  readonly setup?: () => Promise<{ bind: BindMount; release: () => Promise<void> }>;
}

/**
 * `RUN --mount=type=ssh[,id=…,target=…,required=…,mode=…,uid=…,gid=…]` as
 * BuildKit mounts it: the agent `id` (default `default`) as a socket at
 * `target` (default /run/buildkit/ssh_agent.N, N counting the step's ssh
 * mounts), mode 0600 and owner 0:0 unless given. The socket is strata's
 * read-only relay of the agent (runtime/ssh-agent.ts), made for this run
 * and removed after it; its mount point leaves nothing in the layer. The key
 * holds the mount as written, never a key or the agent's socket path, so a
 * step keyed with an agent hits without one. A missing agent fails the step
 * when `required`, and is no mount otherwise (BuildKit's optional mount).
 */
export function planSshMount(m: Mount, options: { target: string | undefined; index: number; session: BuildSession; expand: (w: string) => string }): PlannedSshMount {
  if (m.source !== undefined) throw buildError(BuildErrors.invalidInstruction, [`RUN --mount=${m.raw}: ssh does not support source`]);
  const id = m.id === undefined || m.id === '' ? DEFAULT_SSH_ID : options.expand(m.id);
  const target = options.target ?? `/run/buildkit/ssh_agent.${options.index}`;
  const uid = m.uid ?? 0;
  const gid = m.gid ?? 0;
  const mode = m.mode ?? 0o600;
  const canonical = ['ssh', id, target, m.required, uid, gid, mode];
  const { session } = options;
  if (!session.ssh.has(id)) {
    if (m.required) throw buildError(BuildErrors.sshMissing, [`RUN --mount=${m.raw}`, id]);
    return { canonical, target };
  }
  return {
    canonical,
    target,
    setup: async () => {
      const served = await session.ssh.serve(id, { uid, gid, mode });
      return { bind: { source: served.path, target, readonly: true }, release: () => served.stop() };
    },
  };
}

/** The step's environment with SSH_AUTH_SOCK naming its first ssh mount, unless ENV or ARG set it (BuildKit). */
export function withSshAuthSock(env: readonly string[], socket: string | undefined): string[] {
  if (socket === undefined || env.some((e) => e.startsWith('SSH_AUTH_SOCK='))) return [...env];
  return [...env, `SSH_AUTH_SOCK=${socket}`];
}
