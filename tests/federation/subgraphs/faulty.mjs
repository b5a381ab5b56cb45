// faulty - a fifth service that misbehaves on purpose, for the "bad input" tests of issue
// 11 (not part of the oracle's composition). @apollo/subgraph; it answers { _service { sdl } }
// correctly (except in mode "invalid-sdl") so that a gateway composes it, then fails every
// other request the way `mode` says:
//
//   hang         never answers (the socket stays open)
//   slow         answers correctly after `delayMs` (default 3000)
//   500          HTTP 500 with a JSON error body
//   html         HTTP 200, Content-Type text/html, an HTML page
//   not-json     HTTP 200, Content-Type application/json, a body that is not JSON
//   huge         HTTP 200, a valid answer of about `hugeBytes` (default 50 MB)
//   errors       HTTP 200, {"data": null, "errors": [...]} for everything
//   invalid-sdl  _service { sdl } returns an SDL that does not parse
//   ok           behaves
//
// Its schema: Query.faultyStatus and Product extended by "upc" with `faultyNote`, so that a
// query can mix its fields with the healthy services' and check that only they are lost.
//   start({port, mode, delayMs, hugeBytes}) -> the same handle as the other subgraphs
import gql from 'graphql-tag';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql } from 'graphql';
import { serveSubgraph } from '../lib/subgraph.mjs';

export const typeDefs = gql`
  extend type Query {
    faultyStatus: String
  }

  extend type Product @key(fields: "upc") {
    upc: String! @external
    faultyNote: String
  }
`;

export const resolvers = {
  Query: { faultyStatus: () => 'fine' },
  Product: {
    __resolveReference: (ref) => ({ upc: ref.upc }),
    faultyNote: (p) => `note on ${p.upc}`,
  },
};

export const schema = buildSubgraphSchema([{ typeDefs, resolvers }]);

export function start({ port = 0, mode = 'ok', delayMs = 3000, hugeBytes = 50 * 1024 * 1024 } = {}) {
  return serveSubgraph(`faulty-${mode}`, async (app) => {
    app.post('/graphql', async (req, reply) => {
      const b = req.body ?? {};
      const isSdl = /\b_service\b/.test(b.query ?? '');
      if (isSdl) {
        if (mode === 'invalid-sdl') return { data: { _service: { sdl: 'extend type Query { faultyStatus: String @key(fields: ' } } };
        return graphql({ schema, source: b.query, variableValues: b.variables });
      }
      switch (mode) {
        case 'hang':
          return new Promise(() => {});
        case 'slow':
          await new Promise((r) => setTimeout(r, delayMs));
          break;
        case '500':
          reply.code(500);
          return { errors: [{ message: 'internal error (on purpose)' }] };
        case 'html':
          reply.type('text/html');
          return '<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>';
        case 'not-json':
          reply.type('application/json');
          return '{"data": {"faultyStatus": "fi';
        case 'errors':
          return { data: null, errors: [{ message: 'faulty service failed (on purpose)' }] };
        case 'huge': {
          const result = await graphql({ schema, source: b.query, variableValues: b.variables });
          const pad = 'x'.repeat(1024);
          const padding = Array.from({ length: Math.ceil(hugeBytes / 1024) }, () => pad);
          reply.type('application/json');
          return JSON.stringify({ ...result, extensions: { padding } });
        }
        default:
          break;
      }
      return graphql({ schema, source: b.query, variableValues: b.variables, operationName: b.operationName ?? undefined });
    });
  }, { port });
}
