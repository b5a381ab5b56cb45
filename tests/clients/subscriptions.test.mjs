// tests/clients/subscriptions.test.mjs - real npm GraphQL clients against the real stack.
//
// For each client (subscriptions-transport-ws's SubscriptionClient, graphql-ws's
// createClient, Apollo Client with WebSocketLink and with GraphQLWsLink):
//   - a by-id subscription follows a cart through ChangeCartItem mutations sent over
//     HTTP, and after unsubscribing nothing more arrives;
//   - a filter subscription CartReadModels(filter: {id: {eq}}) gets its cart's changes
//     and not another cart's;
//   - a role-protected read model without a token is refused with Booster's message.
// Then the graphql-transport-ws rules the libraries never break on purpose are checked
// with a raw socket: subprotocol negotiation, ping/pong and the 44xx close codes.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

import {
  CART_READ_MODEL,
  CHANGE_CART_ITEM,
  MUTATION_OK,
  itest,
  itestStopsCleanly,
  sleep,
  startStack,
  waitFor,
} from '../integration/lib/stack.mjs';
import { CLIENTS } from './lib/clients.mjs';

const INIT_TIMEOUT_MS = 1500;

const CART_BY_ID = `subscription CartById($id: ID!) {
  CartReadModel(id: $id) { id cartItems { productId quantity } }
}`;
const CARTS_BY_FILTER = `subscription CartsByFilter($id: ID!) {
  CartReadModels(filter: {id: {eq: $id}}) { id cartItems { productId quantity } }
}`;
const PRODUCT_BY_ID = `subscription { ProductReadModel(id: "p1") { id sku displayName } }`;

let stack;

/** Removes Apollo's __typename fields, so every client's values compare alike. */
const clean = (v) => JSON.parse(JSON.stringify(v, (k, x) => (k === '__typename' ? undefined : x)));

async function pusherSubscriptions() {
  const { text } = await stack.health('pusher', '/metrics');
  const m = text.match(/^ramjet_pusher_subscriptions (\d+)$/m);
  return m ? Number(m[1]) : 0;
}

/** Waits until the pusher holds @p n subscriptions (its gauge is refreshed every 250 ms). */
async function waitForSubscriptions(n) {
  await waitFor(async () => (await pusherSubscriptions()) === n || undefined, {
    timeoutMs: 15000,
    intervalMs: 100,
    what: `the pusher to hold ${n} subscriptions`,
  });
}

async function changeCartItem(cartId, productId, quantity) {
  const res = await stack.gql(CHANGE_CART_ITEM, { cartId, productId, quantity });
  assert.deepStrictEqual(res.json, MUTATION_OK, `ChangeCartItem answered ${res.text}`);
}

/** Waits until a CartReadModel query over HTTP shows @p items for @p cartId. */
async function waitForCartItems(cartId, items) {
  await waitFor(
    async () => {
      const res = await stack.gql(CART_READ_MODEL, { id: cartId });
      const got = res.json?.data?.CartReadModel?.cartItems;
      return (got && JSON.stringify(got) === JSON.stringify(items)) || undefined;
    },
    { what: `cart ${cartId} to hold ${JSON.stringify(items)}` },
  );
}

/** Waits until @p feed received a value satisfying @p pred; resolves that value. */
function waitForValue(feed, pred, what) {
  return waitFor(() => feed.values.map(clean).find(pred), {
    timeoutMs: 30000,
    intervalMs: 50,
    what: `${what}; values ${JSON.stringify(feed.values)}, errors ${JSON.stringify(feed.errors)}`,
  });
}

itest('the stack starts', { timeout: 180000 }, async () => {
  stack = await startStack({ name: 'clients', env: { RAMJET_INIT_TIMEOUT_MS: String(INIT_TIMEOUT_MS) } });
});

