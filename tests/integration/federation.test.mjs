// A pure federation gateway (ramjet-gateway --app none --gateway-config) over four real
// @apollo/subgraph services (federation/subgraphs.mjs): the answers, and the requests each
// service received - one _entities call per service and path whatever the list lengths,
// representations deduplicated, @requires fields sent, @provides honoured, variables only
// where used - plus a failing service costing only its fields, and refusals at start.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startSubgraph } from './federation/subgraphs.mjs';
import { buildDir, freePort, waitFor } from './lib/stack.mjs';

const gatewayBin = path.join(buildDir, 'bin', 'ramjet-gateway');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rj-fed-'));
const subs = {};
let gw;

function writeConfig(name, config) {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

/** Starts the gateway; resolves {url, child, log(), stop()} once it answers. */
async function startGateway(configFile, extraArgs = []) {
  const port = await freePort();
  const logFile = path.join(tmp, `gateway-${port}.log`);
  const out = fs.openSync(logFile, 'w');
  const child = spawn(
    gatewayBin,
    ['--app', 'none', '--gateway-config', configFile, '--http-host', '127.0.0.1',
     '--http-port', String(port), '--health-port', '0', ...extraArgs],
    { stdio: ['ignore', out, out] },
  );
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}/graphql`;
  const log = () => fs.readFileSync(logFile, 'utf8');
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`gateway exited: ${log()}`);
      try {
        return (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{__typename}"}' })).ok;
      } catch {
        return false;
      }
    },
    { timeoutMs: 20000, what: 'the gateway to answer' },
  );
  return {
    url,
    child,
    log,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Runs @p fn with a second gateway over @p services (config entries) started with @p args,
 * then stops it and checks it exited 0 (LeakSanitizer's verdict, under ASan).
 */
async function withGateway(name, services, args, fn) {
  const g = await startGateway(writeConfig(`${name}.json`, { services }), args);
  try {
    await fn(g);
  } finally {
    assert.equal((await g.stop()).code, 0, g.log());
  }
}

const ACCOUNTS_AND_PRODUCTS = () => [
  { name: 'accounts', url: subs.accounts.url },
  { name: 'products', url: subs.products.url },
];

async function query(q, variables, url = gw.url) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: q, variables }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

function resetCounts() {
  for (const s of Object.values(subs)) s.requests.length = 0;
}

function counts() {
  return Object.fromEntries(Object.values(subs).map((s) => [s.name, s.requests.length]));
}

before(async () => {
  for (const n of ['accounts', 'products', 'inventory', 'reviews']) subs[n] = await startSubgraph(n);
  const config = writeConfig('gateway.json', {
    services: Object.values(subs).map((s) => ({ name: s.name, url: s.url, mandatory: true })),
  });
  gw = await startGateway(config);
});

after(async () => {
  if (gw) {
    const { code } = await gw.stop();
    assert.equal(code, 0, gw.log());
    assert.doesNotMatch(gw.log(), /open handles/);
  }
  for (const s of Object.values(subs)) await s.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('the composed schema hides federation and answers introspection', async () => {
  resetCounts();
  const r = await query('{ __schema { types { name } } __type(name: "Query") { fields { name } } }');
  const names = r.data.__schema.types.map((t) => t.name);
  for (const hidden of ['_Service', '_Any', '_Entity', '_FieldSet']) assert.ok(!names.includes(hidden), hidden);
  assert.deepEqual(r.data.__type.fields.map((f) => f.name), ['me', 'users', 'failing', 'slow', 'big', 'topProducts']);
  assert.deepEqual(counts(), { accounts: 0, products: 0, inventory: 0, reviews: 0 });
});

test('three levels: one call per service and path, deduplicated, @requires sent, @provides honoured', async () => {
  resetCounts();
  const r = await query(`{ topProducts { name shippingEstimate reviews { body author { name username } } } }`);
  assert.equal(r.errors, undefined);
  assert.deepEqual(r.data.topProducts[0], {
    name: 'Table',
    shippingEstimate: 50,
    reviews: [
      { body: 'Love it!', author: { name: 'Ada Lovelace', username: '@ada' } },
      { body: 'Prefer something else.', author: { name: 'Alan Turing', username: '@alan' } },
    ],
  });
  assert.equal(r.data.topProducts[1].shippingEstimate, 0); // price > 1000: price was sent
  assert.deepEqual(counts(), { accounts: 1, products: 1, inventory: 1, reviews: 1 });
  // Four reviews by two authors: two representations in the one accounts call.
  assert.deepEqual(subs.accounts.requests[0].variables.representations, [
    { __typename: 'User', id: 'u1' },
    { __typename: 'User', id: 'u2' },
  ]);
  assert.deepEqual(subs.inventory.requests[0].variables.representations[0], {
    __typename: 'Product', upc: '1', price: 899, weight: 100,
  });
  // username came with the review (@provides): accounts is asked for name only.
  assert.match(subs.accounts.requests[0].query, /\.\.\. on User \{ name \}/);
});

test('@requires fields another service must give are fetched first, then sent', async () => {
  resetCounts();
  const r = await query('{ me { reviews { product { name shippingEstimate } } } }');
  assert.deepEqual(r, {
    data: { me: { reviews: [{ product: { name: 'Table', shippingEstimate: 50 } }, { product: { name: 'Couch', shippingEstimate: 0 } }] } },
  });
  assert.deepEqual(counts(), { accounts: 1, products: 1, inventory: 1, reviews: 1 });
  assert.deepEqual(subs.inventory.requests[0].variables.representations, [
    { __typename: 'Product', upc: '1', price: 899, weight: 100 },
    { __typename: 'Product', upc: '2', price: 1299, weight: 1000 },
  ]);
});

test('two paths to one service at one level: one request', async () => {
  resetCounts();
  const r = await query('{ me { reviews { body } } topProducts(first: 2) { reviews { author { name } } } }');
  assert.equal(r.errors, undefined);
  assert.deepEqual(r.data.me.reviews, [{ body: 'Love it!' }, { body: 'Too expensive.' }]);
  assert.deepEqual(r.data.topProducts[1].reviews, [{ author: { name: 'Ada Lovelace' } }]);
  assert.deepEqual(counts(), { accounts: 2, products: 1, inventory: 0, reviews: 1 }); // accounts: me, then authors
  assert.match(subs.reviews.requests[0].query, /e0: _entities.*e1: _entities/);
});

test('allowBatchedQueries: a level\'s entity fetches to the service as one array request', async () => {
  const batchedReviews = await startSubgraph('reviews', { batched: true });
  const services = [
    { name: 'accounts', url: subs.accounts.url },
    { name: 'products', url: subs.products.url },
    { name: 'inventory', url: subs.inventory.url },
    { name: 'reviews', url: batchedReviews.url, allowBatchedQueries: true },
  ];
  const q = '{ me { reviews { body } } topProducts(first: 2) { reviews { author { name } } } }';
  try {
    const expected = await query(q); // the main gateway, its reviews not batched
    await withGateway('batched', services, [], async (g) => {
      batchedReviews.requests.length = 0;
      assert.deepEqual(await query(q, undefined, g.url), expected);
      // Two paths to reviews at one level: one request, an array of the two documents.
      assert.equal(batchedReviews.requests.length, 1);
      const [body] = batchedReviews.requests;
      assert.ok(Array.isArray(body), JSON.stringify(body));
      assert.equal(body.length, 2);
      assert.match(body[0].query, /^query\(\$representations: \[_Any!\]!\) \{ _entities\(representations: \$representations\) \{ \.\.\. on User /);
      assert.match(body[1].query, /\.\.\. on Product /);
      assert.deepEqual(body[0].variables.representations, [{ __typename: 'User', id: 'u1' }]);
      assert.deepEqual(body[1].variables.representations, [
        { __typename: 'Product', upc: '1' },
        { __typename: 'Product', upc: '2' },
      ]);
      // A field error inside one operation of the batch keeps its own path.
      batchedReviews.replace(
        `${'type Review @key(fields: "id") { id: ID!  body: String }'}
         extend type User @key(fields: "id") { id: ID! @external  reviews: [Review] }
         extend type Product @key(fields: "upc") { upc: String! @external  reviews: [Review] }`,
        {
          User: { reviews: () => [{ id: 'r1', body: 'mine' }] },
          Product: {
            reviews: () => {
              throw new Error('no reviews here');
            },
          },
        },
      );
      const r = await query('{ me { reviews { body } } topProducts(first: 1) { reviews { body } } }', undefined, g.url);
      assert.deepEqual(r.data, { me: { reviews: [{ body: 'mine' }] }, topProducts: [{ reviews: null }] });
      assert.equal(r.errors.length, 1);
      assert.equal(r.errors[0].message, 'no reviews here');
      assert.deepEqual(r.errors[0].path, ['topProducts', 0, 'reviews']);
      assert.equal(r.errors[0].extensions.serviceName, 'reviews');
      assert.ok(Array.isArray(batchedReviews.requests.at(-1)));
    });
  } finally {
    await batchedReviews.close();
  }
});

test('root fields of two services, aliases, fragments, variables only where used', async () => {
  resetCounts();
  const r = await query(
    `query ($n: Int, $noBody: Boolean!) {
       first: me { ...who }
       top: topProducts(first: $n) { title: name ... on Product { reviews { body @skip(if: $noBody) } } }
     }
     fragment who on User { id handle: username }`,
    { n: 1, noBody: false },
  );
  assert.deepEqual(r, {
    data: {
      first: { id: 'u1', handle: '@ada' },
      top: [{ title: 'Table', reviews: [{ body: 'Love it!' }, { body: 'Prefer something else.' }] }],
    },
  });
  assert.deepEqual(counts(), { accounts: 1, products: 1, inventory: 0, reviews: 1 });
  assert.deepEqual(subs.accounts.requests[0].variables, {});
  assert.deepEqual(subs.products.requests[0].variables, { n: 1 });
  assert.equal(subs.reviews.requests[0].variables.noBody, false);
});

// An interface of one service (shelf) whose implementations, two entities keyed
// differently, get a field from another (critics: `extend interface Item { reviews }`).
const SHELF = {
  typeDefs: `
    extend type Query { items: [Item] }
    interface Item { id: ID!  title: String }
    type Book implements Item @key(fields: "isbn") { isbn: String!  id: ID!  title: String }
    type Desk implements Item @key(fields: "id") { id: ID!  title: String }`,
  resolvers: {
    Query: {
      items: () => [
        { __typename: 'Book', id: 'b1', isbn: 'i1', title: 'SICP' },
        { __typename: 'Desk', id: 'd1', title: 'Oak desk' },
        { __typename: 'Book', id: 'b2', isbn: 'i2', title: 'K&R' },
        { __typename: 'Book', id: 'b1', isbn: 'i1', title: 'SICP' },
      ],
    },
    Item: { __resolveType: (o) => o.__typename },
  },
};
const CRITICS = {
  typeDefs: `
    type Critique { body: String }
    extend interface Item { reviews: [Critique] }
    extend type Book implements Item @key(fields: "isbn") { isbn: String! @external  reviews: [Critique] }
    extend type Desk implements Item @key(fields: "id") { id: ID! @external  reviews: [Critique] }`,
  resolvers: {
    Book: { reviews: (b) => [{ body: `about book ${b.isbn}` }] },
    Desk: { reviews: (d) => [{ body: `about desk ${d.id}` }] },
  },
};

test('an interface field of another service: one _entities request for all implementations', async () => {
  const shelf = await startSubgraph('shelf', SHELF);
  const critics = await startSubgraph('critics', CRITICS);
  try {
    const services = [{ name: 'shelf', url: shelf.url }, { name: 'critics', url: critics.url }];
    await withGateway('iface', services, [], async (g) => {
      const r = await query('{ items { title reviews { body } } }', undefined, g.url);
      assert.deepEqual(r, {
        data: {
          items: [
            { title: 'SICP', reviews: [{ body: 'about book i1' }] },
            { title: 'Oak desk', reviews: [{ body: 'about desk d1' }] },
            { title: 'K&R', reviews: [{ body: 'about book i2' }] },
            { title: 'SICP', reviews: [{ body: 'about book i1' }] },
          ],
        },
      });
      assert.equal(shelf.requests.length, 2); // _service, then the root fetch
      assert.equal(critics.requests.length, 2); // _service, then one _entities request
      assert.match(shelf.requests[1].query, /\.\.\. on Book \{ __typename _rj_isbn: isbn \} \.\.\. on Desk \{ __typename _rj_id: id \}/);
      // Each type under its own key; the repeated book once.
      const sent = Object.entries(critics.requests[1].variables).flatMap(([, v]) => v);
      assert.deepEqual(sent, [
        { __typename: 'Book', isbn: 'i1' },
        { __typename: 'Book', isbn: 'i2' },
        { __typename: 'Desk', id: 'd1' },
      ]);
    });
    // The same services, critics leaving Desk without the field: refused at start.
    const file = writeConfig('iface-bad.json', {
      services: [
        { name: 'shelf', url: shelf.url },
        { name: 'critics', url: critics.url, schema: CRITICS.typeDefs.replace(/extend type Desk.*/, '') },
      ],
    });
    const child = spawn(gatewayBin, ['--app', 'none', '--gateway-config', file, '--http-port', '0', '--health-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    assert.notEqual(await new Promise((resolve) => child.on('exit', resolve)), 0);
    assert.match(err, /interface field Item\.reviews is declared by service critics, but type Desk, which implements Item in service shelf, does not have field reviews/);
  } finally {
    await shelf.close();
    await critics.close();
  }
});

test('mutations run one after another, each with its entities before the next', async () => {
  resetCounts();
  const r = await query(
    `mutation ($body: String!) {
       a: addReview(upc: "3", body: $body) { body product { name } }
       b: setPrice(upc: "3", price: 60) { price }
     }`,
    { body: 'New!' },
  );
  assert.deepEqual(r, { data: { a: { body: 'New!', product: { name: 'Chair' } }, b: { price: 60 } } });
  assert.deepEqual(counts(), { accounts: 0, products: 2, inventory: 0, reviews: 1 });
  assert.match(subs.reviews.requests[0].query, /^mutation\(\$body: String!\) \{ a: addReview/);
  // a's product name (an entity fetch) before b runs: a's answer is complete first.
  assert.match(subs.products.requests[0].query, /_entities/);
  assert.match(subs.products.requests[1].query, /^mutation \{ b: setPrice/);
});

test('a mutation over GET is a 405 naming POST, and reaches no service', async () => {
  resetCounts();
  const get = await fetch(`${gw.url}?query=${encodeURIComponent('mutation { b: setPrice(upc: "3", price: 1) { price } }')}`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  assert.equal((await get.json()).errors[0].extensions.code, 'InvalidProtocolError');
  assert.deepEqual(counts(), { accounts: 0, products: 0, inventory: 0, reviews: 0 });
});

test('a failing field costs only itself', async () => {
  resetCounts();
  const r = await query('{ me { name } failing }');
  assert.deepEqual(r.data, { me: { name: 'Ada Lovelace' }, failing: null });
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0].message, 'accounts failed on purpose');
  assert.deepEqual(r.errors[0].path, ['failing']);
  assert.equal(r.errors[0].extensions.serviceName, 'accounts');
});

test('a service answering HTML with 500 costs only its fields; HTTP 200', async () => {
  const down = await startSubgraph('inventory', { down: true });
  const inventorySdl = fs.readFileSync(new URL('./federation/subgraphs.mjs', import.meta.url), 'utf8').match(/inventory: \{\n\s+typeDefs: `([^`]*)`/)[1];
  const services = [
    { name: 'products', url: subs.products.url },
    { name: 'inventory', url: down.url, schema: inventorySdl },
  ];
  try {
    await withGateway('down', services, [], async (g2) => {
      const r = await query('{ topProducts(first: 2) { name inStock } }', undefined, g2.url); // HTTP 200 checked there
      assert.deepEqual(r.data, { topProducts: [{ name: 'Table', inStock: null }, { name: 'Couch', inStock: null }] });
      assert.equal(r.errors.length, 1);
      assert.equal(r.errors[0].extensions.serviceName, 'inventory');
      assert.deepEqual(r.errors[0].path, ['topProducts', 0]);
      assert.equal(down.requests.length, 1); // the schema came from the configuration
    });
  } finally {
    await down.close();
  }
});

