// The read side through the gateway, end to end (issue "The read side in full"): carts made
// with ChangeCartItem and UpdateShippingAddress are projected into CartReadModel, then read
// back over HTTP with Booster's List queries (filters, sorting, cursor pages), the
// deprecated plural query, and the events API, with Booster's answers
// (reference/booster-surface.md §3-§7, §9). Hostile filter values must come back as exact,
// empty results: every value is a bound parameter.
import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, startStack, waitFor } from './lib/stack.mjs';

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
const bearer = (role) => ({ authorization: `Bearer ${token(role)}` });

const UPDATE_ADDRESS = `mutation ($cartId: ID!, $address: AddressInput!) {
  UpdateShippingAddress(input: {cartId: $cartId, address: $address})
}`;

const address = (firstName, country) => ({
  firstName,
  lastName: `${firstName}son`,
  country,
  state: 'S',
  postalCode: '00000',
  address: `1 ${firstName} street`,
});

// The carts, in the order they are made. rs-3 and rs-5 have no shipping address.
const CARTS = {
  'rs-1': { items: [['p1', 2], ['p2', 1]], address: address('Ana', 'ES') },
  'rs-2': { items: [['p1', 1]], address: address('Zoe', 'FR') },
  'rs-3': { items: [['p3', 5]] },
  'rs-4': { items: [['p2', 2]], address: address('Bob', 'ES') },
  'rs-5': { items: [['p1', 2]] },
};
// A cart whose id CartReadModel's before hook B2 produces from `before-fn-rs`.
const HOOKED_ID = 'before-fn-rs-modified';
const ALL = Object.keys(CARTS);

/** What CartReadModel of a cart of CARTS holds. */
function expected(id) {
  const c = CARTS[id];
  const rm = { id, cartItems: c.items.map(([productId, quantity]) => ({ productId, quantity })) };
  rm.shippingAddress = c.address ?? null;
  return rm;
}

const FIELDS = 'id cartItems { productId quantity } shippingAddress { firstName lastName country state postalCode address }';

const LIST = `query ($filter: ListCartReadModelFilter, $limit: Int, $sortBy: CartReadModelSortBy, $afterCursor: JSON) {
  ListCartReadModels(filter: $filter, limit: $limit, sortBy: $sortBy, afterCursor: $afterCursor) {
    items { ${FIELDS} } count cursor
  }
}`;

let stack;
let eventCount = 0; // Cart events the mutations produced

/** Runs a mutation and insists on Booster's `true`. */
async function mutate(query, variables, headers) {
  const r = await stack.gql(query, variables, headers);
  const field = query.includes('UpdateShippingAddress') ? 'UpdateShippingAddress' : 'ChangeCartItem';
  assert.deepStrictEqual(r.json, { data: { [field]: true } }, r.text);
  eventCount++;
}

/** ListCartReadModels with @p variables; asserts no errors; resolves the connection. */
async function list(variables) {
  const r = await stack.gql(LIST, variables);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.errors, undefined, r.text);
  return r.json.data.ListCartReadModels;
}

/** The ids of a List query's items (order kept). */
async function listIds(filter, extra = {}) {
  const c = await list({ filter, ...extra });
  assert.equal(c.count, c.items.length, JSON.stringify(c));
  return c.items.map((i) => i.id);
}

const OURS = { id: { beginsWith: 'rs-' } };

