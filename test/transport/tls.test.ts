// HTTPS: verifyServerCert=false accepts a self-signed server, serverCaCertFile trusts it, and with
// neither the TLS failure is a counted, logged network drop.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createTransport } from '../../runtime/transport/index.js';
import { MockApmServer, baseOptions, recordingLogger, sleep, span, trackUnhandled } from './helpers.js';

const unhandled = trackUnhandled();
after(() => assert.deepEqual(unhandled, []));

const CA = join(__dirname, 'fixtures', 'server-cert.pem');

test('verifyServerCert=false: TLS without verification delivers to a self-signed server', async () => {
  const srv = await MockApmServer.start({ tls: true });
  const t = createTransport({ ...baseOptions(`https://127.0.0.1:${srv.port}`, recordingLogger()), verifyServerCert: false });
  t.send(span(0));
  await t.flush(3000);
  assert.deepEqual(srv.events(), [span(0)]);
  await sleep(50); // GET / runs beside the first intake request
  assert.equal(t.serverVersion(), '8.12.2');
  await t.close(1000);
  await srv.close();
});

test('verifyServerCert=true without the CA: the self-signed certificate is refused, drop counted and logged', async () => {
  const srv = await MockApmServer.start({ tls: true });
  const log = recordingLogger();
  const t = createTransport(baseOptions(`https://127.0.0.1:${srv.port}`, log));
  try {
    t.send(span(0));
    await t.flush(3000);
    assert.equal(srv.intake.length, 0);
    assert.deepEqual(t.stats().droppedByReason, { network: 1 });
    // Node 22.15+/24 append a hint about --use-system-ca to the TLS message; the rest is the same.
    assert.match(
      log.at('error')[0]!,
      /^spanforge: cannot send events to APM Server at https:\/\/127\.0\.0\.1:\d+: DEPTH_ZERO_SELF_SIGNED_CERT self[- ]signed certificate(; if the root CA is installed locally, try running Node\.js with --use-system-ca)?$/,
    );
  } finally {
    await t.close(1000);
    await srv.close();
  }
});

test('serverCaCertFile makes a verified TLS connection to a server signed by that CA', async () => {
  const srv = await MockApmServer.start({ tls: true });
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions(`https://127.0.0.1:${srv.port}`, log), serverCaCertFile: CA });
  t.send(span(0));
  await t.flush(3000);
  assert.deepEqual(srv.events(), [span(0)]);
  assert.deepEqual(log.lines.filter((l) => l.level !== 'debug'), []);
  await t.close(1000);
  await srv.close();
});

test('an unreadable serverCaCertFile is named in an error', async () => {
  const log = recordingLogger();
  const t = createTransport({ ...baseOptions('https://127.0.0.1:1', log), serverCaCertFile: '/nonexistent/ca.pem' });
  assert.deepEqual(log.at('error'), [
    `spanforge: cannot read serverCaCertFile "/nonexistent/ca.pem": ENOENT: no such file or directory, open '/nonexistent/ca.pem'; using the default CAs`,
  ]);
  await t.close(100);
});
