// decisions.mjs - where the reference gateways disagree, which answer is right and why.
//
// Every difference the oracle finds between @apollo/gateway ("a") and @mercuriusjs/gateway
// ("b") must be explained by one entry here, or the run fails. Each entry names the right
// side: "apollo", "mercurius", or "neither" (both are wrong; the GraphQL and federation
// specs decide, and Ramjet's answer is then not compared on the items this entry explains).
// This table is the source of the "Where the references differ" part of docs/federation.md.
//
// An entry: {id, right, why, explains(item, ctx)[, tolerates(item, ctx)][, fix(answer)]}:
// `fix` turns the side named right into the spec's answer where both are wrong in a way
// that can be put right (root field order); `tolerates` says which differences of a tested
// gateway from that answer are not held against it. `item` is one difference from
// compare.mjs's diff(apollo, mercurius), `ctx` = {case, apollo, mercurius, schema}.
// Entries are tried in order; the first that explains an item wins.

// Response keys: the aliases of the case being judged (alias -> field name), from its
// document; and the generator's convention, `name_N` for an alias of `name`.
import { Kind, parse, visit } from 'graphql';
import { SUBGRAPHS } from './subgraphs/index.mjs';

let ALIASES = new Map();
let aliasesOf = null;
function useCase(c) {
  if (aliasesOf === c) return;
  aliasesOf = c;
  ALIASES = new Map();
  try {
    visit(parse(c.query), { Field: (n) => { if (n.alias) ALIASES.set(n.alias.value, n.name.value); } });
  } catch { /* an unparsable document has no aliases */ }
}
const isAlias = (key) => typeof key === 'string' && (ALIASES.has(key) || /_\d+$/.test(key));
const fieldOf = (key) => (typeof key === 'string' ? ALIASES.get(key) ?? key.replace(/_\d+$/, '') : key);
const fieldsOnPath = (path) => (path ?? []).filter((k) => typeof k === 'string' && !/^\d+$/.test(k)).map(fieldOf);
const samePath = (p, q) => p.length === q.length && p.every((k, i) => String(k) === String(q[i]));
const isPrefix = (p, q) => p.length <= q.length && p.every((k, i) => String(k) === String(q[i]));
// Whether an error's path reaches the data at `path`: Apollo's mangled paths ("@" for any
// list index, then "_entities" and a batch index) match any index, and anything after
// "_entities".
function covers(errPath, path) {
  if (!errPath) return false;
  for (let i = 0; i < path.length; i += 1) {
    const e = errPath[i];
    if (e === undefined) return false;
    if (e === '_entities') return true;
    if (e === '@') { if (typeof path[i] !== 'number') return false; continue; }
    if (String(e) !== String(path[i])) return false;
  }
  return true;
}
const mErrors = (ctx, re) => ctx.mercurius.errors.filter((e) => re.test(e.message ?? ''));

// A data item under (or at) the path of one of these errors: the null the error propagated.
const underErrors = (item, errs) => item.kind === 'data' && errs.some((e) => e.path && isPrefix(item.path, e.path));

// Inventory's fields, which Mercurius resolves with the wrong key (see mercurius-wrong-key).
// The type of the field at a response path (aliases undone), or null past an abstract type.
import { getNamedType, isAbstractType, isNonNullType, isObjectType } from 'graphql';

function fieldOfType(schema, t, name) {
  if (!t) return null;
  if (isObjectType(t)) return t.getFields()[name] ?? null;
  if (isAbstractType(t)) {
    if (t.getFields && t.getFields()[name]) return t.getFields()[name];
    for (const m of schema.getPossibleTypes(t)) if (m.getFields()[name]) return m.getFields()[name];
  }
  return null;
}

function typeAt(schema, path, mutation) {
  let t = mutation ? schema.getMutationType() : schema.getQueryType();
  for (const k of path) {
    if (typeof k === 'number' || /^\d+$/.test(k)) continue;
    const f = fieldOfType(schema, t, fieldOf(k));
    if (!f) return null;
    t = getNamedType(f.type);
  }
  return t;
}

