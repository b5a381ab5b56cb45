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

/* The one error of @p q, as compact JSON, under @p lim; NULL when the document is accepted. */
static char *
limit_error(rj_gql_cache_t *c, const char *q)
{
    json_t *errors = NULL;
    rj_gql_doc_t *d = rj_gql_cache_get(c, q, strlen(q), &errors);
    rj_gql_doc_free(d);
    if (d != NULL)
        return NULL;
    cr_assert_eq(json_array_size(errors), 1);
    char *s = json_dumps(json_array_get(errors, 0), JSON_COMPACT);
    json_decref(errors);
    return s;
}

/*
 * Issue 9: fields and aliases per document are bounded, counted with fragments expanded
 * but without expanding them (ten fragments that each spread the next twice select 2^10
 * times the last one's fields), before validation spends time on them. Spreads count, and
 * fragment definitions count on their own too (validation walks each with its spreads).
 */
Test(cache, field_and_alias_limits)
{
    rj_gql_schema_t *s = shop_schema();
    rj_gql_limits_t lim = rj_gql_default_limits;
    lim.max_fields = 1000;
    lim.max_aliases = 10;
    rj_gql_cache_t *c = rj_gql_cache_new(s, 8, &lim);
    rj_gql_schema_free(s);

    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_puts(&b, "{ ");
    for (int i = 0; i < 1000; i++)
        rj_buf_puts(&b, "__typename ");
    rj_buf_puts(&b, "}");
    cr_expect_null(limit_error(c, b.data), "1,000 fields are within the limit");
    rj_buf_reset(&b);
    rj_buf_puts(&b, "{ ");
    for (int i = 0; i < 1001; i++)
        rj_buf_puts(&b, "__typename ");
    rj_buf_puts(&b, "}");
    char *e = limit_error(c, b.data);
    cr_expect_str_eq(e, "{\"message\":\"The document selects 1001 fields and fragment spreads "
                        "(fragments expanded), more than the limit of 1000.\","
                        "\"extensions\":{\"code\":\"InvalidParameterError\"}}");
    free(e);

    /* exponential through nested spreads: F0 selects 2^8 fields and 2^9 - 2 spreads (766),
     * and each fragment is counted again on its own: 2,282 in the document */
    rj_buf_reset(&b);
    rj_buf_puts(&b, "{ ...F0 }");
    for (int i = 0; i < 8; i++)
        rj_buf_printf(&b, " fragment F%d on Query { ...F%d ...F%d }", i, i + 1, i + 1);
    rj_buf_puts(&b, " fragment F8 on Query { __typename }");
    e = limit_error(c, b.data);
    cr_expect(e != NULL && strstr(e, "selects 2282 fields and fragment spreads") != NULL, "%s", e);
    free(e);
    /* a chain of fragments, each walked on its own: 5,000 fragments select 12.5 million */
    rj_buf_reset(&b);
    rj_buf_puts(&b, "{ ...C0 }");
    for (int i = 0; i < 5000; i++)
        rj_buf_printf(&b, " fragment C%d on Query { ...C%d }", i, i + 1);
    rj_buf_puts(&b, " fragment C5000 on Query { __typename }");
    e = limit_error(c, b.data);
    cr_expect(e != NULL && strstr(e, "more than the limit of 1000") != NULL, "%s", e);
    free(e);
    /* 60 levels would be 2^60 fields: counted, saturating, in no time */
    rj_buf_reset(&b);
    rj_buf_puts(&b, "{ ...F0 }");
    for (int i = 0; i < 70; i++)
        rj_buf_printf(&b, " fragment F%d on Query { ...F%d ...F%d }", i, i + 1, i + 1);
    rj_buf_puts(&b, " fragment F70 on Query { __typename }");
    e = limit_error(c, b.data);
    cr_expect(e != NULL && strstr(e, "more than the limit of 1000") != NULL, "%s", e);
    free(e);

    rj_buf_reset(&b);
    rj_buf_puts(&b, "{ ");
    for (int i = 0; i < 11; i++)
        rj_buf_printf(&b, "a%d: __typename ", i);
    rj_buf_puts(&b, "}");
    e = limit_error(c, b.data);
    cr_expect(e != NULL && strstr(e, "The document has 11 aliased fields") != NULL, "%s", e);
    free(e);
    rj_buf_deinit(&b);
    rj_gql_cache_free(c);
}
