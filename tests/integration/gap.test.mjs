// A version gap in the events topic, reproduced deterministically: the race where two
// command processors (different command partitions, same entity) claim versions n and
// n+1 in that order but produce n+1 first. Producing to Kafka from here is not
// practical, so the test plays the slow processor with SQL: it claims version n in
// entity_heads and commits its event to command_outbox, unproduced, exactly as
// services/commands/processor.c does before producing. The next mutation through the
// stack is then claimed as n+1 and produced alone, so the reducer meets n+1 on a
// snapshot at n-1. It must fold n from PostgreSQL first (the old reducer dead-lettered
// n+1 and the cart was stuck for good). Killing the command processor makes it produce
// the outbox row on partition assignment, as after a real crash: version n arrives late
// and is an ordinary redelivery.
//
// Second case: a version that is nowhere (claimed, never written) is reported, the
// snapshot is not folded across it, and the cart recovers once the version exists.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { CART_READ_MODEL, CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, startStack, waitFor } from './lib/stack.mjs';

let stack;
before(async () => {
  stack = await startStack({ name: 'gap' });
});
after(async () => {
  await stack?.stop();
});

const change = async (cartId, productId, quantity) => {
  const r = await stack.gql(CHANGE_CART_ITEM, { cartId, productId, quantity });
  assert.equal(r.status, 200, r.text);
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
};

const readCart = async (id) => {
  const r = await stack.gql(CART_READ_MODEL, { id });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json?.errors, undefined, r.text);
  return r.json.data.CartReadModel;
};

const waitForItems = (id, items, what) =>
  waitFor(async () => JSON.stringify((await readCart(id))?.cartItems) === JSON.stringify(items), {
    timeoutMs: 30000,
    what,
  });

const snapshot = async (id) =>
  (await stack.sqlRows(`SELECT version, last_event_id FROM shop.snapshots WHERE entity_type = 'Cart' AND entity_id = '${id}'`))[0];

const eventIds = async (id) =>
  Object.fromEntries(
    (await stack.sqlRows(`SELECT version, event_id FROM shop.events WHERE entity_type = 'Cart' AND entity_id = '${id}'`)).map((r) => [
      r.version,
      r.event_id,
    ]),
  );

/** ramjet_reducer_events_total{outcome=...} from the reducer's /metrics. */
const reducerOutcome = async (outcome) => {
  const { status, text } = await stack.health('reducer', '/metrics');
  assert.equal(status, 200);
  const m = text.match(new RegExp(`^ramjet_reducer_events_total\\{outcome="${outcome}"\\} (\\d+)`, 'm'));
  assert.ok(m, `no ${outcome} counter in:\n${text}`);
  return Number(m[1]);
};

/**
 * Plays the slow processor: claims the next version of cart @p id and commits its
 * event to the outbox, not produced. Resolves the version.
 */
const claimUnproduced = async (id, productId, quantity) => {
  const requestId = `gap-late-${randomUUID()}`;
  const version = Number(
    await stack.sql(
      `WITH u AS (UPDATE shop.entity_heads SET version = version + 1 WHERE entity_type = 'Cart' AND entity_id = '${id}' RETURNING version) SELECT version FROM u`,
    ),
  );
  assert.ok(version > 1, `cart ${id} has a head`);
  const envelope = {
    eventId: randomUUID(),
    type: 'CartItemChanged',
    entity: 'Cart',
    entityId: id,
    version,
    requestId,
    createdAt: new Date().toISOString(),
    value: { cartId: id, productId, quantity },
    currentUser: null,
  };
  await stack.sql(
    `INSERT INTO shop.command_outbox (request_id, partition, produced, events, reply) VALUES ('${requestId}', 0, false, '${JSON.stringify([envelope])}'::jsonb, '{}')`,
  );
  return { version, eventId: envelope.eventId };
};

