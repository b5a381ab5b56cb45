// tests/clients/federation.test.mjs - Ramjet as an Apollo Federation v1 subgraph: the
// shop's generated API behind the two npm federation gateways Ramjet's users run,
// @apollo/gateway (IntrospectAndCompose, served by @apollo/server) and
// @mercuriusjs/gateway (Fastify + mercurius).
//
// A second subgraph, written here with @apollo/subgraph, extends CartReadModel by id with
// a `label` and owns `featuredCarts`, which returns cart references only: a query for
// featured carts with their items makes each gateway call the shop's `_entities` with
// every reference at once. The gateway's read-model counter shows that those
// representations cost one statement, not one per cart.
//
// Before the gateways: `_service { sdl }` must be what @apollo/subgraph prints for the
// same document (graphql-js print(), read models with @key, no federation definitions),
// and `_entities` must answer in representation order, null for a missing id, with an
// error per bad entry and the read model's authorization.
//
// package.json pins graphql to 16.14.0: @mercuriusjs/gateway 5 puts a GraphQLObjectType
// where a name string belongs in the entity queries it prints, which graphql 16.15's new
// printer no longer tolerates ("value.includes is not a function").

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';

import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import mercuriusGateway from '@mercuriusjs/gateway';
import Fastify from 'fastify';
import { graphql, parse, print } from 'graphql';

import {
  CART_LABELS_SDL,
  CHANGE_CART_ITEM,
  itest,
  itestStopsCleanly,
  shopToken,
  startStack,
  waitFor,
} from '../integration/lib/stack.mjs';

let stack;
let labels; // the second subgraph: {url, requests, close()}
let apollo; // {url, stop()}
let mercurius; // the Fastify app
const carts = [`cart-${randomUUID()}`, `cart-${randomUUID()}`];
const missing = `cart-${randomUUID()}`;

const LABELS_SDL = CART_LABELS_SDL;