for (const makeClient of CLIENTS) {
  const clientName = makeClient('ws://127.0.0.1:1/').name; // lazy clients: nothing connects

  itest(`${clientName}: follows a cart by id until it unsubscribes`, { timeout: 120000 }, async () => {
    await waitForSubscriptions(0);
    const client = makeClient(stack.urls.websocket);
    try {
      const cartId = `cart-${randomUUID()}`;
      const feed = client.subscribe(CART_BY_ID, { id: cartId });
      await waitForSubscriptions(1);

      await changeCartItem(cartId, 'p1', 2);
      const first = await waitForValue(
        feed,
        (v) => v.CartReadModel?.cartItems?.length === 1,
        'the first update',
      );
      assert.deepStrictEqual(first, {
        CartReadModel: { id: cartId, cartItems: [{ productId: 'p1', quantity: 2 }] },
      });
      await changeCartItem(cartId, 'p2', 1);
      await waitForValue(feed, (v) => v.CartReadModel?.cartItems?.length === 2, 'the second update');
      assert.deepStrictEqual(clean(feed.values.at(-1)), {
        CartReadModel: {
          id: cartId,
          cartItems: [
            { productId: 'p1', quantity: 2 },
            { productId: 'p2', quantity: 1 },
          ],
        },
      });
      assert.deepStrictEqual(feed.errors, []);

      feed.unsubscribe();
      await waitForSubscriptions(0);
      const received = feed.values.length;
      await changeCartItem(cartId, 'p1', 5);
      await waitForCartItems(cartId, [
        { productId: 'p1', quantity: 7 },
        { productId: 'p2', quantity: 1 },
      ]);
      await sleep(1000); // the change went through the pusher by now: it must not arrive
      assert.equal(feed.values.length, received, `after unsubscribing: ${JSON.stringify(feed.values.slice(received))}`);
      assert.deepStrictEqual(feed.errors, []);
    } finally {
      client.close();
    }
  });

  itest(`${clientName}: a filter subscription gets only the rows its filter selects`, { timeout: 120000 }, async () => {
    await waitForSubscriptions(0);
    const client = makeClient(stack.urls.websocket);
    try {
      const target = `cart-${randomUUID()}`;
      const other = `cart-${randomUUID()}`;
      const feed = client.subscribe(CARTS_BY_FILTER, { id: target });
      await waitForSubscriptions(1);

      await changeCartItem(other, 'p9', 9);
      await waitForCartItems(other, [{ productId: 'p9', quantity: 9 }]);
      await changeCartItem(target, 'p1', 3);
      const v = await waitForValue(feed, (x) => x.CartReadModels?.id === target, 'the filtered cart');
      assert.deepStrictEqual(v, { CartReadModels: { id: target, cartItems: [{ productId: 'p1', quantity: 3 }] } });
      await changeCartItem(target, 'p1', 1);
      await waitForValue(feed, (x) => x.CartReadModels?.cartItems?.[0]?.quantity === 4, 'the second change');
      await changeCartItem(other, 'p9', 1);
      await waitForCartItems(other, [{ productId: 'p9', quantity: 10 }]);
      await sleep(500);
      for (const x of feed.values.map(clean)) assert.equal(x.CartReadModels.id, target, `unexpected ${JSON.stringify(x)}`);
      assert.deepStrictEqual(feed.errors, []);

      feed.unsubscribe();
      await waitForSubscriptions(0);
      const received = feed.values.length;
      await changeCartItem(target, 'p1', 1);
      await waitForCartItems(target, [{ productId: 'p1', quantity: 5 }]);
      await sleep(1000);
      assert.equal(feed.values.length, received);
    } finally {
      client.close();
    }
  });

  itest(`${clientName}: a role-protected read model without a token is refused`, { timeout: 60000 }, async () => {
    await waitForSubscriptions(0);
    const client = makeClient(stack.urls.websocket);
    try {
      const feed = client.subscribe(PRODUCT_BY_ID, {});
      await waitFor(() => feed.errors.length > 0 || undefined, { timeoutMs: 15000, what: 'the refusal' });
      assert.ok(
        feed.errors.some((m) => m.includes('Access denied for this resource')),
        `errors: ${JSON.stringify(feed.errors)}`,
      );
      assert.deepStrictEqual(feed.values, []);
      assert.equal(await pusherSubscriptions(), 0);
    } finally {
      client.close();
    }
  });
}

