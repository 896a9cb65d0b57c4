// HTTPS: verifyServerCert=false accepts a self-signed server, serverCaCertFile trusts it, and with
// neither the TLS failure is a counted, logged network drop.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createTransport } from '../../runtime/transport/index.js';
import { baseOptions, recordingLogger, serve, sleep, span, trackUnhandled } from './helpers.js';

const unhandled = trackUnhandled();
after(() => assert.deepEqual(unhandled, []));

const CA = join(__dirname, 'fixtures', 'server-cert.pem');

test('verifyServerCert=false: TLS without verification delivers to a self-signed server', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx, { tls: true });
  const t = createTransport({ ...baseOptions(`https://127.0.0.1:${srv.port}`, recordingLogger()), verifyServerCert: false });
  ctx.after(() => t.close(100));
  t.send(span(0));
  await t.flush(3000);
  assert.deepEqual(srv.events(), [span(0)]);
  await sleep(50); // GET / runs beside the first intake request
  assert.equal(t.serverVersion(), '8.12.2');
  await t.close(1000);
  await srv.close();
});

test('verifyServerCert=true without the CA: the self-signed certificate is refused, drop counted and logged', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx, { tls: true });
  const log = recordingLogger();
  const t = createTransport(baseOptions(`https://127.0.0.1:${srv.port}`, log));
  ctx.after(() => t.close(100));
  try {
    t.send(span(0));
    await t.flush(3000);
    assert.equal(srv.intake.length, 0);
    assert.deepEqual(t.stats().droppedByReason, { network: 1 });
    // Node 22.15+/24 append a hint about --use-system-ca to the TLS message; the rest is the same.
    assert.match(
      log.at('error')[0]!,
      /^cannot send events to the intake server at https:\/\/127\.0\.0\.1:\d+: DEPTH_ZERO_SELF_SIGNED_CERT self[- ]signed certificate(; if the root CA is installed locally, try running Node\.js with --use-system-ca)?$/,
    );
  } finally {
    await t.close(1000);
    await srv.close();
  }
});

test('serverCaCertFile makes a verified TLS connection to a server signed by that CA', { timeout: 20_000 }, async (ctx) => {
  const srv = await serve(ctx, { tls: true });
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(`https://127.0.0.1:${srv.port}`, log), serverCaCertFile: CA });
  ctx.after(() => t.close(100));
  t.send(span(0));
  await t.flush(3000);
  assert.deepEqual(srv.events(), [span(0)]);
  assert.deepEqual(log.lines.filter((l) => l.level !== 'debug'), []);
  await t.close(1000);
  await srv.close();
});

test('an unreadable serverCaCertFile is named in an error', { timeout: 20_000 }, async (ctx) => {
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions('https://127.0.0.1:1', log), serverCaCertFile: '/nonexistent/ca.pem' });
  ctx.after(() => t.close(100));
  assert.deepEqual(log.at('error'), [
    `cannot read serverCaCertFile "/nonexistent/ca.pem": ENOENT: no such file or directory, open '/nonexistent/ca.pem'; using the default CAs`,
  ]);
  await t.close(100);
});
