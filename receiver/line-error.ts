// The per-line intake error (receiver/validate.ts, receiver/logs.ts): reported as {message, document} in the 400 body.

/** A per-line problem, reported as {message, document} in the 400 body. */
export class LineError extends Error {
  constructor(message: string, readonly document: string) {
    super(message);
  }
}
