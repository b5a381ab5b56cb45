// tests/bench/subscribers.mjs - many WebSocket subscribers: push latency and memory per connection.
//
// Starts `ramjet dev` (tests/integration/lib/stack.mjs; RAMJET_BUILD_DIR selects the
// build), then:
//
//   1. opens --subscribers graphql-ws connections to the pusher, one CartReadModel
//      subscription each, spread over --carts carts (subscriber i watches cart
//      i % carts, so every cart is shared by subscribers/carts clients);
//   2. sends --mutations ChangeCartItem, one every 1000/--rate ms (each on the next
//      cart, a new product each time) and measures, for every subscriber of the
//      changed cart, the time from the mutation's HTTP response to that subscriber's
//      `data` showing the change (and from the request, for reference);
//   3. reads the pusher's VmRSS (/proc/<pid>/status) before the connections, after
//      them, and after the mutations: the difference over the connections is the
//      resident memory per connection with one subscription.
//
// Prints its figures and exits 0 whatever they are; it fails only when the stack does
// not start, the subscribers cannot connect, or a tenth of the deliveries are missing.
//
//   node tests/bench/subscribers.mjs [--subscribers 1000] [--carts 100] [--mutations 200] [--rate 20]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { CHANGE_CART_ITEM, MUTATION_OK, sleep, startStack, waitFor } from '../integration/lib/stack.mjs';

function options(argv) {
  const o = { subscribers: 1000, carts: 100, mutations: 200, rate: 20 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in o) || i + 1 >= argv.length || !/^\d+$/.test(argv[i + 1]) || Number(argv[i + 1]) <= 0) {
      console.error(`usage: subscribers.mjs [--subscribers N] [--carts N] [--mutations N] [--rate N/s] (bad: ${argv[i]})`);
      process.exit(2);
    }
    o[key] = Number(argv[++i]);
  }
  o.carts = Math.min(o.carts, o.subscribers);
  return o;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function latencyLine(label, values) {
  const s = Float64Array.from(values).sort();
  const f = (x) => x.toFixed(1);
  return `${label.padEnd(26)} ${String(s.length).padStart(8)} deliveries   ms p50 ${f(percentile(s, 50))} p90 ${f(percentile(s, 90))} p99 ${f(percentile(s, 99))} max ${f(s[s.length - 1] ?? NaN)}`;
}

function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpu;
  } catch {}
  return `${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${os.release()}, Node ${process.version}`;
}

/** The soft open-files limit of this process (inherited by the stack). */
function openFilesLimit() {
  const m = readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+|unlimited)/m);
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** VmRSS of pid in KiB. */
function rssKiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

// The `ws` package the integration tests install (scripts/deps).
const WebSocket = createRequire(new URL('../integration/package.json', import.meta.url))('ws');

const o = options(process.argv.slice(2));
const limit = openFilesLimit();
if (limit < o.subscribers + 512) {
  console.error(
    `the open-files limit is ${limit}: ${o.subscribers} subscribers need at least ${o.subscribers + 512} ` +
      `(raise it with ulimit -n; scripts/bench does up to the hard limit)`,
  );
  process.exit(2);
}
console.log(`machine: ${machine()}`);
console.log(`build:   ${process.env.RAMJET_BUILD_DIR || 'build'}`);
console.log(
  `load:    ${o.subscribers} subscribers over ${o.carts} carts (${(o.subscribers / o.carts).toFixed(1)} per cart), ` +
    `${o.mutations} mutations at ${o.rate}/s`,
);

const stack = await startStack({
  name: 'bench-subs',
  env: {
    RAMJET_LOG_LEVEL: process.env.RAMJET_LOG_LEVEL || 'warn',
    // The pusher's default is 10000 connections; leave room for every subscriber.
    RAMJET_MAX_CONNECTIONS: String(o.subscribers + 100),
  },
});

