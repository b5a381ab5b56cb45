// Poison data (issue 9, findings 1 and 2): single requests whose values could not get
// through the pipeline and took every daemon down with them. 1e308 came back from jsonb
// as a 309-digit integer jansson refused, so the reducer retried its snapshot forever and
// InspectCart crash-looped the command processor; a 3,000-byte cart id exceeded
// PostgreSQL's btree row limit and crash-looped the processor. Now numbers are finite
// doubles in one encoding (docs/app-sdl.md, Numbers) and ids have a maximum length (Ids),
// and this file checks it end to end: each value reaches InspectCart, the snapshot and the
// read model as documented, a canary cart keeps flowing, and no daemon ever restarts.
// Commands, events and snapshots with over-long ids are also produced straight to Kafka
// (tools/produce.c), as a buggy or hostile producer would, past the gateway's checks.
//
// The last test is a property test: generated hostile values (every scalar's extremes,
// long and odd strings over every Unicode plane, lone surrogates, 100 KB strings, long
// ids) through mutation -> events -> snapshot -> read model -> query, with a seeded PRNG
// (RAMJET_POISON_SEED=<n> replays a run; RAMJET_POISON_COUNT sets how many mutations).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before } from 'node:test';
import { CHANGE_CART_ITEM, DAEMONS, buildDir, MUTATION_OK, itest, itestStopsCleanly, sleep, startStack, waitFor } from './lib/stack.mjs';

let stack;
let pids; // every daemon's pid once the stack is up: none may change
before(async () => {
  stack = await startStack({ name: 'poison' });
  pids = await daemonPids();
});
after(async () => {
  await stack?.stop();
});

async function daemonPids() {
  const out = {};
  for (const d of Object.keys(DAEMONS)) {
    out[d] = await waitFor(() => stack.pidOf(d), { what: `the pid of ${d}` });
  }
  return out;
}

async function assertNoRestarts() {
  assert.deepStrictEqual(await daemonPids(), pids, 'a daemon was restarted');
}

const MAX_ID_BYTES = 256; // the gateway's default max-id-bytes
const DBL_MAX = 1.7976931348623157e308;

const INSPECT_CART = `mutation ($id: ID!) {
  InspectCart(input: {cartId: $id}) { id cartItems { productId quantity } shippingAddress { firstName lastName country state postalCode address } }
}`;
const READ_CART = `query ($id: ID!) {
  CartReadModel(id: $id) { id cartItems { productId quantity } shippingAddress { firstName lastName country state postalCode address } }
}`;
const UPDATE_ADDRESS = `mutation ($cartId: ID!, $address: AddressInput!) {
  UpdateShippingAddress(input: {cartId: $cartId, address: $address})
}`;

async function mutateOk(cartId, productId, quantity) {
  const r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId, quantity });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
}

