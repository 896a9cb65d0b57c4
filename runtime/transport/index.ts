// Transport entry point: the runtime calls createTransport() to get the intake-v2 HTTP sender.
import type { Transport } from '../types.js';
import { HttpTransport, type HttpTransportOptions } from './http-transport.js';

export type { HttpTransportOptions, TransportTuning } from './http-transport.js';

/**
 * Creates the intake-v2 transport. Never throws: a bad serverUrl is logged and yields a transport
 * that drops (and counts) every event. Example:
 * `createTransport({ serverUrl: 'http://localhost:8200', ...opts }).send({ span })`.
 */
export function createTransport(opts: HttpTransportOptions): Transport {
  return new HttpTransport(opts);
}
