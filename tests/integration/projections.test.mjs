// Projections by read-model query and calculated fields, end to end against the shop
// (examples/shop-domain.md §1.6, reference/booster-surface.md §3.1, §8.3):
//
//   - OrderReadModel is created from Order by id (PlaceOrder), and Customer reaches every
//     order of its customer through a read-model-query join key (RenameCustomer), never
//     another customer's; the name "SKIP" skips the projection; a customer without orders
//     creates no read model and notifies nobody; orders and renames in quick succession
//     converge.
//   - CartReadModel.cartItemsSize is computed when selected (by id, List, subscriptions),
//     absent from responses that do not select it, and absent from filters and sorts.
//
// A Customer snapshot's projections (CustomerReadModel by id, OrderReadModel by query)
// commit in one projector transaction, so once CustomerReadModel shows a name, the orders
// show what that snapshot did to them: the waits below rely on that, not on timing.
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

/** An RS256 token as Booster's application-tester mints them (as auth.test.mjs). */
function token(role) {
  const email = `${role.toLowerCase()}@example.com`;
  const payload = { iss: 'booster', sub: email, email, id: email, iat: Math.floor(Date.now() / 1000), 'booster:role': role };
  const input = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'booster' }))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(createSign('RSA-SHA256').update(input).sign(privateKey))}`;
}
const asUserWithEmail = () => ({ authorization: `Bearer ${token('UserWithEmail')}` });

const REGISTER = `mutation ($id: ID!, $name: String!) { RegisterCustomer(input: {customerId: $id, name: $name}) }`;
const RENAME = `mutation ($id: ID!, $name: String!) { RenameCustomer(input: {customerId: $id, name: $name}) }`;
const PLACE = `mutation ($orderId: ID!, $customerId: ID!, $amountCents: Float!) {
  PlaceOrder(input: {orderId: $orderId, customerId: $customerId, amountCents: $amountCents})
}`;
const CUSTOMER = `query ($id: ID!) { CustomerReadModel(id: $id) { id name } }`;
const ORDER = `query ($id: ID!) { OrderReadModel(id: $id) { id customerId amountCents customerName } }`;
const ORDERS_OF = `query ($customerId: ID!) {
  ListOrderReadModels(filter: {customerId: {eq: $customerId}}, sortBy: {id: ASC}) {
    items { id customerId amountCents customerName }
  }
}`;

let stack;
before(async () => {
  stack = await startStack({ name: 'projections' });
});
after(async () => {
  await stack?.stop();
});

/** Runs a query or mutation; asserts no errors; resolves data. */
async function gql(query, variables, headers) {
  const r = await stack.gql(query, variables, headers);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json?.errors, undefined, r.text);
  return r.json.data;
}

const register = (id, name) => gql(REGISTER, { id, name });
const rename = (id, name) => gql(RENAME, { id, name });
const place = (orderId, customerId, amountCents) => gql(PLACE, { orderId, customerId, amountCents }, asUserWithEmail());

/** Waits until CustomerReadModel @p id is named @p name (its snapshot is projected). */
const customerNamed = (id, name) =>
  waitFor(async () => (await gql(CUSTOMER, { id })).CustomerReadModel?.name === name, {
    what: `CustomerReadModel ${id} named ${name}`,
  });

const ordersOf = async (customerId) => (await gql(ORDERS_OF, { customerId })).ListOrderReadModels.items;

/** Waits until order @p id is projected; resolves it. */
const orderProjected = (id) =>
  waitFor(async () => (await gql(ORDER, { id })).OrderReadModel ?? undefined, { what: `OrderReadModel ${id}` });

itest('PlaceOrder creates OrderReadModel with the customer current name', { timeout: 180000 }, async () => {
  await register('pj-c1', 'Ann');
  await customerNamed('pj-c1', 'Ann');
  assert.deepStrictEqual(await place('pj-o1', 'pj-c1', 1250), { PlaceOrder: true });
  assert.deepStrictEqual(await orderProjected('pj-o1'), {
    id: 'pj-o1',
    customerId: 'pj-c1',
    amountCents: 1250,
    customerName: 'Ann',
  });
});

itest('RenameCustomer renames every order of that customer, and no other', { timeout: 180000 }, async () => {
  await register('pj-c2', 'Bea');
  await customerNamed('pj-c2', 'Bea');
  await place('pj-o2', 'pj-c1', 100);
  await place('pj-o3', 'pj-c1', 200);
  await place('pj-o4', 'pj-c2', 300);
  for (const o of ['pj-o2', 'pj-o3', 'pj-o4']) await orderProjected(o);

  const subscriber = await stack.ws();
  try {
    subscriber.start('orders', 'subscription { OrderReadModels(filter: {customerId: {eq: "pj-c1"}}) { id customerName } }');
    await sleep(300);

    await rename('pj-c1', 'Ann B.');
    await customerNamed('pj-c1', 'Ann B.');
    assert.deepStrictEqual(
      (await ordersOf('pj-c1')).map((o) => [o.id, o.customerName, o.amountCents]),
      [['pj-o1', 'Ann B.', 1250], ['pj-o2', 'Ann B.', 100], ['pj-o3', 'Ann B.', 200]],
    );
    assert.deepStrictEqual((await ordersOf('pj-c2')).map((o) => [o.id, o.customerName]), [['pj-o4', 'Bea']]);

    // One notification per written row.
    for (const id of ['pj-o1', 'pj-o2', 'pj-o3'])
      await subscriber.next((m) => m.type === 'data' && m.payload?.data?.OrderReadModels?.id === id && m.payload.data.OrderReadModels.customerName === 'Ann B.');
  } finally {
    subscriber.close();
  }
});

itest('renaming a customer to SKIP skips the projection: the orders keep their name', { timeout: 180000 }, async () => {
  const versions = async () =>
    (await stack.sqlRows("SELECT id, version FROM shop.rm_orderreadmodel WHERE value->>'customerId' = 'pj-c2' ORDER BY id")).map((r) => [r.id, Number(r.version)]);
  const before = await versions();
  await rename('pj-c2', 'SKIP');
  await customerNamed('pj-c2', 'SKIP');
  assert.deepStrictEqual((await ordersOf('pj-c2')).map((o) => [o.id, o.customerName]), [['pj-o4', 'Bea']]);
  assert.deepStrictEqual(await versions(), before, 'no row was written');

  // The next name is applied again.
  await rename('pj-c2', 'Bea C.');
  await customerNamed('pj-c2', 'Bea C.');
  assert.deepStrictEqual((await ordersOf('pj-c2')).map((o) => [o.id, o.customerName]), [['pj-o4', 'Bea C.']]);
});

itest('a customer without orders creates no read model and notifies nobody', { timeout: 180000 }, async () => {
  const count = async () => Number((await stack.sqlRows('SELECT count(*) AS n FROM shop.rm_orderreadmodel'))[0].n);
  const rows = await count();
  const subscriber = await stack.ws();
  try {
    subscriber.start('all', 'subscription { OrderReadModels { id customerName } }');
    await sleep(300);
    await register('pj-c3', 'Cid');
    await customerNamed('pj-c3', 'Cid');
    await rename('pj-c3', 'Cid D.');
    await customerNamed('pj-c3', 'Cid D.');
    await sleep(1000); // notifications follow the commit the wait above observed
    assert.equal(await count(), rows);
    assert.deepStrictEqual(await ordersOf('pj-c3'), []);
    const data = subscriber.received.filter(({ msg }) => msg.type === 'data');
    assert.deepStrictEqual(data, [], 'no OrderReadModel notification');
  } finally {
    subscriber.close();
  }
});

itest('orders placed and the customer renamed in quick succession converge to the right names', { timeout: 180000 }, async () => {
  await register('pj-c4', 'N0');
  await customerNamed('pj-c4', 'N0');
  // Each mutation is acknowledged (durable) before the next is sent, but nothing waits for
  // projections: orders and renames reach the projector in the same or adjacent batches.
  const placed = [];
  for (let i = 1; i <= 6; i++) {
    placed.push(`pj-q${i}`);
    await place(`pj-q${i}`, 'pj-c4', i);
    await rename('pj-c4', `N${i}`);
  }
  await customerNamed('pj-c4', 'N6');
  const orders = await waitFor(
    async () => {
      const items = await ordersOf('pj-c4');
      return items.length === placed.length && items.every((o) => o.customerName === 'N6') ? items : undefined;
    },
    { what: 'every order of pj-c4 named N6' },
  );
  assert.deepStrictEqual(orders.map((o) => o.id), placed);
  assert.deepStrictEqual(orders.map((o) => o.amountCents), [1, 2, 3, 4, 5, 6]);
  // Another customer's orders are untouched throughout.
  assert.deepStrictEqual((await ordersOf('pj-c1')).map((o) => o.customerName), ['Ann B.', 'Ann B.', 'Ann B.']);
});

itest('a rename reaches more orders than one page of the match query holds', { timeout: 180000 }, async () => {
  // 1203 orders of pj-c5 and 100 of pj-c6, written straight into the table (as a
  // projector would have), so the join key's match query needs three pages of 500.
  await stack.sql(`INSERT INTO shop.rm_orderreadmodel (id, seq, version, value, updated_at)
    SELECT 'pj-m' || lpad(g::text, 5, '0'), '', 1, jsonb_build_object('id', 'pj-m' || lpad(g::text, 5, '0'),
      'customerId', CASE WHEN g % 13 = 0 THEN 'pj-c6' ELSE 'pj-c5' END, 'amountCents', g, 'customerName', 'old'), now()
    FROM generate_series(1, 1303) g`);
  await register('pj-c5', 'Many');
  await customerNamed('pj-c5', 'Many');
  const rows = await stack.sqlRows(
    `SELECT value->>'customerId' AS customer, value->>'customerName' AS name, version, count(*)::int AS n
       FROM shop.rm_orderreadmodel WHERE id LIKE 'pj-m%' GROUP BY 1, 2, 3 ORDER BY 1`,
  );
  assert.deepStrictEqual(rows, [
    { customer: 'pj-c5', name: 'Many', version: 2, n: 1203 },
    { customer: 'pj-c6', name: 'old', version: 1, n: 100 },
  ]);
});

// ---- calculated fields ----------------------------------------------------------------

const change = async (cartId, productId, quantity) => {
  const r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId, quantity });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
};

itest('cartItemsSize is computed when selected, by id and in ListCartReadModels', { timeout: 180000 }, async () => {
  await change('pj-cart1', 'p1', 1);
  await change('pj-cart1', 'p2', 2);
  await change('pj-cart1', 'p1', 3); // same product: still two items
  await change('pj-cart2', 'p9', 1);
  await waitFor(async () => (await gql('{ CartReadModel(id: "pj-cart1") { cartItems { quantity } } }')).CartReadModel?.cartItems?.[0]?.quantity === 4, {
    what: 'pj-cart1 projected',
  });
  await waitFor(async () => (await gql('{ CartReadModel(id: "pj-cart2") { id } }')).CartReadModel, { what: 'pj-cart2 projected' });

  assert.deepStrictEqual(await gql('{ CartReadModel(id: "pj-cart1") { id cartItemsSize } }'), {
    CartReadModel: { id: 'pj-cart1', cartItemsSize: 2 },
  });
  assert.deepStrictEqual(await gql('{ CartReadModel(id: "pj-cart1") { id } }'), { CartReadModel: { id: 'pj-cart1' } });
  assert.deepStrictEqual(await gql('{ CartReadModel(id: "pj-cart1") { size: cartItemsSize ... on CartReadModel { cartItemsSize } } }'), {
    CartReadModel: { size: 2, cartItemsSize: 2 },
  });
  assert.deepStrictEqual(await gql('{ CartReadModel(id: "pj-none") { cartItemsSize } }'), { CartReadModel: null });

  const list = await gql(`{ ListCartReadModels(filter: {id: {beginsWith: "pj-cart"}}, sortBy: {id: ASC}) {
    items { id cartItemsSize } count } }`);
  assert.deepStrictEqual(list.ListCartReadModels, {
    items: [
      { id: 'pj-cart1', cartItemsSize: 2 },
      { id: 'pj-cart2', cartItemsSize: 1 },
    ],
    count: 2,
  });
  const plain = await gql('{ ListCartReadModels(filter: {id: {eq: "pj-cart2"}}) { items { id } } }');
  assert.deepStrictEqual(plain.ListCartReadModels.items, [{ id: 'pj-cart2' }]);
  const plural = await gql('{ CartReadModels(filter: {id: {eq: "pj-cart1"}}) { cartItemsSize } }');
  assert.deepStrictEqual(plural.CartReadModels, [{ cartItemsSize: 2 }]);
  // Never stored: the table holds what the projection returned, nothing more.
  const stored = await stack.sqlRows("SELECT value ? 'cartItemsSize' AS has FROM shop.rm_cartreadmodel WHERE id = 'pj-cart1'");
  assert.deepStrictEqual(stored, [{ has: false }]);
});

itest('cartItemsSize is not a filter or sort field', { timeout: 180000 }, async () => {
  for (const type of ['CartReadModelFilter', 'ListCartReadModelFilter', 'CartReadModelSubscriptionFilter', 'CartReadModelSortBy']) {
    const t = await gql(`{ __type(name: "${type}") { inputFields { name } } }`);
    const names = t.__type.inputFields.map((f) => f.name);
    assert.ok(names.includes('cartItems'), `${type}: ${names}`);
    assert.ok(!names.includes('cartItemsSize'), `${type} must not offer cartItemsSize: ${names}`);
  }
  const t = await gql('{ __type(name: "CartReadModel") { fields { name type { name } } } }');
  assert.deepStrictEqual(t.__type.fields.find((f) => f.name === 'cartItemsSize'), { name: 'cartItemsSize', type: { name: 'Float' } });

  const r = await stack.gql('{ ListCartReadModels(filter: {cartItemsSize: {eq: 2}}) { count } }');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.data, undefined, r.text);
  assert.match(r.json.errors[0].message, /cartItemsSize/);
  const s = await stack.gql('{ ListCartReadModels(sortBy: {cartItemsSize: ASC}) { count } }');
  assert.equal(s.json.data, undefined, s.text);
  assert.match(s.json.errors[0].message, /cartItemsSize/);
});

itest('cartItemsSize in WebSocket subscriptions, by id and by filter, only when selected', { timeout: 180000 }, async () => {
  const client = await stack.ws();
  try {
    client.start('with', 'subscription { CartReadModel(id: "pj-cart3") { id cartItemsSize } }');
    client.start('without', 'subscription { CartReadModel(id: "pj-cart3") { id cartItems { productId } } }');
    client.start('filter', 'subscription { CartReadModels(filter: {id: {eq: "pj-cart3"}}) { n: cartItemsSize } }');
    await sleep(300);
    await change('pj-cart3', 'p1', 1);
    await change('pj-cart3', 'p2', 1);
    const frame = (id, pred) => client.next((m) => m.type === 'data' && m.id === id && pred(m.payload));
    await frame('with', (p) => JSON.stringify(p) === JSON.stringify({ data: { CartReadModel: { id: 'pj-cart3', cartItemsSize: 2 } } }));
    await frame('filter', (p) => JSON.stringify(p) === JSON.stringify({ data: { CartReadModels: { n: 2 } } }));
    await frame('without', (p) => p.data?.CartReadModel?.cartItems?.length === 2);
    for (const { msg } of client.received) {
      if (msg.type !== 'data') continue;
      assert.equal(msg.payload.errors, undefined, JSON.stringify(msg));
      if (msg.id === 'without') assert.deepStrictEqual(Object.keys(msg.payload.data.CartReadModel), ['id', 'cartItems']);
      if (msg.id === 'with') assert.deepStrictEqual(Object.keys(msg.payload.data.CartReadModel), ['id', 'cartItemsSize']);
    }
  } finally {
    client.close();
  }
});

itestStopsCleanly(() => stack);