async function inspect(id) {
  const r = await stack.gql(INSPECT_CART, { id }, {}, { timeoutMs: 60000 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json?.errors, undefined, r.text);
  return r.json.data.InspectCart;
}

/** Waits until the read model of cart @p id has the items @p items; resolves the row. */
async function readModelReaches(id, pred, what, timeoutMs = 60000) {
  return waitFor(
    async () => {
      const r = await stack.gql(READ_CART, { id });
      const row = r.json?.data?.CartReadModel;
      return row && pred(row) ? row : undefined;
    },
    { timeoutMs, what },
  );
}

/** The canary: one more item on its own cart, seen in the read model within the bound. */
let canaryCount = 0;
async function canaryFlows(boundMs = 30000) {
  canaryCount++;
  const started = Date.now();
  await mutateOk('poison-canary', 'p', 1);
  await readModelReaches(
    'poison-canary',
    (row) => row.cartItems[0]?.quantity === canaryCount,
    `the canary's read model to count ${canaryCount}`,
    boundMs,
  );
  return Date.now() - started;
}

/** assert.deepStrictEqual as a predicate, for polling (it tells -0 from 0, as we want). */
function same(actual, expected) {
  try {
    assert.deepStrictEqual(actual, expected);
    return true;
  } catch {
    return false;
  }
}

function assertErrorCode(r, code, what) {
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
  assert.ok(r.json?.errors?.length > 0, `${what}: no error in ${r.text.slice(0, 300)}`);
  assert.equal(r.json.errors[0].extensions?.code, code, `${what}: ${r.text.slice(0, 300)}`);
}

itest('finding 1: 1e308 on a cart, then more mutations, InspectCart and the read model all work', { timeout: 180000 }, async () => {
  await canaryFlows();
  // The request of the finding, as a literal, then another mutation on the same cart.
  let r = await stack.gql('mutation { ChangeCartItem(input: {cartId: "big1", productId: "p", quantity: 1e308}) }');
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  await mutateOk('big1', 'q', 2);
  // jsonb holds the snapshot's 1e308 as the 309-digit integer that used to poison it.
  const snap = await waitFor(
    () => stack.sql("SELECT value::text FROM shop.snapshots WHERE entity_type = 'Cart' AND entity_id = 'big1' AND version = 2"),
    { timeoutMs: 60000, what: 'the snapshot of big1 at version 2' },
  );
  assert.match(snap, /"quantity": 1[0]{308}\b/, `jsonb spells 1e308 as digits: ${snap.slice(0, 200)}`);
  // Every reader of it: the command processor (InspectCart, twice, and a third mutation),
  // the reducer (a later snapshot), the projector (the read model), the gateway's handler.
  const items = [{ productId: 'p', quantity: 1e308 }, { productId: 'q', quantity: 2 }];
  assert.deepStrictEqual((await inspect('big1')).cartItems, items);
  await mutateOk('big1', 'q', 1);
  items[1].quantity = 3;
  assert.deepStrictEqual((await inspect('big1')).cartItems, items);
  await readModelReaches('big1', (row) => same(row.cartItems, items), 'big1 in the read model');
  r = await stack.gql('query { CartTotalQuantity(input: {cartId: "big1"}) }');
  assert.deepStrictEqual(r.json, { data: { CartTotalQuantity: 1e308 } }, r.text);
  // A handler's sum beyond the double range (the shop's json_real(inf) is NULL) is a
  // field error, not a crash and not an infinity in the answer.
  await mutateOk('big2', 'p', DBL_MAX);
  await mutateOk('big2', 'q', DBL_MAX);
  r = await stack.gql('query { CartTotalQuantity(input: {cartId: "big2"}) }');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json?.data, null, r.text);
  assert.deepStrictEqual(r.json.errors[0].path, ['CartTotalQuantity'], r.text);
  await canaryFlows();
  await assertNoRestarts();
});

