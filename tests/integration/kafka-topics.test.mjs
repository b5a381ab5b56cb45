// Topics and external consumers on Apache Kafka (issue 10, items 4 and 5).
//
//   - The topics Ramjet creates carry an explicit max.message.bytes that admits the largest
//     envelope (the broker's own default, about 1 MiB, refused a 2 MB mutation), and a
//     3 MB mutation goes through every topic to its read model.
//   - On topics whose limit is lower (made by hand, or by an older Ramjet), a mutation over
//     it gets a clear GraphQL error and registers nothing; the entity goes on.
//   - The distribution's own console consumer, configured as docs/kafka-consumers.md says,
//     reads <app>.events, .snapshots and .readmodels: every envelope validates against
//     proto/*.schema.json, keys are as documented, and every stored event is there once.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import { consoleConsume, describeTopic } from './lib/kafka.mjs';
import { CART_READ_MODEL, CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, startStack, waitFor } from './lib/stack.mjs';

const proto = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../proto');
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validators = {};
for (const kind of ['event', 'snapshot', 'readmodel']) {
  validators[kind] = ajv.compile(JSON.parse(readFileSync(path.join(proto, `${kind}.schema.json`), 'utf8')));
}

const UPDATE_ADDRESS = `mutation ($cartId: ID!, $name: String!) {
  UpdateShippingAddress(input: {cartId: $cartId, address: {firstName: $name, lastName: "L", country: "ES", state: "M", postalCode: "28001", address: "Gran Via 1"}})
}`;
const ADDRESS_OK = { data: { UpdateShippingAddress: true } };
const ADDRESS_OF = `query ($id: ID!) { CartReadModel(id: $id) { id shippingAddress { firstName } } }`;

let stack;
let small;

before(async () => {
  stack = await startStack({ name: 'kafka-topics', kafka: 'real' });
});

after(async () => {
  await small?.stop();
  await stack?.stop();
});

itest('topics carry max.message.bytes for the largest envelope, and a 3 MB mutation reaches its read model', { timeout: 180000 }, async () => {
  for (const t of ['commands', 'events', 'snapshots', 'readmodels', 'deadletters']) {
    const d = await describeTopic(stack.urls.kafka, `shop.${t}`);
    assert.equal(d.configs['max.message.bytes'], '10485760', `shop.${t}: ${JSON.stringify(d)}`);
    assert.equal(d.partitions, 8, `shop.${t}`);
  }
  const name = 'n'.repeat(3 * 1000 * 1000);
  const r = await stack.gql(UPDATE_ADDRESS, { cartId: 'topics-big', name });
  assert.deepStrictEqual(r.json, ADDRESS_OK, r.text.slice(0, 500));
  await waitFor(async () => (await stack.gql(ADDRESS_OF, { id: 'topics-big' })).json.data?.CartReadModel?.shippingAddress?.firstName?.length === name.length, {
    timeoutMs: 60000,
    what: 'the 3 MB address in CartReadModel topics-big',
  });
});

itest('the console consumer reads the topics as docs/kafka-consumers.md says; every envelope validates, every event once', { timeout: 180000 }, async () => {
  const carts = ['ext-1', 'ext-2', 'ext-3'];
  for (let i = 0; i < 12; i++) {
    const r = await stack.gql(CHANGE_CART_ITEM, { cartId: carts[i % 3], productId: `p${i % 4}`, quantity: 1 });
    assert.deepStrictEqual(r.json, MUTATION_OK, r.text);
  }
  for (const id of carts) {
    await waitFor(async () => (await stack.gql(CART_READ_MODEL, { id })).json.data?.CartReadModel?.cartItems?.reduce((n, it) => n + it.quantity, 0) === 4, {
      timeoutMs: 30000,
      what: `cart ${id} projected`,
    });
  }
  const stored = await stack.sqlRows('SELECT event_id AS id FROM shop.events');

  const events = await consoleConsume(stack.urls.kafka, 'shop.events', { group: 'it-audit-log' });
  const seen = new Map();
  for (const { key, value } of events) {
    const env = JSON.parse(value);
    assert.ok(validators.event(env), `event ${value.slice(0, 300)}: ${ajv.errorsText(validators.event.errors)}`);
    assert.equal(key, `${env.entity}/${env.entityId}`);
    seen.set(env.eventId, (seen.get(env.eventId) ?? 0) + 1);
  }
  assert.equal(seen.size, stored.length, `${seen.size} distinct events on the topic, ${stored.length} stored`);
  for (const { id } of stored) assert.equal(seen.get(id), 1, `event ${id} read ${seen.get(id) ?? 0} times`);

  for (const [topic, kind, keyOf] of [
    ['shop.snapshots', 'snapshot', (e) => `${e.entity}/${e.entityId}`],
    ['shop.readmodels', 'readmodel', (e) => `${e.type}/${e.id}`],
  ]) {
    const records = await consoleConsume(stack.urls.kafka, topic);
    assert.ok(records.length > 0, `${topic} is empty`);
    for (const { key, value } of records) {
      const env = JSON.parse(value);
      assert.ok(validators[kind](env), `${kind} ${value.slice(0, 300)}: ${ajv.errorsText(validators[kind].errors)}`);
      assert.equal(key, keyOf(env), `${topic} key`);
    }
  }
});

itest('over a topic’s max.message.bytes a mutation gets a clear error and registers nothing', { timeout: 180000 }, async () => {
  // Topics made with the broker's own limit (1 MiB), as a user's or an older Ramjet's would be.
  small = await startStack({ name: 'kafka-topics-small', kafka: 'real', env: { RAMJET_TOPIC_MAX_MESSAGE_BYTES: '1048576' } });
  const r = await small.gql(UPDATE_ADDRESS, { cartId: 'topics-small', name: 'n'.repeat(2 * 1000 * 1000) });
  assert.equal(r.status, 200);
  assert.equal(r.json.data, null, r.text.slice(0, 500));
  assert.match(r.json.errors?.[0]?.message ?? '', /UpdateShippingAddress.*too large/i, r.text.slice(0, 500));
  assert.equal(r.json.errors[0].extensions?.code, 'InvalidParameterError');

  const ok = await small.gql(UPDATE_ADDRESS, { cartId: 'topics-small', name: 'Ada' });
  assert.deepStrictEqual(ok.json, ADDRESS_OK, ok.text);
  await waitFor(async () => (await small.gql(ADDRESS_OF, { id: 'topics-small' })).json.data?.CartReadModel?.shippingAddress?.firstName === 'Ada', {
    timeoutMs: 30000,
    what: 'the small address in CartReadModel topics-small',
  });
  const versions = await small.sqlRows("SELECT version FROM shop.events WHERE entity_id = 'topics-small' ORDER BY version");
  assert.deepStrictEqual(versions.map((v) => Number(v.version)), [1], 'only the small change was registered');
});

itestStopsCleanly(() => stack);
