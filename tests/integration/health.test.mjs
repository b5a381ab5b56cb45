// Every daemon answers its probes, and its /metrics passes `promtool check metrics`
// (Debian's prometheus package, which scripts/deps installs); the supervisor restarts a
// killed daemon and stops everything cleanly on SIGTERM (every child exits 0 when asked).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before } from 'node:test';
import { CHANGE_CART_ITEM, DAEMONS, MUTATION_OK, TEST_KAFKA, itest, startExtraDaemon, startStack, stopExtraDaemons, waitFor } from './lib/stack.mjs';

let stack;
before(async () => {
  stack = await startStack({ name: 'health' });
});
after(async () => {
  await stopExtraDaemons();
  await stack?.stop();
});

itest('every daemon answers /healthz, /readyz and /metrics with 200', async () => {
  for (const daemon of Object.keys(DAEMONS)) {
    for (const p of ['/healthz', '/readyz']) {
      const r = await stack.health(daemon, p);
      assert.equal(r.status, 200, `${daemon} ${p} answered ${r.status}: ${r.text}`);
    }
    const m = await stack.health(daemon, '/metrics');
    assert.equal(m.status, 200, `${daemon} /metrics answered ${m.status}`);
    assert.match(m.text, /^ramjet_up\b/m, `${daemon} /metrics lacks ramjet_up`);
  }
});

const promtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

itest('every daemon\'s /metrics passes promtool check metrics', { skip: !promtool && 'promtool not found: scripts/deps installs it (Debian package prometheus)' }, async () => {
  for (const daemon of Object.keys(DAEMONS)) {
    const m = await stack.health(daemon, '/metrics');
    assert.equal(m.status, 200, `${daemon} /metrics answered ${m.status}`);
    // Lint problems (a counter without _total, a metric without HELP) fail it too.
    const r = spawnSync('promtool', ['check', 'metrics'], { input: m.text, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 0, `${daemon}: promtool check metrics:\n${r.stdout}${r.stderr}`);
  }
});

itest('a daemon killed with SIGKILL is restarted and serves again', { timeout: 120000 }, async () => {
  const old = await stack.pidOf('gateway');
  assert.ok(old, 'no pid file for the gateway');
  process.kill(old, 'SIGKILL');
  const pid = await stack.waitForRestart('gateway', old);
  assert.notEqual(pid, old);
  const r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'health-c1', productId: 'p1', quantity: 1 });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
});

itest('every consumer exports its lag per partition, and it drains to 0', { timeout: 120000 }, async () => {
  const r = await stack.gql(CHANGE_CART_ITEM, { cartId: `lag-${Date.now()}`, productId: 'p', quantity: 1 });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  const topics = { commands: 'commands', eventstore: 'events', reducer: 'events', projector: 'snapshots' };
  for (const [daemon, topic] of Object.entries(topics)) {
    const series = new RegExp(`^ramjet_consumer_lag\\{group="shop\\.ramjet-${daemon}",topic="shop\\.${topic}",partition="\\d+"\\} (\\d+)$`, 'gm');
    let values = [];
    await waitFor(async () => {
      values = [...(await stack.health(daemon, '/metrics')).text.matchAll(series)].map((m) => Number(m[1]));
      return values.length > 0 && values.every((v) => v === 0);
    }, { timeoutMs: 30000, intervalMs: 250, what: `${daemon}'s ramjet_consumer_lag on shop.${topic} at 0 (now ${values})` });
  }
});

itest('a daemon whose loop is held answers /healthz 503 until it turns again', { timeout: 180000 }, async () => {
  // Issue 15: /healthz answered 200 from its own thread while the loop was wedged, so an
  // orchestrator never restarted it. Here an event-store writer's INSERT waits on a lock
  // held by another session (nothing times it out); with a 3 s liveness bound its
  // /healthz must turn 503, and back to 200 once the lock goes.
  const extra = await startExtraDaemon(stack, 'eventstore', { RAMJET_LIVENESS_TIMEOUT_MS: '3000' });
  const healthz = async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${extra.healthPort}/healthz`, { signal: AbortSignal.timeout(5000) });
      return { status: r.status, text: await r.text() };
    } catch (e) {
      return { status: 0, text: String(e) };
    }
  };
  try {
    await waitFor(() => extra.ready(), { timeoutMs: 60000, what: 'the second event-store writer to hold partitions' });
    const held = stack.sql('BEGIN; LOCK TABLE shop.events IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(15); COMMIT;');
    // Events for many carts, so some reach the partitions of the second writer.
    for (let i = 0; i < 16; i++) {
      const r = await stack.gql(CHANGE_CART_ITEM, { cartId: `held-${i}-${Date.now()}`, productId: 'p', quantity: 1 });
      assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
    }
    let h;
    await waitFor(async () => (h = await healthz()).status === 503, { timeoutMs: 12000, intervalMs: 250, what: `/healthz 503 while the lock is held (last: ${JSON.stringify(h)})` });
    assert.match(h.text, /^stalled: the loop has not turned for \d+ ms/);
    await held;
    await waitFor(async () => (h = await healthz()).status === 200, { timeoutMs: 30000, intervalMs: 250, what: `/healthz 200 once the lock is gone (last: ${JSON.stringify(h)})` });
    assert.equal(extra.exitStatus, null, 'the writer kept running: a held loop is for the orchestrator to judge');
  } finally {
    await extra.stop();
  }
});

itest('SIGTERM stops every child in order and cleanly', { timeout: 180000 }, async () => {
  const st = await stack.stop();
  const log = stack.supervisorLog;
  assert.deepStrictEqual(st, { code: 0, signal: null }, `supervisor exit ${JSON.stringify(st)}; log:\n${log.slice(-4000)}`);
  const order = [];
  for (const m of log.matchAll(/\|dev: (\S+) stopped pid=/g)) order.push(m[1]);
  // Reverse start order: the gateway first, PostgreSQL last.
  const broker = { real: 'kafka', mock: 'devbroker' }[TEST_KAFKA];
  assert.deepStrictEqual(order, ['gateway', 'pusher', 'commands', 'projector', 'reducer', 'eventstore', broker, 'redis', 'postgres']);
  assert.match(log, /everything stopped cleanly/);
});
