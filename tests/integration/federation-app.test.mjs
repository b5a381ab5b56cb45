// The shop composed with a federated service (ramjet dev --gateway-config): the shop's own
// API is one more service of the composition, answered in-process. A second service,
// written here with @apollo/subgraph, extends CartReadModel by id with a `label` and owns
// `featuredCarts` (cart references only). The tests check the answers across both, that
// the shop's fetches never come back to the gateway over HTTP (its /metrics count the
// client's requests only, and the in-process fetches apart), and that mutations,
// authorization and introspection behave as on the shop's own API.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';

import { startSubgraph } from './federation/subgraphs.mjs';
import { CART_LABELS_SDL, CHANGE_CART_ITEM, MUTATION_OK, buildDir, itest, itestStopsCleanly, shopDevKeyEnv, shopToken, startStack, waitFor } from './lib/stack.mjs';

const carts = [`fa-${randomUUID()}`, `fa-${randomUUID()}`];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rj-fedapp-'));
let labels;
let stack;

before(async () => {
  labels = await startSubgraph('labels', {
    typeDefs: CART_LABELS_SDL,
    resolvers: {
      Query: { featuredCarts: () => carts.map((id) => ({ __typename: 'CartReadModel', id })) },
      CartReadModel: { label: (cart) => `label of ${cart.id}` },
    },
  });
  const config = path.join(tmp, 'gateway.json');
  fs.writeFileSync(config, JSON.stringify({ services: [{ name: 'labels', url: labels.url, mandatory: true }] }));
  stack = await startStack({ name: 'fedapp', args: ['--gateway-config', config] });
});

after(async () => {
  await stack?.stop();
  await labels?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The gateway's counters that tell where requests went. */
async function counters() {
  const { text } = await stack.health('gateway', '/metrics');
  const value = (name) => Number(text.match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1] ?? 0);
  return {
    requests: value('ramjet_gateway_requests_total'),
    local: value('ramjet_federation_local_fetches_total'),
    remote: value('ramjet_federation_fetches_total'),
  };
}

function delta(a, b) {
  return { requests: b.requests - a.requests, local: b.local - a.local, remote: b.remote - a.remote };
}

itest('a mutation of the app works through the composed gateway', { timeout: 120000 }, async () => {
  for (const [i, cartId] of carts.entries()) {
    const r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId: `p${i}`, quantity: i + 1 });
    assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  }
  await waitFor(
    async () => {
      const r = await stack.gql('query ($id: ID!) { CartReadModel(id: $id) { id } }', { id: carts[1] });
      return r.json?.data?.CartReadModel?.id === carts[1];
    },
    { timeoutMs: 60000, what: 'the carts in the read model' },
  );
});

itest('the app\'s _entities are answered in-process: no request to itself', { timeout: 60000 }, async () => {
  labels.requests.length = 0;
  const before = await counters();
  const r = await stack.gql('{ featuredCarts { id label cartItems { productId quantity } } }');
  assert.deepStrictEqual(
    r.json,
    {
      data: {
        featuredCarts: carts.map((id, i) => ({ id, label: `label of ${id}`, cartItems: [{ productId: `p${i}`, quantity: i + 1 }] })),
      },
    },
    r.text,
  );
  // One client request; the labels service asked once; the shop's _entities in-process.
  assert.deepStrictEqual(delta(before, await counters()), { requests: 1, local: 1, remote: 1 });
  assert.equal(labels.requests.length, 1);
});

itest('a query spanning the app and the service, the app first', { timeout: 60000 }, async () => {
  labels.requests.length = 0;
  const before = await counters();
  const r = await stack.gql('query ($id: ID!) { CartReadModel(id: $id) { id label cartItems { quantity } } }', { id: carts[0] });
  assert.deepStrictEqual(r.json, { data: { CartReadModel: { id: carts[0], label: `label of ${carts[0]}`, cartItems: [{ quantity: 1 }] } } }, r.text);
  assert.deepStrictEqual(delta(before, await counters()), { requests: 1, local: 1, remote: 1 });
  assert.deepStrictEqual(labels.requests[0].variables.representations, [{ __typename: 'CartReadModel', id: carts[0] }]);
});

itest('authorization applies to the app\'s fields as without federation', { timeout: 60000 }, async () => {
  // ProductReadModel is for Admin and UserWithEmail only.
  let r = await stack.gql('{ ProductReadModel(id: "nope") { id } }');
  assert.equal(r.status, 200);
  assert.deepStrictEqual(r.json.data, { ProductReadModel: null }, r.text);
  assert.equal(r.json.errors[0].message, 'Access denied for this resource');
  assert.equal(r.json.errors[0].extensions.code, 'NotAuthorizedError');
  assert.deepStrictEqual(r.json.errors[0].path, ['ProductReadModel']);

  r = await stack.gql('{ ProductReadModel(id: "nope") { id } }', undefined, { authorization: `Bearer ${shopToken('Admin')}` });
  assert.deepStrictEqual(r.json, { data: { ProductReadModel: null } }, r.text);

  // An invalid token fails the whole request, the service's fields too.
  labels.requests.length = 0;
  r = await stack.gql('{ featuredCarts { id } }', undefined, { authorization: 'Bearer not-a-token' });
  assert.equal(r.json.data, undefined, r.text);
  assert.equal(r.json.errors.length, 1, r.text);
  assert.equal(labels.requests.length, 0);
});

itest('introspection shows the composed schema without federation internals', { timeout: 60000 }, async () => {
  const r = await stack.gql(`{
    __schema { types { name } }
    q: __type(name: "Query") { fields { name } }
    m: __type(name: "Mutation") { fields { name } }
    c: __type(name: "CartReadModel") { fields { name } }
  }`);
  const types = r.json.data.__schema.types.map((t) => t.name);
  for (const hidden of ['_Service', '_Any', '_Entity', '_FieldSet']) assert.ok(!types.includes(hidden), hidden);
  const query = r.json.data.q.fields.map((f) => f.name);
  assert.ok(query.includes('CartReadModel') && query.includes('featuredCarts'), r.text);
  assert.ok(!query.includes('_service') && !query.includes('_entities'), r.text);
  // The app's root fields come first (it is the first service).
  assert.ok(query.indexOf('CartReadModel') < query.indexOf('featuredCarts'), r.text);
  assert.ok(r.json.data.m.fields.some((f) => f.name === 'ChangeCartItem'), r.text);
  assert.ok(r.json.data.c.fields.some((f) => f.name === 'label'), r.text);
});

itest('a service named like the application is refused at start', { timeout: 30000 }, async () => {
  const config = path.join(tmp, 'clash.json');
  fs.writeFileSync(config, JSON.stringify({ services: [{ name: 'shop', url: labels.url }] }));
  const child = spawn(path.join(buildDir, 'bin', 'ramjet-gateway'), ['--gateway-config', config, '--health-port', '0', '--http-port', '0'], {
    env: { ...process.env, ...shopDevKeyEnv, RAMJET_APP: path.join(buildDir, 'lib', 'libshop.so') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.notEqual(code, 0);
  assert.match(stderr, /services\[0\]\.name: shop is the application's own name/);
});

itestStopsCleanly(() => stack);
