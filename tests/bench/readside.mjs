// tests/bench/readside.mjs - the read side and the events API at scale, through the gateway.
//
// Starts `ramjet dev` (tests/integration/lib/stack.mjs; RAMJET_BUILD_DIR selects the
// build), seeds PostgreSQL directly with SQL, since a million events through the command
// path would take the whole run:
//
//   - --read-models CartReadModel rows shaped as the projector writes them after a few
//     ChangeCartItem and UpdateShippingAddress mutations ({id, cartItems, cartItemsIds,
//     shippingAddress}, version = the number of writes, seq '');
//   - --events rows in `events` as the event store writes them: Cart events
//     (CartItemChanged, ShippingAddressUpdated) for those carts and Product events
//     (ProductCreated, ProductPriceChanged) for 1000 products, each entity's versions
//     1, 2, ... in time order, created_at spread over the last 180 days, a user on a
//     third of them;
//
// then ANALYZE, and for each query --clients concurrent HTTP clients send it for --seconds:
// ListCartReadModels with a nested eq, includes with an object, in on ids, beginsWith on id,
// a sort by a nested field, following cursors page by page; eventsByEntity for one cart
// (with and without a window) and for every cart; eventsByType newest first with a limit,
// with and without a window months back. It prints requests/s with p50/p99 per query and
// the plan PostgreSQL chooses for it (bench-readside-explain: the same SQL, EXPLAIN with
// the same bound values), so a reader sees which index serves which query.
//
// Prints its figures and exits 0 whatever they are; it fails only when the stack does not
// start, the seed fails, or more than a tenth of a query's requests fail or answer wrongly.
//
//   node tests/bench/readside.mjs [--read-models 100000] [--events 1000000] [--seconds 5] [--clients 4]
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { buildDir, startStack } from '../integration/lib/stack.mjs';

function options(argv) {
  const o = { 'read-models': 100000, events: 1000000, seconds: 5, clients: 4 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in o) || i + 1 >= argv.length || !/^\d+$/.test(argv[i + 1]) || Number(argv[i + 1]) < 1) {
      console.error(
        `usage: readside.mjs [--read-models N] [--events N] [--seconds S] [--clients N] (bad: ${argv[i]})`,
      );
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

function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpu;
  } catch {}
  return `${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${os.release()}, Node ${process.version}`;
}

const o = options(process.argv.slice(2));
const R = o['read-models'];
const E = o.events;
const DAY = 86400000;
const SPAN_DAYS = 180; // events are spread over the last 180 days
const PRODUCTS = 1000;
const COUNTRIES = ['ES', 'FR', 'DE', 'IT', 'PT', 'NL', 'BE', 'SE', 'PL', 'IE'];
const width = String(R).length;
const cartId = (n) => `cart-${String(n).padStart(width, '0')}`;
const day = (msAgo) => new Date(Date.now() - msAgo).toISOString().slice(0, 10);

// The read models: 1-3 items over PRODUCTS products; 6 in 7 with an address in one of ten
// countries and one of 5000 first names; version = one write per item and per address.
const SEED_READ_MODELS = `
INSERT INTO shop.rm_cartreadmodel (id, seq, version, value, updated_at)
SELECT c.id, '', c.n_items + CASE WHEN c.g % 7 = 0 THEN 0 ELSE 1 END,
       jsonb_build_object('id', c.id, 'cartItems', c.items, 'cartItemsIds', c.ids)
       || CASE WHEN c.g % 7 = 0 THEN '{}'::jsonb ELSE jsonb_build_object('shippingAddress',
            jsonb_build_object('firstName', 'Name' || (c.g % 5000), 'lastName', 'Last' || (c.g % 20011),
              'country', (ARRAY['${COUNTRIES.join("','")}'])[c.g % 10 + 1], 'state', 'S' || (c.g % 50),
              'postalCode', lpad((c.g % 90000)::text, 5, '0'), 'address', (c.g % 300) || ' Main street'))
          END,
       now() - (c.g % ${SPAN_DAYS}) * interval '1 day'
FROM (SELECT g, 'cart-' || lpad(g::text, ${width}, '0') AS id, 1 + g % 3 AS n_items,
             (SELECT jsonb_agg(jsonb_build_object('quantity', 1 + (g + k) % 4,
                                                  'productId', 'prod-' || ((g * 7 + k * 131) % ${PRODUCTS})) ORDER BY k)
                FROM generate_series(0, g % 3) k) AS items,
             (SELECT jsonb_agg('prod-' || ((g * 7 + k * 131) % ${PRODUCTS}) ORDER BY k)
                FROM generate_series(0, g % 3) k) AS ids
        FROM generate_series(1, ${R}) g) c`;

