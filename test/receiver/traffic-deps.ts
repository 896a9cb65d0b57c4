// Intake-v2 traffic for the service map, dependencies, detail panel, distribution and search tests:
// frontend → checkout → inventory over HTTP (each call's child transaction has the exit span as
// parent), plus postgresql, redis, rabbitmq and an external API that fails every 4th call; labels,
// two service versions, composite and dropped-span stats, stack traces, errors with request/user/labels.
const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');
export const N = 40;
export const MARKUP = '<img src=x onerror="window.__xss=3">';
export const traceId = (i: number) => hex(0xd0000 + i, 32);
export const id = (kind: number, i: number) => hex(kind * 0x100000 + i, 16);
/** ids: 1 frontend tx, 2 frontend→checkout span, 3 checkout tx, 4 db, 5 redis, 6 checkout→inventory, 7 inventory tx, 8 mysql, 9 rabbit, 10 stripe */

const meta = (name: string, version: string) =>
  JSON.stringify({
    metadata: {
      service: { name, environment: 'test', version, agent: { name: 'nodejs', version: 'spanforge-0.1.0' }, language: { name: 'javascript' }, runtime: { name: 'node', version: '20.20.2' }, node: { configured_name: `${name}-1` } },
      process: { pid: 4300, title: 'node' },
      system: { hostname: 'laptop', architecture: 'x64', platform: 'linux' },
      labels: { team: 'shop' },
    },
  });

const exit = (o: Record<string, unknown>) => JSON.stringify({ span: o });

