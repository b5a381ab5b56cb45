/*
 * test_filter_match.c - the in-memory evaluator (subscriptions): every operator on the
 * shared fixtures, whose expected results test_readside_pg.c also checks against the SQL
 * compiler, plus the rules only the evaluator has to spell out (numbers by value,
 * malformed filters never match).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "readside/readside.h"

#include "fixtures.h"

/* The ids of the fixtures @p filter matches, in id order, comma-separated. */
static char *
matching_ids(const char *const *docs, size_t n, const char *filter)
{
    json_error_t jerr;
    json_t *f = json_loads(filter, 0, &jerr);
    cr_assert_not_null(f, "bad case %s: %s", filter, jerr.text);
    json_t *ids = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_loads(docs[i], 0, &jerr);
        cr_assert_not_null(v, "bad fixture: %s", jerr.text);
        if (rj_rs_filter_match(f, v))
            json_array_append(ids, json_object_get(v, "id"));
        json_decref(v);
    }
    /* Sort by id (bytes), as the SQL test lists them. */
    size_t m = json_array_size(ids);
    const char **s = rj_xcalloc(m + 1, sizeof *s);
    for (size_t i = 0; i < m; i++)
        s[i] = json_string_value(json_array_get(ids, i));
    for (size_t i = 1; i < m; i++)
        for (size_t j = i; j > 0 && strcmp(s[j - 1], s[j]) > 0; j--) {
            const char *t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    rj_buf_t b;
    rj_buf_init(&b);
    for (size_t i = 0; i < m; i++)
        rj_buf_printf(&b, "%s%s", i ? "," : "", s[i]);
    char *out = rj_buf_steal(&b);
    free(s);
    json_decref(ids);
    json_decref(f);
    return out;
}

Test(filter_match, cart_cases)
{
    for (size_t i = 0; i < sizeof cart_cases / sizeof cart_cases[0]; i++) {
        char *got = matching_ids(fixture_carts, sizeof fixture_carts / sizeof fixture_carts[0],
                                 cart_cases[i].filter);
        cr_expect_str_eq(got, cart_cases[i].ids, "filter %s", cart_cases[i].filter);
        free(got);
    }
}

Test(filter_match, product_cases)
{
    for (size_t i = 0; i < sizeof product_cases / sizeof product_cases[0]; i++) {
        char *got =
            matching_ids(fixture_products, sizeof fixture_products / sizeof fixture_products[0],
                         product_cases[i].filter);
        cr_expect_str_eq(got, product_cases[i].ids, "filter %s", product_cases[i].filter);
        free(got);
    }
}

static bool
match(const char *filter, const char *value)
{
    json_t *f = filter ? json_loads(filter, JSON_DECODE_ANY, NULL) : NULL;
    json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(v);
    bool m = rj_rs_filter_match(f, v);
    json_decref(f);
    json_decref(v);
    return m;
}

Test(filter_match, edge_rules)
{
    /* No filter matches everything. */
    cr_expect(match(NULL, "{\"a\": 1}"));
    cr_expect(match("null", "{\"a\": 1}"));
    /* Numbers compare by value whatever their spelling; big integers exactly. */
    cr_expect(match("{\"a\": {\"eq\": 1.0}}", "{\"a\": 1}"));
    cr_expect(match("{\"a\": {\"gt\": 9007199254740992}}", "{\"a\": 9007199254740993}"));
    cr_expect(match("{\"a\": {\"includes\": 2}}", "{\"a\": [1, 2.0]}"));
    /* Types do not mix: "1" is not 1, and strings do not compare with numbers. */
    cr_expect_not(match("{\"a\": {\"eq\": \"1\"}}", "{\"a\": 1}"));
    cr_expect_not(match("{\"a\": {\"lt\": 5}}", "{\"a\": \"1\"}"));
    /* Strings compare by bytes: "Z" < "a". */
    cr_expect(match("{\"a\": {\"lt\": \"a\"}}", "{\"a\": \"Z\"}"));
    /* Paths do not step into arrays or scalars. */
    cr_expect_not(match("{\"a\": {\"b\": {\"eq\": 1}}}", "{\"a\": [{\"b\": 1}]}"));
    cr_expect(match("{\"a\": {\"b\": {\"isDefined\": false}}}", "{\"a\": \"s\"}"));
    /* includes with a scalar wants an equal scalar element, not a nested one. */
    cr_expect_not(match("{\"a\": {\"includes\": 1}}", "{\"a\": [[1]]}"));
    cr_expect_not(match("{\"a\": {\"includes\": \"x\"}}", "{\"a\": \"x\"}"));
    /* Object includes is a partial, recursive match. */
    cr_expect(match("{\"a\": {\"includes\": {\"b\": {\"c\": 1}}}}",
                    "{\"a\": [{\"b\": {\"c\": 1, \"d\": 2}, \"e\": 3}]}"));
    /* beginsWith / contains are literal. */
    cr_expect_not(match("{\"a\": {\"beginsWith\": \"a.\"}}", "{\"a\": \"abc\"}"));
    cr_expect(match("{\"a\": {\"contains\": \"\"}}", "{\"a\": \"abc\"}"));
    /* An invalid regular expression never matches. */
    cr_expect_not(match("{\"a\": {\"regex\": \"(\"}}", "{\"a\": \"(\"}"));
    /* Malformed filters never match. */
    cr_expect_not(match("{\"a\": \"x\"}", "{\"a\": \"x\"}"));
    cr_expect_not(match("{\"and\": {}}", "{\"a\": 1}"));
    cr_expect_not(match("{\"a\": {\"isDefined\": 1}}", "{\"a\": 1}"));
    cr_expect_not(match("[]", "{\"a\": 1}"));
}