itest('the extremes of a double, as literals and as variables, read back as documented', { timeout: 180000 }, async () => {
  // [literal, what a client reads back]: -0 is 0 (jsonb has no negative zero), 2^53+1 is
  // 2^53 (a Float is a double), 5e-324 and ±DBL_MAX are themselves, 1e-400 underflows to 0.
  const cases = [
    ['1.7976931348623157e308', DBL_MAX],
    ['-1.7976931348623157e308', -DBL_MAX],
    ['5e-324', 5e-324],
    ['-5e-324', -5e-324],
    ['-0.0', 0],
    ['9007199254740993', 9007199254740992],
    ['-9007199254740993', -9007199254740992],
    ['9007199254740994.0', 9007199254740994],
    ['0.1', 0.1],
    ['1e-400', 0],
  ];
  for (const [i, [literal]] of cases.entries()) {
    const r = await stack.gql(`mutation { ChangeCartItem(input: {cartId: "ext-lit", productId: "p${i}", quantity: ${literal}}) }`);
    assert.deepStrictEqual(r.json, MUTATION_OK, `${literal}: ${r.text}`);
    // The same number as a JSON variable, spelt the same way in the request body.
    const v = await stack.post(
      `{"query":${JSON.stringify(CHANGE_CART_ITEM)},"variables":{"cartId":"ext-var","productId":"p${i}","quantity":${literal}}}`,
    );
    assert.deepStrictEqual(v.json, MUTATION_OK, `${literal} as a variable: ${v.text}`);
  }
  const expected = cases.map(([, back], i) => ({ productId: `p${i}`, quantity: back }));
  for (const id of ['ext-lit', 'ext-var']) {
    const got = (await inspect(id)).cartItems;
    assert.deepStrictEqual(got, expected, `InspectCart ${id}`);
    assert.ok(!Object.is(got[4].quantity, -0), '-0 reads back as 0');
    await readModelReaches(id, (row) => same(row.cartItems, expected), `${id} in the read model`);
  }

  // Beyond the double range: a GraphQL error in graphql-js's words, nothing stored.
  for (const literal of ['1e309', '-1e400']) {
    const r = await stack.gql(`mutation { ChangeCartItem(input: {cartId: "ext-inf", productId: "p", quantity: ${literal}}) }`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json?.errors?.[0]?.message, `Float cannot represent non numeric value: ${literal}`, r.text);
    const v = await stack.post(
      `{"query":${JSON.stringify(CHANGE_CART_ITEM)},"variables":{"cartId":"ext-inf","productId":"p","quantity":${literal}}}`,
    );
    assert.equal(v.json?.errors?.[0]?.extensions?.code, 'InvalidParameterError', v.text);
    assert.match(v.json.errors[0].message, /Float cannot represent non numeric value/, v.text);
  }
  assert.equal(await stack.sql("SELECT count(*) FROM shop.entity_heads WHERE entity_id = 'ext-inf'"), '0');
  await canaryFlows();
  await assertNoRestarts();
});

itest('finding 2: ids over max-id-bytes are refused at the edge, everywhere ids are taken', { timeout: 180000 }, async () => {
  const long = randomBytes(1500).toString('hex'); // 3000 bytes no compression shrinks
  // The request of the finding, as a literal and as a variable.
  let r = await stack.gql(`mutation { ChangeCartItem(input: {cartId: "${long}", productId: "p", quantity: 1}) }`);
  assertErrorCode(r, 'InvalidParameterError', 'a 3000-byte cartId literal');
  assert.equal(r.json.errors[0].message, `an id must not be longer than ${MAX_ID_BYTES} bytes; got one of 3000 bytes`);
  assert.equal(r.json.data?.ChangeCartItem ?? null, null, r.text.slice(0, 300));
  r = await stack.gql(CHANGE_CART_ITEM, { cartId: long, productId: 'p', quantity: 1 });
  assertErrorCode(r, 'InvalidParameterError', 'a 3000-byte cartId variable');
  // Bytes, not characters: 100 euro signs are 300 bytes.
  r = await stack.gql(CHANGE_CART_ITEM, { cartId: '€'.repeat(100), productId: 'p', quantity: 1 });
  assertErrorCode(r, 'InvalidParameterError', 'a 300-byte cartId of 100 characters');
  // Any ID, not only the command's key: a product id, a read-model id, a filter, events.
  r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'short', productId: 'y'.repeat(MAX_ID_BYTES + 1), quantity: 1 });
  assertErrorCode(r, 'InvalidParameterError', 'a long productId');
  r = await stack.gql(READ_CART, { id: long });
  assertErrorCode(r, 'InvalidParameterError', 'CartReadModel(id:) with a long id');
  r = await stack.gql('query ($ids: [ID]) { ListCartReadModels(filter: {id: {in: $ids}}) { items { id } } }', { ids: ['a', long] });
  assertErrorCode(r, 'InvalidParameterError', 'a long id in a filter list');
  r = await stack.gql('query ($id: ID) { eventsByEntity(entity: Cart, entityID: $id) { entityID } }', { id: long });
  assertErrorCode(r, 'InvalidParameterError', 'eventsByEntity with a long id');
  r = await stack.gql(INSPECT_CART, { id: long });
  assertErrorCode(r, 'InvalidParameterError', 'InspectCart with a long id');
  // Exactly at the limit is fine, end to end.
  const edge = 'e'.repeat(MAX_ID_BYTES);
  await mutateOk(edge, 'p', 1);
  assert.deepStrictEqual((await inspect(edge)).cartItems, [{ productId: 'p', quantity: 1 }]);
  await readModelReaches(edge, (row) => row.cartItems.length === 1, 'the cart with a 256-byte id');

  assert.equal(await stack.sql("SELECT count(*) FROM shop.entity_heads WHERE length(entity_id) > 256"), '0');
  await canaryFlows();
  await assertNoRestarts();
});

