// Transport entry point of the edge build (dist/edge, the `workerd`/`worker` export conditions): the
// build (scripts/build.mjs) puts this file where ./index.js is, so undici and node:http never load there.
import type { Transport, TransportOptions } from '../types.js';
import { FetchTransport } from './fetch-transport.js';

/** Creates the fetch-based intake-v2 transport (runtime/transport/fetch-transport.ts). Never throws. */
export function createTransport(opts: TransportOptions): Transport {
  return new FetchTransport(opts);
}
