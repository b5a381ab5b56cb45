// tests/bench/bench.mjs - throughput and latency of the whole stack, end to end.
//
// Starts `ramjet dev` (tests/integration/lib/stack.mjs; RAMJET_BUILD_DIR selects the
// build), then:
//
//   1. mutations: --clients concurrent HTTP clients send --mutations ChangeCartItem
//      over --carts carts; reports mutations/s and p50/p90/p99/max latency;
//   2. convergence: the time from the last acknowledgement until every
//      CartReadModel reflects every acknowledged mutation;
//   3. queries: the same clients send --queries CartReadModel(id) queries;
//      reports queries/s and latencies.
//
// Prints its figures and exits 0 whatever they are; it fails only when the stack
// does not start or answers wrongly (a benchmark of a broken system means nothing).
//
//   node tests/bench/bench.mjs [--clients 32] [--mutations 5000] [--carts 500] [--queries 5000]
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { CART_READ_MODEL, CHANGE_CART_ITEM, MUTATION_OK, TEST_KAFKA, startStack, sleep } from '../integration/lib/stack.mjs';

function options(argv) {
  const o = { clients: 32, mutations: 5000, carts: 500, queries: 5000 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in o) || i + 1 >= argv.length || !/^\d+$/.test(argv[i + 1])) {
      console.error(`usage: bench.mjs [--clients N] [--mutations N] [--carts N] [--queries N] (bad: ${argv[i]})`);
      process.exit(2);
    }
    o[key] = Number(argv[++i]);
  }
  return o;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(label, latencies, seconds, errors) {
  const s = [...latencies].sort((a, b) => a - b);
  const f = (x) => x.toFixed(1);
  return (
    `${label.padEnd(10)} ${String(latencies.length).padStart(6)} ok ${String(errors).padStart(4)} errors ` +
    `${f(latencies.length / seconds).padStart(8)}/s   latency ms p50 ${f(percentile(s, 50))} p90 ${f(percentile(s, 90))} ` +
    `p99 ${f(percentile(s, 99))} max ${f(s[s.length - 1] ?? NaN)}`
  );
}

/**
 * Runs count jobs on `clients` concurrent workers; job(i) resolves true when it
 * succeeded. Throws once more than a tenth of the jobs failed: the figures of a
 * failing system mean nothing, and each failure may cost a full request timeout.
 */
async function load(count, clients, job) {
  const latencies = [];
  let errors = 0;
  let next = 0;
  const maxErrors = Math.max(10, Math.ceil(count / 10));
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= count || errors > maxErrors) return;
        const t0 = performance.now();
        let ok = false;
        try {
          ok = await job(i);
        } catch {}
        if (ok) latencies.push(performance.now() - t0);
        else errors++;
      }
    }),
  );
  if (errors > maxErrors) throw new Error(`${errors} of ${next} requests failed; stopped the load`);
  return { latencies, errors, seconds: (performance.now() - started) / 1000 };
}

function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpu;
  } catch {}
  return `${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${os.release()}, Node ${process.version}`;
}

// CPU time (utime + stime, and that of reaped children) of each of the stack's processes, in
// seconds, from /proc: PostgreSQL's backends are its children but live on, so its figure
// counts the postmaster and finished backends only.
const CHILDREN = ['kafka', 'devbroker', 'postgres', 'redis', 'gateway', 'commands', 'eventstore', 'reducer', 'projector', 'pusher'];
const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
async function cpuSeconds(stack) {
  const out = {};
  for (const c of CHILDREN) {
    const pid = await stack.pidOf(c);
    if (!pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[c] = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / HZ;
    } catch {}
  }
  return out;
}
function cpuLine(before, after, seconds, n) {
  const parts = [];
  let total = 0;
  for (const c of CHILDREN) {
    if (!(c in after)) continue;
    const s = after[c] - (before[c] ?? 0);
    total += s;
    parts.push(`${c} ${((s * 1000) / n).toFixed(3)}`);
  }
  return `cpu       ms per mutation: ${parts.join(', ')}; all ${((total * 1000) / n).toFixed(3)} ms, ${(total / seconds).toFixed(2)} cores busy`;
}

