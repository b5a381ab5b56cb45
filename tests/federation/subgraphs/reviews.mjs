// reviews - @apollo/subgraph. Owns Review (@key "id"), extends User and Product by "id"
// and "upc", closes the cycle User.reviews -> Review.product -> Product.reviews ->
// Review.author -> ..., and @provides the author's username (the @external User.username).
// Adds Merchandise.reviews to products' interface (`extend interface`), and so to each
// implementation, the entities Book (by "isbn") and Furniture (by "id"), extended without
// repeating `implements Merchandise` (@mercuriusjs/gateway refuses a type implementing an
// interface twice: "Type Book can only implement Merchandise once").
// Root fields: review, latestReviews; Mutation.rateProduct(input: RatingInput!).
// Failing on purpose: Review.verdict (nullable) for r3, Product.averageStars (nullable) for
// p3, User.reviewCount (Int!) for u5. r7's author (u9) and r13's product (p7) exist nowhere.
import gql from 'graphql-tag';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { reviewById, state } from '../lib/data.mjs';
import { graphqlJsRoute, serveSubgraph } from '../lib/subgraph.mjs';

export const typeDefs = gql`
  extend type Query {
    review(id: ID!): Review
    latestReviews(first: Int = 3, minStars: Int): [Review!]!
  }

  extend type Mutation {
    rateProduct(input: RatingInput!): Review
  }

  input RatingInput {
    upc: String!
    authorId: ID!
    stars: Int!
    body: String = "no comment"
  }

  type Review @key(fields: "id") {
    id: ID!
    body: String!
    stars: Int!
    author: User @provides(fields: "username")
    product: Product
    "Throws for r3."
    verdict: String
  }

  extend type User @key(fields: "id") {
    id: ID! @external
    username: String! @external
    reviews: [Review!]
    "Throws for u5: a non-null field that fails inside an _entities call."
    reviewCount: Int!
  }

  extend type Product @key(fields: "upc") {
    upc: String! @external
    reviews: [Review!]!
    "Throws for p3."
    averageStars: Float
  }

  extend interface Merchandise {
    reviews: [Review!]!
  }

  extend type Book @key(fields: "isbn") {
    isbn: String! @external
    reviews: [Review!]!
  }

  extend type Furniture @key(fields: "id") {
    id: ID! @external
    reviews: [Review!]!
  }
`;

// The usernames this service knows without asking accounts (what @provides promises).
const USERNAMES = { u1: 'ada', u2: 'brian', u3: 'cleo', u4: 'dmitri', u5: 'eve', u6: 'farid', u9: 'ghost' };

const reviewsOf = (pred) => state.reviews.filter(pred);
const merchandiseReviews = (key) => (state.merchandiseReviews[key] ?? []).map(reviewById);

export const resolvers = {
  Query: {
    review: (_, { id }) => reviewById(id),
    latestReviews: (_, { first, minStars }) => reviewsOf((r) => minStars == null || r.stars >= minStars)
      .slice().reverse().slice(0, Math.max(0, first ?? 3)),
  },
  Mutation: {
    rateProduct: (_, { input }) => {
      // Idempotent: one review per (product, author), updated in place.
      let r = state.reviews.find((x) => x.upc === input.upc && x.authorId === input.authorId);
      if (!r) {
        r = { id: `r-${input.upc}-${input.authorId}`, upc: input.upc, authorId: input.authorId };
        state.reviews.push(r);
      }
      if (input.stars < 1 || input.stars > 5) throw new Error(`stars must be 1..5, got ${input.stars}`);
      r.stars = input.stars;
      r.body = input.body;
      return r;
    },
  },
  Review: {
    __resolveReference: (ref) => reviewById(ref.id),
    author: (r) => ({ __typename: 'User', id: r.authorId, username: USERNAMES[r.authorId] }),
    product: (r) => ({ __typename: 'Product', upc: r.upc }),
    verdict: (r) => {
      if (r.id === 'r3') throw new Error(`verdict of ${r.id} is under moderation`);
      return r.stars >= 4 ? 'recommended' : 'not recommended';
    },
  },
  User: {
    __resolveReference: (ref) => ({ id: ref.id }),
    reviews: (u) => reviewsOf((r) => r.authorId === u.id),
    reviewCount: (u) => {
      if (u.id === 'u5') throw new Error(`review count of ${u.id} is unavailable`);
      return reviewsOf((r) => r.authorId === u.id).length;
    },
  },
  Product: {
    __resolveReference: (ref) => ({ upc: ref.upc }),
    reviews: (p) => reviewsOf((r) => r.upc === p.upc),
    averageStars: (p) => {
      if (p.upc === 'p3') throw new Error(`average of ${p.upc} is stale`);
      const rs = reviewsOf((r) => r.upc === p.upc);
      return rs.length ? Math.round((rs.reduce((a, r) => a + r.stars, 0) / rs.length) * 100) / 100 : null;
    },
  },
  Book: {
    __resolveReference: (ref) => ({ isbn: ref.isbn }),
    reviews: (b) => merchandiseReviews(`Book:${b.isbn}`),
  },
  Furniture: {
    __resolveReference: (ref) => ({ id: ref.id }),
    reviews: (f) => merchandiseReviews(`Furniture:${f.id}`),
  },
};

export const schema = buildSubgraphSchema([{ typeDefs, resolvers }]);

export function start({ port = 0 } = {}) {
  return serveSubgraph('reviews', graphqlJsRoute(schema), { port });
}