/** Produces one message straight to Kafka, past the gateway (tests/integration/tools/produce.c). */
function produce(topic, key, value) {
  const tool = path.join(buildDir, 'tests', 'integration', 'ramjet-test-produce');
  const r = spawnSync(tool, [stack.urls.kafka, topic, key], { input: value, encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, `${tool}: ${r.error ?? ''} ${r.stderr}`);
}

itest('a command for an id over 1024 bytes, produced past the gateway, fails alone', { timeout: 180000 }, async () => {
  const requestId = `poison-direct-${Date.now()}`;
  // Incompressible, as the finding's was: PostgreSQL compresses 3000 equal bytes below
  // the btree row limit.
  const cartId = randomBytes(1500).toString('hex');
  const command = {
    requestId,
    command: 'ChangeCartItem',
    input: { cartId, productId: 'p', quantity: 1 },
    replyTo: 'shop:reply:poison-test',
    issuedAt: new Date().toISOString(),
  };
  produce('shop.commands', cartId, JSON.stringify(command));
  // Its reply, kept in the outbox: the error a client would have got.
  const reply = await waitFor(
    () => stack.sql(`SELECT reply::text FROM shop.command_outbox WHERE request_id = '${requestId}'`),
    { timeoutMs: 60000, what: 'the reply to the directly produced command' },
  );
  assert.deepStrictEqual(JSON.parse(reply).message, {
    requestId,
    ok: false,
    error: { message: 'an id must not be longer than 1024 bytes; got one of 3000 bytes', code: 'InvalidParameterError' },
  });
  assert.equal(await stack.sql('SELECT count(*) FROM shop.entity_heads WHERE length(entity_id) > 1024'), '0');
  await canaryFlows();
  await assertNoRestarts();
});

itest('a command with a 3000-byte request id, produced past the gateway, stops nothing', { timeout: 180000 }, async () => {
  const requestId = randomBytes(1500).toString('hex');
  const command = {
    requestId,
    command: 'ChangeCartItem',
    input: { cartId: 'poison-long-request', productId: 'p', quantity: 1 },
    replyTo: 'shop:reply:poison-test',
    issuedAt: new Date().toISOString(),
  };
  produce('shop.commands', 'poison-long-request', JSON.stringify(command));
  // The command_outbox is keyed by request id: the processor's decoder refuses the
  // envelope (its undecodable-message path dead-letters it) instead of failing the batch.
  await canaryFlows();
  await canaryFlows();
  assert.equal(await stack.sql('SELECT count(*) FROM shop.command_outbox WHERE length(request_id) > 1024'), '0');
  assert.equal(await stack.sql("SELECT count(*) FROM shop.entity_heads WHERE entity_id = 'poison-long-request'"), '0');
  await assertNoRestarts();
});

itest('an event and a snapshot with 3000-byte entity ids, produced straight to Kafka, stop nothing', { timeout: 180000 }, async () => {
  const entityId = randomBytes(1500).toString('hex');
  const now = new Date().toISOString();
  produce('shop.events', `Cart/${entityId}`, JSON.stringify({
    eventId: '3f0a1c52-8a1e-5b2c-9d40-1f2e3d4c5b6a', type: 'CartItemChanged', entity: 'Cart', entityId,
    version: 1, requestId: 'poison-direct-event', createdAt: now,
    value: { cartId: entityId, productId: 'p', quantity: 1 }, currentUser: null,
  }));
  produce('shop.snapshots', `Cart/${entityId}`, JSON.stringify({
    entity: 'Cart', entityId, version: 1, value: { id: entityId, cartItems: [] },
    lastEventId: '3f0a1c52-8a1e-5b2c-9d40-1f2e3d4c5b6a', createdAt: now,
  }));
  await canaryFlows();
  await canaryFlows();
  for (const table of ['events', 'snapshots']) {
    assert.equal(await stack.sql(`SELECT count(*) FROM shop.${table} WHERE length(entity_id) > 1024`), '0', table);
  }
  await assertNoRestarts();
});

// ---- the property test ----------------------------------------------------------------

/** mulberry32: small, seedable, good enough to pick test values. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CODE_POINTS = [
  [0x20, 0x7e], // ASCII, quotes and backslashes included
  [0x01, 0x1f], // control characters (NUL is refused on purpose, bad-input.test.mjs)
  [0x80, 0x7ff], // two-byte UTF-8: Latin, Greek, Cyrillic, Hebrew, Arabic (RTL)
  [0x300, 0x36f], // combining marks
  [0x800, 0xd7ff], // three-byte BMP: CJK and the rest
  [0xe000, 0xfffd], // private use, specials
  [0x10000, 0x1ffff], // plane 1: emoji, historic scripts
  [0x20000, 0x3ffff], // planes 2-3: CJK extensions
  [0xe0000, 0xe007f], // plane 14: tags
  [0xf0000, 0x10ffff], // planes 15-16: private use, up to the last code point
];

function generator(rand) {
  const int = (n) => Math.floor(rand() * n);
  const pick = (a) => a[int(a.length)];
  const codePoint = () => {
    const [lo, hi] = pick(CODE_POINTS);
    return String.fromCodePoint(lo + int(hi - lo + 1));
  };
  const text = (maxChars) => {
    let s = '';
    const n = int(maxChars + 1);
    for (let i = 0; i < n; i++) s += codePoint();
    return s;
  };
  const g = {
    /** A string: mostly short and odd, sometimes long, rarely 100 KB, sometimes with a lone surrogate. */
    string() {
      const r = rand();
      if (r < 0.03) return text(8).padEnd(100 * 1024, pick(['a', 'é', '€', '😀']));
      if (r < 0.1) return text(4) + String.fromCharCode(0xd800 + int(0x800)) + text(4); // lone surrogate
      if (r < 0.3) return text(300);
      return text(12);
    },
    /** An id: around the limit, sometimes far over it, sometimes empty. */
    id() {
      const r = rand();
      if (r < 0.05) return '';
      if (r < 0.15) return 'i'.repeat(MAX_ID_BYTES - 1 + int(3)); // 255, 256, 257 bytes
      if (r < 0.2) return 'L'.repeat(1000 + int(3000));
      return `h-${text(int(2) ? 6 : 90)}`;
    },
    /** A Float as [literal text or null, JSON number text or null, the value a client reads back]. */
    float() {
      const r = rand();
      if (r < 0.1) return pick([['1e309', null], ['-1e400', null], ['1' + '0'.repeat(400), null]]).concat([undefined]);
      if (r < 0.5) {
        const [lit, back] = pick([
          ['1.7976931348623157e308', DBL_MAX], ['-1.7976931348623157e308', -DBL_MAX], ['5e-324', 5e-324],
          ['-5e-324', -5e-324], ['-0.0', 0], ['0', 0], ['9007199254740993', 9007199254740992],
          ['9007199254740991', 9007199254740991], ['1e308', 1e308], ['1' + '0'.repeat(308), 1e308],
          ['2.2250738585072014e-308', 2.2250738585072014e-308], ['1e-400', 0], ['2147483648', 2147483648],
          ['0.30000000000000004', 0.30000000000000004],
        ]);
        return [lit, lit, back];
      }
      // Any finite double, from random bits.
      const dv = new DataView(new ArrayBuffer(8));
      let d;
      do {
        dv.setUint32(0, int(2 ** 32));
        dv.setUint32(4, int(2 ** 32));
        d = dv.getFloat64(0);
      } while (!Number.isFinite(d));
      const lit = String(d);
      return [lit, lit, d === 0 ? 0 : d];
    },
  };
  return g;
}

