/**
 * The seccomp filter of RUN steps: everything is allowed except what a build
 * never needs and an escape always does — mounting, loading kernel modules,
 * kexec, swap, reboot, the clock, keyrings, BPF, perf, namespaces of its own
 * (a new user namespace would hand the step CAP_SYS_ADMIN inside it) —
 * which fail with EPERM, as under docker's default profile. docker's profile
 * is an allow list of ~350 calls; a deny list of the dangerous ones keeps
 * every call a build tool makes working (new calls included) while closing
 * the same doors, since the capabilities a step lacks close the rest.
 */

/** Syscalls a RUN step may not make (EPERM). Names unknown to an architecture are skipped by the runtime. */
export const DENIED_SYSCALLS: readonly string[] = [
  // filesystems: a step gets its mounts from strata, never makes its own
  'mount', 'umount', 'umount2', 'mount_setattr', 'move_mount', 'open_tree', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'pivot_root',
  // kernel modules and kexec
  'init_module', 'finit_module', 'delete_module', 'create_module', 'query_module', 'get_kernel_syms', 'kexec_load', 'kexec_file_load',
  // the machine: swap, reboot, clocks, accounting, quotas, the kernel log
  'swapon', 'swapoff', 'reboot', 'settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'clock_adjtime', 'clock_adjtime64', 'adjtimex',
  'acct', 'quotactl', 'quotactl_fd', 'syslog', 'nfsservctl', 'lookup_dcookie', 'uselib', 'ustat', 'sysfs', '_sysctl',
  // I/O ports and legacy modes
  'ioperm', 'iopl', 'vm86', 'vm86old',
  // kernel keyrings, BPF, perf, handles that bypass path checks
  'add_key', 'request_key', 'keyctl', 'bpf', 'perf_event_open', 'open_by_handle_at', 'name_to_handle_at', 'userfaultfd',
  // namespaces of its own
  'unshare', 'setns',
];

/** clone(2)'s flag for a new user namespace: refused (the other namespace flags need CAP_SYS_ADMIN, which a step lacks). */
const CLONE_NEWUSER = 0x10000000;
const EPERM = 1;
/** clone3 takes its flags in memory a filter cannot read: ENOSYS makes libc fall back to clone(2), which is filtered. */
const ENOSYS = 38;

/** seccomp architecture names of a host (Node's `process.arch`): its own and the 32-bit ones it can run. */
export function seccompArchitectures(arch: string = process.arch): string[] {
  switch (arch) {
    case 'x64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    case 'arm':
      return ['SCMP_ARCH_ARM'];
    default:
      return [];
  }
}

/** The runtime-spec `linux.seccomp` object for a host architecture. */
export function defaultSeccompProfile(arch: string = process.arch): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: seccompArchitectures(arch),
    syscalls: [
      { names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      {
        names: ['clone'],
        action: 'SCMP_ACT_ERRNO',
        errnoRet: EPERM,
        args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'SCMP_CMP_MASKED_EQ' }],
      },
    ],
  };
}