before(async () => {
  stack = await startStack({ name: 'readside' });
  for (const [cartId, c] of Object.entries(CARTS)) {
    // rs-4 is changed by a signed-in user, so its events carry one.
    const headers = cartId === 'rs-4' ? bearer('UserWithEmail') : {};
    for (const [productId, quantity] of c.items) await mutate(CHANGE_CART_ITEM, { cartId, productId, quantity }, headers);
    if (c.address) await mutate(UPDATE_ADDRESS, { cartId, address: c.address }, headers);
  }
  assert.deepStrictEqual((await stack.gql(CHANGE_CART_ITEM, { cartId: HOOKED_ID, productId: 'p9', quantity: 9 })).json, MUTATION_OK);
  eventCount++;

  // The projection is asynchronous: wait until every cart reads back as made.
  await waitFor(
    async () => {
      const c = await list({ filter: OURS });
      return c.count === ALL.length && JSON.stringify(c.items) === JSON.stringify(ALL.map(expected));
    },
    { timeoutMs: 60000, what: 'the rs- carts in CartReadModel' },
  );
  await waitFor(async () => (await listIds({ id: { eq: HOOKED_ID } })).length === 1, {
    timeoutMs: 60000,
    what: `cart ${HOOKED_ID} in CartReadModel`,
  });
});
after(async () => {
  await stack?.stop();
});

itest('List: eq on id gives that cart, its count and the cursor of the next page', async () => {
  const c = await list({ filter: { id: { eq: 'rs-1' } } });
  assert.deepStrictEqual(c, { items: [expected('rs-1')], count: 1, cursor: { id: '100' } });

  const none = await list({ filter: { id: { eq: 'rs-nope' } } });
  assert.deepStrictEqual(none, { items: [], count: 0, cursor: { id: '100' } });
});

itest('List: and with nested fields, implicit and of siblings, nested or inside shippingAddress', async () => {
  assert.deepStrictEqual(await listIds({ and: [OURS, { shippingAddress: { country: { eq: 'ES' } } }] }), ['rs-1', 'rs-4']);
  assert.deepStrictEqual(
    await listIds({ and: [OURS, { or: [{ shippingAddress: { firstName: { eq: 'Zoe' } } }, { id: { eq: 'rs-3' } }] }] }),
    ['rs-2', 'rs-3'],
  );
  assert.deepStrictEqual(await listIds({ ...OURS, cartItems: { includes: { productId: 'p1' } } }), ['rs-1', 'rs-2', 'rs-5']);
  assert.deepStrictEqual(
    await listIds({ ...OURS, shippingAddress: { or: [{ firstName: { eq: 'Ana' } }, { firstName: { eq: 'Zoe' } }] } }),
    ['rs-1', 'rs-2'],
  );
  assert.deepStrictEqual(await listIds({ ...OURS, not: { shippingAddress: { country: { eq: 'ES' } } } }), ['rs-2', 'rs-3', 'rs-5']);
});

itest('List: cartItems includes a partial {productId, quantity} object', async () => {
  assert.deepStrictEqual(await listIds({ ...OURS, cartItems: { includes: { productId: 'p1', quantity: 2 } } }), ['rs-1', 'rs-5']);
  assert.deepStrictEqual(await listIds({ ...OURS, cartItems: { includes: { productId: 'p2', quantity: 2 } } }), ['rs-4']);
  assert.deepStrictEqual(await listIds({ ...OURS, cartItems: { includes: { productId: 'p3', quantity: 1 } } }), []);
});

itest('List: isDefined true/false on shippingAddress and on a field inside it', async () => {
  assert.deepStrictEqual(await listIds({ ...OURS, shippingAddress: { isDefined: true } }), ['rs-1', 'rs-2', 'rs-4']);
  assert.deepStrictEqual(await listIds({ ...OURS, shippingAddress: { isDefined: false } }), ['rs-3', 'rs-5']);
  assert.deepStrictEqual(await listIds({ ...OURS, shippingAddress: { firstName: { isDefined: true } } }), ['rs-1', 'rs-2', 'rs-4']);
  assert.deepStrictEqual(await listIds({ ...OURS, shippingAddress: { firstName: { isDefined: false } } }), ['rs-3', 'rs-5']);
});

