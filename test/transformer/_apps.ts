// Shared by the fixture-app tests: builds dist (when stale) and a fixture app with tspc, links
// node_modules/spanforge like a real install, starts app processes, and checks PostgreSQL is there.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, rmSync, lstatSync } from 'node:fs';
import { once } from 'node:events';
import { join, relative } from 'node:path';
import { Client } from 'pg';

export const root = join(__dirname, '..', '..');

function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/** Compiles dist/cjs when the transformer, rules or runtime sources are newer than it. */
export function ensureDist(): void {
  const marker = join(root, 'dist', 'cjs', 'transformer', 'index.js');
  const src = Math.max(newest(join(root, 'transformer')), newest(join(root, 'rules')), newest(join(root, 'runtime')));
  if (existsSync(marker) && statSync(marker).mtimeMs >= src && existsSync(join(root, 'dist', 'cjs', 'runtime', 'abi.js'))) return;
  // Type errors elsewhere in the tree (work in progress of other parts) do not stop the emit we need.
  spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  if (!existsSync(marker)) throw new Error('dist/cjs/transformer/index.js was not built');
}

/** node_modules/spanforge → the repository, as `npm install spanforge` would provide it. */
export function linkSpanforge(appDir: string): void {
  const nm = join(appDir, 'node_modules');
  mkdirSync(nm, { recursive: true });
  const link = join(nm, 'spanforge');
  try {
    if (lstatSync(link)) return;
  } catch {
    // absent
  }
  // Relative to this checkout's root, whatever the app's depth (fixtures/apps/x, integrations/x/fixtures/app).
  symlinkSync(relative(nm, root), link);
}

/** Builds a fixture app with tspc; returns tspc's stderr (the spanforge summary line). */
export function buildApp(appDir: string): string {
  ensureDist();
  linkSpanforge(appDir);
  rmSync(join(appDir, 'out'), { recursive: true, force: true });
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'ts-patch', 'bin', 'tspc.js'), '-p', join(appDir, 'tsconfig.json')], {
    cwd: appDir,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`tspc failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stderr;
}

export interface AppProcess {
  child: ChildProcess;
  port: number;
  output: () => string;
  stop(): Promise<void>;
}

/** Starts `node <file>` and waits for its "listening <port>" line. */
export async function startApp(file: string, env: Record<string, string>): Promise<AppProcess> {
  const child = spawn(process.execPath, ['--enable-source-maps', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${file} did not start: ${out}`)), 20000);
    child.stdout!.on('data', () => {
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${file} exited with ${code}: ${out}`));
    });
  });
  return {
    child,
    port,
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** A connected client to the test database, or a reason it is unreachable (fails under CI). */
export async function pgClient(): Promise<Client | string> {
  const client = new Client({ host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres', database: 'test', connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return client;
  } catch (err) {
    const msg = `PostgreSQL on 127.0.0.1:5432 (db test) is unreachable: ${(err as Error).message}`;
    if (process.env.CI) throw new Error(msg);
    return msg;
  }
}
