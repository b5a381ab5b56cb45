// Authentication, authorization and before hooks end to end, on the real stack with the
// shop: tokens minted here with node:crypto from the shop's development key
// (examples/shop/keys/private.pem), sent as `Authorization: Bearer` over HTTP and in
// connection_init over graphql-ws, with Booster's exact answers (booster-surface.md §1, §2, §9).
import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { CART_READ_MODEL, CHANGE_CART_ITEM, GqlWsClient, MUTATION_OK, itest, itestStopsCleanly, sleep, startStack, waitFor } from './lib/stack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const privateKey = readFileSync(path.resolve(here, '../../examples/shop/keys/private.pem'), 'utf8');

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** An RS256 token as Booster's application-tester mints them (token-helper.ts). */
function token(role, { claims = {}, exp, nbf } = {}) {
  const email = `${String(role ?? 'anonymous').toLowerCase()}@example.com`;
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: 'booster', sub: email, email, id: email, iat: now, ...claims };
  if (role !== undefined) payload['booster:role'] = role;
  if (exp !== undefined) payload.exp = exp;
  if (nbf !== undefined) payload.nbf = nbf;
  const header = { alg: 'RS256', typ: 'JWT', kid: 'booster' };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const sig = createSign('RSA-SHA256').update(input).sign(privateKey);
  return `${input}.${b64url(sig)}`;
}

const bearer = (t) => ({ authorization: `Bearer ${t}` });

const CREATE_PRODUCT = `mutation ($sku: String!) {
  CreateProduct(input: {sku: $sku, displayName: "d", description: "x", priceInCents: 100, currency: "EUR"})
}`;

let stack;
before(async () => {
  stack = await startStack({ name: 'auth' });
});
after(async () => {
  await stack?.stop();
});

itest('an anonymous ChangeCartItem works; so does one with a valid token', { timeout: 120000 }, async () => {
  let r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'auth-c1', productId: 'p1', quantity: 1 });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'auth-c1', productId: 'p1', quantity: 1 }, bearer(token('User')));
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);

  // The verified user travels in the envelope, so the stored event carries it.
  const users = await waitFor(
    async () => {
      const rows = await stack.sqlRows("SELECT \"current_user\" AS u FROM shop.events WHERE entity_id = 'auth-c1' ORDER BY version");
      return rows.length >= 2 ? rows.map((x) => x.u) : undefined;
    },
    { timeoutMs: 30000, what: 'both events of auth-c1' },
  );
  assert.equal(users[0], null);
  assert.equal(users[1].id, 'user@example.com');
  assert.deepStrictEqual(users[1].roles, ['User']);
  assert.equal(users[1].claims.iss, 'booster');
});

itest('CreateProduct: role User is denied, Admin allowed', { timeout: 120000 }, async () => {
  let r = await stack.gql(CREATE_PRODUCT, { sku: 'sku-user' }, bearer(token('User')));
  assert.equal(r.status, 200);
  assert.equal(r.json.data, null, r.text);
  assert.equal(r.json.errors.length, 1, r.text);
  const e = r.json.errors[0];
  assert.equal(e.message, 'Access denied for this resource');
  assert.deepStrictEqual(e.path, ['CreateProduct']);
  assert.equal(e.extensions.code, 'NotAuthorizedError');
  assert.ok(Array.isArray(e.locations) && e.locations.length === 1, r.text);

  r = await stack.gql(CREATE_PRODUCT, { sku: 'sku-anon' });
  assert.equal(r.json.errors?.[0]?.message, 'Access denied for this resource', r.text);

  r = await stack.gql(CREATE_PRODUCT, { sku: 'sku-admin' }, bearer(token('Admin')));
  assert.deepStrictEqual(r.json, { data: { CreateProduct: true } }, r.text);
  // Roles from an array claim count too.
  r = await stack.gql(CREATE_PRODUCT, { sku: 'sku-array' }, bearer(token(['User', 'UserWithEmail'])));
  assert.deepStrictEqual(r.json, { data: { CreateProduct: true } }, r.text);
});

itest('LogSomething: denied without the claim, allowed with canLogSomething: true', { timeout: 120000 }, async () => {
  const q = 'mutation { LogSomething }';
  for (const headers of [{}, bearer(token('Admin')), bearer(token('User', { claims: { canLogSomething: 'true' } }))]) {
    const r = await stack.gql(q, undefined, headers);
    assert.equal(r.json.data, null, r.text);
    assert.equal(r.json.errors[0].message, 'You are not allowed to log something', r.text);
    assert.deepStrictEqual(r.json.errors[0].path, ['LogSomething']);
    assert.equal(r.json.errors[0].extensions.code, 'NotAuthorizedError');
  }
  const r = await stack.gql(q, undefined, bearer(token('User', { claims: { canLogSomething: true } })));
  assert.deepStrictEqual(r.json, { data: { LogSomething: true } }, r.text);
});

