// Bad requests get a GraphQL error (HTTP 200) or a transport error (400/413), and
// none of them hurts the gateway: a good mutation still works after each.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before } from 'node:test';
import { CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, sleep, startStack } from './lib/stack.mjs';

let stack;
before(async () => {
  stack = await startStack({ name: 'bad-input' });
});
after(async () => {
  await stack?.stop();
});

function assertGraphqlError(r, what) {
  assert.equal(r.status, 200, `${what}: expected HTTP 200 with errors, got ${r.status}: ${r.text.slice(0, 500)}`);
  assert.ok(Array.isArray(r.json?.errors) && r.json.errors.length > 0, `${what}: no errors in ${r.text.slice(0, 500)}`);
  for (const e of r.json.errors) {
    assert.equal(typeof e.message, 'string', `${what}: error without a message: ${JSON.stringify(e)}`);
    assert.ok(e.message.length > 0, `${what}: empty error message`);
  }
}

function assertRejected(r, what) {
  if (r.status === 400 || r.status === 413) return;
  assertGraphqlError(r, what);
}

let goodCount = 0;
async function assertStillServes() {
  goodCount++;
  const r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'bad-input-ok', productId: 'p1', quantity: 1 });
  assert.equal(r.status, 200, r.text);
  assert.deepStrictEqual(r.json, MUTATION_OK, `good request after a bad one answered ${r.text}`);
}

/** POSTs with node:http, so a status sent before the server stops reading the body is still seen. */
function postRaw(url, body) {
  return new Promise((resolve, reject) => {
    let responded = false;
    const req = http.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.setTimeout(60000, () => req.destroy(new Error('no answer within 60 s')));
    req.on('response', (res) => {
      responded = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode, text, json });
      });
      res.on('error', () => resolve({ status: res.statusCode, text, json: null }));
    });
    req.on('error', (e) => {
      if (!responded) reject(new Error(`connection failed without an HTTP answer: ${e.message}`));
    });
    req.end(body);
  });
}

itest('malformed JSON body', async () => {
  assertRejected(await stack.post('{"query": "mutation { ChangeCartItem('), 'malformed JSON');
  assertRejected(await stack.post('not json at all'), 'not JSON');
  await assertStillServes();
});

itest('unknown mutation', async () => {
  const r = await stack.gql('mutation { NoSuchCommand(input: {cartId: "x"}) }');
  assertGraphqlError(r, 'unknown mutation');
  assert.ok(r.json.data == null || r.json.data.NoSuchCommand == null, `unknown mutation returned data: ${r.text}`);
  await assertStillServes();
});

itest('missing required input field stores nothing', async () => {
  const r = await stack.gql('mutation { ChangeCartItem(input: {cartId: "bad-missing", productId: "p1"}) }');
  assertGraphqlError(r, 'missing quantity');
  assert.ok(r.json.data == null || r.json.data.ChangeCartItem !== true, `accepted: ${r.text}`);
  const v = await stack.gql(CHANGE_CART_ITEM, { cartId: 'bad-missing', productId: 'p1' });
  assertGraphqlError(v, 'missing $quantity variable');
  const w = await stack.gql(CHANGE_CART_ITEM, { cartId: 'bad-missing', productId: 'p1', quantity: 'two' });
  assertGraphqlError(w, 'quantity of the wrong type');
  await assertStillServes();
  // The good request went through the whole pipeline meanwhile; none of the bad ones may have.
  await sleep(1000);
  const n = await stack.sql("SELECT count(*) FROM shop.events WHERE entity_id = 'bad-missing'");
  assert.equal(n, '0', 'an invalid mutation produced an event');
});

itest('U+0000 in a string is refused at once, in a literal and in variables', async () => {
  const started = Date.now();
  const r = await stack.gql('mutation { ChangeCartItem(input: {cartId: "bad-nul\\u0000x", productId: "p1", quantity: 1}) }');
  assertGraphqlError(r, 'U+0000 in a literal');
  assert.equal(r.json.errors[0].extensions?.code, 'InvalidParameterError', r.text);
  assert.ok(Date.now() - started < 5000, 'answered at once, not after the reply timeout');
  assertRejected(await stack.post('{"query":"mutation($c: ID!) { ChangeCartItem(input: {cartId: $c, productId: \\"p1\\", quantity: 1}) }","variables":{"c":"bad-nul\\u0000y"}}'),
    'U+0000 in variables');
  await assertStillServes();
  const n = await stack.sql("SELECT count(*) FROM shop.events WHERE entity_id LIKE 'bad-nul%'");
  assert.equal(n, '0', 'a command with U+0000 produced an event');
});

itest('oversized body (7 MiB)', { timeout: 120000 }, async () => {
  const pad = 'x'.repeat(7 * 1024 * 1024);
  const body = JSON.stringify({
    query: 'mutation { ChangeCartItem(input: {cartId: "bad-big", productId: "p1", quantity: 1}) }',
    variables: { pad },
  });
  assertRejected(await postRaw(stack.urls.graphql, body), 'oversized body');
  await assertStillServes();
});

itest('every good request after the bad ones was stored', async () => {
  await assertStillServes();
  const rows = await stack.sqlRows("SELECT version FROM shop.events WHERE entity_id = 'bad-input-ok' ORDER BY version");
  // Events reach the store asynchronously; wait for all of them.
  for (let i = 0; rows.length < goodCount && i < 150; i++) {
    await sleep(200);
    rows.splice(0, rows.length, ...(await stack.sqlRows("SELECT version FROM shop.events WHERE entity_id = 'bad-input-ok' ORDER BY version")));
  }
  assert.deepStrictEqual(rows.map((r) => r.version), Array.from({ length: goodCount }, (_, i) => i + 1));
});

itestStopsCleanly(() => stack);
