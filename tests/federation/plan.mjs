// plan.mjs - plan checks: what a gateway's plan must ask of each subgraph (issue 11,
// "Query planning and execution"), asserted from the requests the subgraphs count.
//
// Each check: {id, what, query, variables?, check(counts, answer) -> [problem, ...]}, where
// counts = {service: GET /__counts} after the query alone (counters reset before it).
// The oracle runs each against every gateway, reports all, and fails only on Ramjet's.
import { state } from './lib/data.mjs';
import { threeServices } from './bench-queries.mjs';

const ent = (c, s) => c[s].entities;
const reps = (c, s) => c[s].log.filter((e) => e.kind === 'entities').flatMap((e) => e.representations ?? []);
const expectEq = (problems, what, got, want) => { if (got !== want) problems.push(`${what}: ${got}, want ${want}`); };

// Distinct authors of the reviews of the top five products (bench query three).
function topFiveAuthors() {
  const top = state.products.slice().sort((a, b) => (b.rating ?? 0) - (a.rating ?? 0) || (a.upc < b.upc ? -1 : 1)).slice(0, 5);
  const upcs = new Set(top.map((p) => p.upc));
  return new Set(state.reviews.filter((r) => upcs.has(r.upc)).map((r) => r.authorId)).size;
}

export const PLAN_CHECKS = [
  {
    id: 'batch-per-level',
    what: 'products -> reviews -> accounts with nested lists: one _entities call per service per level, representations deduplicated',
    query: threeServices.query,
    check: (c) => {
      const p = [];
      expectEq(p, 'products root requests', c.products.root, 1);
      expectEq(p, 'reviews _entities calls', ent(c, 'reviews').calls, 1);
      expectEq(p, 'reviews representations (5 products)', ent(c, 'reviews').representations, 5);
      expectEq(p, 'accounts _entities calls', ent(c, 'accounts').calls, 1);
      expectEq(p, 'accounts representations (distinct authors)', ent(c, 'accounts').representations, topFiveAuthors());
      expectEq(p, 'inventory requests', c.inventory.total, 0);
      return p;
    },
  },
  {
    id: 'provides',
    what: 'Review.author @provides(fields: "username"): asking only the username costs no accounts request',
    query: '{ latestReviews(first: 5) { body author { username } } }',
    check: (c) => { const p = []; expectEq(p, 'accounts requests', c.accounts.total, 0); return p; },
  },
  {
    id: 'skip-include',
    what: 'fields under @skip(if: true) / @include(if: false), literal or by variable default, are never fetched',
    query: 'query($s: Boolean = true) { latestReviews(first: 3) { body author @skip(if: $s) { name } product @include(if: false) { name } } }',
    check: (c) => {
      const p = [];
      expectEq(p, 'accounts requests', c.accounts.total, 0);
      expectEq(p, 'products requests', c.products.total, 0);
      return p;
    },
  },
  {
    id: 'key-only',
    what: 'only the key of a referenced entity selected: answered from the representation, no request to its owner',
    query: '{ topProducts(first: 3) { name createdBy { id } } }',
    check: (c) => { const p = []; expectEq(p, 'accounts requests', c.accounts.total, 0); return p; },
  },
  {
    id: 'requires',
    what: 'inventory\'s shippingEstimate @requires(fields: "weight"): the representation carries inventory\'s key (sku brand) and weight',
    query: '{ product(upc: "p1") { name shippingEstimate } }',
    check: (c) => {
      const p = [];
      expectEq(p, 'inventory _entities calls', ent(c, 'inventory').calls, 1);
      const r = reps(c, 'inventory')[0] ?? {};
      for (const k of ['sku', 'brand', 'weight']) if (!(k in r)) p.push(`inventory representation lacks ${k}: ${JSON.stringify(r)}`);
      return p;
    },
  },
  {
    id: 'nested-key',
    what: 'accounts extends Product by @key(fields: "vendor { id } sku"): the representation is {__typename, vendor: {id}, sku}',
    query: '{ product(upc: "p2") { curator { name } } }',
    check: (c) => {
      const p = [];
      expectEq(p, 'accounts _entities calls', ent(c, 'accounts').calls, 1);
      const r = reps(c, 'accounts')[0] ?? {};
      if (r.vendor?.id !== 'v2' || r.sku !== 'KB-7') p.push(`accounts representation: ${JSON.stringify(r)}`);
      return p;
    },
  },
  {
    id: 'one-fetch-per-service-and-level',
    what: 'two fields of one service at one level (inStock, shippingEstimate): one _entities call, not one per field',
    query: '{ topProducts(first: 4) { name inStock shippingEstimate } }',
    check: (c) => { const p = []; expectEq(p, 'inventory _entities calls', ent(c, 'inventory').calls, 1); return p; },
  },
  {
    id: 'root-fields',
    what: 'root fields of three services: one request to each',
    query: '{ me { name } topProducts(first: 1) { name } latestReviews(first: 1) { body } }',
    check: (c) => {
      const p = [];
      for (const s of ['accounts', 'products', 'reviews']) expectEq(p, `${s} requests`, c[s].total, 1);
      return p;
    },
  },
  {
    id: 'variables-where-used',
    what: 'variables are forwarded only to the services whose fields use them, with their definitions',
    query: 'query($u: ID!, $n: Int = 2, $c: Currency) { user(id: $u) { name } topProducts(first: $n) { name localPrice(currency: $c) { amount } } }',
    variables: { u: 'u2', c: 'EUR' },
    check: (c) => {
      const p = [];
      const seen = (s) => c[s].log.filter((e) => e.kind !== 'service');
      for (const e of seen('accounts')) {
        if (/\$(n|c)\b/.test(e.query) || 'n' in (e.variables ?? {}) || 'c' in (e.variables ?? {})) p.push(`accounts got $n or $c: ${e.query.replace(/\s+/g, ' ').slice(0, 120)} ${JSON.stringify(e.variables)}`);
      }
      for (const e of seen('products')) {
        if (/\$u\b/.test(e.query) || 'u' in (e.variables ?? {})) p.push(`products got $u: ${JSON.stringify(e.variables)}`);
      }
      if (!seen('accounts').length) p.push('accounts got no request');
      if (!seen('inventory').some((e) => Object.values(e.variables ?? {}).includes('EUR') || /EUR/.test(e.query))) p.push('inventory never got $c (localPrice(currency: $c))');
      return p;
    },
  },
  {
    id: 'interface-field',
    what: 'Merchandise.reviews, added to products\' interface by reviews: one reviews _entities call for Book and Furniture together, each represented by its own key',
    query: '{ merchandise { title reviews { body } } }',
    check: (c) => {
      const p = [];
      expectEq(p, 'products requests', c.products.total, 1);
      expectEq(p, 'reviews _entities calls', ent(c, 'reviews').calls, 1);
      const books = state.merchandise.filter((m) => m.__typename === 'Book').length;
      expectEq(p, 'Book representations', ent(c, 'reviews').byType.Book?.representations ?? 0, books);
      expectEq(p, 'Furniture representations', ent(c, 'reviews').byType.Furniture?.representations ?? 0, state.merchandise.length - books);
      for (const r of reps(c, 'reviews')) {
        if (r.__typename === 'Book' && !('isbn' in r)) p.push(`Book representation without its key isbn: ${JSON.stringify(r)}`);
        if (r.__typename === 'Furniture' && !('id' in r)) p.push(`Furniture representation without its key id: ${JSON.stringify(r)}`);
      }
      return p;
    },
  },
  {
    id: 'cycle',
    what: 'user -> reviews -> product -> reviews -> author: Product.reviews stays in the reviews fetch, one accounts call at the end',
    query: '{ user(id: "u1") { name reviews { product { reviews { author { name } } } } } }',
    check: (c) => {
      const p = [];
      expectEq(p, 'reviews requests', c.reviews.total, 1);
      expectEq(p, 'accounts _entities calls', ent(c, 'accounts').calls, 1);
      return p;
    },
  },
];
