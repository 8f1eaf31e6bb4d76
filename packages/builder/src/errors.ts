import { redact } from './redact.js';
/**
 * The catalog of builder errors. Codes are stable (BUILD_*); callers branch on
 * `code`. Messages say what happened, hints say what to do.
 */
export interface BuildErrorRule<A extends unknown[]> {
  readonly code: string;
  readonly message: (...args: A) => string;
  readonly hint?: string;
}

function rule<A extends unknown[]>(code: string, message: (...args: A) => string, hint?: string): BuildErrorRule<A> {
  return hint === undefined ? { code, message } : { code, message, hint };
}

export const BuildErrors = {
  runtimeMissing: rule(
    'BUILD_RUNTIME_MISSING',
    (runtime: string) => `the OCI runtime '${runtime}' was not found on PATH`,
    'Install it (scripts/bootstrap does: apt-get install runc crun), or choose another with --runtime.',
  ),
  runtimeFailed: rule(
    'BUILD_RUNTIME_FAILED',
    (runtime: string, detail: string) => `${runtime} could not start the container: ${detail}`,
    'Run the build as root on Linux; set STRATA_DEBUG=1 for the runtime spec and its full output.',
  ),
  networkMissing: rule(
    'BUILD_NETWORK_MISSING',
    (program: string) => `'${program}' was not found on PATH: a RUN step's own network (--network default) needs it`,
    "Install Debian's passt package (scripts/bootstrap does: apt-get install passt), or run with --network none (no network) or --network host (the build machine's network).",
  ),
  networkFailed: rule(
    'BUILD_NETWORK_FAILED',
    (program: string, detail: string) => `could not set up the step's network with ${program}: ${detail}`,
    'RUN networks need network namespaces and pasta (scripts/bootstrap installs passt; rootless, also a usable /dev/net/tun); set STRATA_DEBUG=1 for details, or use --network none or --network host.',
  ),
  networkNotAllowed: rule(
    'BUILD_NETWORK_NOT_ALLOWED',
    () => "RUN --network=host gives the step the build machine's network, and this build did not allow it",
    'Allow it for this build with --allow network.host (the library: allow: [\'network.host\']), or --network host for every RUN.',
  ),
  userUnknown: rule(
    'BUILD_USER_UNKNOWN',
    (kind: 'user' | 'group', name: string) => `unable to find ${kind} ${name}: no matching entries in the image's /etc/${kind === 'user' ? 'passwd' : 'group'}`,
    'Create the user in an earlier RUN step (useradd/adduser), or use a numeric uid[:gid].',
  ),
  mountFailed: rule(
    'BUILD_MOUNT_FAILED',
    (what: string, detail: string) => `cannot mount ${what}: ${detail}`,
    'strata needs root and a kernel with overlayfs; on a nested container, give it CAP_SYS_ADMIN.',
  ),
  contextPath: rule(
    'BUILD_CONTEXT_PATH',
    (path: string, problem: string) => `COPY/ADD source ${path} ${problem}`,
    'Sources are paths inside the build context folder (the last argument of strata build); check the path and .dockerignore.',
  ),
  noStages: rule('BUILD_NO_STAGES', () => 'the Dockerfile has no FROM instruction', 'A Dockerfile starts with FROM <image> (or FROM scratch).'),
  targetUnknown: rule(
    'BUILD_TARGET_UNKNOWN',
    (target: string, names: readonly string[]) =>
      `target stage '${target}' could not be found${names.length > 0 ? ` (stages: ${names.join(', ')})` : ' (no stage has a name)'}`,
    'Name a stage with FROM <image> AS <name> and pass that name to --target.',
  ),
  stageCycle: rule('BUILD_STAGE_CYCLE', (stage: string) => `stage ${stage} depends on itself`),
  imageNotFound: rule(
    'BUILD_IMAGE_NOT_FOUND',
    (ref: string, detail: string) => `base image ${ref} ${detail}`,
    'Pull it first (strata pull), load it (strata load -i FILE), or check the name and tag.',
  ),
  platformMismatch: rule(
    'BUILD_PLATFORM_MISMATCH',
    (ref: string, want: string, have: string) => `base image ${ref} is for ${have}, not ${want}`,
    'Pass --platform to match the image, or use an image (or index) that has the platform.',
  ),
  stepFailed: rule(
    'BUILD_STEP_FAILED',
    (instruction: string, exitCode: number) => `process "${instruction}" did not complete successfully: exit code: ${exitCode}`,
  ),
  unsupported: rule(
    'BUILD_UNSUPPORTED',
    (what: string) => `${what} is not supported yet`,
    'Do it another way: fetch other URLs in a RUN step (wget, curl) or into the build context and COPY them. ' +
      'If you need the feature itself, report it as an issue in the strata project, with the Dockerfile line.',
  ),
  invalidInstruction: rule('BUILD_INVALID_INSTRUCTION', (what: string) => what),
  outputInvalid: rule(
    'BUILD_OUTPUT_INVALID',
    (output: string, problem: string) => `output ${output}: ${problem}`,
    'Outputs are type=oci,dest=FILE[,compression=gzip|zstd], type=docker,dest=FILE, or type=registry (--push, which needs -t REGISTRY/NAME:TAG).',
  ),
  emulationMissing: rule(
    'BUILD_EMULATION_MISSING',
    (arch: string, detail: string) => `cannot run ${arch} programs on this machine: ${detail}`,
    'Register qemu-user-static with the F flag: apt-get install qemu-user-static binfmt-support && update-binfmts --enable (scripts/bootstrap does this); or build on a machine of that architecture.',
  ),
  notDirectory: rule(
    'BUILD_NOT_DIRECTORY',
    (path: string) => `cannot copy to non-directory: ${path} (the image has a file or symbolic link there)`,
    'Copy into the folder the symbolic link points to (merged /usr images: /usr/bin, /usr/lib), or use COPY --link to replace it.',
  ),
  archiveUnsafe: rule(
    'BUILD_ARCHIVE_UNSAFE',
    (source: string, detail: string) => `ADD ${source}: the archive would write outside its destination: ${detail}`,
    'Archive entries must be relative paths without .. that do not write through symbolic links; rebuild the archive, or COPY it and unpack it in a RUN step.',
  ),
  archiveInvalid: rule(
    'BUILD_ARCHIVE_INVALID',
    (source: string, detail: string) => `ADD ${source}: cannot extract the archive: ${detail}`,
    'Check the archive (tar -tvf FILE); to add it without extracting, use COPY or ADD --unpack=false.',
  ),
  downloadFailed: rule(
    'BUILD_DOWNLOAD_FAILED',
    (url: string, detail: string) => `ADD ${redact(url)}: download failed: ${detail}`,
    'Check the URL and that this machine reaches it: ADD downloads from the build host itself, whatever --network says.',
  ),
  checksumMismatch: rule(
    'BUILD_CHECKSUM_MISMATCH',
    (url: string, expected: string, actual: string) => `ADD ${redact(url)}: checksum mismatch: expected ${expected}, got ${actual}`,
    'The file at the URL is not the one --checksum names: fix the URL or the checksum (sha256sum FILE prints it).',
  ),
  gitFailed: rule(
    'BUILD_GIT_FAILED',
    (remote: string, detail: string) => `ADD ${remote}: ${detail}`,
    'Check the URL and the ref, and that this machine reaches the repository: ADD runs git on the build host, whatever --network says. ' +
      'A private repository needs --ssh default (ssh URLs) or --secret id=GIT_AUTH_TOKEN,src=FILE (https).',
  ),
  gitChecksumMismatch: rule(
    'BUILD_CHECKSUM_MISMATCH',
    (remote: string, expected: string, actual: string) => `ADD ${remote}: checksum mismatch: expected commit ${expected}, got ${actual}`,
    'The ref does not point at the commit --checksum names: fix the ref or the checksum (git ls-remote URL REF prints the commit).',
  ),
  sshInvalid: rule(
    'BUILD_SSH_INVALID',
    (spec: string, problem: string) => `--ssh ${spec}: ${problem}`,
    "Write --ssh default (this shell's SSH_AUTH_SOCK), --ssh ID=$SSH_AUTH_SOCK, or --ssh ID=FILE[,FILE...] naming private key files without a passphrase.",
  ),
  sshMissing: rule(
    'BUILD_SSH_MISSING',
    (what: string, id: string) => `${what} needs the SSH agent '${id}', and the build was given none by that id`,
    'Pass --ssh default (your SSH_AUTH_SOCK) or --ssh ID=PATH to strata build (the library: ssh: [{ id, paths }]); ' +
      'RUN --mount=type=ssh without required=true skips the mount instead.',
  ),
  sshAgentFailed: rule(
    'BUILD_SSH_AGENT',
    (id: string, detail: string) => `cannot serve the SSH keys of --ssh ${id}: ${detail}`,
    "Key files are served through Debian's ssh-agent (apt-get install openssh-client; scripts/bootstrap does). " +
      'A key with a passphrase cannot be: add it to your agent (ssh-add FILE) and pass --ssh ID=$SSH_AUTH_SOCK.',
  ),
  onbuildTrigger: rule(
    'BUILD_ONBUILD_TRIGGER',
    (base: string, trigger: string, problem: string) => `the ONBUILD trigger "${trigger}" of base ${base} is invalid: ${problem}`,
    'A trigger is one instruction other than ONBUILD, FROM or MAINTAINER; rebuild the base image with a valid ONBUILD line, or start from another image.',
  ),
  mountSource: rule(
    'BUILD_MOUNT_SOURCE',
    (mount: string, problem: string) => `RUN --mount=${mount}: ${problem}`,
    'The source= path is looked up in the from= stage or image (or the build context without from=); check that it exists there.',
  ),
  invalidCacheSpec: rule(
    'BUILD_CACHE_SPEC',
    (flag: string, text: string, problem: string) => `${flag} ${text}: ${problem}`,
    'Write type=registry,ref=REGISTRY/REPO:TAG[,mode=min|max][,mounts=true] or type=local,dest=DIR (--cache-to) / type=local,src=DIR (--cache-from).',
  ),
  cacheArtifact: rule(
    'BUILD_CACHE_ARTIFACT',
    (source: string, problem: string) => `the build cache at ${source} cannot be used: ${problem}`,
    'Export it again with strata build --cache-to; only strata cache artifacts (strata.cache.v1) are read.',
  ),
  aborted: rule('BUILD_ABORTED', (what: string) => `${what} was interrupted`),
  containerRunning: rule(
    'BUILD_CONTAINER_RUNNING',
    (name: string, action: string) => `container ${name} is running: cannot ${action} it`,
    'Wait for its process to exit (or stop it from inside), or remove it with strata rm --force.',
  ),
  noCommand: rule(
    'BUILD_NO_COMMAND',
    (image: string) => `no command specified: image ${image} has neither ENTRYPOINT nor CMD`,
    'Give the command after the image: strata run IMAGE COMMAND [ARG...].',
  ),
  namedContextInvalid: rule(
    'BUILD_NAMED_CONTEXT_INVALID',
    (text: string, problem: string) => `build context ${text}: ${problem}`,
    'Write --build-context NAME=VALUE with VALUE a folder, docker-image://REF[@DIGEST], oci-layout://PATH[:TAG][@DIGEST] or an https:// URL of a tarball.',
  ),
  namedContextFailed: rule(
    'BUILD_NAMED_CONTEXT_FAILED',
    (name: string, problem: string) => `build context ${name}: ${problem}`,
    'Check the folder, image, layout or URL the named context gives (--build-context NAME=VALUE).',
  ),
} as const;

export interface BuildErrorOptions {
  readonly cause?: unknown;
  readonly details?: Record<string, unknown>;
}

/** Every builder failure a user can meet. */
export class BuildError extends Error {
  override readonly name = 'BuildError';
  readonly code: string;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, hint?: string, options: BuildErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = hint;
    this.details = options.details;
  }
}

export function buildError<A extends unknown[]>(
  entry: BuildErrorRule<A>,
  args: A,
  options: BuildErrorOptions = {},
): BuildError {
  return new BuildError(entry.code, entry.message(...args), entry.hint, options);
}
