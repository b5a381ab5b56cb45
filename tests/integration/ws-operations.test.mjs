// Queries and mutations over the WebSocket, on the real stack: the pusher forwards them to
// the gateway (RAMJET_GATEWAY_URL, set by `ramjet dev`) with the connection's
// Authorization and relays the answer. Checked with the raw `ws` client, on both
// subprotocols:
//
//   - ChangeCartItem and a CartReadModel query by id: graphql-ws answers `data` then
//     `complete`, graphql-transport-ws `next` then `complete`, with exactly what HTTP
//     answers;
//   - a mutation the connection's user may not run gets the very errors HTTP gets for the
//     same token (and an anonymous socket those of an anonymous request);
//   - a syntax error: graphql-ws `data` + `complete`, graphql-transport-ws `error`, with
//     HTTP's errors;
//   - a gateway that is down (a second pusher pointed at a closed port) or that never
//     answers (pointed at a socket that accepts and stays silent): that operation gets an
//     error, and the same connection keeps serving subscriptions; a `stop` before the
//     answer means nothing more arrives for that operation.
import assert from 'node:assert/strict';
import { createSign } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import {
  CART_READ_MODEL,
  CHANGE_CART_ITEM,
  GqlWsClient,
  MUTATION_OK,
  freePort,
  itest,
  itestStopsCleanly,
  sleep,
  startExtraPusher,
  startStack,
  stopExtraPushers,
  waitFor,
} from './lib/stack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const privateKey = readFileSync(path.resolve(here, '../../examples/shop/keys/private.pem'), 'utf8');
const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** An RS256 token for the shop's dev key (as auth.test.mjs mints them). */
function token(role) {
  const email = `${String(role).toLowerCase()}@example.com`;
  const payload = { iss: 'booster', sub: email, email, id: email, iat: Math.floor(Date.now() / 1000), 'booster:role': role };
  const input = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'booster' }))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(createSign('RSA-SHA256').update(input).sign(privateKey))}`;
}

const CREATE_PRODUCT = `mutation ($sku: String!) {
  CreateProduct(input: {sku: $sku, displayName: "d", description: "x", priceInCents: 100, currency: "EUR"})
}`;
const CART_BY_ID = (id) => `subscription { CartReadModel(id: "${id}") { id cartItems { productId quantity } } }`;

const PROTOCOLS = ['graphql-ws', 'graphql-transport-ws'];

let stack;
const silentServers = new Set();

before(async () => {
  stack = await startStack({ name: 'ws-operations' });
});
after(async () => {
  await stopExtraPushers();
  for (const s of silentServers) s.close();
  await stack?.stop();
});

/**
 * A raw socket speaking @p protocol on @p url, connection_init sent with @p authorization
 * (when given) and acknowledged. Resolves a GqlWsClient (its message log and next()).
 */
async function connect(url, protocol, authorization) {
  const socket = new WebSocket(url, protocol);
  await once(socket, 'open');
  assert.equal(socket.protocol, protocol);
  const client = new GqlWsClient(socket);
  client.send({ type: 'connection_init', payload: authorization ? { Authorization: authorization } : {} });
  const ack = await client.next((m) => m.type === 'connection_ack' || m.type === 'connection_error', { timeoutMs: 10000 });
  assert.equal(ack.type, 'connection_ack', JSON.stringify(ack));
  client.protocol = protocol;
  return client;
}

/** Sends @p query as operation @p id: `start` on graphql-ws, `subscribe` on graphql-transport-ws. */
function send(client, id, query, variables, extensions) {
  const payload = extensions ? { query, variables, extensions } : { query, variables };
  client.send({ id, type: client.protocol === 'graphql-ws' ? 'start' : 'subscribe', payload });
}

/**
 * Runs one operation over the socket and resolves {kind, payload}: kind 'result' for
 * data/next followed by complete (payload = the result), 'error' for a graphql-transport-ws
 * `error` (payload = the errors). Asserts nothing else arrives for that id.
 */
async function run(client, id, query, variables, { timeoutMs = 30000, extensions } = {}) {
  const from = client.received.length;
  send(client, id, query, variables, extensions);
  const first = await client.next((m) => m.id === id, { from, timeoutMs });
  let out;
  if (first.type === 'error') {
    assert.equal(client.protocol, 'graphql-transport-ws', `graphql-ws answered ${JSON.stringify(first)}`);
    out = { kind: 'error', payload: first.payload };
  } else {
    assert.equal(first.type, client.protocol === 'graphql-ws' ? 'data' : 'next', JSON.stringify(first));
    const done = await client.next((m) => m.id === id && m !== first, { from, timeoutMs });
    assert.equal(done.type, 'complete', JSON.stringify(done));
    out = { kind: 'result', payload: first.payload };
  }
  await sleep(100); // anything after the end would have arrived by now
  const mine = client.received.slice(from).filter(({ msg }) => msg.id === id);
  assert.equal(mine.length, out.kind === 'error' ? 1 : 2, `messages for ${id}: ${JSON.stringify(mine.map((r) => r.msg))}`);
  return out;
}

for (const protocol of PROTOCOLS) {
  itest(`${protocol}: federation's _service and _entities answer as over HTTP`, { timeout: 60000 }, async () => {
    // A gateway federating this app may reach it over the WebSocket endpoint too: the
    // pusher's own schema has no federation fields, so it must hand them to the gateway.
    const client = await connect(stack.urls.websocket, protocol);
    try {
      const SDL = '{ _service { sdl } }';
      const ENTITIES = 'query ($r: [_Any!]!) { _entities(representations: $r) { __typename ... on CartReadModel { id } } }';
      const reps = { r: [{ __typename: 'CartReadModel', id: `ws-fed-${protocol}` }] };
      for (const [id, query, variables] of [['sdl', SDL, undefined], ['ent', ENTITIES, reps]]) {
        const http = await stack.gql(query, variables);
        assert.equal(http.status, 200, http.text);
        assert.ok(id === 'sdl' ? /type CartReadModel @key\(fields: "id"\)/.test(http.json.data?._service?.sdl) : Array.isArray(http.json.data?._entities), http.text);
        const ws = await run(client, id, query, variables);
        assert.deepStrictEqual(ws, { kind: 'result', payload: http.json });
      }
    } finally {
      client.close();
    }
  });

  itest(`${protocol}: a mutation retried with extensions.idempotencyKey is applied once`, { timeout: 120000 }, async () => {
    const client = await connect(stack.urls.websocket, protocol);
    try {
      const cart = `ws-idem-${protocol}`;
      const extensions = { idempotencyKey: `ws-key-${protocol}` };
      for (const id of ['i1', 'i2']) {
        const r = await run(client, id, CHANGE_CART_ITEM, { cartId: cart, productId: 'p1', quantity: 4 }, { extensions });
        assert.deepStrictEqual(r, { kind: 'result', payload: MUTATION_OK });
      }
      const count = () => stack.sql(`SELECT count(*) FROM shop.events WHERE entity_type = 'Cart' AND entity_id = '${cart}'`);
      await waitFor(async () => (await count()) === '1', { timeoutMs: 30000, what: `the event of ${cart}` });
      await sleep(1500); // a second event would have been stored by now
      assert.equal(await count(), '1', 'the retry over the socket was applied again');
    } finally {
      client.close();
    }
  });

  itest(`${protocol}: ChangeCartItem and a query by id answer as over HTTP`, { timeout: 120000 }, async () => {
    const client = await connect(stack.urls.websocket, protocol);
    try {
      const cart = `ws-op-${protocol}`;
      let r = await run(client, 'm1', CHANGE_CART_ITEM, { cartId: cart, productId: 'p1', quantity: 2 });
      assert.deepStrictEqual(r, { kind: 'result', payload: MUTATION_OK });
      r = await run(client, 'm2', CHANGE_CART_ITEM, { cartId: cart, productId: 'p2', quantity: 1 });
      assert.deepStrictEqual(r, { kind: 'result', payload: MUTATION_OK });

      // The projection catches up; the socket's answer is then HTTP's, exactly.
      const want = { data: { CartReadModel: { id: cart, cartItems: [{ productId: 'p1', quantity: 2 }, { productId: 'p2', quantity: 1 }] } } };
      let n = 0;
      await waitFor(
        async () => {
          r = await run(client, `q${n++}`, CART_READ_MODEL, { id: cart });
          return JSON.stringify(r.payload) === JSON.stringify(want) || undefined;
        },
        { timeoutMs: 30000, intervalMs: 200, what: `cart ${cart} over the socket; last ${JSON.stringify(r)}` },
      );
      const http = await stack.gql(CART_READ_MODEL, { id: cart });
      assert.deepStrictEqual(r.payload, http.json);

      // Ids are free again once answered, and a query with a name and several operations works.
      r = await run(client, 'm1', 'query A { __typename } query B { CartReadModel(id: "none") { id } }', undefined);
      assert.equal(r.kind, protocol === 'graphql-ws' ? 'result' : 'error', JSON.stringify(r));
      const sent = client.received.length;
      client.send({ id: 'named', type: protocol === 'graphql-ws' ? 'start' : 'subscribe', payload: { query: 'query A { __typename } query B { CartReadModel(id: "none") { id } }', operationName: 'B' } });
      const named = await client.next((m) => m.id === 'named', { from: sent });
      assert.deepStrictEqual(named.payload, { data: { CartReadModel: null } });
    } finally {
      client.close();
    }
  });

  itest(`${protocol}: an unauthorized mutation gets HTTP's errors; a syntax error too`, { timeout: 120000 }, async () => {
    const user = `Bearer ${token('User')}`;
    const client = await connect(stack.urls.websocket, protocol, user);
    const anonymous = await connect(stack.urls.websocket, protocol);
    try {
      const http = await stack.gql(CREATE_PRODUCT, { sku: `ws-${protocol}` }, { authorization: user });
      assert.equal(http.json.errors?.[0]?.extensions?.code, 'NotAuthorizedError', http.text);
      let r = await run(client, 'c', CREATE_PRODUCT, { sku: `ws-${protocol}` });
      assert.deepStrictEqual(r, { kind: 'result', payload: http.json });

      const httpAnon = await stack.gql(CREATE_PRODUCT, { sku: `ws-anon-${protocol}` });
      r = await run(anonymous, 'c', CREATE_PRODUCT, { sku: `ws-anon-${protocol}` });
      assert.deepStrictEqual(r, { kind: 'result', payload: httpAnon.json });
      assert.equal(r.payload.errors[0].message, 'Access denied for this resource');

      // The token travels: an Admin's socket may create the product.
      const admin = await connect(stack.urls.websocket, protocol, `Bearer ${token('Admin')}`);
      r = await run(admin, 'c', CREATE_PRODUCT, { sku: `ws-admin-${protocol}` });
      admin.close();
      assert.deepStrictEqual(r, { kind: 'result', payload: { data: { CreateProduct: true } } });

      const bad = 'query { CartReadModel(id: "x") { id }';
      const httpBad = await stack.gql(bad);
      assert.ok(httpBad.json.errors[0].message.startsWith('Syntax Error'), httpBad.text);
      r = await run(client, 's', bad);
      if (protocol === 'graphql-ws') assert.deepStrictEqual(r, { kind: 'result', payload: httpBad.json });
      else assert.deepStrictEqual(r, { kind: 'error', payload: httpBad.json.errors });

      // A validation error comes from the gateway, as over HTTP.
      const invalid = 'query { CartReadModel(id: "x") { nope } }';
      const httpInvalid = await stack.gql(invalid);
      r = await run(client, 'v', invalid);
      if (protocol === 'graphql-ws') assert.deepStrictEqual(r, { kind: 'result', payload: httpInvalid.json });
      else assert.deepStrictEqual(r, { kind: 'error', payload: httpInvalid.json.errors });
    } finally {
      client.close();
      anonymous.close();
    }
  });
}

