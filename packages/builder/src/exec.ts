import { spawn } from 'node:child_process';

/** How a helper program (mount, umount, unshare, …) ended. */
export interface ToolResult {
  /** Its exit code; -1 when it could not start or a signal ended it. */
  readonly code: number;
  /** Its standard error (the spawn error's message when it could not start). */
  readonly stderr: string;
  /** Set when it could not start (ENOENT: not installed). */
  readonly error?: NodeJS.ErrnoException;
}

/** Runs a short helper program to its end, standard output ignored, standard error kept. */
export function runTool(cmd: string, args: readonly string[], cwd?: string): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr += c));
    child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: -1, stderr: error.message, error }));
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}
