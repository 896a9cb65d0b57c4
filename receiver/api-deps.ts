// The /api routes of the service map, dependencies, latency distribution, transaction search and
// event detail views (queries in receiver/queries-deps.ts), each declaring its parameters with
// receiver/params.ts, and the background catch-up of the dependency rollups after stored batches.
import { ApiNotFound, int, ParamError, RANGE, rangeOf, route, str, type ApiRoute, type ParamParser } from './params.js';
import { DepsQueries, type SearchFilters } from './queries-deps.js';
import type { Store } from './store.js';

/** Rows the background catch-up reads per turn of the event loop (a few ms each). */
const BACKGROUND_ROWS = 5000;
/** Longest duration bound accepted by the search (µs): 100 days. */
const MAX_DURATION_US = 100 * 86400 * 1e6;

/** One of a fixed set of values; absent or empty gives undefined. */
function oneOf(values: readonly string[]): ParamParser<string | undefined> {
  const s = str({ maxLength: 64 });
  return (v, name) => {
    const x = s(v, name);
    if (x === undefined || x === '') return undefined;
    if (!values.includes(x)) throw new ParamError(name, `query parameter '${name}' must be one of ${values.join(', ')}, got '${x.slice(0, 40)}'`);
    return x;
  };
}
/** A label filter `key:value` (key not empty, at most 1024 characters in all). */
const label: ParamParser<string | undefined> = (v, name) => {
  const x = str()(v, name);
  if (x === undefined || x === '') return undefined;
  const i = x.indexOf(':');
  if (i <= 0) throw new ParamError(name, `query parameter '${name}' must be key:value (a label name, a colon, its value), got '${x.slice(0, 40)}'`);
  return x;
};
/** A trace id: 32 hex characters (any case). */
const traceIdParam: ParamParser<string | undefined> = (v, name) => {
  const x = str({ maxLength: 64 })(v, name);
  if (x === undefined || x === '') return undefined;
  if (!/^[0-9a-fA-F]{32}$/.test(x)) throw new ParamError(name, `query parameter '${name}' must be a trace id of 32 hex characters, got '${x.slice(0, 40)}'`);
  return x;
};
const optStr = (): ParamParser<string | undefined> => {
  const s = str();
  return (v, name) => s(v, name) || undefined;
};

/** Creates the queries, starts the background catch-up and returns the routes for the server's table. */
export function depsRoutes(store: Store): ApiRoute[] {
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
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(step);
  };
  store.on('change', schedule);
  schedule();

  const nameParam = str();
  const required: ParamParser<string> = (v, name) => {
    const x = nameParam(v, name);
    if (x === undefined) throw new ParamError(name, `query parameter '${name}' is required`);
    return x;
  };
  return [
    route('/api/service-map', RANGE, (_m, p) => deps.serviceMap(rangeOf(p))),
    route('/api/dependencies', { ...RANGE, service: optStr() }, (_m, p) => deps.dependencies(rangeOf(p), p.service)),
    route('/api/dependency', { ...RANGE, name: required, service: optStr() }, (_m, p) => deps.dependency(p.name, rangeOf(p), p.service) ?? new ApiNotFound(`no calls to ${p.name} in this range`)),
    route('/api/services/:name/distribution', { ...RANGE, name: required }, (m, p) => deps.distribution(m.name!, p.name, rangeOf(p))),
    route(
      '/api/search',
      {
        ...RANGE,
        traceId: traceIdParam,
        service: optStr(),
        name: optStr(),
        outcome: oneOf(['success', 'failure', 'unknown']),
        result: optStr(),
        label,
        version: optStr(),
        environment: optStr(),
        minUs: int({ min: 0, max: MAX_DURATION_US, dflt: undefined }),
        maxUs: int({ min: 0, max: MAX_DURATION_US, dflt: undefined }),
        limit: int({ min: 1, max: 100, dflt: 50 }),
      },
      (_m, p) => {
        const f: SearchFilters = {};
        for (const k of ['traceId', 'service', 'name', 'outcome', 'result', 'label', 'version', 'environment'] as const) if (p[k] !== undefined) f[k] = p[k];
        if (p.minUs !== undefined) f.minUs = p.minUs;
        if (p.maxUs !== undefined) f.maxUs = p.maxUs;
        if (f.minUs !== undefined && f.maxUs !== undefined && f.maxUs < f.minUs) throw new ParamError('maxUs', `query parameter 'maxUs' (${f.maxUs}) must not be below 'minUs' (${f.minUs})`);
        f.limit = p.limit;
        return deps.search(f, rangeOf(p));
      },
    ),
    route('/api/events/:kind/:traceId/:id', {}, (m) => {
      if (m.kind !== 'transaction' && m.kind !== 'span') throw new ParamError('path segment 3', `path segment 3 must be transaction or span, got '${m.kind!.slice(0, 40)}'`);
      return deps.event(m.kind, m.traceId!, m.id!) ?? new ApiNotFound(`no ${m.kind} ${m.id} in trace ${m.traceId}`);
    }),
  ];
}
