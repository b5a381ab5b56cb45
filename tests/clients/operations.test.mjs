// tests/clients/operations.test.mjs - queries and mutations over the WebSocket, as real
// npm clients send them when the socket carries every operation: graphql-ws's
// createClient, Apollo Client with GraphQLWsLink and with WebSocketLink (no split link:
// client.query and client.mutate go through the socket), and subscriptions-transport-ws's
// SubscriptionClient underneath WebSocketLink.
//
// For each client: ChangeCartItem returns true, a CartReadModel query by id returns the
// cart once projected, and a mutation the (anonymous) connection may not run reports
// Booster's "Access denied" error. The pusher's forwarded-operations counter proves the
// operations went through the socket, not around it.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { itest, itestStopsCleanly, startStack, waitFor } from '../integration/lib/stack.mjs';
import { CLIENTS } from './lib/clients.mjs';

const CHANGE_CART_ITEM = `mutation Change($cartId: ID!, $productId: ID!, $quantity: Float!) {
  ChangeCartItem(input: {cartId: $cartId, productId: $productId, quantity: $quantity})
}`;
const CART = `query Cart($id: ID!) { CartReadModel(id: $id) { id cartItems { productId quantity } } }`;
const CREATE_PRODUCT = `mutation Create($sku: String!) {
  CreateProduct(input: {sku: $sku, displayName: "d", description: "x", priceInCents: 100, currency: "EUR"})
}`;

let stack;

/** Removes Apollo's __typename fields, so every client's values compare alike. */
const clean = (v) => JSON.parse(JSON.stringify(v, (k, x) => (k === '__typename' ? undefined : x)));

async function forwarded() {
  const { text } = await stack.health('pusher', '/metrics');
  const m = text.match(/^ramjet_pusher_operations_forwarded_total (\d+)$/m);
  return m ? Number(m[1]) : 0;
}

itest('the stack starts', { timeout: 180000 }, async () => {
  stack = await startStack({ name: 'clients-operations' });
});

for (const makeClient of CLIENTS) {
  const clientName = makeClient('ws://127.0.0.1:1/').name; // lazy clients: nothing connects

  itest(`${clientName}: a mutation and a query over the socket`, { timeout: 120000 }, async () => {
    const before = await forwarded();
    const client = makeClient(stack.urls.websocket);
    try {
      const cartId = `cart-${randomUUID()}`;
      let feed = await client.run(CHANGE_CART_ITEM, { cartId, productId: 'p1', quantity: 3 });
      assert.deepStrictEqual(feed.errors, []);
      assert.deepStrictEqual(feed.values.map(clean), [{ ChangeCartItem: true }]);
      assert.ok(feed.completed);

      const want = { CartReadModel: { id: cartId, cartItems: [{ productId: 'p1', quantity: 3 }] } };
      let runs = 0;
      await waitFor(
        async () => {
          runs++;
          feed = await client.run(CART, { id: cartId });
          assert.deepStrictEqual(feed.errors, []);
          return JSON.stringify(clean(feed.values.at(-1))) === JSON.stringify(want) || undefined;
        },
        { timeoutMs: 30000, intervalMs: 100, what: `the cart over the socket; last ${JSON.stringify(feed?.values)}` },
      );
      assert.equal(feed.values.length, 1);
      assert.ok(feed.completed);

      feed = await client.run(CREATE_PRODUCT, { sku: `sku-${randomUUID()}` });
      assert.ok(feed.errors.includes('Access denied for this resource'), `errors: ${JSON.stringify(feed.errors)}`);

      // Every one of them went through the pusher (the counter is published every 250 ms).
      await waitFor(async () => (await forwarded()) >= before + runs + 2 || undefined, {
        timeoutMs: 5000,
        intervalMs: 100,
        what: `${runs + 2} forwarded operations`,
      });
    } finally {
      client.close();
    }
  });
}

itestStopsCleanly(() => stack);
