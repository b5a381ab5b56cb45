// generate.mjs - documents and data generated from a schema, deterministically (a seeded
// PRNG, so a mismatch reproduces): random valid selections walking the schema's types
// (aliases, arguments as literals or variables, inline and named fragments, @include/@skip),
// then copies of them broken in one way each (the invalid half of the corpus), and
// truncated copies (syntax errors at every kind of position). graphql-js decides which are
// valid; generation only makes it likely that both verdicts occur often.
import {
  getNamedType, getNullableType, isAbstractType, isCompositeType, isEnumType, isInputObjectType,
  isLeafType, isListType, isNonNullType, isObjectType, isScalarType, isUnionType,
} from 'graphql';

/** Mulberry32: a small, good-enough seeded PRNG. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (xs) => xs[next.int(xs.length)];
  next.chance = (p) => next() < p;
  return next;
}

// ---- data --------------------------------------------------------------------------------

function scalarValue(type, r, n) {
  switch (type.name) {
    case 'Int': return r.int(2000) - 1000;
    case 'Float': return r.chance(0.5) ? r.int(100) : Math.round(r() * 1e4) / 100;
    case 'Boolean': return r.chance(0.5);
    case 'ID': return r.chance(0.2) ? r.int(1000) : `id-${n}`;
    case 'String': return `s${n}-${r.int(100)}`;
    default: // custom scalars (JSON): any JSON value
      return r.pick([{ k: n, list: [1, 'x', null] }, [1, 2.5, 'three'], 'text', 7, true, null]);
  }
}

/**
 * A value for @p type: nullable positions are null now and then, lists have 0-3 items,
 * abstract values carry __typename. Depth-bounded: deep nullable positions become null.
 */
export function dataFor(schema, type, r, depth = 0, counter = { n: 0 }) {
  counter.n++;
  if (!isNonNullType(type)) {
    if (r.chance(depth > 3 ? 0.85 : 0.12)) return null;
  }
  const t = getNullableType(type);
  if (isListType(t)) {
    const len = depth > 4 ? 0 : r.int(4);
    return Array.from({ length: len }, () => dataFor(schema, t.ofType, r, depth + 1, counter));
  }
  if (isScalarType(t)) return scalarValue(t, r, counter.n);
  if (isEnumType(t)) return r.pick(t.getValues()).name;
  let obj = t;
  if (isAbstractType(t)) obj = r.pick(schema.getPossibleTypes(t));
  const out = {};
  if (isAbstractType(t)) out.__typename = obj.name;
  for (const f of Object.values(obj.getFields())) {
    out[f.name] = depth > 6 ? (isNonNullType(f.type) && isListType(getNullableType(f.type)) ? [] : null)
      : dataFor(schema, f.type, r, depth + 1, counter);
  }
  return out;
}

/** A root value for every root field of every operation type. */
export function rootDataFor(schema, seed) {
  const r = rng(seed);
  const root = {};
  for (const t of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    if (!t) continue;
    for (const f of Object.values(t.getFields())) root[f.name] = dataFor(schema, f.type, r, 0);
  }
  return root;
}

// ---- literals ------------------------------------------------------------------------------

function literalFor(type, r, depth = 0) {
  if (!isNonNullType(type) && r.chance(0.1)) return 'null';
  const t = getNullableType(type);
  if (isListType(t)) {
    if (r.chance(0.3)) return literalFor(t.ofType, r, depth + 1); // list input coercion
    return `[${Array.from({ length: r.int(3) }, () => literalFor(t.ofType, r, depth + 1)).join(', ')}]`;
  }
  if (isEnumType(t)) return r.pick(t.getValues()).name;
  if (isInputObjectType(t)) {
    const parts = [];
    for (const f of Object.values(t.getFields())) {
      const required = isNonNullType(f.type) && f.defaultValue === undefined;
      if (required || (depth < 2 && r.chance(0.3))) parts.push(`${f.name}: ${literalFor(f.type, r, depth + 1)}`);
    }
    return `{${parts.join(', ')}}`;
  }
  switch (t.name) {
    case 'Int': return String(r.int(200) - 100);
    case 'Float': return r.chance(0.5) ? String(r.int(50)) : `${r.int(50)}.${r.int(100)}e${r.int(3)}`;
    case 'Boolean': return r.chance(0.5) ? 'true' : 'false';
    case 'ID': return r.chance(0.3) ? String(r.int(1000)) : `"id${r.int(100)}"`;
    case 'String': return JSON.stringify(`str ${r.int(100)} é\n`);
    default: return r.pick(['{a: 1, b: [true, null]}', '"json"', '12', '[1, "x"]']);
  }
}

