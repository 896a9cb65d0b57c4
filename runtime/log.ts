// The agent's own logger: writes "spanforge <level>: message" lines to stderr at or above log_level; never throws.
import { format } from 'node:util';
import type { Logger } from './types.js';
import type { LogLevel } from './config.js';

const RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warning: 3, error: 4, critical: 5, off: 6 };
const noop = (): void => {};
const OWN_PREFIX = 'spanforge: ';

/** Creates a logger; disabled levels are bound to a no-op once (no per-call level check). */
export function createLogger(level: LogLevel, write: (line: string) => void = defaultWrite): Logger {
  const min = RANK[level] ?? RANK.info;
  const make = (name: string, rank: number) =>
    rank < min
      ? noop
      : (msg: string, ...args: unknown[]): void => {
          try {
            const text = args.length ? format(msg, ...args) : String(msg);
            // One prefix: a message that brings its own "spanforge: " does not get a second one.
            write(`spanforge ${name}: ${text.startsWith(OWN_PREFIX) ? text.slice(OWN_PREFIX.length) : text}\n`);
          } catch {
            // A closed stderr must not take the app down.
          }
        };
  return {
    trace: make('trace', RANK.trace),
    debug: make('debug', RANK.debug),
    info: make('info', RANK.info),
    warn: make('warning', RANK.warning),
    error: make('error', RANK.error),
  };
}

function defaultWrite(line: string): void {
  process.stderr.write(line);
}

/** Used before start(): warnings and errors only. */
export const bootLogger: Logger = createLogger('warning');
