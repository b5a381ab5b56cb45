#!/usr/bin/env node
// hive.mjs CONFIG - @graphql-hive/gateway (its runtime, as a Node HTTP server) over the
// services of a Ramjet/Mercurius gateway config, for scripts/bench --federation.
//
// Hive Gateway serves a supergraph; it does not introspect subgraphs itself outside its
// CLI's dev mode. So this script does what `hive-gateway supergraph --dev-service` does:
// fetch each service's `{ _service { sdl } }`, compose them with the Guild's composition
// library (the one Hive Gateway ships), and hand the supergraph to the runtime. Inbound
// in-flight deduplication stays off (its default): wrk sends identical requests, and
// deduplicating them would measure a cache, not a gateway.
//
// Prints "READY graphql=URL websocket=-" as `ramjet dev` does.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { composeServices } from '@theguild/federation-composition';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';

const cfg = process.argv[2];
if (!cfg) {
  console.error('usage: node hive.mjs CONFIG');
  process.exit(2);
}
const services = JSON.parse(readFileSync(cfg, 'utf8')).services;

async function sdlOf(s) {
  const url = Array.isArray(s.url) ? s.url[0] : s.url;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
  });
  const body = await res.json();
  if (!body?.data?._service?.sdl) throw new Error(`${s.name}: no _service.sdl in ${JSON.stringify(body).slice(0, 200)}`);
  return { name: s.name, url, typeDefs: parse(body.data._service.sdl) };
}

const composed = composeServices(await Promise.all(services.map(sdlOf)));
if (composed.errors?.length) {
  console.error(`composition failed:\n${composed.errors.map((e) => e.message).join('\n')}`);
  process.exit(1);
}
const gateway = createGatewayRuntime({
  supergraph: composed.supergraphSdl,
  graphqlEndpoint: '/graphql',
  logging: 'error',
  maskedErrors: false,
  landingPage: false,
  inboundInflightRequestDeduplication: false,
});
const server = createServer(gateway);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY graphql=http://127.0.0.1:${server.address().port}/graphql websocket=-\n`);
});
const stop = () => {
  setTimeout(() => process.exit(0), 2000).unref();
  server.close(() => gateway.dispose().finally(() => process.exit(0)));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
