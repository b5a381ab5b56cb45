// Consumer groups on the real broker (issue 10): a consumer's /readyz is 200 only while
// the group has given it partitions — not before its first assignment, not after its
// partitions went to another member, and never for a replica beyond the partition count —
// as docs/running.md and deploy/README.md promise to whoever routes or rolls out by it;
// and the groups are named after the application.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import {
  CART_READ_MODEL,
  CHANGE_CART_ITEM,
  MUTATION_OK,
  itest,
  itestStopsCleanly,
  startExtraDaemon,
  startStack,
  stopExtraDaemons,
  waitFor,
} from './lib/stack.mjs';
import { kafkaTool } from './lib/kafka.mjs';

let stack;

before(async () => {
  // Two partitions, so a third reducer has nothing to do.
  stack = await startStack({ name: 'kafka-groups', kafka: 'real', args: ['--partitions', '2'] });
});

after(async () => {
  await stopExtraDaemons();
  await stack?.stop();
});

const readyOf = async (replicas) => Promise.all(replicas.map((r) => r.ready()));

itest('a reducer is ready only while it holds partitions', { timeout: 180000 }, async () => {
  const own = { ready: async () => (await stack.health('reducer', '/readyz')).status === 200 };
  assert.equal(await own.ready(), true, 'the stack’s reducer holds both partitions');

  // Two more members: after the rebalance, two of the three hold one partition each.
  const extras = [];
  for (let i = 0; i < 2; i++) extras.push(await startExtraDaemon(stack, 'reducer', {}, { waitReady: false }));
  const replicas = [own, ...extras];
  let states;
  await waitFor(async () => {
    states = await readyOf(replicas);
    return states.filter(Boolean).length === 2 && extras.every((e) => e.exitStatus === null);
  }, { timeoutMs: 60000, intervalMs: 250, what: `two of three reducers ready (now ${states})` });
  const idle = replicas[states.indexOf(false)];
  assert.equal(await idle.ready(), false, 'the member without partitions answers /readyz 503');

  // The pipeline runs meanwhile: a mutation reaches its read model.
  const r = await stack.gql(CHANGE_CART_ITEM, { cartId: 'groups-c1', productId: 'p1', quantity: 2 });
  assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  await waitFor(async () => (await stack.gql(CART_READ_MODEL, { id: 'groups-c1' })).json.data?.CartReadModel?.cartItems?.[0]?.quantity === 2, {
    timeoutMs: 30000,
    what: 'cart groups-c1 projected',
  });

  // A member that holds a partition leaves: its partition goes to the idle one, which turns
  // ready, and every remaining member is ready.
  const leaver = extras.find((e) => e !== idle && states[replicas.indexOf(e)]) ?? extras.find((e) => e !== idle);
  await leaver.stop();
  const rest = replicas.filter((x) => x !== leaver);
  await waitFor(async () => (await readyOf(rest)).every(Boolean), {
    timeoutMs: 60000,
    intervalMs: 250,
    what: 'both remaining reducers ready once the leaver’s partition moved',
  });

  // And the other way: one more leaves, the stack's reducer takes everything.
  for (const e of extras) if (e !== leaver) await e.stop();
  await waitFor(async () => own.ready(), { timeoutMs: 60000, what: 'the stack’s reducer ready with both partitions' });
});

itest('every consumer group carries the application name', { timeout: 120000 }, async () => {
  // Two applications on one cluster must never share a group (issue 15): the groups are
  // "<app>.ramjet-<daemon>", as the distribution's own kafka-consumer-groups lists them.
  const r = await kafkaTool('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', ['--bootstrap-server', stack.urls.kafka, '--list']);
  assert.equal(r.code, 0, r.stderr);
  const groups = r.stdout.split('\n').filter(Boolean).sort();
  assert.deepStrictEqual(groups, ['shop.ramjet-commands', 'shop.ramjet-eventstore', 'shop.ramjet-projector', 'shop.ramjet-reducer']);
});

itestStopsCleanly(() => stack);