test('a service slower than federation-timeout-ms costs only its fields; no hang', () =>
  withGateway('slow', ACCOUNTS_AND_PRODUCTS(), ['--federation-timeout-ms', '500'], async (g2) => {
    const t0 = Date.now();
    const r = await query('{ slow topProducts(first: 1) { name } }', undefined, g2.url); // HTTP 200 checked there
    assert.ok(Date.now() - t0 < 2500, 'answered before the slow service');
    assert.deepEqual(r.data, { slow: null, topProducts: [{ name: 'Table' }] });
    assert.equal(r.errors[0].message, 'service accounts did not answer within 500 ms');
    assert.equal(r.errors[0].extensions.serviceName, 'accounts');
  }));

test('budget-ms bounds the whole operation: what there is, with a TimeoutError', () =>
  withGateway('budget', ACCOUNTS_AND_PRODUCTS(), ['--budget-ms', '300'], async (g2) => {
    const t0 = Date.now();
    const r = await query('{ slow topProducts(first: 1) { name } }', undefined, g2.url);
    assert.ok(Date.now() - t0 < 2000, 'answered at the budget, not after the slow service');
    assert.deepEqual(r.data, { slow: null, topProducts: [{ name: 'Table' }] });
    assert.deepEqual(r.errors.map((e) => e.extensions.code), ['TimeoutError']);
  }));

