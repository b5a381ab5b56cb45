// accounts - @apollo/subgraph. Owns User with two keys (@key "id" and @key "username"),
// the Role enum, the Vendor value type (also defined, identically, by products), and
// extends Product by the nested-selection key "vendor { id } sku" to say who curates it.
// Root fields: me, user, users, userByName; Mutation.setNickname.
// Failing on purpose: User.karma (nullable) for u3, User.email (String!) for u4.
import gql from 'graphql-tag';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { state, userById } from '../lib/data.mjs';
import { graphqlJsRoute, serveSubgraph } from '../lib/subgraph.mjs';

export const typeDefs = gql`
  extend type Query {
    me: User
    user(id: ID!): User
    userByName(username: String!): User
    users(first: Int = 10, role: Role): [User]!
  }

  extend type Mutation {
    setNickname(id: ID!, nickname: String): User
  }

  enum Role { ADMIN STAFF CUSTOMER }

  type User @key(fields: "id") @key(fields: "username") {
    id: ID!
    username: String!
    name: String!
    nickname: String
    role: Role!
    "Throws for u3."
    karma: Int
    "Throws for u4: a non-null field that fails."
    email: String!
  }

  type Vendor {
    id: ID!
    name: String!
  }

  extend type Product @key(fields: "vendor { id } sku") {
    vendor: Vendor! @external
    sku: String! @external
    curator: User
  }
`;

const resolveUser = (ref) => {
  if (ref.id !== undefined) return userById(ref.id);
  return state.users.find((u) => u.username === ref.username) ?? null;
};

export const resolvers = {
  Query: {
    me: () => userById('u1'),
    user: (_, { id }) => userById(id),
    userByName: (_, { username }) => resolveUser({ username }),
    users: (_, { first, role }) => state.users.filter((u) => !role || u.role === role).slice(0, Math.max(0, first ?? 10)),
  },
  Mutation: {
    setNickname: (_, { id, nickname }) => {
      const u = userById(id);
      if (!u) throw new Error(`no user ${id}`);
      u.nickname = nickname ?? null;
      return u;
    },
  },
  User: {
    __resolveReference: (ref) => resolveUser(ref),
    karma: (u) => {
      if (u.id === 'u3') throw new Error(`karma of ${u.id} is being recomputed`);
      return u.karma;
    },
    email: (u) => {
      if (u.id === 'u4') throw new Error(`email of ${u.id} is hidden`);
      return u.email;
    },
  },
  Product: {
    curator: (p) => {
      const id = state.curators[`${p.vendor?.id}|${p.sku}`];
      return id ? userById(id) : null;
    },
  },
};

export const schema = buildSubgraphSchema([{ typeDefs, resolvers }]);

export function start({ port = 0 } = {}) {
  return serveSubgraph('accounts', graphqlJsRoute(schema), { port });
}
