// Public surface of rules/: the catalogue, the option resolver, naming helpers and the ABI contract.
export { RULES, ROUTE_METHODS, INTEGRATIONS, ruleById } from './catalogue.js';
export type { Integration, Producers, ClassRef, MethodResult, DependencyRule } from './integration.js';
export { DEPENDENCY_RULES, DependencyMatcher, packageFile, satisfies } from './deps.js';
export type { PackageFile } from './deps.js';
export type { Rule, CallRule, RouteRule, DecoratorRule, WrapRule, FileRule, LoopRule, TargetMatch, CallHandler, RouteShape, SpanFacts } from './catalogue.js';
export { resolveOptions, globToRegExp, isIncluded, SpanforgeOptionsError } from './options.js';
export type { SpanforgeOptions, ResolvedOptions, UserRuleOption } from './options.js';
export { packageOfFile, normalizeModuleName, routeTemplateName, memberSpanName, sqlSummary } from './naming.js';
export { ABI_VERSION, RUNTIME_MODULE, ABI_BINDING, SITES_BINDING, ABI_HELPERS } from './abi.js';
export type { SiteDescriptor } from './abi.js';
