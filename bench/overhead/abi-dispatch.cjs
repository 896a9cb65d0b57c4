// Why the ABI's inactive path costs what it does: the same pass-through call dispatched several ways
// (direct; core from a globalThis symbol slot + active(), as runtime/abi.ts did before; a module-level
// flag; a module-level flag with fixed arity; a module-level core variable + active(), as runtime/abi.ts
// does now, with and without the rest array), timed in alternation. `node bench/overhead/abi-dispatch.cjs`
const SLOT = Symbol.for('spanforge.bench.dispatch');
const inactive = { active: () => false };
function abiCore() { return globalThis[SLOT] ?? inactive; }
const site = { off: false };
// current shape
function callRest(site, thisArg, fn, ...args) {
  const core = abiCore();
  if (site.off || !core.active() || typeof fn !== 'function') return Reflect.apply(fn, thisArg, args);
  return 0;
}
// cached flag, rest
let ACTIVE = false;
function callFlag(site, thisArg, fn, ...args) {
  if (!ACTIVE || site.off) return Reflect.apply(fn, thisArg, args);
  return 0;
}
// fixed arity
function call2(site, thisArg, fn, a, b) {
  if (!ACTIVE || site.off) return fn.call(thisArg, a, b);
  return 0;
}
// module-level core (undefined = inactive) kept current by a setter, then active(): runtime/abi.ts now
let CORE = inactive;
function callLocalCore(site, thisArg, fn, ...args) {
  const core = CORE;
  if (core === undefined || site.off || !core.active() || typeof fn !== 'function') return Reflect.apply(fn, thisArg, args);
  return 0;
}
// the same, passing arguments on by count instead of through a rest array
const fcall = Function.prototype.call;
function callLocalCoreArity(site, thisArg, fn, a, b) {
  const core = CORE;
  if (core === undefined || site.off || !core.active() || typeof fn !== 'function') {
    if (arguments.length === 5 && typeof fn === 'function') return fcall.call(fn, thisArg, a, b);
    return Reflect.apply(fn, thisArg, Array.prototype.slice.call(arguments, 3));
  }
  return 0;
}
const add = (a, b) => a + b;
const now = process.hrtime.bigint;
function mk() { return new Function('op', 'n', 'let acc=0; for (let i=0;i<n;i++) acc += op(i)|0; return acc;'); }
const cases = {
  direct: (i) => add(i, 1),
  rest_globalcore: (i) => callRest(site, undefined, add, i, 1),
  rest_flag: (i) => callFlag(site, undefined, add, i, 1),
  fixed_flag: (i) => call2(site, undefined, add, i, 1),
  rest_localcore: (i) => callLocalCore(site, undefined, add, i, 1),
  arity_localcore: (i) => callLocalCoreArity(site, undefined, add, i, 1),
};
const loops = Object.fromEntries(Object.keys(cases).map((k) => [k, mk()]));
const res = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const N = 2_000_000;
for (let r = 0; r < 15; r++) for (const k of Object.keys(cases)) { const t0 = now(); loops[k](cases[k], N); res[k].push(Number(now() - t0) / N); }
for (const k of Object.keys(res)) { const xs = res[k].slice(3).sort((a, b) => a - b); console.log(k.padEnd(18), xs[xs.length >> 1].toFixed(2), 'ns'); }
