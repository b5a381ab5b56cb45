// tests/integration/read-your-writes.test.mjs - a client that writes and then reads sees
// its write (issue 14, "Read-your-writes"; docs/architecture.md, "Read-your-writes").
//
// Over HTTP, a mutation's answer carries extensions.consistencyToken; a query sent back
// with it (the Consistency-Token header or extensions.consistencyToken) is answered once
// the projector has projected those writes. Over one WebSocket the pusher does that by
// itself (session consistency). With --mutation-consistency projected a mutation is
// answered only once its writes are projected, as Booster's local provider answers.
// Every case is also run with the projector frozen (SIGSTOP): the bounded wait ends with
// ConsistencyTimeoutError, never a hang; and under load.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import {
  CART_READ_MODEL,
  CHANGE_CART_ITEM,
  itest,
  itestStopsCleanly,
  sleep,
  startStack,
} from './lib/stack.mjs';

const WAIT_MS = 1500; // --consistency-wait-ms of both stacks: short, so the timeouts are quick

let stack;
let projected; // the stack with --mutation-consistency projected

const cartId = () => `ryw-${randomUUID()}`;

/** ChangeCartItem over HTTP; resolves the response ({status, json, text}). */
function change(s, id, quantity, headers = {}, extensions) {
  const body = { query: CHANGE_CART_ITEM, variables: { cartId: id, productId: 'p1', quantity } };
  if (extensions !== undefined) body.extensions = extensions;
  return s.post(JSON.stringify(body), headers);
}

/** CartReadModel(id:) over HTTP with an optional token (header or extensions). */
function readCart(s, id, { header, extension } = {}) {
  const body = { query: CART_READ_MODEL, variables: { id } };
  if (extension !== undefined) body.extensions = { consistencyToken: extension };
  return s.post(JSON.stringify(body), header !== undefined ? { 'consistency-token': header } : {});
}

const cartOf = (id, quantity) => ({ CartReadModel: { id, cartItems: [{ productId: 'p1', quantity }] } });

/** The token of a mutation answer (the harness moves it out of `json`), checked present. */
function tokenOf(r) {
  assert.equal(typeof r.consistencyToken, 'string', `no consistency token in ${r.text}`);
  return r.consistencyToken;
}

/** A token naming @p writes, built the way a forger would: base64url of the JSON. */
const forge = (json) => Buffer.from(json).toString('base64url');

