// An in-memory AbiCore for tests: records spans, transactions and errors, checks each ends exactly once.
import { AsyncLocalStorage } from 'node:async_hooks';
import { setAbiCore, type AbiCore } from '../../runtime/abi.js';
import type { Span, Transaction } from '../../runtime/types.js';

export interface Rec {
  kind: 'transaction' | 'span';
  id: string;
  name: string;
  type: string;
  subtype?: string;
  action?: string;
  parent?: string;
  outcome?: string;
  result?: string;
  ended: number;
  loc?: unknown;
  db?: Record<string, unknown>;
  http?: Record<string, unknown>;
  dest?: Record<string, unknown>;
}

export function installRecorder(opts: { active?: boolean } = {}) {
  const als = new AsyncLocalStorage<Span | Transaction>();
  const records: Rec[] = [];
  const errors: { err: unknown; handled: boolean; parent?: string }[] = [];
  let n = 0;
  function make(kind: 'transaction' | 'span', name: string, type: string, o: { subtype?: string; action?: string } = {}): Span & Transaction {
    const parent = als.getStore();
    const rec: Rec = { kind, id: `${kind[0]}${++n}`, name, type, ended: 0, ...(o.subtype ? { subtype: o.subtype } : {}), ...(o.action ? { action: o.action } : {}), ...(parent ? { parent: parent.id } : {}) };
    records.push(rec);
    const obj = {
      kind,
      id: rec.id,
      traceId: 't'.repeat(32),
      sampled: true,
      get name() { return rec.name; },
      set name(v: string) { rec.name = v; },
      type,
      get ended() { return rec.ended > 0; },
      setLabel() {},
      addLabels() {},
      setOutcome(o: string) { rec.outcome = o; },
      setResult(r: string) { rec.result = r; },
      traceparent: () => `00-${'t'.repeat(32)}-${rec.id.padStart(16, '0')}-01`,
      tracestate: () => undefined,
      end() {
        rec.ended++;
        if (rec.ended > 1) throw new Error(`${rec.name} ended twice`);
      },
      setDbContext(d: Record<string, unknown>) { rec.db = { ...rec.db, ...d }; },
      setHttpContext(h: Record<string, unknown>) { rec.http = { ...rec.http, ...h }; },
      setDestination(d: Record<string, unknown>) { rec.dest = d; },
      setCodeLocation(l: unknown) { rec.loc = l; },
      setUserContext() {},
      setCustomContext() {},
      setRequestContext() {},
      setResponseContext() {},
    };
    return obj as unknown as Span & Transaction;
  }
  const core: AbiCore = {
    active: () => opts.active !== false,
    startTransaction: (name, type) => make('transaction', name, type),
    startSpan: (name, type, o) => (als.getStore() ? make('span', name, type, o) : undefined),
    current: () => als.getStore(),
    currentTransaction: () => {
      const s = als.getStore();
      if (!s) return undefined;
      if (s.kind === 'transaction') return s as Transaction;
      return records.find((r) => r.kind === 'transaction') ? (s as unknown as Transaction) : undefined;
    },
    runWith: (h, fn, thisArg, args) => als.run(h as Span, () => Reflect.apply(fn, thisArg, args)),
    captureError: (err, o) => {
      errors.push({ err, handled: o.handled, ...(o.parent ? { parent: o.parent.id } : {}) });
    },
    warn: () => {},
  };
  setAbiCore(core);
  return { records, errors, core, uninstall: () => setAbiCore(undefined) };
}
