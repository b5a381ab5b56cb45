// Exactly once on <app>.events for read_committed consumers, on a real Apache Kafka broker.
//
// The stack runs without its own command processor; this file runs it (startExtraDaemon),
// with the test-only pause RAMJET_TEST_TXN_PAUSE_FILE: while the file exists, every Kafka
// transaction waits between its last produce (already on the broker) and its commit.
//
//   1. Under steady mutations from several clients (each retried under its Idempotency-Key
//      until acknowledged), the processor is SIGKILLed repeatedly right after it logged that
//      a transaction is open, and started again. Then the distribution's console consumer
//      reads shop.events: read_committed, every acknowledged mutation's event exactly once
//      (by eventId) and no event twice; read_uncommitted, copies of aborted transactions,
//      so the kills did land mid-transaction. The event store, versions and read models are
//      exact as well.
//   2. Zombie fencing: the processor (A) pauses mid-transaction, a second one (B) starts
//      with the same transactional.id (both take the default, the group and the host name);
//      A's commit is fenced, A exits non-zero saying so, B carries on, and the topic still
//      holds no duplicate for read_committed readers.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { compareCarts, groupByCart } from './lib/carts.mjs';
import { consoleConsume } from './lib/kafka.mjs';
import { CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, sleep, startExtraDaemon, startStack, stopExtraDaemons, waitFor } from './lib/stack.mjs';

const CLIENTS = 6;
const CARTS = 20;
const KILLS = Number(process.env.RAMJET_TXN_KILLS || 5);
const PREFIX = 'txn-';
const PAUSED = /test pause: transaction open/g;

let stack;
let pauseFile;
before(async () => {
  stack = await startStack({
    name: 'kafka-txn',
    kafka: 'real',
    args: ['--daemons', 'gateway,eventstore,reducer,projector,pusher'],
    env: { RAMJET_REQUEST_TIMEOUT_MS: '3000' },
  });
  pauseFile = path.join(stack.dataDir, 'txn-pause');
});
after(async () => {
  await stopExtraDaemons();
  await stack?.stop();
});

/** A command processor of this stack; RAMJET_TEST_TXN_PAUSE_FILE set, static membership id @p member. */
async function processor(member, env = {}) {
  const d = await startExtraDaemon(stack, 'commands', {
    RAMJET_TEST_TXN_PAUSE_FILE: pauseFile,
    RAMJET_GROUP_INSTANCE_ID: member,
    ...env,
  });
  d.logText = () => readFileSync(path.join(stack.logDir, `commands-extra-${d.healthPort}.log`), 'utf8');
  return d;
}

/** Resolves once @p d has logged a new open-transaction pause (more than @p seen of them). */
async function pausedMidTransaction(d, seen, timeoutMs = 30000) {
  return waitFor(() => ((d.logText().match(PAUSED) || []).length > seen ? true : undefined), {
    timeoutMs,
    intervalMs: 20,
    what: 'the processor to pause in an open transaction',
  });
}

/** One mutation, sent again under the same Idempotency-Key until acknowledged (or the deadline). */
async function mutate(m, deadline) {
  while (Date.now() < deadline) {
    m.attempts++;
    try {
      const r = await stack.gql(CHANGE_CART_ITEM, { cartId: m.cartId, productId: m.productId, quantity: m.quantity }, { 'idempotency-key': m.productId }, { timeoutMs: 10000 });
      if (r.status === 200 && JSON.stringify(r.json) === JSON.stringify(MUTATION_OK)) return (m.acked = true);
    } catch {}
    await sleep(200);
  }
  return false;
}

/** shop.events as the console consumer reads it, our carts only: [{ eventId, productId, ... }]. */
async function topicEvents(isolation) {
  const records = await consoleConsume(stack.urls.kafka, 'shop.events', { isolation, idleMs: 8000 });
  return records
    .map((r) => JSON.parse(r.value))
    .filter((e) => e.entity === 'Cart' && e.entityId.startsWith(PREFIX))
    .map((e) => ({ eventId: e.eventId, productId: e.value.productId, cartId: e.entityId, version: e.version }));
}

const countBy = (list, key) => {
  const m = new Map();
  for (const x of list) m.set(x[key], (m.get(x[key]) || 0) + 1);
  return m;
};

const mutations = [];
let proc; // the processor the tests share ('txn-a')

