// pino log correlation, built with both front-ends and run under the real agent with the real pino
// (test/compat/loggers): records written inside a transaction carry trace.id, transaction.id and (under
// a span) span.id, with the logger's configuration as the app wrote it — options object, an own mixin,
// the pino(stream) form, a child logger, Elastic's ecs-pino-format — and records outside a transaction
// carry none. Every line is compared exactly (the ECS @timestamp masked); a look-alike is left alone.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, FRONT_ENDS, startHarness, type Harness } from '../_harness.js';
import { assertLoggersInstalled, ids, inSpan, loggersDir } from '../_loggers.js';

const source = `import pino from 'pino';
import { pino as namedPino } from 'pino';
import ecsFormat from '@elastic/ecs-pino-format';

export const lines: string[] = [];
const dest = { write(s: string) { lines.push(s); } };

export const options = { timestamp: false };
export const logger = pino(options, dest);
export const mixed = pino({ timestamp: false, mixin: () => ({ user: 'u1', 'span.id': 'app-own' }) }, dest);
export const streamOnly = namedPino(dest);
export const ecs = pino(ecsFormat({ apmIntegration: true }), dest);

function lookAlike(_o: object) {
  return { info(m: string) { lines.push('look-alike ' + m); } };
}
export const other = lookAlike({});

export function write(tag: string): void {
  logger.info({ order: 7 }, tag);
  logger.child({ req: 'r1' }).warn(tag + ' child');
  mixed.info(tag + ' mixin');
  ecs.info(tag + ' ecs');
  other.info(tag);
}
export function writeStreamOnly(tag: string): void {
  streamOnly.info(tag);
}
`;

let h: Harness;
before(async () => {
  assertLoggersInstalled();
  h = await startHarness('pino-test');
});
after(async () => {
  cleanBuilds(__dirname);
  if (h) await h.close();
});

const pid = process.pid;
const host = JSON.stringify(hostname());
const ecsLine = (ids: string, msg: string) =>
  `{"log.level":"info","@timestamp":"<ts>","process.pid":${pid},"host.hostname":${host},"ecs.version":"8.10.0",${ids ? ids + ',' : ''}"message":"${msg}"}\n`;

for (const fe of FRONT_ENDS) {
  test(`pino (${fe}): records inside a transaction carry trace.id, transaction.id, span.id: exact lines`, { timeout: 60_000 }, async () => {
    const { mod, sites } = build(fe, __dirname, `pino-${fe}`, source, loggersDir);
    assert.deepEqual(sites, ['pino.logger 9:23', 'pino.logger 10:22', 'pino.logger 11:27', 'pino.logger 12:20']);
    assert.deepEqual(mod.options, { timestamp: false }, "the app's options object is not changed");
    const lines: string[] = mod.lines;
    lines.length = 0;
    mod.write('outside');
    mod.writeStreamOnly('outside');
    const r = await h.run('pino scenario', async () => {
      mod.write('tx');
      inSpan('inner', () => {
        mod.write('span');
        mod.writeStreamOnly('span');
      });
    });
    assert.equal(r.spans.length, 1);
    const tx = ids(r.tx);
    const sp = ids(r.tx, r.spans[0]);
    const masked = lines.map((l) => l.replace(/"@timestamp":"[^"]+"/, '"@timestamp":"<ts>"'));
    const base = `"level":30,"pid":${pid},"hostname":${host}`;
    assert.deepEqual(masked, [
      `{${base},"order":7,"msg":"outside"}\n`,
      `{"level":40,"pid":${pid},"hostname":${host},"req":"r1","msg":"outside child"}\n`,
      `{${base},"user":"u1","span.id":"app-own","msg":"outside mixin"}\n`,
      ecsLine('', 'outside ecs'),
      'look-alike outside',
      `{"level":30,"time":${JSON.parse(lines[5]!).time},"pid":${pid},"hostname":${host},"msg":"outside"}\n`,
      `{${base},${tx},"order":7,"msg":"tx"}\n`,
      `{"level":40,"pid":${pid},"hostname":${host},"req":"r1",${tx},"msg":"tx child"}\n`,
      `{${base},${tx},"user":"u1","span.id":"app-own","msg":"tx mixin"}\n`,
      ecsLine(tx, 'tx ecs'),
      'look-alike tx',
      `{${base},${sp},"order":7,"msg":"span"}\n`,
      `{"level":40,"pid":${pid},"hostname":${host},"req":"r1",${sp},"msg":"span child"}\n`,
      `{${base},"trace.id":"${r.tx.trace_id}","transaction.id":"${r.tx.id}","span.id":"app-own","user":"u1","msg":"span mixin"}\n`,
      ecsLine(sp, 'span ecs'),
      'look-alike span',
      `{"level":30,"time":${JSON.parse(lines[16]!).time},"pid":${pid},"hostname":${host},${sp},"msg":"span"}\n`,
    ]);
  });
}