// The events: of every 10, 8 are Cart events (j-th: cart j % R, version j / R + 1; every 5th
// version a ShippingAddressUpdated) and 2 Product events (k-th: product k % 1000, version
// k / 1000 + 1; version 1 ProductCreated). created_at grows with i, so each entity's
// versions are in time order, as the event store writes them.
const SEED_EVENTS = `
INSERT INTO shop.events (event_id, entity_type, entity_id, version, type, request_id, created_at, value, "current_user")
SELECT md5('seed-event-' || i)::uuid, x.entity_type, x.entity_id, x.version, x.type, md5('seed-request-' || i)::uuid::text,
       now() - interval '${SPAN_DAYS} days' + (i::float8 / ${E}) * interval '${SPAN_DAYS} days',
       CASE x.type
         WHEN 'CartItemChanged' THEN jsonb_build_object('cartId', x.entity_id, 'productId', 'prod-' || (i % ${PRODUCTS}),
                                                        'quantity', 1 + i % 4)
         WHEN 'ShippingAddressUpdated' THEN jsonb_build_object('cartId', x.entity_id, 'address', jsonb_build_object(
              'firstName', 'Name' || (i % 5000), 'lastName', 'Last' || (i % 20011), 'country', 'ES', 'state', 'S',
              'postalCode', lpad((i % 90000)::text, 5, '0'), 'address', '1 Main street'))
         WHEN 'ProductCreated' THEN jsonb_build_object('productId', x.entity_id, 'sku', 'SKU-' || x.entity_id,
              'displayName', 'Product ' || x.entity_id, 'description', 'A product', 'featured', i % 9 = 0,
              'price', jsonb_build_object('cents', 100 + i % 9900, 'currency', 'EUR'))
         ELSE jsonb_build_object('productId', x.entity_id, 'priceCents', 100 + i % 9900, 'changedAt', now()::text)
       END,
       CASE WHEN i % 3 = 0 THEN jsonb_build_object('id', 'user-' || (i % 997), 'username', 'user' || (i % 997) || '@example.com',
                                                   'roles', jsonb_build_array('UserWithEmail'), 'claims', '{}'::jsonb) END
FROM generate_series(0, ${E - 1}) i,
LATERAL (SELECT CASE WHEN i % 10 < 8 THEN (i / 10) * 8 + i % 10 ELSE (i / 10) * 2 + i % 10 - 8 END AS j) n,
LATERAL (SELECT CASE WHEN i % 10 < 8 THEN 'Cart' ELSE 'Product' END AS entity_type,
                CASE WHEN i % 10 < 8 THEN 'cart-' || lpad((n.j % ${R} + 1)::text, ${width}, '0')
                     ELSE 'prod-' || (n.j % ${PRODUCTS}) END AS entity_id,
                CASE WHEN i % 10 < 8 THEN n.j / ${R} + 1 ELSE n.j / ${PRODUCTS} + 1 END AS version,
                CASE WHEN i % 10 >= 8 THEN CASE WHEN n.j / ${PRODUCTS} = 0 THEN 'ProductCreated' ELSE 'ProductPriceChanged' END
                     WHEN (n.j / ${R}) % 5 = 4 THEN 'ShippingAddressUpdated' ELSE 'CartItemChanged' END AS type) x`;

const LIST = `query ($filter: ListCartReadModelFilter, $limit: Int, $sortBy: CartReadModelSortBy, $afterCursor: JSON) {
  ListCartReadModels(filter: $filter, limit: $limit, sortBy: $sortBy, afterCursor: $afterCursor) {
    items { id cartItems { productId quantity } shippingAddress { firstName lastName country } } count cursor
  }
}`;
const EVENT_FIELDS = 'type entity entityID requestID createdAt value user { id username }';
const BY_ENTITY = `query ($entityID: ID, $from: String, $to: String, $limit: Int) {
  eventsByEntity(entity: Cart, entityID: $entityID, from: $from, to: $to, limit: $limit) { ${EVENT_FIELDS} }
}`;
const BY_TYPE = `query ($from: String, $to: String, $limit: Int) {
  eventsByType(type: CartItemChanged, from: $from, to: $to, limit: $limit) { ${EVENT_FIELDS} }
}`;

