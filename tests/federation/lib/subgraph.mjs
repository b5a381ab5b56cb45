// subgraph.mjs - what every test subgraph shares: a fastify server on 127.0.0.1 that counts
// the GraphQL requests it receives, so that tests can assert a gateway's query plan.
//
//   GET  /__counts         {total, service, root, entities: {calls, representations,
//                           byType: {T: {calls, representations}}}, log: [{kind, query,
//                           variables, representations}]}   (log: the last 200 requests)
//   POST /__counts/reset   zero the counters and the log
//   POST /__state/reset    restore the initial data (lib/data.mjs) and zero the counters
//
// A request's kind: "service" when it selects _service (the gateway fetching the SDL),
// "entities" when it selects _entities (its representations counted, by __typename),
// "root" otherwise. The counts are also available in-process as the `counts()` function
// that start() returns.
import Fastify from 'fastify';
import { Kind, graphql, parse } from 'graphql';
import { resetState } from './data.mjs';

function emptyCounts() {
  return { total: 0, service: 0, root: 0, entities: { calls: 0, representations: 0, byType: {} }, log: [] };
}

// Classify one GraphQL request body and add it to `c`.
export function countRequest(c, body) {
  c.total += 1;
  const entry = { kind: 'root', query: body?.query, variables: body?.variables ?? null, operationName: body?.operationName ?? null };
  let doc;
  try {
    doc = parse(body?.query ?? '');
  } catch {
    entry.kind = 'unparsable';
    c.log.push(entry);
    return;
  }
  const fields = [];
  for (const def of doc.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue;
    for (const sel of def.selectionSet.selections) if (sel.kind === Kind.FIELD) fields.push(sel);
  }
  if (fields.some((f) => f.name.value === '_service')) {
    entry.kind = 'service';
    c.service += 1;
  } else if (fields.some((f) => f.name.value === '_entities')) {
    entry.kind = 'entities';
    c.entities.calls += 1;
    let reps = [];
    for (const f of fields.filter((x) => x.name.value === '_entities')) {
      const arg = f.arguments.find((a) => a.name.value === 'representations');
      if (!arg) continue;
      if (arg.value.kind === Kind.VARIABLE) reps = reps.concat(body?.variables?.[arg.value.name.value] ?? []);
      else if (arg.value.kind === Kind.LIST) reps = reps.concat(arg.value.values.map(() => ({ __typename: '?' })));
    }
    entry.representations = reps;
    c.entities.representations += reps.length;
    const seen = new Set();
    for (const r of reps) {
      const t = r?.__typename ?? '?';
      const bt = (c.entities.byType[t] ??= { calls: 0, representations: 0 });
      bt.representations += 1;
      if (!seen.has(t)) { bt.calls += 1; seen.add(t); }
    }
  } else {
    c.root += 1;
  }
  c.log.push(entry);
  if (c.log.length > 200) c.log.shift();
}

// Start a fastify app for one subgraph. `install(app)` registers the GraphQL route(s) on
// POST /graphql. Returns {name, url, port, close, counts, app}.
export async function serveSubgraph(name, install, { port = 0, host = '127.0.0.1' } = {}) {
  let c = emptyCounts();
  const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024 });
  app.addHook('preHandler', async (req) => {
    if (req.method === 'POST' && req.url.split('?')[0] === '/graphql' && req.body) {
      if (Array.isArray(req.body)) for (const b of req.body) countRequest(c, b);
      else countRequest(c, req.body);
    }
  });
  app.get('/__counts', async () => c);
  app.post('/__counts/reset', async () => { c = emptyCounts(); return { ok: true }; });
  app.post('/__state/reset', async () => { resetState(); c = emptyCounts(); return { ok: true }; });
  await install(app);
  await app.listen({ port, host });
  const addr = app.server.address();
  const url = `http://${host}:${addr.port}/graphql`;
  return {
    name,
    url,
    wsUrl: `ws://${host}:${addr.port}/graphql`,
    port: addr.port,
    app,
    counts: () => c,
    resetCounts: () => { c = emptyCounts(); },
    close: () => app.close(),
  };
}

// Serve a graphql-js schema (one built by @apollo/subgraph's buildSubgraphSchema) on
// POST /graphql with graphql-js's own execute, as a plain GraphQL-over-HTTP server does.
export function graphqlJsRoute(schema) {
  return async (app) => {
    app.post('/graphql', async (req, reply) => {
      const b = req.body ?? {};
      if (typeof b.query !== 'string') {
        reply.code(400);
        return { errors: [{ message: 'POST body must be JSON with a "query" string' }] };
      }
      const result = await graphql({
        schema, source: b.query, variableValues: b.variables ?? undefined,
        operationName: b.operationName ?? undefined, contextValue: { headers: req.headers },
      });
      return result;
    });
  };
}