itest('List: contains, beginsWith and in on id', async () => {
  assert.deepStrictEqual(await listIds({ id: { contains: 's-3' } }), ['rs-3']);
  assert.deepStrictEqual(await listIds({ id: { beginsWith: 'rs-' } }), ALL);
  assert.deepStrictEqual(await listIds({ id: { beginsWith: 'before-fn-rs' } }), [HOOKED_ID]);
  assert.deepStrictEqual(await listIds({ id: { in: ['rs-4', 'rs-2', 'rs-nope'] } }), ['rs-2', 'rs-4']);
});

itest('List: sortBy id DESC and nested shippingAddress.firstName DESC (missing last)', async () => {
  assert.deepStrictEqual(await listIds(OURS, { sortBy: { id: 'DESC' } }), [...ALL].reverse());
  assert.deepStrictEqual(await listIds(OURS, { sortBy: { shippingAddress: { firstName: 'DESC' } } }), ['rs-2', 'rs-4', 'rs-1', 'rs-3', 'rs-5']);
  assert.deepStrictEqual(await listIds(OURS, { sortBy: { shippingAddress: { firstName: 'ASC' } } }), ['rs-1', 'rs-4', 'rs-2', 'rs-3', 'rs-5']);
});

itest('List: limit, and page by page with limit 1 following cursor.id', async () => {
  const two = await list({ filter: OURS, limit: 2 });
  assert.deepStrictEqual(two.items.map((i) => i.id), ['rs-1', 'rs-2']);
  assert.equal(two.count, 2);
  assert.deepStrictEqual(two.cursor, { id: '2' });

  let cursor;
  const seen = [];
  for (let i = 0; i < ALL.length; i++) {
    const page = await list({ filter: OURS, limit: 1, sortBy: { id: 'DESC' }, afterCursor: cursor });
    assert.equal(page.count, 1, JSON.stringify(page));
    assert.equal(page.cursor.id, String(i + 1));
    seen.push(page.items[0].id);
    cursor = page.cursor;
  }
  assert.deepStrictEqual(seen, [...ALL].reverse());
  const end = await list({ filter: OURS, limit: 1, sortBy: { id: 'DESC' }, afterCursor: cursor });
  assert.deepStrictEqual(end, { items: [], count: 0, cursor: { id: String(ALL.length + 1) } });

  // Booster's legacy cursor shape, {id: "<offset>"}.
  const legacy = await list({ filter: OURS, limit: 1, afterCursor: { id: '1' } });
  assert.deepStrictEqual(legacy.items.map((i) => i.id), ['rs-2']);
  assert.deepStrictEqual(legacy.cursor, { id: '2' });
});

itest('the deprecated CartReadModels(filter:) answers a plain array', async () => {
  const r = await stack.gql(`query ($f: CartReadModelFilter) { CartReadModels(filter: $f) { ${FIELDS} } }`, {
    f: { id: { in: ['rs-5', 'rs-1'] } },
  });
  assert.deepStrictEqual(r.json, { data: { CartReadModels: [expected('rs-1'), expected('rs-5')] } }, r.text);

  const all = await stack.gql('{ CartReadModels(filter: {id: {beginsWith: "rs-"}}) { id } }');
  assert.deepStrictEqual(all.json, { data: { CartReadModels: ALL.map((id) => ({ id })) } }, all.text);
});

itest('read-model before hooks rewrite List and plural filters; calculated fields do not fail', async () => {
  // B2: a filter on id `before-fn-rs` becomes {id: {eq: "before-fn-rs-modified"}}.
  assert.deepStrictEqual(await listIds({ id: { eq: 'before-fn-rs' } }), [HOOKED_ID]);
  const r = await stack.gql('{ CartReadModels(filter: {id: {eq: "before-fn-rs"}}) { id cartItems { quantity } cartItemsSize } }');
  assert.equal(r.json.errors, undefined, r.text);
  const [cart] = r.json.data.CartReadModels;
  assert.equal(cart.id, HOOKED_ID);
  // cartItemsSize is a calculated field; the app API cannot bind its function yet, so it
  // may be null, but when it has a value it is the number of cartItems.
  assert.ok(cart.cartItemsSize === null || cart.cartItemsSize === cart.cartItems.length, r.text);
});

