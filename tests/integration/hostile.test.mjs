// The hostile run: for a bounded time, attackers send generated hostile requests over
// HTTP and WebSocket to the whole stack — malformed and oversized bodies, poison numbers
// and ids, documents built to be expensive (wide, deep, aliased, huge filter lists,
// fragment cycles), forged tokens, WebSocket frames out of protocol, subscribers that stop
// reading, connections dropped half way — while a canary does what a normal client does:
// a mutation, then the query of the read model it changed, and a subscription on it.
//
// It checks that normal traffic is still answered within a bound the whole time, that no
// daemon was restarted (a crash is a restart under the supervisor), and that every
// daemon's memory stays bounded and comes back down once the attackers stop.
//
// RAMJET_HOSTILE_SECONDS sets the attack time (default 40); RAMJET_HOSTILE_SEED replays a
// run (the seed is printed).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, before } from 'node:test';
import WebSocket from 'ws';
import { CART_READ_MODEL, CHANGE_CART_ITEM, DAEMONS, SANITIZED, itest, itestStopsCleanly, sleep, startStack } from './lib/stack.mjs';

const SECONDS = Number(process.env.RAMJET_HOSTILE_SECONDS || 40);
const SEED = Number(process.env.RAMJET_HOSTILE_SEED || Date.now() % 2 ** 31);
const ATTACKERS = 6;
// A normal request must be answered within this, attack or not. Generous: the run shares
// two cores with the attackers and nine processes; ASan makes every daemon several
// times slower.
const CANARY_BOUND_MS = SANITIZED ? 24000 : 8000;
const VICTIMS = Object.keys(DAEMONS);

let stack;
before(async () => {
  stack = await startStack({ name: 'hostile' });
});
after(async () => {
  await stack?.stop();
});

