// Scaling workers on Apache Kafka (issue 10, item 3): under steady mutations, the reducer and
// the projector go from 1 to 2 to 4 replicas and back to 1, each change a real consumer-group
// rebalance on the real broker (members joining and leaving cleanly). Every acknowledged
// mutation is one event, and at the end every cart's read model is the fold of its events in
// version order: no loss, no effect applied twice, per-entity order kept across every
// hand-over. Acknowledged mutations per second in each phase are printed.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { CART_READ_MODEL, CHANGE_CART_ITEM, foldCart, itest, itestStopsCleanly, sleep, startExtraDaemon, startStack, stopExtraDaemons, waitFor } from './lib/stack.mjs';

const CARTS = 16;
const PHASE_MS = 6000;
let stack;

before(async () => {
  stack = await startStack({ name: 'kafka-scaling', kafka: 'real' });
});

after(async () => {
  await stopExtraDaemons();
  await stack?.stop();
});

itest('reducers and projectors scale 1 → 2 → 4 → 1 under load with nothing lost, doubled or reordered', { timeout: 400000 }, async () => {
  const acked = [];
  let stop = false;
  const client = async (w) => {
    for (let i = 0; !stop; i++) {
      const cartId = `scale-${(w * 7 + i) % CARTS}`;
      const productId = `w${w}-p${i % 5}`;
      const key = `scale-w${w}-${i}`;
      for (const t0 = Date.now(); ; ) {
        let r;
        try {
          r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId, quantity: 1 + (i % 3) }, { 'idempotency-key': key }, { timeoutMs: 15000 });
        } catch {}
        if (r?.json?.data?.ChangeCartItem === true) break;
        if (Date.now() - t0 > 60000) throw new Error(`mutation ${key} was never acknowledged: ${r?.text}`);
        await sleep(100);
      }
      acked.push({ key, at: Date.now() });
    }
  };
  const clients = [0, 1, 2, 3].map(client);

  const extras = { reducer: [], projector: [] };
  const phases = [];
  for (const replicas of [1, 2, 4, 2, 1]) {
    for (const daemon of ['reducer', 'projector']) {
      while (extras[daemon].length + 1 < replicas) extras[daemon].push(await startExtraDaemon(stack, daemon, {}, { waitReady: false }));
      while (extras[daemon].length + 1 > replicas) await extras[daemon].pop().stop();
    }
    const from = acked.length;
    const t0 = Date.now();
    await sleep(PHASE_MS);
    const rate = ((acked.length - from) * 1000) / (Date.now() - t0);
    phases.push({ replicas, rate: Math.round(rate) });
    for (const d of [...extras.reducer, ...extras.projector]) assert.equal(d.exitStatus, null, `${d.daemon} replica exited`);
  }
  stop = true;
  await Promise.all(clients);
  process.stderr.write(`scaling (replicas of reducer and projector → acknowledged mutations/s): ${phases.map((p) => `${p.replicas}: ${p.rate}/s`).join(', ')}; ${acked.length} mutations\n`);

  // Every acknowledged mutation is one event, once.
  const rows = await waitFor(
    async () => {
      const r = await stack.sqlRows(`SELECT entity_id, version, request_id, value FROM shop.events WHERE entity_type = 'Cart' AND entity_id LIKE 'scale-%' ORDER BY entity_id, version`);
      return r.length >= acked.length ? r : undefined;
    },
    { timeoutMs: 60000, what: 'every acknowledged mutation in the event store' },
  );
  assert.equal(rows.length, acked.length, `${rows.length} events for ${acked.length} acknowledged mutations`);
  assert.equal(new Set(rows.map((r) => r.request_id)).size, rows.length, 'no request registered twice');

  // Each cart's read model is the fold of its events in version order.
  for (let c = 0; c < CARTS; c++) {
    const id = `scale-${c}`;
    const want = foldCart(rows.filter((r) => r.entity_id === id));
    let got;
    await waitFor(async () => {
      got = (await stack.gql(CART_READ_MODEL, { id })).json.data?.CartReadModel?.cartItems;
      return JSON.stringify(got) === JSON.stringify(want);
    }, { timeoutMs: 60000, what: `CartReadModel ${id} equal to the fold of its events (got ${JSON.stringify(got)}, want ${JSON.stringify(want)})` });
  }
  // And its snapshot is at its last version.
  const behind = await stack.sqlRows(
    `SELECT h.entity_id, h.version, s.version AS snap FROM shop.entity_heads h LEFT JOIN shop.snapshots s USING (entity_type, entity_id)
      WHERE h.entity_type = 'Cart' AND h.entity_id LIKE 'scale-%' AND s.version IS DISTINCT FROM h.version`,
  );
  assert.deepStrictEqual(behind, [], 'every snapshot at its head version');
});

itestStopsCleanly(() => stack);
