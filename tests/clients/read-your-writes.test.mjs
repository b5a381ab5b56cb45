// tests/clients/read-your-writes.test.mjs - session consistency with unmodified npm clients
// (issue 14): over one WebSocket, a query sent after a mutation's answer shows the
// mutation's effect at once, with no token handled by the application and no polling.
// The pusher remembers the connection's writes and the gateway waits for them
// (docs/architecture.md, "Read-your-writes"). Without that, such a query returns null most
// of the time (docs/PERFORMANCE.md, "Read-your-writes").
//
// The session is the connection: graphql-ws's createClient (and Apollo's GraphQLWsLink on
// it) is lazy by default and closes its socket as soon as no operation is active, so its
// next operation opens a new connection with no writes behind it. Here, as in an
// application that keeps a subscription open, a subscription holds the socket; the first
// version of this test, without it, failed for those two clients (a query on the new
// connection returned null).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { itest, itestStopsCleanly, startStack } from '../integration/lib/stack.mjs';
import { CLIENTS } from './lib/clients.mjs';

const CHANGE_CART_ITEM = `mutation Change($cartId: ID!, $productId: ID!, $quantity: Float!) {
  ChangeCartItem(input: {cartId: $cartId, productId: $productId, quantity: $quantity})
}`;
const HOLD = `subscription Hold($id: ID!) { CartReadModel(id: $id) { id } }`;
const CART = `query Cart($id: ID!) { CartReadModel(id: $id) { id cartItems { productId quantity } } }`;

let stack;

/** Removes Apollo's __typename fields, so every client's values compare alike. */
const clean = (v) => JSON.parse(JSON.stringify(v, (k, x) => (k === '__typename' ? undefined : x)));

itest('the stack starts', { timeout: 180000 }, async () => {
  stack = await startStack({ name: 'clients-ryw' });
});

for (const makeClient of CLIENTS) {
  const clientName = makeClient('ws://127.0.0.1:1/').name; // lazy clients: nothing connects

  itest(`${clientName}: a query right after a mutation sees it`, { timeout: 120000 }, async () => {
    const client = makeClient(stack.urls.websocket);
    const hold = client.subscribe(HOLD, { id: `hold-${randomUUID()}` });
    try {
      for (let i = 0; i < 10; i++) {
        const cartId = `ryw-${randomUUID()}`;
        const m = await client.run(CHANGE_CART_ITEM, { cartId, productId: 'p1', quantity: i + 1 });
        assert.deepStrictEqual(m.errors, []);
        assert.deepStrictEqual(m.values.map(clean), [{ ChangeCartItem: true }]);
        const q = await client.run(CART, { id: cartId });
        assert.deepStrictEqual(q.errors, []);
        assert.deepStrictEqual(q.values.map(clean), [
          { CartReadModel: { id: cartId, cartItems: [{ productId: 'p1', quantity: i + 1 }] } },
        ], `round ${i}`);
      }
    } finally {
      hold.unsubscribe();
      client.close();
    }
  });
}

itestStopsCleanly(() => stack);
