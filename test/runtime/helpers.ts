// Test helpers for the runtime: a capturing transport, a fresh global agent, and the intake-v2 schema validators.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { getAgent, resetAgentForTests, type Agent } from '../../runtime/agent.js';
import type { AgentOptions } from '../../runtime/config.js';
import type { IntakeEvent, Transport, TransportStats } from '../../runtime/types.js';
import { INTAKE_SCHEMAS } from '../_shared.js';

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
  /**
   * Invariants every recording must satisfy (magic-string-style integrity check): ids unique, each
   * span's transaction and parent were sent, parent and span share the trace, a span lies within
   * the same trace as its transaction, durations are non-negative.
   */
  assertInvariants(): void {
    const txs = this.of('transaction');
    const spans = this.of('span');
    const ids = new Map<string, Record<string, any>>();
    for (const e of [...txs, ...spans]) {
      if (ids.has(e.id)) throw new Error(`id ${e.id} sent twice (an event ended twice?)`);
      ids.set(e.id, e);
      if (!(e.duration >= 0)) throw new Error(`negative duration on ${e.name}`);
    }
    for (const s of spans) {
      const tx = ids.get(s.transaction_id);
      const parent = ids.get(s.parent_id);
      if (!tx || !('span_count' in tx)) throw new Error(`span ${s.name}: transaction ${s.transaction_id} not sent`);
      if (!parent) throw new Error(`span ${s.name}: parent ${s.parent_id} not sent`);
      if (parent.trace_id !== s.trace_id || tx.trace_id !== s.trace_id) throw new Error(`span ${s.name}: trace id differs from its parent's`);
    }
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

const schemaDir = INTAKE_SCHEMAS;
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

// ---------------------------------------------------------------------------------------------
// A tiny intake-v2 receiver on an ephemeral port: decodes gzip/deflate NDJSON, keeps requests in order.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync, inflateSync } from 'node:zlib';

export interface IntakeRequest {
  headers: IncomingMessage['headers'];
  lines: Record<string, any>[];
}

export interface Intake {
  url: string;
  requests: IntakeRequest[];
  /** All event lines (without metadata) across requests. */
  events(): Record<string, any>[];
  of(kind: string): Record<string, any>[];
  waitFor(pred: (i: Intake) => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startIntake(): Promise<Intake> {
  const requests: IntakeRequest[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ version: '8.15.0', build_date: '2024-01-01T00:00:00Z', build_sha: 'x' }));
      return;
    }
    // The agent polls central configuration (on by default, as Elastic's): nothing configured, not recorded.
    if (req.url?.startsWith('/config/v1/agents')) {
      res.writeHead(200, { 'content-type': 'application/json', etag: '"-"', 'cache-control': 'max-age=300, must-revalidate' });
      res.end('{}');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const enc = req.headers['content-encoding'];
      if (enc === 'gzip') body = gunzipSync(body);
      else if (enc === 'deflate') body = inflateSync(body);
      const lines = body.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
      requests.push({ headers: req.headers, lines });
      res.statusCode = 202;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const intake: Intake = {
    url: `http://127.0.0.1:${port}`,
    requests,
    events: () => requests.flatMap((r) => r.lines.filter((l) => !('metadata' in l))),
    of: (kind) => intake.events().filter((e) => kind in e).map((e) => e[kind]),
    async waitFor(pred, ms = 5000) {
      const end = Date.now() + ms;
      while (!pred(intake)) {
        if (Date.now() > end) throw new Error(`timed out waiting; received ${JSON.stringify(requests.map((r) => r.lines)).slice(0, 2000)}`);
        await sleep(10);
      }
    },
    close: () => new Promise<void>((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
  return intake;
}