test('one plan per document and operation name, cached; /metrics counts them', async () => {
  const health = await freePort();
  await withGateway('plans', ACCOUNTS_AND_PRODUCTS(), ['--health-port', String(health)], async (g2) => {
    const doc = 'query A { me { name } } query B { topProducts(first: 1) { name } }';
    for (let i = 0; i < 3; i++) {
      await fetch(g2.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: doc, operationName: 'A' }) });
      await fetch(g2.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: doc, operationName: 'B' }) });
    }
    const metrics = await (await fetch(`http://127.0.0.1:${health}/metrics`)).text();
    assert.match(metrics, /^ramjet_federation_plans_total 3$/m); // A, B and startGateway's probe
    assert.match(metrics, /^ramjet_federation_fetches_total 6$/m);
    assert.match(metrics, /^ramjet_federation_fetch_failures_total 0$/m);
  });
});

test('a url array is used round robin, a URL refusing connections skipped', async () => {
  const dead = `http://127.0.0.1:${await freePort()}/graphql`; // nothing listens there
  const services = [{ name: 'accounts', url: [dead, subs.accounts.url], schema: 'extend type Query { me: User }\ntype User @key(fields: "id") { id: ID!  name: String }' }];
  await withGateway('urls', services, [], async (g2) => {
    resetCounts();
    for (let i = 0; i < 4; i++) assert.deepEqual(await query('{ me { name } }', undefined, g2.url), { data: { me: { name: 'Ada Lovelace' } } });
    assert.equal(subs.accounts.requests.length, 4);
    // Refused once, then rested: round robin alone would have tried it twice in four.
    assert.equal(g2.log().match(/trying its next URL/g).length, 1);
  });
});

