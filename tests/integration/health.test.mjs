// Every daemon answers its probes, and its /metrics passes `promtool check metrics`
// (Debian's prometheus package, which scripts/deps installs); the supervisor restarts a
// killed daemon and stops everything cleanly on SIGTERM (every child exits 0 when asked).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before } from 'node:test';
import { CHANGE_CART_ITEM, DAEMONS, MUTATION_OK, TEST_KAFKA, itest, startStack } from './lib/stack.mjs';

let stack;
before(async () => {
  stack = await startStack({ name: 'health' });
});
after(async () => {
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
