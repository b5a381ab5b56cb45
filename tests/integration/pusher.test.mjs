// The pusher as production runs it: several replicas behind one URL, a Redis that
// crashes and comes back, and clients that stop reading.
//
//   - two replicas: a second ramjet-pusher started here next to the stack's one;
//     a subscriber on each gets every change of the cart exactly once;
//   - Redis killed with SIGKILL: the supervisor restarts it, the pusher subscribes
//     again, and a subscription made BEFORE the crash, on the same connection,
//     receives changes made after it (changes published while Redis was down are
//     lost: pub/sub is at most once, and the next change carries the whole row);
//   - a client that stops reading, on a pusher started here with a small
//     --send-queue-max-bytes: the pusher gives up on it and drops the connection while
//     the client is still not reading (it sees 1008 if the close frame reached its kernel
//     buffer, else 1006), while a healthy subscriber on the same pusher receives exactly
//     the changes a subscriber on the stack's pusher does. The slow client holds several
//     subscriptions of the cart: the waiting changes of one subscription coalesce into
//     the latest, so one alone can never go over the bound.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before } from 'node:test';
import WebSocket from 'ws';
import {
  CHANGE_CART_ITEM,
  GqlWsClient,
  MUTATION_OK,
  itest,
  itestStopsCleanly,
  sleep,
  startExtraPusher,
  startStack,
  stopExtraPushers,
  waitFor,
} from './lib/stack.mjs';

let stack;

before(async () => {
  stack = await startStack({ name: 'pusher' });
});
after(async () => {
  await stopExtraPushers();
  await stack?.stop();
});

const cartSubscription = (id) => `subscription { CartReadModel(id: "${id}") { id cartItems { productId quantity } } }`;

