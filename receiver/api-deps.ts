// The /api routes of the service map, dependencies, latency distribution, transaction search and
// event detail views (queries in receiver/queries-deps.ts), and the background catch-up of the
// dependency rollups after each stored batch.
import type { Range } from './queries.js';
import { DepsQueries, type SearchFilters } from './queries-deps.js';
import type { Store } from './store.js';

export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** Rows the background catch-up reads per turn of the event loop (a few ms each). */
const BACKGROUND_ROWS = 5000;

/**
 * Creates the queries and returns the router: `seg` is the decoded path (['api', ...]); undefined
 * means "not one of these routes".
 */
export function registerDepsApi(store: Store): (seg: string[], q: URLSearchParams, r: Range) => ApiAnswer | undefined {
  const deps = new DepsQueries(store.db);
  // Keep the rollups current while events arrive, so a view never waits for a long catch-up.
  let scheduled = false;
  const step = (): void => {
    if (!store.db.open) return void (scheduled = false); // closed (shutdown, or the port was taken)
    try {
      if (deps.sync(BACKGROUND_ROWS) >= BACKGROUND_ROWS) return void setImmediate(step);
    } catch (err) {
      store.emit('error-logged', err);
    }
    scheduled = false;
  };
  store.on('change', () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(step);
  });
  setImmediate(() => {
    if (!scheduled) {
      scheduled = true;
      step();
    }
  });

  const bad = (name: string, why: string): ApiAnswer => ({ status: 400, body: { error: `invalid parameter ${name}: ${why}` } });
  const opt = (q: URLSearchParams, k: string): string | undefined => {
    const v = q.get(k);
    return v === null || v === '' ? undefined : v;
  };

  return (seg, q, r) => {
    if (seg[1] === 'service-map' && seg.length === 2) return { status: 200, body: deps.serviceMap(r) };
    if (seg[1] === 'dependencies' && seg.length === 2) return { status: 200, body: deps.dependencies(r, opt(q, 'service')) };
    if (seg[1] === 'dependency' && seg.length === 2) {
      const name = opt(q, 'name');
      if (name === undefined) return bad('name', 'required');
      const body = deps.dependency(name, r, opt(q, 'service'));
      return body ? { status: 200, body } : { status: 404, body: { error: `no calls to ${name} in this range` } };
    }
    if (seg[1] === 'services' && seg.length === 4 && seg[3] === 'distribution') {
      const name = q.get('name');
      if (name === null) return bad('name', 'required');
      return { status: 200, body: deps.distribution(seg[2]!, name, r) };
    }
    if (seg[1] === 'search' && seg.length === 2) {
      const f: SearchFilters = {};
      for (const k of ['service', 'traceId', 'name', 'outcome', 'result', 'label', 'version', 'environment'] as const) {
        const v = opt(q, k);
        if (v !== undefined) f[k] = v;
      }
      if (f.label !== undefined && !/^[^:]+:/.test(f.label)) return bad('label', 'expected key:value');
      for (const k of ['minUs', 'maxUs', 'limit'] as const) {
        const v = opt(q, k);
        if (v === undefined) continue;
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0) return bad(k, 'expected a number >= 0');
        f[k] = n;
      }
      return { status: 200, body: deps.search(f, r) };
    }
    if (seg[1] === 'events' && seg.length === 5 && (seg[2] === 'transaction' || seg[2] === 'span')) {
      const body = deps.event(seg[2], seg[3]!, seg[4]!);
      return body ? { status: 200, body } : { status: 404, body: { error: `no ${seg[2]} ${seg[4]} in trace ${seg[3]}` } };
    }
    return undefined;
  };
}
