// `ramjet replay <ReadModel>` against a running stack (docs/running.md; docs/architecture.md,
// "Rebuilding a read model"): a read model corrupted behind Ramjet's back is rebuilt from the
// event store to exactly what the projector had made of it; a replay while mutations keep
// coming loses nothing and moves nothing backwards; a reader polling during the replay never
// sees the read model empty; an unknown read model is refused.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CHANGE_CART_ITEM, MUTATION_OK, buildDir, foldCart, itest, itestStopsCleanly, shopDevKeyEnv, sleep, startStack, waitFor } from './lib/stack.mjs';

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
const asAdmin = () => ({ authorization: `Bearer ${token('Admin')}` });

const CONFIRM = `mutation ($paymentId: ID!, $cartId: ID!) {
  ConfirmPayment(input: {paymentId: $paymentId, cartId: $cartId, confirmationToken: "tok"}) }`;
const CREATE_PRODUCT = `mutation ($id: ID!, $sku: String!) {
  CreateProduct(input: {productID: $id, sku: $sku, displayName: $sku, description: "d", priceInCents: 100, currency: "EUR"}) }`;
const CREATE_PACK = `mutation ($id: ID!, $products: [ID!]!) { CreatePack(input: {packID: $id, name: "pack", products: $products}) }`;
const DELETE_PRODUCT = `mutation ($id: ID!) { DeleteProduct(input: {productId: $id}) }`;
const CHANGE_PRICE = `mutation ($id: ID!) { ChangeProductPrice(input: {productId: $id, priceCents: 250, changedAt: "2026-01-01T00:00:00.000Z"}) }`;
const LIST_CARTS = `query { ListCartReadModels(filter: {id: {beginsWith: "rp-"}}, limit: 1000) { items { id } count } }`;

let stack;
before(async () => {
  stack = await startStack({ name: 'replay' });
});
after(async () => {
  await stack?.stop();
});

/** Runs a mutation and insists it answered true. */
async function mutate(query, variables, headers) {
  const r = await stack.gql(query, variables, headers);
  const field = Object.keys(r.json?.data ?? {})[0];
  assert.ok(field && r.json.data[field] === true && !r.json.errors, `${query}: ${r.text}`);
}

