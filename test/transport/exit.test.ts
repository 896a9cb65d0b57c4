// The transport never keeps the process alive: a child process that sends events to a server that
// never answers exits as soon as its own work is done, or when its bounded flush()/close() ends.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MockApmServer } from './helpers.js';

let srv: MockApmServer;
let posts = 0;
before(async () => {
  srv = await MockApmServer.start();
  let reuseAnswered = false;
  srv.raw = (req) => {
    if (req.method !== 'POST') return false;
    posts++;
    if (req.headers.authorization === 'Bearer reuse' && !reuseAnswered) {
      reuseAnswered = true;
      return false; // answered normally (202)
    }
    req.resume(); // read the body, never answer
    return true;
  };
});
after(() => srv.close());

interface ChildResult {
  code: number | null;
  exitedAt: number;
  out: { done: number; settled: number; stats: { queued: number; sent: number; requests: number } };
  stderr: string;
}

// Without the fix the child stays until the 15 s kill (the open request holds the event loop); a
// process start plus exit on a loaded 2-core CI machine took up to 1.7 s, so 5 s separates the two.
const LINGER_MS = 5000;

function runChild(mode: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'exit-child.ts')], {
      env: { ...process.env, PORT: String(srv.port), MODE: mode },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      const exitedAt = Date.now();
      clearTimeout(killer);
      try {
        resolve({ code, exitedAt, out: JSON.parse(stdout), stderr });
      } catch {
        reject(new Error(`child printed ${JSON.stringify(stdout)}, stderr ${stderr}`));
      }
    });
  });
}

test('with a request open to a silent server, the process exits as soon as its own work ends', async () => {
  const before = posts;
  const r = await runChild('idle');
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  assert.equal(posts, before + 1, 'the request really was open');
  assert.equal(r.out.stats.requests, 1);
  const linger = r.exitedAt - r.out.done;
  assert.ok(linger < LINGER_MS, `process lingered ${linger} ms`);
});

test('the same holds for a request on a reused keep-alive socket', async () => {
  const r = await runChild('reuse');
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  assert.equal(r.out.stats.sent, 1);
  assert.equal(r.out.stats.requests, 2);
  const linger = r.exitedAt - r.out.done;
  assert.ok(linger < LINGER_MS, `process lingered ${linger} ms`);
});

test('an awaited flush(400) holds the process for its timeout, no longer', async () => {
  const r = await runChild('flush');
  assert.equal(r.code, 0);
  const waited = r.out.settled - r.out.done;
  assert.ok(waited >= 390 && waited < 1500, `flush waited ${waited} ms`);
  const linger = r.exitedAt - r.out.settled;
  assert.ok(linger < LINGER_MS, `process lingered ${linger} ms after flush`);
  assert.equal(r.out.stats.sent, 0);
});

test('an awaited close(300) ends within its bound and releases everything', async () => {
  const r = await runChild('close');
  assert.equal(r.code, 0);
  const waited = r.out.settled - r.out.done;
  assert.ok(waited >= 290 && waited < 1500, `close waited ${waited} ms`);
  assert.ok(r.exitedAt - r.out.settled < LINGER_MS);
});
