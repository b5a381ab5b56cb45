// GraphQL over HTTP beyond JSON POSTs: GET /graphql with URL parameters (queries only; a
// mutation over GET is a 405 naming POST), POST with Content-Type: application/graphql,
// percent-encoding and '+', and query strings too long to take, against the real stack.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before } from 'node:test';
import { CHANGE_CART_ITEM, MUTATION_OK, itest, itestStopsCleanly, sleep, startStack, takeConsistencyToken, waitFor } from './lib/stack.mjs';

let stack;
before(async () => {
  stack = await startStack({ name: 'transport' });
});
after(async () => {
  await stack?.stop();
});

/** Form-encodes @p params the way HTML forms do: spaces as '+', everything else as %XX. */
function formEncode(params) {
  return Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v).replace(/%20/g, '+')}`)
    .join('&');
}

/** GET /graphql?<qs> with node:http, so a server that answers and closes early is still seen. */
function getRaw(qs, headers = { accept: 'application/json' }) {
  const url = new URL(stack.urls.graphql);
  return new Promise((resolve) => {
    const req = http.get({ host: url.hostname, port: url.port, path: `${url.pathname}?${qs}`, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', (error) => resolve({ status: res.statusCode, headers: res.headers, text, json: null, error }));
    });
    req.setTimeout(30000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (error) => resolve({ status: 0, error }));
  });
}

const get = (params, headers) => getRaw(formEncode(params), headers);

const CART = `query Cart($id: ID!) {
  CartReadModel(id: $id) { id cartItems { ...Item } }
}
query Other { __typename }
fragment Item on CartItem { productId quantity }`;

function assertTransportError(r, status, code, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers['content-type'], /^application\/json/, what);
  assert.equal(r.json?.data, undefined, `${what}: no data in ${r.text}`);
  assert.equal(r.json?.errors?.[0]?.extensions?.code, code, `${what}: ${r.text}`);
  assert.equal(typeof r.json.errors[0].message, 'string');
}

itest('GET runs a query with variables and an operation name', { timeout: 60000 }, async () => {
  const posted = await stack.gql(CHANGE_CART_ITEM, { cartId: 'transport-1', productId: 'p 1+2', quantity: 2 });
  assert.deepStrictEqual(posted.json, MUTATION_OK, posted.text);

  const params = { query: CART, variables: JSON.stringify({ id: 'transport-1' }), operationName: 'Cart' };
  const qs = formEncode(params);
  assert.ok(qs.includes('+') && qs.includes('%7B'), `both encodings are exercised: ${qs}`);
  const r = await waitFor(async () => {
    const res = await getRaw(qs);
    return res.json?.data?.CartReadModel ? res : undefined;
  }, { what: 'the cart read model over GET' });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.equal(r.headers['access-control-allow-origin'], '*');
  // The product id holds a space and a '+': the encoded '+' is data, the '+' for a space is not.
  assert.deepStrictEqual(r.json, {
    data: { CartReadModel: { id: 'transport-1', cartItems: [{ productId: 'p 1+2', quantity: 2 }] } },
  });

  // The same URL as URLSearchParams (what GraphiQL and most clients build) and with %20.
  const viaSearchParams = await getRaw(new URLSearchParams(params).toString());
  assert.deepStrictEqual(viaSearchParams.json, r.json);
  const viaPercent20 = await getRaw(qs.replace(/\+/g, '%20'));
  assert.deepStrictEqual(viaPercent20.json, r.json);

  // Without operationName the document is ambiguous: Booster's GraphQL-level error, HTTP 200.
  const ambiguous = await get({ query: CART, variables: '{"id":"transport-1"}' });
  assert.equal(ambiguous.status, 200, ambiguous.text);
  assert.match(ambiguous.json.errors[0].message, /Could not extract GraphQL operation/);

  // Validation errors are GraphQL errors over GET too.
  const invalid = await get({ query: '{ CartReadModel(id: "x") { nope } }' });
  assert.equal(invalid.status, 200, invalid.text);
  assert.match(invalid.json.errors[0].message, /Cannot query field "nope"/);
});

itest('a mutation over GET is refused with 405 and Allow: POST, and does not run', { timeout: 60000 }, async () => {
  const r = await get({
    query: CHANGE_CART_ITEM,
    variables: JSON.stringify({ cartId: 'transport-get', productId: 'p1', quantity: 1 }),
  });
  assertTransportError(r, 405, 'InvalidProtocolError', 'GET mutation');
  assert.equal(r.headers.allow, 'POST');
  assert.equal(r.json.errors[0].message, 'Can only perform a mutation operation from a POST request.');

  // The operation named in a document with both kinds decides.
  const both = `${CHANGE_CART_ITEM.replace('mutation', 'mutation M')}\nquery Q { __typename }`;
  const q = await get({ query: both, operationName: 'Q' });
  assert.deepStrictEqual(q.json, { data: { __typename: 'Query' } }, q.text);
  const m = await get({ query: both, operationName: 'M', variables: '{"cartId":"transport-get","productId":"p1","quantity":1}' });
  assert.equal(m.status, 405, m.text);

  // Nothing was produced: a POSTed mutation on another cart converges, this one stays absent.
  assert.deepStrictEqual((await stack.gql(CHANGE_CART_ITEM, { cartId: 'transport-2', productId: 'p1', quantity: 1 })).json, MUTATION_OK);
  await waitFor(async () => (await stack.gql('{ CartReadModel(id: "transport-2") { id } }')).json?.data?.CartReadModel ?? undefined,
    { what: 'the POSTed cart' });
  await sleep(500);
  const absent = await stack.gql('{ CartReadModel(id: "transport-get") { id } }');
  assert.deepStrictEqual(absent.json, { data: { CartReadModel: null } }, absent.text);
});

itest('POST with Content-Type: application/graphql takes the body as the query', async () => {
  const post = (body, type) => fetch(stack.urls.graphql, { method: 'POST', headers: { 'content-type': type }, body });
  let res = await post('{ __typename }', 'application/graphql');
  assert.equal(res.status, 200);
  assert.deepStrictEqual(await res.json(), { data: { __typename: 'Query' } });

  res = await post('query { CartReadModel(id: "transport-none") { id } }', 'application/graphql; charset=utf-8');
  assert.deepStrictEqual(await res.json(), { data: { CartReadModel: null } });

  // A mutation is fine over POST whatever the content type.
  res = await post('mutation { ChangeCartItem(input: {cartId: "transport-3", productId: "p1", quantity: 1}) }', 'application/graphql');
  const answer = await res.json();
  assert.ok(takeConsistencyToken(answer), JSON.stringify(answer));
  assert.deepStrictEqual(answer, MUTATION_OK);

  // Syntax errors come back as GraphQL errors with locations.
  res = await post('{ __typename', 'application/graphql');
  const body = await res.json();
  assert.equal(res.status, 200);
  assert.match(body.errors[0].message, /^Syntax Error/);
  assert.deepStrictEqual(body.errors[0].locations, [{ line: 1, column: 13 }]);

  res = await post('', 'application/graphql');
  assert.equal((await res.json()).errors[0].message, 'Received an empty GraphQL query');
});

itest('malformed GETs get JSON errors; browsers without a query still get GraphiQL', async () => {
  const none = await getRaw('');
  assertTransportError(none, 400, 'InvalidParameterError', 'GET without a query');
  assert.match(none.json.errors[0].message, /needs a query parameter/);
  assertTransportError(await getRaw('operationName=x'), 400, 'InvalidParameterError', 'GET with only operationName');
  assertTransportError(await getRaw('query=%7B__typename%7'), 400, 'InvalidParameterError', 'truncated escape');
  assertTransportError(await getRaw('query=%7B__typename%7D&query=x'), 400, 'InvalidParameterError', 'query twice');
  assertTransportError(await getRaw('query=%FF'), 400, 'InvalidParameterError', 'not UTF-8');
  const vars = await get({ query: CART, operationName: 'Cart', variables: '{"id":' });
  assertTransportError(vars, 400, 'InvalidParameterError', 'variables not JSON');
  assert.match(vars.json.errors[0].message, /could not parse the variables parameter as JSON/);

  const html = await getRaw('', { accept: 'text/html,application/xhtml+xml' });
  assert.equal(html.status, 200);
  assert.match(html.headers['content-type'], /^text\/html/);
  // A browser following a link to a query gets the result.
  const result = await get({ query: '{ __typename }' }, { accept: 'text/html' });
  assert.deepStrictEqual(result.json, { data: { __typename: 'Query' } });
});

itest('oversized query strings are refused cleanly and hurt nothing', { timeout: 60000 }, async () => {
  // Over the gateway's 64 KiB: its JSON 414.
  const long = `query=${encodeURIComponent(`{ __typename ${' '.repeat(70 * 1024)}}`)}`;
  const r = await getRaw(long);
  assertTransportError(r, 414, 'InvalidParameterError', '70 KiB query string');
  assert.match(r.json.errors[0].message, /query string too long: \d+ bytes, the limit is 65536/);

  // Just under it: runs.
  const fits = `query=${'%20'.repeat(Math.floor((65536 - 40) / 3))}${encodeURIComponent('{ __typename }')}`;
  assert.ok(fits.length <= 65536);
  assert.deepStrictEqual((await getRaw(fits)).json, { data: { __typename: 'Query' } });

  // Beyond h2o's own request-head limit (~400 KiB): h2o refuses it, or closes the
  // connection; either way nothing breaks.
  const huge = await getRaw(`query=${'a'.repeat(600 * 1024)}`);
  assert.ok(huge.status === 0 || (huge.status >= 400 && huge.status < 500), `huge URL answered ${huge.status}`);

  const still = await get({ query: '{ __typename }' });
  assert.deepStrictEqual(still.json, { data: { __typename: 'Query' } });
  assert.deepStrictEqual((await stack.gql(CHANGE_CART_ITEM, { cartId: 'transport-4', productId: 'p1', quantity: 1 })).json, MUTATION_OK);
});

itestStopsCleanly(() => stack);
