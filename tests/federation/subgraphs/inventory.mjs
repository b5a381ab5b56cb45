// inventory - @mercuriusjs/federation. Extends Product with the @extends directive (not
// "extend type") by the compound key "sku brand", declares weight and price @external and
// @requires them: shippingEstimate needs "weight", localPrice the nested "price { amount
// currency }". Defines Money and Currency identically to products (value types). Root
// field lowStock returns a list of Product references by the compound key.
// Failing on purpose: Product.quantity (Int!) for p4, inside an _entities call.
import { mercuriusFederationPlugin } from '@mercuriusjs/federation';
import { state } from '../lib/data.mjs';
import { serveSubgraph } from '../lib/subgraph.mjs';

export const typeDefs = `
  extend type Query {
    lowStock(threshold: Int = 5): [Product!]!
  }

  enum Currency { EUR USD }

  type Money {
    amount: Float!
    currency: Currency!
  }

  type Product @extends @key(fields: "sku brand") {
    sku: String! @external
    brand: String! @external
    weight: Int @external
    price: Money! @external
    inStock: Boolean!
    "Throws for p4: a non-null field that fails inside an _entities call."
    quantity: Int!
    warehouse: String
    shippingEstimate: Int @requires(fields: "weight")
    localPrice(currency: Currency = USD): Money @requires(fields: "price { amount currency }")
  }
`;

const stockOf = (p) => state.stock[`${p.sku}|${p.brand}`] ?? null;
const RATES = { EUR: 1, USD: 1.25 };

export const resolvers = {
  Query: {
    lowStock: (_, { threshold }) => Object.entries(state.stock)
      .filter(([, s]) => s.quantity < threshold)
      .map(([k]) => { const [sku, brand] = k.split('|'); return { __typename: 'Product', sku, brand }; }),
  },
  Product: {
    __resolveReference: (ref) => ({ ...ref }),
    inStock: (p) => (stockOf(p)?.quantity ?? 0) > 0,
    quantity: (p) => {
      if (p.sku === 'SICP') throw new Error(`stock of ${p.sku} is being counted`);
      return stockOf(p)?.quantity ?? 0;
    },
    warehouse: (p) => stockOf(p)?.warehouse ?? null,
    shippingEstimate: (p) => {
      // @requires: the gateway must have sent weight; say so plainly if it did not.
      if (!('weight' in p)) throw new Error(`shippingEstimate of ${p.sku}: weight was not sent (@requires)`);
      return p.weight == null ? null : Math.ceil(p.weight / 500) * 3 + 2;
    },
    localPrice: (p, { currency }) => {
      if (!p.price || p.price.amount === undefined) throw new Error(`localPrice of ${p.sku}: price was not sent (@requires)`);
      const eur = p.price.amount / RATES[p.price.currency];
      return { amount: Math.round(eur * RATES[currency] * 100) / 100, currency };
    },
  },
};

export function start({ port = 0 } = {}) {
  return serveSubgraph('inventory', async (app) => {
    await app.register(mercuriusFederationPlugin, { schema: typeDefs, resolvers, graphiql: false, path: '/graphql' });
  }, { port });
}