function jsonFor(type, r, depth = 0) {
  if (!isNonNullType(type) && r.chance(0.1)) return null;
  const t = getNullableType(type);
  if (isListType(t)) return Array.from({ length: r.int(3) }, () => jsonFor(t.ofType, r, depth + 1));
  if (isEnumType(t)) return r.pick(t.getValues()).name;
  if (isInputObjectType(t)) {
    const o = {};
    for (const f of Object.values(t.getFields())) {
      const required = isNonNullType(f.type) && f.defaultValue === undefined;
      if (required || (depth < 2 && r.chance(0.3))) o[f.name] = jsonFor(f.type, r, depth + 1);
    }
    return o;
  }
  return scalarValue(t, r, r.int(100));
}

// ---- documents -----------------------------------------------------------------------------

/** One valid-looking operation on @p schema: { query, variables }. */
export function genOperation(schema, r) {
  const ops = [['query', schema.getQueryType()]];
  if (schema.getMutationType()) ops.push(['mutation', schema.getMutationType()]);
  if (schema.getSubscriptionType()) ops.push(['subscription', schema.getSubscriptionType()]);
  const [opType, root] = r.chance(0.7) ? ops[0] : r.pick(ops);
  const vars = [];
  const variables = {};
  const fragments = [];
  let nvar = 0;
  let nfrag = 0;

  const argText = (args) => {
    const parts = [];
    for (const a of args) {
      const required = isNonNullType(a.type) && a.defaultValue === undefined;
      if (!required && !r.chance(0.35)) continue;
      if (r.chance(0.3)) {
        const name = `v${nvar++}`;
        vars.push(`$${name}: ${a.type}`);
        variables[name] = jsonFor(a.type, r);
        parts.push(`${a.name}: $${name}`);
      } else {
        parts.push(`${a.name}: ${literalFor(a.type, r)}`);
      }
    }
    return parts.length ? `(${parts.join(', ')})` : '';
  };
  // graphql-js 16's SingleFieldSubscriptionsRule collects the root fields without variable
  // values and throws on `@include(if: $var)` there, so subscription roots get none.
  let rootLevel = true;
  const directive = () => {
    if ((rootLevel && opType === 'subscription') || !r.chance(0.12)) return '';
    const which = r.chance(0.5) ? 'include' : 'skip';
    if (r.chance(0.5)) return ` @${which}(if: ${r.chance(0.5)})`;
    const name = `b${nvar++}`;
    vars.push(`$${name}: Boolean!`);
    variables[name] = r.chance(0.5);
    return ` @${which}(if: $${name})`;
  };

  const selection = (type, depth, single) => {
    const items = [];
    if (isObjectType(type) || (!isUnionType(type) && isCompositeType(type))) {
      const fields = Object.values(type.getFields());
      const count = single ? 1 : 1 + r.int(Math.min(4, fields.length));
      for (let i = 0; i < count; i++) {
        const f = r.pick(fields);
        const named = getNamedType(f.type);
        if (isCompositeType(named) && depth >= 3) {
          items.push('__typename');
          continue;
        }
        const alias = r.chance(0.2) ? `a${r.int(1000)}: ` : '';
        const dir = directive();
        rootLevel = false;
        const sub = isLeafType(named) ? '' : ` ${selection(named, depth + 1, false)}`;
        items.push(`${alias}${f.name}${argText(f.args)}${dir}${sub}`);
      }
    } else {
      items.push('__typename');
    }
    if (!single && isAbstractType(type)) {
      for (const pt of schema.getPossibleTypes(type)) {
        if (r.chance(0.4)) items.push(`... on ${pt.name}${directive()} ${selection(pt, depth + 1, false)}`);
      }
    }
    if (!single && depth > 0 && r.chance(0.15)) {
      const name = `F${nfrag++}`;
      fragments.push(`fragment ${name} on ${type.name} ${selection(type, depth + 1, false)}`);
      items.push(`...${name}`);
    }
    if (!single && r.chance(0.1)) items.push('__typename');
    return `{ ${items.join(' ')} }`;
  };

  // A subscription selects exactly one root field; others take a few.
  const body = selection(root, 0, opType === 'subscription');
  const head = vars.length ? `${opType} Op(${vars.join(', ')}) ` : (r.chance(0.5) ? `${opType} ` : `${opType} Op `);
  const query = [head + body, ...fragments].join('\n');
  return { query, variables: Object.keys(variables).length ? variables : undefined };
}

