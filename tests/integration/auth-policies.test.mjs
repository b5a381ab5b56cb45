// Application-defined token policies end to end (ramjet.h: rj_app_token_verifier_check and
// rj_app_token_verifier_custom), on a stack whose shop runs with both of its optional
// policies on: SHOP_REVOKED_TOKEN_IDS (a check on top of the "booster" public-key
// verifier) and SHOP_API_KEYS (a custom verifier for API keys). A stack of its own, because
// the extra verifier adds its reason to every refusal, which auth.test.mjs checks exactly.
import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { GqlWsClient, itest, itestStopsCleanly, startStack, waitFor } from './lib/stack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const privateKey = readFileSync(path.resolve(here, '../../examples/shop/keys/private.pem'), 'utf8');
const b64url = (buf) => Buffer.from(buf).toString('base64url');

function token(role, claims = {}) {
  const email = `${role.toLowerCase()}@example.com`;
  const payload = { iss: 'booster', sub: email, email, 'booster:role': role, iat: Math.floor(Date.now() / 1000), ...claims };
  const input = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'booster' }))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(createSign('RSA-SHA256').update(input).sign(privateKey))}`;
}
const bearer = (t) => ({ authorization: `Bearer ${t}` });

const ADMIN_KEY = 'sk-test-admin-7f3c';
const PHONE_KEY = 'sk-test-phone-19ab';
const CREATE_PRODUCT = `mutation ($sku: String!) {
  CreateProduct(input: {sku: $sku, displayName: "d", description: "x", priceInCents: 100, currency: "EUR"})
}`;

let stack;
before(async () => {
  stack = await startStack({
    name: 'auth-policies',
    env: { SHOP_REVOKED_TOKEN_IDS: 'revoked-1,revoked-2', SHOP_API_KEYS: `${ADMIN_KEY}=Admin,${PHONE_KEY}=UserWithPhone` },
  });
});
after(async () => {
  await stack?.stop();
});

itest('a revoked token is refused with the check\'s message; other tokens of the issuer pass', { timeout: 120000 }, async () => {
  let r = await stack.gql(CREATE_PRODUCT, { sku: 'p-revoked' }, bearer(token('Admin', { jti: 'revoked-2' })));
  assert.deepStrictEqual(r.json, {
    errors: [{ message: 'Token revoked-2 has been revoked\nUnknown API key', extensions: { code: 'NotAuthorizedError' } }],
  });
  r = await stack.gql(CREATE_PRODUCT, { sku: 'p-fine' }, bearer(token('Admin', { jti: 'fine-1' })));
  assert.deepStrictEqual(r.json, { data: { CreateProduct: true } }, r.text);
  r = await stack.gql(CREATE_PRODUCT, { sku: 'p-nojti' }, bearer(token('Admin')));
  assert.deepStrictEqual(r.json, { data: { CreateProduct: true } }, r.text);
  // The check runs after the standard ones: an expired revoked token is just expired.
  r = await stack.gql(CREATE_PRODUCT, { sku: 'p-exp' }, bearer(token('Admin', { jti: 'revoked-1', exp: 1 })));
  assert.deepStrictEqual(r.json, {
    errors: [{ message: 'TokenExpiredError: jwt expired\nUnknown API key', extensions: { code: 'BoosterTokenExpiredError' } }],
  });
});

itest('an API key authenticates with its role; an unknown one is refused by every verifier', { timeout: 120000 }, async () => {
  let r = await stack.gql(CREATE_PRODUCT, { sku: 'p-key' }, bearer(ADMIN_KEY));
  assert.deepStrictEqual(r.json, { data: { CreateProduct: true } }, r.text);
  // The role is the key's: UserWithPhone may not create products.
  r = await stack.gql(CREATE_PRODUCT, { sku: 'p-phone' }, bearer(PHONE_KEY));
  assert.equal(r.json.errors?.[0]?.message, 'Access denied for this resource', r.text);
  assert.deepStrictEqual(r.json.errors[0].path, ['CreateProduct']);

  r = await stack.gql(CREATE_PRODUCT, { sku: 'p-bad' }, bearer(`${ADMIN_KEY}x`));
  assert.deepStrictEqual(r.json, {
    errors: [{ message: 'JsonWebTokenError: jwt malformed\nUnknown API key', extensions: { code: 'NotAuthorizedError' } }],
  });

  // The key's user travels with the command into the stored event.
  const user = await waitFor(
    async () => {
      const rows = await stack.sqlRows(`SELECT "current_user" AS u FROM shop.events WHERE type = 'ProductCreated' AND value->>'sku' = 'p-key'`);
      return rows[0]?.u;
    },
    { timeoutMs: 30000, what: 'the ProductCreated event of p-key' },
  );
  assert.equal(user.id, 'api-key-1');
  assert.deepStrictEqual(user.roles, ['Admin']);
});

/** Opens a graphql-ws socket, sends connection_init with @p payload; resolves the answer. */
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

itest('WebSocket: connection_init applies the same policies', { timeout: 120000 }, async () => {
  const revoked = await wsInit({ Authorization: `Bearer ${token('Admin', { jti: 'revoked-1' })}` });
  try {
    assert.deepStrictEqual(revoked.answer, { type: 'connection_error', payload: 'Token revoked-1 has been revoked\nUnknown API key' });
  } finally {
    revoked.client.close();
  }
  const key = await wsInit({ Authorization: `Bearer ${ADMIN_KEY}` });
  try {
    assert.deepStrictEqual(key.answer, { type: 'connection_ack' });
    // Admin (from the key) may read ProductReadModel, which anonymous users may not.
    key.client.start('p', 'subscription { ProductReadModels { id } }');
    const r = await stack.gql(CREATE_PRODUCT, { sku: 'p-ws' }, bearer(ADMIN_KEY));
    assert.deepStrictEqual(r.json, { data: { CreateProduct: true } }, r.text);
    const m = await key.client.next((x) => x.id === 'p', { timeoutMs: 30000 });
    assert.equal(m.type, 'data', JSON.stringify(m));
    assert.equal(m.payload.errors, undefined, JSON.stringify(m));
  } finally {
    key.client.close();
  }
});

itestStopsCleanly(() => stack);
