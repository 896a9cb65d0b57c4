// Shared by the log-correlation tests (integrations/pino, winston, bunyan): where the loggers are
// installed (test/compat/loggers, its own lock file, or SPANFORGE_LOGGERS_DIR) and the ids a record
// written inside a scenario must carry. A test helper (`_` file), not part of the package.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { getAgent } from '../runtime/agent.js';
import { root, type Ev } from './_harness.js';

export const loggersDir = process.env.SPANFORGE_LOGGERS_DIR ?? join(root, 'test', 'compat', 'loggers', 'node_modules');

/** Fails with the command to run when the loggers' install is missing. */
export function assertLoggersInstalled(): void {
  assert.ok(existsSync(join(loggersDir, '@elastic', 'ecs-winston-format')), `the loggers are not installed: npm ci --prefix test/compat/loggers (scripts/run-tests.mjs does it)`);
}

/** Runs fn with a fresh span of the current transaction as the current context, then ends the span. */
export function inSpan<R>(name: string, fn: () => R): R {
  const agent = getAgent();
  const span = agent.startSpan(name, 'app');
  try {
    return agent.withSpan(span, fn);
  } finally {
    span.end();
  }
}

/** The ECS correlation fields of a transaction (and a span of it) as the intake received them, in JSON. */
export function ids(tx: Ev, span?: Ev): string {
  const s = `"trace.id":"${tx.trace_id}","transaction.id":"${tx.id}"`;
  return span ? `${s},"span.id":"${span.id}"` : s;
}