/** Breaks @p query in one of several ways; returns the new text. */
export function breakDocument(query, r) {
  const names = [...query.matchAll(/\b([A-Za-z_][A-Za-z0-9_]*)\b(?=[ ({@}])/g)]
    .filter((m) => !['query', 'mutation', 'subscription', 'fragment', 'on', 'true', 'false', 'null'].includes(m[1]));
  const replaceAt = (idx, len, text) => query.slice(0, idx) + text + query.slice(idx + len);
  switch (r.int(10)) {
    case 0: { // misspell a name (field, argument, type or enum value)
      if (!names.length) break;
      const m = r.pick(names);
      const s = m[1];
      const typo = s.length > 2 ? s.slice(0, 1) + s.slice(2) : `${s}x`;
      return replaceAt(m.index, s.length, typo);
    }
    case 1: { // drop a sub-selection
      const open = [...query.matchAll(/ \{/g)].slice(1);
      if (!open.length) break;
      const m = r.pick(open);
      let depth = 0;
      for (let i = m.index + 1; i < query.length; i++) {
        if (query[i] === '{') depth++;
        else if (query[i] === '}' && --depth === 0) return replaceAt(m.index, i + 1 - m.index, '');
      }
      break;
    }
    case 2: // add a selection to the first leaf-looking field before a closing brace
      return query.replace(/([A-Za-z0-9_]+) \}/, '$1 { extra } }');
    case 3: // an unknown argument
      return query.replace(/([A-Za-z0-9_]+)( \{| \})/, '$1(bogus: 1)$2');
    case 4: // a wrongly typed argument value
      return query.replace(/: ("[^"]*"|-?\d+(\.\d+)?(e\d+)?|true|false|[A-Z][A-Za-z_]*)/, ': {wrong: [1]}');
    case 5: // an undefined variable
      return query.replace(/\(([a-zA-Z]+): [^,)]+/, '($1: $undefinedVar');
    case 6: // an unused variable or fragment
      return r.chance(0.5) ? query.replace(/^(query|mutation|subscription)( Op)?/, '$1 Op2($zzz: Int)')
        : `${query}\nfragment Unused on ${r.chance(0.5) ? 'Query' : 'String'} { __typename }`;
    case 7: // a second operation: duplicate name or a lone anonymous one
      return r.chance(0.5) ? `${query}\nquery Op { __typename }` : `${query}\n{ __typename }`;
    case 8: // a conflicting alias
      return query.replace(/\{ ([A-Za-z_][A-Za-z0-9_]*)/, '{ $1: __typename $1');
    default: // an unknown directive, or a duplicated non-repeatable one
      return r.chance(0.5) ? query.replace(/([A-Za-z0-9_]+) \}/, '$1 @nope }')
        : query.replace(/([A-Za-z0-9_]+) \}/, '$1 @skip(if: false) @skip(if: false) }');
  }
  return `${query} }`;
}

/** @p query cut at a random position (a syntax error nearly always). */
export function truncateDocument(query, r) {
  return query.slice(0, 1 + r.int(Math.max(1, query.length - 1)));
}