// The field definition at a response path, or null.
function fieldAt(schema, path, mutation) {
  const names = path.filter((k) => typeof k === 'string' && !/^\d+$/.test(k));
  if (!names.length) return null;
  const parent = typeAt(schema, path.slice(0, path.lastIndexOf(names.at(-1))), mutation);
  return fieldOfType(schema, parent, fieldOf(names.at(-1)));
}

// Where a field error's null lands by the GraphQL rules: the path of the nearest field, from
// the failing one up, whose type is nullable (list item types are not considered: a
// non-null item moves the null to the list's field, which this then finds). Null when the
// path leaves the schema.
function landing(schema, errPath, mutation) {
  for (let i = errPath.length; i > 0; i -= 1) {
    const k = errPath[i - 1];
    if (typeof k === 'number' || /^\d+$/.test(String(k))) continue;
    const f = fieldAt(schema, errPath.slice(0, i), mutation);
    if (!f) return null;
    if (!isNonNullType(f.type)) return errPath.slice(0, i);
  }
  return [];
}

// Per entity: the fields a gateway can answer without the owning service - key fields and
// fields other services add. Anything else comes from the owner.
const NOT_FROM_OWNER = {
  User: new Set(['__typename', 'id', 'username', 'reviews', 'reviewCount', 'products']),
  Product: new Set(['__typename', 'upc', 'sku', 'brand', 'vendor', 'reviews', 'averageStars', 'inStock', 'quantity', 'warehouse', 'shippingEstimate', 'localPrice', 'curator']),
};

const INVENTORY_FIELDS = new Set(['inStock', 'quantity', 'warehouse', 'shippingEstimate', 'localPrice']);

// Root fields in configuration order (issue 11: "root types merged with fields in
// configuration order"): services in the order of subgraphs/index.mjs, each one's fields in
// its SDL's order.
function configurationOrder(root) {
  const names = [];
  for (const mod of Object.values(SUBGRAPHS)) {
    const doc = typeof mod.typeDefs === 'string' ? parse(mod.typeDefs) : mod.typeDefs;
    for (const d of doc.definitions) {
      if (d.name?.value === root && d.fields) for (const f of d.fields) names.push(f.name.value);
    }
  }
  return names;
}
const INTERNAL = /^_(entities|service)$/;
const namesOf = (v) => (Array.isArray(v) ? v.map((x) => x?.name).filter((n) => !INTERNAL.test(n ?? '')) : null);

