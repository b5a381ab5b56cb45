import { startAll } from '/work/wt/fedtests/tests/federation/subgraphs/index.mjs';
import { startReferences } from '/work/wt/fedtests/tests/federation/references.mjs';
const all = await startAll();
const refs = await startReferences(all.services);
const q = process.argv[2];
for (const [k, g] of Object.entries(refs.gateways)) {
  all.resetCounts();
  const r = await fetch(g.url, {method:'POST', headers:{'content-type':'application/json'}, body: JSON.stringify({query:q})});
  console.log(k, r.status, JSON.stringify(await r.json()).slice(0, 1500));
  for (const [n, c] of Object.entries(all.counts())) for (const e of c.log) console.log('  ', n, e.kind, e.query.replace(/\s+/g,' ').slice(0, 300), JSON.stringify(e.variables)?.slice(0, 300));
}
await refs.close(); await all.close();
