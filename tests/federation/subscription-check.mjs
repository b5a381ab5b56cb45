#!/usr/bin/env node
// subscription-check.mjs - one federated subscription, end to end (for the next issue:
// federated subscriptions through Ramjet's pusher).
//
//   node subscription-check.mjs                      # over @mercuriusjs/gateway
//   node subscription-check.mjs --config FILE --http URL --ws URL   # any gateway over
//                                                    # the subgraphs serve.mjs started
//
// Subscribes (graphql-transport-ws) to products' priceChanged with fields of two other
// services (reviews: Product.reviews; inventory: shippingEstimate, which @requires weight),
// runs the setPrice mutation through the gateway, and expects the event completed with
// them. Prints the event; exit 0 when it matches, 1 otherwise.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import WebSocket from 'ws';
import { startAll } from './subgraphs/index.mjs';
import { startMercurius } from './references.mjs';

const args = process.argv.slice(2);
const opt = (n) => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1] : undefined; };
let httpUrl = opt('http');
let wsUrl = opt('ws');
let stop = async () => {};
let services;
if (opt('config')) services = JSON.parse(readFileSync(opt('config'), 'utf8')).services;
if (!httpUrl) {
  const all = services ? null : await startAll();
  const g = await startMercurius(services ?? all.services);
  httpUrl = g.url;
  wsUrl = g.url.replace(/^http/, 'ws');
  stop = async () => { await g.close(); if (all) await all.close(); };
}
const reset = async () => {
  for (const s of services ?? []) await fetch(new URL('/__state/reset', s.url), { method: 'POST' });
};
await reset();

const ws = new WebSocket(wsUrl, 'graphql-transport-ws');
const events = [];
await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
ws.on('message', (m) => events.push(JSON.parse(m)));
ws.send(JSON.stringify({ type: 'connection_init' }));
const until = async (pred, ms) => { const t = Date.now(); while (!pred() && Date.now() - t < ms) await new Promise((r) => setTimeout(r, 20)); };
await until(() => events.some((e) => e.type === 'connection_ack'), 3000);
ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { priceChanged { upc name price { amount currency } reviews { stars } shippingEstimate } }' } }));
await new Promise((r) => setTimeout(r, 300));
const m = await fetch(httpUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'mutation { setPrice(upc: "p2", price: {amount: 99, currency: USD}) { upc } }' }) });
console.log('mutation:', await m.text());
await until(() => events.some((e) => e.type === 'next'), 3000);
ws.close();
await reset();
await stop();

const next = events.find((e) => e.type === 'next');
const want = { data: { priceChanged: { upc: 'p2', name: 'Mechanical keyboard', price: { amount: 99, currency: 'USD' }, reviews: [{ stars: 5 }, { stars: 4 }, { stars: 3 }], shippingEstimate: 8 } } };
console.log('event:', JSON.stringify(next?.payload ?? null));
if (isDeepStrictEqual(next?.payload, want)) { console.log('PASS'); process.exit(0); }
console.log('want: ', JSON.stringify(want));
console.log('FAIL');
process.exit(1);
