// The global error handler end to end (ramjet.h: rj_app_error_handler, Booster's
// @GlobalErrorHandler), on a stack whose shop installs its optional handler
// (SHOP_ERROR_HANDLER=1, docs/running.md): onError appends "-onError" to every message it
// keeps, and onCommandHandlerError swallows the failures of commands whose cartId ends
// with "-swallow". Command before-hook and handler errors, and query handler errors, go
// through it; authorization denials and read-model before-hook errors do not (as in
// Booster). A stack of its own, because auth.test.mjs and cart.test.mjs check Booster's
// messages exactly as they are without a handler.
import assert from 'node:assert/strict';
import { createSign, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CART_READ_MODEL, CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, startStack } from './lib/stack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const privateKey = readFileSync(path.resolve(here, '../../examples/shop/keys/private.pem'), 'utf8');
const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** An RS256 token of the shop's development key, as auth.test.mjs mints them. */
function token(role) {
  const email = `${String(role).toLowerCase()}@example.com`;
  const payload = { iss: 'booster', sub: email, email, id: email, iat: Math.floor(Date.now() / 1000), 'booster:role': role };
  const input = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'booster' }))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(createSign('RSA-SHA256').update(input).sign(privateKey))}`;
}
const EMAIL_USER = { authorization: `Bearer ${token('UserWithEmail')}` };

const PLACE_ORDER = `mutation ($orderId: ID!, $customerId: ID!, $amount: Float!) {
  PlaceOrder(input: {orderId: $orderId, customerId: $customerId, amountCents: $amount})
}`;
const TOTAL = `query ($id: ID!) { CartTotalQuantity(input: {cartId: $id}) }`;

let stack;
before(async () => {
  stack = await startStack({ name: 'error-handler', env: { SHOP_ERROR_HANDLER: '1' } });
});
after(async () => {
  await stack?.stop();
});

itest('a command before-hook error is rewritten by onError', { timeout: 120000 }, async () => {
  const r = await stack.gql(CHANGE_CART_ITEM, { cartId: `before-throw-${randomUUID()}`, productId: 'p1', quantity: 1 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.data, null, r.text);
  assert.equal(r.json.errors?.length, 1, r.text);
  assert.equal(r.json.errors[0].message, 'Before hook throwing exception-onError', r.text);
  assert.deepStrictEqual(r.json.errors[0].path, ['ChangeCartItem']);
});

itest('a command handler error is rewritten by onError, its code kept', { timeout: 120000 }, async () => {
  const r = await stack.gql(PLACE_ORDER, { orderId: `o-${randomUUID()}`, customerId: 'nobody-here', amount: 1 }, EMAIL_USER);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.errors?.[0]?.message, 'Customer nobody-here not found-onError', r.text);
  assert.deepStrictEqual(r.json.errors[0].path, ['PlaceOrder']);
  assert.equal(r.json.errors[0].extensions?.code, 'NotFoundError', r.text);
});

itest('a swallowed command error succeeds with true and registers nothing', { timeout: 120000 }, async () => {
  const cartId = `before-throw-${randomUUID()}-swallow`;
  let r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId: 'p1', quantity: 5 });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  // The hook failed before the handler ran: no event, so the current Cart is none (this
  // read sees the processor's outbox as well as the event store).
  r = await stack.gql(TOTAL, { id: cartId });
  assert.deepStrictEqual(r.json, { data: { CartTotalQuantity: 0 } }, r.text);
  const rows = await stack.sqlRows(`SELECT 1 FROM shop.command_outbox WHERE events::text LIKE '%${cartId}%'`);
  assert.equal(rows.length, 0, 'nothing was registered for the swallowed command');
  // Without the marker the same failure is reported.
  r = await stack.gql(CHANGE_CART_ITEM, { cartId: cartId.replace(/-swallow$/, ''), productId: 'p1', quantity: 5 });
  assert.equal(r.json.errors?.[0]?.message, 'Before hook throwing exception-onError', r.text);
});

itest('a query handler error goes through onError; the non-null field makes data null', { timeout: 120000 }, async () => {
  const r = await stack.gql(TOTAL, { id: '' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.data, null, r.text);
  assert.equal(r.json.errors?.[0]?.message, 'could not read entity Cart: empty id-onError', r.text);
  assert.deepStrictEqual(r.json.errors[0].path, ['CartTotalQuantity']);
});

itest('authorization denials are not rewritten', { timeout: 120000 }, async () => {
  const r = await stack.gql(PLACE_ORDER, { orderId: 'o-denied', customerId: 'c1', amount: 1 });
  assert.equal(r.json.errors?.[0]?.message, 'Access denied for this resource', r.text);
  assert.equal(r.json.errors[0].extensions?.code, 'NotAuthorizedError', r.text);
  assert.deepStrictEqual(r.json.errors[0].path, ['PlaceOrder']);
});

itest('read-model before-hook errors are not rewritten', { timeout: 120000 }, async () => {
  const r = await stack.gql(CART_READ_MODEL, { id: `throw-${randomUUID()}` });
  assert.equal(r.status, 200, r.text);
  assert.deepStrictEqual(r.json.data, { CartReadModel: null }, r.text);
  assert.equal(r.json.errors?.[0]?.message, 'Before hook throwing exception', r.text);
  assert.deepStrictEqual(r.json.errors[0].path, ['CartReadModel']);
});

itest('a command that succeeds is untouched, marker or not: its event is registered', { timeout: 120000 }, async () => {
  const cartId = `eh-${randomUUID()}-swallow`;
  let r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId: 'p1', quantity: 2 });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  r = await stack.gql(TOTAL, { id: cartId });
  assert.deepStrictEqual(r.json, { data: { CartTotalQuantity: 2 } }, r.text);
});

itestStopsCleanly(() => stack);
