// NestJS at build time: the decorator factories of @nestjs/common written in the app's own source
// (`@Controller('users')`, `@Get(':id')`, `@UseGuards(AuthGuard)`, `@Param('id', ParseIntPipe)`,
// `@Catch(HttpException)`, `@Module({ providers: [{ provide: APP_GUARD, … }] })`) and the app's
// `setGlobalPrefix`/`useGlobal*` calls in main.ts are calls the runtime (runtime.ts) passes through,
// wrapping what they return or receive: the route decorator wraps the controller method (transaction
// name from the controller and route templates, a span per call), the enhancer decorators wrap the
// guards', interceptors', pipes' and filters' methods (a span each; a filter's `catch` marks the
// exception handled). Nest itself (node_modules) is never rewritten, so `nest build` (tsc) and a
// bundle see the same sites. tsc matches the declarations in @nestjs/common; Babel the imported
// bindings and `await NestFactory.create()` for the app.
import type { CallRule } from '../../rules/catalogue.js';
import type { Integration } from '../../rules/integration.js';

const common = ['@nestjs/common'];
const span = { type: 'app', subtype: 'nestjs' } as const;

/** A free-function rule of @nestjs/common: tsc names no site after an imported function, so each role has its handler. */
function decorator(id: string, names: string[], handler: string, description: string): CallRule {
  return { id, kind: 'call', target: { module: common, names }, handler, quiet: true, span, description };
}

const rules: CallRule[] = [
  decorator('nestjs.controller', ['Controller'], 'nestjs-controller', "@Controller(path): the controller's route prefix, joined with each route decorator's path into the transaction name"),
  decorator(
    'nestjs.route',
    ['Get', 'Post', 'Put', 'Delete', 'Patch', 'Options', 'Head', 'All', 'Search'],
    'nestjs-route',
    '@Get(path)/@Post/@Put/@Delete/@Patch/@Options/@Head/@All/@Search on a controller method: the request transaction named `GET /users/:id` (global prefix, controller and route paths), an app/nestjs span `UsersController.findOne` per call, its errors reported (handled when an app exception filter took them)',
  ),
  decorator('nestjs.guards', ['UseGuards'], 'nestjs-guard', '@UseGuards(...guards): an app/nestjs span per canActivate call (`AuthGuard.canActivate`)'),
  decorator('nestjs.interceptors', ['UseInterceptors'], 'nestjs-interceptor', '@UseInterceptors(...interceptors): an app/nestjs span per intercept call (the call itself, not the observable it returns)'),
  decorator('nestjs.pipes', ['UsePipes', 'Param', 'Body', 'Query'], 'nestjs-pipe', '@UsePipes(...pipes) and the pipes of @Param/@Body/@Query(name?, ...pipes): an app/nestjs span per transform call (`ParseIntPipe.transform`)'),
  decorator('nestjs.filters', ['UseFilters'], 'nestjs-filter', '@UseFilters(...filters): an app/nestjs span per catch call; the exception is reported handled'),
  decorator('nestjs.catch', ['Catch'], 'nestjs-catch', '@Catch(...types) on an exception filter class: an app/nestjs span per catch call; the exception is reported handled'),
  decorator('nestjs.module', ['Module'], 'nestjs-module', '@Module({ providers }): APP_GUARD/APP_INTERCEPTOR/APP_PIPE/APP_FILTER providers (useClass, useValue) get the spans of their role'),
  {
    id: 'nestjs.app',
    kind: 'call',
    target: { module: common, owner: ['INestApplication'], names: ['setGlobalPrefix', 'useGlobalGuards', 'useGlobalInterceptors', 'useGlobalPipes', 'useGlobalFilters'] },
    handler: 'nestjs-app',
    nameFromMember: true,
    quiet: true,
    span,
    description: 'app.setGlobalPrefix(prefix) (joined into the transaction names), app.useGlobalGuards/Interceptors/Pipes/Filters(...): spans as for the decorators',
  },
];

const app = { module: '@nestjs/common', cls: 'INestApplication' } as const;

export const integration: Integration = {
  name: 'nestjs',
  packages: { '@nestjs/common': '>=11 <12', '@nestjs/core': '>=11 <12' },
  rules,
  babel: {
    calls: { '@nestjs/core.NestFactory.create': { promiseOf: app } },
    types: {
      '@nestjs/common.INestApplication': app,
      '@nestjs/platform-express.NestExpressApplication': app,
      '@nestjs/platform-fastify.NestFastifyApplication': app,
    },
  },
};
