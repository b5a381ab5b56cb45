// Issue 9, findings 3 to 5: single requests that made the gateway work without bound.
// Each hostile request gets its clear GraphQL error quickly, while a canary query keeps
// being answered within a bound and the gateway's memory stays bounded and comes back.
//
// Every limit has its default. Besides a few carts made by mutations, 1,000 large carts
// (about 20 kB each) are written straight into the read model's table, so that pages of
// them pass the 16 MB answer limit, or come close.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before } from 'node:test';
import { CART_READ_MODEL, CHANGE_CART_ITEM, MUTATION_OK, SANITIZED, itest, itestStopsCleanly, startStack, waitFor } from './lib/stack.mjs';

// Under AddressSanitizer everything runs about three times slower, and its allocator
// replaces glibc's (a quarantine of freed memory, no malloc_trim): time bounds stretch,
// and the memory checks apply to the plain build only.

const SLOW = SANITIZED ? 3 : 1;

const CARTS = 5;
const BIG_CARTS = 1000;
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

let stack;
let rssStart; // the gateway's RSS once started and seeded, before any large request
before(async () => {
  stack = await startStack({ name: 'limits' });
  for (let i = 0; i < CARTS; i++) {
    const r = await stack.gql(CHANGE_CART_ITEM, { cartId: `limits-${i}`, productId: 'p', quantity: i + 1 });
    assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  }
  await waitFor(async () => (await stack.gql(CART_READ_MODEL, { id: `limits-${CARTS - 1}` })).json?.data?.CartReadModel, {
    timeoutMs: 60000,
    what: 'the carts in the read model',
  });
  await stack.sql(
    `INSERT INTO shop.rm_cartreadmodel (id, value)
     SELECT 'big-' || n, jsonb_build_object('id', 'big-' || n, 'cartItems',
       (SELECT jsonb_agg(jsonb_build_object('productId', 'product-' || n || '-' || k, 'quantity', k))
          FROM generate_series(1, 400) k))
     FROM generate_series(1, ${BIG_CARTS}) n`,
  );
  rssStart = await gatewayRssKb();
});
after(async () => {
  await stack?.stop();
});

async function gatewayRssKb() {
  const pid = await stack.pidOf('gateway');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]);
}

