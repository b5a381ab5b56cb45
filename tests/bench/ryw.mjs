// tests/bench/ryw.mjs - what read-your-writes costs: a mutation-then-query loop, per
// client, measured with and without the consistency token (docs/PERFORMANCE.md).
//
// Starts `ramjet dev` twice (tests/integration/lib/stack.mjs; RAMJET_BUILD_DIR selects
// the build): once as deployed by default (--mutation-consistency durable), where each
// loop is run four ways, and once with --mutation-consistency projected:
//
//   plain     ChangeCartItem, then CartReadModel(id:) without the token (today's client);
//   token     the same, the query sending back the mutation's token (HTTP header);
//   socket    both over one graphql-ws connection per client (session consistency);
//   projected the mutation answered once projected, then the plain query.
//
// For each it prints the mutation's and the query's latency (p50/p99) and how many
// queries saw their own write. --clients loops run concurrently, --loops each.
// Latency only: a Node client cannot measure a C server's throughput (issue 14).
//
//   node tests/bench/ryw.mjs [--clients 8] [--loops 200]
import { randomUUID } from 'node:crypto';

import { CART_READ_MODEL, CHANGE_CART_ITEM, TEST_KAFKA, startStack } from '../integration/lib/stack.mjs';

function options(argv) {
  const o = { clients: 8, loops: 200 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in o) || i + 1 >= argv.length || !/^\d+$/.test(argv[i + 1])) {
      console.error(`usage: ryw.mjs [--clients N] [--loops N] (bad: ${argv[i]})`);
      process.exit(2);
    }
    o[key] = Number(argv[++i]);
  }
  return o;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

function report(label, runs) {
  const line = (what, xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return `${what} p50 ${pct(s, 50).toFixed(1)} p99 ${pct(s, 99).toFixed(1)}`;
  };
  const seen = runs.filter((r) => r.seen).length;
  const errors = runs.filter((r) => r.error).length;
  console.log(
    `${label.padEnd(10)} ${line('mutation ms', runs.map((r) => r.mutation))}   ` +
      `${line('query ms', runs.map((r) => r.query))}   saw own write ${seen}/${runs.length}` +
      (errors ? `   errors ${errors}` : ''),
  );
}

const sawWrite = (data, id, quantity) =>
  data?.CartReadModel?.id === id && data.CartReadModel.cartItems?.[0]?.quantity === quantity;

/** One HTTP loop: mutation, then query (with the mutation's token when asked). */
async function httpLoop(stack, withToken, i) {
  const id = `bench-${randomUUID()}`;
  let t = performance.now();
  const m = await stack.gql(CHANGE_CART_ITEM, { cartId: id, productId: 'p1', quantity: i + 1 });
  const mutation = performance.now() - t;
  const headers = withToken ? { 'consistency-token': m.consistencyToken } : {};
  t = performance.now();
  const q = await stack.gql(CART_READ_MODEL, { id }, headers);
  const query = performance.now() - t;
  return { mutation, query, seen: sawWrite(q.json?.data, id, i + 1), error: !!(m.json?.errors || q.json?.errors) };
}

/** One WebSocket operation on the stack's graphql-ws client; resolves its payload. */
async function wsRun(client, query, variables) {
  const id = randomUUID();
  const from = client.received.length;
  client.start(id, query, variables);
  return (await client.next((m) => m.id === id && (m.type === 'data' || m.type === 'error'), { from })).payload;
}

async function socketLoop(client, i) {
  const id = `bench-${randomUUID()}`;
  let t = performance.now();
  const m = await wsRun(client, CHANGE_CART_ITEM, { cartId: id, productId: 'p1', quantity: i + 1 });
  const mutation = performance.now() - t;
  t = performance.now();
  const q = await wsRun(client, CART_READ_MODEL, { id });
  const query = performance.now() - t;
  return { mutation, query, seen: sawWrite(q?.data, id, i + 1), error: !!(m?.errors || q?.errors) };
}

/** Runs `loops` iterations on each of `clients` concurrent clients. */
async function run(clients, loops, loop) {
  const runs = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const one = await loop.open?.();
      for (let i = 0; i < loops; i++) runs.push(await loop.step(one, c * loops + i));
      one?.close?.();
    }),
  );
  return runs;
}

const o = options(process.argv.slice(2));
console.log(`read-your-writes: ${o.clients} clients x ${o.loops} loops, kafka ${TEST_KAFKA}`);
let stack = await startStack({ name: 'bench-ryw' });
try {
  await run(4, 20, { step: (_, i) => httpLoop(stack, true, i) }); // warm-up
  report('plain', await run(o.clients, o.loops, { step: (_, i) => httpLoop(stack, false, i) }));
  report('token', await run(o.clients, o.loops, { step: (_, i) => httpLoop(stack, true, i) }));
  report('socket', await run(o.clients, o.loops, { open: () => stack.ws(), step: socketLoop }));
} finally {
  await stack.stop();
}
stack = await startStack({ name: 'bench-ryw-projected', env: { RAMJET_MUTATION_CONSISTENCY: 'projected' } });
try {
  await run(4, 20, { step: (_, i) => httpLoop(stack, false, i) });
  report('projected', await run(o.clients, o.loops, { step: (_, i) => httpLoop(stack, false, i) }));
} finally {
  await stack.stop();
}
