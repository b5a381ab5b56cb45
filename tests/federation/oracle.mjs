#!/usr/bin/env node
// oracle.mjs - differential test of federation gateways over the test subgraphs.
//
//   node oracle.mjs [--count N] [--seed S] [--ramjet URL] [--config FILE] [--report DIR]
//                   [--only ID] [--verbose]
//
// Env: FED_ORACLE_SEED, FED_ORACLE_COUNT, RAMJET_GATEWAY_URL (same as the flags).
//
// Starts the test subgraphs (or, with --config, uses the running ones a Mercurius-style
// gateway config lists, e.g. the file serve.mjs wrote), the two reference gateways
// (@mercuriusjs/gateway and @apollo/gateway, references.mjs) in front of them, and sends
// every case - the hand-written corpus (corpus.mjs) and N seeded generated documents
// (generate.mjs) - to every gateway under test. Before each mutation case, and before
// sending it to each gateway, the subgraphs' state is reset (POST /__state/reset), so that
// every gateway sees the same data.
//
// Verdicts:
//   - a document both references reject as a request (no data, or only errors without a
//     path) is a generator bug: FAIL;
//   - every difference between the references must be explained by an entry of the
//     decisions table (decisions.mjs), which also says which side is right; an
//     unexplained difference: FAIL;
//   - with a Ramjet URL: Ramjet's answer must equal the right answer - the references'
//     common answer, or the side the decisions name (a case whose differences name
//     different sides, or "neither", is counted as unjudged and listed);
//   - the plan checks (plan.mjs: requests counted by the subgraphs) are reported for
//     every gateway and asserted for Ramjet only.
// The report (report.json and report.md in --report DIR, default ./report) has the counts,
// and examples of each disagreement class. Exit status 0 when nothing failed.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildClientSchema, getIntrospectionQuery } from 'graphql';
import { startAll } from './subgraphs/index.mjs';
import { escaped, keepAliveOnEscapes, startReferences } from './references.mjs';
import { generateCases } from './generate.mjs';
import corpus from './corpus.mjs';
import { diff, diffBySpec, normalise, requestFailed } from './compare.mjs';
import { DECISIONS, explain, tolerated } from './decisions.mjs';
import { PLAN_CHECKS } from './plan.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : dflt; };
const count = Number(opt('count', process.env.FED_ORACLE_COUNT ?? '300'));
const seed = Number(opt('seed', process.env.FED_ORACLE_SEED ?? '20260611'));
const ramjetUrl = opt('ramjet', process.env.RAMJET_GATEWAY_URL || '');
const configPath = opt('config');
const reportDir = resolve(opt('report', join(here, 'report')));
const only = opt('only');
const verbose = args.includes('--verbose');

keepAliveOnEscapes();

async function post(url, payload, timeoutMs = 5000) {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let body;
    try { body = JSON.parse(text); } catch { body = undefined; }
    return { status: res.status, text, body };
  } catch (e) {
    return { status: 0, text: String(e), body: undefined };
  }
}

// ---- set-up -------------------------------------------------------------------------------

if (ramjetUrl && !configPath) {
  console.error('--ramjet / RAMJET_GATEWAY_URL needs --config FILE: the gateway config of the subgraphs that gateway fronts (node serve.mjs FILE); or use ./run with RAMJET_GATEWAY_CMD');
  process.exit(2);
}
let subgraphs = null;
let services;
if (configPath) services = JSON.parse(readFileSync(configPath, 'utf8')).services;
else { subgraphs = await startAll(); services = subgraphs.services.map((s) => ({ name: s.name, url: s.url, wsUrl: s.wsUrl })); }
const control = (s, p) => new URL(p, s.url).toString();
const resetState = () => Promise.all(services.map((s) => fetch(control(s, '/__state/reset'), { method: 'POST' })));
const resetCounts = () => Promise.all(services.map((s) => fetch(control(s, '/__counts/reset'), { method: 'POST' })));
const readCounts = async () => Object.fromEntries(await Promise.all(services.map(async (s) => [s.name, await (await fetch(control(s, '/__counts'))).json()])));

const refs = await startReferences(services);
const gateways = { mercurius: refs.gateways.mercurius.url, apollo: refs.gateways.apollo.url };
if (ramjetUrl) gateways.ramjet = ramjetUrl;
const shutdown = async () => { await refs.close(); if (subgraphs) await subgraphs.close(); };

const intro = await post(gateways.apollo, { query: getIntrospectionQuery() });
if (!intro.body?.data) { console.error('cannot introspect the Apollo gateway:', intro.text); await shutdown(); process.exit(2); }
const schema = buildClientSchema(intro.body.data);

const generated = generateCases(schema, { count, seed });
let cases = [...corpus.map((c) => ({ ...c, id: `corpus-${c.id}` })), ...generated.cases];
if (only) cases = cases.filter((c) => c.id.includes(only));

// ---- the run ------------------------------------------------------------------------------

