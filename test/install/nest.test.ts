// Getting started, the Nest CLI path, from the packed tarball into a fresh Nest project: `nest build`
// calls the TypeScript API itself, so ts-patch patches TypeScript in place (`ts-patch install`) and
// the tsconfig plugin runs. The controller's @Controller() + @Get('hello') name the request transaction
// `GET /hello` (integrations/nestjs), the handler is a span in it, the @Traced() body and its fetch spans
// under that; the trace must arrive at a test intake.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { agentEnv, assertValidEvent, bin, freshProject, packSpanforge, startIntake, type Intake } from './_project.js';

let tarball: string;
let intake: Intake;
before(async () => {
  tarball = packSpanforge();
  intake = await startIntake();
});
after(() => intake.close());

const CONTROLLER = `import { Controller, Get } from '@nestjs/common';
import { Traced } from 'spanforge';

@Controller()
export class AppController {
  static port = 0;

  @Get('hello')
  @Traced()
  async hello(): Promise<string> {
    const upstream = await fetch(\`http://127.0.0.1:\${AppController.port}/ping\`);
    return 'hello ' + (await upstream.text());
  }

  @Get('ping')
  ping(): string {
    return 'pong';
  }
}
`;
const MODULE = `import { Module } from '@nestjs/common';
import { AppController } from './app.controller';

@Module({ controllers: [AppController] })
export class AppModule {}
`;
const MAIN = `import 'spanforge/start';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { AppController } from './app.controller';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  AppController.port = (app.getHttpServer().address() as { port: number }).port;
  const r = await fetch(\`http://127.0.0.1:\${AppController.port}/hello\`);
  console.log('app said:', await r.text());
  await app.close();
}
void bootstrap();
`;
const TSCONFIG = {
  compilerOptions: {
    module: 'commonjs', target: 'es2022', rootDir: 'src', outDir: 'dist', types: ['node'], skipLibCheck: true,
    experimentalDecorators: true, emitDecoratorMetadata: true, esModuleInterop: true,
    plugins: [{ transform: 'spanforge/transformer' }],
  },
  include: ['src'],
};

test('nest build with ts-patch install and the tsconfig plugin: the route-named transaction, the controller span and its fetch arrive as a trace', { timeout: 300_000 }, async (t) => {
  const p = freshProject('nest', 'commonjs');
  t.after(() => p.remove());
  await p.install([tarball, '@nestjs/core', '@nestjs/common', '@nestjs/platform-express', 'reflect-metadata', 'rxjs']);
  await p.install(['-D', '@nestjs/cli', 'typescript@6', 'ts-patch', '@types/node@20']);
  p.write('nest-cli.json', JSON.stringify({ sourceRoot: 'src' }) + '\n');
  p.write('tsconfig.json', JSON.stringify(TSCONFIG, null, 2) + '\n');
  p.write('src/app.controller.ts', CONTROLLER);
  p.write('src/app.module.ts', MODULE);
  p.write('src/main.ts', MAIN);
  const patch = await p.run(bin(p, 'ts-patch'), ['install', '-s']);
  assert.equal(patch.status, 0, patch.output);
  const build = await p.run(bin(p, 'nest'), ['build']);
  assert.equal(build.status, 0, build.output);
  assert.match(build.output, /spanforge: instrumented 5 sites in 1 of 3 files \((?=.*nestjs\.controller 1)(?=.*nestjs\.route 2)(?=.*traced\.decorator 1)(?=.*fetch 1)/);
  const service = 'gs-nest';
  const run = await p.run(process.execPath, ['dist/main.js'], { env: { ...agentEnv(intake, service), ELASTIC_APM_SERVICE_NAME: service } });
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /app said: hello pong/);
  const deadline = Date.now() + 15_000;
  for (;;) {
    let current: string | undefined;
    const mine: Record<string, Record<string, unknown>>[] = [];
    for (const e of intake.events) {
      if (e.metadata) current = (e.metadata.service as { name?: string }).name;
      else if (current === service) mine.push(e);
    }
    const tx = mine.find((e) => e.transaction?.name === 'GET /hello')?.transaction;
    const handler = tx && mine.find((e) => e.span?.parent_id === tx.id)?.span;
    const span = tx && mine.find((e) => e.span?.transaction_id === tx.id && e.span?.type === 'external')?.span;
    if (tx && handler && span) {
      for (const e of mine) assertValidEvent(e);
      assert.deepEqual([handler.name, handler.type, handler.subtype], ['AppController.hello', 'app', 'nestjs']);
      assert.equal(span.trace_id, tx.trace_id);
      return;
    }
    if (Date.now() > deadline) assert.fail(`no GET /hello trace after 15 s: ${JSON.stringify(mine).slice(0, 1500)}\n${run.output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});
