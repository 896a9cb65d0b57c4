// Test intake server: a node:http server on an ephemeral port that gunzips intake-v2 NDJSON and records
// each event; plus schema validation of events against the official intake-v2 schemas.
import Ajv from 'ajv';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { INTAKE_SCHEMAS } from '../_shared.js';

export interface Intake {
  url: string;
  events: Record<string, Record<string, unknown>>[];
  close(): Promise<void>;
}

export async function startIntake(): Promise<Intake> {
  const events: Intake['events'] = [];
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST' || !req.url?.startsWith('/intake/v2/events')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"8.15.0"}');
      return;
    }
    const body = req.headers['content-encoding'] === 'gzip' ? req.pipe(createGunzip()) : req;
    let text = '';
    body.setEncoding('utf8');
    body.on('data', (c: string) => (text += c));
    body.on('end', () => {
      for (const line of text.split('\n')) if (line.trim()) events.push(JSON.parse(line) as Record<string, Record<string, unknown>>);
      res.writeHead(202).end();
    });
    body.on('error', () => res.writeHead(400).end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    events,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const schemaDir = [join(__dirname, '..', '..', 'receiver', 'schemas'), INTAKE_SCHEMAS].find((d) =>
  existsSync(join(d, 'span.json')),
);
const ajv = new Ajv({ allowUnionTypes: true, strict: false });
const validators = new Map<string, ReturnType<typeof ajv.compile>>();

/** Throws when the inner object of an event line does not validate against its official schema. */
export function assertValidEvent(event: Record<string, unknown>): void {
  const [kind, inner] = Object.entries(event)[0]!;
  if (!schemaDir) throw new Error('intake-v2 schemas not found');
  let v = validators.get(kind);
  if (!v) {
    v = ajv.compile(JSON.parse(readFileSync(join(schemaDir, `${kind}.json`), 'utf8')) as object);
    validators.set(kind, v);
  }
  if (!v(inner)) throw new Error(`${kind} does not validate: ${ajv.errorsText(v.errors)}\n${JSON.stringify(inner)}`);
}