/* mulberry32: small, seedable, good enough to pick attacks. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function pids() {
  const out = {};
  for (const d of VICTIMS) out[d] = await stack.pidOf(d);
  return out;
}

/** A raw HTTP POST that tolerates any outcome (the attacker does not care). */
function rawPost(body, headers = {}) {
  return new Promise((resolve) => {
    const url = new URL(stack.urls.graphql);
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
        res.on('error', () => resolve(0));
      },
    );
    req.setTimeout(20000, () => req.destroy());
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

const hasProduct = (cart, q) => Array.isArray(cart?.cartItems) && cart.cartItems.some((i) => i.productId === `p${q}`);
const rep = (s, n) => Array.from({ length: n }, (_, i) => s.replaceAll('$i', String(i))).join(' ');

/* The attacks: each builds one hostile request from the PRNG and sends it. */
function attacks(rnd) {
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const ws = stack.urls.websocket;
  const poisonNumbers = ['1e308', '-1.7976931348623157e308', '5e-324', '-0', '9007199254740993', '1e309', '-1e400', '0.1', '123456789012345678901234567890'];
  const oddStrings = ['x'.repeat(3000), 'é'.repeat(2000), '\u{10FFFF}'.repeat(500), '🛒'.repeat(1000), '\\ud800', 'a\\u0000b', '"; DROP TABLE shop.events; --'];
  return [
    // Malformed and oversized bodies.
    () => rawPost('{"query": "{ ' + '['.repeat(1 + Math.floor(rnd() * 100000))),
    () => rawPost(Buffer.from(Array.from({ length: 4096 }, () => Math.floor(rnd() * 256)))),
    () => rawPost('{"query":"{ __typename }","variables":' + '['.repeat(50000) + ']'.repeat(50000) + '}'),
    () => rawPost('x'.repeat(7 * 1024 * 1024)),
    // Poison values and ids through the whole pipeline.
    () =>
      rawPost(JSON.stringify({
        query: `mutation { ChangeCartItem(input: {cartId: "hostile-${Math.floor(rnd() * 20)}", productId: "p", quantity: ${pick(poisonNumbers)}}) }`,
      })),
    () => rawPost(JSON.stringify({ query: CHANGE_CART_ITEM, variables: { cartId: pick(oddStrings), productId: pick(oddStrings), quantity: 1 } })),
    () => rawPost(`{"query":${JSON.stringify(CHANGE_CART_ITEM)},"variables":{"cartId":"hostile-s","productId":"${pick(oddStrings)}","quantity":1e308}}`),
    // Expensive documents.
    () => rawPost(JSON.stringify({ query: `{ ${rep('__typename', 1000 + Math.floor(rnd() * 4000))} }` })),
    () => rawPost(JSON.stringify({ query: `{ ${rep('a$i: ListCartReadModels(limit: 1000) { items { id cartItems { productId } } }', 500 + Math.floor(rnd() * 1500))} }` })),
    () =>
      rawPost(JSON.stringify({
        query: 'query ($v: [ID]) { ListCartReadModels(filter: {id: {in: $v}}) { items { id } } }',
        variables: { v: Array.from({ length: 70000 + Math.floor(rnd() * 100000) }, (_, i) => `id${i}`) },
      })),
    () => rawPost(JSON.stringify({ query: `{ ${'CartReadModel(id: "x") { cartItems { '.repeat(200)}productId${' } }'.repeat(200)} }` })),
    () => rawPost(JSON.stringify({ query: 'query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }' })),
    () => rawPost(JSON.stringify({ query: `{ ListCartReadModels(limit: ${pick(['1e9', '-1', '2147483648', '0'])}) { items { id } } }` })),
    () => rawPost(JSON.stringify({ query: `{ ListCartReadModels(filter: {id: {regex: "${'(a+)+'.repeat(20)}$"}}) { items { id } } }` })),
    // Forged tokens.
    () => rawPost(JSON.stringify({ query: '{ __typename }' }), { authorization: `Bearer ${pick(['x', 'a.b.c', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'Bearer '.repeat(1000)])}` }),
    // A connection that sends half a request and leaves.
    () =>
      new Promise((resolve) => {
        const url = new URL(stack.urls.graphql);
        const s = net.connect({ host: url.hostname, port: Number(url.port) }, () => {
          s.write(`POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"query":`);
          setTimeout(() => s.destroy(), 50 + rnd() * 500);
        });
        s.on('close', resolve);
        s.on('error', resolve);
      }),
    // WebSocket: out-of-protocol frames, bad tokens, subscribe before init, garbage.
    () =>
      new Promise((resolve) => {
        const proto = pick(['graphql-ws', 'graphql-transport-ws']);
        const sock = new WebSocket(ws, proto);
        const done = () => {
          sock.terminate();
          resolve();
        };
        const timer = setTimeout(done, 3000);
        sock.on('error', () => {});
        sock.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
        sock.on('open', () => {
          const frames = [
            'not json',
            JSON.stringify({ type: 'start', id: '1', payload: { query: 'subscription { CartReadModel(id: "x") { id } }' } }),
            JSON.stringify({ type: 'subscribe', id: '1', payload: { query: '{ __typename }' } }),
            JSON.stringify({ type: 'connection_init', payload: { Authorization: 'Bearer forged.token.here' } }),
            JSON.stringify({ type: 'connection_init', payload: 'x'.repeat(100000) }),
            JSON.stringify({ type: pick(['ka', 'pong', 'complete', 'stop', '']), id: { nested: [1, 2] } }),
            Buffer.from(Array.from({ length: 512 }, () => Math.floor(rnd() * 256))),
          ];
          for (let i = 0; i < 3; i++) sock.send(pick(frames));
        });
      }),
    // WebSocket: a subscriber with many subscriptions that never reads, then leaves.
    () =>
      new Promise((resolve) => {
        const sock = new WebSocket(ws, 'graphql-ws');
        const timer = setTimeout(() => {
          sock.terminate();
          resolve();
        }, 4000);
        sock.on('error', () => {});
        sock.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
        sock.on('open', () => {
          sock.send(JSON.stringify({ type: 'connection_init', payload: {} }));
          for (let i = 0; i < 300; i++) {
            sock.send(JSON.stringify({ id: `s${i}`, type: 'start', payload: { query: 'subscription { CartReadModel(id: "hostile-0") { id cartItems { productId quantity } } }' } }));
          }
          sock._socket.pause(); // stop reading: the pusher's queue for us fills
        });
      }),
  ];
}

itest(`normal traffic is answered while hostile requests run for ${SECONDS} s`, { timeout: (SECONDS + 240) * 1000 }, async () => {
  process.stderr.write(`hostile run: seed ${SEED} (RAMJET_HOSTILE_SEED=${SEED} replays it), ${SECONDS} s\n`);
  const before = await pids();
  for (const [d, pid] of Object.entries(before)) assert.ok(pid, `no pid for ${d}`);
  const baseline = Object.fromEntries(VICTIMS.map((d) => [d, rssKb(before[d])]));
  const peak = { ...baseline };

  // The canary's subscription, on the read model its mutations change.
  const sub = await stack.ws();
  sub.start('canary', 'subscription { CartReadModel(id: "hostile-canary") { id cartItems { productId quantity } } }');

  const deadline = Date.now() + SECONDS * 1000;
  let attacksSent = 0;
  const attacker = async (k) => {
    const rnd = prng(SEED + k);
    const list = attacks(rnd);
    while (Date.now() < deadline) {
      await list[Math.floor(rnd() * list.length)]();
      attacksSent++;
    }
  };

  const canary = { rounds: 0, worst: 0, failures: [] };
  const canaryLoop = async () => {
    for (let q = 1; Date.now() < deadline; q++) {
      const t0 = Date.now();
      try {
        // Each round adds its own product (quantities of one product would add up).
        const m = await stack.gql(CHANGE_CART_ITEM, { cartId: 'hostile-canary', productId: `p${q}`, quantity: 1 }, {}, { timeoutMs: CANARY_BOUND_MS * 2 });
        if (m.json?.data?.ChangeCartItem !== true) throw new Error(`mutation answered ${m.text.slice(0, 300)}`);
        // Read your write, as a client polling would: the read model catches up.
        for (;;) {
          const r = await stack.gql(CART_READ_MODEL, { id: 'hostile-canary' }, {}, { timeoutMs: CANARY_BOUND_MS * 2 });
          if (hasProduct(r.json?.data?.CartReadModel, q)) break;
          if (Date.now() - t0 > CANARY_BOUND_MS * 2) throw new Error(`read model still without p${q}: ${r.text.slice(0, 300)}`);
          await sleep(20);
        }
      } catch (e) {
        canary.failures.push(`round ${q}: ${e.message}`);
      }
      canary.worst = Math.max(canary.worst, Date.now() - t0);
      canary.rounds++;
      for (const d of VICTIMS) peak[d] = Math.max(peak[d], rssKb(before[d]));
      await sleep(200);
    }
  };

  await Promise.all([canaryLoop(), ...Array.from({ length: ATTACKERS }, (_, k) => attacker(k))]);

  // Once the attack is over: the last change reaches the subscriber, memory comes back.
  const lastQ = canary.rounds;
  await sub.next((m) => m.type === 'data' && m.id === 'canary' && hasProduct(m.payload?.data?.CartReadModel, lastQ), {
    timeoutMs: 30000,
  });
  sub.close();
  await sleep(5000);
  const afterPids = await pids();
  const end = Object.fromEntries(VICTIMS.map((d) => [d, rssKb(afterPids[d])]));
  const mb = (kb) => `${Math.round(kb / 1024)} MB`;
  process.stderr.write(
    `hostile run: ${attacksSent} attacks, ${canary.rounds} canary rounds, worst ${canary.worst} ms\n` +
      VICTIMS.map((d) => `  ${d}: rss ${mb(baseline[d])} -> peak ${mb(peak[d])} -> ${mb(end[d])}`).join('\n') +
      '\n',
  );

  assert.deepStrictEqual(afterPids, before, 'a daemon was restarted (it crashed) during the hostile run');
  assert.deepStrictEqual(canary.failures, [], 'normal traffic failed during the hostile run');
  assert.ok(canary.worst < CANARY_BOUND_MS, `a canary round took ${canary.worst} ms (bound ${CANARY_BOUND_MS} ms)`);
  assert.ok(canary.rounds >= SECONDS, `only ${canary.rounds} canary rounds in ${SECONDS} s`);
  // ASan keeps freed memory in quarantine (256 MB) and shadows all of it: memory is
  // checked on the plain build only.
  for (const d of SANITIZED ? [] : VICTIMS) {
    // Bounded while attacked, and back near the baseline after.
    assert.ok(peak[d] < baseline[d] + 1024 * 1024, `${d} grew from ${mb(baseline[d])} to ${mb(peak[d])} under attack`);
    assert.ok(end[d] < Math.max(3 * baseline[d], baseline[d] + 256 * 1024), `${d} kept ${mb(end[d])} after the attack (baseline ${mb(baseline[d])})`);
  }
});

itestStopsCleanly(() => stack);
