// Entity reads from handlers (rj_entity_get), end to end: PlaceOrder reads the current
// Customer, InspectCart returns the current Cart as a mutation result of object type
// Cart, and the CartTotalQuantity query handler runs in the gateway. "Current" means: a
// write acknowledged to a client is visible to the very next command or query, whether
// the reducer has folded it into a snapshot yet or not, and whether the event-store
// writer has stored it yet or not (then it is still in the processor's command_outbox;
// the last test runs a stack without event-store writer and reducer to prove that).
import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, sleep, startStack, waitFor } from './lib/stack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const privateKey = readFileSync(path.resolve(here, '../../examples/shop/keys/private.pem'), 'utf8');
const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** An RS256 token of the shop's development key, as auth.test.mjs mints them. */
function token(role) {
  const email = `${String(role).toLowerCase()}@example.com`;
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: 'booster', sub: email, email, id: email, iat: now, 'booster:role': role };
  const header = { alg: 'RS256', typ: 'JWT', kid: 'booster' };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(createSign('RSA-SHA256').update(input).sign(privateKey))}`;
}
const EMAIL_USER = { authorization: `Bearer ${token('UserWithEmail')}` };

const REGISTER = `mutation ($id: ID!, $name: String!) { RegisterCustomer(input: {customerId: $id, name: $name}) }`;
const RENAME = `mutation ($id: ID!, $name: String!) { RenameCustomer(input: {customerId: $id, name: $name}) }`;
const PLACE_ORDER = `mutation ($orderId: ID!, $customerId: ID!, $amount: Float!) {
  PlaceOrder(input: {orderId: $orderId, customerId: $customerId, amountCents: $amount})
}`;
const INSPECT_CART = `mutation ($id: ID!) {
  InspectCart(input: {cartId: $id}) { __typename id cartItems { productId quantity } shippingAddress { firstName } }
}`;
const TOTAL = `query ($id: ID!) { CartTotalQuantity(input: {cartId: $id}) }`;

/** Runs a mutation that must succeed with `true`. */
async function ok(stack, query, variables, headers) {
  const r = await stack.gql(query, variables, headers);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json?.errors, undefined, r.text);
  const field = Object.keys(r.json.data)[0];
  assert.equal(r.json.data[field], true, r.text);
}

/** The customerName an order was placed with, from wherever its event is (events table). */
async function orderCustomerName(stack, orderId) {
  const rows = await waitFor(
    async () => {
      const r = await stack.sqlRows(`SELECT value FROM shop.events WHERE entity_type = 'Order' AND entity_id = '${orderId}'`);
      return r.length > 0 ? r : undefined;
    },
    { timeoutMs: 30000, what: `the OrderPlaced event of ${orderId}` },
  );
  assert.equal(rows.length, 1, `one event for order ${orderId}`);
  return rows[0].value.customerName;
}

let stack;
before(async () => {
  stack = await startStack({ name: 'entities' });
});
after(async () => {
  await stack?.stop();
});

itest('RegisterCustomer then PlaceOrder at once: the order carries the customer name', { timeout: 120000 }, async () => {
  await ok(stack, REGISTER, { id: 'cust-1', name: 'Ada' });
  await ok(stack, PLACE_ORDER, { orderId: 'order-1', customerId: 'cust-1', amount: 1250 }, EMAIL_USER);
  const value = await waitFor(
    async () => (await stack.sqlRows("SELECT value FROM shop.events WHERE entity_type = 'Order' AND entity_id = 'order-1'"))[0]?.value,
    { what: 'the OrderPlaced event of order-1' },
  );
  assert.deepStrictEqual(value, { orderId: 'order-1', customerId: 'cust-1', customerName: 'Ada', amountCents: 1250 });
});

itest('RenameCustomer then PlaceOrder without waiting: the new name, every time', { timeout: 180000 }, async () => {
  await ok(stack, REGISTER, { id: 'cust-2', name: 'Name 0' });
  for (let i = 1; i <= 5; i++) {
    await ok(stack, RENAME, { id: 'cust-2', name: `Name ${i}` });
    await ok(stack, PLACE_ORDER, { orderId: `order-2-${i}`, customerId: 'cust-2', amount: i }, EMAIL_USER);
  }
  for (let i = 1; i <= 5; i++) assert.equal(await orderCustomerName(stack, `order-2-${i}`), `Name ${i}`, `order ${i}`);
});

itest('renames and orders of one customer in flight together: each order sees a name at least as new as every rename acknowledged before it was sent', { timeout: 240000 }, async () => {
  await ok(stack, REGISTER, { id: 'cust-3', name: 'Start' });
  const renameAcks = []; // {name, at}
  const orders = []; // {orderId, sentAt}
  const work = [];
  for (let i = 0; i < 8; i++) {
    work.push(
      (async () => {
        await sleep(Math.random() * 300);
        await ok(stack, RENAME, { id: 'cust-3', name: `Concurrent ${i}` });
        renameAcks.push({ name: `Concurrent ${i}`, at: Date.now() });
      })(),
    );
    work.push(
      (async () => {
        await sleep(Math.random() * 300);
        const orderId = `order-3-${i}`;
        const sentAt = Date.now();
        await ok(stack, PLACE_ORDER, { orderId, customerId: 'cust-3', amount: i }, EMAIL_USER);
        orders.push({ orderId, sentAt });
      })(),
    );
  }
  await Promise.all(work);

  // The version of each name: the rename events in version order.
  const renames = await waitFor(
    async () => {
      const r = await stack.sqlRows("SELECT version, value->>'name' AS name FROM shop.events WHERE entity_type = 'Customer' AND entity_id = 'cust-3' ORDER BY version");
      return r.length === 9 ? r : undefined;
    },
    { what: 'the nine events of cust-3' },
  );
  const versionOf = new Map(renames.map((r) => [r.name, r.version]));
  for (const o of orders) {
    const seen = await orderCustomerName(stack, o.orderId);
    assert.ok(versionOf.has(seen), `order ${o.orderId} saw a name nobody gave: ${seen}`);
    const acked = renameAcks.filter((a) => a.at < o.sentAt).map((a) => versionOf.get(a.name));
    const floor = Math.max(1, ...acked);
    assert.ok(versionOf.get(seen) >= floor, `order ${o.orderId} saw ${seen} (v${versionOf.get(seen)}), older than v${floor} acknowledged before it was sent`);
  }
  // Once everything is acknowledged, the next order sees the newest name.
  await ok(stack, PLACE_ORDER, { orderId: 'order-3-last', customerId: 'cust-3', amount: 1 }, EMAIL_USER);
  assert.equal(await orderCustomerName(stack, 'order-3-last'), renames[renames.length - 1].name);
});

itest('PlaceOrder: unknown customer fails with the exact message; without UserWithEmail it is denied', { timeout: 120000 }, async () => {
  let r = await stack.gql(PLACE_ORDER, { orderId: 'order-x', customerId: 'nobody-here', amount: 1 }, EMAIL_USER);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.errors?.[0]?.message, 'Customer nobody-here not found', r.text);
  assert.deepStrictEqual(r.json.errors[0].path, ['PlaceOrder']);

  for (const headers of [{}, { authorization: `Bearer ${token('Admin')}` }]) {
    r = await stack.gql(PLACE_ORDER, { orderId: 'order-y', customerId: 'cust-1', amount: 1 }, headers);
    assert.equal(r.json.errors?.[0]?.message, 'Access denied for this resource', r.text);
    assert.equal(r.json.errors[0].extensions?.code, 'NotAuthorizedError', r.text);
  }
  const stored = await stack.sqlRows("SELECT 1 FROM shop.command_outbox WHERE events @> '[{\"entity\": \"Order\"}]' AND events::text LIKE '%order-y%'");
  assert.equal(stored.length, 0, 'a denied command never reaches the processor');
});

itest('InspectCart: null before the first event, then the folded cart right after each acknowledged change', { timeout: 120000 }, async () => {
  let r = await stack.gql(INSPECT_CART, { id: 'cart-i' });
  assert.deepStrictEqual(r.json, { data: { InspectCart: null } }, r.text);

  const change = async (productId, quantity) => {
    const c = await stack.gql(CHANGE_CART_ITEM, { cartId: 'cart-i', productId, quantity });
    assert.deepStrictEqual(c.json, MUTATION_OK, c.text);
  };
  await change('p1', 2);
  r = await stack.gql(INSPECT_CART, { id: 'cart-i' });
  assert.deepStrictEqual(r.json, {
    data: { InspectCart: { __typename: 'Cart', id: 'cart-i', cartItems: [{ productId: 'p1', quantity: 2 }], shippingAddress: null } },
  }, r.text);

  await change('p2', 1);
  await change('p1', 3);
  r = await stack.gql(INSPECT_CART, { id: 'cart-i' });
  assert.deepStrictEqual(r.json.data.InspectCart.cartItems, [
    { productId: 'p1', quantity: 5 },
    { productId: 'p2', quantity: 1 },
  ], r.text);
});

itest('CartTotalQuantity: 0 for an unknown cart, then the sum at once after each change', { timeout: 120000 }, async () => {
  let r = await stack.gql(TOTAL, { id: 'cart-t' });
  assert.deepStrictEqual(r.json, { data: { CartTotalQuantity: 0 } }, r.text);
  let sum = 0;
  for (const [productId, quantity] of [['p1', 2], ['p2', 3.5], ['p1', 1]]) {
    const c = await stack.gql(CHANGE_CART_ITEM, { cartId: 'cart-t', productId, quantity });
    assert.deepStrictEqual(c.json, MUTATION_OK, c.text);
    sum += quantity;
    r = await stack.gql(TOTAL, { id: 'cart-t' });
    assert.deepStrictEqual(r.json, { data: { CartTotalQuantity: sum } }, r.text);
  }
  // Query fields run concurrently, each with its own pool connection.
  r = await stack.gql('{ a: CartTotalQuantity(input: {cartId: "cart-t"}) b: CartTotalQuantity(input: {cartId: "cart-i"}) }');
  assert.deepStrictEqual(r.json, { data: { a: 6.5, b: 6 } }, r.text);
});

itest('introspection: CartTotalQuantity is a Query field, InspectCart a Mutation returning the object type Cart', { timeout: 60000 }, async () => {
  const typeRef = 'kind name ofType { kind name ofType { kind name } }';
  const r = await stack.gql(`{
    q: __type(name: "Query") { fields { name args { name type { ${typeRef} } } type { ${typeRef} } } }
    m: __type(name: "Mutation") { fields { name args { name type { ${typeRef} } } type { ${typeRef} } } }
    cart: __type(name: "Cart") { kind fields { name type { ${typeRef} } } }
    input: __type(name: "CartTotalQuantityInput") { kind inputFields { name type { ${typeRef} } } }
  }`);
  assert.equal(r.json.errors, undefined, r.text);
  const total = r.json.data.q.fields.find((f) => f.name === 'CartTotalQuantity');
  assert.ok(total, 'Query.CartTotalQuantity exists');
  assert.deepStrictEqual(total.type, { kind: 'NON_NULL', name: null, ofType: { kind: 'SCALAR', name: 'Float', ofType: null } });
  assert.deepStrictEqual(total.args, [
    { name: 'input', type: { kind: 'NON_NULL', name: null, ofType: { kind: 'INPUT_OBJECT', name: 'CartTotalQuantityInput', ofType: null } } },
  ]);
  assert.deepStrictEqual(r.json.data.input, {
    kind: 'INPUT_OBJECT',
    inputFields: [{ name: 'cartId', type: { kind: 'NON_NULL', name: null, ofType: { kind: 'SCALAR', name: 'ID', ofType: null } } }],
  });
  const inspect = r.json.data.m.fields.find((f) => f.name === 'InspectCart');
  assert.deepStrictEqual(inspect.type, { kind: 'OBJECT', name: 'Cart', ofType: null }, 'nullable Cart');
  const place = r.json.data.m.fields.find((f) => f.name === 'PlaceOrder');
  assert.deepStrictEqual(place.type, { kind: 'NON_NULL', name: null, ofType: { kind: 'SCALAR', name: 'JSON', ofType: null } });
  assert.equal(r.json.data.cart.kind, 'OBJECT');
  assert.deepStrictEqual(r.json.data.cart.fields.map((f) => f.name), ['id', 'cartItems', 'shippingAddress']);
  assert.equal(r.json.data.q.fields.some((f) => f.name === 'InspectCart'), false, 'a command is not a query');
});

itestStopsCleanly(() => stack);

// A stack without event-store writer and reducer: every event stays in command_outbox,
// with no snapshot, so the processor's and the gateway's reads can only find it there.
// One partition per topic, so commands reach the processor in the order they were sent.
itest('with the event store and reducer stopped, reads fold the command outbox and the batch; a version found nowhere is an error', { timeout: 300000 }, async () => {
  const lagging = await startStack({
    name: 'entities-outbox',
    args: ['--daemons', 'gateway,commands', '--partitions', '1'],
    env: { RAMJET_LOG_DEBUG: 'command' },
  });
  try {
    await ok(lagging, REGISTER, { id: 'cust-o', name: 'Old' });
    await ok(lagging, RENAME, { id: 'cust-o', name: 'New' });
    await ok(lagging, PLACE_ORDER, { orderId: 'order-o', customerId: 'cust-o', amount: 3 }, EMAIL_USER);
    const outbox = await lagging.sqlRows(
      "SELECT e->'value' AS value FROM shop.command_outbox, jsonb_array_elements(events) e WHERE e->>'entity' = 'Order' AND e->>'entityId' = 'order-o'",
    );
    assert.deepStrictEqual(outbox.map((o) => o.value), [{ orderId: 'order-o', customerId: 'cust-o', customerName: 'New', amountCents: 3 }]);
    assert.equal(await lagging.sql('SELECT count(*) FROM shop.events'), '0', 'no event-store writer ran');
    assert.equal(await lagging.sql('SELECT count(*) FROM shop.snapshots'), '0', 'no reducer ran');

    // The gateway's query handler reads the outbox too.
    for (const [productId, quantity] of [['p1', 4], ['p2', 1]]) {
      const c = await lagging.gql(CHANGE_CART_ITEM, { cartId: 'cart-o', productId, quantity });
      assert.deepStrictEqual(c.json, MUTATION_OK, c.text);
    }
    let r = await lagging.gql(TOTAL, { id: 'cart-o' });
    assert.deepStrictEqual(r.json, { data: { CartTotalQuantity: 5 } }, r.text);

    // Lose the customer's first event (as if the outbox were pruned before the writer stored
    // it): a stale or invented customer would be worse than the error.
    await lagging.sql(`DELETE FROM shop.command_outbox WHERE events @> '[{"entity": "Customer", "entityId": "cust-o", "version": 1}]'`);
    r = await lagging.gql(PLACE_ORDER, { orderId: 'order-o2', customerId: 'cust-o', amount: 1 }, EMAIL_USER);
    assert.equal(
      r.json.errors?.[0]?.message,
      'could not read entity Customer id=cust-o: version 1 (of 2 after snapshot 0) is in neither the event store nor the command outbox',
      r.text,
    );
    assert.equal(r.json.errors[0].extensions?.code, 'InternalError', r.text);
    // The failed read did not disturb the processor: the next command goes through.
    await ok(lagging, REGISTER, { id: 'cust-o3', name: 'Fine' });
    await ok(lagging, PLACE_ORDER, { orderId: 'order-o3', customerId: 'cust-o3', amount: 1 }, EMAIL_USER);

    // One batch holding RegisterCustomer and then PlaceOrder for a new customer, so that
    // PlaceOrder's read can find the customer only among the batch's earlier registrations
    // (nothing of it is committed yet). The processor is held inside a batch (a row lock
    // it needs is taken from psql) while both are sent, in that order, to the one
    // partition; its consumer prefetches them meanwhile and its next poll gets both.
    await ok(lagging, REGISTER, { id: 'cust-lock', name: 'Lock' });
    const held = lagging.sql(
      "BEGIN; SELECT version FROM shop.entity_heads WHERE entity_type = 'Customer' AND entity_id = 'cust-lock' FOR UPDATE; SELECT pg_sleep(3); COMMIT",
    );
    await sleep(500);
    const blocked = lagging.gql(RENAME, { id: 'cust-lock', name: 'Lock 2' });
    await sleep(500);
    const register = lagging.gql(REGISTER, { id: 'cust-b', name: 'Batched' });
    await sleep(300);
    const place = lagging.gql(PLACE_ORDER, { orderId: 'order-b', customerId: 'cust-b', amount: 2 }, EMAIL_USER);
    await held;
    for (const p of [blocked, register, place]) {
      const a = await p;
      assert.equal(a.json?.errors, undefined, a.text);
    }
    assert.match(lagging.log('commands'), /read entity=Customer\/cust-b version=0 batch_events=1/,
      'PlaceOrder read the customer from its own batch');
    const batched = await lagging.sqlRows(
      "SELECT e->'value'->>'customerName' AS name FROM shop.command_outbox, jsonb_array_elements(events) e WHERE e->>'entity' = 'Order' AND e->>'entityId' = 'order-b'",
    );
    assert.deepStrictEqual(batched, [{ name: 'Batched' }]);
  } catch (e) {
    lagging.failed = true;
    throw e;
  } finally {
    const st = await lagging.stop();
    assert.deepStrictEqual(st, { code: 0, signal: null }, `supervisor exit ${JSON.stringify(st)}`);
  }
});
