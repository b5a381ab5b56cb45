#!/usr/bin/env node
// references.mjs - the two reference gateways, over the same services:
//   mercurius: fastify + mercurius + @mercuriusjs/gateway (subscriptions on, products' wsUrl)
//   apollo:    @apollo/server + @apollo/gateway with IntrospectAndCompose
// Both on 127.0.0.1, free ports, POST <url> with a JSON body.
//
//   startReferences(services) -> {gateways: {mercurius: {url, close}, apollo: {url, close}}, close}
//     `services`: [{name, url, wsUrl?}] (what subgraphs/index.mjs startAll() returns, or a
//     gateway config's "services").
//
// As a program: node references.mjs [CONFIG_PATH] [--ready apollo|mercurius] - with a config
// file, fronts those services; without one, starts the test subgraphs first. Prints one
// JSON line with the URLs; with --ready, starts that one gateway and prints
// "READY graphql=URL" as `ramjet dev` does (a stand-in for testing the oracle's Ramjet path).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import mercuriusGateway from '@mercuriusjs/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ApolloGateway, IntrospectAndCompose } from '@apollo/gateway';

const HOST = '127.0.0.1';

// @mercuriusjs/gateway 5 lets some TypeErrors escape as unhandled rejections (the request
// then never gets an answer). Count them instead of dying: the oracle reports them.
export const escaped = { count: 0, last: null };
export function keepAliveOnEscapes() {
  process.on('unhandledRejection', (e) => { escaped.count += 1; escaped.last = String(e?.stack ?? e).split('\n').slice(0, 3).join(' | '); });
}

export async function startMercurius(services) {
  const app = Fastify({ logger: false });
  await app.register(mercuriusGateway, {
    graphiql: false,
    subscription: true,
    gateway: { services: services.map((s) => ({ name: s.name, url: s.url, ...(s.wsUrl ? { wsUrl: s.wsUrl } : {}) })) },
  });
  await app.listen({ port: 0, host: HOST });
  return { name: 'mercurius', url: `http://${HOST}:${app.server.address().port}/graphql`, close: () => app.close() };
}

export async function startApollo(services) {
  // @apollo/gateway otherwise sends usage metrics to Apollo (an OTLP exporter) and probes
  // cloud metadata endpoints: no traffic leaves this machine.
  process.env.APOLLO_TELEMETRY_DISABLED = 'true';
  const gateway = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({ subgraphs: services.map((s) => ({ name: s.name, url: s.url })) }),
    logger: { debug() {}, info() {}, warn() {}, error: (m) => console.error('[apollo gateway]', m) },
  });
  const server = new ApolloServer({ gateway, includeStacktraceInErrorResponses: false, introspection: true });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: HOST } });
  return { name: 'apollo', url, close: () => server.stop() };
}

export async function startReferences(services) {
  const gateways = { mercurius: await startMercurius(services), apollo: await startApollo(services) };
  return { gateways, close: () => Promise.all(Object.values(gateways).map((g) => g.close())) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  keepAliveOnEscapes();
  const argv = process.argv.slice(2);
  const readyAt = argv.indexOf('--ready');
  const ready = readyAt >= 0 ? argv[readyAt + 1] : null;
  const cfg = argv.find((a, i) => !a.startsWith('--') && i !== readyAt + 1);
  let services;
  let subgraphs = null;
  if (cfg) services = JSON.parse(readFileSync(cfg, 'utf8')).services;
  else {
    const { startAll } = await import('./subgraphs/index.mjs');
    subgraphs = await startAll();
    services = subgraphs.services;
  }
  let gateways;
  let close;
  if (ready) {
    // One gateway only, announced as Ramjet announces itself: a stand-in that tests the
    // oracle's Ramjet path (RAMJET_GATEWAY_CMD='node references.mjs {config} --ready apollo').
    const g = ready === 'mercurius' ? await startMercurius(services) : await startApollo(services);
    process.stdout.write(`READY graphql=${g.url} websocket=-\n`);
    close = g.close;
  } else {
    const refs = await startReferences(services);
    gateways = refs.gateways;
    close = refs.close;
    process.stdout.write(`${JSON.stringify(Object.fromEntries(Object.entries(gateways).map(([k, g]) => [k, g.url])))}\n`);
  }
  const stop = async () => {
    setTimeout(() => process.exit(0), 2000).unref(); // see serve.mjs
    await close();
    if (subgraphs) await subgraphs.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