// A deterministic spread of indexes over 1..n for request i.
const pick = (i, n) => ((i * 7919) % n) + 1;
// A cart with an address (every 7th has none).
const addressed = (i) => {
  const g = pick(i, R);
  return g % 7 === 0 ? g - 1 : g;
};
const windowFrom = day(120 * DAY);
const windowTo = day(106 * DAY); // two weeks, four months back

/** A List request: variables for request i; `ok` checks the connection. */
function list(name, vars, { nonEmpty = true } = {}) {
  return {
    name,
    request: (i) => ({ query: LIST, variables: vars(i) }),
    ok: (data) => Array.isArray(data?.ListCartReadModels?.items) && (!nonEmpty || data.ListCartReadModels.count > 0),
    explain: () => ({ readModel: 'CartReadModel', ...vars(0) }),
  };
}

function events(name, byType, vars, { nonEmpty = true } = {}) {
  const field = byType ? 'eventsByType' : 'eventsByEntity';
  return {
    name,
    request: (i) => ({ query: byType ? BY_TYPE : BY_ENTITY, variables: vars(i) }),
    ok: (data) => Array.isArray(data?.[field]) && (!nonEmpty || data[field].length > 0),
    explain: () => {
      const v = vars(0);
      return byType ? { type: 'CartItemChanged', ...v } : { entity: 'Cart', ...v };
    },
  };
}

const QUERIES = [
  list('List eq (nested)', (i) => ({ filter: { shippingAddress: { firstName: { eq: `Name${addressed(i) % 5000}` } } }, limit: 20 })),
  list('List includes (object)', (i) => ({
    filter: { cartItems: { includes: { productId: `prod-${pick(i, PRODUCTS - 1)}` } } },
    limit: 20,
  })),
  list('List in (3 ids)', (i) => ({ filter: { id: { in: [cartId(pick(i, R)), cartId(pick(i + 1, R)), cartId(pick(i + 2, R))] } }, limit: 20 })),
  list('List id beginsWith', (i) => ({ filter: { id: { beginsWith: cartId(pick(i, R)).slice(0, -2) } }, limit: 20 })),
  list('List eq + sort nested', (i) => ({
    filter: { shippingAddress: { country: { eq: COUNTRIES[i % 10] } } },
    sortBy: { shippingAddress: { lastName: 'DESC' } },
    limit: 20,
  })),
  list('List sort nested only', () => ({ sortBy: { shippingAddress: { firstName: 'ASC' } }, limit: 20 })),
  {
    // Each client follows the cursors of one filter for ten pages, then starts over.
    ...list('List cursor pages 1-10', () => ({ filter: { cartItemsIds: { includes: 'prod-7' } }, limit: 20 }), {
      nonEmpty: false,
    }),
    request: (i, state) => {
      if (state.pages === undefined || state.pages >= 10) Object.assign(state, { pages: 0, cursor: null });
      state.pages++;
      return {
        query: LIST,
        variables: { filter: { cartItemsIds: { includes: `prod-${pick(i, PRODUCTS - 1)}` } }, limit: 20, afterCursor: state.cursor },
      };
    },
    after: (data, state) => {
      state.cursor = data.ListCartReadModels.cursor;
    },
    explain: () => ({ readModel: 'CartReadModel', filter: { cartItemsIds: { includes: 'prod-7' } }, limit: 20, afterCursor: { id: '180' } }),
  },
  events('eventsByEntity (one cart)', false, (i) => ({ entityID: cartId(pick(i, R)) })),
  events('eventsByEntity (one cart, window)', false, (i) => ({ entityID: cartId(pick(i, R)), from: day(150 * DAY), to: day(30 * DAY) }), {
    nonEmpty: false,
  }),
  events('eventsByEntity (all carts, limit 20)', false, () => ({ limit: 20 })),
  events('eventsByType (limit 20)', true, () => ({ limit: 20 })),
  events('eventsByType (window 4 months back, limit 20)', true, () => ({ from: windowFrom, to: windowTo, limit: 20 })),
];

