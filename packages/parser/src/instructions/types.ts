import type { RawInstruction } from '../ast.js';
import type { SourceLocation } from '../location.js';

/**
 * The typed instruction layer. Values stay as written where BuildKit expands
 * them later with the ARG/ENV in scope (paths, ENV/LABEL values with their
 * quotes, --chown, --chmod, mount options with `$`): the builder expands them.
 */
interface InstructionBase {
  /** The keyword as written, casing kept (`RUN`, `run`, `Run`). */
  readonly keyword: string;
  /** Names of the flags given (`mount`, `from`), first-seen order. */
  readonly flagsUsed: readonly string[];
  /** The instruction's source text (continuation lines included, heredoc bodies excluded). */
  readonly original: string;
  readonly location: SourceLocation;
  /** Comment lines right above the instruction, `#` and surrounding space removed. */
  readonly comments: readonly string[];
}

export interface FromInstruction extends InstructionBase {
  readonly kind: 'from';
  /** The image reference or stage name, as written (may hold `$ARG`s). */
  readonly image: string;
  /** The stage name after `AS`, lower-cased as BuildKit does; undefined without `AS`. */
  readonly stageName?: string;
  /** The stage name as written (for StageNameCasing). */
  readonly stageNameAsWritten?: string;
  /** The `AS` keyword as written (for FromAsCasing). */
  readonly asKeyword?: string;
  /** `--platform` as written (may hold `$ARG`s). */
  readonly platform?: string;
}

/** A heredoc body written to a file for RUN (`RUN <<EOF`). */
export interface InlineFile {
  readonly name: string;
  readonly data: string;
  /** `<<-`: leading tabs are stripped when the file is written. */
  readonly chomp: boolean;
}

/** A command line of RUN / CMD / ENTRYPOINT. */
export interface CommandLine {
  /** Exec form: the JSON elements. Shell form: one element, the text as written. */
  readonly cmdLine: readonly string[];
  /** True for shell form: the image's shell is put in front. */
  readonly prependShell: boolean;
  readonly files: readonly InlineFile[];
}

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type MountSharing = 'shared' | 'private' | 'locked';

/** One `RUN --mount`. Values holding `$` stay unexpanded (see `parseMount`). */
export interface Mount {
  readonly type: MountType;
  readonly from?: string;
  readonly source?: string;
  readonly target?: string;
  readonly readOnly: boolean;
  /** tmpfs size in bytes. */
  readonly sizeLimit?: number;
  readonly id?: string;
  readonly sharing?: MountSharing;
  readonly required: boolean;
  /** Secret exposed as this environment variable. */
  readonly env?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** The flag value as written, for re-parsing after expansion. */
  readonly raw: string;
  /** True when some value held a variable and was left unexpanded and unchecked. */
  readonly deferred: boolean;
}

export interface Device {
  readonly name: string;
  readonly required: boolean;
}

export type NetworkMode = 'default' | 'none' | 'host';
export type SecurityMode = 'sandbox' | 'insecure';

export interface RunInstruction extends InstructionBase, CommandLine {
  readonly kind: 'run';
  readonly mounts: readonly Mount[];
  readonly network: NetworkMode;
  readonly security: SecurityMode;
  readonly devices: readonly Device[];
}

/** A heredoc used as a COPY/ADD source (`COPY <<EOF /dst`). */
export interface InlineSource {
  /** The heredoc name; it becomes the file name. */
  readonly path: string;
  /** The body, `<<-` tabs already stripped. */
  readonly data: string;
  /** False when the delimiter was quoted: no variable expansion of `data`. */
  readonly expand: boolean;
}

interface CopyLike extends InstructionBase {
  /** Source paths as written. */
  readonly sources: readonly string[];
  readonly inlineSources: readonly InlineSource[];
  readonly destination: string;
  readonly chown?: string;
  /** As written; `parseChmod` gives its meaning once expanded. */
  readonly chmod?: string;
  readonly link: boolean;
  readonly excludes: readonly string[];
}

export interface CopyInstruction extends CopyLike {
  readonly kind: 'copy';
  readonly from?: string;
  readonly parents: boolean;
}