/** Parses Prometheus text; resolves the value of metric `name` (no labels), or undefined. */
async function metric(healthPort, name) {
  const res = await fetch(`http://127.0.0.1:${healthPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm'));
  return m ? Number(m[1]) : undefined;
}

/**
 * Waits until the stack's pusher holds no subscription: earlier tests' clients are
 * closed by then, so counting from zero is exact (the gauge is updated every 250 ms).
 */
function waitNoSubscriptions() {
  return waitFor(async () => (await metric(stack.healthPort('pusher'), 'ramjet_pusher_subscriptions')) === 0, {
    timeoutMs: 30000,
    what: "the stack pusher's earlier subscriptions to be gone",
  });
}

/** Waits until the pusher behind healthPort holds at least n subscriptions (its gauge, updated every 250 ms). */
function waitSubscriptions(healthPort, n, what) {
  return waitFor(async () => (await metric(healthPort, 'ramjet_pusher_subscriptions')) >= n, {
    timeoutMs: 30000,
    what: `${what}: ${n} subscriptions registered`,
  });
}

/** ChangeCartItem, retried (up to timeoutMs) until the gateway acknowledges it. */
async function mutate(cartId, productId, quantity, { timeoutMs = 30000 } = {}) {
  let last;
  await waitFor(
    async () => {
      const r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId, quantity }, {}, { timeoutMs: 15000 });
      last = r.text;
      return JSON.stringify(r.json) === JSON.stringify(MUTATION_OK);
    },
    { timeoutMs, intervalMs: 250, what: `ChangeCartItem(${cartId}, ${productId}) to be acknowledged (last answer ${last})` },
  );
}

/** The CartReadModel payloads of the `data` messages a client got for subscription id, in order. */
const dataOf = (client, id) =>
  client.received.filter(({ msg }) => msg.type === 'data' && msg.id === id).map(({ msg }) => msg.payload?.data?.CartReadModel);

const quantityOf = (cart, productId) => cart?.cartItems?.find((i) => i.productId === productId)?.quantity;

itest('two replicas: a subscriber on each gets every change exactly once; the replica stops with 0', { timeout: 240000 }, async () => {
  const replica = await startExtraPusher(stack);
  const a = await stack.ws();
  const b = await GqlWsClient.connect(replica.url);
  try {
    const cart = 'replicas-1';
    await waitNoSubscriptions();
    a.start('1', cartSubscription(cart));
    b.start('1', cartSubscription(cart));
    await waitSubscriptions(stack.healthPort('pusher'), 1, 'stack pusher');
    await waitSubscriptions(replica.healthPort, 1, 'replica');

    // One change at a time, each waited for on both replicas, so that the projector
    // cannot fold two changes into one notification: then one change = one `data`.
    const changes = 5;
    for (let k = 1; k <= changes; k++) {
      await mutate(cart, 'p1', 1);
      for (const [name, c] of [['stack pusher', a], ['replica', b]]) {
        await waitFor(() => dataOf(c, '1').some((d) => quantityOf(d, 'p1') === k), {
          timeoutMs: 30000,
          what: `quantity ${k} on the ${name}`,
        });
      }
    }
    // A last change on another product: anything duplicated would be queued before it.
    await mutate(cart, 'end', 1);
    for (const c of [a, b]) {
      await waitFor(() => dataOf(c, '1').some((d) => quantityOf(d, 'end') === 1), { timeoutMs: 30000, what: 'the last change' });
    }
    const expected = [];
    for (let k = 1; k <= changes; k++) expected.push({ id: cart, cartItems: [{ productId: 'p1', quantity: k }] });
    expected.push({ id: cart, cartItems: [{ productId: 'p1', quantity: changes }, { productId: 'end', quantity: 1 }] });
    assert.deepStrictEqual(dataOf(a, '1'), expected, 'the stack pusher subscriber');
    assert.deepStrictEqual(dataOf(b, '1'), expected, 'the replica subscriber');
    for (const c of [a, b]) {
      for (const { msg } of c.received) assert.ok(['connection_ack', 'data'].includes(msg.type), `unexpected ${JSON.stringify(msg)}`);
    }

    // SIGTERM: the replica says "going away" (1001) to its client and exits 0.
    const closed = once(b.socket, 'close');
    const st = await replica.stop();
    assert.deepStrictEqual(st, { code: 0, signal: null }, `replica exit ${JSON.stringify(st)}; see ${stack.logDir}`);
    const [code] = await Promise.race([closed, sleep(10000).then(() => [null])]);
    assert.equal(code, 1001, 'the replica closed its client with 1001 Going Away');
  } finally {
    a.close();
    b.close();
    await replica.stop();
  }
});

itest('Redis killed: the supervisor restarts it and a subscription made before the crash receives changes again', { timeout: 300000 }, async () => {
  const cart = 'redis-crash-1';
  const client = await stack.ws();
  try {
    await waitNoSubscriptions();
    client.start('r', cartSubscription(cart));
    await waitSubscriptions(stack.healthPort('pusher'), 1, 'stack pusher');
    await mutate(cart, 'before', 1);
    await client.next((m) => m.type === 'data' && m.id === 'r' && quantityOf(m.payload?.data?.CartReadModel, 'before') === 1, {
      timeoutMs: 30000,
    });

    const pusherPid = await stack.pidOf('pusher');
    const redisPid = await stack.pidOf('redis');
    assert.ok(pusherPid && redisPid, `pid files: pusher ${pusherPid}, redis ${redisPid}`);
    process.kill(redisPid, 'SIGKILL');
    const newRedisPid = await waitFor(
      async () => {
        const p = await stack.pidOf('redis');
        return p !== null && p !== redisPid ? p : undefined;
      },
      { timeoutMs: 60000, what: 'the supervisor to restart redis-server' },
    );
    assert.match(stack.log('supervisor'), new RegExp(`redis pid=${redisPid} .*restarting`));
    await waitFor(async () => (await stack.health('pusher', '/readyz')).status === 200, {
      timeoutMs: 60000,
      what: 'the pusher to be ready on the restarted Redis',
    });

    // The pusher reports ready once it has subscribed again, but the daemons that
    // publish (projector) and reply (gateway) reconnect on their own schedule, and a
    // change published before the pusher resubscribed is lost: change the cart until
    // one change reaches the subscriber.
    const mark = client.received.length;
    let n = 0;
    await waitFor(
      async () => {
        n++;
        await mutate(cart, `after-${n}`, 1, { timeoutMs: 60000 });
        try {
          await client.next((m) => m.type === 'data' && m.id === 'r' && quantityOf(m.payload?.data?.CartReadModel, `after-${n}`) === 1, {
            timeoutMs: 5000,
            from: mark,
          });
          return true;
        } catch (e) {
          if (client.closed) throw new Error(`the subscriber's socket closed: ${e.message}`);
          return false;
        }
      },
      { timeoutMs: 180000, intervalMs: 100, what: 'a change after the Redis restart to reach the subscriber' },
    );
    assert.equal(client.closed, undefined, 'the connection survived the Redis crash');
    assert.equal(await stack.pidOf('pusher'), pusherPid, 'the same pusher process served the subscription throughout');
    assert.notEqual(newRedisPid, redisPid);
    // The row arrives whole: the change made before the crash is in it.
    const last = dataOf(client, 'r').at(-1);
    assert.equal(quantityOf(last, 'before'), 1, JSON.stringify(last));
    for (const { msg } of client.received) assert.ok(['connection_ack', 'data'].includes(msg.type), `unexpected ${JSON.stringify(msg)}`);
  } finally {
    client.close();
  }
});