itest('an event produced before an earlier version is folded after that version, read from PostgreSQL', { timeout: 240000 }, async () => {
  const id = 'gap-c1';
  await change(id, 'p1', 1);
  await waitForItems(id, [{ productId: 'p1', quantity: 1 }], 'cart gap-c1 at version 1');
  const gapsBefore = await reducerOutcome('gap');
  const filledBefore = await reducerOutcome('filled');

  const late = await claimUnproduced(id, 'p-late', 2);
  assert.equal(late.version, 2);
  await change(id, 'p3', 3); // claimed as 3, produced now; 2 is only in the outbox

  const want = [
    { productId: 'p1', quantity: 1 },
    { productId: 'p-late', quantity: 2 },
    { productId: 'p3', quantity: 3 },
  ];
  await waitForItems(id, want, 'cart gap-c1 to hold version 2 (filled) and 3');
  const ids = await waitFor(async () => ((await eventIds(id))[3] ? eventIds(id) : undefined), { what: 'version 3 in shop.events' });
  assert.equal(ids[2], undefined, 'version 2 was never produced: it can only have come from the outbox');
  assert.deepStrictEqual(await snapshot(id), { version: 3, last_event_id: ids[3] });
  assert.equal((await reducerOutcome('filled')) - filledBefore, 1, 'one event filled');
  assert.equal((await reducerOutcome('gap')) - gapsBefore, 0, 'no gap reported');
  assert.match(stack.log('reducer'), /filling a version gap from PostgreSQL entity=Cart\/gap-c1 stored=1 versions=2-2 found=1/);

  // The slow processor finally produces version 2 (after a crash, on partition
  // assignment): a redelivery for the reducer, stored by the event-store writer.
  const dupsBefore = await reducerOutcome('duplicate');
  const pid = await stack.pidOf('commands');
  process.kill(pid, 'SIGKILL');
  await stack.waitForRestart('commands', pid);
  const stored = await waitFor(async () => ((await eventIds(id))[2] ? eventIds(id) : undefined), {
    timeoutMs: 60000,
    what: 'version 2 produced and stored after the processor restarted',
  });
  assert.equal(stored[2], late.eventId);
  await waitFor(async () => (await reducerOutcome('duplicate')) > dupsBefore, { what: 'the late version 2 skipped as a redelivery' });
  assert.deepStrictEqual(await snapshot(id), { version: 3, last_event_id: ids[3] });
  assert.deepStrictEqual((await readCart(id)).cartItems, want);

  // And the cart goes on as usual.
  await change(id, 'p1', 4);
  await waitForItems(id, [{ productId: 'p1', quantity: 5 }, want[1], want[2]], 'cart gap-c1 at version 4');
  assert.equal((await reducerOutcome('gap')) - gapsBefore, 0);
});

itest('a version found nowhere is reported and never folded across; the cart recovers once it exists', { timeout: 180000 }, async () => {
  const id = 'gap-c2';
  await change(id, 'p1', 1);
  await waitForItems(id, [{ productId: 'p1', quantity: 1 }], 'cart gap-c2 at version 1');
  const gapsBefore = await reducerOutcome('gap');

  // Version 2 claimed and then lost: in neither the event store nor the outbox.
  const version = Number(
    await stack.sql(
      `WITH u AS (UPDATE shop.entity_heads SET version = version + 1 WHERE entity_type = 'Cart' AND entity_id = '${id}' RETURNING version) SELECT version FROM u`,
    ),
  );
  assert.equal(version, 2);
  await change(id, 'p3', 3);
  await waitFor(async () => (await reducerOutcome('gap')) > gapsBefore, { what: 'the gap to be reported' });
  assert.match(
    stack.log('reducer'),
    /expected version 2 but got 3; version\(s\) 2 in neither the event store nor the command outbox entity=Cart\/gap-c2/,
  );
  assert.equal((await snapshot(id)).version, 1, 'not folded across the hole');
  assert.deepStrictEqual((await readCart(id)).cartItems, [{ productId: 'p1', quantity: 1 }]);

  // An operator restores version 2 in the event store; the next event fills 2 and 3.
  await waitFor(async () => ((await eventIds(id))[3] ? true : undefined), { what: 'version 3 in shop.events' });
  await stack.sql(
    `INSERT INTO shop.events (event_id, entity_type, entity_id, version, type, request_id, value) VALUES ('${randomUUID()}', 'Cart', '${id}', 2, 'CartItemChanged', 'restored', '{"cartId": "${id}", "productId": "p2", "quantity": 2}')`,
  );
  await change(id, 'p4', 4);
  await waitForItems(
    id,
    [
      { productId: 'p1', quantity: 1 },
      { productId: 'p2', quantity: 2 },
      { productId: 'p3', quantity: 3 },
      { productId: 'p4', quantity: 4 },
    ],
    'cart gap-c2 to recover with versions 2, 3 and 4',
  );
  assert.equal((await snapshot(id)).version, 4);
});

itestStopsCleanly(() => stack);