itest('List on a read model the user may not read: NotAuthorizedError, and data null (the field is non-null)', async () => {
  const q = '{ ListProductReadModels { items { id } count } }';
  const r = await stack.gql(q);
  assert.equal(r.status, 200);
  assert.equal(r.json.data, null, r.text);
  assert.equal(r.json.errors.length, 1, r.text);
  assert.equal(r.json.errors[0].message, 'Access denied for this resource');
  assert.deepStrictEqual(r.json.errors[0].path, ['ListProductReadModels']);
  assert.equal(r.json.errors[0].extensions.code, 'NotAuthorizedError');

  // The deprecated plural query is [ProductReadModel!]!, non-null as well.
  const plural = await stack.gql('{ ProductReadModels(filter: {}) { id } }', undefined, bearer('UserWithPhone'));
  assert.equal(plural.json.data, null, plural.text);
  assert.equal(plural.json.errors[0].message, 'Access denied for this resource');
  assert.deepStrictEqual(plural.json.errors[0].path, ['ProductReadModels']);

  const allowed = await stack.gql(q, undefined, bearer('UserWithEmail'));
  assert.deepStrictEqual(allowed.json, { data: { ListProductReadModels: { items: [], count: 0 } } }, allowed.text);
});

itest('List: eq/ne null, includes on an array of scalars, not, regex and iRegex on carts', async () => {
  // ne: null is "present and not null"; eq: null matches explicit nulls only, and no
  // address holds one (booster-surface.md §4.2).
  assert.deepStrictEqual(await listIds({ ...OURS, shippingAddress: { firstName: { ne: null } } }), ['rs-1', 'rs-2', 'rs-4']);
  assert.deepStrictEqual(await listIds({ ...OURS, shippingAddress: { firstName: { eq: null } } }), []);
  // cartItemsIds is the projection's list of product ids: a plain array of strings.
  const CART_IDS = `query ($filter: ListCartReadModelFilter) { ListCartReadModels(filter: $filter) { items { id cartItemsIds } count } }`;
  const r = await stack.gql(CART_IDS, { filter: { ...OURS, cartItemsIds: { includes: 'p1' } } });
  assert.equal(r.json.errors, undefined, r.text);
  assert.deepStrictEqual(r.json.data.ListCartReadModels.items.map((i) => i.id), ['rs-1', 'rs-2', 'rs-5']);
  assert.deepStrictEqual(await listIds({ ...OURS, not: { cartItemsIds: { includes: 'p1' } } }), ['rs-3', 'rs-4']);
  assert.deepStrictEqual(await listIds({ ...OURS, shippingAddress: { lastName: { regex: '^(Zoe|Bob)' } } }), ['rs-2', 'rs-4']);
  assert.deepStrictEqual(await listIds({ ...OURS, shippingAddress: { firstName: { iRegex: '^(ANA|zoe)$' } } }), ['rs-1', 'rs-2']);
  assert.deepStrictEqual(await listIds({ ...OURS, shippingAddress: { firstName: { regex: '^(ANA|zoe)$' } } }), []);
});

