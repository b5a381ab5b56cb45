// Crash safety under load: while thousands of mutations are in flight, the
// command processor, the event-store writer, the reducer and the projector are
// each killed with SIGKILL once (the supervisor restarts them). Afterwards:
//
//   - every acknowledged mutation has exactly one event, no request id has two;
//   - per cart, versions run 1..n without gaps or repeats;
//   - every CartReadModel equals the fold of its cart's events (in the table and
//     through GraphQL), so no event was lost or applied twice downstream.
//
// Mutations that failed (timeouts while a daemon was down) may or may not have an
// event; they are never retried (a retry would be a new request). Each mutation
// uses its own productId, so its event can be found in the store.
//
// RAMJET_FAULT_MUTATIONS / RAMJET_FAULT_CARTS / RAMJET_FAULT_CONCURRENCY size the load.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { compareCarts as compare, groupByCart } from './lib/carts.mjs';
import { CART_READ_MODEL, CHANGE_CART_ITEM, MUTATION_OK, foldCart, itest, itestStopsCleanly, startStack, waitFor } from './lib/stack.mjs';

const N = Number(process.env.RAMJET_FAULT_MUTATIONS || 3000);
const CARTS = Number(process.env.RAMJET_FAULT_CARTS || 200);
const CONCURRENCY = Number(process.env.RAMJET_FAULT_CONCURRENCY || 32);
const VICTIMS = ['commands', 'eventstore', 'reducer', 'projector'];
const PREFIX = 'fault-';

let stack;
before(async () => {
  stack = await startStack({ name: 'fault' });
});
after(async () => {
  await stack?.stop();
});

const randomInt = (n) => Math.floor(Math.random() * n);