export const DECISIONS = [
  {
    id: 'mercurius-undefined-variable',
    right: 'apollo',
    why: 'Mercurius forwards a variable used in a fragment or a directive to a service without declaring it in the subgraph operation ("Variable \\"$x\\" is not defined by operation \\"Query_...\\""), so the whole request fails. The spec: a gateway forwards, with their definitions, the variables each subgraph operation uses.',
    explains: (_, ctx) => mErrors(ctx, /^Variable "\$\w+" is not defined by operation /).length > 0,
  },
  {
    id: 'mercurius-invalid-subgraph-query',
    right: 'apollo',
    why: 'Mercurius asks a service for a key field that service does not declare (e.g. Product.upc of inventory, which extends Product by @key(fields: "sku brand")); the service rejects the subgraph query and the request fails. Federation v1: an entity is fetched from a service with a key that service declares.',
    explains: (_, ctx) => mErrors(ctx, /^Cannot query field "\w+" on type "\w+"\.$/).some((e) => !e.path),
  },
  {
    id: 'mercurius-crash',
    right: 'apollo',
    why: 'Mercurius throws a TypeError ("Cannot read properties of undefined (reading \'name\')") for an inline fragment without a type condition (`product(upc: "p1") { ... { name } }`, reproduced alone) and the field holding it is null. An inline fragment without a type condition is plain GraphQL (spec §2.8.2): its fields belong to the enclosing type.',
    explains: (_, ctx) => mErrors(ctx, /^Cannot read properties of (undefined|null)/).length > 0,
  },
  {
    id: 'mercurius-no-answer',
    right: 'apollo',
    why: 'Mercurius lets a TypeError escape its resolver ("Cannot read properties of undefined (reading \'name\')" in make-resolver.js collectServiceTypeFields, for an entity field under a union member) as an unhandled promise rejection; the request never gets an answer (the oracle times out after 5 s). A gateway must always answer.',
    explains: (item) => item.kind === 'malformed' && item.side === 'b',
  },
  {
    id: 'apollo-mangled-error-path',
    right: 'neither',
    why: 'For an error inside a nested entity fetch, @apollo/gateway sometimes reports the planner\'s path ("@" for a list, "_entities" and the index in the batch) instead of the client\'s path. The spec (GraphQL §7.1.2, federation: errors are merged with the client\'s path): the path of the field in the client\'s response.',
    explains: (item) => item.kind === 'error' && item.side === 'a' && (item.error.path ?? []).some((k) => k === '@' || k === '_entities'),
    // Comparing a gateway under test (side b) with Apollo: its error at the client's path
    // stands for Apollo's mangled one.
    tolerates: (item, ctx) => item.kind === 'error' && (item.side === 'a'
      ? (item.error.path ?? []).some((k) => k === '@' || k === '_entities')
      : ctx.apollo.errors.some((e) => e.message === item.error.message && (e.path ?? []).some((k) => k === '@' || k === '_entities'))),
  },
  {
    id: 'mercurius-entities-error-path',
    right: 'apollo',
    why: 'Mercurius reports errors raised inside an _entities call with the subgraph\'s path (["_entities", "0", "field"]) instead of the client\'s path, and with string indices. The spec: the client\'s path, list indices as integers. Apollo reports the same error at the client\'s path.',
    explains: (item, ctx) => {
      if (item.kind !== 'error') return false;
      if (item.side === 'b') return (item.error.path ?? [])[0] === '_entities';
      return mErrors(ctx, /./).some((e) => e.message === item.error.message && (e.path ?? [])[0] === '_entities');
    },
  },
  {
    id: 'mercurius-wrong-key',
    right: 'apollo',
    why: 'Mercurius fetches a Product from inventory with the owner\'s first key ({__typename, upc}) instead of the key inventory declares ("sku brand"), and without the @requires fields (weight, price), so inventory\'s fields come back wrong (inStock false, quantity 0, warehouse null) or fail ("weight was not sent (@requires)"). Federation v1: representations carry the key the receiving service declares and the fields its @requires names.',
    explains: (item, ctx) => {
      if (item.kind === 'data') {
        if (fieldsOnPath(item.path).some((f) => INVENTORY_FIELDS.has(f))) return true;
        // Apollo's null propagated from inventory's failing Product.quantity (Int!), which
        // Mercurius never sees fail (it asks inventory for a product it cannot identify).
        return item.b !== null && ctx.apollo.errors.some((e) => /^stock of /.test(e.message) && covers(e.path, item.path));
      }
      if (item.kind === 'error') {
        const f = fieldOf((item.error.path ?? []).at(-1));
        if (INVENTORY_FIELDS.has(f)) return true;
        return /\(@requires\)$|^stock of /.test(item.error.message ?? '');
      }
      return false;
    },
  },
  {
    id: 'mercurius-nested-key',
    right: 'apollo',
    why: 'Mercurius does not resolve an entity through a nested-selection key: Product.curator (accounts extends Product by @key(fields: "vendor { id } sku")) is null, silently. Federation v1 allows a key with nested selections; the representation is {__typename, vendor: {id}, sku}.',
    explains: (item) => (item.kind === 'data' && fieldsOnPath(item.path).includes('curator'))
      || (item.kind === 'error' && item.side === 'a' && fieldsOnPath(item.error.path).includes('curator')),
  },
  {
    id: 'mercurius-aliased-entity-field',
    right: 'apollo',
    why: 'Mercurius returns null for an aliased field of an object fetched through _entities ("Cannot return null for non-nullable field Money.currency." at the alias), and the null propagates. The spec: an alias renames the response key, never the value.',
    explains: (item, ctx) => {
      const errs = mErrors(ctx, /^Cannot return null for non-nullable field /).filter((e) => isAlias((e.path ?? []).at(-1)));
      if (item.kind === 'error') return item.side === 'b' && errs.some((e) => samePath(e.path, item.error.path) && e.message === item.error.message);
      if (underErrors(item, errs)) return true;
      // Without an error: an aliased field whose value comes from another service is null.
      return item.kind === 'data' && item.b === null && item.a !== null && isAlias(item.path.at(-1));
    },
  },
];