itest('an invalid token fails the whole request, public fields included, without data', { timeout: 120000 }, async () => {
  const now = Math.floor(Date.now() / 1000);
  let r = await stack.gql(CART_READ_MODEL, { id: 'auth-c1' }, bearer(token('Admin', { exp: now - 60 })));
  assert.equal(r.status, 200);
  assert.deepStrictEqual(r.json, {
    errors: [{ message: 'TokenExpiredError: jwt expired', extensions: { code: 'BoosterTokenExpiredError' } }],
  });

  r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'auth-c2', productId: 'p', quantity: 1 }, bearer(token('Admin', { nbf: now + 3600 })));
  assert.deepStrictEqual(r.json, {
    errors: [{ message: 'NotBeforeError: jwt not active', extensions: { code: 'BoosterTokenNotBeforeError' } }],
  });

  // Signed by the right key with the wrong algorithm, and tampered.
  const good = token('User');
  const [h, , s] = good.split('.');
  const forged = `${h}.${b64url(JSON.stringify({ iss: 'booster', sub: 'x', 'booster:role': 'Admin' }))}.${s}`;
  r = await stack.gql(CREATE_PRODUCT, { sku: 'forged' }, bearer(forged));
  assert.deepStrictEqual(r.json, {
    errors: [{ message: 'JsonWebTokenError: invalid signature', extensions: { code: 'NotAuthorizedError' } }],
  });
  const none = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify({ iss: 'booster', 'booster:role': 'Admin' }))}.`;
  r = await stack.gql(CREATE_PRODUCT, { sku: 'none' }, bearer(none));
  assert.equal(r.json.data, undefined, r.text);
  assert.equal(r.json.errors[0].extensions.code, 'NotAuthorizedError', r.text);

  // A few more requests must still be served normally: nothing was left half-done.
  r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'auth-c2', productId: 'p', quantity: 1 });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
});

itest('CartReadModel before hooks: a throw- id fails with the hook message, a before-fn- id is rewritten', { timeout: 120000 }, async () => {
  let r = await stack.gql(CART_READ_MODEL, { id: 'throw-exception-id' });
  assert.equal(r.status, 200);
  assert.deepStrictEqual(r.json.data, { CartReadModel: null }, r.text);
  assert.equal(r.json.errors[0].message, 'Before hook throwing exception');
  assert.deepStrictEqual(r.json.errors[0].path, ['CartReadModel']);

  r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'before-fn-test-modified', productId: 'p9', quantity: 3 });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  const cart = await waitFor(
    async () => {
      const q = await stack.gql(CART_READ_MODEL, { id: 'before-fn-test' });
      return q.json?.data?.CartReadModel ?? undefined;
    },
    { timeoutMs: 30000, what: 'CartReadModel before-fn-test (read as before-fn-test-modified)' },
  );
  assert.deepStrictEqual(cart, { id: 'before-fn-test-modified', cartItems: [{ productId: 'p9', quantity: 3 }] });
});

/** Opens a graphql-ws socket and sends connection_init with @p payload; resolves the answer. */
async function wsInit(payload) {
  const socket = new WebSocket(stack.urls.websocket, 'graphql-ws');
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const client = new GqlWsClient(socket);
  client.send({ type: 'connection_init', payload });
  const answer = await client.next((m) => m.type === 'connection_ack' || m.type === 'connection_error', { timeoutMs: 10000 });
  return { client, answer };
}

itest('WebSocket: a bad token in connection_init is a connection_error with the plain message', { timeout: 120000 }, async () => {
  const now = Math.floor(Date.now() / 1000);
  const { client, answer } = await wsInit({ Authorization: `Bearer ${token('Admin', { exp: now - 10 })}` });
  try {
    assert.deepStrictEqual(answer, { type: 'connection_error', payload: 'TokenExpiredError: jwt expired' });
  } finally {
    client.close();
  }
  const bad = await wsInit({ Authorization: 'Bearer not-a-token' });
  try {
    assert.deepStrictEqual(bad.answer, { type: 'connection_error', payload: 'JsonWebTokenError: jwt malformed' });
  } finally {
    bad.client.close();
  }
});

/** Resolves [code, reason] when @p client's socket closes, or rejects after 15 s. */
function closeOf(client) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the socket did not close within 15 s')), 15000);
    client.socket.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve([code, String(reason)]);
    });
  });
}

itest('WebSocket: a refused token closes the socket (4403), a start before connection_init is refused (4401)', { timeout: 120000 }, async () => {
  for (const protocol of ['graphql-ws', 'graphql-transport-ws']) {
    const socket = new WebSocket(stack.urls.websocket, protocol);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const client = new GqlWsClient(socket);
    const closed = closeOf(client);
    client.send({ type: 'connection_init', payload: { Authorization: 'Bearer not-a-token' } });
    assert.deepStrictEqual(await closed, [4403, 'Forbidden'], protocol);
    if (protocol === 'graphql-ws') {
      assert.deepStrictEqual(client.received.map((r) => r.msg), [{ type: 'connection_error', payload: 'JsonWebTokenError: jwt malformed' }]);
    }
  }
  // A token issued in the future (beyond the leeway) is refused, over HTTP too.
  const future = token('Admin', { claims: { iat: Math.floor(Date.now() / 1000) + 3600 } });
  const { client: f, answer } = await wsInit({ Authorization: `Bearer ${future}` });
  f.close();
  assert.deepStrictEqual(answer, { type: 'connection_error', payload: 'JsonWebTokenError: jwt issued in the future' });
  const http = await stack.gql(CART_READ_MODEL, { id: 'x' }, bearer(future));
  assert.match(http.text, /jwt issued in the future/);

  const socket = new WebSocket(stack.urls.websocket, 'graphql-ws');
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const early = new GqlWsClient(socket);
  const closed = closeOf(early);
  early.start('1', 'subscription { CartReadModel(id: "x") { id } }');
  assert.deepStrictEqual(await closed, [4401, 'Unauthorized']);
  assert.equal(early.received[0]?.msg.type, 'error', JSON.stringify(early.received));
  assert.equal(early.received[0].msg.id, '1');
});

itest('WebSocket: the token is taken from authorization, authToken, token, or the upgrade request header', { timeout: 120000 }, async () => {
  const t = `Bearer ${token('UserWithPhone')}`;
  for (const key of ['authorization', 'authToken', 'token']) {
    const { client, answer } = await wsInit({ [key]: t });
    client.close();
    assert.deepStrictEqual(answer, { type: 'connection_ack' }, key);
    const bad = await wsInit({ [key]: 'Bearer not-a-token' });
    bad.client.close();
    assert.deepStrictEqual(bad.answer, { type: 'connection_error', payload: 'JsonWebTokenError: jwt malformed' }, `${key}: the token is read`);
  }
  for (const [value, want] of [
    [t, 'connection_ack'],
    ['Bearer not-a-token', 'connection_error'],
  ]) {
    const socket = new WebSocket(stack.urls.websocket, 'graphql-ws', { headers: { Authorization: value } });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const client = new GqlWsClient(socket);
    client.send({ type: 'connection_init', payload: {} });
    const answer = await client.next((m) => m.type === 'connection_ack' || m.type === 'connection_error', { timeoutMs: 10000 });
    client.close();
    assert.equal(answer.type, want, `header ${value.slice(0, 12)}...`);
  }
});

itest('WebSocket: a good token is accepted, and before hooks apply to subscriptions', { timeout: 180000 }, async () => {
  const client = await stack.ws({ payload: { Authorization: `Bearer ${token('UserWithPhone')}` } });
  try {
    // A read model the token's role may not read: data with the error, then complete.
    client.start('t', 'subscription { ProductReadModel(id: "p1") { id } }');
    const denied = await client.next((m) => m.id === 't' && m.type === 'data', { timeoutMs: 10000 });
    assert.equal(denied.payload.errors[0].message, 'Access denied for this resource');
    assert.deepStrictEqual(denied.payload.errors[0].path, ['ProductReadModel']);
    await client.next((m) => m.id === 't' && m.type === 'complete', { timeoutMs: 10000 });

    // B2 (B1 only looks at by-id keys; a subscription is a filter, so it does not throw): subscribing to before-fn-sub follows before-fn-sub-modified.
    client.start('s', 'subscription { CartReadModel(id: "before-fn-sub") { id cartItems { productId quantity } } }');
    await sleep(300);
    const r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'before-fn-sub-modified', productId: 'p1', quantity: 2 });
    assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
    const m = await client.next((x) => x.id === 's' && x.type === 'data', { timeoutMs: 30000 });
    assert.deepStrictEqual(m.payload, {
      data: { CartReadModel: { id: 'before-fn-sub-modified', cartItems: [{ productId: 'p1', quantity: 2 }] } },
    });
  } finally {
    client.close();
  }
});

itest('the gateway counts its answers by operation and outcome', async () => {
  // Issue 15: the error rate an operator alerts on, told apart from clients' mistakes and
  // refused tokens.
  const counts = async () => {
    const { text } = await stack.health('gateway', '/metrics');
    const out = {};
    for (const m of text.matchAll(/^ramjet_gateway_responses_total\{operation="(\w+)",outcome="(\w+)"\} (\d+)$/gm)) out[`${m[1]}/${m[2]}`] = Number(m[3]);
    return out;
  };
  const before = await counts();
  assert.equal(Object.keys(before).length, 16, JSON.stringify(before));
  await stack.gql(CART_READ_MODEL, { id: 'metrics-none' }); // ok
  await stack.gql('{ CartReadModel(id: "x") { id }'); // syntax: before any operation
  await stack.gql('{ NoSuchField }'); // validation
  await stack.gql(CREATE_PRODUCT, { sku: 'metrics' }, bearer('not.a.token')); // refused token
  await stack.gql(CREATE_PRODUCT, { sku: 'metrics' }); // no token for an Admin mutation
  const after = await counts();
  const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - (before[k] ?? 0)]).filter(([, d]) => d !== 0));
  assert.deepStrictEqual(delta, { 'query/ok': 1, 'none/client_error': 2, 'mutation/unauthorized': 2 });
});

itestStopsCleanly(() => stack);
