// On a real Apache Kafka broker: a command processor killed with SIGKILL under steady
// mutations is serving again well within the consumer session timeout, because the
// supervisor restarts it under the same group.instance.id (static membership) and the
// group coordinator hands its partitions straight back, with no rebalance. Without it
// every mutation waits for the 6 s session timeout plus a rebalance. No mutation is lost
// or applied twice on the way.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startKafka } from './lib/kafka.mjs';
import { CHANGE_CART_ITEM, itest, itestStopsCleanly, sleep, startStack, waitFor } from './lib/stack.mjs';

const SESSION_TIMEOUT_MS = 6000; // rj_kafka_consumer_new's session.timeout.ms

let kafka;
let stack;
before(async () => {
  kafka = await startKafka({ name: 'restart' });
  stack = await startStack({ name: 'kafka-restart', args: ['--kafka-brokers', kafka.bootstrap] });
});
after(async () => {
  await stack?.stop();
  await kafka?.stop();
});

itest('a killed command processor serves again without waiting for a rebalance', { timeout: 180000 }, async () => {
  const results = [];
  let stop = false;
  const worker = async (w) => {
    for (let i = 0; !stop; i++) {
      const productId = `w${w}-p${i}`;
      const t0 = Date.now();
      let ok = false;
      try {
        const r = await stack.gql(CHANGE_CART_ITEM, { cartId: `restart-${w}`, productId, quantity: 1 }, {}, { timeoutMs: 30000 });
        ok = r.json?.data?.ChangeCartItem === true;
      } catch {}
      results.push({ productId, t0, t1: Date.now(), ok });
      await sleep(10);
    }
  };
  const workers = [0, 1, 2, 3].map(worker);
  await waitFor(async () => results.filter((r) => r.ok).length >= 50, { timeoutMs: 60000, what: 'steady mutations' });

  const pid = await stack.pidOf('commands');
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  await stack.waitForRestart('commands', pid);
  // Keep the load on until mutations have flowed for a while after the restart.
  await waitFor(async () => results.filter((r) => r.ok && r.t0 > killedAt + 1000).length >= 50, {
    timeoutMs: 60000,
    what: 'mutations after the restart',
  });
  stop = true;
  await Promise.all(workers);

  // The longest a mutation waited after the kill (those in flight then included): the
  // restart-to-serving time.
  const stall = Math.max(...results.filter((r) => r.t1 >= killedAt).map((r) => r.t1 - Math.max(r.t0, killedAt)));
  const failed = results.filter((r) => !r.ok);
  process.stderr.write(`restart-to-serving: longest mutation after the kill took ${stall} ms; ${results.length} mutations, ${failed.length} failed\n`);
  assert.deepStrictEqual(failed, [], 'mutations failed across the restart');
  assert.ok(stall < SESSION_TIMEOUT_MS - 1500, `a mutation waited ${stall} ms: the restart waited for the session timeout`);

  // Exactly one event per acknowledged mutation.
  const expected = results.length;
  const rows = await waitFor(
    async () => {
      const r = await stack.sqlRows(
        "SELECT value->>'productId' AS p, count(*)::int AS n FROM shop.events WHERE entity_id LIKE 'restart-%' GROUP BY 1",
      );
      return r.length >= expected ? r : undefined;
    },
    { timeoutMs: 60000, what: `${expected} events in the store` },
  );
  assert.equal(rows.length, expected);
  assert.deepStrictEqual(rows.filter((r) => r.n !== 1), [], 'a mutation was applied twice');
});

itestStopsCleanly(() => stack);