test('answers past max-response-bytes cost their service\'s fields', () =>
  withGateway('big', ACCOUNTS_AND_PRODUCTS(), ['--max-response-bytes', '50000'], async (g2) => {
    const r = await query('{ big topProducts(first: 1) { name } }', undefined, g2.url); // HTTP 200 checked there
    assert.deepEqual(r.data, { big: null, topProducts: [{ name: 'Table' }] });
    assert.match(r.errors[0].message, /answers to this operation passed 50000 bytes/);
  }));

test('pollingInterval: a changed schema replaces the composition for new requests', async () => {
  const sub = await startSubgraph('versions', {
    typeDefs: 'extend type Query { v1: Int }',
    resolvers: { Query: { v1: () => 1 } },
  });
  try {
    const config = writeConfig('polling.json', { services: [{ name: 'versions', url: sub.url }], pollingInterval: 100 });
    const g = await startGateway(config);
    try {
      assert.deepEqual(await query('{ v1 }', undefined, g.url), { data: { v1: 1 } });
      assert.match((await query('{ v2 }', undefined, g.url)).errors[0].message, /Cannot query field "v2"/);
      sub.replace('extend type Query { v1: Int  v2: String }', { Query: { v1: () => 1, v2: () => 'two' } });
      await waitFor(async () => (await query('{ v2 }', undefined, g.url)).data?.v2 === 'two', { timeoutMs: 5000, what: 'the new composition' });
      assert.match(g.log(), /composition replaced/);
    } finally {
      assert.equal((await g.stop()).code, 0, g.log()); // LeakSanitizer, under ASan
    }
  } finally {
    await sub.close();
  }
});

