// Retrying a mutation safely: a mutation sent with an Idempotency-Key header (or
// extensions.idempotencyKey in the body) and sent again with the same key returns the
// first attempt's outcome and is applied once, also when the first attempt timed out
// at the gateway because the command processor was stopped. A timeout says that the
// outcome is unknown. Keys are checked; a key still in flight on the same gateway is
// refused rather than answered twice.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, shopToken, sleep, startStack, waitFor } from './lib/stack.mjs';

const TIMEOUT_MS = 1500; // the gateway's request timeout in this stack

let stack;
before(async () => {
  stack = await startStack({ name: 'idempotency', env: { RAMJET_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) } });
  // On a fresh Apache Kafka the first producers wait a second or two for a producer id (the
  // broker creates its transaction-state topic then), longer than this stack's timeout: one
  // mutation, retried under its key as a client would, gets the cluster past that.
  await waitFor(async () => (await change('idem-warm-up', 'p', 1, { 'idempotency-key': 'warm-up' })).json?.data?.ChangeCartItem === true, {
    timeoutMs: 60000,
    what: 'a first mutation to be applied',
  });
});
after(async () => {
  await stack?.stop();
});

const change = (cartId, productId, quantity, headers = {}, extensions) =>
  stack.post(
    JSON.stringify({ query: CHANGE_CART_ITEM, variables: { cartId, productId, quantity }, ...(extensions ? { extensions } : {}) }),
    headers,
  );

/** Events of a cart in the event store, once the writer has caught up to `count` of them. */
async function cartEvents(cartId, count) {
  return waitFor(
    async () => {
      const rows = await stack.sqlRows(
        `SELECT version, request_id, value FROM shop.events WHERE entity_type = 'Cart' AND entity_id = '${cartId}' ORDER BY version`,
      );
      return rows.length >= count ? rows : undefined;
    },
    { timeoutMs: 30000, what: `${count} events of cart ${cartId} in shop.events` },
  );
}

/** Waits long enough for a duplicate event to have reached the store, then counts. */
async function settledCount(cartId) {
  await sleep(1500);
  return Number(await stack.sql(`SELECT count(*) FROM shop.events WHERE entity_type = 'Cart' AND entity_id = '${cartId}'`));
}

itest('the same key twice applies the mutation once and answers both', async () => {
  const key = { 'idempotency-key': 'k-twice-0001' };
  const a = await change('idem-1', 'p1', 2, key);
  const b = await change('idem-1', 'p1', 2, key);
  assert.deepStrictEqual(a.json, MUTATION_OK, a.text);
  assert.deepStrictEqual(b.json, MUTATION_OK, b.text);
  await cartEvents('idem-1', 1);
  assert.equal(await settledCount('idem-1'), 1, 'the retry was applied a second time');

  // Another key is another mutation.
  const c = await change('idem-1', 'p1', 2, { 'idempotency-key': 'k-twice-0002' });
  assert.deepStrictEqual(c.json, MUTATION_OK, c.text);
  await cartEvents('idem-1', 2);
});

itest('extensions.idempotencyKey is the same key as the header', async () => {
  const a = await change('idem-2', 'p1', 1, {}, { idempotencyKey: 'k-ext-1' });
  const b = await change('idem-2', 'p1', 1, { 'idempotency-key': 'k-ext-1' });
  const c = await change('idem-2', 'p1', 1, { 'idempotency-key': 'k-ext-1' }, { idempotencyKey: 'k-ext-1' });
  for (const r of [a, b, c]) assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  await cartEvents('idem-2', 1);
  assert.equal(await settledCount('idem-2'), 1);
});

itest('a key reused for a different input is a different mutation', async () => {
  const key = { 'idempotency-key': 'k-reused' };
  assert.deepStrictEqual((await change('idem-3', 'p1', 1, key)).json, MUTATION_OK);
  assert.deepStrictEqual((await change('idem-3', 'p1', 5, key)).json, MUTATION_OK);
  const events = await cartEvents('idem-3', 2);
  assert.deepStrictEqual(events.map((e) => e.value.quantity), [1, 5]);
});

itest('a failed command retried with its key answers the same error and registers nothing', async () => {
  const placeOrder = `mutation { PlaceOrder(input: {orderId: "idem-order-1", customerId: "idem-nobody", amountCents: 5}) }`;
  const headers = { authorization: `Bearer ${shopToken('UserWithEmail')}`, 'idempotency-key': 'k-failed-1' };
  const send = () => stack.gql(placeOrder, undefined, headers);
  const a = await send();
  const b = await send();
  assert.match(a.json?.errors?.[0]?.message ?? '', /Customer idem-nobody not found/, a.text);
  assert.deepStrictEqual(b.json, a.json, 'the retry answered differently');
  assert.equal(Number(await stack.sql(`SELECT count(*) FROM shop.events WHERE entity_id = 'idem-order-1'`)), 0);
});

itest('malformed keys are refused before anything is sent', async () => {
  const bad = [
    [{ 'idempotency-key': 'x'.repeat(256) }, undefined, /1 to 255/],
    [{}, { idempotencyKey: 'has space' }, /visible ASCII/],
    [{}, { idempotencyKey: '' }, /1 to 255/],
    [{ 'idempotency-key': 'a' }, { idempotencyKey: 'b' }, /differ/],
  ];
  for (const [headers, extensions, re] of bad) {
    const r = await change('idem-bad', 'p1', 1, headers, extensions);
    assert.equal(r.status, 400, r.text);
    assert.match(r.json?.errors?.[0]?.message ?? '', re, r.text);
    assert.equal(r.json.errors[0].extensions?.code, 'InvalidParameterError', r.text);
  }
  const notString = await change('idem-bad', 'p1', 1, {}, { idempotencyKey: 42 });
  assert.match(notString.json?.errors?.[0]?.message ?? '', /must be a string/, notString.text);
  assert.equal(await settledCount('idem-bad'), 0);
});

itest('a mutation that timed out while the processor was stopped is applied once when retried', { timeout: 120000 }, async () => {
  const pid = await stack.pidOf('commands');
  assert.ok(pid);
  const key = { 'idempotency-key': 'k-timeout-1' };
  process.kill(pid, 'SIGSTOP');
  let first, second, inFlight;
  try {
    const pending = change('idem-4', 'p1', 3, key);
    // While the first attempt still waits, the same key on the same gateway is refused.
    await sleep(200);
    inFlight = await change('idem-4', 'p1', 3, key);
    first = await pending;
    // The client saw an error for a write that may happen: the message says so.
    assert.equal(first.json?.errors?.[0]?.extensions?.code, 'TimeoutError', first.text);
    assert.match(first.json.errors[0].message, /outcome is unknown/);
    // The retry is sent while the processor is still stopped and gets the outcome once it runs.
    const retry = change('idem-4', 'p1', 3, key);
    await sleep(300);
    process.kill(pid, 'SIGCONT');
    second = await retry;
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  assert.equal(inFlight.json?.errors?.[0]?.extensions?.code, 'IdempotencyKeyInUseError', inFlight.text);
  assert.deepStrictEqual(second.json, MUTATION_OK, second.text);
  const events = await cartEvents('idem-4', 1);
  assert.equal(await settledCount('idem-4'), 1, `applied more than once: ${JSON.stringify(events)}`);
  assert.equal(await stack.pidOf('commands'), pid, 'the processor was restarted');
});

itestStopsCleanly(() => stack);
