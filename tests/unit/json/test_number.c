/*
 * test_number.c - Ramjet's one number encoding (rj_json_number) and its one decoder
 * (rj_json_loadb): every finite double survives jansson and PostgreSQL's jsonb, in every
 * spelling jsonb hands back, at the extremes (±DBL_MAX, the smallest denormal, -0, 2^53+1).
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../pg_test.h"
#include "core/core.h"
#include "json/envelope.h"

static const double TWO_53 = 9007199254740992.0;

/* The compact text of @p v, which is then released. */
static char *
dump_take(json_t *v)
{
    cr_assert_not_null(v);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return s;
}

/* Expects the compact text of @p v (taken) to be @p text. */
static void
expect_dump(json_t *v, const char *text)
{
    char *s = dump_take(v);
    cr_expect_str_eq(s, text);
    free(s);
}

Test(number, canonical_form_integers_within_2_53_reals_beyond)
{
    expect_dump(rj_json_number(3.0), "3");
    expect_dump(rj_json_number(-0.0), "0");
    expect_dump(rj_json_number(TWO_53), "9007199254740992");
    expect_dump(rj_json_number(-TWO_53), "-9007199254740992");
    /* 2^53+1 is not a double: it is 2^53, still an integer. 2^53+2 is a double, a real. */
    expect_dump(rj_json_number(9007199254740993.0), "9007199254740992");
    json_t *r = rj_json_number(TWO_53 + 2);
    cr_expect(json_is_real(r));
    cr_expect_eq(json_real_value(r), TWO_53 + 2);
    json_decref(r);
    r = rj_json_number(0.5);
    cr_expect(json_is_real(r));
    json_decref(r);
    cr_expect_null(rj_json_number(INFINITY));
    cr_expect_null(rj_json_number(-INFINITY));
    cr_expect_null(rj_json_number(NAN));
}

/* What jsonb prints for 1e308: a 1 and 308 zeros, no exponent. */
static char *
digits_literal(const char *head, int zeros)
{
    size_t hl = strlen(head);
    char *s = rj_xmalloc(hl + (size_t)zeros + 1);
    memcpy(s, head, hl);
    memset(s + hl, '0', (size_t)zeros);
    s[hl + (size_t)zeros] = '\0';
    return s;
}

Test(number, loadb_reads_integer_literals_beyond_int64_as_doubles)
{
    char *big = digits_literal("1", 308);
    char *doc = rj_xasprintf("{\"q\":%s,\"n\":[-%s,7,2.0,{\"d\":12345678901234567890}],"
                             "\"v\":9223372036854775807}",
                             big, big);
    /* jansson alone refuses it: the bug that took the reducer and the processor down. */
    json_error_t jerr;
    cr_expect_null(json_loads(doc, 0, &jerr));

    json_t *v = rj_json_loadb(doc, strlen(doc), JSON_REJECT_DUPLICATES, &jerr);
    cr_assert_not_null(v, "%s", jerr.text);
    cr_expect(json_is_real(json_object_get(v, "q")));
    cr_expect_eq(json_real_value(json_object_get(v, "q")), 1e308);
    json_t *n = json_object_get(v, "n");
    cr_expect_eq(json_real_value(json_array_get(n, 0)), -1e308);
    /* Integral values within ±2^53 are integers again, whatever the retry read them as. */
    cr_expect(json_is_integer(json_array_get(n, 1)));
    cr_expect_eq(json_integer_value(json_array_get(n, 1)), 7);
    cr_expect(json_is_integer(json_array_get(n, 2)));
    cr_expect_eq(json_real_value(json_object_get(json_array_get(n, 3), "d")),
                 12345678901234567890.0);
    /* Beyond 2^53 in this document: the nearest double, a real. */
    cr_expect(json_is_real(json_object_get(v, "v")));
    json_decref(v);

    /* Every document comes out canonical, not only those jansson alone would refuse. */
    v = rj_json_loads("{\"v\":123456789012345680,\"w\":3.0,\"x\":-0.0,\"y\":42,\"z\":0.5}", 0,
                      NULL);
    expect_dump(v, "{\"v\":1.2345678901234568e17,\"w\":3,\"x\":0,\"y\":42,\"z\":0.5}");
    /* A bare number, as JSON_DECODE_ANY allows. */
    v = rj_json_loadb(big, strlen(big), JSON_DECODE_ANY, NULL);
    cr_expect_eq(json_real_value(v), 1e308);
    json_decref(v);
    free(doc);
    free(big);
}

