// An application's logger (ramjet.h: rj_app_logger, rj_app_log_prefix, rj_log_write) in
// the real daemons: the shop, started with SHOP_LOG_FILE, sends every line of every daemon
// that loads it to that file as JSON, prefixed "shop", instead of stderr.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, startStack, waitFor } from './lib/stack.mjs';

let stack;
let logFile;
before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ramjet-app-logger-'));
  await chmod(dir, 0o777); // the daemons may run as another user than the test
  logFile = path.join(dir, 'shop.log');
  stack = await startStack({ name: 'app-logger', env: { SHOP_LOG_FILE: logFile } });
});
after(async () => {
  await stack?.stop();
});

const lines = () =>
  readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

itest('every daemon that loads the app logs through its logger, as JSON lines with the app prefix', { timeout: 120000 }, async () => {
  const r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'logger-1', productId: 'p', quantity: 1 });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);

  const daemons = ['ramjet-gateway', 'ramjet-commands', 'ramjet-eventstore', 'ramjet-reducer', 'ramjet-projector', 'ramjet-pusher'];
  const got = await waitFor(
    () => {
      const all = lines();
      const seen = new Set(all.map((l) => l.prefix));
      return daemons.every((d) => seen.has(`shop:${d}`)) ? all : undefined;
    },
    { timeoutMs: 30000, what: `a line from each of ${daemons.join(', ')} in ${logFile}` },
  );
  for (const l of got) {
    assert.deepStrictEqual(Object.keys(l).sort(), ['level', 'message', 'module', 'prefix'], JSON.stringify(l));
    assert.ok(['debug', 'info', 'warn', 'error', 'fatal'].includes(l.level), JSON.stringify(l));
    assert.match(l.prefix, /^shop:ramjet-/);
  }
  // The loader's own line is among them: the logger is installed before the app is announced.
  assert.ok(
    got.some((l) => l.module === 'app' && /^loaded app shop /.test(l.message)),
    'the "loaded app" line went through the logger',
  );
  // Lines that went to the logger did not also go to stderr (which the supervisor collects).
  assert.doesNotMatch(readFileSync(path.join(stack.logDir, 'supervisor.log'), 'utf8'), /\[shop:ramjet-/);
});

itestStopsCleanly(() => stack);
