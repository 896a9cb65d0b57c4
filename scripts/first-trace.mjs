// Time from an empty folder to a first trace, as a new user goes: `npm init -y`, `npm install spanforge`
// + the build tool, `npx spanforge init --yes`, `npm install` (what init added), build, run the app, and
// its first transaction arrives at an intake. spanforge comes from `npm pack` of this tree (built first:
// `npm run build`); everything else from the npm registry through the machine's npm cache
// (--prefer-offline). Each path runs once to fill the cache (not counted), then --runs times (default 3).
//
//   node scripts/first-trace.mjs [--paths tsc,esbuild,tsx] [--runs 3]
//
// Prints a table of the step times (median of the runs) and the total, the figure the README quotes.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { paths: { type: 'string' }, runs: { type: 'string' } } });
const runs = Number(values.runs ?? 3);
const paths = (values.paths ?? 'tsc,esbuild,tsx').split(',');

const APP = `import http from 'node:http';

const server = http.createServer(async (req, res) => {
  if (req.url === '/hello') {
    const { port } = server.address() as { port: number };
    res.end('hello ' + (await (await fetch(\`http://127.0.0.1:\${port}/ping\`)).text()));
  } else res.end('pong');
});
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address() as { port: number };
  console.log(await (await fetch(\`http://127.0.0.1:\${port}/hello\`)).text());
  server.close();
});
`;

const PATHS = {
  tsc: {
    type: 'commonjs',
    deps: ['-D', 'typescript@6', 'ts-patch', '@types/node@20'],
    files: {
      'tsconfig.json': JSON.stringify({ compilerOptions: { target: 'es2022', module: 'nodenext', rootDir: 'src', outDir: 'dist', types: ['node'] }, include: ['src'] }),
      'src/app.ts': APP,
    },
    scripts: { build: 'tsc -p .' },
    build: ['npm', ['run', 'build']],
    run: ['node', ['dist/app.js']],
  },
  esbuild: {
    type: 'module',
    deps: ['-D', 'esbuild'],
    files: {
      'build.mjs': "import { build } from 'esbuild';\n\nawait build({ entryPoints: ['src/app.ts'], bundle: true, platform: 'node', format: 'esm', outdir: 'dist', packages: 'external' });\n",
      'src/app.ts': APP,
    },
    scripts: { build: 'node build.mjs' },
    build: ['npm', ['run', 'build']],
    run: ['node', ['dist/app.js']],
  },
  tsx: {
    type: 'module',
    deps: ['-D', 'tsx'],
    files: { 'src/app.ts': APP },
    scripts: { dev: 'tsx src/app.ts' },
    build: undefined,
    run: ['npm', ['run', 'dev']],
  },
};

function sh(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

async function startIntake() {
  let onTrace;
  const server = createServer((req, res) => {
    if (req.method !== 'POST') return res.end('{}');
    const body = req.headers['content-encoding'] === 'gzip' ? req.pipe(createGunzip()) : req;
    let text = '';
    body.on('data', (c) => (text += c));
    body.on('end', () => {
      res.writeHead(202).end();
      if (/^\{"transaction"/m.test(text) && onTrace) onTrace(Date.now());
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    next: () => new Promise((r) => (onTrace = r)),
    close: () => server.close(),
  };
}

async function once(name, tarball, intake) {
  const p = PATHS[name];
  const dir = mkdtempSync(join(tmpdir(), `sf-first-${name}-`));
  const t = {};
  let last = Date.now();
  const t0 = last;
  const step = (k) => {
    const now = Date.now();
    t[k] = now - last;
    last = now;
  };
  try {
    sh('npm', ['init', '-y', '--loglevel=error'], dir);
    sh('npm', ['pkg', 'set', `type=${p.type}`, ...Object.entries(p.scripts).map(([k, v]) => `scripts.${k}=${v}`)], dir);
    for (const [f, text] of Object.entries(p.files)) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    step('setup');
    sh('npm', ['install', tarball, ...NPM_FLAGS], dir);
    sh('npm', ['install', ...p.deps, ...NPM_FLAGS], dir);
    step('install');
    sh('npx', ['spanforge', 'init', '--yes'], dir);
    sh('npm', ['install', ...NPM_FLAGS], dir);
    step('init');
    if (p.build) sh(p.build[0], p.build[1], dir);
    step('build');
    const arrived = intake.next();
    const child = spawn(p.run[0], p.run[1], { cwd: dir, stdio: 'ignore', env: { ...process.env, ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_SERVICE_NAME: `first-${name}`, ELASTIC_APM_METRICS_INTERVAL: '0s' } });
    const timeout = new Promise((_r, reject) => setTimeout(() => reject(new Error(`${name}: no trace within 30 s`)), 30_000).unref());
    const at = await Promise.race([arrived, timeout]);
    t.run = at - last;
    t.total = at - t0;
    await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
    return t;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const packDir = mkdtempSync(join(tmpdir(), 'sf-first-pack-'));
sh('npm', ['pack', '--pack-destination', packDir, '--loglevel=error'], root);
const tarball = join(packDir, sh('ls', [packDir], packDir).trim());
const intake = await startIntake();
const rows = [];
try {
  for (const name of paths) {
    process.stderr.write(`${name}: warm-up run (fills the npm cache)\n`);
    await once(name, tarball, intake);
    const all = [];
    for (let i = 0; i < runs; i++) {
      const r = await once(name, tarball, intake);
      process.stderr.write(`${name}: run ${i + 1}: ${(r.total / 1000).toFixed(1)} s\n`);
      all.push(r);
    }
    const keys = ['setup', 'install', 'init', 'build', 'run', 'total'];
    rows.push([name, ...keys.map((k) => (median(all.map((r) => r[k])) / 1000).toFixed(1))]);
  }
} finally {
  intake.close();
  rmSync(packDir, { recursive: true, force: true });
}
console.log(`Node ${process.version}, npm ${sh('npm', ['--version'], root).trim()}, median of ${runs} runs, seconds`);
console.log('| path | npm init + files | npm install | spanforge init --yes + npm install | build | run to first trace | total |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