/* ---- graphql-transport-ws over a raw socket ---- */

/** Opens a raw socket with @p protocols; resolves {socket, messages, closed}. */
async function rawSocket(protocols) {
  const socket = new WebSocket(stack.urls.websocket, protocols);
  const messages = [];
  socket.on('message', (raw) => messages.push(JSON.parse(raw.toString())));
  const closed = new Promise((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await once(socket, 'open');
  return { socket, messages, closed, send: (m) => socket.send(JSON.stringify(m)) };
}

async function expectClose(conn, code, reason) {
  const c = await Promise.race([conn.closed, sleep(10000).then(() => ({ code: 'none' }))]);
  assert.equal(c.code, code, `closed with ${JSON.stringify(c)}`);
  if (reason !== undefined) assert.equal(c.reason, reason);
}

itest('graphql-transport-ws: negotiation, ping/pong and the close codes', { timeout: 120000 }, async () => {
  // No subprotocol requested, or graphql-ws: the legacy protocol, as Booster clients expect.
  const legacy = await rawSocket(['graphql-ws']);
  assert.equal(legacy.socket.protocol, 'graphql-ws');
  legacy.send({ type: 'connection_init', payload: {} });
  await waitFor(() => legacy.messages.find((m) => m.type === 'connection_ack'), { what: 'legacy ack' });
  legacy.socket.close();

  const t = await rawSocket(['graphql-transport-ws']);
  assert.equal(t.socket.protocol, 'graphql-transport-ws');
  t.send({ type: 'ping', payload: { n: 1 } });
  await waitFor(() => t.messages.find((m) => m.type === 'pong'), { what: 'pong' });
  assert.deepStrictEqual(t.messages[0], { type: 'pong', payload: { n: 1 } });
  t.send({ type: 'connection_init' });
  await waitFor(() => t.messages.find((m) => m.type === 'connection_ack'), { what: 'ack' });
  t.send({ id: 'a', type: 'subscribe', payload: { query: CART_BY_ID, variables: { id: 'c-raw' } } });
  t.send({ id: 'a', type: 'subscribe', payload: { query: CART_BY_ID, variables: { id: 'c-raw' } } });
  await expectClose(t, 4409, 'Subscriber for a already exists');

  const early = await rawSocket(['graphql-transport-ws']);
  early.send({ id: '1', type: 'subscribe', payload: { query: CART_BY_ID, variables: { id: 'x' } } });
  await expectClose(early, 4401, 'Unauthorized');

  const twice = await rawSocket(['graphql-transport-ws']);
  twice.send({ type: 'connection_init' });
  twice.send({ type: 'connection_init' });
  await expectClose(twice, 4429, 'Too many initialisation requests');

  const forbidden = await rawSocket(['graphql-transport-ws']);
  forbidden.send({ type: 'connection_init', payload: { Authorization: 'Bearer not.a.token' } });
  await expectClose(forbidden, 4403, 'Forbidden');

  const bad = await rawSocket(['graphql-transport-ws']);
  bad.send({ type: 'start', id: '1', payload: { query: '{ __typename }' } });
  await expectClose(bad, 4400);

  const silent = await rawSocket(['graphql-transport-ws']);
  const opened = Date.now();
  await expectClose(silent, 4408, 'Connection initialisation timeout');
  assert.ok(Date.now() - opened >= INIT_TIMEOUT_MS - 100, `closed after ${Date.now() - opened} ms`);
});

itestStopsCleanly(() => stack);
