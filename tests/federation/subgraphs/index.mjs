// index.mjs - start every test subgraph. startAll({ports}) -> {services, close, resetCounts,
// resetState, counts}. `services` is in configuration order, the order the gateways compose
// root fields in: accounts, products, reviews, inventory.
import * as accounts from './accounts.mjs';
import * as products from './products.mjs';
import * as reviews from './reviews.mjs';
import * as inventory from './inventory.mjs';

export const SUBGRAPHS = { accounts, products, reviews, inventory };

export async function startAll({ ports = {} } = {}) {
  const services = [];
  for (const [name, mod] of Object.entries(SUBGRAPHS)) services.push(await mod.start({ port: ports[name] ?? 0 }));
  return {
    services,
    byName: Object.fromEntries(services.map((s) => [s.name, s])),
    counts: () => Object.fromEntries(services.map((s) => [s.name, s.counts()])),
    resetCounts: () => services.forEach((s) => s.resetCounts()),
    close: () => Promise.all(services.map((s) => s.close())),
  };
}

// A Mercurius-style gateway configuration for these services (what --gateway-config reads).
export function gatewayConfig(services) {
  return { services: services.map((s) => ({ name: s.name, url: s.url, ...(s.name === 'products' ? { wsUrl: s.wsUrl } : {}) })) };
}
