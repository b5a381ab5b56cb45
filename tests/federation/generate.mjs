// generate.mjs - seeded documents over the composed schema of the test subgraphs.
//
//   generateCases(schema, {count, seed}) -> [{id, query, variables, operationName, mutation}]
//
// `schema` is the composed public schema (a GraphQLSchema built from a gateway's
// introspection). Every document is validated with graphql-js against it and regenerated
// when invalid, so the documents are valid by construction; what they exercise:
// root fields of every service (several per operation), nested entity selections across
// two to four services (up to depth 5, through the User -> reviews -> product -> reviews
// cycle), aliases (of entity fields and of fields resolved by other services), named
// fragments and inline fragments with and without a type condition, abstract types
// (Catalogued, SearchResult, Merchandise) with per-type fragments, variables (some with defaults that the
// request omits), @skip/@include with literals and variables, __typename at every level,
// several operations in one document with operationName choosing one, fields that fail
// (the argument pools hold the failing and the missing ids of lib/data.mjs), mutations.
import {
  getNamedType, getNullableType, isAbstractType, isEnumType, isInputObjectType, isLeafType,
  isListType, isNonNullType, isObjectType, isScalarType, parse, validate,
} from 'graphql';
import { POOLS } from './lib/data.mjs';

export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    chance: (p) => next() < p,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    sample: (xs, k) => {
      const c = xs.slice();
      for (let i = c.length - 1; i > 0; i -= 1) { const j = Math.floor(next() * (i + 1)); [c[i], c[j]] = [c[j], c[i]]; }
      return c.slice(0, k);
    },
  };
  return r;
}

// Argument values, by "Type.field.arg", then by argument name.
const ARGS = {
  'Query.user.id': (r) => r.pick(POOLS.userId),
  'Query.userByName.username': (r) => r.pick(POOLS.username),
  'Query.users.first': (r) => r.int(0, 7),
  'Query.product.upc': (r) => r.pick(POOLS.upc),
  'Query.products.first': (r) => r.int(0, 7),
  'Query.topProducts.first': (r) => r.int(0, 6),
  'Query.search.term': (r) => r.pick(POOLS.term),
  'Query.bundle.id': (r) => r.pick(POOLS.bundleId),
  'Query.merchandise.first': (r) => r.pick(POOLS.merchandiseFirst),
  'Query.review.id': (r) => r.pick(POOLS.reviewId),
  'Query.latestReviews.first': (r) => r.int(0, 13),
  'Query.latestReviews.minStars': (r) => r.int(1, 5),
  'Query.lowStock.threshold': (r) => r.int(0, 20),
  'Mutation.setNickname.id': (r) => r.pick(['u1', 'u2', 'u3', 'u6', 'u9']),
  'Mutation.setNickname.nickname': (r) => r.pick(['zed', 'ace', null, 'Ünï']),
  'Mutation.setPrice.upc': (r) => r.pick(['p1', 'p2', 'p5', 'p7']),
  'RatingInput.upc': (r) => r.pick(['p1', 'p2', 'p4', 'p7']),
  'RatingInput.authorId': (r) => r.pick(['u1', 'u3', 'u5', 'u9']),
  'RatingInput.stars': (r) => r.int(0, 5),
  'MoneyInput.amount': (r) => r.pick([1, 9.99, 250, 0.5]),
};

// A JS value for an input type.
function valueFor(r, type, key) {
  if (ARGS[key]) return ARGS[key](r);
  if (isNonNullType(type)) return valueFor(r, type.ofType, key);
  if (isListType(type)) return Array.from({ length: r.int(0, 2) }, () => valueFor(r, type.ofType, key));
  if (isEnumType(type)) return r.pick(type.getValues()).name;
  if (isInputObjectType(type)) {
    const o = {};
    for (const f of Object.values(type.getFields())) {
      if (isNonNullType(f.type) || f.defaultValue === undefined || r.chance(0.5)) o[f.name] = valueFor(r, f.type, `${type.name}.${f.name}`);
    }
    return o;
  }
  switch (type.name) {
    case 'Int': return r.int(0, 5);
    case 'Float': return r.pick([0.5, 2, 10.25]);
    case 'Boolean': return r.chance(0.5);
    default: return r.pick(['x', 'p1', 'u1']);
  }
}

