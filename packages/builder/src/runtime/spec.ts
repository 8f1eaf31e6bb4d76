import { DEFAULT_CAPABILITIES } from './capabilities.js';
import type { NetworkMode } from './network.js';
import { defaultSeccompProfile } from './seccomp.js';

export type { NetworkMode } from './network.js';

/** A bind mount into the container (RUN --mount=type=bind|cache|secret, volumes). */
export interface BindMount {
  readonly source: string;
  readonly target: string;
  readonly readonly?: boolean;
}

/** A tmpfs mount (RUN --mount=type=tmpfs). */
export interface TmpfsMount {
  readonly target: string;
  /** Size limit in bytes; none when absent. */
  readonly size?: number;
}

/** What one process in one container needs; everything already resolved. */
export interface ProcessSpec {
  readonly args: readonly string[];
  /** `NAME=value` strings, in order. */
  readonly env: readonly string[];
  /** Absolute path inside the container. */
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids?: readonly number[];
  /** Give the process a pseudo-terminal (`run -t`); the runtime must then run with inherited stdio. */
  readonly terminal?: boolean;
}

export interface ContainerSpecOptions {
  /** The root filesystem folder (an overlay mount point). */
  readonly rootfs: string;
  readonly process: ProcessSpec;
  readonly hostname?: string;
  /**
   * `host` shares the host's network namespace; `none` gets a fresh one with
   * loopback only; `default` joins `networkNamespace` (set up by openNetwork,
   * ./network.ts), or without one gets loopback only like `none`.
   */
  readonly network?: NetworkMode;
  /** The bind-mounted network namespace a `default` container joins. */
  readonly networkNamespace?: string;
  /** Host files bind-mounted read-only at /etc/resolv.conf, /etc/hosts, /etc/hostname. */
  readonly etcFiles?: { readonly resolvConf?: string; readonly hosts?: string; readonly hostname?: string };
  readonly binds?: readonly BindMount[];
  readonly tmpfs?: readonly TmpfsMount[];
  readonly capabilities?: readonly string[];
  /** The seccomp filter (`linux.seccomp`); default: defaultSeccompProfile(), `false` for none. */
  readonly seccomp?: Record<string, unknown> | false;
}

/** The parts of the OCI runtime-spec config.json that strata writes. */
export interface RuntimeSpec {
  readonly ociVersion: string;
  readonly process: Record<string, unknown>;
  readonly root: { readonly path: string; readonly readonly: boolean };
  readonly hostname: string;
  readonly mounts: readonly Record<string, unknown>[];
  readonly linux: Record<string, unknown>;
}

/** Paths that containers get as mount points: a build must not leave them in a layer when the image lacked them. */
export function mountTargets(options: ContainerSpecOptions): string[] {
  const targets = ['/proc', '/dev', '/sys'];
  if (options.etcFiles?.resolvConf !== undefined) targets.push('/etc/resolv.conf');
  if (options.etcFiles?.hosts !== undefined) targets.push('/etc/hosts');
  if (options.etcFiles?.hostname !== undefined) targets.push('/etc/hostname');
  for (const b of options.binds ?? []) targets.push(b.target);
  for (const t of options.tmpfs ?? []) targets.push(t.target);
  return targets;
}

/**
 * Builds the runtime spec for a RUN step the way docker build arranges its
 * containers: mount, pid, ipc, uts and network namespaces (none of the last for --network=host),
 * docker's 14 default capabilities, no_new_privs, a seccomp filter that
 * refuses mount, module loading and the like (./seccomp.ts), a device cgroup
 * that denies all but the runtime's default devices, /proc, /dev, /sys, and
 * the resolv.conf/hosts files it is given, bound read-only.
 */
export function createRuntimeSpec(options: ContainerSpecOptions): RuntimeSpec {
  const caps = [...(options.capabilities ?? DEFAULT_CAPABILITIES)];
  const network = options.network ?? 'default';
  const p = options.process;
  const namespaces: { type: string; path?: string }[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  const ownNetwork = network !== 'host';
  if (ownNetwork) {
    namespaces.push(network === 'default' && options.networkNamespace !== undefined ? { type: 'network', path: options.networkNamespace } : { type: 'network' });
  }

  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // sysfs can only be mounted in a container that owns its network namespace
    ownNetwork
      ? { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  const etc = options.etcFiles ?? {};
  const etcBinds: [string, string | undefined][] = [
    ['/etc/resolv.conf', etc.resolvConf],
    ['/etc/hosts', etc.hosts],
    ['/etc/hostname', etc.hostname],
  ];
  for (const [destination, source] of etcBinds) {
    if (source !== undefined) mounts.push({ destination, type: 'bind', source, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  }
  for (const t of options.tmpfs ?? []) {
    const opts = ['nosuid', 'nodev', 'mode=1777'];
    if (t.size !== undefined) opts.push(`size=${t.size}`);
    mounts.push({ destination: t.target, type: 'tmpfs', source: 'tmpfs', options: opts });
  }
  for (const b of options.binds ?? []) {
    mounts.push({ destination: b.target, type: 'bind', source: b.source, options: ['rbind', b.readonly === true ? 'ro' : 'rw'] });
  }

  return {
    ociVersion: '1.0.2',
    process: {
      terminal: p.terminal === true,
      user: { uid: p.uid, gid: p.gid, additionalGids: [...(p.additionalGids ?? [])] },
      args: [...p.args],
      env: [...p.env],
      cwd: p.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: true,
    },
    root: { path: options.rootfs, readonly: false },
    hostname: options.hostname ?? 'strata',
    mounts,
    linux: {
      namespaces,
      // no device but the runtime's defaults (null, zero, tty…): a node made with CAP_MKNOD opens nothing of the host
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      ...(options.seccomp === false ? {} : { seccomp: options.seccomp ?? defaultSeccompProfile() }),
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