itest('read_committed sees every acknowledged mutation once while the processor is killed mid-transaction', { timeout: 900000 }, async (t) => {
  proc = await processor('txn-a');
  let stop = false;
  let n = 0;
  const deadline = Date.now() + 600000;
  const client = async () => {
    while (!stop) {
      const m = { cartId: `${PREFIX}c${n % CARTS}`, productId: `p${n}`, quantity: 1 + (n % 5), attempts: 0, acked: false };
      n++;
      mutations.push(m);
      await mutate(m, deadline);
    }
  };
  const clients = Array.from({ length: CLIENTS }, client);

  // The kills: each lands right after the processor said a transaction is open (its events on
  // the broker, its commit 400 ms away).
  writeFileSync(pauseFile, '400');
  for (let k = 0; k < KILLS; k++) {
    await sleep(1500);
    await pausedMidTransaction(proc, (proc.logText().match(PAUSED) || []).length);
    await proc.kill();
    t.diagnostic(`kill ${k + 1}: SIGKILL pid ${proc.pid} mid-transaction after ${mutations.length} mutations`);
    proc = await processor('txn-a');
  }
  rmSync(pauseFile);
  await sleep(3000);
  stop = true;
  await Promise.all(clients);
  const acked = mutations.filter((m) => m.acked);
  t.diagnostic(`${mutations.length} mutations, ${acked.length} acknowledged, ${mutations.reduce((a, m) => a + m.attempts, 0)} attempts`);
  assert.equal(acked.length, mutations.length, 'every mutation is acknowledged in the end (retried under its key)');

  // Recovery after the kills found committed rows it did not have to produce, or aborted ones it did.
  const recoveries = [...proc.logText().matchAll(/recovering committed but unmarked outbox rows: rows=(\d+) produce_again=(\d+)/g)];
  t.diagnostic(`recoveries: ${recoveries.map((r) => `${r[1]}/${r[2]}`).join(' ')}`);
  assert.ok(recoveries.some((r) => Number(r[2]) > 0), 'a recovery produced rows of an aborted transaction again');

  const committed = await topicEvents('read_committed');
  const dupIds = [...countBy(committed, 'eventId')].filter(([, c]) => c > 1);
  assert.deepStrictEqual(dupIds, [], 'eventIds read twice with read_committed');
  const perProduct = countBy(committed, 'productId');
  const wrong = acked.filter((m) => perProduct.get(m.productId) !== 1).map((m) => `${m.productId}: ${perProduct.get(m.productId) || 0}`);
  assert.deepStrictEqual(wrong, [], 'acknowledged mutations without exactly one event on the topic');
  assert.equal(committed.length, acked.length, 'no event of an unknown mutation');

  const uncommitted = await topicEvents('read_uncommitted');
  const aborted = [...countBy(uncommitted, 'eventId')].filter(([, c]) => c > 1).length;
  t.diagnostic(`read_committed: ${committed.length} events; read_uncommitted: ${uncommitted.length} records, ${aborted} eventIds with aborted copies`);
  assert.ok(aborted > 0, 'read_uncommitted shows copies from aborted transactions (the kills landed mid-transaction)');

  // Downstream: the event store holds each once, versions 1..n, read models are the folds.
  let events;
  let mismatch;
  await waitFor(
    async () => {
      events = await stack.sqlRows(`SELECT entity_id, version, request_id, value FROM shop.events WHERE entity_type = 'Cart' AND entity_id LIKE '${PREFIX}%' ORDER BY entity_id, version`);
      const models = await stack.sqlRows(`SELECT id, value FROM shop.rm_cartreadmodel WHERE id LIKE '${PREFIX}%'`);
      mismatch = compareCarts(events, models);
      return events.length === acked.length && mismatch === null ? true : undefined;
    },
    { timeoutMs: 120000, intervalMs: 1000, what: 'the event store and read models to match' },
  ).catch((e) => {
    throw new Error(`${e.message}; ${events?.length} events, first mismatch: ${mismatch}`);
  });
  for (const [cart, list] of groupByCart(events)) {
    assert.deepStrictEqual(list.map((e) => e.version), Array.from({ length: list.length }, (_, i) => i + 1), `versions of ${cart}`);
  }
  // Transaction markers and aborted records take offsets; they are not lost messages.
  for (const daemon of ['eventstore', 'reducer']) assert.doesNotMatch(stack.log(daemon), /offset gap/, `${daemon} reports no offset gap`);
});

itest('a second processor with the same transactional.id fences the first, which exits', { timeout: 300000 }, async (t) => {
  const a = proc ?? (await processor('txn-a'));
  const seen = (a.logText().match(PAUSED) || []).length;
  writeFileSync(pauseFile, '10000');
  const m = { cartId: `${PREFIX}zombie`, productId: 'pz', quantity: 3, attempts: 0, acked: false };
  mutations.push(m);
  const pending = mutate(m, Date.now() + 120000);
  await pausedMidTransaction(a, seen);

  // B: same default transactional.id, its own group member id, no pause.
  const b = await processor('txn-b', { RAMJET_TEST_TXN_PAUSE_FILE: '' });
  const st = await waitFor(() => a.exitStatus ?? undefined, { timeoutMs: 60000, what: 'the fenced processor to exit' });
  t.diagnostic(`A exited ${JSON.stringify(st)}`);
  assert.deepStrictEqual(st, { code: 1, signal: null }, 'the fenced processor exits with status 1, not a crash');
  assert.match(a.logText(), /FATAL .*this instance was fenced, a newer one with the same transactional.id took over/);
  assert.match(b.logText(), /transactional producer ready transactional.id=shop\.ramjet-commands@/);
  rmSync(pauseFile);

  assert.ok(await pending, 'the mutation is acknowledged (by B)');
  const after = { cartId: `${PREFIX}zombie`, productId: 'pz2', quantity: 1, attempts: 0, acked: false };
  mutations.push(after);
  assert.ok(await mutate(after, Date.now() + 60000), 'B carries on');
  assert.ok(await b.ready(), 'B is ready');

  const committed = await topicEvents('read_committed');
  const dupIds = [...countBy(committed, 'eventId')].filter(([, c]) => c > 1);
  assert.deepStrictEqual(dupIds, [], 'eventIds read twice with read_committed');
  const perProduct = countBy(committed, 'productId');
  assert.equal(perProduct.get('pz'), 1, 'the zombie batch is on the topic once');
  assert.equal(perProduct.get('pz2'), 1);
  assert.equal(committed.length, mutations.filter((x) => x.acked).length, 'every acknowledged mutation once, nothing else');
  assert.deepStrictEqual(await b.stop(), { code: 0, signal: null }, 'B drains and exits cleanly');
});

itestStopsCleanly(() => stack);