// A GraphQL literal for a JS value of an input type.
function literal(v, type) {
  if (v === null) return 'null';
  const t = getNullableType(type);
  if (isListType(t)) return `[${v.map((x) => literal(x, t.ofType)).join(', ')}]`;
  if (isEnumType(t)) return v;
  if (isInputObjectType(t)) {
    const fs = t.getFields();
    return `{${Object.entries(v).map(([k, x]) => `${k}: ${literal(x, fs[k].type)}`).join(', ')}}`;
  }
  return JSON.stringify(v);
}

const typeString = (t) => t.toString();

class Gen {
  constructor(schema, r) {
    this.schema = schema;
    this.r = r;
    this.n = 0;
    this.fragments = [];
  }

  fresh(prefix) { this.n += 1; return `${prefix}${this.n}`; }

  // Operation-scoped state: variable definitions and values.
  beginOperation() { this.vars = []; this.values = {}; }

  boolArg() {
    if (this.r.chance(0.5)) return this.r.chance(0.5) ? 'true' : 'false';
    const name = this.fresh('b');
    const v = this.r.chance(0.5);
    if (this.r.chance(0.3)) this.vars.push(`$${name}: Boolean = ${v}`); // value omitted: the default decides
    else { this.vars.push(`$${name}: Boolean!`); this.values[name] = v; }
    return `$${name}`;
  }

  // A @skip/@include suffix, or ''.
  directives() {
    if (!this.r.chance(0.12)) return '';
    return ` @${this.r.chance(0.5) ? 'skip' : 'include'}(if: ${this.boolArg()})`;
  }

  args(parent, field) {
    const parts = [];
    for (const a of field.args) {
      const required = isNonNullType(a.type) && a.defaultValue === undefined;
      if (!required && !this.r.chance(0.45)) continue;
      const key = `${parent.name}.${field.name}.${a.name}`;
      const v = valueFor(this.r, a.type, key);
      if (v === null && isNonNullType(a.type)) continue;
      if (this.r.chance(0.3)) {
        const name = this.fresh('v');
        if (!required && this.r.chance(0.4)) {
          // A nullable variable with a default in its definition, not sent: the default applies.
          this.vars.push(`$${name}: ${typeString(getNullableType(a.type))} = ${literal(v, a.type)}`);
        } else {
          this.vars.push(`$${name}: ${typeString(a.type)}`);
          this.values[name] = v;
        }
        parts.push(`${a.name}: $${name}`);
      } else {
        parts.push(`${a.name}: ${literal(v, a.type)}`);
      }
    }
    return parts.length ? `(${parts.join(', ')})` : '';
  }

  // The selection set of a composite type, as text (with braces).
  selection(type, depth) {
    const r = this.r;
    const items = [];
    if (r.chance(0.25)) items.push('__typename');
    if (isAbstractType(type)) {
      const possible = this.schema.getPossibleTypes(type);
      if (isObjectType(type) === false && type.getFields && r.chance(0.6)) {
        // Interface fields, selected on the interface itself.
        for (const f of r.sample(Object.values(type.getFields()), r.int(1, 2))) items.push(this.field(type, f, depth));
      }
      for (const t of r.sample(possible, r.int(1, possible.length))) {
        items.push(this.fragmentOn(t, depth, type));
      }
      if (!items.length || r.chance(0.3)) items.push('__typename');
      return `{ ${items.join(' ')} }`;
    }
    const fields = Object.values(type.getFields()).filter((f) => !f.name.startsWith('_'));
    const k = r.int(1, Math.min(4, fields.length));
    for (const f of r.sample(fields, k)) {
      if (!isLeafType(getNamedType(f.type)) && depth >= 5) continue;
      items.push(this.field(type, f, depth));
    }
    if (r.chance(0.25)) items.push(this.fragmentOn(type, depth, type));
    if (!items.length) items.push('__typename');
    return `{ ${items.join(' ')} }`;
  }