/** Runs `ramjet replay <args>`; resolves {code, stdout, stderr}. */
function replay(...args) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('RAMJET_') && k !== 'RAMJET_LOG_LEVEL') delete env[k];
    Object.assign(env, {
      ...shopDevKeyEnv,
      RAMJET_PG_URL: stack.urls.postgres,
      RAMJET_KAFKA_BROKERS: stack.urls.kafka,
      RAMJET_REDIS_URL: stack.urls.redis,
      RAMJET_APP: path.join(buildDir, 'lib', 'libshop.so'),
    });
    const p = spawn(path.join(buildDir, 'bin', 'ramjet'), ['replay', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every entity whose last version the projector has not recorded yet, as "type/id". */
async function unprojected() {
  const rows = await stack.sqlRows(
    `SELECT h.entity_type || '/' || h.entity_id AS e FROM shop.entity_heads h
     LEFT JOIN shop.projected_entities p USING (entity_type, entity_id)
     WHERE p.version IS DISTINCT FROM h.version`,
  );
  return rows.map((r) => r.e);
}
const waitProjected = () =>
  waitFor(async () => (await unprojected()).length === 0, { timeoutMs: 60000, what: 'every entity projected' });

/** A read model's rows: {id, seq, version, value}, by (id, seq). */
const rowsOf = (table) => stack.sqlRows(`SELECT id, seq, version, value FROM shop.${table} ORDER BY id, seq`);
const withoutVersions = (rows) => rows.map(({ id, seq, value }) => ({ id, seq, value }));

/** Asserts every row of @p after has a version above the same row's in @p before. */
function assertVersionsUp(before, after) {
  const old = new Map(before.map((r) => [`${r.id}\u0000${r.seq}`, r.version]));
  for (const r of after) {
    const v = old.get(`${r.id}\u0000${r.seq}`);
    if (v !== undefined) assert.ok(r.version > v, `version of ${r.id} went from ${v} to ${r.version}`);
  }
}

/**
 * The carts whose read model differs from the fold of their events up to the version
 * projected_entities records, read in one statement (one snapshot: the projector commits
 * both together). Carts whose events the event store does not hold yet are not judged.
 */
async function inconsistentCarts() {
  const rows = await stack.sqlRows(
    `SELECT r.id, r.value->'cartItems' AS items, p.version,
            (SELECT json_agg(e.value ORDER BY e.version) FROM shop.events e
              WHERE e.entity_type = 'Cart' AND e.entity_id = r.id AND e.version <= p.version) AS evs
     FROM shop.rm_cartreadmodel r
     JOIN shop.projected_entities p ON p.entity_type = 'Cart' AND p.entity_id = r.id
     WHERE r.id LIKE 'rp-load-%'`,
  );
  // jsonb keeps no key order: compare items as [productId, quantity] pairs.
  const pairs = (items) => JSON.stringify((items ?? []).map((i) => [i.productId, i.quantity]));
  const fold = (r) => pairs(foldCart(r.evs.map((value) => ({ value }))));
  return rows
    .filter((r) => (r.evs ?? []).length === r.version && fold(r) !== pairs(r.items))
    .map((r) => `${r.id}@${r.version}: ${pairs(r.items)} != ${fold(r)}`);
}

itest('an unknown read model is refused with a non-zero exit and the declared ones', async () => {
  const r = await replay('NoSuchReadModel');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /unknown read model 'NoSuchReadModel'/);
  assert.match(r.stderr, /CartReadModel/);
});

itest('a corrupted CartReadModel and ProductReadModel are rebuilt to what was projected', { timeout: 180000 }, async () => {
  // Carts with items, an address-less one, payments (one for a cart that has no items).
  for (const [cart, items] of Object.entries({ 'rp-1': [['a', 1], ['b', 2], ['a', 3]], 'rp-2': [['c', 1]], 'rp-3': [['d', 5]] }))
    for (const [productId, quantity] of items) await mutate(CHANGE_CART_ITEM, { cartId: cart, productId, quantity });
  await mutate(CONFIRM, { paymentId: 'rp-pay-1', cartId: 'rp-1' });
  await mutate(CONFIRM, { paymentId: 'rp-pay-4', cartId: 'rp-4' });
  await mutate(CHANGE_CART_ITEM, { cartId: 'rp-1', productId: 'e', quantity: 1 }); // after its payment

  // Products and packs: a pack joins into existing products only; a product changed after the
  // pack keeps it; a deleted product has no read model. Snapshots of different entities reach
  // the projector in no set order, so each step waits for the one before to be projected.
  for (const id of ['rp-p1', 'rp-p2', 'rp-p3']) await mutate(CREATE_PRODUCT, { id, sku: id }, asAdmin());
  await waitProjected();
  await mutate(CREATE_PACK, { id: 'rp-k1', products: ['rp-p1', 'rp-p2', 'rp-p3', 'rp-none'] }, asAdmin());
  await waitProjected();
  await mutate(CHANGE_PRICE, { id: 'rp-p1' }, asAdmin());
  await mutate(DELETE_PRODUCT, { id: 'rp-p3' }, asAdmin());
  await waitProjected();

  const cartsBefore = await rowsOf('rm_cartreadmodel');
  const productsBefore = await rowsOf('rm_productreadmodel');
  assert.deepStrictEqual(cartsBefore.map((r) => r.id), ['rp-1', 'rp-2', 'rp-3', 'rp-4']);
  assert.deepStrictEqual(productsBefore.map((r) => r.id), ['rp-p1', 'rp-p2']);
  assert.equal(productsBefore[0].value.packs.length, 1, JSON.stringify(productsBefore[0]));

  // Behind Ramjet's back: change a row, delete one, add one nothing projects.
  await stack.sql(`UPDATE shop.rm_cartreadmodel SET value = '{"id": "rp-1", "cartItems": []}' WHERE id = 'rp-1';
                   DELETE FROM shop.rm_cartreadmodel WHERE id = 'rp-3';
                   INSERT INTO shop.rm_cartreadmodel (id, value) VALUES ('rp-bogus', '{"id": "rp-bogus", "cartItems": []}');
                   UPDATE shop.rm_productreadmodel SET value = value - 'packs' WHERE id = 'rp-p1';
                   DELETE FROM shop.rm_productreadmodel WHERE id = 'rp-p2';`);
  const cartsCorrupt = await rowsOf('rm_cartreadmodel');
  assert.notDeepStrictEqual(withoutVersions(cartsCorrupt), withoutVersions(cartsBefore));

  const r = await replay('CartReadModel');
  assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stdout, /^rebuilt CartReadModel: 4 rows before, 4 after \(2 changed, 1 removed\); \d+ entities folded from \d+ events; 0 projection errors;/);
  const cartsAfter = await rowsOf('rm_cartreadmodel');
  assert.deepStrictEqual(withoutVersions(cartsAfter), withoutVersions(cartsBefore));
  assertVersionsUp(cartsCorrupt, cartsAfter);

  const p = await replay('ProductReadModel');
  assert.equal(p.code, 0, `stdout: ${p.stdout}\nstderr: ${p.stderr}`);
  assert.deepStrictEqual(withoutVersions(await rowsOf('rm_productreadmodel')), withoutVersions(productsBefore));

  // The swapped-in table has the live one's indexes, under their names, and no leftovers.
  const indexes = await stack.sqlRows(`SELECT indexname FROM pg_indexes WHERE schemaname = 'shop' AND tablename = 'rm_cartreadmodel' ORDER BY 1`);
  assert.deepStrictEqual(indexes.map((i) => i.indexname), ['rm_cartreadmodel_pkey', 'rm_cartreadmodel_value_idx']);
  const leftovers = await stack.sqlRows(`SELECT tablename FROM pg_tables WHERE schemaname = 'shop' AND tablename LIKE 'ramjet_replay_%'`);
  assert.deepStrictEqual(leftovers, []);

  // The gateway reads the new table, and the projector keeps writing it.
  const q = await stack.gql(`query { CartReadModel(id: "rp-3") { id cartItems { productId quantity } } }`);
  assert.deepStrictEqual(q.json, { data: { CartReadModel: { id: 'rp-3', cartItems: [{ productId: 'd', quantity: 5 }] } } });
  await mutate(CHANGE_CART_ITEM, { cartId: 'rp-3', productId: 'd', quantity: 1 });
  await waitFor(async () => {
    const x = await stack.gql(`query { CartReadModel(id: "rp-3") { cartItems { quantity } } }`);
    return x.json?.data?.CartReadModel?.cartItems?.[0]?.quantity === 6;
  }, { what: 'the projector to write the rebuilt table' });
});

