// The messaging fixture (fixtures/apps/messaging: an Express producer service and a worker that writes
// to PostgreSQL; amqplib, nats, mqtt and BullMQ), built with tspc + spanforge/transformer and with esbuild + spanforge/bundler, run
// against the real brokers: an HTTP request to the producer gives ONE trace — the request transaction,
// its send span, the worker's messaging transaction (a child of the send span, in another process) and
// the worker's pg span — for each library. Exact names, types, parents and message context; every event
// schema-valid.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from 'pg';
import { assertValidEvent, startIntake, type Intake } from '../bundler/_intake.js';
import { ensureDist, linkSpanforge, pgClient, root, startApp, type AppProcess } from './_apps.js';

const appDir = join(root, 'fixtures', 'apps', 'messaging');
const table = `sf_messaging_app_${process.pid}`;
const LIBS = ['amqplib', 'nats', 'mqtt', 'bullmq'] as const;
type Lib = (typeof LIBS)[number];
let db: Client | string;

before(async () => {
  db = await pgClient();
  if (typeof db === 'string') return;
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  await db.query(`CREATE TABLE ${table} (id integer, via text)`);
  ensureDist();
  linkSpanforge(appDir);
});
after(async () => {
  rmSync(join(appDir, 'out'), { recursive: true, force: true });
  rmSync(join(appDir, 'out-esbuild'), { recursive: true, force: true });
  if (db && typeof db !== 'string') {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.end();
  }
});

type Ev = Record<string, any>;

function buildTsc(): string {
  rmSync(join(appDir, 'out'), { recursive: true, force: true });
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'ts-patch', 'bin', 'tspc.js'), '-p', join(appDir, 'tsconfig.json')], { cwd: appDir, encoding: 'utf8' });
  assert.equal(r.status, 0, `tspc failed:\n${r.stdout}\n${r.stderr}`);
  const report = JSON.parse(readFileSync(join(appDir, 'out', 'spanforge-report.json'), 'utf8')) as { sites: Ev[]; skipped: Ev[] };
  assert.deepEqual(report.skipped, [], 'tsc skipped no candidate');
  assertSites(report.sites.map((s) => `${s.rule} ${s.file}:${s.line}`));
  return join(appDir, 'out');
}

async function buildEsbuild(): Promise<string> {
  const esbuild = await import('esbuild');
  const { esbuildPlugin } = await import('../../bundler/index.js');
  const outDir = join(appDir, 'out-esbuild');
  rmSync(outDir, { recursive: true, force: true });
  const reportFile = join(outDir, 'spanforge-report.json');
  await esbuild.build({
    entryPoints: ['producer', 'consumer'].map((n) => join(appDir, 'src', `${n}.ts`)),
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outdir: outDir,
    sourcemap: true,
    logLevel: 'silent',
    plugins: [esbuildPlugin({ root: appDir, report: reportFile, summary: false })],
  });
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { files: { file: string; sites: Ev[]; skipped: Ev[] }[] };
  const files = report.files.slice().sort((a, b) => a.file.localeCompare(b.file));
  assert.deepEqual(files.flatMap((f) => f.skipped), [], 'the bundler step skipped no candidate');
  assertSites(files.flatMap((f) => f.sites.map((s) => `${s.rule} ${f.file}:${s.line}`)));
  return outDir;
}

/**
 * The same sites from both front-ends: each library's send and receive (and mqtt's subscribe, which names
 * its transactions), the pg insert, the routes, and
 * `app.use(express.json())` (every use() argument is wrapped: error middleware is decided at run time).
 */
function assertSites(sites: string[]): void {
  assert.deepEqual(sites.slice().sort(), [
    'amqplib.consume src/consumer.ts:30',
    'amqplib.sendToQueue src/producer.ts:28',
    'bullmq.add src/producer.ts:46',
    'bullmq.worker src/consumer.ts:51',
    'express.error-middleware src/producer.ts:24',
    'express.route src/producer.ts:26',
    'express.route src/producer.ts:32',
    'express.route src/producer.ts:38',
    'express.route src/producer.ts:44',
    'mqtt.listener src/consumer.ts:46',
    'mqtt.publish src/producer.ts:40',
    'mqtt.subscribe src/consumer.ts:49',
    'nats.publish src/producer.ts:34',
    'nats.subscribe src/consumer.ts:37',
    'pg.query src/consumer.ts:23',
  ]);
}

