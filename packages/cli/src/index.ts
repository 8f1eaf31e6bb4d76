export { main, runProcess } from './main.js';
export { VERSION } from './version.js';
export { ExitCode } from './exit-codes.js';
export type { CliIo, CommandRun, CommandSpec } from './io.js';
