// compare.mjs - normalising gateway answers and listing where two answers differ.
//
// An answer is compared on: the HTTP status class (2xx or not), "data" exactly (values and
// key order: clients see the order, and the GraphQL spec fixes it), and "errors" as a
// multiset of {message, path}. Error locations and extensions are not compared (a gateway
// reports a subgraph's locations, or none; extensions.serviceName and codes vary).

export function normalise(res) {
  const body = res.body;
  if (body === undefined || body === null || typeof body !== 'object') {
    return { status: res.status, data: undefined, errors: [], raw: res.text, malformed: true };
  }
  return {
    status: res.status,
    data: body.data,
    errors: (body.errors ?? []).map((e) => ({ message: e?.message, path: e?.path ?? null })),
  };
}

const errKey = (e) => JSON.stringify([e.message, e.path]);
const kind = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

// Differences between answers a and b, as items:
//   {kind: 'status', a, b} | {kind: 'malformed', side}
//   {kind: 'data', path, a, b}        a value differs (undefined: the key is absent)
//   {kind: 'order', path, a, b}       same keys, different order (a, b: the key lists)
//   {kind: 'error', side: 'a'|'b', error}  an error only one side reports
export function diff(a, b) {
  const items = [];
  if (a.malformed || b.malformed) {
    if (a.malformed) items.push({ kind: 'malformed', side: 'a', raw: a.raw });
    if (b.malformed) items.push({ kind: 'malformed', side: 'b', raw: b.raw });
    return items;
  }
  if ((a.status >= 200 && a.status < 300) !== (b.status >= 200 && b.status < 300)) items.push({ kind: 'status', a: a.status, b: b.status });
  walk(a.data, b.data, [], items);
  const count = new Map();
  for (const e of b.errors) count.set(errKey(e), (count.get(errKey(e)) ?? 0) + 1);
  for (const e of a.errors) {
    const k = errKey(e);
    if (count.get(k)) count.set(k, count.get(k) - 1);
    else items.push({ kind: 'error', side: 'a', error: e });
  }
  const countA = new Map();
  for (const e of a.errors) countA.set(errKey(e), (countA.get(errKey(e)) ?? 0) + 1);
  for (const e of b.errors) {
    const k = errKey(e);
    if (countA.get(k)) countA.set(k, countA.get(k) - 1);
    else items.push({ kind: 'error', side: 'b', error: e });
  }
  return items;
}

function walk(a, b, path, items) {
  if (kind(a) !== kind(b)) { items.push({ kind: 'data', path, a, b }); return; }
  if (kind(a) === 'array') {
    if (a.length !== b.length) { items.push({ kind: 'data', path, a, b }); return; }
    a.forEach((x, i) => walk(x, b[i], [...path, i], items));
    return;
  }
  if (kind(a) === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    for (const k of ka) if (!(k in b)) items.push({ kind: 'data', path: [...path, k], a: a[k], b: undefined });
    for (const k of kb) if (!(k in a)) items.push({ kind: 'data', path: [...path, k], a: undefined, b: b[k] });
    const ca = ka.filter((k) => k in b);
    const cb = kb.filter((k) => k in a);
    if (ca.join('\0') !== cb.join('\0')) items.push({ kind: 'order', path, a: ka, b: kb });
    for (const k of ca) walk(a[k], b[k], [...path, k], items);
    return;
  }
  if (a !== b) items.push({ kind: 'data', path, a, b });
}

// A request-level failure: no data at all, or only errors without a path (validation,
// parsing, a gateway that could not plan or reach anything).
export function requestFailed(n) {
  return n.malformed || n.data === undefined || n.data === null && n.errors.some((e) => !e.path)
    || (n.errors.length > 0 && n.errors.every((e) => !e.path));
}

// ---- judging a tested gateway's errors by the spec -----------------------------------------

// Whether @p path is written as the spec writes one — response keys as strings, list
// indexes as integers (no "2", no Apollo's "@" or "_entities") — and points at a null of
// @p data: the failed field itself, or a null it propagated to on the way.
export function specPath(path, data) {
  return pathReach(path, data) !== 'none';
}

// How a spec-shaped @p path meets @p data: 'field' (it ends at a null: the failed field),
// 'propagated' (a null above it: the failed field's null went further up, and the data no
// longer shows which list item failed), or 'none' (not spec-shaped, or no null there).
function pathReach(path, data) {
  if (!Array.isArray(path) || path.length === 0) return 'none';
  const shaped = (k) => (typeof k === 'number' ? Number.isInteger(k) && k >= 0 : typeof k === 'string' && !/^\d+$/.test(k) && k !== '@' && k !== '_entities');
  if (!path.every(shaped)) return 'none';
  let v = data;
  for (const k of path) {
    if (v === null) return 'propagated';
    if (typeof k === 'number' ? !Array.isArray(v) || k >= v.length : v === undefined || typeof v !== 'object' || Array.isArray(v)) return 'none';
    v = v[k];
  }
  return v === null ? 'field' : 'none';
}

/**
 * Differences between the right answer @p right and a tested gateway's @p got, like
 * diff(right, got), except for errors whose path the right answer's own data does not bear
 * out: not written as the spec writes paths (Mercurius's string indexes, Apollo's "@" and
 * "_entities"), pointing at no null, or at a null propagated above it, where the references
 * are known to name the wrong list item (the item's index in their _entities batch). Such an
 * error is matched by message, and the tested gateway's must have a spec path over its own
 * data. Every other error must be there with its exact path.
 */
export function diffBySpec(right, got) {
  const items = diff({ ...right, errors: [] }, { ...got, errors: [] });
  if (right.malformed || got.malformed) return items;
  const left = [...got.errors];
  const take = (pred) => {
    const i = left.findIndex(pred);
    return i < 0 ? null : left.splice(i, 1)[0];
  };
  for (const e of right.errors) {
    const found = pathReach(e.path, right.data) === 'field' || e.path === null
      ? take((g) => g.message === e.message && JSON.stringify(g.path) === JSON.stringify(e.path))
      : take((g) => g.message === e.message && specPath(g.path, got.data));
    if (!found) items.push({ kind: 'error', side: 'a', error: e });
  }
  for (const g of left) items.push({ kind: 'error', side: 'b', error: g });
  return items;
}
