// tests/clients/lib/clients.mjs - the npm GraphQL clients under test, behind one shape.
//
// Each factory returns {name, subscribe(query, variables) -> Feed, run(query, variables) ->
// Promise<Feed>, close()}. subscribe() starts a subscription; run() executes a query or a
// mutation over the same socket (no split link: Apollo's WebSocket links carry every
// operation) and resolves once the library reports it finished. A Feed records what the
// client library hands to the application: every result's data, every GraphQL error
// message (whether the library reports it as a result with `errors` or through its error
// callback), and completion. The adapters only translate callbacks; the libraries do all
// the protocol work, which is what these tests check.

import { ApolloClient, InMemoryCache, gql } from '@apollo/client/core/index.js';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions/index.js';
import { WebSocketLink } from '@apollo/client/link/ws/index.js';
import { createClient } from 'graphql-ws';
import subscriptionsTransportWs from 'subscriptions-transport-ws';
import WebSocket from 'ws';

const { SubscriptionClient } = subscriptionsTransportWs;

/** What one subscription received, as the application sees it. */
export class Feed {
  constructor() {
    this.values = []; // result data, in arrival order
    this.errors = []; // GraphQL error messages
    this.completed = false;
    this.unsubscribe = () => {};
  }

  push(data) {
    this.values.push(data);
  }

  /** Records errors: an array of GraphQL errors, an ApolloError, an Error or a close event. */
  fail(e) {
    if (Array.isArray(e)) {
      for (const x of e) this.errors.push(x?.message ?? String(x));
    } else if (e?.graphQLErrors?.length) {
      for (const x of e.graphQLErrors) this.errors.push(x.message);
    } else if (e?.message !== undefined) {
      this.errors.push(e.message);
    } else if (e?.code !== undefined) {
      this.errors.push(`socket closed: ${e.code} ${e.reason ?? ''}`);
    } else {
      this.errors.push(String(e));
    }
  }

  result(r) {
    if (r.errors?.length) this.fail(r.errors);
    if (r.data !== undefined && r.data !== null) this.push(r.data);
  }
}

/** Runs @p start(observer) and resolves its Feed once the operation completes or fails. */
function runToEnd(start) {
  return new Promise((resolve) => {
    const feed = new Feed();
    start({
      next: (r) => feed.result(r),
      error: (e) => {
        feed.fail(e);
        resolve(feed);
      },
      complete: () => {
        feed.completed = true;
        resolve(feed);
      },
    });
  });
}

function authParams(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function stwsSubscriptionClient(url, token) {
  return new SubscriptionClient(url, { reconnect: false, connectionParams: authParams(token) }, WebSocket);
}

function graphqlWsClient(url, token) {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: authParams(token),
    retryAttempts: 0,
    lazy: true,
  });
}

/** subscriptions-transport-ws's SubscriptionClient (subprotocol graphql-ws). */
export function subscriptionsTransportWsClient(url, { token } = {}) {
  const client = stwsSubscriptionClient(url, token);
  return {
    name: 'subscriptions-transport-ws',
    subprotocol: 'graphql-ws',
    subscribe(query, variables) {
      const feed = new Feed();
      const sub = client.request({ query, variables }).subscribe({
        next: (r) => feed.result(r),
        error: (e) => feed.fail(e),
        complete: () => (feed.completed = true),
      });
      feed.unsubscribe = () => sub.unsubscribe();
      return feed;
    },
    run: (query, variables) => runToEnd((observer) => client.request({ query, variables }).subscribe(observer)),
    close: () => client.close(),
  };
}

/** graphql-ws's createClient with the `ws` package (subprotocol graphql-transport-ws). */
export function graphqlWsLibraryClient(url, { token } = {}) {
  const client = graphqlWsClient(url, token);
  return {
    name: 'graphql-ws',
    subprotocol: 'graphql-transport-ws',
    subscribe(query, variables) {
      const feed = new Feed();
      feed.unsubscribe = client.subscribe(
        { query, variables },
        {
          next: (r) => feed.result(r),
          error: (e) => feed.fail(e),
          complete: () => (feed.completed = true),
        },
      );
      return feed;
    },
    run: (query, variables) => runToEnd((observer) => client.subscribe({ query, variables }, observer)),
    close: () => client.dispose(),
  };
}

function apolloClient(name, subprotocol, link, closeTransport) {
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  return {
    name,
    subprotocol,
    subscribe(query, variables) {
      const feed = new Feed();
      const sub = client.subscribe({ query: gql(query), variables }).subscribe({
        next: (r) => feed.result(r),
        error: (e) => feed.fail(e),
        complete: () => (feed.completed = true),
      });
      feed.unsubscribe = () => sub.unsubscribe();
      return feed;
    },
    /* client.query / client.mutate, as applications call them; errorPolicy 'all' hands
       GraphQL errors over with the result instead of throwing them away with it. */
    async run(query, variables) {
      const doc = gql(query);
      const mutation = doc.definitions.some((d) => d.kind === 'OperationDefinition' && d.operation === 'mutation');
      const feed = new Feed();
      try {
        const r = mutation
          ? await client.mutate({ mutation: doc, variables, errorPolicy: 'all' })
          : await client.query({ query: doc, variables, fetchPolicy: 'no-cache', errorPolicy: 'all' });
        feed.result(r);
        feed.completed = true;
      } catch (e) {
        feed.fail(e);
      }
      return feed;
    },
    close: () => {
      client.stop();
      closeTransport();
    },
  };
}

/** Apollo Client with WebSocketLink over subscriptions-transport-ws. */
export function apolloWebSocketLinkClient(url, { token } = {}) {
  const transport = stwsSubscriptionClient(url, token);
  return apolloClient('@apollo/client WebSocketLink', 'graphql-ws', new WebSocketLink(transport), () =>
    transport.close(),
  );
}

/** Apollo Client with GraphQLWsLink over graphql-ws. */
export function apolloGraphQLWsLinkClient(url, { token } = {}) {
  const transport = graphqlWsClient(url, token);
  return apolloClient('@apollo/client GraphQLWsLink', 'graphql-transport-ws', new GraphQLWsLink(transport), () =>
    transport.dispose(),
  );
}

export const CLIENTS = [
  subscriptionsTransportWsClient,
  graphqlWsLibraryClient,
  apolloWebSocketLinkClient,
  apolloGraphQLWsLinkClient,
];
