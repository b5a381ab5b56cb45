// GraphiQL, served by the gateway itself (no CDN): the page, its vendored assets, and a
// real browser (headless Chromium, driven over the DevTools protocol with the `ws`
// package) that loads the page, runs a mutation from the editor against the running stack
// and shows its result. Needs Debian's chromium (scripts/deps installs it); CHROMIUM
// names another binary.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import WebSocket from 'ws';
import { itest, itestStopsCleanly, startStack, waitFor } from './lib/stack.mjs';

const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

let stack;
before(async () => {
  // ramjet dev tells the gateway where the pusher is (RAMJET_GRAPHIQL_WS_URL).
  stack = await startStack({ name: 'graphiql' });
});
after(async () => {
  await stack?.stop();
});

const base = () => stack.urls.graphql.replace(/\/graphql$/, '');

itest('GET /graphiql and GET /graphql for browsers serve the page, pointing at the pusher', async () => {
  for (const [p, headers] of [['/graphiql', {}], ['/graphiql/', {}], ['/graphql', { accept: 'text/html,application/xhtml+xml' }]]) {
    const r = await fetch(base() + p, { headers });
    assert.equal(r.status, 200, p);
    assert.match(r.headers.get('content-type'), /^text\/html/, p);
    const html = await r.text();
    assert.match(html, /<script src="\/graphiql\/assets\/graphiql\.min\.js"><\/script>/);
    assert.ok(html.includes(JSON.stringify(stack.urls.websocket)),
      `the pusher's URL ${stack.urls.websocket} is in the page`);
    assert.doesNotMatch(html, /unpkg|jsdelivr|cdn/i, 'nothing is loaded from a CDN');
  }
  // A GraphQL client's GET without a query gets a JSON 400 saying what to send (GET runs
  // queries, transport.test.mjs), and POST still works.
  const get = await fetch(`${base()}/graphql`, { headers: { accept: 'application/json' } });
  assert.equal(get.status, 400);
  assert.match(get.headers.get('content-type'), /^application\/json/);
  const post = await stack.gql('{ __typename }');
  assert.deepStrictEqual(post.json, { data: { __typename: 'Query' } });
});

itest('the assets are served from the vendored files, and only those', async () => {
  const expected = {
    'graphiql.min.js': /javascript/, 'graphiql.min.css': /text\/css/,
    'react.production.min.js': /javascript/, 'react-dom.production.min.js': /javascript/,
  };
  for (const [name, type] of Object.entries(expected)) {
    const r = await fetch(`${base()}/graphiql/assets/${name}`);
    assert.equal(r.status, 200, name);
    assert.match(r.headers.get('content-type'), type, name);
    assert.ok((await r.arrayBuffer()).byteLength > 1000, `${name} has content`);
  }
  for (const p of ['/graphiql/assets/nope.js', '/graphiql/assets/../../etc/passwd', '/graphiql/assets/']) {
    const r = await fetch(base() + p);
    assert.ok(r.status === 404, `${p} answered ${r.status}`);
  }
});

/** A headless Chromium with its DevTools endpoint; close() ends it. */
async function launchChromium() {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'ramjet-chromium-'));
  const child = spawn(chromiumPath, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--disable-dev-shm-usage',
    `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${stderr}`)), 30000);
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`chromium exited with ${code}:\n${stderr}`)));
  });
  // Chromium's helper processes may still write to the profile right after the kill:
  // wait for the browser to exit, then retry the removal.
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const close = async () => {
    child.kill('SIGKILL');
    await exited;
    await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  return { endpoint, close };
}

/** A DevTools protocol session on one page target. */
async function openPage(browserEndpoint, url) {
  const { host } = new URL(browserEndpoint);
  const r = await fetch(`http://${host}/json/new?${encodeURI(url)}`, { method: 'PUT' });
  const target = await r.json();
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let id = 0;
  const pending = new Map();
  socket.on('message', (raw) => {
    const msg = JSON.parse(raw.toString());
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  const send = (method, params = {}) => new Promise((resolve) => {
    id += 1;
    pending.set(id, resolve);
    socket.send(JSON.stringify({ id, method, params }));
  });
  /** Evaluates @p expression in the page; resolves its (JSON-able) value. */
  const evaluate = async (expression) => {
    const res = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (res.result?.exceptionDetails) throw new Error(JSON.stringify(res.result.exceptionDetails));
    return res.result?.result?.value;
  };
  return { evaluate, close: () => socket.close() };
}

itest('a query typed into GraphiQL runs against the stack and its result is shown', { timeout: 120000 }, async () => {
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install chromium`);
  const browser = await launchChromium();
  try {
    const query = 'mutation { ChangeCartItem(input: {cartId: "graphiql-c1", productId: "p1", quantity: 3}) }';
    const page = await openPage(browser.endpoint, `${base()}/graphiql?query=${encodeURIComponent(query)}`);
    try {
      // The IDE has rendered and loaded the schema by introspection (the docs button works
      // only then), and the editor holds the query from the URL.
      await waitFor(async () => page.evaluate(
        "!!document.querySelector('.graphiql-execute-button') && !!document.querySelector('.graphiql-query-editor')",
      ), { what: 'GraphiQL to render', timeoutMs: 60000 });
      await waitFor(async () => (await page.evaluate(
        "document.querySelector('.graphiql-query-editor').innerText",
      ))?.includes('ChangeCartItem'), { what: 'the query from the URL in the editor' });

      await page.evaluate("document.querySelector('.graphiql-execute-button').click()");
      let shown = '';
      await waitFor(async () => {
        shown = (await page.evaluate("document.querySelector('.graphiql-response')?.innerText ?? ''")) || '';
        return /"ChangeCartItem":\s*true/.test(shown);
      }, { what: 'the result in the response pane', timeoutMs: 30000 }).catch((e) => {
        throw new Error(`${e.message}; the response pane shows: ${shown}`);
      });

      // The schema came from the gateway's introspection: the doc explorer lists the roots.
      await page.evaluate("document.querySelector('[aria-label=\"Show Documentation Explorer\"]')?.click()");
      await waitFor(async () => (await page.evaluate(
        "document.querySelector('.graphiql-doc-explorer')?.innerText ?? ''",
      )).includes('Mutation'), { what: 'the documentation explorer to show the schema' });
    } finally {
      page.close();
    }
  } finally {
    await browser.close();
  }
});

itestStopsCleanly(() => stack);
