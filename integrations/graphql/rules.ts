// GraphQL at build time: graphql-js's execute/graphql calls in user code become `db`/`graphql`/`execute`
// spans (runtime.ts names the request's transaction by the operation: `query GetUser`); Apollo Server's
// start calls (`startStandaloneServer(server, …)`, `server.start()`) and GraphQL Yoga's `createYoga(opts)`
// are passed through with spanforge's plugin added through each server's public plugin API, so the
// operations those servers execute inside node_modules are named, spanned and their errors reported.
// tsc matches by declaration (graphql's, @apollo/server's and graphql-yoga's types), Babel by import
// bindings and `new ApolloServer()`.
import type { CallRule } from '../../rules/catalogue.js';
import type { Integration } from '../../rules/integration.js';

const span = { type: 'db', subtype: 'graphql', action: 'execute' };

const rules: CallRule[] = [
  {
    id: 'graphql.execute',
    kind: 'call',
    target: { module: ['graphql'], names: ['execute', 'executeSync', 'graphql', 'graphqlSync'] },
    handler: 'graphql',
    nameFromMember: true,
    span,
    description: 'graphql-js execute/executeSync/graphql/graphqlSync: one span per operation (`GraphQL: query GetUser`), run as the current span (resolver spans are its children); the transaction named `query GetUser`; errors of the result reported (the resolver\'s own error when it threw)',
  },
  {
    id: 'graphql.apollo',
    kind: 'call',
    target: { module: ['@apollo/server'], owner: ['ApolloServer'], names: ['start', 'startInBackgroundHandlingStartupErrorsByLoggingAndFailingAllRequests'] },
    handler: 'graphql-apollo',
    quiet: true,
    span,
    description: 'Apollo Server 4/5 server.start(): spanforge\'s Apollo plugin added (server.addPlugin) before the server starts: transaction named by operation, execute span, resolver spans when graphqlResolverSpans is on, GraphQL errors reported',
  },
  {
    id: 'graphql.apollo-standalone',
    kind: 'call',
    target: { module: ['@apollo/server', '@apollo/server/standalone'], names: ['startStandaloneServer'] },
    handler: 'graphql-apollo',
    span,
    description: 'Apollo Server 4/5 startStandaloneServer(server, opts): the same plugin added to its first argument; the request\'s transaction bound as the current context at arrival (the server is created inside @apollo/server)',
  },
  {
    id: 'graphql.yoga',
    kind: 'call',
    target: { module: ['graphql-yoga'], names: ['createYoga'] },
    handler: 'graphql-yoga',
    span,
    description: 'GraphQL Yoga 5 createYoga(opts): called with a copy of opts whose plugins end with spanforge\'s envelop plugin: transaction named by operation, execute span current while the operation runs, resolver spans when graphqlResolverSpans is on, GraphQL errors reported',
  },
  {
    id: 'graphql.resolvers',
    kind: 'call',
    target: { module: ['graphql-yoga', '@graphql-tools/schema'], names: ['createSchema', 'makeExecutableSchema'] },
    handler: 'graphql-resolvers',
    span: { type: 'app', subtype: 'graphql', action: 'resolve' },
    description: 'GraphQL Yoga createSchema / @graphql-tools makeExecutableSchema({ typeDefs, resolvers }): called with a copy of the resolver map whose functions, when graphqlResolverSpans is on, each run in an app/graphql/resolve span (`Query.user`)',
  },
];

export const integration: Integration = {
  name: 'graphql',
  packages: { graphql: '>=16 <17', '@apollo/server': '>=4 <6', 'graphql-yoga': '>=5 <6' },
  rules,
  babel: {
    constructs: { '@apollo/server.ApolloServer': { module: '@apollo/server', cls: 'ApolloServer' } },
  },
};
