// Where spanforge's start-up time goes, inside the process (no spawn noise): after loading what the
// benchmark app loads (express, pg), the time to require("spanforge"), to start() it, to load the
// ABI module, and what the transport's first send adds by loading npm undici: the whole package
// (`undici`) or only the three files the transport imports (`undici parts`). Each figure is the
// median over N fresh processes, the two undici variants interleaved. `npm run build && node bench/overhead/startup-parts.cjs [N=9]`
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const root = path.resolve(__dirname, '..', '..');
if (process.argv[2] === '--child') {
  const r = (m) => require(require.resolve(m, { paths: [root] }));
  const t = [performance.now()];
  r('express');
  r('pg');
  require('node:http');
  t.push(performance.now());
  const sf = require(path.join(root, 'dist', 'cjs', 'runtime', 'index.js'));
  t.push(performance.now());
  process.env.ELASTIC_APM_SERVER_URL = 'http://127.0.0.1:9';
  process.env.ELASTIC_APM_LOG_LEVEL = 'off';
  process.env.ELASTIC_APM_CLOUD_PROVIDER = 'none';
  sf.start();
  t.push(performance.now());
  require(path.join(root, 'dist', 'cjs', 'runtime', 'abi.js'));
  t.push(performance.now());
  const undiciLoadedByStart = Object.keys(require.cache).some((k) => k.includes('/node_modules/undici/'));
  if (process.argv[3] === 'parts') {
    // what the transport loads at its first send (runtime/transport/http-transport.ts loadUndici())
    for (const f of ['lib/dispatcher/pool.js', 'lib/core/connect.js', 'lib/api/api-request.js']) r(`undici/${f}`);
  } else r('undici');
  t.push(performance.now());
  const d = t.slice(1).map((x, i) => x - t[i]);
  process.stdout.write(JSON.stringify({ expressPg: d[0], require: d[1], start: d[2], abi: d[3], undici: d[4], undiciLoadedByStart }));
  process.exit(0);
}
const n = Number(process.argv[2] ?? 9);
const rows = [];
const parts = [];
for (let i = 0; i < n; i++) {
  rows.push(JSON.parse(execFileSync(process.execPath, [__filename, '--child', 'whole'], { encoding: 'utf8' })));
  parts.push(JSON.parse(execFileSync(process.execPath, [__filename, '--child', 'parts'], { encoding: 'utf8' })).undici);
}
const med = (k) => rows.map((r) => r[k]).sort((a, b) => a - b)[n >> 1];
console.log(`median of ${n} processes, ms (Node ${process.version}):`);
for (const k of ['expressPg', 'require', 'start', 'abi', 'undici']) console.log(`  ${k.padEnd(10)} ${med(k).toFixed(1)}`);
console.log(`  undici parts ${parts.sort((a, b) => a - b)[n >> 1].toFixed(1)}`);
console.log(`  undici loaded by require + start(): ${rows.some((r) => r.undiciLoadedByStart)}`);
