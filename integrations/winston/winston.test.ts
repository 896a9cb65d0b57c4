// winston log correlation, built with both front-ends and run under the real agent with the real
// winston (test/compat/loggers): records written inside a transaction carry trace.id, transaction.id and
// (under a span) span.id with the logger's configuration as the app wrote it — json() format, a child
// logger, defaultMeta, Elastic's ecs-winston-format — and records outside a transaction carry none.
// Every line is compared exactly (the ECS @timestamp masked); a look-alike createLogger is left alone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, FRONT_ENDS, startHarness, type Ev, type Harness } from '../_harness.js';
import { assertLoggersInstalled, inSpan, loggersDir } from '../_loggers.js';

const source = `import winston from 'winston';
import { ecsFormat } from '@elastic/ecs-winston-format';
import { Writable } from 'node:stream';

export const lines: string[] = [];
const stream = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });

export const options = { format: winston.format.json(), defaultMeta: { service: 'shop' }, transports: [new winston.transports.Stream({ stream })] };
export const logger = winston.createLogger(options);
export const ecs = winston.createLogger({ format: ecsFormat(), transports: [new winston.transports.Stream({ stream })] });

const factory = { createLogger(_o: object) { return { info(m: string) { lines.push('look-alike ' + m); } }; } };
export const other = factory.createLogger({});

export function write(tag: string): void {
  logger.info(tag, { order: 7 });
  logger.child({ req: 'r1' }).warn(tag + ' child');
  logger.log({ level: 'info', message: tag + ' object' });
  ecs.info(tag + ' ecs');
  other.info(tag);
}
`;

let h: Harness;
before(async () => {
  assertLoggersInstalled();
  h = await startHarness('winston-test');
});
after(async () => {
  cleanBuilds(__dirname);
  if (h) await h.close();
});

// winston's json() and ECS stringify write keys sorted (safe-stable-stringify): span.id before trace.id.
const sortedIds = (tx: Ev, span?: Ev) => `${span ? `"span.id":"${span.id}",` : ''}"trace.id":"${tx.trace_id}","transaction.id":"${tx.id}"`;
const ecsLine = (ids: string, msg: string) => `{"@timestamp":"<ts>","ecs.version":"8.10.0","log.level":"info","message":"${msg}"${ids ? ',' + ids : ''}}\n`;

for (const fe of FRONT_ENDS) {
  test(`winston (${fe}): records inside a transaction carry trace.id, transaction.id, span.id: exact lines`, { timeout: 60_000 }, async () => {
    const { mod, sites } = build(fe, __dirname, `winston-${fe}`, source, loggersDir);
    assert.deepEqual(sites, ['winston.logger 9:31', 'winston.logger 10:28']);
    // winston itself sets `levels` on the options it is given; spanforge adds nothing to them.
    assert.deepEqual(Object.keys(mod.options), ['format', 'defaultMeta', 'transports', 'levels'], "the app's options carry nothing of spanforge's");
    const lines: string[] = mod.lines;
    lines.length = 0;
    mod.write('outside');
    const r = await h.run('winston scenario', async () => {
      mod.write('tx');
      inSpan('inner', () => mod.write('span'));
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(r.spans.length, 1);
    const masked = lines.map((l) => l.replace(/"@timestamp":"[^"]+"/, '"@timestamp":"<ts>"'));
    const expected = (tag: string, i: string) => [
      `{"level":"info","message":"${tag}","order":7,"service":"shop"${i ? ',' + i : ''}}\n`,
      `{"level":"warn","message":"${tag} child","req":"r1","service":"shop"${i ? ',' + i : ''}}\n`,
      `{"level":"info","message":"${tag} object","service":"shop"${i ? ',' + i : ''}}\n`,
      ecsLine(i, `${tag} ecs`),
      `look-alike ${tag}`,
    ];
    assert.deepEqual(masked, [...expected('outside', ''), ...expected('tx', sortedIds(r.tx)), ...expected('span', sortedIds(r.tx, r.spans[0]))]);
  });
}