/** Sends q from o.clients clients for `seconds`; resolves {latencies, errors, seconds, firstError}. */
async function measure(stack, q, seconds) {
  const latencies = [];
  let errors = 0;
  let firstError = null;
  let next = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: o.clients }, async () => {
      const state = {};
      while (performance.now() < deadline) {
        const i = next++;
        const { query, variables } = q.request(i, state);
        const t0 = performance.now();
        let ok = false;
        let r;
        try {
          r = await stack.gql(query, variables);
          ok = r.status === 200 && !r.json?.errors && q.ok(r.json?.data);
        } catch (e) {
          r = { text: String(e) };
        }
        if (ok) {
          latencies.push(performance.now() - t0);
          q.after?.(r.json.data, state);
        } else {
          errors++;
          firstError ??= r.text.slice(0, 300);
          state.pages = undefined;
        }
      }
    }),
  );
  return { latencies, errors, firstError, seconds: (performance.now() - started) / 1000 };
}

/** The plans of every query, as one line each: node types, index and table names. */
function explainAll(stack) {
  const helper = path.join(buildDir, 'bench', 'bench-readside-explain');
  return new Promise((resolve, reject) => {
    const p = spawn(helper, [stack.urls.postgres, 'shop'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve(out.trim().split('\n').map((l) => JSON.parse(l))) : reject(new Error(`${helper} exited ${code}`))));
    p.stdin.end(QUERIES.map((q) => JSON.stringify(q.explain())).join('\n') + '\n');
  });
}

function planSummary(plan) {
  if (plan.error) return `(no plan: ${plan.error})`;
  const node = (n) => {
    let s = n['Node Type'];
    if (n['Scan Direction'] === 'Backward') s += ' Backward';
    if (n['Index Name']) s += ` using ${n['Index Name']}`;
    else if (n['Relation Name']) s += ` on ${n['Relation Name']}`;
    const kids = (n.Plans ?? []).filter((k) => k['Parent Relationship'] !== 'InitPlan' && k['Parent Relationship'] !== 'SubPlan');
    if (kids.length === 1) s += ` > ${node(kids[0])}`;
    else if (kids.length > 1) s += ` > (${kids.map(node).join(' | ')})`;
    return s;
  };
  return node(plan[0].Plan);
}

console.log(`machine: ${machine()}`);
console.log(`build:   ${process.env.RAMJET_BUILD_DIR || 'build'}`);
console.log(`data:    ${R} CartReadModel rows, ${E} events; ${o.clients} clients, ${o.seconds} s per query`);

const stack = await startStack({ name: 'bench-readside', env: { RAMJET_LOG_LEVEL: process.env.RAMJET_LOG_LEVEL || 'warn' } });
let exitCode = 0;
try {
  let t0 = performance.now();
  await stack.sql(SEED_READ_MODELS, { timeoutMs: 3600000 });
  console.log(`seed:    ${R} read models in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  t0 = performance.now();
  await stack.sql(SEED_EVENTS, { timeoutMs: 3600000 });
  console.log(`seed:    ${E} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  t0 = performance.now();
  await stack.sql('ANALYZE shop.rm_cartreadmodel; ANALYZE shop.events', { timeoutMs: 600000 });
  const sizes = await stack.sqlRows(
    `SELECT c.relname AS name, pg_size_pretty(pg_total_relation_size(c.oid)) AS size FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'shop' AND c.relname IN ('rm_cartreadmodel', 'events')`,
  );
  console.log(`analyze: ${((performance.now() - t0) / 1000).toFixed(1)} s; ${sizes.map((s) => `${s.name} ${s.size}`).join(', ')} (with indexes)`);
  console.log(`window:  eventsByType from ${windowFrom} to ${windowTo}\n`);

  const plans = await explainAll(stack);
  for (const [k, q] of QUERIES.entries()) {
    await measure(stack, q, Math.min(1, o.seconds / 5)); // warm caches and connections
    const m = await measure(stack, q, o.seconds);
    const s = [...m.latencies].sort((a, b) => a - b);
    const f = (x) => x.toFixed(1);
    console.log(
      `${q.name.padEnd(46)} ${String(m.latencies.length).padStart(6)} ok ${String(m.errors).padStart(4)} err ` +
        `${f(m.latencies.length / m.seconds).padStart(8)} req/s   p50 ${f(percentile(s, 50)).padStart(6)} ms   p99 ${f(percentile(s, 99)).padStart(6)} ms`,
    );
    console.log(`${''.padEnd(46)} plan: ${planSummary(plans[k])}`);
    if (m.errors > Math.max(1, (m.latencies.length + m.errors) / 10)) {
      console.error(`  ${m.errors} requests failed; first: ${m.firstError}`);
      exitCode = 1;
    }
  }
} catch (e) {
  console.error(`bench failed: ${e.message}`);
  stack.failed = true;
  exitCode = 1;
} finally {
  await stack.stop();
}
process.exit(exitCode);
