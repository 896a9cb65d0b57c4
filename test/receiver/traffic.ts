// Realistic intake-v2 traffic for the receiver's UI and restart tests: two services with a
// cross-service trace, db/http spans with code locations, grouped errors with source context,
// runtime metricsets, a transaction named like markup, and the real Node agent capture re-timed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TESTDATA } from './helpers.js';

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');
export const TRACE_ID = hex(0xabc123, 32);
export const CHECKOUT_TX = hex(0x1001, 16);
export const DB_SPAN = hex(0x2001, 16);
export const HTTP_SPAN = hex(0x2002, 16);
export const INVENTORY_TX = hex(0x3001, 16);
export const XSS_NAME = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';
export const XSS_TRACE = (0x600001).toString(16).padStart(32, '0');

const meta = (name: string) =>
  JSON.stringify({
    metadata: {
      service: { name, environment: 'test', version: '1.0.0', agent: { name: 'nodejs', version: 'spanforge-0.1.0' }, language: { name: 'javascript' }, runtime: { name: 'node', version: '20.20.2' } },
      process: { pid: 4242, title: 'node' },
      system: { hostname: 'laptop', architecture: 'x64', platform: 'linux' },
    },
  });

/** NDJSON bodies, one per service/agent request, with timestamps relative to `nowMs`. */
export function buildTraffic(nowMs = Date.now()): { checkout: string; inventory: string } {
  const t0 = (nowMs - 120_000) * 1000; // µs, two minutes ago
  const checkout: string[] = [meta('checkout')];
  const inventory: string[] = [meta('inventory')];
  checkout.push(
    JSON.stringify({
      transaction: {
        id: CHECKOUT_TX, trace_id: TRACE_ID, name: 'GET /api/orders/:id', type: 'request', result: 'HTTP 2xx', outcome: 'success',
        timestamp: t0, duration: 120.5, span_count: { started: 2 }, sampled: true,
        context: { request: { method: 'GET', url: { full: 'http://localhost:3000/api/orders/7', pathname: '/api/orders/7' } }, response: { status_code: 200 } },
      },
    }),
    JSON.stringify({
      span: {
        id: DB_SPAN, trace_id: TRACE_ID, parent_id: CHECKOUT_TX, transaction_id: CHECKOUT_TX, name: 'SELECT FROM orders', type: 'db', subtype: 'postgresql', action: 'query',
        timestamp: t0 + 5_000, duration: 30.25, outcome: 'success',
        context: { db: { type: 'sql', instance: 'test', statement: 'SELECT * FROM orders WHERE id = $1' }, destination: { address: '127.0.0.1', port: 5432, service: { resource: 'postgresql', type: '', name: '' } } },
        stacktrace: [{ filename: 'src/orders.ts', lineno: 42, colno: 7, function: 'loadOrder', library_frame: false }],
      },
    }),
    JSON.stringify({
      span: {
        id: HTTP_SPAN, trace_id: TRACE_ID, parent_id: CHECKOUT_TX, transaction_id: CHECKOUT_TX, name: 'GET inventory:4000', type: 'external', subtype: 'http', action: 'GET',
        timestamp: t0 + 40_000, duration: 70, outcome: 'success',
        context: { http: { method: 'GET', url: 'http://inventory:4000/stock/7', response: { status_code: 200 } } },
        stacktrace: [{ filename: 'src/stock.ts', lineno: 12, colno: 3, function: 'fetchStock', library_frame: false }],
      },
    }),
  );
  inventory.push(
    JSON.stringify({
      transaction: {
        id: INVENTORY_TX, trace_id: TRACE_ID, parent_id: HTTP_SPAN, name: 'GET /stock/:id', type: 'request', result: 'HTTP 2xx', outcome: 'success',
        timestamp: t0 + 45_000, duration: 60, span_count: { started: 0 }, sampled: true,
      },
    }),
  );
  // A steady stream of requests over the last 10 minutes, some failing, for the charts.
  for (let i = 0; i < 60; i++) {
    const ts = (nowMs - 600_000 + i * 10_000) * 1000;
    const fail = i % 10 === 0;
    checkout.push(
      JSON.stringify({
        transaction: {
          id: hex(0x10000 + i, 16), trace_id: hex(0x500000 + i, 32), name: i % 2 ? 'POST /api/orders' : 'GET /api/orders/:id', type: 'request',
          result: fail ? 'HTTP 5xx' : 'HTTP 2xx', outcome: fail ? 'failure' : 'success', timestamp: ts, duration: 20 + (i % 7) * 15, span_count: { started: 0 },
        },
      }),
    );
  }
  // Markup in every kind of text the UI shows: names, statements, urls, messages, culprits, frames.
  checkout.push(
    JSON.stringify({
      transaction: { id: hex(0x4001, 16), trace_id: XSS_TRACE, name: XSS_NAME, type: 'request', outcome: 'success', timestamp: t0, duration: 5, span_count: { started: 1 } },
    }),
    JSON.stringify({
      span: {
        id: hex(0x4002, 16), trace_id: XSS_TRACE, parent_id: hex(0x4001, 16), transaction_id: hex(0x4001, 16), name: XSS_NAME, type: 'db', subtype: 'postgresql', timestamp: t0 + 1000, duration: 1,
        context: { db: { statement: XSS_NAME }, http: { url: XSS_NAME } }, stacktrace: [{ filename: XSS_NAME, lineno: 1, function: XSS_NAME }],
      },
    }),
    JSON.stringify({
      error: {
        id: hex(0x7200, 32), trace_id: XSS_TRACE, transaction_id: hex(0x4001, 16), parent_id: hex(0x4002, 16), timestamp: t0 + 2000, culprit: XSS_NAME,
        exception: { type: XSS_NAME, message: XSS_NAME, stacktrace: [{ filename: XSS_NAME, lineno: 2, function: XSS_NAME, context_line: XSS_NAME, pre_context: [XSS_NAME], post_context: [XSS_NAME] }] },
      },
    }),
  );
  const frames = [
    {
      filename: 'src/orders.ts', abs_path: '/app/src/orders.ts', lineno: 57, colno: 11, function: 'priceOrder', library_frame: false,
      pre_context: ['export function priceOrder(order) {', '  const items = order.items;'], context_line: '  return items.reduce((s, i) => s + i.price, 0);', post_context: ['}', ''],
    },
    { filename: 'node_modules/express/lib/router/layer.js', lineno: 95, function: 'Layer.handle', library_frame: true },
  ];
  for (let i = 0; i < 3; i++) {
    checkout.push(
      JSON.stringify({
        error: {
          id: hex(0x7000 + i, 32), trace_id: TRACE_ID, transaction_id: CHECKOUT_TX, parent_id: DB_SPAN, timestamp: t0 + 10_000 + i, culprit: 'priceOrder (src/orders.ts)',
          exception: { type: 'TypeError', message: `Cannot read properties of undefined (reading 'price') #${i}`, handled: false, stacktrace: frames },
        },
      }),
    );
  }
  checkout.push(
    JSON.stringify({ error: { id: hex(0x7100, 32), timestamp: t0 + 20_000, culprit: 'connect (src/db.ts)', exception: { type: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432', handled: true } } }),
  );
  for (let i = 0; i < 10; i++) {
    const ts = (nowMs - 600_000 + i * 60_000) * 1000;
    checkout.push(
      JSON.stringify({
        metricset: {
          timestamp: ts,
          samples: {
            'system.cpu.total.norm.pct': { value: 0.2 + i / 100 },
            'system.process.cpu.total.norm.pct': { value: 0.05 + i / 200 },
            'system.memory.total': { value: 16e9 },
            'system.memory.actual.free': { value: 8e9 },
            'system.process.memory.rss.bytes': { value: 120e6 + i * 1e6 },
            'nodejs.eventloop.delay.avg.ms': { value: 1.5 + i / 10 },
            'nodejs.memory.heap.used.bytes': { value: 40e6 + i * 1e6 },
            'nodejs.memory.heap.allocated.bytes': { value: 64e6 },
            'nodejs.handles.active': { value: 12 },
          },
        },
      }),
    );
  }
  return { checkout: checkout.join('\n') + '\n', inventory: inventory.join('\n') + '\n' };
}

/** The real Node agent 3.29.0 capture with its timestamps moved so it ends `agoMs` before now. */
export function retimedCapture(nowMs = Date.now(), agoMs = 60_000): string {
  const lines = readFileSync(join(TESTDATA, 'apm-nodejs-traces-3.29.0.ndjson'), 'utf8').split('\n').filter((l) => l.trim());
  let max = 0;
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, Record<string, unknown>>);
  for (const o of parsed) {
    const e = Object.values(o)[0]!;
    if (typeof e.timestamp === 'number') max = Math.max(max, e.timestamp);
  }
  const shift = (nowMs - agoMs) * 1000 - max;
  return (
    parsed
      .map((o) => {
        const e = Object.values(o)[0]!;
        if (typeof e.timestamp === 'number') e.timestamp = e.timestamp + shift;
        return JSON.stringify(o);
      })
      .join('\n') + '\n'
  );
}