const report = {
  seed, count, gateways, cases: cases.length, generatedInvalidSkipped: generated.invalid,
  agree: 0, explained: 0, unexplained: [], generatorBugs: [], byDecision: {},
  ramjet: ramjetUrl ? { agree: 0, wrong: [], unjudged: [] } : null,
  plans: [],
  mercuriusEscapedRejections: 0,
};
const failures = [];

const clip = (s, n = 1200) => (s && s.length > n ? `${s.slice(0, n)}...` : s);

for (const c of cases) {
  const payload = { query: c.query, ...(c.variables ? { variables: c.variables } : {}), ...(c.operationName ? { operationName: c.operationName } : {}) };
  const answers = {};
  for (const [name, url] of Object.entries(gateways)) {
    if (c.mutation) await resetState();
    answers[name] = normalise(await post(url, payload));
  }
  if (c.mutation) await resetState();
  const m = answers.mercurius;
  const a = answers.apollo;

  // Both references reject the document the same way: the generator made a bad document.
  // (Two different failures, each a known bug of its gateway, are a disagreement like others.)
  const sameFailure = () => JSON.stringify(a.errors.map((e) => e.message).sort()) === JSON.stringify(m.errors.map((e) => e.message).sort());
  if (requestFailed(m) && requestFailed(a) && (sameFailure() || !diff(a, m).length)) {
    const e = { id: c.id, query: c.query, variables: c.variables, operationName: c.operationName, mercurius: m, apollo: a };
    report.generatorBugs.push(e);
    failures.push(`${c.id}: both references reject the document the same way (a generator bug?): ${clip(a.errors[0]?.message ?? a.raw ?? '', 200)}`);
    continue;
  }
  // Differences, in the order (apollo, mercurius): "a" is Apollo's side, "b" Mercurius's.
  const items = diff(a, m);
  let right = null; // the expected answer for Ramjet
  let unjudged = false;
  if (!items.length) {
    report.agree += 1;
    right = a;
  } else {
    const ctx = { case: c, apollo: a, mercurius: m, schema };
    const unexplainedItems = [];
    const sides = new Set();
    const used = new Set();
    const fixes = [];
    for (const it of items) {
      const d = explain(it, ctx);
      if (!d) { unexplainedItems.push(it); continue; }
      if (d.fix && !used.has(d.id)) fixes.push(d.fix);
      used.add(d.id);
      sides.add(d.right);
    }
    for (const id of used) {
      const b = (report.byDecision[id] ??= { cases: 0, examples: [] });
      b.cases += 1;
      if (b.examples.length < 3) b.examples.push({ id: c.id, query: clip(c.query), variables: c.variables, operationName: c.operationName, items: items.slice(0, 4) });
    }
    if (unexplainedItems.length) {
      report.unexplained.push({ id: c.id, query: c.query, variables: c.variables, operationName: c.operationName, items: unexplainedItems.slice(0, 6), apollo: a, mercurius: m });
      failures.push(`${c.id}: ${unexplainedItems.length} unexplained difference(s) between Apollo and Mercurius`);
      unjudged = true;
    } else {
      report.explained += 1;
      // The right answer: the side every decision names ("neither" items are tolerated
      // when Ramjet is compared with it); decisions naming both sides: unjudged.
      sides.delete('neither');
      if (sides.size === 0 || (sides.size === 1 && sides.has('apollo'))) right = a;
      else if (sides.size === 1 && sides.has('mercurius')) right = m;
      else unjudged = true;
      for (const fix of fixes) if (right) right = fix(right);
    }
  }
  if (ramjetUrl) {
    const r = answers.ramjet;
    if (unjudged || !right) report.ramjet.unjudged.push(c.id);
    else {
      const ctx = { case: c, apollo: right, mercurius: r, schema };
      // Errors the references agree on but place wrongly are judged by the spec (compare.mjs).
      const d = diffBySpec(right, r).filter((it) => !tolerated(it, ctx));
      if (!d.length) report.ramjet.agree += 1;
      else {
        report.ramjet.wrong.push({ id: c.id, query: c.query, variables: c.variables, operationName: c.operationName, items: d.slice(0, 6), expected: right, ramjet: r });
        failures.push(`${c.id}: Ramjet's answer differs from the right one (${d.length} difference(s))`);
      }
    }
  }
  if (verbose) console.log(c.id, items.length ? `${items.length} difference(s)` : 'agree');
}

// ---- plan checks: what the subgraphs received ----------------------------------------------

for (const p of PLAN_CHECKS) {
  const row = { id: p.id, what: p.what, gateways: {} };
  for (const [name, url] of Object.entries(gateways)) {
    await resetCounts();
    const res = normalise(await post(url, { query: p.query, ...(p.variables ? { variables: p.variables } : {}) }));
    const counts = await readCounts();
    const problems = p.check(counts, res);
    row.gateways[name] = {
      ok: problems.length === 0, problems,
      requests: Object.fromEntries(Object.entries(counts).map(([s, x]) => [s, { root: x.root, entities: x.entities.calls, representations: x.entities.representations }])),
    };
    if (name === 'ramjet' && problems.length) failures.push(`plan ${p.id}: ${problems.join('; ')}`);
  }
  report.plans.push(row);
}

