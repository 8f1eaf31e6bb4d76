import { ExitCode } from './exit-codes.js';

/**
 * SIGINT/SIGTERM stop a command's work: the first one aborts `signal` (the
 * running step's container is killed, mounts and temp folders removed); a
 * second takes the default action (the next start cleans up after it).
 * `dispose()` when the work is over.
 */
export class Interrupt {
  readonly #controller = new AbortController();
  #received: NodeJS.Signals | undefined;
  readonly #onSignal = (signal: NodeJS.Signals): void => {
    this.#received ??= signal;
    this.#controller.abort();
  };

  constructor() {
    process.once('SIGINT', this.#onSignal);
    process.once('SIGTERM', this.#onSignal);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The signal that stopped the work, if one did. */
  get received(): NodeJS.Signals | undefined {
    return this.#received;
  }

  /** 130 after SIGINT, 143 after SIGTERM. */
  get exitCode(): number {
    return this.#received === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated;
  }

  dispose(): void {
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
  }
}
