// products - @mercuriusjs/federation (Mercurius prints this SDL). Owns Product with three
// keys: "upc", the compound "sku brand" (used by inventory) and the nested-selection
// "vendor { id } sku" (used by accounts); the Catalogued interface (Product, Bundle); the
// SearchResult union, which spans services (Product and Bundle from here, User from
// accounts); the value types Money (also in inventory) and Vendor (also in accounts) and
// the enums Category and Currency (Currency also in inventory); the Merchandise interface,
// implemented by the entities Book (@key "isbn") and Furniture (@key "id"), which reviews
// extends with a field (`extend interface`). Extends User with the
// products it created. Mutation.setPrice, and Subscription.priceChanged served over
// WebSocket (for the federated-subscriptions issue).
// Failing on purpose: Product.rating (nullable) for p3.
import { mercuriusFederationPlugin } from '@mercuriusjs/federation';
import { productByUpc, state } from '../lib/data.mjs';
import { serveSubgraph } from '../lib/subgraph.mjs';

export const typeDefs = `
  extend type Query {
    product(upc: String!): Product
    products(first: Int = 5, category: Category): [Product]
    topProducts(first: Int = 5): [Product!]!
    catalogue(kinds: [Kind!] = [PRODUCT, BUNDLE]): [Catalogued!]!
    search(term: String!): [SearchResult!]!
    bundle(id: ID!): Bundle
    merchandise(first: Int = 5): [Merchandise!]!
  }

  extend type Mutation {
    setPrice(upc: String!, price: MoneyInput!): Product
  }

  extend type Subscription {
    priceChanged(upc: String): Product
  }

  enum Category { BOOKS GAMES TOOLS }
  enum Currency { EUR USD }
  enum Kind { PRODUCT BUNDLE }

  input MoneyInput {
    amount: Float!
    currency: Currency = EUR
  }

  type Money {
    amount: Float!
    currency: Currency!
  }

  type Vendor {
    id: ID!
    name: String!
  }

  interface Catalogued {
    upc: String!
    name: String!
  }

  union SearchResult = Product | Bundle | User

  type Product implements Catalogued @key(fields: "upc") @key(fields: "sku brand") @key(fields: "vendor { id } sku") {
    upc: String!
    sku: String!
    brand: String!
    vendor: Vendor!
    name: String!
    category: Category!
    price: Money!
    weight: Int
    "Throws for p3."
    rating: Float
    createdBy: User
  }

  type Bundle implements Catalogued {
    upc: String!
    name: String!
    products: [Product!]!
    discount: Money
  }

  interface Merchandise {
    id: ID!
    title: String!
  }

  type Book implements Merchandise @key(fields: "isbn") {
    isbn: String!
    id: ID!
    title: String!
    pages: Int!
  }

  type Furniture implements Merchandise @key(fields: "id") {
    id: ID!
    title: String!
    material: String!
  }

  extend type User @key(fields: "id") {
    id: ID! @external
    products: [Product!]!
  }
`;

const asProduct = (p) => (p ? { ...p, __typename: 'Product' } : null);
const asBundle = (b) => (b ? { ...b, __typename: 'Bundle' } : null);

function resolveProduct(ref) {
  if (ref.upc !== undefined) return productByUpc(ref.upc);
  if (ref.brand !== undefined) return state.products.find((p) => p.sku === ref.sku && p.brand === ref.brand) ?? null;
  if (ref.vendor !== undefined) return state.products.find((p) => p.sku === ref.sku && p.vendor.id === ref.vendor?.id) ?? null;
  return null;
}

export const resolvers = {
  Query: {
    product: (_, { upc }) => asProduct(productByUpc(upc)),
    products: (_, { first, category }) => state.products.filter((p) => !category || p.category === category)
      .slice(0, Math.max(0, first ?? 5)).map(asProduct),
    topProducts: (_, { first }) => state.products.slice().sort((a, b) => (b.rating ?? 0) - (a.rating ?? 0) || (a.upc < b.upc ? -1 : 1))
      .slice(0, Math.max(0, first ?? 5)).map(asProduct),
    catalogue: (_, { kinds }) => [
      ...(kinds.includes('PRODUCT') ? state.products.slice(0, 3).map(asProduct) : []),
      ...(kinds.includes('BUNDLE') ? state.bundles.map(asBundle) : []),
    ],
    search: (_, { term }) => {
      const t = term.toLowerCase();
      return [
        ...state.products.filter((p) => p.name.toLowerCase().includes(t)).slice(0, 3).map(asProduct),
        ...state.bundles.filter((b) => b.name.toLowerCase().includes(t)).map(asBundle),
        ...state.users.filter((u) => u.username.includes(t)).slice(0, 2).map((u) => ({ __typename: 'User', id: u.id })),
      ];
    },
    bundle: (_, { id }) => asBundle(state.bundles.find((b) => b.id === id)),
    merchandise: (_, { first }) => state.merchandise.slice(0, Math.max(0, first ?? 5)),
  },
  Mutation: {
    setPrice: (_, { upc, price }, { pubsub }) => {
      const p = productByUpc(upc);
      if (!p) throw new Error(`no product ${upc}`);
      p.price = { amount: price.amount, currency: price.currency ?? 'EUR' };
      pubsub?.publish({ topic: 'PRICE_CHANGED', payload: { priceChanged: asProduct(p) } });
      return asProduct(p);
    },
  },
  Subscription: {
    priceChanged: {
      subscribe: async (_, __, { pubsub }) => pubsub.subscribe('PRICE_CHANGED'),
    },
  },
  Catalogued: { resolveType: (o) => o.__typename },
  SearchResult: { resolveType: (o) => o.__typename },
  Merchandise: { resolveType: (o) => o.__typename },
  Book: { __resolveReference: (ref) => state.merchandise.find((m) => m.isbn === ref.isbn) ?? null },
  Furniture: { __resolveReference: (ref) => state.merchandise.find((m) => m.__typename === 'Furniture' && m.id === ref.id) ?? null },
  Product: {
    __resolveReference: (ref) => asProduct(resolveProduct(ref)),
    rating: (p) => {
      if (p.upc === 'p3') throw new Error(`rating of ${p.upc} is being recomputed`);
      return p.rating;
    },
    createdBy: (p) => ({ __typename: 'User', id: p.createdBy }),
  },
  Bundle: {
    products: (b) => b.products.map((u) => asProduct(productByUpc(u))),
  },
  User: {
    __resolveReference: (ref) => ({ __typename: 'User', id: ref.id }),
    products: (u) => state.products.filter((p) => p.createdBy === u.id).map(asProduct),
  },
};

export function start({ port = 0 } = {}) {
  return serveSubgraph('products', async (app) => {
    await app.register(mercuriusFederationPlugin, {
      schema: typeDefs, resolvers, graphiql: false, subscription: true, path: '/graphql',
    });
  }, { port });
}