Test(number, loadb_still_refuses_what_is_not_a_double)
{
    json_error_t jerr;
    cr_expect_null(rj_json_loads("{\"q\":1e400}", 0, &jerr));
    cr_expect_eq(json_error_code(&jerr), json_error_numeric_overflow);
    char *huge = digits_literal("{\"q\":1", 400);
    char *doc = rj_xasprintf("%s}", huge);
    cr_expect_null(rj_json_loads(doc, 0, &jerr));
    cr_expect_null(rj_json_loads("{\"q\":", 0, &jerr));
    cr_expect_eq(json_error_code(&jerr), json_error_premature_end_of_input);
    free(doc);
    free(huge);
}

/* ---- through PostgreSQL's jsonb ---- */

static char schema[64];

static void
setup_schema(void)
{
    snprintf(schema, sizeof schema, "rjt_number_%d", (int)getpid());
}

static void
drop_schema(void)
{
    rjt_pg_drop_schema(getenv("RAMJET_TEST_PG_URL"), schema);
}

/* @p v (taken) written as Ramjet writes it, stored as jsonb, read back as Ramjet reads it. */
static json_t *
jsonb_round_trip_take(rj_pg_t *pg, json_t *v)
{
    char *text = rj_json_dumps(v);
    json_decref(v);
    const char *params[] = {text};
    PGresult *res = NULL;
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_exec(pg, "SELECT $1::jsonb::text", 1, params, &res, &err), RJ_OK, "%s",
                 err.msg);
    json_error_t jerr;
    json_t *back = rj_json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
    cr_assert_not_null(back, "could not read back %s: %s", PQgetvalue(res, 0, 0), jerr.text);
    PQclear(res);
    free(text);
    return back;
}

Test(number, extremes_survive_jsonb, .init = setup_schema, .fini = drop_schema)
{
    rj_pg_t *pg = rjt_pg_connect_or_skip(getenv("RAMJET_TEST_PG_URL"), schema);
    const double extremes[] = {DBL_MAX,
                               -DBL_MAX,
                               1e308,
                               -1e308,
                               5e-324,
                               -5e-324,
                               DBL_MIN,
                               0.1,
                               1.0 / 3,
                               TWO_53,
                               TWO_53 + 2,
                               -TWO_53 - 2,
                               123456789012345678.0,
                               2.5e-300};
    for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++) {
        double d = extremes[i];
        json_t *back = jsonb_round_trip_take(pg, rj_json_number(d));
        cr_expect(json_is_number(back));
        cr_expect_eq(json_number_value(back), d, "%.17g read back as %.17g", d,
                     json_number_value(back));
        /* And it is in canonical form again, so the next write is the same text. */
        char *s1 = dump_take(rj_json_number(d));
        char *s2 = dump_take(back);
        cr_expect_str_eq(s2, s1);
        free(s1);
        free(s2);
    }
    /* -0 has no jsonb spelling (numeric has no negative zero): it reads back as 0. */
    json_t *z = jsonb_round_trip_take(pg, json_real(-0.0));
    cr_expect(json_is_integer(z) || (json_is_real(z) && !signbit(json_real_value(z))));
    cr_expect_eq(json_number_value(z), 0.0);
    json_decref(z);
    rj_pg_free(pg);
}