await shutdown();
report.mercuriusEscapedRejections = escaped.count;
if (escaped.count) report.mercuriusLastEscape = escaped.last;

// ---- report -------------------------------------------------------------------------------

mkdirSync(reportDir, { recursive: true });
writeFileSync(join(reportDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
const md = [];
md.push('# Federation oracle report', '');
md.push(`Seed ${seed}, ${cases.length} cases (${corpus.length} hand-written, ${generated.cases.length} generated), gateways: ${Object.keys(gateways).join(', ')}.`, '');
md.push(`- Mercurius and Apollo agree: ${report.agree}`);
md.push(`- differ, every difference explained by a decision: ${report.explained}`);
md.push(`- differ, unexplained: ${report.unexplained.length}`);
md.push(`- rejected by both (generator bugs): ${report.generatorBugs.length}`);
md.push(`- unhandled rejections escaped from the in-process gateways (their requests time out): ${escaped.count}`);
if (report.ramjet) md.push(`- Ramjet: ${report.ramjet.agree} right, ${report.ramjet.wrong.length} wrong, ${report.ramjet.unjudged.length} unjudged`);
md.push('', '## Disagreements by decision', '', '| decision | cases | right | why |', '|---|---|---|---|');
for (const d of DECISIONS) md.push(`| ${d.id} | ${report.byDecision[d.id]?.cases ?? 0} | ${d.right} | ${d.why.replace(/\n/g, ' ')} |`);
md.push('', '## Plan checks (requests the subgraphs received: root / _entities calls / representations)', '');
for (const p of report.plans) {
  md.push(`### ${p.id}: ${p.what}`, '');
  for (const [g, r] of Object.entries(p.gateways)) {
    md.push(`- ${g}: ${r.ok ? 'ok' : `NOT MET: ${r.problems.join('; ')}`} - ${Object.entries(r.requests).map(([s, x]) => `${s} ${x.root}/${x.entities}/${x.representations}`).join(', ')}`);
  }
  md.push('');
}
md.push('## Examples', '');
for (const [id, b] of Object.entries(report.byDecision)) {
  md.push(`### ${id}`, '');
  for (const e of b.examples.slice(0, 2)) md.push('```graphql', e.query, '```', `variables: ${JSON.stringify(e.variables ?? null)}, operationName: ${e.operationName ?? '-'}`, '', '```json', JSON.stringify(e.items, null, 1).slice(0, 1500), '```', '');
}
for (const w of report.ramjet?.wrong.slice(0, 10) ?? []) {
  md.push(`### RAMJET WRONG ${w.id}`, '', '```graphql', w.query, '```', `variables: ${JSON.stringify(w.variables ?? null)}, operationName: ${w.operationName ?? '-'}`, '', '```json', JSON.stringify(w.items, null, 1).slice(0, 3000), '```', '');
}
for (const u of report.unexplained.slice(0, 5)) {
  md.push(`### UNEXPLAINED ${u.id}`, '', '```graphql', u.query, '```', '```json', JSON.stringify(u.items, null, 1).slice(0, 3000), '```', '');
}
writeFileSync(join(reportDir, 'report.md'), `${md.join('\n')}\n`);

console.log(`federation oracle: seed ${seed}, ${cases.length} cases; references agree on ${report.agree}, differ as decided on ${report.explained}, unexplained ${report.unexplained.length}, generator bugs ${report.generatorBugs.length}`);
for (const [id, b] of Object.entries(report.byDecision)) console.log(`  decision ${id}: ${b.cases} case(s)`);
if (report.ramjet) console.log(`  ramjet: ${report.ramjet.agree} right, ${report.ramjet.wrong.length} wrong, ${report.ramjet.unjudged.length} unjudged`);
for (const p of report.plans) console.log(`  plan ${p.id}: ${Object.entries(p.gateways).map(([g, r]) => `${g} ${r.ok ? 'ok' : 'not met'}`).join(', ')}`);
console.log(`  report: ${join(reportDir, 'report.md')}`);
// The last line, as scripts/test counts a plain suite: "N passed, N failed" - one per case,
// plus one per plan check when Ramjet is tested.
const failedIds = new Set(failures.map((f) => f.split(':')[0]));
const total = cases.length + (ramjetUrl ? PLAN_CHECKS.length : 0);
if (failures.length) {
  console.log(`FAIL (${failures.length}):`);
  for (const f of failures.slice(0, 30)) console.log(`  ${f}`);
  if (failures.length > 30) console.log(`  ... and ${failures.length - 30} more`);
} else console.log('PASS');
console.log(`${total - failedIds.size} passed, ${failedIds.size} failed`);
process.exit(failures.length ? 1 : 0);