test('connections bounds a service\'s pool; keep-alive connections are reused', async () => {
  const sub = await startSubgraph('pool', {
    typeDefs: 'extend type Query { wait: Int }',
    resolvers: { Query: { wait: () => new Promise((resolve) => setTimeout(() => resolve(1), 50)) } },
  });
  try {
    await withGateway('pool', [{ name: 'pool', url: sub.url, connections: 1 }], [], async (g2) => {
      const answers = await Promise.all([1, 2, 3, 4, 5, 6].map(() => query('{ wait }', undefined, g2.url)));
      for (const a of answers) assert.deepEqual(a, { data: { wait: 1 } });
      assert.equal(sub.sockets.peak, 1); // six requests, one connection at a time
      assert.equal(sub.sockets.total, 2); // the schema read at start, then one kept alive
    });
  } finally {
    await sub.close();
  }
});

test('ramjet dev --app none runs only the gateway and prints the READY line', async () => {
  const config = writeConfig('dev.json', {
    services: Object.values(subs).map((s) => ({ name: s.name, url: s.url })),
  });
  const [httpPort, healthBase] = [await freePort(), await freePort()];
  const child = spawn(
    path.join(buildDir, 'bin', 'ramjet'),
    ['dev', '--app', 'none', '--gateway-config', config, '--http-port', String(httpPort),
     '--health-port-base', String(healthBase), '--data-dir', path.join(tmp, 'dev')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(() => out.includes('\n'), { timeoutMs: 20000, what: 'the READY line' });
    assert.equal(out, `READY graphql=http://127.0.0.1:${httpPort}/graphql websocket=none graphiql=http://127.0.0.1:${httpPort}/graphiql\n`);
    assert.doesNotMatch(err, /postgres|redis|devbroker/i);
    const res = await fetch(`http://127.0.0.1:${httpPort}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { name reviews { body } } }' }),
    });
    assert.deepEqual(await res.json(), {
      data: { me: { name: 'Ada Lovelace', reviews: [{ body: 'Love it!' }, { body: 'Too expensive.' }] } },
    });
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, err);
});

test('a bad configuration or composition refuses the start, naming the culprit', async () => {
  const cases = [
    [{ services: [{ name: 'a', url: subs.accounts.url, mandatroy: true }] }, /services\[0\]\.mandatroy: unknown key/],
    [{ services: [{ name: 'a', url: subs.accounts.url }, { name: 'a', url: subs.products.url }] }, /duplicate service name "a"/],
    [
      { services: [{ name: 'a', url: subs.accounts.url }, { name: 'b', url: subs.products.url, schema: 'extend type Query { me: Int }' }] },
      /Query\.me is resolved by both service a and service b/,
    ],
  ];
  for (const [config, message] of cases) {
    const file = writeConfig('bad.json', config);
    const child = spawn(gatewayBin, ['--app', 'none', '--gateway-config', file, '--http-port', '0', '--health-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.notEqual(code, 0);
    assert.match(err, message);
  }
});
