// Transport entry point: the runtime calls createTransport(); the implementation lands in this folder.
import type { Transport, TransportOptions } from '../types.js';

export function createTransport(_opts: TransportOptions): Transport {
  throw new Error('spanforge: transport not implemented yet');
}