  // A fragment on `type`: a named fragment spread, an inline fragment with a type condition,
  // or (only where the enclosing type is `type`) one without.
  fragmentOn(type, depth, enclosing) {
    const r = this.r;
    const body = () => this.selection(type, depth);
    const roll = r.next();
    if (roll < 0.35) {
      const name = this.fresh('F');
      // The fragment's own variables are the operation's: generate it in this operation.
      this.fragments.push(`fragment ${name} on ${type.name} ${body()}`);
      return `...${name}${this.directives()}`;
    }
    // Few inline fragments without a type condition: @mercuriusjs/gateway throws on every one
    // (decisions.mjs, mercurius-crash), which would leave it nothing to compare in those cases.
    if (roll < 0.93 || type !== enclosing) return `... on ${type.name}${this.directives()} ${body()}`;
    return `...${this.directives()} ${body()}`;
  }

  field(parent, f, depth) {
    const r = this.r;
    const named = getNamedType(f.type);
    let prefix = '';
    const args = this.args(parent, f);
    // A field with arguments is always aliased apart from the unaliased form, so that two
    // selections of one response key never carry different arguments.
    if (args || r.chance(0.15)) prefix = `${this.fresh(`${f.name}_`)}: `;
    const sub = isLeafType(named) ? '' : ` ${this.selection(named, depth + 1)}`;
    return `${prefix}${f.name}${args}${this.directives()}${sub}`;
  }

  operation(kind, name) {
    this.beginOperation();
    const root = kind === 'mutation' ? this.schema.getMutationType() : this.schema.getQueryType();
    const fields = Object.values(root.getFields()).filter((f) => !f.name.startsWith('_'));
    const items = [];
    const k = kind === 'mutation' ? this.r.int(1, 3) : this.r.int(1, 3);
    for (let i = 0; i < k; i += 1) items.push(this.field(root, this.r.pick(fields), 1));
    if (kind === 'query' && this.r.chance(0.15)) items.push('__typename');
    const head = name || this.vars.length ? `${kind}${name ? ` ${name}` : ''}${this.vars.length ? `(${this.vars.join(', ')})` : ''} ` : (kind === 'query' ? '' : `${kind} `);
    return { text: `${head}{ ${items.join(' ')} }`, values: this.values };
  }
}

// One case: a document with one to three operations.
function genCase(schema, r) {
  const g = new Gen(schema, r);
  const nOps = r.chance(0.2) ? r.int(2, 3) : 1;
  const mutation = r.chance(0.07);
  const ops = [];
  for (let i = 0; i < nOps; i += 1) {
    const kind = i === 0 && mutation ? 'mutation' : 'query';
    ops.push({ ...g.operation(kind, nOps > 1 ? `Op${i + 1}` : (r.chance(0.3) ? 'Only' : '')), kind });
  }
  const chosen = r.int(0, nOps - 1);
  const query = [...ops.map((o) => o.text), ...g.fragments].join('\n');
  return {
    query,
    variables: Object.keys(ops[chosen].values).length ? ops[chosen].values : undefined,
    operationName: nOps > 1 ? `Op${chosen + 1}` : (r.chance(0.3) && ops[0].text.startsWith('query Only') ? 'Only' : undefined),
    mutation: ops[chosen].kind === 'mutation',
  };
}

export function generateCases(schema, { count = 300, seed = 1 } = {}) {
  const r = rng(seed);
  const cases = [];
  let invalid = 0;
  while (cases.length < count) {
    const c = genCase(schema, r);
    const errors = validate(schema, parse(c.query));
    if (errors.length) {
      invalid += 1;
      if (invalid > count * 5) throw new Error(`generator: too many invalid documents; last: ${errors[0].message}\n${c.query}`);
      continue;
    }
    cases.push({ id: `gen-${seed}-${cases.length}`, ...c });
  }
  return { cases, invalid };
}
