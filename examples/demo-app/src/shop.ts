// Demo "shop" service: Express + pg + fetch to the inventory service, with no tracing code of its own
// besides start(); everything else is instrumented at build time by spanforge/transformer.
import express, { type NextFunction, type Request, type Response } from 'express';
import { Pool } from 'pg';
import { flush, start } from 'spanforge';

// Metrics every 10 s (the default is 30 s) so the demo's charts fill in its first minute.
start({ serviceName: 'demo-shop', metricsInterval: '10s' });

const table = process.env.DEMO_TABLE ?? 'spanforge_demo_products';
const inventory = process.env.INVENTORY_URL ?? 'http://127.0.0.1:9';
const pool = new Pool({ host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres', database: process.env.PGDATABASE ?? 'test' });
const app = express();

class NotFound extends Error {}

app.get('/products/:id', async (req: Request, res: Response) => {
  const { rows } = await pool.query(`SELECT id, name, price FROM ${table} WHERE id = $1`, [Number(req.params.id)]);
  if (!rows[0]) throw new NotFound(`product ${req.params.id} does not exist`);
  const stock = await fetch(`${inventory}/stock/${req.params.id}`);
  res.json({ ...rows[0], stock: (await stock.json()) as unknown });
});

app.get('/products', async (_req: Request, res: Response) => {
  const { rows } = await pool.query(`SELECT id, name FROM ${table} ORDER BY id`);
  res.json(rows);
});

app.post('/checkout/:id', async (req: Request, res: Response) => {
  const reserved = await fetch(`${inventory}/reserve/${req.params.id}`, { method: 'POST' });
  if (!reserved.ok) throw new Error(`inventory refused to reserve product ${req.params.id}`);
  res.status(201).json({ ok: true });
});

app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
  res.status(err instanceof NotFound ? 404 : 500).json({ error: err.message });
});

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : 0}\n`);
});

process.on('SIGTERM', () => {
  void flush().finally(() => {
    server.close();
    void pool.end();
    process.exit(0);
  });
});
