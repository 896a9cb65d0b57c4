// Test helpers for the runtime: a capturing transport, a fresh global agent, and the intake-v2 schema validators.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { getAgent, resetAgentForTests, type Agent } from '../../runtime/agent.js';
import type { AgentOptions } from '../../runtime/config.js';
import type { IntakeEvent, Transport, TransportStats } from '../../runtime/types.js';

export class CapturingTransport implements Transport {
  events: IntakeEvent[] = [];
  send(event: IntakeEvent): void {
    // Round-trip through JSON as the wire would.
    this.events.push(JSON.parse(JSON.stringify(event)));
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  stats(): TransportStats {
    return { queued: 0, sent: this.events.length, dropped: 0, droppedByReason: {}, requests: 0, failedRequests: 0 };
  }
  serverVersion(): string | undefined {
    return undefined;
  }
  of(kind: 'transaction' | 'span' | 'error' | 'metricset'): Record<string, any>[] {
    return this.events.filter((e) => kind in e).map((e) => (e as Record<string, any>)[kind]);
  }
}

/** Replaces the global agent with a fresh, started one that records into a CapturingTransport. */
export async function freshAgent(opts: AgentOptions = {}, env: NodeJS.ProcessEnv = {}): Promise<{ agent: Agent; transport: CapturingTransport }> {
  await resetAgentForTests();
  const transport = new CapturingTransport();
  const agent = getAgent().start({ serviceName: 'test-svc', metricsInterval: 0, ...opts }, { transport, noProcessHandlers: true, env });
  return { agent, transport };
}

const schemaDir = '/work/shared/reference/apm-intake-v2/schemas';
const ajv = new Ajv({ allowUnionTypes: true, allErrors: true });
const validators = Object.fromEntries(
  ['metadata', 'transaction', 'span', 'error', 'metricset'].map((k) => [k, ajv.compile(JSON.parse(readFileSync(join(schemaDir, `${k}.json`), 'utf8')))]),
);

/** Throws with ajv's messages when an event's inner object does not validate against its official schema. */
export function assertValid(event: Record<string, unknown>): void {
  const kind = Object.keys(event)[0]!;
  const v = validators[kind];
  if (!v) throw new Error(`no schema for ${kind}`);
  if (!v(event[kind])) throw new Error(`${kind} does not validate: ${ajv.errorsText(v.errors)}\n${JSON.stringify(event[kind])}`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
