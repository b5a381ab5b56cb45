// Broker failover (issue 10, item 2): a three-node KRaft cluster on loopback, Ramjet's topics
// created with 3 replicas and min.insync.replicas 2, producers with acks=all. Under steady
// mutations from clients that retry with an Idempotency-Key (as a client of any payment or
// order API does), SIGKILL the node leading the most partitions of shop.commands and
// shop.events. No acknowledged mutation is lost or applied twice, mutations resume (the
// pause is measured and printed), the killed node comes back and rejoins every ISR, and
// each cart's read model is the fold of its events.
//
// The brokers run with broker.session.timeout.ms 3000 (Kafka's default is 9000): the
// controller fences a dead broker, moves its leaderships and shrinks the ISRs after that
// long, so the pause scales with it (docs/running.md, "Broker failover").
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { describeTopic, startKafka } from './lib/kafka.mjs';
import { CART_READ_MODEL, CHANGE_CART_ITEM, foldCart, itest, itestStopsCleanly, sleep, startStack, waitFor } from './lib/stack.mjs';

const SESSION_MS = 3000;
let kafka;
let stack;

before(async () => {
  kafka = await startKafka({
    name: 'failover',
    nodes: 3,
    config: { 'broker.session.timeout.ms': String(SESSION_MS), 'broker.heartbeat.interval.ms': '500' },
  });
  stack = await startStack({
    name: 'kafka-failover',
    args: ['--kafka-brokers', kafka.bootstrap],
    env: { RAMJET_TOPIC_REPLICATION_FACTOR: '3', RAMJET_TOPIC_MIN_INSYNC_REPLICAS: '2' },
  });
});

after(async () => {
  await stack?.stop();
  await kafka?.stop();
});

itest('killing the busiest broker loses and duplicates no acknowledged mutation; mutations resume; it rejoins', { timeout: 300000 }, async () => {
  for (const t of ['commands', 'events']) {
    const d = await describeTopic(kafka.bootstrap, `shop.${t}`);
    assert.equal(d.replicationFactor, 3, `shop.${t}: ${JSON.stringify(d)}`);
    assert.equal(d.configs['min.insync.replicas'], '2', `shop.${t}`);
  }

  // Four clients, one cart each, a new product per mutation; each retries a mutation with the
  // same Idempotency-Key until it is acknowledged.
  const acked = [];
  let stop = false;
  const client = async (w) => {
    for (let i = 0; !stop; i++) {
      const productId = `w${w}-p${i}`;
      const t0 = Date.now();
      for (let attempt = 0; ; attempt++) {
        let r;
        try {
          r = await stack.gql(CHANGE_CART_ITEM, { cartId: `failover-${w}`, productId, quantity: 1 }, { 'idempotency-key': productId }, { timeoutMs: 15000 });
        } catch {}
        if (r?.json?.data?.ChangeCartItem === true) break;
        if (Date.now() - t0 > 120000) throw new Error(`${productId} was never acknowledged: ${r?.text}`);
        await sleep(100);
      }
      acked.push({ w, productId, t0, t1: Date.now() });
      await sleep(20);
    }
  };
  const clients = [0, 1, 2, 3].map(client);
  await waitFor(async () => acked.length >= 60, { timeoutMs: 90000, what: 'steady mutations' });

  // The node leading the most partitions of the two topics every mutation crosses.
  const count = new Map();
  for (const t of ['commands', 'events']) {
    for (const p of (await describeTopic(kafka.bootstrap, `shop.${t}`)).leaders) count.set(p.leader, (count.get(p.leader) ?? 0) + 1);
  }
  const victimId = [...count.entries()].sort((a, b) => b[1] - a[1])[0][0];
  const victim = kafka.nodes.find((n) => n.id === victimId);
  const killedAt = Date.now();
  await victim.kill();

  await waitFor(async () => acked.filter((a) => a.t0 > killedAt).length >= 60, { timeoutMs: 120000, what: 'mutations after the kill' });
  // The pause: the longest any mutation in flight at or after the kill took, retries included.
  const pause = Math.max(...acked.filter((a) => a.t1 >= killedAt).map((a) => a.t1 - Math.max(a.t0, killedAt)));
  const firstAfter = Math.min(...acked.filter((a) => a.t0 > killedAt).map((a) => a.t1)) - killedAt;

  // Back on its data, the node catches up and rejoins every ISR.
  victim.start();
  const rejoinFrom = Date.now();
  await waitFor(
    async () => {
      for (const t of ['commands', 'events', 'snapshots', 'readmodels']) {
        const d = await describeTopic(kafka.bootstrap, `shop.${t}`);
        if (!d.leaders.every((p) => p.isr.includes(victimId))) return false;
      }
      return true;
    },
    { timeoutMs: 120000, intervalMs: 1000, what: `node ${victimId} back in every ISR` },
  );
  const rejoin = Date.now() - rejoinFrom;
  await waitFor(async () => acked.length >= 200, { timeoutMs: 120000, what: 'mutations with the node back' });
  stop = true;
  await Promise.all(clients);
  process.stderr.write(
    `broker failover: killed node ${victimId} leading ${count.get(victimId)} of 16 partitions; first new mutation acknowledged ${firstAfter} ms after the kill, ` +
      `longest mutation across it ${pause} ms; node back in every ISR ${rejoin} ms after its restart; ${acked.length} mutations\n`,
  );

  // Every acknowledged mutation is one event: none lost, none doubled by the retries.
  const carts = [0, 1, 2, 3].map((w) => `failover-${w}`);
  const rows = await waitFor(
    async () => {
      const r = await stack.sqlRows(
        `SELECT entity_id, version, value FROM shop.events WHERE entity_type = 'Cart' AND entity_id LIKE 'failover-%' ORDER BY entity_id, version`,
      );
      return r.length >= acked.length ? r : undefined;
    },
    { timeoutMs: 60000, what: 'every acknowledged mutation in the event store' },
  );
  const products = rows.map((r) => (typeof r.value === 'string' ? JSON.parse(r.value) : r.value).productId);
  assert.equal(new Set(products).size, products.length, 'no mutation applied twice');
  for (const a of acked) assert.ok(products.includes(a.productId), `acknowledged ${a.productId} is in the event store`);

  // Read models equal the fold of their events.
  for (const id of carts) {
    const events = rows.filter((r) => r.entity_id === id).map((r) => ({ value: typeof r.value === 'string' ? JSON.parse(r.value) : r.value }));
    const want = foldCart(events);
    await waitFor(async () => {
      const got = (await stack.gql(CART_READ_MODEL, { id })).json.data?.CartReadModel?.cartItems;
      return JSON.stringify(got) === JSON.stringify(want);
    }, { timeoutMs: 60000, what: `CartReadModel ${id} equal to the fold of its ${events.length} events` });
  }
});

itestStopsCleanly(() => stack);
