// The cart flow end to end: a mutation over HTTP is acknowledged only once its
// event is durable, lands in the event store with the next per-entity version,
// is folded into the CartReadModel, and is pushed to graphql-ws subscribers. The stack
// runs with --log-format json, and every line its daemons write must be one JSON object.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { CART_READ_MODEL, CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, sleep, startStack, waitFor } from './lib/stack.mjs';

let stack;
before(async () => {
  stack = await startStack({ name: 'cart', args: ['--log-format', 'json'] });
});
after(async () => {
  await stack?.stop();
});

const readCart = async (id) => {
  const r = await stack.gql(CART_READ_MODEL, { id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json?.errors, undefined, r.text);
  return r.json.data.CartReadModel;
};

itest('ChangeCartItem twice: acknowledged, stored as versions 1 and 2, projected as quantity 4', { timeout: 180000 }, async () => {
  const mutation = 'mutation { ChangeCartItem(input: {cartId: "c1", productId: "p1", quantity: 2}) }';
  for (let i = 0; i < 2; i++) {
    const r = await stack.gql(mutation);
    assert.equal(r.status, 200, r.text);
    assert.deepStrictEqual(r.json, MUTATION_OK, `mutation ${i + 1} answered ${r.text}`);
  }

  const events = await waitFor(
    async () => {
      const rows = await stack.sqlRows(
        "SELECT version, type, request_id, value FROM shop.events WHERE entity_type = 'Cart' AND entity_id = 'c1' ORDER BY version",
      );
      return rows.length >= 2 ? rows : undefined;
    },
    { timeoutMs: 30000, what: 'both events of cart c1 in shop.events' },
  );
  assert.deepStrictEqual(events.map((e) => e.version), [1, 2]);
  for (const e of events) {
    assert.equal(e.type, 'CartItemChanged');
    assert.deepStrictEqual(e.value, { cartId: 'c1', productId: 'p1', quantity: 2 });
    assert.ok(e.request_id, 'an event carries the request id of its command');
  }
  assert.notEqual(events[0].request_id, events[1].request_id, 'two requests, two request ids');

  const cart = await waitFor(
    async () => {
      const c = await readCart('c1');
      return c?.cartItems?.[0]?.quantity === 4 ? c : undefined;
    },
    { timeoutMs: 30000, what: 'CartReadModel c1 to show quantity 4' },
  );
  assert.deepStrictEqual(cart, { id: 'c1', cartItems: [{ productId: 'p1', quantity: 4 }] });
});

itest('a graphql-ws subscriber gets the new state after each change, and nothing after stop', { timeout: 180000 }, async () => {
  const client = await stack.ws();
  try {
    client.start(
      '1',
      'subscription { CartReadModel(id: "c2") { id cartItems { productId quantity } } }',
    );
    // The pusher registers a subscription as it reads `start`; a mutation's
    // change reaches it only after several hops, but give the socket a moment.
    await sleep(300);

    const change = async (productId, quantity) => {
      const r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'c2', productId, quantity });
      assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
    };
    const stateIs = (items) => (m) =>
      m.type === 'data' &&
      m.id === '1' &&
      JSON.stringify(m.payload?.data?.CartReadModel) === JSON.stringify({ id: 'c2', cartItems: items });

    await change('p1', 3);
    await client.next(stateIs([{ productId: 'p1', quantity: 3 }]), { timeoutMs: 30000 });
    const mark = client.received.length;
    await change('p2', 1);
    await client.next(
      stateIs([
        { productId: 'p1', quantity: 3 },
        { productId: 'p2', quantity: 1 },
      ]),
      { timeoutMs: 30000, from: mark },
    );
    for (const { msg } of client.received) {
      assert.notEqual(msg.type, 'error', `unexpected error message ${JSON.stringify(msg)}`);
    }

    client.stop('1');
    await client.next((m) => m.type === 'complete' && m.id === '1', { timeoutMs: 10000 });
    const stoppedAt = client.received.length;

    // A third change: projected (visible over HTTP) but not pushed to the stopped subscription.
    await change('p1', 5);
    await waitFor(async () => (await readCart('c2'))?.cartItems?.[0]?.quantity === 8, {
      timeoutMs: 30000,
      what: 'CartReadModel c2 to show the third change',
    });
    await sleep(1000); // the pusher got the change before or around when the table did
    const late = client.received.slice(stoppedAt).filter(({ msg }) => msg.type === 'data');
    assert.deepStrictEqual(late, [], 'no data after stop');
  } finally {
    client.close();
  }
});

itest('with --log-format json every daemon writes one JSON object per line', async () => {
  const daemons = ['gateway', 'commands', 'eventstore', 'reducer', 'projector', 'pusher'];
  for (const name of [...daemons, 'supervisor']) {
    const lines = stack.log(name).split('\n').filter(Boolean);
    assert.ok(lines.length > 0, `${name} wrote nothing`);
    for (const line of lines) {
      let o;
      assert.doesNotThrow(() => (o = JSON.parse(line)), `${name}: not JSON: ${line}`);
      assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, line);
      assert.ok(['debug', 'info', 'warn', 'error', 'fatal'].includes(o.level), line);
      assert.equal(o.daemon, name === 'supervisor' ? 'ramjet-dev' : `ramjet-${name}`, line);
      assert.equal(typeof o.module, 'string', line);
      assert.equal(typeof o.msg, 'string', line);
    }
  }
});

itestStopsCleanly(() => stack);
