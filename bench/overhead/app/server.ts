// The benchmark service: one Express route that makes one PostgreSQL query and one outgoing fetch
// per request. Every variant runs this same source, compiled differently (plain tsc, tspc with the
// spanforge transformer, Babel/bundler with the spanforge plugin) or started under another agent.
import express from 'express';
import pg from 'pg';

const port = Number(process.env.BENCH_PORT ?? 0);
const stubUrl = process.env.BENCH_STUB_URL ?? 'http://127.0.0.1:3999';
const table = process.env.BENCH_TABLE ?? 'spanforge_bench_users';

const pool = new pg.Pool({
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'test',
  max: 10,
  // Lets the harness find this pool's server processes (to give them the benchmark's priority).
  application_name: 'spanforge-bench',
});

interface Profile {
  id: number;
  plan: string;
}

async function loadUser(id: number): Promise<{ id: number; name: string } | undefined> {
  const result = await pool.query<{ id: number; name: string }>(`SELECT id, name FROM ${table} WHERE id = $1`, [id]);
  return result.rows[0];
}

async function loadProfile(id: number): Promise<Profile> {
  const response = await fetch(`${stubUrl}/profile/${id}`);
  if (!response.ok) throw new Error(`profile service answered ${response.status}`);
  return (await response.json()) as Profile;
}

const app = express();

app.get('/users/:id', async (req, res) => {
  const id = Number(req.params.id);
  const user = await loadUser(id);
  if (user === undefined) {
    res.status(404).json({ error: `no user ${id}` });
    return;
  }
  const profile = await loadProfile(id);
  res.json({ user, profile });
});

const server = app.listen(port, '127.0.0.1', () => {
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  // The harness reads this line to time start-up (spawn → first request served).
  process.stdout.write(`listening ${actual}\n`);
});

function shutdown(): void {
  server.close();
  void pool.end();
  // Agents may hold sockets or timers open; exit normally anyway so --cpu-prof writes its file.
  setTimeout(() => process.exit(0), 1500).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
