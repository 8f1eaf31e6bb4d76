/** Where a command reads and writes. `main` gets the process's; tests pass buffers. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Whether stdout is a terminal (decides colours and live progress). */
  readonly isTty: boolean;
}

/** A command's entry: argv after the command name, returns the exit code. */
export type CommandRun = (args: string[], io: CliIo) => Promise<number>;

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  /** Loaded on first use so that start-up loads only the command that runs. */
  readonly load: () => Promise<CommandRun>;
}
