// The integrations whose handlers are given to a library's constructor rather than passed through a
// call (BullMQ's `new Worker(name, processor)`): one line per library, `export { wrappers as <name> }`.
// route() (abi.ts) looks the site's handler name up in their `wrappers` tables.
export { wrappers as bullmq } from '../integrations/bullmq/runtime.js';
export { wrappers as nextjs } from '../integrations/nextjs/runtime.js';
export { wrappers as koa } from '../integrations/koa/runtime.js';