DECISIONS.push(
  {
    id: 'mercurius-error-path-field-name',
    right: 'apollo',
    why: 'Mercurius reports an error of an aliased field with the field\'s name instead of the alias in "path" (["users", 0, "karma"] for `u: users { karma }`). The spec: a path is made of response keys, i.e. aliases.',
    explains: (item, ctx) => {
      if (item.kind !== 'error') return false;
      const other = item.side === 'a' ? ctx.mercurius.errors : ctx.apollo.errors;
      const deAlias = (p) => (p ?? []).map((k) => String(fieldOf(k)));
      return other.some((e) => e.message === item.error.message && samePath(deAlias(e.path), deAlias(item.error.path))
        && !samePath((e.path ?? []).map(String), (item.error.path ?? []).map(String)));
    },
  },
  {
    id: 'mercurius-spurious-non-null',
    right: 'apollo',
    why: 'Mercurius reports "Cannot return null for non-nullable field T.f." for values the services did return - seen when one response key is selected twice in a selection set (`products { a } products { b }`), which the spec merges (CollectFields) - and the null propagates. Apollo returns the values.',
    explains: (item, ctx) => {
      const errs = mErrors(ctx, /^Cannot return null for non-nullable field \w+\.\w+\.$/)
        .filter((e) => !ctx.apollo.errors.some((x) => x.message === e.message && samePath((x.path ?? []).map(String), (e.path ?? []).map(String))));
      if (item.kind === 'error') return item.side === 'b' && errs.some((e) => e.message === item.error.message && samePath(e.path ?? [], item.error.path ?? []));
      return underErrors(item, errs);
    },
  },
);

// The response keys a root field of the chosen operation is selected under more than once.

