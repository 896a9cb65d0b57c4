// @Traced() as real decorator syntax compiled by TypeScript both ways: experimentalDecorators (legacy) and standard (TC39).
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import ts from 'typescript';
import * as api from '../../runtime/index.js';
import { freshAgent, type CapturingTransport } from './helpers.js';
import { storage } from '../../runtime/context.js';

let transport: CapturingTransport;
beforeEach(async () => {
  ({ transport } = await freshAgent());
});

const source = `
import { Traced } from 'spanforge';
export class Orders {
  constructor(private readonly rate: number) {}
  @Traced()
  total(n: number): number { return n * this.rate; }
  @Traced({ name: 'Orders.load!', type: 'db' })
  async load(id: string): Promise<string> { await null; return 'order:' + id; }
  @Traced()
  fail(): never { throw new RangeError('no'); }
  @Traced()
  static make(): Orders { return new Orders(2); }
}
`;

function compile(experimentalDecorators: boolean): { Orders: any } {
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, experimentalDecorators },
  });
  // Standard decorators must really be emitted as such (no __decorate helper), and legacy ones as __decorate.
  assert.equal(out.outputText.includes('__decorate('), experimentalDecorators);
  const mod = { exports: {} as Record<string, unknown> };
  new Function('require', 'module', 'exports', out.outputText)((id: string) => {
    if (id === 'spanforge') return api;
    throw new Error(`unexpected require ${id}`);
  }, mod, mod.exports);
  return mod.exports as { Orders: any };
}

for (const legacy of [true, false]) {
  test(`@Traced() compiled with ${legacy ? 'experimentalDecorators' : 'standard decorators'}`, async () => {
    const { Orders } = compile(legacy);
    await storage.run(undefined as never, async () => {
      const tx = api.startTransaction('t');
      const o = Orders.make();
      assert.equal(o.total(4), 8, 'this and return value preserved');
      assert.equal(await o.load('9'), 'order:9');
      assert.throws(() => o.fail(), (e: unknown) => e instanceof RangeError && e.message === 'no');
      assert.equal(o.total.name, 'total');
      tx.end();
    });
    await api.flush();
    assert.deepEqual(
      transport.of('span').map((s) => [s.name, s.type, s.outcome]),
      [
        ['Orders.make', 'app', 'success'],
        ['Orders.total', 'app', 'success'],
        ['Orders.load!', 'db', 'success'],
        ['Orders.fail', 'app', 'failure'],
      ],
    );
    assert.equal(transport.of('error')[0]?.exception.type, 'RangeError');
  });
}
