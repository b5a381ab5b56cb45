// bench-queries.mjs - the three queries of `scripts/bench --federation` (issue 11,
// "Performance"), over the test subgraphs (serve.mjs). Each is valid, error-free and
// deterministic on the initial data, and selects no field that fails on purpose.
//
//   oneService     products only: a root list, no entity fetch.
//   twoServices    reviews, then accounts: a list of 10 reviews and their authors'
//                  names (one _entities call with the distinct authors).
//   threeServices  products, then reviews, then accounts: nested lists (5 products,
//                  their reviews, the reviews' authors).
//
// Each: {name, query, services, body} where body is the JSON request body to POST.

const q = (name, services, query) => ({ name, services, query, body: JSON.stringify({ query }) });

export const oneService = q('one-service', ['products'],
  '{ topProducts(first: 5) { upc name category price { amount currency } } }');

export const twoServices = q('two-services-list-of-10', ['reviews', 'accounts'],
  '{ latestReviews(first: 10, minStars: 4) { body stars author { name } } }');

export const threeServices = q('three-services-nested-lists', ['products', 'reviews', 'accounts'],
  '{ topProducts(first: 5) { name reviews { body author { name } } } }');

export const BENCH_QUERIES = [oneService, twoServices, threeServices];
export default BENCH_QUERIES;
