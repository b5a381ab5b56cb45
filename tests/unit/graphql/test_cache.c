/*
 * test_cache.c - the parsed-document cache: hits skip parsing, failures are reported and
 * not cached, the least recently used entry is evicted, and handed-out documents outlive
 * eviction and the cache itself.
 */
#include "gql_test.h"

Test(cache, hits_misses_and_eviction)
{
    rj_gql_schema_t *s = shop_schema();
    rj_gql_cache_t *c = rj_gql_cache_new(s, 2, NULL);
    rj_gql_schema_free(s); /* the cache keeps its own reference */
    const char *a = "{ CartReadModel(id: 1) { id } }", *b = "{ __typename }", *q3 = "{ a: __typename }";
    rj_gql_doc_t *d1 = rj_gql_cache_get(c, a, strlen(a), NULL);
    cr_assert_not_null(d1);
    rj_gql_doc_t *d2 = rj_gql_cache_get(c, a, strlen(a), NULL);
    cr_expect_eq(d1, d2);
    cr_expect_eq(rj_gql_cache_hits(c), 1);
    cr_expect_eq(rj_gql_cache_misses(c), 1);
    rj_gql_doc_free(d2);

    rj_gql_doc_free(rj_gql_cache_get(c, b, strlen(b), NULL));
    rj_gql_doc_free(rj_gql_cache_get(c, a, strlen(a), NULL)); /* a is now the most recent */
    rj_gql_doc_free(rj_gql_cache_get(c, q3, strlen(q3), NULL)); /* evicts b */
    cr_expect_eq(rj_gql_cache_size(c), 2);
    uint64_t misses = rj_gql_cache_misses(c);
    rj_gql_doc_free(rj_gql_cache_get(c, a, strlen(a), NULL));
    cr_expect_eq(rj_gql_cache_misses(c), misses);
    rj_gql_doc_free(rj_gql_cache_get(c, b, strlen(b), NULL));
    cr_expect_eq(rj_gql_cache_misses(c), misses + 1);

    rj_gql_cache_free(c);
    /* d1 is still ours */
    cr_expect_str_eq(rj_gql_doc_definitions(d1)->selections->name, "CartReadModel");
    rj_gql_doc_free(d1);
}

Test(cache, errors_are_reported_not_cached)
{
    rj_gql_schema_t *s = shop_schema();
    rj_gql_cache_t *c = rj_gql_cache_new(s, 8, NULL);
    json_t *errors = NULL;
    cr_expect_null(rj_gql_cache_get(c, "{ nope }", 8, &errors));
    assert_json_take(errors, "[{\"message\":\"Cannot query field \\\"nope\\\" on type "
                             "\\\"Query\\\". Did you mean \\\"node\\\"?\",\"locations\":[{\"line\""
                             ":1,\"column\":3}]}]");
    cr_expect_null(rj_gql_cache_get(c, "{", 1, &errors));
    assert_json_take(errors, "[{\"message\":\"Syntax Error: Expected Name, found <EOF>.\","
                             "\"locations\":[{\"line\":1,\"column\":2}]}]");
    cr_expect_null(rj_gql_cache_get(c, "{", 1, NULL));
    cr_expect_eq(rj_gql_cache_size(c), 0);
    rj_gql_cache_free(c);
    rj_gql_schema_free(s);
}
