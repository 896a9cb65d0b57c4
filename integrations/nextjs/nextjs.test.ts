// Next.js file conventions at build time (the Babel analysis, as the bundler step and spanforge/loader
// run it): which exports of which files become sites, what is emitted, what is skipped and why. The
// run-time side (next build with webpack and Turbopack, next start, events at an intake) is proven by
// test/install/next.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { instrumentCode } from '../../bundler/index.js';
import { resolveOptions } from '../../rules/index.js';
import { nextRouteOf } from '../../babel-plugin/nextjs.js';

const opts = resolveOptions({});
const run = (rel: string, code: string) => instrumentCode(code, `/project/${rel}`, rel, opts);

test('route files: the route from the path (groups and slots dropped, private folders not routed)', () => {
  assert.equal(nextRouteOf('app/api/users/[id]/route.ts'), '/api/users/[id]');
  assert.equal(nextRouteOf('src/app/(shop)/cart/@modal/[...slug]/route.js'), '/cart/[...slug]');
  assert.equal(nextRouteOf('app/route.ts'), '/');
  assert.equal(nextRouteOf('app/_lib/route.ts'), undefined);
  assert.equal(nextRouteOf('app/api/users/page.tsx'), undefined);
});

test('route handlers: function declarations get their body traced with arguments, consts are wrapped', () => {
  const r = run('app/api/users/[id]/route.ts', `export async function GET(request: Request) {
  return Response.json({ ok: true });
}
export const POST = async (req: Request) => { return new Response('ok'); };
export const DELETE = () => new Response('x');
export function helper() { return 1; }
`)!;
  assert.deepEqual(r.sites.map((s) => [s.rule, s.handler, s.name, s.method, s.function, s.line]), [
    ['nextjs.route-handler', 'nextjs-route', '/api/users/[id]', 'GET', 'GET', 1],
    ['nextjs.route-handler', 'nextjs-route', '/api/users/[id]', 'POST', 'POST', 4],
    ['nextjs.route-handler', 'nextjs-route', '/api/users/[id]', 'DELETE', 'DELETE', 5],
  ]);
  assert.match(r.code, /export async function GET\(request: Request\) \{ return __spanforge\.trace\(__spanforge_sites\[0\], async \(\) => \{\n {2}return Response\.json\(\{ ok: true \}\);\n\}, arguments\); \}/);
  assert.match(r.code, /export const POST = async \(req: Request\) => \{ return __spanforge\.trace\(__spanforge_sites\[1\], async \(\) => \{ return new Response\('ok'\); \}, \[req\]\); \};/);
  assert.match(r.code, /export const DELETE = __spanforge\.route\(__spanforge_sites\[2\], \(\) => new Response\('x'\)\);/);
  assert.match(r.code, /export function helper\(\) \{ return 1; \}/);
  // Lines do not move: the header is on the first line.
  assert.equal(r.code.split('\n').length, 7);
});

test("server actions: exports of a 'use server' module and inline 'use server' functions; the directive stays first", () => {
  const r = run('app/actions.ts', `'use server';
export async function saveUser(name: string) { return name; }
export const drop = async (id: string) => { return id; };
export const short = async () => 1;
`)!;
  assert.deepEqual(r.sites.map((s) => [s.rule, s.name, s.type, s.subtype, s.action]), [
    ['nextjs.server-action', 'saveUser', 'app', 'nextjs', 'action'],
    ['nextjs.server-action', 'drop', 'app', 'nextjs', 'action'],
  ]);
  assert.ok(r.code.startsWith("'use server'; import * as __spanforge from \"spanforge/runtime\";"), r.code.slice(0, 80));
  assert.deepEqual(r.skipped.map((s) => s.reason), ['short is an arrow function without a block body: write it as `async function short(…) { … }` to have it traced']);
  const inline = run('app/page.tsx', `export default function Page() {
  async function create(data: FormData) { 'use server'; return data; }
  return <form action={create} />;
}
`)!;
  assert.deepEqual(inline.sites.map((s) => [s.rule, s.name]), [['nextjs.server-action', 'create']]);
  assert.match(inline.code, /async function create\(data: FormData\) \{ 'use server'; return __spanforge\.trace\(__spanforge_sites\[0\], async \(\) => \{ return data; \}\); \}/);
});

test('proxy.ts is traced; middleware.ts and Edge routes are skipped with a reason', () => {
  const p = run('proxy.ts', `export function proxy(request: Request) { return undefined; }\nexport const config = { matcher: '/api/:path*' };\n`)!;
  assert.deepEqual(p.sites.map((s) => [s.rule, s.name]), [['nextjs.proxy', 'proxy']]);
  const m = run('middleware.ts', `export function middleware(request: Request) { return undefined; }\n`)!;
  assert.equal(m.sites.length, 0);
  assert.match(m.skipped[0]!.reason, /middleware\.ts runs on the Edge runtime/);
  const e = run('app/api/edge/route.ts', `export const runtime = 'edge';\nexport async function GET() { return new Response('x'); }\n`)!;
  assert.equal(e.sites.length, 0);
  assert.match(e.skipped[0]!.reason, /Edge runtime has no Node\.js agent/);
  const re = run('app/api/re/route.ts', `async function handler() { return new Response('x'); }\nexport { handler as GET };\n`)!;
  assert.match(re.skipped[0]!.reason, /export \{ … as GET \}/);
});

test('files outside the conventions are untouched', () => {
  assert.equal(run('app/lib/users.ts', `export async function GET() { return 1; }\n`), null);
  assert.equal(run('lib/route.ts', `export async function GET() { return 1; }\n`), null);
});

test("index source maps (Turbopack's chunks: sections at offsets) map frames to each section's source", async () => {
  const { createSourceMap } = await import('../../runtime/sourcemap.js');
  // Section 1 at line 0, column 45: "AAAA" maps its first column to a.ts 1:1; ";AACA" maps its next line to a.ts 2:1.
  // Section 2 at line 3, column 0: "AAAA,IAAI" maps columns 0 and 4 to b.ts 1:1 and 1:5.
  const map = createSourceMap({
    version: 3,
    sections: [
      { offset: { line: 0, column: 45 }, map: { version: 3, sources: ['../../app/a.ts'], mappings: 'AAAA;AACA' } },
      { offset: { line: 3, column: 0 }, map: { version: 3, sources: ['../../app/b.ts'], mappings: 'AAAA,IAAI' } },
    ],
  } as never, '/p/.next/server');
  assert.equal(map.lookup(1, 10), undefined); // before the first section
  assert.deepEqual([map.lookup(1, 46)?.source, map.lookup(1, 46)?.line, map.lookup(1, 46)?.column], ['/p/app/a.ts', 1, 1]);
  assert.deepEqual([map.lookup(2, 1)?.source, map.lookup(2, 1)?.line], ['/p/app/a.ts', 2]);
  assert.deepEqual([map.lookup(4, 6)?.source, map.lookup(4, 6)?.line, map.lookup(4, 6)?.column], ['/p/app/b.ts', 1, 5]);
});