function repeatedRootKeys(c) {
  let doc;
  try { doc = parse(c.query); } catch { return new Set(); }
  const ops = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const op = c.operationName ? ops.find((o) => o.name?.value === c.operationName) : ops[0];
  const seen = new Map();
  for (const s of op?.selectionSet.selections ?? []) {
    if (s.kind !== Kind.FIELD) continue;
    const k = s.alias?.value ?? s.name.value;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return new Set([...seen].filter(([, n]) => n > 1).map(([k]) => k));
}

// Whether a response key occurs as more than one selection in the document text.
const selectedTwice = (query, key) => (query.match(new RegExp(`(?<![\\w$])${key}(?![\\w:])`, 'g')) ?? []).length > 1;

DECISIONS.push({
  id: 'mercurius-repeated-root-field',
  right: 'apollo',
  why: 'A root field selected twice under one response key (`me { name } me { karma }`) must be merged (GraphQL CollectFields): one field, both sub-selections. Mercurius keeps one of them: the other\'s fields are null (or, for non-null ones, "Cannot return null for non-nullable field" and the null propagates).',
  explains: (item, ctx) => {
    const keys = repeatedRootKeys(ctx.case);
    if (!keys.size) return false;
    const p = item.kind === 'error' ? item.error.path : item.path;
    return Boolean(p?.length) && keys.has(String(p[0])) && (item.kind === 'data' || item.side === 'b');
  },
}, {
  id: 'mercurius-nested-field-merge',
  right: 'apollo',
  why: 'The same as mercurius-repeated-root-field below the root: a field selected twice in one selection set, directly and through a fragment (`reviews { a } ... on Product { reviews { author { b } } }`), must be merged; Mercurius answers the entity fields of one of the two as null.',
  explains: (item, ctx) => item.kind === 'data' && item.b === null
    && item.path.some((k) => typeof k === 'string' && selectedTwice(ctx.case.query, k)),
}, {
  id: 'apollo-fragment-of-other-operation',
  right: 'mercurius',
  why: 'With several operations in a document, @apollo/gateway also plans the fragments only another operation uses, and fails with HTTP 500 ("Invalid value $v for argument ...") when such a fragment uses that other operation\'s variable. The spec: only the operation named by operationName is executed; its fragments are those it spreads.',
  explains: (item, ctx) => (item.kind === 'status' || (item.kind === 'data' && item.path.length === 0)
    || (item.kind === 'error' && item.side === 'a'))
    && ctx.apollo.errors.some((e) => /^Invalid value \$\w+ for argument /.test(e.message ?? '')),
}, {
  id: 'mercurius-null-unknown-entity',
  right: 'apollo',
  why: 'A reference to an entity its owning service does not know (User u9, Product p7: the owner\'s _entities answers null for it). Apollo keeps the object: key fields from the representation, other services\' fields from them, the owner\'s fields null (and, for a non-null one, the object null by the GraphQL rules). Mercurius answers null for the whole object, with no error, even when nothing from the owner was selected. Federation leaves the merge of a null entity to the gateway; Apollo\'s is field-by-field completion as GraphQL defines it, and a service that is not asked cannot null an object.',
  explains: (item, ctx) => {
    if (item.kind !== 'data' || item.b !== null || !item.a || typeof item.a !== 'object' || Array.isArray(item.a)) return false;
    const t = typeAt(ctx.schema, item.path, ctx.case.mutation);
    const allowed = t && NOT_FROM_OWNER[t.name];
    return Boolean(allowed) && Object.entries(item.a).every(([k, v]) => allowed.has(fieldOf(k)) || v === null);
  },
}, {
  id: 'mercurius-error-path-string-index',
  right: 'apollo',
  why: 'Mercurius writes list indices in error paths as strings (["users", "3", "email"]). The spec (GraphQL §7.1.2): path segments that are list indices are integers.',
  explains: (item, ctx) => {
    if (item.kind !== 'error') return false;
    const other = item.side === 'a' ? ctx.mercurius.errors : ctx.apollo.errors;
    return other.some((e) => e.message === item.error.message && samePath((e.path ?? []).map(String), (item.error.path ?? []).map(String)));
  },
}, {
  id: 'mercurius-drops-entity-errors',
  right: 'apollo',
  why: 'Mercurius drops some errors raised inside nested _entities calls (an entity fetched for an entity fetched for a root field), also when the same message is reported at another path: the null arrives without its error. The spec: every field error is in "errors", at its path.',
  explains: (item, ctx) => {
    if (item.kind !== 'error' || item.side !== 'a') return false;
    // No Mercurius error with this message at this path, aliases undone and indices as text.
    const key = (p) => (p ?? []).map((k) => String(fieldOf(k))).join('/');
    return !ctx.mercurius.errors.some((e) => e.message === item.error.message && key(e.path) === key(item.error.path));
  },
}, {
  id: 'apollo-silent-null',
  right: 'neither',
  why: 'When a field that @requires something is excluded by @skip/@include, @apollo/gateway drops the whole fetch to that service: the service\'s other fields come back missing and their parent is nulled, with the error only in extensions.valueCompletion ("Cannot return null for non-nullable field Product.quantity."), i.e. no error at all for the client. Reproduced alone: `{ product(upc: "p1") { quantity shippingEstimate @include(if: false) } }` gives product: null (right: {quantity: 12}). The spec: a field is null only when it resolved to null or an error propagated to it, and that error is in "errors".',
  explains: (item, ctx) => item.kind === 'data' && item.a === null && item.b !== null
    && !ctx.apollo.errors.some((e) => {
      if (!covers(e.path, item.path)) return false;
      if ((e.path ?? []).length === item.path.length) return true;
      // An error deeper down nulls this field only if it propagates: a non-null field's.
      const f = e.path.includes('_entities') || e.path.includes('@') ? null : fieldAt(ctx.schema, e.path, ctx.case.mutation);
      return !f || isNonNullType(f.type);
    }),
  // A tested gateway's error for the field whose failure nulled what Apollo nulls silently.
  tolerates: (item, ctx) => (item.kind === 'error' && item.side === 'b'
    ? silentNullAbove(ctx.apollo, item.error.path)
    : DECISIONS.find((d) => d.id === 'apollo-silent-null').explains(item, ctx)),
}, {
  id: 'apollo-null-propagates-too-far',
  right: 'neither',
  why: 'The same Apollo bug as apollo-silent-null (an excluded @requires field drops the fetch of the other inventory fields and nulls the product), when another error happens to cover the path: e.g. User.reviewCount of u5 (Int!) fails under Product.curator (nullable), which by the GraphQL rules (spec §6.4.4) nulls curator only, yet the product is null. Reproduced: `{ products(category: GAMES) { quantity curator { reviewCount } localPrice @skip(if: true) { amount } } }`. Mercurius is no reference here (it loses curator, see mercurius-nested-key).',
  explains: (item, ctx) => {
    if (item.kind !== 'data' || item.a !== null || item.b === null) return false;
    const errs = ctx.apollo.errors.filter((e) => covers(e.path, item.path) && !e.path.includes('@') && !e.path.includes('_entities'));
    return errs.length > 0 && errs.every((e) => {
      const land = landing(ctx.schema, e.path, ctx.case.mutation);
      return land !== null && land.length > item.path.length;
    });
  },
}, {
  id: 'mercurius-abstract-member-entity-fields',
  right: 'apollo',
  why: 'On the members of a union or interface returned by a root field (search: SearchResult, catalogue: Catalogued, merchandise: Merchandise), Mercurius answers fields that other services add to the member entity (Product.reviews, Product.warehouse) or to the interface itself (Merchandise.reviews, which reviews adds with `extend interface` and on Book and Furniture) as empty or null, without fetching them. Federation: a type condition inside an abstract type plans the same entity fetches as the concrete type would, and an interface field another service resolves is fetched from it for each implementation (Apollo: one _entities call with the Book and Furniture representations together).',
  explains: (item, ctx) => {
    if (item.kind !== 'data' || item.path.length < 3) return false;
    if (!(item.b === null || (Array.isArray(item.b) && item.b.length === 0))) return false;
    const root = typeAt(ctx.schema, item.path.slice(0, 1), ctx.case.mutation);
    return Boolean(root) && isAbstractType(root);
  },
});

// Whether a response key is selected (somewhere) under a literal @include(if: false) or
// @skip(if: true).
// Whether an answer's data holds a null above @p path that none of its errors accounts for.
function silentNullAbove(answer, path) {
  let v = answer.data;
  for (let i = 0; i < (path ?? []).length; i += 1) {
    if (v === null) return !answer.errors.some((e) => covers(e.path, path.slice(0, i)));
    if (v === undefined || typeof v !== 'object') return false;
    v = v[path[i]];
  }
  return false;
}

// Whether an error's path leads to a key its answer's data does not have (an object
// without it, not a null): an error for a field the client did not select there.
function pathOutsideData(data, path) {
  let v = data;
  for (const k of path ?? []) {
    if (v === null || v === undefined || typeof v !== 'object') return false;
    if (Array.isArray(v) !== (typeof k === 'number')) return false;
    if (!(k in v)) return !Array.isArray(v);
    v = v[k];
  }
  return false;
}

const excludedLiterally = (query, key) => new RegExp(`(?<![\\w$])${key}\\s*@(include\\(if:\\s*false\\)|skip\\(if:\\s*true\\))`).test(query);

DECISIONS.push({
  id: 'apollo-error-for-unselected-field',
  right: 'neither',
  why: 'Below an abstract type, @apollo/gateway reports errors of fields the client selected only for other objects, or under a fragment @skip(if: true) left out: e.g. User.karma selected under `... on Book { reviews { author { karma } } }` fails for u3, the author of a Furniture review, and the error comes at merchandise[3].reviews[0].author.karma, where the answer has no karma (Apollo fetched it for every author of the level). The spec (§6.4.4, §7.1.2): field errors come from the fields executed, at a path that is in the response.',
  explains: (item, ctx) => item.kind === 'error' && item.side === 'a' && pathOutsideData(ctx.apollo.data, item.error.path),
}, {
  id: 'apollo-repeated-root-field-order',
  right: 'neither',
  why: 'A root field selected twice (`me { reviews { a } ... } me { reviews { b } }`) is one field whose selections are merged in document order (CollectFields, spec §6.3.2): @apollo/gateway orders the keys of the merged objects otherwise (the second selection\'s keys before some of the first\'s). The keys and values are the same.',
  explains: (item, ctx) => item.kind === 'order' && repeatedRootKeys(ctx.case).has(String(item.path[0]))
    && [...item.a].sort().join() === [...item.b].sort().join(),
}, {
  id: 'apollo-fetches-excluded-field',
  right: 'mercurius',
  why: 'When a root field carries @include/@skip with a variable, @apollo/gateway drops the literal @include(if: false) / @skip(if: true) of a field below it from the subgraph query: the excluded field is fetched, and if it fails (User.email of u4, non-null) its error and null reach the client. The spec: an excluded field is not executed at all.',
  explains: (item, ctx) => {
    const bad = ctx.apollo.errors.filter((e) => e.path && excludedLiterally(ctx.case.query, String(e.path.at(-1))));
    if (!bad.length) return false;
    if (item.kind === 'error') return item.side === 'a' && bad.some((e) => e.message === item.error.message && samePath(e.path, item.error.path ?? []));
    return item.kind === 'data' && item.a === null && bad.some((e) => covers(e.path, item.path));
  },
}, {
  id: 'root-fields-in-configuration-order',
  right: 'neither',
  why: 'Introspection lists the root fields of the composed schema: @apollo/gateway orders the services by name (accounts, inventory, products, reviews), @mercuriusjs/gateway in configuration order (and adds _entities and _service, see mercurius-leaks-federation-internals). Issue 11 asks for configuration order: services as listed in the gateway config, each one\'s fields in its SDL\'s order, and no internals.',
  explains: (item) => {
    if (item.kind !== 'data' || item.path.at(-1) !== 'fields' || !item.path.some((k) => k === 'queryType' || k === 'mutationType')) return false;
    const a = namesOf(item.a);
    const b = namesOf(item.b);
    return Boolean(a && b) && [...a].sort().join() === [...b].sort().join();
  },
  // The right answer: Apollo's, with the root fields in configuration order.
  fix: (answer) => {
    const out = structuredClone(answer);
    for (const [key, root] of [['queryType', 'Query'], ['mutationType', 'Mutation']]) {
      const t = out.data?.__schema?.[key];
      if (!Array.isArray(t?.fields)) continue;
      const order = configurationOrder(root);
      t.fields.sort((x, y) => order.indexOf(x.name) - order.indexOf(y.name));
    }
    return out;
  },
  // A gateway under test must list them in configuration order, without internals.
  tolerates: (item) => {
    if (item.kind !== 'data' || item.path.at(-1) !== 'fields') return false;
    const root = item.path.includes('mutationType') ? 'Mutation' : item.path.includes('queryType') ? 'Query' : null;
    return Boolean(root) && Array.isArray(item.b) && item.b.map((x) => x?.name).join() === configurationOrder(root).join();
  },
}, {
  id: 'mercurius-leaks-federation-internals',
  right: 'apollo',
  why: 'Mercurius\'s composed schema shows the federation internals a subgraph\'s SDL declares (Query._entities and Query._service as @apollo/subgraph 2 prints them) in introspection. Issue 11 and the federation spec: _service, _entities, _Service, _Entity, _Any, _FieldSet and the federation directives never appear in the public schema.',
  explains: (item) => item.kind === 'data' && item.path.some((k) => k === '__schema' || k === '__type')
    && /"_(entities|service|Service|Entity|Any|FieldSet)"/.test(JSON.stringify(item.b ?? null)),
});

// Apollo's own mistakes are specific (a message or a condition only Apollo produces), and
// must win over the broad Mercurius entries that would otherwise claim the same item (an
// error only Apollo reports looks like one Mercurius dropped): they are tried first.
DECISIONS.sort((x, y) => Number(!x.id.startsWith('apollo-')) - Number(!y.id.startsWith('apollo-')));

export function explain(item, ctx) {
  useCase(ctx.case);
  for (const d of DECISIONS) if (d.explains(item, ctx)) return d;
  return null;
}

// Comparing a gateway under test with the right answer: a difference on which the
// references are both wrong ("neither") is not held against it. `ctx.apollo` is the
// expected answer, `ctx.mercurius` the tested gateway's (the item sides a and b).
export function tolerated(item, ctx) {
  useCase(ctx.case);
  for (const d of DECISIONS) {
    if (d.right !== 'neither') continue;
    if ((d.tolerates ?? d.explains)(item, ctx)) return d;
  }
  return null;
}
