// The README's main job: starts spanforge's local receiver (intake v2 + web UI) and the demo app built
// with the TypeScript transformer, which sends its transactions, spans, errors and metrics there.
// Usage: npm run demo [-- --port 8200] [--rounds N] [--interval ms] [--data-dir DIR]
//   ELASTIC_APM_SERVER_URL set → ship to that server instead and start no receiver.
//   --data-dir DIR            → where the receiver stores the demo's events (default ~/.spanforge/demo:
//                               its own folder, apart from ~/.spanforge/data that `spanforge serve`
//                               uses for your own apps; SPANFORGE_DATA_DIR is deliberately not read).
// Ctrl-C stops the app, flushes the receiver's store and exits.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) fail(`--${name} needs a value`);
  return v;
}
function fail(msg) {
  process.stderr.write(`demo: ${msg}\n`);
  process.exit(2);
}

const port = Number(arg('port', '8200'));
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be a port number, got ${port}`);
const passThrough = [];
for (const name of ['rounds', 'interval']) {
  const v = arg(name, undefined);
  if (v !== undefined) passThrough.push(`--${name}`, v);
}

const distReceiver = join(root, 'dist', 'cjs', 'receiver', 'index.js');
if (!existsSync(distReceiver)) fail('spanforge is not built: run `npm run build` first (npm run demo does it)');

let receiver;
let intake = process.env.ELASTIC_APM_SERVER_URL;
if (intake) {
  process.stdout.write(`demo: ELASTIC_APM_SERVER_URL is set; shipping to ${intake} (no local receiver)\n`);
} else {
  const { startReceiver } = require(distReceiver);
  const dataDir = resolve(arg('data-dir', join(homedir(), '.spanforge', 'demo')));
  try {
    receiver = await startReceiver({ port, host: '127.0.0.1', dataDir });
  } catch (err) {
    if (err && err.code === 'EADDRINUSE') {
      fail(
        `port ${port} on 127.0.0.1 is taken (an APM Server or \`spanforge serve\` already running?). ` +
          `Use --port N, or set ELASTIC_APM_SERVER_URL to ship to the server that is running.`,
      );
    }
    fail(`the receiver did not start: ${err && err.message}`);
  }
  intake = receiver.url;
  process.stdout.write(
    `demo: local receiver on ${receiver.url} (data in ${dataDir})\n` +
      `demo: web UI        → ${receiver.uiUrl}\n`,
  );
}

const app = spawn(process.execPath, [join(root, 'examples', 'demo-app', 'run.mjs'), '--intake', intake, ...passThrough], {
  stdio: ['ignore', 'inherit', 'inherit'],
});

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  if (app.exitCode === null && app.signalCode === null) {
    app.kill('SIGTERM');
    await new Promise((r) => app.once('exit', r));
  }
  if (receiver) {
    await receiver.close();
    process.stdout.write('demo: receiver closed, events stored\n');
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
app.once('exit', (code, signal) => {
  if (stopping) return;
  if (code !== 0) {
    process.stderr.write(`demo: the demo app exited with ${signal ?? code}\n`);
    void stop(1);
    return;
  }
  if (!receiver) return void stop(0);
  // Finite --rounds: the traffic is done; the receiver keeps serving the web UI until Ctrl-C,
  // unless DEMO_EXIT=1 (used by the smoke test).
  if (process.env.DEMO_EXIT === '1') return void stop(0);
  process.stdout.write(`demo: traffic finished; the web UI stays up on ${receiver.uiUrl} until Ctrl-C\n`);
});
