// The contract between emitted code and runtime/abi.ts: ABI version, the helper names emitted code
// calls and the shape of one static site descriptor. runtime/abi.ts mirrors these (a test pins both).

/** Bumped on any incompatible change of the helpers or the site shape. */
export const ABI_VERSION = 1;
/** The module emitted code imports (overridable with the `runtimeModule` option). */
export const RUNTIME_MODULE = 'spanforge/runtime';
/** Local names emitted code binds; their presence marks a module as already instrumented. */
export const ABI_BINDING = '__spanforge';
export const SITES_BINDING = '__spanforge_sites';

/** The helpers of `spanforge/runtime` v1 that emitted code calls. */
export const ABI_HELPERS = {
  /** `sites(version, file, [site...])` → the module's site table (called once per module). */
  sites: 'sites',
  /** `call(site, thisArg, fn, ...args)` → `fn.apply(thisArg, args)` inside an exit/app span. */
  call: 'call',
  /** `route(site, handler)` → the handler wrapped to name/continue the request's transaction. */
  route: 'route',
  /** `trace(site, body)` → `body()` inside a span, or a `background` transaction when none is active (decorated method bodies; `body` is an arrow function so `this`/`arguments`/`super` stay the method's). */
  trace: 'trace',
  /** `wrap(site, fn)` → fn wrapped so each call is a span (`traced(fn)`). */
  wrap: 'wrap',
  /** `loop(site, value)` → the iteration of a `for await` consumer loop (`fail(err)` returns err, `end()`); the body is wrapped in try/catch/finally. */
  loop: 'loop',
} as const;

/**
 * One static site, as emitted into the module's site table. Keys are short on purpose: the table is
 * emitted once per module and read on every call.
 */
export interface SiteDescriptor {
  /** rule id (`pg.query`, `express.route`, `user:OrderService.place`) */
  rule: string;
  /** run-time handler: pg | fetch | undici | http | app | express | fastify | node-http | traced */
  handler: string;
  /** span/transaction name when known at build time (route template, traced name); else null */
  name: string | null;
  type: string;
  subtype?: string;
  action?: string;
  /** HTTP method of a route registration (`GET`, `*` for any) */
  method?: string;
  line: number;
  column: number;
  /** enclosing function (`UserService.find`, `<anonymous>`, `<module>`) */
  function: string;
}
