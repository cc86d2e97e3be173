// What the `studio` process's exit status means (scripts branch on these):
//   0    success
//   1    runtime failure (model failed to load, out of memory, disk full, engine error, …)
//   2    bad usage: unknown option, invalid value (size not a multiple of 8, unknown sampler,
//        bad seed, …), an output file that already exists, or a request the engine refused
//        (a LoRA given as --model, …)
//   130  cancelled by Ctrl-C (SIGINT) or SIGTERM; no partial file is left behind
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_CANCELLED = 130;

/** A mistake in how the command was called; printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The user cancelled (Ctrl-C); exit code 130. */
export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}