async function until<T>(f: () => T | undefined, what: string, ms = 15000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const kinds = (intake: Intake, kind: string): Ev[] => intake.events.filter((e) => kind in e).map((e) => e[kind] as Ev);

/** Producer + consumer of one build, one order per library; returns the events of each order's trace. */
async function run(outDir: string, build: string): Promise<void> {
  const intake = await startIntake();
  const queue = `messaging-app-${build}-${process.pid}`;
  const env = { ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_LOG_LEVEL: 'warning', ELASTIC_APM_API_REQUEST_TIME: '200ms', SF_QUEUE: queue, SF_TABLE: table };
  const procs: AppProcess[] = [];
  try {
    procs.push(await startApp(join(outDir, 'consumer.js'), { ...env, SF_SERVICE: 'orders-worker' }));
    const producer = await startApp(join(outDir, 'producer.js'), { ...env, SF_SERVICE: 'orders-api' });
    procs.push(producer);
    for (const [i, lib] of LIBS.entries()) {
      const id = (build === 'tsc' ? 100 : 200) + i;
      const res = await fetch(`http://127.0.0.1:${producer.port}/orders/${lib}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
      assert.equal(res.status, 202);
      assertTrace(intake, lib, queue, await until(() => {
        const req = kinds(intake, 'transaction').find((t) => t.name === `POST /orders/${lib}`);
        if (!req) return undefined;
        const all = [...kinds(intake, 'transaction'), ...kinds(intake, 'span')].filter((e) => e.trace_id === req.trace_id);
        return all.some((e) => e.type === 'db') ? all : undefined;
      }, `the ${lib} order's trace (${build})`));
      const row = await (db as Client).query(`SELECT via FROM ${table} WHERE id = $1`, [id]);
      assert.deepEqual(row.rows, [{ via: lib }]);
    }
    for (const e of intake.events) assertValidEvent(e);
    assert.deepEqual(kinds(intake, 'error'), []);
  } finally {
    for (const p of procs) await p.stop();
    await intake.close();
  }
}

const NAMES: Record<Lib, { send: (q: string) => string; receive: (q: string) => string; subtype: string; framework: string }> = {
  amqplib: { send: (q) => `RabbitMQ SEND to ${q}`, receive: (q) => `RabbitMQ RECEIVE from ${q}`, subtype: 'rabbitmq', framework: 'RabbitMQ' },
  nats: { send: (q) => `NATS SEND to ${q}`, receive: (q) => `NATS RECEIVE from ${q}`, subtype: 'nats', framework: 'NATS' },
  mqtt: { send: (q) => `MQTT SEND to ${q}`, receive: (q) => `MQTT RECEIVE from ${q}`, subtype: 'mqtt', framework: 'MQTT' },
  bullmq: { send: (q) => `BullMQ SEND to ${q}`, receive: (q) => `BullMQ RECEIVE from ${q}`, subtype: 'bullmq', framework: 'BullMQ' },
};

/** request tx → send span → consumer messaging tx (other process) → pg span, one trace. */
function assertTrace(_intake: Intake, lib: Lib, queue: string, events: Ev[]): void {
  const n = NAMES[lib];
  const req = events.find((e) => e.type === 'request')!;
  const send = events.find((e) => e.type === 'messaging' && e.action === 'send')!;
  const consumer = events.find((e) => e.type === 'messaging' && e.span_count)!;
  const pg = events.find((e) => e.type === 'db')!;
  assert.deepEqual(
    [req, send, consumer, pg].map((e) => [e?.name, e?.type, e?.subtype, e?.action, e?.parent_id === undefined ? 'root' : events.find((x) => x.id === e.parent_id)?.name]),
    [
      [`POST /orders/${lib}`, 'request', undefined, undefined, 'root'],
      [n.send(queue), 'messaging', n.subtype, 'send', `POST /orders/${lib}`],
      [n.receive(queue), 'messaging', undefined, undefined, n.send(queue)],
      [`INSERT ${table}`, 'db', 'postgresql', 'query', n.receive(queue)],
    ],
  );
  assert.equal(events.length, 4, 'nothing else in the trace');
  assert.deepEqual([send.context.message.queue, send.context.service.target], [{ name: queue }, { type: n.subtype, name: queue }]);
  assert.deepEqual([consumer.result, consumer.outcome, consumer.context.message.queue, consumer.context.service.framework], ['success', 'success', { name: queue }, { name: n.framework }]);
  // BullMQ jobs have no headers: the context travels in the job data (checked by the parent ids above).
  if (lib !== 'bullmq') assert.equal(consumer.context.message.headers.traceparent, `00-${req.trace_id}-${send.id}-01`);
  assert.equal(pg.transaction_id, consumer.id);
}

for (const [build, make] of [['tsc', async () => buildTsc()], ['esbuild', buildEsbuild]] as const) {
  test(`${build} build: one trace from the producer's request through the broker to the worker's pg span`, { timeout: 90000 }, async (t) => {
    if (typeof db === 'string') return t.skip(db);
    await run(await make(), build);
  });
}