/** The labels subgraph on a free port, counting the requests it serves. */
async function startLabels() {
  const schema = buildSubgraphSchema([
    {
      typeDefs: parse(LABELS_SDL),
      resolvers: {
        Query: { featuredCarts: () => [...carts, missing].map((id) => ({ __typename: 'CartReadModel', id })) },
        CartReadModel: { label: (cart) => `label of ${cart.id}` },
      },
    },
  ]);
  const state = { requests: 0 };
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    state.requests++;
    const { query, variables, operationName } = JSON.parse(body);
    const result = await graphql({ schema, source: query, variableValues: variables, operationName });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(result));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${server.address().port}/graphql`;
  state.close = () => new Promise((resolve) => server.close(resolve));
  return state;
}

/** The gateway's read-model reads (by id and _entities batches) so far. */
async function reads() {
  const { text } = await stack.health('gateway', '/metrics');
  const m = text.match(/^ramjet_gateway_read_model_reads_total (\d+)$/m);
  return m ? Number(m[1]) : 0;
}

async function post(url, query, variables) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

const ENTITIES = `query ($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on CartReadModel { id cartItems { productId quantity } cartItemsSize }
    ... on ProductReadModel { id sku }
  }
}`;

itest('the stack starts and the carts are projected', { timeout: 180000 }, async () => {
  stack = await startStack({ name: 'clients-federation' });
  for (const [i, cartId] of carts.entries()) {
    const r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId: `p${i}`, quantity: i + 1 });
    assert.deepStrictEqual(r.json, { data: { ChangeCartItem: true } });
  }
  await waitFor(
    async () => {
      for (const id of carts) {
        const r = await stack.gql('query ($id: ID!) { CartReadModel(id: $id) { id } }', { id });
        if (r.json.data.CartReadModel?.id !== id) return false;
      }
      return true;
    },
    { what: 'the carts to be projected' },
  );
});

itest('_service { sdl } is the API printed as a federation 1 subgraph', { timeout: 30000 }, async () => {
  const r = await stack.gql('{ _service { sdl } }');
  const sdl = r.json.data._service.sdl;
  // Laid out as graphql-js print()s a document, which is what @apollo/subgraph answers.
  assert.equal(print(parse(sdl)), sdl);
  for (const rm of ['CartReadModel', 'ProductReadModel', 'CustomerReadModel'])
    assert.match(sdl, new RegExp(`^type ${rm} @key\\(fields: "id"\\) \\{$`, 'm'));
  assert.match(sdl, /^type PriceHistoryReadModel @key\(fields: "id priceChangedAt"\) \{$/m);
  assert.match(sdl, /^type CartItem \{$/m); // value types are not entities
  // Roots extended, as federation 1 services write them: @mercuriusjs/gateway joins the
  // services' SDLs into one document, where a second `type Query` would be dropped.
  for (const root of ['Query', 'Mutation', 'Subscription'])
    assert.match(sdl, new RegExp(`^extend type ${root} \\{$`, 'm'));
  for (const internal of ['_service', '_entities', '_Any', '_Entity', '_Service', '_FieldSet', 'directive @key'])
    assert.ok(!sdl.includes(internal), `the SDL mentions ${internal}`);
  // It is a valid federation 1 subgraph for @apollo/subgraph itself.
  buildSubgraphSchema(parse(sdl));

  // As in @apollo/subgraph, the fields are in the subgraph's own introspection.
  const q = await stack.gql('{ __type(name: "Query") { fields { name } } }');
  const names = q.json.data.__type.fields.map((f) => f.name);
  assert.ok(names.includes('_service') && names.includes('_entities'), names.join());
  const u = await stack.gql('{ __type(name: "_Entity") { possibleTypes { name } } }');
  const entities = [...sdl.matchAll(/^type (\w+) @key/gm)].map((m) => m[1]).sort();
  assert.deepStrictEqual(u.json.data.__type.possibleTypes.map((t) => t.name), entities);
});

itest('_entities answers in order, one statement per type, with an error per bad entry', { timeout: 30000 }, async () => {
  const before = await reads();
  const representations = [
    { __typename: 'CartReadModel', id: carts[1] },
    { __typename: 'CartReadModel', id: missing },
    { __typename: 'Nope', id: 'x' },
    { __typename: 'CartReadModel', id: carts[0] },
    { __typename: 'CartReadModel' },
    { __typename: 'CartReadModel', id: carts[1] },
    { __typename: 'CartReadModel', id: 'x'.repeat(5000) },
  ];
  const r = await stack.gql(ENTITIES, { representations });
  const cart = (i) => ({
    __typename: 'CartReadModel',
    id: carts[i],
    cartItems: [{ productId: `p${i}`, quantity: i + 1 }],
    cartItemsSize: 1,
  });
  assert.deepStrictEqual(r.json.data, { _entities: [cart(1), null, null, cart(0), null, cart(1), null] });
  const errors = r.json.errors.map((e) => [e.path.join('.'), e.extensions.code]);
  assert.deepStrictEqual(errors, [
    ['_entities.2', 'InvalidParameterError'],
    ['_entities.4', 'InvalidParameterError'],
    ['_entities.6', 'InvalidParameterError'],
  ]);
  assert.match(r.json.errors[0].message, /"Nope"/);
  assert.equal((await reads()) - before, 1, 'five carts, one statement');

  // Authorization as ProductReadModel(id:) has it: anonymous is denied, per entry.
  const products = [{ __typename: 'ProductReadModel', id: 'p1' }];
  const denied = await stack.gql(ENTITIES, { representations: products });
  assert.deepStrictEqual(denied.json.data, { _entities: [null] });
  assert.equal(denied.json.errors[0].extensions.code, 'NotAuthorizedError');
  const allowed = await stack.gql(ENTITIES, { representations: products }, {
    authorization: `Bearer ${shopToken('UserWithEmail')}`,
  });
  assert.deepStrictEqual(allowed.json, { data: { _entities: [null] } });

  // A gateway's list of thousands: still one statement.
  const before5000 = await reads();
  const thousands = Array.from({ length: 5000 }, (_, i) => ({ __typename: 'CartReadModel', id: i === 4321 ? carts[0] : `none-${i}` }));
  const big = await stack.gql(ENTITIES, { representations: thousands });
  assert.equal(big.json.errors, undefined);
  assert.equal(big.json.data._entities.length, 5000);
  assert.deepStrictEqual(big.json.data._entities.filter((e) => e !== null), [cart(0)]);
  assert.equal(big.json.data._entities[4321]?.id, carts[0]);
  assert.equal((await reads()) - before5000, 1, '5000 representations, one statement');

  // max-cost (20000 by default) counts one row per representation, not one per field.
  const many = Array.from({ length: 20001 }, (_, i) => ({ __typename: 'CartReadModel', id: `c${i}` }));
  const over = await stack.gql(ENTITIES, { representations: many });
  assert.equal(over.json.data, undefined, over.text.slice(0, 300));
  assert.match(over.json.errors[0].message, /may read 20001 rows, more than the limit of 20000/);
});

itest('the gateways start over the shop and the labels subgraph', { timeout: 60000 }, async () => {
  labels = await startLabels();
  const subgraphs = [
    { name: 'shop', url: stack.urls.graphql },
    { name: 'labels', url: labels.url },
  ];

  const gateway = new ApolloGateway({ supergraphSdl: new IntrospectAndCompose({ subgraphs }) });
  const server = new ApolloServer({ gateway });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  apollo = { url, stop: () => server.stop() };

  mercurius = Fastify();
  mercurius.register(mercuriusGateway, { gateway: { services: subgraphs } });
  await mercurius.listen({ port: 0, host: '127.0.0.1' });
});

const FEATURED = `{
  featuredCarts { id label cartItems { productId quantity } cartItemsSize }
}`;
const BY_ID = `query ($id: ID!) { CartReadModel(id: $id) { id label cartItems { quantity } } }`;

for (const [name, url] of [
  ['@apollo/gateway', () => apollo.url],
  ['@mercuriusjs/gateway', () => `http://127.0.0.1:${mercurius.server.address().port}/graphql`],
]) {
  itest(`${name}: shop fields of carts another subgraph returns come from _entities`, { timeout: 30000 }, async () => {
    const before = await reads();
    const r = await post(url(), FEATURED);
    assert.deepStrictEqual(r.errors, undefined);
    assert.deepStrictEqual(r.data.featuredCarts, [
      ...carts.map((id, i) => ({
        id,
        label: `label of ${id}`,
        cartItems: [{ productId: `p${i}`, quantity: i + 1 }],
        cartItemsSize: 1,
      })),
      null,
    ]);
    assert.equal((await reads()) - before, 1, 'every cart in one _entities statement');
  });

  itest(`${name}: a shop query extended by the labels subgraph`, { timeout: 30000 }, async () => {
    const r = await post(url(), BY_ID, { id: carts[0] });
    assert.deepStrictEqual(r, {
      data: { CartReadModel: { id: carts[0], label: `label of ${carts[0]}`, cartItems: [{ quantity: 1 }] } },
    });
    const list = await post(url(), `{ ListCartReadModels(filter: {id: {in: ["${carts.join('","')}"]}}) { items { id label } } }`);
    assert.deepStrictEqual(
      list.data.ListCartReadModels.items.map((c) => c.label).sort(),
      carts.map((id) => `label of ${id}`).sort(),
    );
  });
}

itest('the gateways stop', { timeout: 30000 }, async () => {
  await apollo?.stop();
  await mercurius?.close();
  await labels?.close();
});

itestStopsCleanly(() => stack);
