// tests/integration/lib/carts.mjs - checks of the shop's carts shared by the fault tests:
// the event store's Cart events grouped per cart, and whether every CartReadModel equals
// the fold of its cart's events.
import { foldCart } from './stack.mjs';

/** Events (rows with entity_id) grouped by cart id, in the order given. */
export function groupByCart(events) {
  const carts = new Map();
  for (const e of events) {
    if (!carts.has(e.entity_id)) carts.set(e.entity_id, []);
    carts.get(e.entity_id).push(e);
  }
  return carts;
}

/** JSON text with every object's keys sorted: jsonb does not keep key order, arrays keep theirs. */
function canonical(v) {
  if (v === undefined) return undefined;
  return JSON.stringify(v, (_, x) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x,
  );
}

/** null when every cart's read model equals the fold of its events, else a description of the first difference. */
export function compareCarts(events, models) {
  const carts = groupByCart(events);
  const byId = new Map(models.map((m) => [m.id, m.value]));
  for (const [cart, list] of carts) {
    const want = canonical(foldCart(list));
    const have = canonical(byId.get(cart)?.cartItems);
    if (have !== want) return `${cart}: read model ${have?.slice(0, 300)} != fold ${want.slice(0, 300)}`;
  }
  for (const id of byId.keys()) if (!carts.has(id)) return `read model ${id} has no events`;
  return null;
}
