// data.mjs - the test subgraphs' data: a small store of accounts, a catalogue, reviews and
// stock. Hand-written so that every planned failure is at a known place:
//
//   accounts   User.karma (nullable) throws for u3; User.email (String!) throws for u4, so a
//              u4 fetched with email is null (and its non-null parents by the GraphQL rules);
//              u9 does not exist (review r7's author, p5's creator): its reference
//              resolves to null. p7 does not exist either (review r13's product).
//   products   Product.rating (nullable) throws for p3; __resolveReference throws for p6's
//              reference only when asked by key "sku brand" (not: it is simply absent, p6
//              exists only in products).
//   reviews    Review.verdict (nullable) throws for r3; Product.averageStars (nullable)
//              throws for p3; User.reviewCount (Int!) throws for u5.
//   inventory  Product.quantity (Int!) throws for p4.
//
// Mutations change this state (setNickname, rateProduct, setPrice); the oracle resets it with
// POST /__state/reset on every subgraph before each mutation document it sends.

function initial() {
  return {
    users: [
      { id: 'u1', username: 'ada', name: 'Ada Lovelace', nickname: null, role: 'ADMIN', karma: 120, email: 'ada@example.org' },
      { id: 'u2', username: 'brian', name: 'Brian Kernighan', nickname: 'bwk', role: 'STAFF', karma: 87, email: 'bwk@example.org' },
      { id: 'u3', username: 'cleo', name: 'Cleo Ibáñez', nickname: null, role: 'CUSTOMER', karma: -1, email: 'cleo@example.org' },
      { id: 'u4', username: 'dmitri', name: 'Dmitri Ōta', nickname: 'dm', role: 'CUSTOMER', karma: 3, email: null },
      { id: 'u5', username: 'eve', name: 'Eve Mallory', nickname: null, role: 'STAFF', karma: 0, email: 'eve@example.org' },
      { id: 'u6', username: 'farid', name: 'Farid Haddad', nickname: 'fh', role: 'CUSTOMER', karma: 42, email: 'farid@example.org' },
    ],
    products: [
      { upc: 'p1', sku: 'LMP-01', brand: 'Lumen', vendor: { id: 'v1', name: 'Lumen GmbH' }, name: 'Desk lamp', category: 'TOOLS', price: { amount: 39.5, currency: 'EUR' }, weight: 1200, rating: 4.5, createdBy: 'u1' },
      { upc: 'p2', sku: 'KB-7', brand: 'Clack', vendor: { id: 'v2', name: 'Clack Inc.' }, name: 'Mechanical keyboard', category: 'TOOLS', price: { amount: 129, currency: 'USD' }, weight: 900, rating: 4.8, createdBy: 'u2' },
      { upc: 'p3', sku: 'GO-1', brand: 'Ishi', vendor: { id: 'v3', name: 'Ishi KK' }, name: 'Go board', category: 'GAMES', price: { amount: 60, currency: 'EUR' }, weight: 3500, rating: null, createdBy: 'u3' },
      { upc: 'p4', sku: 'SICP', brand: 'MITP', vendor: { id: 'v4', name: 'MIT Press' }, name: 'SICP', category: 'BOOKS', price: { amount: 55, currency: 'USD' }, weight: 1400, rating: 5, createdBy: 'u1' },
      { upc: 'p5', sku: 'KB-8', brand: 'Clack', vendor: { id: 'v2', name: 'Clack Inc.' }, name: 'Keycap set', category: 'TOOLS', price: { amount: 25, currency: 'USD' }, weight: 150, rating: 3.9, createdBy: 'u9' },
      { upc: 'p6', sku: 'TAFL', brand: 'Ishi', vendor: { id: 'v3', name: 'Ishi KK' }, name: 'Hnefatafl', category: 'GAMES', price: { amount: 34, currency: 'EUR' }, weight: null, rating: 4.1, createdBy: 'u6' },
    ],
    bundles: [
      { id: 'b1', upc: 'bundle-desk', name: 'Desk set', products: ['p1', 'p2', 'p5'], discount: { amount: 20, currency: 'EUR' } },
      { id: 'b2', upc: 'bundle-games', name: 'Evening games', products: ['p3', 'p6'], discount: null },
    ],
    reviews: [
      { id: 'r1', upc: 'p1', authorId: 'u2', stars: 4, body: 'Bright enough.' },
      { id: 'r2', upc: 'p1', authorId: 'u3', stars: 2, body: 'Wobbly base.' },
      { id: 'r3', upc: 'p2', authorId: 'u1', stars: 5, body: 'Loud, in a good way.' },
      { id: 'r4', upc: 'p2', authorId: 'u4', stars: 4, body: 'Keys stick a bit.' },
      { id: 'r5', upc: 'p3', authorId: 'u5', stars: 5, body: 'Beautiful grain.' },
      { id: 'r6', upc: 'p4', authorId: 'u1', stars: 5, body: 'Read it twice.' },
      { id: 'r7', upc: 'p3', authorId: 'u9', stars: 3, body: 'Dense.' },
      { id: 'r8', upc: 'p5', authorId: 'u6', stars: 4, body: 'Nice colours.' },
      { id: 'r9', upc: 'p2', authorId: 'u6', stars: 3, body: 'Too heavy for travel.' },
      { id: 'r10', upc: 'p1', authorId: 'u1', stars: 5, body: 'My second one.' },
      { id: 'r11', upc: 'p4', authorId: 'u2', stars: 4, body: 'Classic.' },
      { id: 'r12', upc: 'p3', authorId: 'u6', stars: 1, body: 'Missing two stones.' },
      { id: 'r13', upc: 'p7', authorId: 'u2', stars: 2, body: 'Product withdrawn.' },
      { id: 'r14', upc: 'p5', authorId: 'u3', stars: 5, body: 'Exactly the blue I wanted.' },
      { id: 'r15', upc: 'p6', authorId: 'u2', stars: 4, body: 'Old rules, new box.' },
      { id: 'r16', upc: 'p1', authorId: 'u5', stars: 4, body: 'Warm light.' },
    ],
    // products: the Merchandise interface's implementations, two entities keyed differently
    // (Book by isbn, Furniture by id); reviews adds Merchandise.reviews (extend interface)
    merchandise: [
      { __typename: 'Book', id: 'm1', isbn: '978-0262510875', title: 'SICP, second edition', pages: 657 },
      { __typename: 'Furniture', id: 'm2', title: 'Standing desk', material: 'oak' },
      { __typename: 'Book', id: 'm3', isbn: '978-0131103627', title: 'The C Programming Language', pages: 272 },
      { __typename: 'Furniture', id: 'm4', title: 'Lamp stand', material: 'steel' },
      { __typename: 'Book', id: 'm5', isbn: '978-0201633610', title: 'Design Patterns', pages: 395 },
    ],
    // reviews: which reviews are about which merchandise, by "<type>:<key>"
    merchandiseReviews: { 'Book:978-0262510875': ['r6', 'r11'], 'Furniture:m2': ['r1', 'r16'], 'Furniture:m4': ['r2'] },
    // inventory, keyed by "sku brand"
    stock: {
      'LMP-01|Lumen': { quantity: 12, warehouse: 'BER' },
      'KB-7|Clack': { quantity: 0, warehouse: 'AMS' },
      'GO-1|Ishi': { quantity: 3, warehouse: 'OSA' },
      'SICP|MITP': { quantity: 7, warehouse: 'BOS' },
      'KB-8|Clack': { quantity: 250, warehouse: 'AMS' },
    },
    // accounts: who curates a vendor's product, keyed by "vendorId|sku" (the nested key)
    curators: { 'v1|LMP-01': 'u2', 'v2|KB-7': 'u1', 'v3|GO-1': 'u5', 'v4|SICP': 'u1', 'v2|KB-8': 'u6' },
  };
}

export const state = initial();
export function resetState() {
  const fresh = initial();
  for (const k of Object.keys(state)) delete state[k];
  Object.assign(state, fresh);
}

export const userById = (id) => state.users.find((u) => u.id === id) ?? null;
export const productByUpc = (upc) => state.products.find((p) => p.upc === upc) ?? null;
export const reviewById = (id) => state.reviews.find((r) => r.id === id) ?? null;

// The argument values a document generator may use: real ids, failing ids and missing ids.
export const POOLS = {
  userId: ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u9'],
  username: ['ada', 'brian', 'cleo', 'dmitri', 'eve', 'nobody'],
  upc: ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'],
  reviewId: ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r12', 'r13', 'r99'],
  bundleId: ['b1', 'b2', 'b3'],
  term: ['k', 'a', 'lamp', 'e', 'zzz'],
  merchandiseFirst: [0, 1, 2, 5],
};
