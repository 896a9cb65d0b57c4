// The integrations whose messages are consumed by `for await` loops (the front-ends' loop-body rewrite,
// rules kind `loop`): one line per library, `export { loops as <name> }`. loop() (abi.ts) looks the
// site's handler name up in their `loops` tables.
export { loops as nats } from '../integrations/nats/runtime.js';
