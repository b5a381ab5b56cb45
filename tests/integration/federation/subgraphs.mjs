// Federation v1 subgraphs for the gateway's integration tests: the classic Apollo demo
// (accounts, products, inventory, reviews) served by @apollo/subgraph on plain node:http,
// each counting the requests it receives and keeping their bodies, so that tests can
// assert the gateway's plan (how many calls, what each carried), not only its answers.
import http from 'node:http';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql, parse } from 'graphql';

const users = [
  { id: 'u1', name: 'Ada Lovelace', username: '@ada' },
  { id: 'u2', name: 'Alan Turing', username: '@alan' },
];
const products = [
  { upc: '1', name: 'Table', price: 899, weight: 100 },
  { upc: '2', name: 'Couch', price: 1299, weight: 1000 },
  { upc: '3', name: 'Chair', price: 54, weight: 50 },
];
const inventory = [
  { upc: '1', inStock: true },
  { upc: '2', inStock: false },
  { upc: '3', inStock: true },
];
const reviews = [
  { id: 'r1', authorId: 'u1', upc: '1', body: 'Love it!' },
  { id: 'r2', authorId: 'u1', upc: '2', body: 'Too expensive.' },
  { id: 'r3', authorId: 'u2', upc: '3', body: 'Could be better.' },
  { id: 'r4', authorId: 'u2', upc: '1', body: 'Prefer something else.' },
];

export const services = {
  accounts: {
    typeDefs: `
      extend type Query { me: User  users: [User]  failing: String  slow: String  big: String }
      type User @key(fields: "id") { id: ID!  name: String  username: String }`,
    resolvers: {
      Query: {
        me: () => users[0],
        users: () => users,
        failing: () => {
          throw new Error('accounts failed on purpose');
        },
        slow: () => new Promise((resolve) => setTimeout(() => resolve('late'), 3000)),
        big: () => 'x'.repeat(100000),
      },
      User: { __resolveReference: (ref) => users.find((u) => u.id === ref.id) },
    },
  },
  products: {
    typeDefs: `
      extend type Query { topProducts(first: Int = 5): [Product] }
      extend type Mutation { setPrice(upc: String!, price: Int!): Product }
      type Product @key(fields: "upc") { upc: String!  name: String  price: Int  weight: Int }`,
    resolvers: {
      Query: { topProducts: (_, { first }) => products.slice(0, first) },
      // Mutations answer without storing: the tests share these services.
      Mutation: { setPrice: (_, { upc, price }) => ({ ...products.find((p) => p.upc === upc), price }) },
      Product: { __resolveReference: (ref) => products.find((p) => p.upc === ref.upc) },
    },
  },
  inventory: {
    typeDefs: `
      extend type Product @key(fields: "upc") {
        upc: String! @external
        weight: Int @external
        price: Int @external
        inStock: Boolean
        shippingEstimate: Int @requires(fields: "price weight")
      }`,
    resolvers: {
      Product: {
        __resolveReference: (ref) => ({ ...ref, ...inventory.find((i) => i.upc === ref.upc) }),
        // Free for expensive items, else half the weight: needs price and weight sent.
        shippingEstimate: (p) => (p.price > 1000 ? 0 : p.weight * 0.5),
      },
    },
  },
  reviews: {
    typeDefs: `
      type Review @key(fields: "id") {
        id: ID!
        body: String
        author: User @provides(fields: "username")
        product: Product
      }
      extend type User @key(fields: "id") {
        id: ID! @external
        username: String @external
        reviews: [Review]
      }
      extend type Product @key(fields: "upc") { upc: String! @external  reviews: [Review] }
      extend type Mutation { addReview(upc: String!, body: String!): Review }`,
    resolvers: {
      Mutation: { addReview: (_, { upc, body }) => ({ id: 'r-new', authorId: 'u2', upc, body }) },
      Review: {
        author: (r) => ({ __typename: 'User', id: r.authorId, username: users.find((u) => u.id === r.authorId).username }),
        product: (r) => ({ __typename: 'Product', upc: r.upc }),
      },
      User: { reviews: (u) => reviews.filter((r) => r.authorId === u.id) },
      Product: { reviews: (p) => reviews.filter((r) => r.upc === p.upc) },
    },
  },
};

/**
 * Starts one subgraph on a free port. Resolves {name, url, requests, sockets, replace(),
 * close()}: `requests` is the list of parsed request bodies received, in order; `sockets`
 * counts the TCP connections made to it ({open, peak, total}); replace(typeDefs,
 * resolvers) swaps the schema it serves (its _service { sdl } included). A service
 * started with `{ down: true }` answers every request with HTTP 500 and an HTML page; one
 * started with `{ batched: true }` also takes a JSON array of operations in one request
 * and answers an array, one result each, as Mercurius does with allowBatchedQueries.
 */
export async function startSubgraph(name, { down = false, batched = false, typeDefs, resolvers } = {}) {
  const build = (t, r) => buildSubgraphSchema([{ typeDefs: parse(t), resolvers: r }]);
  let schema = typeDefs !== undefined ? build(typeDefs, resolvers ?? {}) : build(services[name].typeDefs, services[name].resolvers);
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const json = JSON.parse(body);
      requests.push(json);
      if (down) {
        res.writeHead(500, { 'content-type': 'text/html' });
        res.end('<html><body>Internal Server Error</body></html>');
        return;
      }
      const run = (op) =>
        graphql({ schema, source: op.query, variableValues: op.variables, operationName: op.operationName });
      if (Array.isArray(json) && !batched) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ message: 'batched queries are not accepted' }] }));
        return;
      }
      const result = Array.isArray(json) ? await Promise.all(json.map(run)) : await run(json);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result));
    });
  });
  server.keepAliveTimeout = 30000;
  const sockets = { open: 0, peak: 0, total: 0 }; // TCP connections from the gateway
  server.on('connection', (socket) => {
    sockets.open += 1;
    sockets.total += 1;
    sockets.peak = Math.max(sockets.peak, sockets.open);
    socket.on('close', () => (sockets.open -= 1));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/graphql`;
  return {
    name,
    url,
    requests,
    sockets,
    replace: (t, r) => {
      schema = build(t, r);
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}