export interface AddInstruction extends CopyLike {
  readonly kind: 'add';
  readonly checksum?: string;
  /** undefined when not given (git sources then drop .git). */
  readonly keepGitDir?: boolean;
  /** undefined when not given (local archives are unpacked, remote ones not). */
  readonly unpack?: boolean;
}

export interface KeyValue {
  readonly key: string;
  /** As written, quotes and escapes kept; the builder expands it. */
  readonly value: string;
  /** Written in the legacy `ENV key value` form. */
  readonly legacy: boolean;
}

export interface EnvInstruction extends InstructionBase {
  readonly kind: 'env';
  readonly pairs: readonly KeyValue[];
}

export interface LabelInstruction extends InstructionBase {
  readonly kind: 'label';
  readonly pairs: readonly KeyValue[];
}

export interface ArgDefinition {
  readonly key: string;
  /** The default as written (quotes kept), undefined when none was given. */
  readonly defaultValue?: string;
  /** The rest of a preceding comment line starting with the key (`# KEY does x`). */
  readonly docComment: string;
}

export interface ArgInstruction extends InstructionBase {
  readonly kind: 'arg';
  readonly args: readonly ArgDefinition[];
}

export interface ExposeInstruction extends InstructionBase {
  readonly kind: 'expose';
  /** Port specs as written (`80/tcp`, `8000-8010`, `$PORT`). */
  readonly ports: readonly string[];
}

export interface VolumeInstruction extends InstructionBase {
  readonly kind: 'volume';
  readonly volumes: readonly string[];
}

export interface UserInstruction extends InstructionBase {
  readonly kind: 'user';
  readonly user: string;
}

export interface WorkdirInstruction extends InstructionBase {
  readonly kind: 'workdir';
  readonly path: string;
}

export interface CmdInstruction extends InstructionBase, CommandLine {
  readonly kind: 'cmd';
}

export interface EntrypointInstruction extends InstructionBase, CommandLine {
  readonly kind: 'entrypoint';
}

export interface ShellInstruction extends InstructionBase {
  readonly kind: 'shell';
  readonly shell: readonly string[];
}

export interface StopSignalInstruction extends InstructionBase {
  readonly kind: 'stopsignal';
  readonly signal: string;
}

/** The image config's healthcheck; durations in nanoseconds (0 = the runtime's default). */
export interface HealthConfig {
  /** `["NONE"]`, `["CMD", ...exec]` or `["CMD-SHELL", text]`. */
  readonly test: readonly string[];
  readonly interval: number;
  readonly timeout: number;
  readonly startPeriod: number;
  readonly startInterval: number;
  readonly retries: number;
}

export interface HealthcheckInstruction extends InstructionBase {
  readonly kind: 'healthcheck';
  readonly health: HealthConfig;
}

export interface OnbuildInstruction extends InstructionBase {
  readonly kind: 'onbuild';
  /** The trigger's text as stored in the image config (heredocs appended). */
  readonly expression: string;
  /** The trigger as the raw layer read it; it is checked when a child image builds. */
  readonly trigger: RawInstruction;
}

export interface MaintainerInstruction extends InstructionBase {
  readonly kind: 'maintainer';
  readonly maintainer: string;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CopyInstruction
  | AddInstruction
  | EnvInstruction
  | LabelInstruction
  | ArgInstruction
  | ExposeInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | StopSignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

export type InstructionKind = Instruction['kind'];

/** A build stage: its FROM and the instructions up to the next FROM. */
export interface Stage {
  readonly from: FromInstruction;
  /** Lower-cased name after AS, undefined for unnamed stages. */
  readonly name?: string;
  readonly index: number;
  readonly instructions: readonly Exclude<Instruction, FromInstruction>[];
  /** The rest of a comment line above FROM that starts with the stage name. */
  readonly docComment: string;
}

export interface Stages {
  /** ARG instructions before the first FROM (global scope, usable in FROM). */
  readonly metaArgs: readonly ArgInstruction[];
  readonly stages: readonly Stage[];
}