/* ---- a gateway that is down, or silent ---- */

/** A server that accepts connections and never answers; resolves its port. */
async function silentServer() {
  const sockets = new Set();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  const close = srv.close.bind(srv);
  srv.close = () => {
    for (const s of sockets) s.destroy();
    close();
  };
  silentServers.add(srv);
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return srv.address().port;
}

/** The error a failed operation got: graphql-ws `data` {errors}, graphql-transport-ws `error`. */
function failureOf(protocol, r) {
  if (protocol === 'graphql-ws') {
    assert.equal(r.kind, 'result');
    assert.equal(r.payload.data, undefined);
    return r.payload.errors;
  }
  assert.equal(r.kind, 'error');
  return r.payload;
}

/** Subscribes @p client to cart @p cart as @p id, makes a change over HTTP and waits for it. */
async function expectSubscriptionWorks(client, id, cart) {
  send(client, id, CART_BY_ID(cart));
  const type = client.protocol === 'graphql-ws' ? 'data' : 'next';
  await waitFor(
    async () => {
      // Until the subscription is registered a change may go by: change again until one arrives.
      const r = await stack.gql(CHANGE_CART_ITEM, { cartId: cart, productId: 'p', quantity: 1 });
      assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
      return client.next((m) => m.id === id && m.type === type, { timeoutMs: 2000 }).then(
        (m) => m,
        () => undefined,
      );
    },
    { timeoutMs: 60000, intervalMs: 0, what: `a change of ${cart} on subscription ${id}` },
  );
}