/** Sends @p body and expects one clear error with @p code whose message matches @p re, within @p ms. */
async function expectLimitError(what, send, re, { code = 'InvalidParameterError', ms = 5000 } = {}) {
  ms *= SLOW;
  const t0 = Date.now();
  const r = await send();
  const took = Date.now() - t0;
  assert.ok(r.status === 200 || r.status === 400, `${what}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
  const errors = r.json?.errors;
  assert.ok(Array.isArray(errors) && errors.length >= 1, `${what}: no errors in ${r.text.slice(0, 300)}`);
  assert.match(errors[0].message, re, `${what}: ${JSON.stringify(errors[0])}`);
  assert.equal(errors[0].extensions?.code, code, `${what}: ${JSON.stringify(errors[0])}`);
  const data = r.json.data ?? null;
  assert.ok(data === null || Object.values(data).every((v) => v === null), `${what}: data alongside the limit error: ${r.text.slice(0, 300)}`);
  assert.ok(took < ms, `${what}: answered after ${took} ms`);
  return took;
}

const repeat = (n, f) => Array.from({ length: n }, (_, i) => f(i)).join(' ');

// The hostile requests, each a function that sends it once.
const hostile = {
  // finding 3: 65,540 values in the document, 100k through variables
  inListLiteral: () =>
    stack.gql(`{ ListCartReadModels(filter: {id: {in: [${repeat(65540, (i) => `"c${i}"`)}]}}) { items { id } } }`),
  inListVariables: () =>
    stack.gql(`query ($v: [ID]) { ListCartReadModels(filter: {id: {in: $v}}) { items { id } } }`, {
      v: Array.from({ length: 100000 }, (_, i) => `c${i % 50000}`),
    }),
  // finding 4: 5,000 fields (1,600 of them are within the limit, and validate at once)
  manyFields: () => stack.gql(`{ ${repeat(5000, () => '__typename')} }`),
  // fragments that spread the next one twice: 2^40 fields once expanded
  deepFragments: () =>
    stack.gql(
      `{ ...F0 } ${repeat(40, (i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`)} fragment F40 on Query { __typename }`,
    ),
  // finding 5: 2,000 aliases of a 1,000-row page
  manyAliases: () => stack.gql(`{ ${repeat(2000, (i) => `a${i}: ListCartReadModels(limit: 1000) { items { id } }`)} }`),
  // within the alias limit, over the cost: 100 pages of 1,000 rows
  overCost: () => stack.gql(`{ ${repeat(100, (i) => `a${i}: ListCartReadModels(limit: 1000) { items { id } }`)} }`),
  // within the cost, over the answer size: 1,000 carts of about 20 kB
  overSize: () => stack.gql(`{ ListCartReadModels(limit: 1000) { items { id cartItems { productId quantity } } } }`),
  // the same in pages of 100, each within the limit
  overSizePages: () =>
    stack.gql(`{ ${repeat(10, (i) => `a${i}: ListCartReadModels(limit: 100, afterCursor: {id: "${i * 100}"}) { items { id cartItems { productId quantity } } }`)} }`),
};

itest('each hostile request gets its clear error quickly', async () => {
  await expectLimitError('in list literal', hostile.inListLiteral, /"in" list has 65540 values, more than the limit of 1000/);
  await expectLimitError('in list variables', hostile.inListVariables, /"in" list has 100000 values, more than the limit of 1000/);
  await expectLimitError('5,000 fields', hostile.manyFields, /selects 5000 fields and fragment spreads \(fragments expanded\), more than the limit of 4000/);
  await expectLimitError('deep fragments', hostile.deepFragments, /selects \d+ fields and fragment spreads \(fragments expanded\), more than the limit of 4000/);
  await expectLimitError('2,000 aliases', hostile.manyAliases, /has 2000 aliased fields \(fragments expanded\), more than the limit of 100/);
  await expectLimitError('over cost', hostile.overCost, /may read 100000 rows, more than the limit of 20000/);
  // these read 16 MB or more from PostgreSQL first
  await expectLimitError('over answer size', hostile.overSize, new RegExp(`would exceed ${MAX_RESPONSE_BYTES} bytes`), { ms: 15000 });
  await expectLimitError('over answer size in pages', hostile.overSizePages, new RegExp(`would exceed ${MAX_RESPONSE_BYTES} bytes`), {
    ms: 15000,
  });

  // 1,600 __typename (finding 4 took minutes in validation) is a valid request, answered.
  const t0 = Date.now();
  const r = await stack.gql(`{ ${repeat(1600, () => '__typename')} }`);
  assert.deepStrictEqual(r.json, { data: { __typename: 'Query' } }, r.text.slice(0, 300));
  assert.ok(Date.now() - t0 < 5000 * SLOW, `1,600 __typename answered after ${Date.now() - t0} ms`);
  // and an accepted page still works under the lowered answer size
  const one = await stack.gql(`{ ListCartReadModels(limit: 2) { items { id } } }`);
  assert.equal(one.json?.data?.ListCartReadModels?.items?.length, 2, one.text);
});

// An accepted answer close to the limit: about 8 MB of carts.
const BIG_PAGE = `{ ListCartReadModels(limit: 400) { items { id cartItems { productId quantity } } } }`;

itest('a canary is answered while hostile requests and large answers run, and memory comes back', async () => {
  const rssBefore = await gatewayRssKb();
  let rssPeak = rssBefore;
  let stop = false;
  // Two canaries: `{ __typename }` is answered on the gateway's loop alone, so its latency
  // is how long the loop is held by others; a read-model read also needs a pooled
  // PostgreSQL connection and the database's share of this busy machine.
  const latencies = [];
  const readLatencies = [];
  const canary = (async () => {
    while (!stop) {
      const t0 = Date.now();
      const r = await stack.gql('{ __typename }');
      latencies.push(Date.now() - t0);
      assert.deepStrictEqual(r.json, { data: { __typename: 'Query' } }, r.text);
      rssPeak = Math.max(rssPeak, await gatewayRssKb());
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const readCanary = (async () => {
    while (!stop) {
      const t0 = Date.now();
      const r = await stack.gql(CART_READ_MODEL, { id: 'limits-1' });
      readLatencies.push(Date.now() - t0);
      assert.equal(r.json?.data?.CartReadModel?.id, 'limits-1', r.text);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  // every hostile request, two at a time, round after round for at least 5 s
  const names = Object.keys(hostile);
  const until = Date.now() + 5000;
  const worker = async (offset) => {
    for (let i = 0; i < names.length || Date.now() < until; i++) {
      const name = names[(i + offset) % names.length];
      const r = await hostile[name]();
      assert.ok(r.json?.errors?.length >= 1, `${name}: ${r.text.slice(0, 300)}`);
    }
  };
  const large = async () => {
    for (let i = 0; i < 4; i++) {
      const r = await stack.gql(BIG_PAGE);
      assert.equal(r.json?.data?.ListCartReadModels?.items?.length, 400, r.text.slice(0, 300));
    }
  };
  await Promise.all([worker(0), worker(3), large()]);
  stop = true;
  await Promise.all([canary, readCanary]);

  latencies.sort((a, b) => a - b);
  readLatencies.sort((a, b) => a - b);
  const max = latencies[latencies.length - 1];
  const readMax = readLatencies[readLatencies.length - 1];
  assert.ok(latencies.length >= 5 && readLatencies.length >= 5, `only ${latencies.length} and ${readLatencies.length} canary answers`);
  // The old gateway made every request wait minutes (finding 4) or 16 s (finding 5).
  assert.ok(max < 1000 * SLOW, `loop canary p-max ${max} ms (p50 ${latencies[latencies.length >> 1]} ms, n=${latencies.length})`);
  assert.ok(readMax < 5000 * SLOW, `read canary p-max ${readMax} ms (p50 ${readLatencies[readLatencies.length >> 1]} ms)`);
  // The old gateway peaked at 4.8 GB; the bounded one, answering 8 MB pages, far less.
  if (!SANITIZED) assert.ok(rssPeak - rssBefore < 600 * 1024, `gateway RSS rose from ${rssBefore} kB to ${rssPeak} kB`);
  // After answers of 8 MB and refusals of 20 MB, the gateway gives the memory back: the
  // old one kept 4.5 GB.
  let rssNow = await gatewayRssKb();
  if (!SANITIZED) {
    await waitFor(
      async () => {
        rssNow = await gatewayRssKb();
        return rssNow - rssStart < 100 * 1024;
      },
      { timeoutMs: 30000, what: `gateway RSS back within 100 MB of ${rssStart} kB (now ${rssNow} kB)` },
    );
  }
  console.log(`# loop canary n=${latencies.length} p50=${latencies[latencies.length >> 1]} ms max=${max} ms; read canary ` +
    `n=${readLatencies.length} p50=${readLatencies[readLatencies.length >> 1]} ms max=${readMax} ms; gateway RSS ` +
    `at start ${rssStart} kB, before ${rssBefore} kB, peak ${rssPeak} kB, after ${rssNow} kB`);
});

itestStopsCleanly(() => stack);

// The time budget, on a stack of its own whose budget is 100 ms: a page of 8 MB takes
// longer than that to read, and is answered with a TimeoutError at about the budget; what
// it started finishes unseen, and the gateway goes on serving.
itest('an operation over its time budget is answered with a TimeoutError', async () => {
  const budgetStack = await startStack({ name: 'limits-budget', env: { RAMJET_BUDGET_MS: '100' } });
  try {
    await budgetStack.sql(
      `INSERT INTO shop.rm_cartreadmodel (id, value)
       SELECT 'big-' || n, jsonb_build_object('id', 'big-' || n, 'cartItems',
         (SELECT jsonb_agg(jsonb_build_object('productId', 'product-' || n || '-' || k, 'quantity', k))
            FROM generate_series(1, 400) k))
       FROM generate_series(1, 1000) n`,
    );
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const r = await budgetStack.gql(BIG_PAGE);
      const took = Date.now() - t0;
      assert.deepStrictEqual(
        r.json,
        { errors: [{ message: 'the operation did not finish within its budget of 100 ms', extensions: { code: 'TimeoutError' } }] },
        r.text.slice(0, 300),
      );
      assert.ok(took < 3000 * SLOW, `answered after ${took} ms`);
    }
    const ok = await budgetStack.gql('{ __typename }');
    assert.deepStrictEqual(ok.json, { data: { __typename: 'Query' } }, ok.text);
    assert.equal((await budgetStack.health('gateway', '/readyz')).status, 200);
  } finally {
    await budgetStack.stop();
  }
});