itest('a replay under load loses nothing, moves nothing backwards and is never seen empty', { timeout: 300000 }, async () => {
  const CARTS = 8;
  let stop = false;
  let acked = 0;
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const cartId = `rp-load-${(i * 4 + w) % CARTS}`;
      const r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId: `p${i % 5}`, quantity: 1 });
      assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
      acked++;
    }
  });
  let reads = 0;
  const reader = (async () => {
    while (!stop) {
      const r = await stack.gql(LIST_CARTS);
      const conn = r.json?.data?.ListCartReadModels;
      assert.ok(conn && conn.items.length >= 4 && conn.count >= 4, `a read during the replay: ${r.text}`);
      reads++;
      assert.deepStrictEqual(await inconsistentCarts(), [], 'read model = fold up to the projected version');
    }
  })();
  const seen = [];
  try {
  await waitFor(() => acked > 100, { what: 'some load' });
  for (let i = 0; i < 3; i++) {
    const before = await rowsOf('rm_cartreadmodel');
    const r = await replay('CartReadModel');
    assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    seen.push(r.stdout.trim());
    assertVersionsUp(before, await rowsOf('rm_cartreadmodel'));
    assert.deepStrictEqual(await inconsistentCarts(), [], `after replay ${i}: ${r.stdout}`);
    await sleep(500); // let the projectors catch up on what the lock held back
  }
  } finally {
    stop = true;
    await Promise.allSettled([...writers, reader]);
  }
  await Promise.all([...writers, reader]);
  assert.ok(reads > 0);
  await waitProjected();

  // Every cart's read model is the fold of all its events.
  const events = await stack.sqlRows(`SELECT entity_id, version, value FROM shop.events WHERE entity_type = 'Cart' AND entity_id LIKE 'rp-load-%' ORDER BY entity_id, version`);
  const carts = new Map();
  for (const e of events) {
    if (!carts.has(e.entity_id)) carts.set(e.entity_id, []);
    carts.get(e.entity_id).push(e);
  }
  assert.equal(carts.size, CARTS);
  assert.equal(events.length, acked, 'one stored event per acknowledged mutation');
  const rows = new Map((await rowsOf('rm_cartreadmodel')).map((r) => [r.id, r.value]));
  for (const [id, list] of carts) assert.deepStrictEqual(rows.get(id)?.cartItems, foldCart(list), `${id} after ${seen.join(' | ')}`);
});

itestStopsCleanly(() => stack);