itest('a gateway that is down or silent fails that operation only; stop before the answer is honoured', { timeout: 240000 }, async () => {
  const down = await startExtraPusher(stack, { RAMJET_GATEWAY_URL: `http://127.0.0.1:${await freePort()}/graphql` });
  const silent = await startExtraPusher(stack, {
    RAMJET_GATEWAY_URL: `http://127.0.0.1:${await silentServer()}/graphql`,
    RAMJET_GATEWAY_TIMEOUT_MS: '1500',
  });
  const clients = [];
  try {
    for (const protocol of PROTOCOLS) {
      const a = await connect(down.url, protocol);
      const b = await connect(silent.url, protocol);
      clients.push(a, b);

      let errors = failureOf(protocol, await run(a, 'q', CART_READ_MODEL, { id: 'x' }));
      assert.deepStrictEqual(errors, [{ message: 'The GraphQL gateway could not be reached', extensions: { code: 'RetriableError' } }]);
      const started = Date.now();
      errors = failureOf(protocol, await run(b, 'q', CHANGE_CART_ITEM, { cartId: 'x', productId: 'p', quantity: 1 }));
      assert.deepStrictEqual(errors, [{ message: 'The GraphQL gateway did not answer in time', extensions: { code: 'TimeoutError' } }]);
      assert.ok(Date.now() - started >= 1400, `timed out after ${Date.now() - started} ms`);

      // Stopped before the (timed-out) answer: nothing of it arrives.
      const from = b.received.length;
      send(b, 'stopped', CART_READ_MODEL, { id: 'x' });
      b.send({ id: 'stopped', type: protocol === 'graphql-ws' ? 'stop' : 'complete' });
      await sleep(2500);
      const after = b.received.slice(from).map((r) => r.msg);
      assert.deepStrictEqual(after, protocol === 'graphql-ws' ? [{ id: 'stopped', type: 'complete' }] : []);

      // Both connections still serve subscriptions.
      await expectSubscriptionWorks(a, 'sub', `down-${protocol}`);
      await expectSubscriptionWorks(b, 'sub', `silent-${protocol}`);
      assert.ok(!a.closed && !b.closed);
    }
  } finally {
    for (const c of clients) c.close();
  }
  for (const p of [down, silent]) {
    const st = await p.stop();
    assert.deepStrictEqual(st, { code: 0, signal: null }, `pusher exit ${JSON.stringify(st)}; see ${stack.logDir}`);
  }
});

itestStopsCleanly(() => stack);
