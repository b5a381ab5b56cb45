#!/usr/bin/env node
// serve.mjs - start the test subgraphs on free ports (127.0.0.1), write a Mercurius-style
// gateway configuration for them, print one JSON line, and serve until SIGINT/SIGTERM.
//
//   node serve.mjs [CONFIG_PATH] [--with-references]
//
// CONFIG_PATH (default: none written) receives {"services":[{"name","url"[,"wsUrl"]},...]},
// the file Ramjet's gateway reads with --gateway-config. The printed line is
//   {"services":{"accounts":URL,...},"config":PATH[,"gateways":{"mercurius":URL,"apollo":URL}]}
// With --with-references the two npm reference gateways are started too (references.mjs).
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gatewayConfig, startAll } from './subgraphs/index.mjs';
import { keepAliveOnEscapes, startReferences } from './references.mjs';

const args = process.argv.slice(2);
const withRefs = args.includes('--with-references');
const configPath = args.find((a) => !a.startsWith('--'));

if (withRefs) keepAliveOnEscapes();
const all = await startAll();
let refs = null;
if (configPath) writeFileSync(resolve(configPath), `${JSON.stringify(gatewayConfig(all.services), null, 2)}\n`);
if (withRefs) refs = await startReferences(all.services);
const line = { services: Object.fromEntries(all.services.map((s) => [s.name, s.url])), config: configPath ? resolve(configPath) : null };
if (refs) line.gateways = Object.fromEntries(Object.entries(refs.gateways).map(([k, g]) => [k, g.url]));
process.stdout.write(`${JSON.stringify(line)}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  // A server that will not close (a client keeping a connection open) must not keep the
  // process alive: give the orderly close two seconds.
  setTimeout(() => process.exit(0), 2000).unref();
  if (refs) await refs.close();
  await all.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