itest('a client that stops reading is disconnected while it still is not reading; a healthy subscriber on the same pusher misses nothing', { timeout: 300000 }, async () => {
  const queueBytes = 64 * 1024;
  const slowSubs = 8; // 8 waiting changes of ~30 KB each: over twice the bound
  const pusher = await startExtraPusher(stack, {
    RAMJET_SEND_QUEUE_MAX_BYTES: String(queueBytes),
    RAMJET_SEND_QUEUE_GRACE_MS: '1000',
  });
  const cart = 'slow-1';
  // Big rows, so that the kernel's socket buffers fill after a few hundred frames:
  // 300 products of ~100 bytes each, about 30 KB per `data` frame.
  const products = 300;
  const pad = 'x'.repeat(60);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < products; i = next++) await mutate(cart, `product-${String(i).padStart(4, '0')}-${pad}`, 1);
    }),
  );

  const reference = await stack.ws(); // on the stack's pusher: sees every change Redis carries
  const healthy = await GqlWsClient.connect(pusher.url);
  const slow = await GqlWsClient.connect(pusher.url);
  let stopLoad = false;
  try {
    await waitNoSubscriptions();
    reference.start('s', cartSubscription(cart));
    healthy.start('s', cartSubscription(cart));
    slow.start('s', cartSubscription(cart));
    for (let k = 1; k < slowSubs; k++) slow.start(`s${k}`, cartSubscription(cart));
    await waitSubscriptions(stack.healthPort('pusher'), 1, 'stack pusher');
    await waitSubscriptions(pusher.healthPort, 1 + slowSubs, 'extra pusher');
    assert.equal(await metric(pusher.healthPort, 'ramjet_pusher_slow_client_closes_total'), 0);

    // Changes of the prefill may still be on their way from the projector and reach one
    // subscriber but not another, registered a moment later: compare from a start marker.
    await mutate(cart, 'start', 1);
    for (const c of [reference, healthy, slow]) {
      await waitFor(() => dataOf(c, 's').some((d) => quantityOf(d, 'start') === 1), { timeoutMs: 60000, what: 'the start marker' });
    }

    slow.socket._socket.pause();
    const closes = () => metric(pusher.healthPort, 'ramjet_pusher_slow_client_closes_total');

    // Change the cart (4 in flight) until the pusher gives up on the slow client.
    let changes = 0;
    const load = Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; !stopLoad && changes < 5000; i++) {
          await mutate(cart, `product-${String((i * 4 + w) % products).padStart(4, '0')}-${pad}`, 1);
          changes++;
        }
      }),
    );
    try {
      await waitFor(async () => (await closes()) >= 1, { timeoutMs: 240000, intervalMs: 250, what: 'the slow client to be given up on' });
    } finally {
      stopLoad = true;
      await load;
    }
    assert.equal(await closes(), 1, 'only the slow client overflowed');

    // A marker change, then the healthy subscriber's sequence equals the reference's.
    await mutate(cart, 'marker', 1);
    for (const c of [reference, healthy]) {
      await waitFor(() => dataOf(c, 's').some((d) => quantityOf(d, 'marker') === 1), { timeoutMs: 60000, what: 'the marker change' });
    }
    const summary = (c) => {
      const all = dataOf(c, 's');
      return all.slice(all.findIndex((d) => quantityOf(d, 'start') === 1)).map((d) => JSON.stringify(d));
    };
    const want = summary(reference);
    const got = summary(healthy);
    // The projector folds changes to one row within a batch into one notification, so
    // there are fewer `data` than changes; many, though.
    assert.ok(want.length > slowSubs, `the reference got ${want.length} data for ${changes} changes`);
    const differ = got.findIndex((s, i) => s !== want[i]);
    assert.ok(
      got.length === want.length && differ === -1,
      `the healthy subscriber got ${got.length} data, the reference ${want.length}; first difference at ${differ}:\n` +
        `  healthy   ${got[differ]?.slice(0, 300)}\n  reference ${want[differ]?.slice(0, 300)}`,
    );
    assert.equal(healthy.closed, undefined, 'the healthy subscriber is still connected');

    // The pusher must not wait for the slow client to read again: its connection goes
    // while the client is still paused (only the healthy one stays on this pusher).
    await waitFor(async () => (await metric(pusher.healthPort, 'ramjet_pusher_connections')) === 1, {
      timeoutMs: 30000, intervalMs: 250, what: 'the slow client to be disconnected while paused',
    });
    // Reading again, it gets what its kernel buffered, then the end of the connection.
    const closed = once(slow.socket, 'close');
    slow.socket._socket.resume();
    const [code, reason] = await Promise.race([closed, sleep(60000).then(() => [null, 'no close within 60 s'])]);
    assert.ok(code === 1008 || code === 1006, `close code ${code} reason ${reason}`);
    if (code === 1008) assert.match(String(reason), /too slow/);
    const slowData = dataOf(slow, 's').length;
    assert.ok(slowData < want.length, `the slow client got ${slowData} of ${want.length} data before it was closed`);

    const st = await pusher.stop();
    assert.deepStrictEqual(st, { code: 0, signal: null }, `extra pusher exit ${JSON.stringify(st)}`);
  } finally {
    stopLoad = true;
    reference.close();
    healthy.close();
    slow.socket.terminate();
    await pusher.stop();
  }
});

itestStopsCleanly(() => stack);
