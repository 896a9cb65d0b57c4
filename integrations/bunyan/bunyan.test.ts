// bunyan log correlation, built with both front-ends and run under the real agent with the real bunyan
// (test/compat/loggers): records written inside a transaction carry trace.id, transaction.id and (under
// a span) span.id with the logger's configuration as the app wrote it — a stream, a child logger and a
// grandchild, a field of the app's own named span.id — and records outside a transaction carry none.
// Every line is compared exactly (bunyan's `time` masked); a look-alike createLogger is left alone.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, test } from 'node:test';
import { build, cleanBuilds, FRONT_ENDS, startHarness, type Harness } from '../_harness.js';
import { assertLoggersInstalled, ids, inSpan, loggersDir } from '../_loggers.js';

const source = `import bunyan from 'bunyan';

export const lines: string[] = [];
export const options = { name: 'shop', streams: [{ stream: { write(s: string) { lines.push(s); } } as NodeJS.WritableStream }] };
export const log = bunyan.createLogger(options);
const child = log.child({ req: 'r1' });
const grandchild = child.child({ step: 2 });

const factory = { createLogger(_o: object) { return { info(m: string) { lines.push('look-alike ' + m); } }; } };
export const other = factory.createLogger({});

export function write(tag: string): void {
  log.info({ order: 7 }, tag);
  child.warn(tag + ' child');
  grandchild.info({ 'span.id': 'app-own' }, tag + ' grandchild');
  other.info(tag);
}
`;

let h: Harness;
before(async () => {
  assertLoggersInstalled();
  h = await startHarness('bunyan-test');
});
after(async () => {
  cleanBuilds(__dirname);
  if (h) await h.close();
});

for (const fe of FRONT_ENDS) {
  test(`bunyan (${fe}): records inside a transaction carry trace.id, transaction.id, span.id: exact lines`, { timeout: 60_000 }, async () => {
    const { mod, sites } = build(fe, __dirname, `bunyan-${fe}`, source, loggersDir);
    assert.deepEqual(sites, ['bunyan.logger 5:27']);
    assert.deepEqual(Object.keys(mod.options), ['name', 'streams'], "the app's options are not changed");
    const lines: string[] = mod.lines;
    lines.length = 0;
    mod.write('outside');
    const r = await h.run('bunyan scenario', async () => {
      mod.write('tx');
      inSpan('inner', () => mod.write('span'));
    });
    assert.equal(r.spans.length, 1);
    const masked = lines.map((l) => l.replace(/"time":"[^"]+"/, '"time":"<t>"'));
    const head = `"name":"shop","hostname":${JSON.stringify(hostname())},"pid":${process.pid}`;
    const tail = `"time":"<t>","v":0`;
    const expected = (tag: string, i: string, own = i) => [
      `{${head},"level":30,"order":7,"msg":"${tag}",${tail}${i ? ',' + i : ''}}\n`,
      `{${head},"req":"r1","level":40,"msg":"${tag} child",${tail}${i ? ',' + i : ''}}\n`,
      `{${head},"req":"r1","step":2,"level":30,"span.id":"app-own","msg":"${tag} grandchild",${tail}${own ? ',' + own : ''}}\n`,
      `look-alike ${tag}`,
    ];
    const txIds = ids(r.tx);
    assert.deepEqual(masked, [...expected('outside', ''), ...expected('tx', txIds), ...expected('span', ids(r.tx, r.spans[0]), txIds)]);
  });
}
