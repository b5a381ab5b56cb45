// JWKS URI verifiers end to end: a JWKS served here by node:http from a fresh RSA key pair,
// the shop started with SHOP_JWKS_URI pointing at it, and tokens signed by that key sent
// as `Authorization: Bearer` (shop-domain.md, "Tokens the example app must trust").
import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import { after, before } from 'node:test';
import { itest, shopDevKeyEnv, startStack } from './lib/stack.mjs';

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = 'jwks-test-key';

/** An RS256 token of issuer booster for @p role, signed by the JWKS key, naming @p kid. */
function token(role, kid = KID) {
  const email = `${role.toLowerCase()}@example.com`;
  const payload = { iss: 'booster', sub: email, email, 'booster:role': role, iat: Math.floor(Date.now() / 1000) };
  const header = { alg: 'RS256', typ: 'JWT', kid };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(createSign('RSA-SHA256').update(input).sign(privateKey))}`;
}

const CREATE_PRODUCT = `mutation ($sku: String!) {
  CreateProduct(input: {sku: $sku, displayName: "d", description: "x", priceInCents: 100, currency: "EUR"})
}`;

let server;
let requests = 0;
let stack;
before(async () => {
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KID, use: 'sig', alg: 'RS256' }] });
  server = http.createServer((req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(jwks);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const uri = `http://127.0.0.1:${server.address().port}/.well-known/jwks.json`;
  // Both verifiers of issuer booster: the PEM key named explicitly (ramjet dev names the
  // development key only when no key is configured) and the JWKS.
  stack = await startStack({ name: 'jwks', env: { SHOP_JWKS_URI: uri, ...shopDevKeyEnv } });
});
after(async () => {
  await stack?.stop();
  await new Promise((resolve) => server?.close(resolve));
});

itest('a token signed by a JWKS key is accepted; an unknown kid is refused', { timeout: 120000 }, async () => {
  assert.ok(requests >= 1, 'the daemons fetched the JWKS when they loaded the app');

  let r = await stack.gql(CREATE_PRODUCT, { sku: 'jwks-admin' }, { authorization: `Bearer ${token('Admin')}` });
  assert.equal(r.status, 200, r.text);
  assert.deepStrictEqual(r.json, { data: { CreateProduct: true } }, r.text);

  // Still an authorization check, not just authentication.
  r = await stack.gql(CREATE_PRODUCT, { sku: 'jwks-user' }, { authorization: `Bearer ${token('User')}` });
  assert.equal(r.json.errors?.[0]?.message, 'Access denied for this resource', r.text);

  // A kid the JWKS does not hold: refused by both verifiers of issuer booster.
  r = await stack.gql(CREATE_PRODUCT, { sku: 'jwks-unknown' }, { authorization: `Bearer ${token('Admin', 'nobody')}` });
  // The reasons of both verifiers, in order: the PEM key's, then the JWKS's.
  assert.deepStrictEqual(r.json, {
    errors: [
      {
        message: 'JsonWebTokenError: invalid signature\nJsonWebTokenError: no key for kid "nobody"',
        extensions: { code: 'NotAuthorizedError' },
      },
    ],
  });
});
