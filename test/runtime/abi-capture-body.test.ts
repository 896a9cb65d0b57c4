// capture_body on instrumented routes: the ABI's route wrapper hands the parsed body (Express
// `req.body` from express.json(), Fastify `request.body`) to the transaction, and capture_body /
// sanitize_field_names decide what is sent — as elastic-apm-node does for the same frameworks.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import * as abi from '../../runtime/abi.js';
import { assertValid, freshAgent } from './helpers.js';

const [EXPRESS_SITE, FASTIFY_SITE] = abi.sites(abi.ABI_VERSION, 'src/app.ts', [
  { rule: 'express.route', handler: 'express', name: '/login', type: 'request', method: 'POST', line: 3, column: 5, function: '<module>' },
  { rule: 'fastify.route', handler: 'fastify', name: '/login', type: 'request', method: 'POST', line: 9, column: 5, function: '<module>' },
]);
const BODY = { user: 'ann', password: 'hunter2', card: '4111' };

async function viaExpress(): Promise<void> {
  const app = express();
  app.use(express.json());
  app.post('/login', abi.route(EXPRESS_SITE!, (req: express.Request, res: express.Response) => void res.json({ ok: req.body.user })));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
    assert.deepEqual(await r.json(), { ok: 'ann' });
  } finally {
    await new Promise((r) => server.close(r));
  }
}

async function viaFastify(): Promise<void> {
  const app = Fastify();
  app.post('/login', abi.route(FASTIFY_SITE!, async (request: { body: typeof BODY }) => ({ ok: request.body.user })));
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const r = await fetch(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
    assert.deepEqual(await r.json(), { ok: 'ann' });
  } finally {
    await app.close();
  }
}

for (const [framework, run] of [['Express', viaExpress], ['Fastify', viaFastify]] as const) {
  test(`${framework}: captureBody "all" sends the parsed body with sanitized fields`, async () => {
    const { agent, transport } = await freshAgent({ captureBody: 'all' });
    await run();
    await agent.flush();
    const [tx] = transport.of('transaction');
    assert.equal(tx!.name, 'POST /login');
    assert.deepEqual(tx!.context.request.body, { user: 'ann', password: '[REDACTED]', card: '[REDACTED]' });
    for (const e of transport.events) assertValid(e as Record<string, unknown>);
  });

  test(`${framework}: captureBody "off" (the default) says a body existed without sending it`, async () => {
    const { agent, transport } = await freshAgent({});
    await run();
    await agent.flush();
    assert.equal(transport.of('transaction')[0]!.context.request.body, '[REDACTED]');
  });
}