let exitCode = 0;
const sockets = [];
try {
  const pusherPid = await stack.pidOf('pusher');
  const gauge = async (name) => {
    const text = (await stack.health('pusher', '/metrics')).text;
    const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm'));
    return m ? Number(m[1]) : NaN;
  };

  // Warm-up: the write path and the pusher's first render.
  for (let i = 0; i < 20; i++) {
    const r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'bench-warmup', productId: 'p', quantity: 1 });
    if (JSON.stringify(r.json) !== JSON.stringify(MUTATION_OK)) throw new Error(`warm-up mutation answered ${r.text}`);
  }
  await sleep(1000);
  const rssBefore = rssKiB(pusherPid);

  // 1. Connect and subscribe, 200 handshakes in flight at a time.
  const pending = new Map(); // productId -> {cart, sentAt, answeredAt}
  const fromResponse = [];
  const fromRequest = [];
  let received = 0;
  let early = 0; // data that arrived before the mutation's HTTP response
  const byCart = new Map(); // cartId -> [subscriber]
  const connectStarted = performance.now();
  let nextSub = 0;
  await Promise.all(
    Array.from({ length: Math.min(200, o.subscribers) }, async () => {
      for (let i = nextSub++; i < o.subscribers; i = nextSub++) {
        const cartId = `bench-s${i % o.carts}`;
        const sub = { seen: new Set(), pendingData: [] };
        const socket = new WebSocket(stack.urls.websocket, 'graphql-ws', { perMessageDeflate: false });
        sockets.push(socket);
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`subscriber ${i}: no connection_ack within 60 s`)), 60000);
          socket.once('error', (e) => {
            clearTimeout(timer);
            reject(new Error(`subscriber ${i}: ${e.message}`));
          });
          socket.once('close', (code) => {
            clearTimeout(timer);
            reject(new Error(`subscriber ${i}: closed with ${code} before connection_ack`));
          });
          socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
          socket.on('message', (raw) => {
            const at = performance.now();
            const msg = JSON.parse(raw.toString());
            if (msg.type === 'connection_ack') {
              clearTimeout(timer);
              socket.send(
                JSON.stringify({
                  id: '1',
                  type: 'start',
                  payload: { query: `subscription { CartReadModel(id: "${cartId}") { id cartItems { productId quantity } } }` },
                }),
              );
              resolve();
            } else if (msg.type === 'data') {
              received++;
              // Every product in the row not seen before is a change this subscriber now has.
              for (const item of msg.payload?.data?.CartReadModel?.cartItems ?? []) {
                if (sub.seen.has(item.productId)) continue;
                sub.seen.add(item.productId);
                const p = pending.get(item.productId);
                if (p === undefined) continue;
                if (p.answeredAt === undefined) {
                  early++;
                  sub.pendingData.push({ p, at }); // resolved when the response arrives
                } else {
                  fromResponse.push(at - p.answeredAt);
                  fromRequest.push(at - p.sentAt);
                }
              }
            } else if (msg.type === 'error' || msg.type === 'connection_error') {
              console.error(`subscriber ${i}: ${raw}`);
            }
          });
        });
        if (!byCart.has(cartId)) byCart.set(cartId, []);
        byCart.get(cartId).push(sub);
      }
    }),
  );
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  await waitFor(async () => (await gauge('ramjet_pusher_subscriptions')) >= o.subscribers, {
    timeoutMs: 120000,
    what: `the pusher to hold ${o.subscribers} subscriptions`,
  });
  await sleep(1000);
  const rssConnected = rssKiB(pusherPid);
  console.log(
    `connect   ${o.subscribers} subscribed in ${connectSeconds.toFixed(1)} s ` +
      `(${(o.subscribers / connectSeconds).toFixed(0)}/s), pusher connections ${await gauge('ramjet_pusher_connections')}`,
  );

  // 2. The mutation stream: one every 1000/rate ms, on cart j % carts, product m<j>.
  const interval = 1000 / o.rate;
  const started = performance.now();
  let failed = 0;
  let expected = 0;
  const inflight = [];
  for (let j = 0; j < o.mutations; j++) {
    const due = started + j * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const cartId = `bench-s${j % o.carts}`;
    const productId = `m${j}`;
    const p = { cart: cartId, sentAt: performance.now(), answeredAt: undefined };
    pending.set(productId, p);
    expected += byCart.get(cartId)?.length ?? 0;
    inflight.push(
      stack
        .gql(CHANGE_CART_ITEM, { cartId, productId, quantity: 1 })
        .then((r) => {
          p.answeredAt = performance.now();
          if (JSON.stringify(r.json) !== JSON.stringify(MUTATION_OK)) {
            failed++;
            console.error(`mutation ${j} answered ${r.text}`);
          }
          for (const sub of byCart.get(cartId) ?? []) {
            sub.pendingData = sub.pendingData.filter(({ p: q, at }) => {
              if (q !== p) return true;
              fromResponse.push(at - p.answeredAt);
              fromRequest.push(at - p.sentAt);
              return false;
            });
          }
        })
        .catch((e) => {
          failed++;
          console.error(`mutation ${j}: ${e.message}`);
        }),
    );
  }
  await Promise.all(inflight);
  const sendSeconds = (performance.now() - started) / 1000;
  await waitFor(() => fromResponse.length >= expected, { timeoutMs: 30000, intervalMs: 100 }).catch(() => {});
  const rssAfter = rssKiB(pusherPid);

  console.log(`mutations ${o.mutations - failed} ok, ${failed} failed in ${sendSeconds.toFixed(1)} s; ${expected} deliveries expected, ${fromResponse.length} measured, ${received} data frames`);
  console.log(latencyLine('push after HTTP response', fromResponse));
  console.log(latencyLine('push after HTTP request', fromRequest));
  if (early > 0) console.log(`          ${early} deliveries arrived before their mutation's HTTP response (negative latencies above)`);
  const perConn = ((rssConnected - rssBefore) * 1024) / o.subscribers;
  console.log(
    `memory    pusher VmRSS ${(rssBefore / 1024).toFixed(1)} MiB idle, ${(rssConnected / 1024).toFixed(1)} MiB with ${o.subscribers} subscribers ` +
      `(${(perConn / 1024).toFixed(1)} KiB per connection), ${(rssAfter / 1024).toFixed(1)} MiB after the mutations`,
  );
  if (failed > o.mutations / 10) throw new Error(`${failed} of ${o.mutations} mutations failed`);
  if (fromResponse.length < expected * 0.9) throw new Error(`only ${fromResponse.length} of ${expected} deliveries arrived within 30 s of the last mutation`);
} catch (e) {
  console.error(`bench failed: ${e.message}`);
  stack.failed = true;
  exitCode = 1;
} finally {
  for (const s of sockets) s.terminate();
  await stack.stop();
}
process.exit(exitCode);