const utf8 = (s) => Buffer.byteLength(s, 'utf8');
const hasLoneSurrogate = (s) => /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
const ADDRESS_FIELDS = ['firstName', 'lastName', 'country', 'state', 'postalCode', 'address'];

itest('property: generated hostile values through the whole pipeline while the canary flows', { timeout: 600000 }, async () => {
  const seed = Number.parseInt(process.env.RAMJET_POISON_SEED ?? '', 10) || (Date.now() % 2 ** 31);
  const count = Number.parseInt(process.env.RAMJET_POISON_COUNT ?? '', 10) || 500;
  const budgetMs = 180000;
  process.stderr.write(`poison property test: seed=${seed} count=${count} (RAMJET_POISON_SEED=${seed} replays it)\n`);
  const rand = prng(seed);
  const g = generator(rand);
  const int = (n) => Math.floor(rand() * n);

  // The carts the run writes to: a few hostile ids, reused so that mutations pile up.
  const cartIds = [];
  while (cartIds.length < 12) cartIds.push(g.id());
  /** What each accepted cart must read back: {items: [{productId, quantity}], address}. */
  const model = new Map();

  // The canary keeps flowing meanwhile, in the background; its worst lag is the measure.
  let stop = false;
  let canaryWorst = 0;
  let canaryRounds = 0;
  const canary = (async () => {
    while (!stop) {
      canaryWorst = Math.max(canaryWorst, await canaryFlows(30000));
      canaryRounds++;
      await sleep(500);
    }
  })();

  const started = Date.now();
  const tally = { accepted: 0, refused: 0 };
  try {
    for (let n = 0; n < count && Date.now() - started < budgetMs; n++) {
      const cartId = int(4) === 0 ? g.id() : cartIds[int(cartIds.length)];
      const kind = int(10);
      let r;
      let apply; // what an accepted mutation does to the model
      let mustRefuse = utf8(cartId) > MAX_ID_BYTES || hasLoneSurrogate(cartId);
      let what;
      if (kind < 6) {
        const productId = int(3) === 0 ? g.id() : `p${int(3)}`;
        const [literal, json, back] = g.float();
        mustRefuse ||= back === undefined || utf8(productId) > MAX_ID_BYTES || hasLoneSurrogate(productId);
        if (int(2) === 0) {
          // JSON.stringify writes a lone surrogate as a \udXXX escape, which GraphQL refuses too.
          const q = `mutation { ChangeCartItem(input: {cartId: ${JSON.stringify(cartId)}, productId: ${JSON.stringify(productId)}, quantity: ${literal}}) }`;
          r = await stack.gql(q, undefined, {}, { timeoutMs: 60000 });
        } else {
          r = await stack.post(
            `{"query":${JSON.stringify(CHANGE_CART_ITEM)},"variables":{"cartId":${JSON.stringify(cartId)},"productId":${JSON.stringify(productId)},"quantity":${json ?? literal}}}`,
            {},
            { timeoutMs: 60000 },
          );
        }
        what = `ChangeCartItem(${JSON.stringify(cartId).slice(0, 40)}, ${JSON.stringify(productId).slice(0, 40)}, ${String(literal).slice(0, 40)})`;
        apply = (cart) => {
          const item = cart.items.find((i) => i.productId === productId);
          if (!item) cart.items.push({ productId, quantity: back });
          else if (Number.isFinite(item.quantity + back)) item.quantity = item.quantity + back === 0 ? 0 : item.quantity + back;
          // else: the shop's reducer refuses a sum beyond the double range; the state stays.
        };
      } else if (kind < 9) {
        const address = Object.fromEntries(ADDRESS_FIELDS.map((f) => [f, g.string()]));
        mustRefuse ||= Object.values(address).some(hasLoneSurrogate);
        r = await stack.gql(UPDATE_ADDRESS, { cartId, address }, {}, { timeoutMs: 60000 });
        what = `UpdateShippingAddress(${JSON.stringify(cartId).slice(0, 40)})`;
        apply = (cart) => (cart.address = address);
      } else {
        // Reads with hostile arguments: answered, never fatal.
        const id = g.id();
        for (const [q, v] of [
          [READ_CART, { id }],
          ['query ($s: String) { ListCartReadModels(filter: {id: {beginsWith: $s}}, limit: 3) { items { id } } }', { s: g.string() }],
          ['query ($id: ID) { eventsByEntity(entity: Cart, entityID: $id, limit: 3) { entityID } }', { id }],
          ['query ($id: ID!) { CartTotalQuantity(input: {cartId: $id}) }', { id }],
          // Int is 32-bit: its extremes, just past them, and what is not an Int.
          ['query ($n: Int) { ListCartReadModels(limit: $n) { items { id } } }',
            { n: [2147483647, -2147483648, 2147483648, -2147483649, -1, 0, 1e10, 1.5, 9007199254740993][int(9)] }],
        ]) {
          const a = await stack.gql(q, v, {}, { timeoutMs: 60000 });
          assert.ok(a.status === 200 || a.status === 400, `${q.slice(0, 40)}: ${a.status} ${a.text.slice(0, 300)}`);
          assert.ok(a.json?.data !== undefined || a.json?.errors?.length > 0, `${q.slice(0, 40)}: ${a.text.slice(0, 300)}`);
        }
        continue;
      }
      // Every mutation gets an answer: data, or an error a client can read.
      assert.ok(r.status === 200 || r.status === 400, `${what}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
      const accepted = r.json?.errors === undefined && Object.values(r.json?.data ?? {})[0] === true;
      if (mustRefuse) {
        assert.ok(!accepted, `${what} must be refused: ${r.text.slice(0, 300)}`);
        assert.ok(r.json?.errors?.[0]?.message, `${what}: no error message in ${r.text.slice(0, 300)}`);
        assert.notEqual(r.json.errors[0].extensions?.code, 'TimeoutError', `${what} timed out instead of being refused`);
      }
      if (!accepted) {
        tally.refused++;
        continue;
      }
      tally.accepted++;
      if (!model.has(cartId)) model.set(cartId, { items: [], address: null });
      apply(model.get(cartId));
    }
  } finally {
    stop = true;
    await canary;
  }

  // Every accepted cart reads back what was written: the processor's fold (InspectCart),
  // then the reducer's snapshot and the projector's read model.
  for (const [id, cart] of model) {
    const want = { id, cartItems: cart.items, shippingAddress: cart.address };
    assert.deepStrictEqual(await inspect(id), want, `InspectCart of ${JSON.stringify(id).slice(0, 60)}`);
    await readModelReaches(
      id,
      (row) => same(row, want),
      `the read model of ${JSON.stringify(id).slice(0, 60)} to hold ${JSON.stringify(want).slice(0, 200)}`,
    );
  }
  process.stderr.write(
    `poison property test: seed=${seed}: ${tally.accepted} accepted, ${tally.refused} refused, ${model.size} carts checked, ` +
      `canary ${canaryRounds} rounds, worst mutation-to-read-model ${canaryWorst} ms, ${Date.now() - started} ms\n`,
  );
  await canaryFlows();
  await assertNoRestarts();
});

itestStopsCleanly(() => stack);