const o = options(process.argv.slice(2));
console.log(`machine: ${machine()}`);
console.log(`build:   ${process.env.RAMJET_BUILD_DIR || 'build'}; broker: ${TEST_KAFKA} (RAMJET_TEST_KAFKA=real|mock)`);
console.log(`load:    ${o.mutations} mutations over ${o.carts} carts, ${o.queries} queries, ${o.clients} clients`);

// RAMJET_KAFKA_TRANSACTIONS=off measures the command processor without Kafka transactions.
const transactions = process.env.RAMJET_KAFKA_TRANSACTIONS || 'on';
console.log(`command processor: --kafka-transactions ${transactions}`);
const stack = await startStack({
  name: 'bench',
  env: { RAMJET_LOG_LEVEL: process.env.RAMJET_LOG_LEVEL || 'warn', RAMJET_KAFKA_TRANSACTIONS: transactions },
});
let exitCode = 0;
try {
  // Warm-up: one mutation and one query per cart is not needed; a few dozen requests are.
  for (let i = 0; i < 20; i++) {
    const r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'bench-warmup', productId: 'p', quantity: 1 });
    if (JSON.stringify(r.json) !== JSON.stringify(MUTATION_OK)) throw new Error(`warm-up mutation answered ${r.text}`);
  }

  const expected = new Map(); // cartId -> total quantity of acknowledged mutations
  let lastAck = 0;
  const cpuBefore = await cpuSeconds(stack);
  const m = await load(o.mutations, o.clients, async (i) => {
    const cartId = `bench-c${i % o.carts}`;
    const quantity = 1 + (i % 3);
    const r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId: `p${i % 7}`, quantity });
    const ok = JSON.stringify(r.json) === JSON.stringify(MUTATION_OK);
    if (ok) {
      expected.set(cartId, (expected.get(cartId) || 0) + quantity);
      lastAck = performance.now();
    }
    return ok;
  });
  console.log(summary('mutations', m.latencies, m.seconds, m.errors));
  console.log(cpuLine(cpuBefore, await cpuSeconds(stack), m.seconds, o.mutations));

  // Convergence: every read model's total quantity equals what was acknowledged.
  let converged = null;
  const deadline = performance.now() + 300000;
  while (performance.now() < deadline) {
    const rows = await stack.sqlRows(
      `SELECT id, (SELECT coalesce(sum((i->>'quantity')::float8), 0) FROM jsonb_array_elements(value->'cartItems') i) AS total
         FROM shop.rm_cartreadmodel WHERE id LIKE 'bench-c%'`,
    );
    const have = new Map(rows.map((r) => [r.id, r.total]));
    if ([...expected].every(([id, total]) => have.get(id) === total)) {
      converged = performance.now() - lastAck;
      break;
    }
    await sleep(50);
  }
  console.log(
    converged === null
      ? 'converge  read models did not reflect every acknowledged mutation within 300 s'
      : `converge  every read model reflected the last mutation ${converged.toFixed(0)} ms after its acknowledgement (polling every 50 ms)`,
  );
  if (converged === null) exitCode = 1;

  const q = await load(o.queries, o.clients, async (i) => {
    const id = `bench-c${i % o.carts}`;
    const r = await stack.gql(CART_READ_MODEL, { id });
    return r.status === 200 && r.json?.data?.CartReadModel?.id === id;
  });
  console.log(summary('queries', q.latencies, q.seconds, q.errors));
} catch (e) {
  console.error(`bench failed: ${e.message}`);
  stack.failed = true;
  exitCode = 1;
} finally {
  await stack.stop();
}
process.exit(exitCode);