itest('no acknowledged mutation is lost or duplicated when daemons are killed mid-load', { timeout: 900000 }, async (t) => {
  const mutations = Array.from({ length: N }, (_, i) => ({
    cartId: `${PREFIX}c${randomInt(CARTS)}`,
    productId: `p${i}`,
    quantity: 1 + randomInt(5),
    acked: false,
    outcome: null,
  }));
  // Kill one victim at each of these points of the load, in this order.
  const killAt = VICTIMS.map((_, k) => Math.floor(((k + 1) * N) / (VICTIMS.length + 1)));
  const kills = [];

  let nextIndex = 0;
  let failedCount = 0;
  // A daemon in a crash loop makes every mutation wait for the gateway's timeout;
  // past this many failures the outcome is clear and the load stops.
  const maxFailures = Math.ceil(N / 4);
  const started = Date.now();
  const worker = async () => {
    for (;;) {
      const i = nextIndex++;
      if (i >= N || failedCount > maxFailures) return;
      const k = killAt.indexOf(i);
      if (k >= 0) {
        const pid = await stack.pidOf(VICTIMS[k]);
        assert.ok(pid, `no pid file for ${VICTIMS[k]}`);
        process.kill(pid, 'SIGKILL');
        kills.push({ daemon: VICTIMS[k], pid, atMutation: i });
        t.diagnostic(`killed ${VICTIMS[k]} pid ${pid} at mutation ${i}`);
      }
      const m = mutations[i];
      try {
        const r = await stack.gql(CHANGE_CART_ITEM, { cartId: m.cartId, productId: m.productId, quantity: m.quantity }, {}, { timeoutMs: 60000 });
        m.acked = r.status === 200 && JSON.stringify(r.json) === JSON.stringify(MUTATION_OK);
        m.outcome = m.acked ? 'ok' : `HTTP ${r.status} ${r.text.slice(0, 200)}`;
      } catch (e) {
        m.outcome = `${e.name}: ${e.message}`;
      }
      if (!m.acked) failedCount++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (Date.now() - started) / 1000;
  const issued = mutations.filter((m) => m.outcome !== null);
  const acked = issued.filter((m) => m.acked);
  const failures = {};
  for (const m of issued) if (!m.acked) failures[m.outcome] = (failures[m.outcome] || 0) + 1;
  t.diagnostic(`${issued.length} mutations in ${seconds.toFixed(1)} s: ${acked.length} acknowledged; failures: ${JSON.stringify(failures)}`);

  // No daemon may die except by our hand: a crash is a bug even when the data survives it.
  const killedPids = new Set(kills.map((k) => String(k.pid)));
  const deaths = [...stack.log('supervisor').matchAll(/\|dev: (\S+) pid=(\d+) (was killed by signal \d+ \([^)]*\)|exited with status \d+)/g)]
    .filter((d) => !killedPids.has(d[2]))
    .map((d) => `${d[1]} pid ${d[2]} ${d[3]}`);
  assert.deepStrictEqual(deaths, [], 'daemons that died without being killed (see their logs)');

  assert.ok(failedCount <= maxFailures, `stopped the load after ${failedCount} failed mutations: ${JSON.stringify(failures)}`);
  assert.equal(kills.length, VICTIMS.length, 'every victim was killed once');
  // Only the requests in flight while a daemon was down may fail; most must go through.
  assert.ok(acked.length >= N / 2, `only ${acked.length} of ${N} mutations were acknowledged: ${JSON.stringify(failures)}`);

  // The supervisor brought every victim back.
  for (const k of kills) await stack.waitForRestart(k.daemon, k.pid, { timeoutMs: 60000 });

  // Quiescence: the read models match the events, and the event count stopped moving.
  const byProduct = new Map(issued.map((m) => [m.productId, m]));
  let events;
  let models;
  let mismatch;
  let lastCount = -1;
  await waitFor(
    async () => {
      events = await stack.sqlRows(
        `SELECT entity_id, version, request_id, value FROM shop.events
          WHERE entity_type = 'Cart' AND entity_id LIKE '${PREFIX}%' ORDER BY entity_id, version`,
      );
      models = await stack.sqlRows(`SELECT id, value FROM shop.rm_cartreadmodel WHERE id LIKE '${PREFIX}%'`);
      const stable = events.length === lastCount;
      lastCount = events.length;
      mismatch = compare(events, models);
      return stable && mismatch === null ? true : undefined;
    },
    { timeoutMs: 240000, intervalMs: 2000, what: 'read models to match the events' },
  ).catch((e) => {
    throw new Error(`${e.message}; first mismatch: ${mismatch}`);
  });

  // One event per request, one version per event.
  const perRequest = new Map();
  for (const e of events) perRequest.set(e.request_id, (perRequest.get(e.request_id) || 0) + 1);
  const dupRequests = [...perRequest].filter(([, n]) => n > 1);
  assert.deepStrictEqual(dupRequests, [], 'request ids with more than one event');
  const carts = groupByCart(events);
  for (const [cart, list] of carts) {
    assert.deepStrictEqual(
      list.map((e) => e.version),
      Array.from({ length: list.length }, (_, i) => i + 1),
      `versions of ${cart}`,
    );
  }

  // Every event is one of ours, unchanged; every acknowledged mutation has exactly one.
  const eventsPerProduct = new Map();
  for (const e of events) {
    const m = byProduct.get(e.value.productId);
    assert.ok(m, `event for an unknown mutation: ${JSON.stringify(e)}`);
    assert.deepStrictEqual(e.value, { cartId: m.cartId, productId: m.productId, quantity: m.quantity }, 'event value');
    assert.equal(e.entity_id, m.cartId);
    eventsPerProduct.set(m.productId, (eventsPerProduct.get(m.productId) || 0) + 1);
  }
  const lost = acked.filter((m) => eventsPerProduct.get(m.productId) !== 1);
  assert.deepStrictEqual(lost.map((m) => `${m.cartId}/${m.productId}: ${eventsPerProduct.get(m.productId) || 0} events`), [], 'acknowledged mutations without exactly one event');
  const unackedStored = events.length - acked.length;
  t.diagnostic(`${events.length} events: ${acked.length} acknowledged + ${unackedStored} of ${issued.length - acked.length} unacknowledged`);
  // A mutation whose answer was lost in a kill may or may not have happened, but at most
  // once: no unacknowledged mutation may have two events either.
  const ackedIds = new Set(acked.map((m) => m.productId));
  const doubled = issued.filter((m) => !ackedIds.has(m.productId) && (eventsPerProduct.get(m.productId) || 0) > 1);
  assert.deepStrictEqual(doubled.map((m) => `${m.cartId}/${m.productId}: ${eventsPerProduct.get(m.productId)} events`), [], 'unacknowledged mutations applied twice');

  // The read models through GraphQL, too.
  const cartIds = [...carts.keys()];
  let next = 0;
  const readers = Array.from({ length: 16 }, async () => {
    for (;;) {
      const id = cartIds[next++];
      if (id === undefined) return;
      const r = await stack.gql(CART_READ_MODEL, { id });
      assert.equal(r.status, 200, r.text);
      assert.deepStrictEqual(r.json, { data: { CartReadModel: { id, cartItems: foldCart(carts.get(id)) } } }, `CartReadModel ${id}`);
    }
  });
  await Promise.all(readers);
});

itestStopsCleanly(() => stack);
