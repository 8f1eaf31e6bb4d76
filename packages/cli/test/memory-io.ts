import { PassThrough } from 'node:stream';
import type { CliIo } from '../src/index.js';

export interface MemoryIo extends CliIo {
  out(): string;
  err(): string;
}

/** A CliIo whose streams are buffers, for running commands in-process. */
export function memoryIo(options: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string } = {}): MemoryIo {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  stdin.end(options.stdin ?? '');
  return {
    stdout,
    stderr,
    stdin,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    isTty: false,
    out: () => out,
    err: () => err,
  };
}