itest('List: an invalid regular expression is the client\'s error, named as such; the server carries on', async () => {
  const r = await stack.gql(LIST, { filter: { shippingAddress: { firstName: { regex: '(unclosed' } } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.data, null, r.text);
  assert.equal(r.json.errors.length, 1, r.text);
  const e = r.json.errors[0];
  assert.match(e.message, /^invalid filter for .*CartReadModel: invalid regular expression: /, r.text);
  assert.equal(e.extensions.code, 'InvalidParameterError', r.text);
  assert.deepStrictEqual(e.path, ['ListCartReadModels']);
  assert.deepStrictEqual(await listIds({ ...OURS, shippingAddress: { firstName: { regex: '^Ana$' } } }), ['rs-1']);
});

itest('SQL injection strings in filter values give exact (empty) results and no error', async () => {
  const hostile = [
    "rs-1' OR '1'='1",
    "rs-1'; DROP TABLE shop.events; --",
    "') OR true --",
    '%',
    '_s-1',
    'rs-1\\',
    '$1',
    '"rs-1"',
  ];
  for (const s of hostile) {
    assert.deepStrictEqual(await listIds({ id: { eq: s } }), [], `eq ${s}`);
    assert.deepStrictEqual(await listIds({ id: { contains: s } }), [], `contains ${s}`);
    assert.deepStrictEqual(await listIds({ id: { beginsWith: s } }), [], `beginsWith ${s}`);
    assert.deepStrictEqual(await listIds({ shippingAddress: { firstName: { eq: s } } }), [], `nested eq ${s}`);
    assert.deepStrictEqual(await listIds({ id: { in: ['rs-1', s] } }), ['rs-1'], `in ${s}`);
    assert.deepStrictEqual(await listIds({ cartItems: { includes: { productId: s } } }), [], `includes ${s}`);
  }
  // A hostile string as a field name is a path, not SQL.
  const r = await stack.gql('query ($f: JSON) { ListCartReadModels(filter: {cartItems: {includes: $f}}) { count } }', {
    f: { "productId') OR true --": 'p1' },
  });
  assert.deepStrictEqual(r.json, { data: { ListCartReadModels: { count: 0 } } }, r.text);
  // Nothing was dropped.
  const ev = await stack.gql('{ eventsByEntity(entity: Cart, entityID: "rs-1") { type } }');
  assert.equal(ev.json.data.eventsByEntity.length, 3, ev.text);
});

const EVENT_FIELDS = 'type entity entityID requestID user { id username roles } createdAt value';

/** eventsByEntity(entity: Cart, ...args): asserts no errors; resolves the list. */
async function cartEvents(args = '', headers = {}) {
  const r = await stack.gql(`{ eventsByEntity(entity: Cart${args}) { ${EVENT_FIELDS} } }`, undefined, headers);
  assert.equal(r.json.errors, undefined, r.text);
  return r.json.data.eventsByEntity;
}

itest('eventsByEntity: every Cart event for anyone, newest first, with Booster keys', async () => {
  const all = await waitFor(async () => {
    const evs = await cartEvents();
    return evs.length === eventCount ? evs : undefined;
  }, { what: `${eventCount} Cart events` });
  for (const e of all) {
    assert.deepStrictEqual(Object.keys(e).sort(), ['createdAt', 'entity', 'entityID', 'requestID', 'type', 'user', 'value']);
    assert.equal(e.entity, 'Cart');
    assert.match(e.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(e.requestID);
    assert.ok(['CartItemChanged', 'ShippingAddressUpdated'].includes(e.type), e.type);
  }
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].createdAt >= all[i].createdAt, 'newest first');
  // The mutations ran one after another, so the newest is the last one made.
  assert.equal(all[0].entityID, HOOKED_ID);
  assert.deepStrictEqual(all[0].value, { cartId: HOOKED_ID, productId: 'p9', quantity: 9 });
  assert.equal(all[0].user, null);

  // rs-4's events carry the user that made them, without claims.
  const rs4 = all.filter((e) => e.entityID === 'rs-4');
  assert.equal(rs4.length, 2);
  for (const e of rs4) {
    assert.deepStrictEqual(e.user, { id: 'userwithemail@example.com', username: 'userwithemail@example.com', roles: ['UserWithEmail'] });
  }
  assert.deepStrictEqual(rs4.map((e) => e.type), ['ShippingAddressUpdated', 'CartItemChanged']);
  assert.deepStrictEqual(rs4[0].value, { cartId: 'rs-4', address: CARTS['rs-4'].address });

  // The same for a signed-in user of any role.
  assert.deepStrictEqual(await cartEvents('', bearer('Admin')), all);

  // entityID, limit (the newest N), from/to compared as strings with createdAt.
  const rs1 = await cartEvents(', entityID: "rs-1"');
  assert.deepStrictEqual(rs1, all.filter((e) => e.entityID === 'rs-1'));
  assert.deepStrictEqual(rs1.map((e) => e.type), ['ShippingAddressUpdated', 'CartItemChanged', 'CartItemChanged']);
  assert.deepStrictEqual(await cartEvents(', limit: 3'), all.slice(0, 3));
  assert.deepStrictEqual(await cartEvents(', entityID: "rs-1", limit: 1'), rs1.slice(0, 1));

  const mid = all[Math.floor(all.length / 2)].createdAt;
  assert.deepStrictEqual(await cartEvents(`, from: "${mid}"`), all.filter((e) => e.createdAt >= mid));
  assert.deepStrictEqual(await cartEvents(`, to: "${mid}"`), all.filter((e) => e.createdAt <= mid));
  assert.deepStrictEqual(await cartEvents(`, from: "${mid}", to: "${mid}"`), all.filter((e) => e.createdAt === mid));
  const year = all[0].createdAt.slice(0, 4);
  assert.deepStrictEqual(await cartEvents(`, from: "${year}"`), all, 'a year prefix as from keeps that year');
  assert.deepStrictEqual(await cartEvents(', to: "2000"'), []);
  assert.deepStrictEqual(await cartEvents(`, from: "${all[0].createdAt}", limit: 2`), all.filter((e) => e.createdAt >= all[0].createdAt).slice(0, 2));
});

itest('eventsByType: one type, newest first; authorized by the entity that reduces it', async () => {
  const r = await stack.gql(`{ eventsByType(type: ShippingAddressUpdated) { ${EVENT_FIELDS} } }`);
  assert.equal(r.json.errors, undefined, r.text);
  const evs = r.json.data.eventsByType;
  assert.deepStrictEqual(evs.map((e) => e.entityID), ['rs-4', 'rs-2', 'rs-1']);
  assert.ok(evs.every((e) => e.type === 'ShippingAddressUpdated' && e.entity === 'Cart'));
  const limited = await stack.gql('{ eventsByType(type: CartItemChanged, limit: 2) { entityID value } }');
  assert.deepStrictEqual(limited.json.data.eventsByType.map((e) => e.entityID), [HOOKED_ID, 'rs-5'], limited.text);

  // ProductCreated belongs to Product: [UserWithEmail] only.
  const anon = await stack.gql('{ eventsByType(type: ProductCreated) { type } }');
  assert.deepStrictEqual(anon.json.data, { eventsByType: null }, anon.text);
  assert.equal(anon.json.errors[0].message, 'Access denied for this resource');
  assert.equal(anon.json.errors[0].extensions.code, 'NotAuthorizedError');
  const email = await stack.gql('{ eventsByType(type: ProductCreated) { type } }', undefined, bearer('UserWithEmail'));
  assert.deepStrictEqual(email.json, { data: { eventsByType: [] } }, email.text);
});

itest('Pack events are denied to everyone, by entity and by type', async () => {
  for (const headers of [{}, bearer('Admin'), bearer('UserWithEmail'), bearer('UserWithPhone')]) {
    for (const [field, q] of [
      ['eventsByEntity', '{ eventsByEntity(entity: Pack) { type } }'],
      ['eventsByType', '{ eventsByType(type: PackCreated) { type } }'],
    ]) {
      const r = await stack.gql(q, undefined, headers);
      assert.equal(r.status, 200);
      assert.deepStrictEqual(r.json.data, { [field]: null }, r.text);
      assert.equal(r.json.errors.length, 1, r.text);
      assert.equal(r.json.errors[0].message, 'Access denied for this resource');
      assert.deepStrictEqual(r.json.errors[0].path, [field]);
      assert.equal(r.json.errors[0].extensions.code, 'NotAuthorizedError');
    }
  }
});

itest('List: numbers and booleans compare as such (ProductReadModel price.cents, featured)', async () => {
  const admin = bearer('Admin');
  const CREATE = `mutation ($id: ID!, $sku: String!, $cents: Float!, $featured: Boolean) {
    CreateProduct(input: {sku: $sku, displayName: "d", description: "x", priceInCents: $cents, currency: "EUR", productID: $id, featured: $featured})
  }`;
  const products = { 'rsp-a': [100, true], 'rsp-b': [250, false], 'rsp-c': [900, true], 'rsp-d': [99.5, false] };
  for (const [id, [cents, featured]] of Object.entries(products)) {
    const r = await stack.gql(CREATE, { id, sku: `sku-${id}`, cents, featured }, admin);
    assert.deepStrictEqual(r.json, { data: { CreateProduct: true } }, r.text);
  }
  const Q = `query ($filter: ListProductReadModelFilter) {
    ListProductReadModels(filter: $filter, sortBy: {id: ASC}) { items { id } count }
  }`;
  const ids = async (filter) => {
    const r = await stack.gql(Q, { filter: { id: { beginsWith: 'rsp-' }, ...filter } }, admin);
    assert.equal(r.json.errors, undefined, r.text);
    return r.json.data.ListProductReadModels.items.map((i) => i.id);
  };
  await waitFor(async () => (await ids({})).length === 4, { timeoutMs: 60000, what: 'the rsp- products in ProductReadModel' });
  assert.deepStrictEqual(await ids({ price: { cents: { gt: 100 } } }), ['rsp-b', 'rsp-c']);
  assert.deepStrictEqual(await ids({ price: { cents: { gte: 100, lt: 900 } } }), ['rsp-a', 'rsp-b']);
  assert.deepStrictEqual(await ids({ price: { cents: { lte: 99.5 } } }), ['rsp-d']);
  assert.deepStrictEqual(await ids({ price: { cents: { ne: 250 } } }), ['rsp-a', 'rsp-c', 'rsp-d']);
  assert.deepStrictEqual(await ids({ price: { cents: { in: [900, 99.5] } } }), ['rsp-c', 'rsp-d']);
  assert.deepStrictEqual(await ids({ featured: { eq: true } }), ['rsp-a', 'rsp-c']);
  assert.deepStrictEqual(await ids({ featured: { ne: true } }), ['rsp-b', 'rsp-d']);
  assert.deepStrictEqual(await ids({ or: [{ featured: { eq: false } }, { price: { cents: { gt: 500 } } }] }), ['rsp-b', 'rsp-c', 'rsp-d']);
  assert.deepStrictEqual(await ids({ not: { or: [{ featured: { eq: false } }, { price: { cents: { gt: 500 } } }] } }), ['rsp-a']);
  // Sorting by a number sorts numerically (99.5 before 100), not as text.
  const r = await stack.gql(`{ ListProductReadModels(filter: {id: {beginsWith: "rsp-"}}, sortBy: {price: {cents: ASC}}) { items { id } } }`, undefined, admin);
  assert.deepStrictEqual(r.json.data.ListProductReadModels.items.map((i) => i.id), ['rsp-d', 'rsp-a', 'rsp-b', 'rsp-c'], r.text);
});

itest('the read side indexes exist after start-up', async () => {
  const idx = await stack.sql(
    "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'shop' AND indexname IN ('events_entity_type_created_at_idx', 'rm_cartreadmodel_value_idx', 'rm_productreadmodel_value_idx')",
  );
  assert.equal(idx, 'events_entity_type_created_at_idx,rm_cartreadmodel_value_idx,rm_productreadmodel_value_idx');
});

itestStopsCleanly(() => stack);