/** Three NDJSON bodies (one per service); timestamps over the 10 minutes before `nowMs`. */
export function buildDepsTraffic(nowMs = Date.now()): { frontend: string; checkout: string[]; inventory: string } {
  const frontend = [meta('frontend', '2.0.0')];
  // checkout runs two versions: the first half of the traces 1.0.0, the second half 1.1.0
  const checkoutA = [meta('checkout', '1.0.0')];
  const checkoutB = [meta('checkout', '1.1.0')];
  const inventory = [meta('inventory', '3.0.0')];
  for (let i = 0; i < N; i++) {
    const t0 = (nowMs - 600_000 + i * 15_000) * 1000;
    const tr = traceId(i);
    const get = i % 2 === 0;
    const checkout = i < N / 2 ? checkoutA : checkoutB;
    const stripeFails = i % 4 === 0;
    frontend.push(
      JSON.stringify({
        transaction: { id: id(1, i), trace_id: tr, name: 'GET /', type: 'request', result: 'HTTP 2xx', outcome: 'success', timestamp: t0, duration: 200 + i, span_count: { started: 1 }, sampled: true },
      }),
      exit({
        id: id(2, i), trace_id: tr, parent_id: id(1, i), transaction_id: id(1, i), name: 'GET checkout:3000', type: 'external', subtype: 'http', action: 'GET',
        timestamp: t0 + 1000, duration: 150 + i, outcome: 'success',
        context: { http: { method: 'GET', url: 'http://checkout:3000/api/orders/1', response: { status_code: 200 } }, destination: { address: 'checkout', port: 3000, service: { resource: 'checkout:3000', name: '', type: '' } }, service: { target: { type: 'http', name: 'checkout:3000' } } },
      }),
    );
    checkout.push(
      JSON.stringify({
        transaction: {
          id: id(3, i), trace_id: tr, parent_id: id(2, i), name: get ? 'GET /api/orders/:id' : 'POST /api/orders', type: 'request', result: stripeFails ? 'HTTP 5xx' : 'HTTP 2xx',
          outcome: stripeFails ? 'failure' : 'success', timestamp: t0 + 2000, duration: 100 + i, sampled: true, sample_rate: 1,
          span_count: { started: 5, dropped: 2 },
          dropped_spans_stats: [{ destination_service_resource: 'redis', service_target_type: 'redis', outcome: 'success', duration: { count: 2, sum: { us: 800 } } }],
          context: {
            tags: { tenant: i % 3 === 0 ? 'acme' : 'globex', attempt: i % 5 },
            request: { method: get ? 'GET' : 'POST', url: { full: `http://checkout:3000/api/orders/${i}`, pathname: `/api/orders/${i}` }, headers: { 'user-agent': 'curl/8' } },
            response: { status_code: stripeFails ? 502 : 200 },
            user: { id: `u${i}`, email: `u${i}@example.com` },
          },
        },
      }),
      exit({
        id: id(4, i), trace_id: tr, parent_id: id(3, i), transaction_id: id(3, i), name: 'SELECT FROM orders', type: 'db', subtype: 'postgresql', action: 'query',
        timestamp: t0 + 3000, duration: 10, outcome: 'success', sync: false, sample_rate: 1,
        context: {
          db: { type: 'sql', instance: 'test', statement: i === 0 ? `SELECT * FROM orders WHERE note = '${MARKUP}'` : 'SELECT * FROM orders WHERE id = $1', rows_affected: 1 },
          destination: { address: '127.0.0.1', port: 5432, service: { resource: 'postgresql/test', name: '', type: '' } }, service: { target: { type: 'postgresql', name: 'test' } },
          tags: { table: 'orders' },
        },
        stacktrace: [{ filename: 'src/orders.ts', abs_path: '/app/src/orders.ts', lineno: 42, colno: 7, function: 'loadOrder', library_frame: false }, { filename: 'node_modules/pg/lib/client.js', lineno: 520, function: 'Client.query', library_frame: true }],
      }),
    );
    if (get) {
      checkout.push(
        exit({
          id: id(5, i), trace_id: tr, parent_id: id(3, i), transaction_id: id(3, i), name: 'GET', type: 'db', subtype: 'redis', action: 'query',
          timestamp: t0 + 14_000, duration: 1, outcome: 'success',
          composite: { count: 3, sum: 2.5, compression_strategy: 'exact_match' },
          context: { db: { type: 'redis', statement: 'GET order:1' }, destination: { address: '127.0.0.1', port: 6379, service: { resource: 'redis', name: '', type: '' } }, service: { target: { type: 'redis' } } },
        }),
      );
    }
    checkout.push(
      exit({
        id: id(6, i), trace_id: tr, parent_id: id(3, i), transaction_id: id(3, i), name: 'GET inventory:4000', type: 'external', subtype: 'http', action: 'GET',
        timestamp: t0 + 20_000, duration: 30, outcome: 'success',
        context: { http: { method: 'GET', url: 'http://inventory:4000/stock/1', response: { status_code: 200 } }, destination: { address: 'inventory', port: 4000, service: { resource: 'inventory:4000', name: '', type: '' } }, service: { target: { type: 'http', name: 'inventory:4000' } } },
      }),
      exit({
        id: id(9, i), trace_id: tr, parent_id: id(3, i), transaction_id: id(3, i), name: 'RabbitMQ SEND to orders', type: 'messaging', subtype: 'rabbitmq', action: 'send',
        timestamp: t0 + 55_000, duration: 2, outcome: 'success',
        context: { message: { queue: { name: 'orders' } }, destination: { service: { resource: 'rabbitmq/orders', name: '', type: '' } }, service: { target: { type: 'rabbitmq', name: 'orders' } } },
      }),
      exit({
        id: id(10, i), trace_id: tr, parent_id: id(3, i), transaction_id: id(3, i), name: 'POST api.stripe.com', type: 'external', subtype: 'http', action: 'POST',
        timestamp: t0 + 60_000, duration: 50, outcome: stripeFails ? 'failure' : 'success',
        context: { http: { method: 'POST', url: 'https://api.stripe.com/v1/charges', response: { status_code: stripeFails ? 502 : 200 } }, destination: { address: 'api.stripe.com', port: 443, service: { resource: 'api.stripe.com:443', name: '', type: '' } }, service: { target: { type: 'http', name: 'api.stripe.com:443' } } },
      }),
    );
    if (stripeFails) {
      checkout.push(
        JSON.stringify({
          error: {
            id: hex(0xe000 + i, 32), trace_id: tr, transaction_id: id(3, i), parent_id: id(10, i), timestamp: t0 + 61_000, culprit: 'charge (src/pay.ts)',
            exception: { type: 'PaymentError', message: `card declined #${i}`, handled: false, stacktrace: [{ filename: 'src/pay.ts', lineno: 9, function: 'charge', library_frame: false }] },
            transaction: { name: get ? 'GET /api/orders/:id' : 'POST /api/orders', type: 'request', sampled: true },
            context: {
              request: { method: 'POST', url: { full: 'https://api.stripe.com/v1/charges' }, headers: { 'content-type': 'application/json' } },
              user: { id: `u${i}`, username: `user ${i}`, email: `u${i}@example.com` },
              tags: { tenant: 'acme', card: MARKUP },
            },
          },
        }),
      );
    }
    inventory.push(
      JSON.stringify({
        transaction: { id: id(7, i), trace_id: tr, parent_id: id(6, i), name: 'GET /stock/:id', type: 'request', result: 'HTTP 2xx', outcome: 'success', timestamp: t0 + 21_000, duration: 25, span_count: { started: 1 }, sampled: true },
      }),
      exit({
        id: id(8, i), trace_id: tr, parent_id: id(7, i), transaction_id: id(7, i), name: 'SELECT FROM stock', type: 'db', subtype: 'mysql', action: 'query',
        timestamp: t0 + 22_000, duration: 5, outcome: 'success',
        context: { db: { type: 'sql', instance: 'test', statement: 'SELECT qty FROM stock WHERE id = ?' }, destination: { address: '127.0.0.1', port: 3306, service: { resource: 'mysql/test', name: '', type: '' } }, service: { target: { type: 'mysql', name: 'test' } } },
      }),
    );
  }
  const nd = (a: string[]) => a.join('\n') + '\n';
  return { frontend: nd(frontend), checkout: [nd(checkoutA), nd(checkoutB)], inventory: nd(inventory) };
}