/** Runs fn with the daemon frozen (SIGSTOP), thawing it whatever happens. */
async function frozen(s, daemon, fn) {
  const pid = await s.pidOf(daemon);
  assert.ok(pid, `${daemon} has no pid`);
  process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

/** A graphql-ws operation over the stack's GqlWsClient; resolves its `data` payload. */
async function wsRun(client, query, variables) {
  const id = randomUUID();
  const from = client.received.length;
  client.start(id, query, variables);
  const msg = await client.next((m) => m.id === id && (m.type === 'data' || m.type === 'error'), { from });
  return msg.payload;
}

itest('the stacks start', { timeout: 240000 }, async () => {
  const env = { RAMJET_CONSISTENCY_WAIT_MS: String(WAIT_MS) };
  stack = await startStack({ name: 'ryw', env });
  projected = await startStack({
    name: 'ryw-projected',
    kafka: 'mock',
    env: { ...env, RAMJET_MUTATION_CONSISTENCY: 'projected' },
  });
});

itest('every mutation answer carries a consistency token naming its write', { timeout: 60000 }, async () => {
  const id = cartId();
  const r = await change(stack, id, 2);
  assert.deepStrictEqual(r.json.data, { ChangeCartItem: true }, r.text);
  const writes = JSON.parse(Buffer.from(tokenOf(r), 'base64url').toString());
  assert.deepStrictEqual(writes, [1, ['Cart', id, 1]]);
  // The next mutation's answer names version 2, and the token sent with it too.
  const other = cartId();
  const r2 = await change(stack, id, 3, { 'consistency-token': tokenOf(await change(stack, other, 1)) });
  assert.deepStrictEqual(JSON.parse(Buffer.from(tokenOf(r2), 'base64url').toString()), [
    1,
    ['Cart', other, 1],
    ['Cart', id, 2],
  ]);
});

itest('a query sent with the token sees the write, by header or by extensions', { timeout: 60000 }, async () => {
  for (let i = 0; i < 20; i++) {
    const id = cartId();
    const token = tokenOf(await change(stack, id, i + 1));
    const r = await readCart(stack, id, i % 2 ? { header: token } : { extension: token });
    assert.deepStrictEqual(r.json, { data: cartOf(id, i + 1) }, `round ${i}: ${r.text}`);
  }
});

itest('a malformed or forged token is refused with a clear error', { timeout: 60000 }, async () => {
  const id = cartId();
  const token = tokenOf(await change(stack, id, 1));
  const cases = [
    [{ header: 'not base64!' }, /not base64url/],
    [{ header: forge('{"a":1}') }, /not a consistency token/],
    [{ extension: forge('[1,["Cart","x",0]]') }, /version/],
    [{ extension: forge('[1,["NoSuchEntity","x",1]]') }, /no entity NoSuchEntity/],
    [{ header: token, extension: 'A' }, /not base64url/],
  ];
  for (const [how, re] of cases) {
    const r = await readCart(stack, id, how);
    assert.equal(r.json?.errors?.[0]?.extensions?.code, 'InvalidConsistencyTokenError', r.text);
    assert.match(r.json.errors[0].message, re, r.text);
  }
  const notString = await stack.post(JSON.stringify({ query: CART_READ_MODEL, variables: { id }, extensions: { consistencyToken: 7 } }));
  assert.equal(notString.json?.errors?.[0]?.extensions?.code, 'InvalidConsistencyTokenError', notString.text);
  // A version never written is refused at once, not after the wait.
  const started = Date.now();
  const forged = await readCart(stack, id, { header: forge(`[1,["Cart",${JSON.stringify(id)},99]]`) });
  assert.equal(forged.json?.errors?.[0]?.extensions?.code, 'InvalidConsistencyTokenError', forged.text);
  assert.match(forged.json.errors[0].message, /never written at version 99/);
  assert.ok(Date.now() - started < WAIT_MS, `took ${Date.now() - started} ms`);
});

itest('with the projector frozen, a query with the token ends with ConsistencyTimeoutError', { timeout: 60000 }, async () => {
  const id = cartId();
  const { token, timedOut, elapsed, plain } = await frozen(stack, 'projector', async () => {
    const token = tokenOf(await change(stack, id, 5)); // durable: answered while frozen
    const started = Date.now();
    const timedOut = await readCart(stack, id, { header: token });
    const elapsed = Date.now() - started;
    const plain = await readCart(stack, id); // without the token: answered at once, stale
    return { token, timedOut, elapsed, plain };
  });
  assert.equal(timedOut.json?.errors?.[0]?.extensions?.code, 'ConsistencyTimeoutError', timedOut.text);
  assert.match(timedOut.json.errors[0].message, /within 1500 ms/);
  assert.ok(elapsed >= WAIT_MS - 50 && elapsed < WAIT_MS + 2000, `answered after ${elapsed} ms`);
  assert.deepStrictEqual(plain.json, { data: { CartReadModel: null } }, plain.text);
  // Thawed, the same token is answered with the write.
  const r = await readCart(stack, id, { header: token });
  assert.deepStrictEqual(r.json, { data: cartOf(id, 5) }, r.text);
});

itest('a check held up past every deadline does not hold the gateway', { timeout: 90000 }, async () => {
  // The check of projected versions runs on the PostgreSQL pool; while it is held (here by
  // a lock on projected_entities) its waiters wait for its answer, but the loop must go on
  // serving everything else. A timer re-armed at 0 from its own callback once spun libuv's
  // timer pass forever and wedged the gateway (seen under ASan).
  const id = cartId();
  const token = tokenOf(await change(stack, id, 1));
  const held = stack.sql(`BEGIN; LOCK TABLE shop.projected_entities IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(${(3 * WAIT_MS) / 1000}); COMMIT;`);
  await sleep(300); // the lock is taken
  const started = Date.now();
  const waiting = readCart(stack, id, { header: token });
  await sleep(WAIT_MS + 500); // past the waiter's deadline while its check is held
  const other = await stack.gql('{ __typename }', undefined, {}, { timeoutMs: 5000 });
  assert.deepStrictEqual(other.json, { data: { __typename: 'Query' } }, other.text);
  await held;
  const r = await waiting;
  assert.ok(r.json?.data?.CartReadModel !== undefined || r.json?.errors?.[0]?.extensions?.code === 'ConsistencyTimeoutError', r.text);
  assert.ok(Date.now() - started < 3 * WAIT_MS + 10000, `answered after ${Date.now() - started} ms`);
});

itest('over one WebSocket, a query after a mutation sees it without any token', { timeout: 60000 }, async () => {
  const client = await stack.ws();
  try {
    for (let i = 0; i < 20; i++) {
      const id = cartId();
      const m = await wsRun(client, CHANGE_CART_ITEM, { cartId: id, productId: 'p1', quantity: i + 1 });
      assert.deepStrictEqual(m.data, { ChangeCartItem: true }, JSON.stringify(m));
      const q = await wsRun(client, CART_READ_MODEL, { id });
      assert.deepStrictEqual(q, { data: cartOf(id, i + 1) }, `round ${i}`);
    }
  } finally {
    client.close();
  }
});

itest('over one WebSocket with the projector frozen, the query ends with the error, then sees it', { timeout: 60000 }, async () => {
  const client = await stack.ws();
  try {
    const id = cartId();
    const q = await frozen(stack, 'projector', async () => {
      await wsRun(client, CHANGE_CART_ITEM, { cartId: id, productId: 'p1', quantity: 4 });
      return wsRun(client, CART_READ_MODEL, { id });
    });
    assert.equal(q.errors?.[0]?.extensions?.code, 'ConsistencyTimeoutError', JSON.stringify(q));
    assert.deepStrictEqual(await wsRun(client, CART_READ_MODEL, { id }), { data: cartOf(id, 4) });
    // Another connection has not written: it is answered at once, from what is projected.
    const other = await stack.ws();
    try {
      const fresh = cartId();
      await frozen(stack, 'projector', async () => {
        await wsRun(client, CHANGE_CART_ITEM, { cartId: fresh, productId: 'p1', quantity: 1 });
        const started = Date.now();
        assert.deepStrictEqual(await wsRun(other, CART_READ_MODEL, { id: fresh }), { data: { CartReadModel: null } });
        assert.ok(Date.now() - started < WAIT_MS, 'the other connection did not wait');
      });
    } finally {
      other.close();
    }
  } finally {
    client.close();
  }
});

itest('under load every reader sees its own write (HTTP and WebSocket)', { timeout: 120000 }, async () => {
  const PAIRS = 200;
  const http = Array.from({ length: PAIRS }, async (_, i) => {
    const id = cartId();
    const token = tokenOf(await change(stack, id, i + 1));
    const r = await readCart(stack, id, { header: token });
    assert.deepStrictEqual(r.json, { data: cartOf(id, i + 1) }, r.text);
  });
  const sockets = await Promise.all(Array.from({ length: 10 }, () => stack.ws()));
  const ws = sockets.map(async (client, c) => {
    for (let i = 0; i < 20; i++) {
      const id = cartId();
      await wsRun(client, CHANGE_CART_ITEM, { cartId: id, productId: 'p1', quantity: c * 100 + i });
      assert.deepStrictEqual(await wsRun(client, CART_READ_MODEL, { id }), { data: cartOf(id, c * 100 + i) });
    }
  });
  try {
    await Promise.all([...http, ...ws]);
  } finally {
    for (const s of sockets) s.close();
  }
  const { text } = await stack.health('gateway', '/metrics');
  const waits = Number(text.match(/^ramjet_gateway_consistency_waits_total (\d+)$/m)?.[1]);
  assert.ok(waits >= PAIRS + 200, `consistency waits: ${waits}`);
});

itest('with --mutation-consistency projected, a plain query after the mutation sees it', { timeout: 60000 }, async () => {
  for (let i = 0; i < 20; i++) {
    const id = cartId();
    const m = await change(projected, id, i + 1);
    assert.deepStrictEqual(m.json.data, { ChangeCartItem: true }, m.text);
    assert.equal(m.json.errors, undefined, m.text);
    tokenOf(m);
    const r = await readCart(projected, id);
    assert.deepStrictEqual(r.json, { data: cartOf(id, i + 1) }, `round ${i}: ${r.text}`);
  }
});

itest('with --mutation-consistency projected and the projector frozen, the mutation says so', { timeout: 60000 }, async () => {
  const id = cartId();
  const started = Date.now();
  const m = await frozen(projected, 'projector', () => change(projected, id, 7));
  const elapsed = Date.now() - started;
  // Applied (its data stays), but not reflected in time: the error says which.
  assert.deepStrictEqual(m.json.data, { ChangeCartItem: true }, m.text);
  assert.equal(m.json.errors?.[0]?.extensions?.code, 'ConsistencyTimeoutError', m.text);
  assert.match(m.json.errors[0].message, /the mutation was applied, but/);
  assert.ok(elapsed < WAIT_MS + 3000, `answered after ${elapsed} ms`);
  const r = await readCart(projected, id, { header: tokenOf(m) });
  assert.deepStrictEqual(r.json, { data: cartOf(id, 7) }, r.text);
});

itest('the projected stack stops cleanly', { timeout: 180000 }, async () => {
  const st = await projected.stop();
  assert.deepStrictEqual(st, { code: 0, signal: null }, projected.supervisorLog.slice(-2000));
});

itestStopsCleanly(() => stack);
