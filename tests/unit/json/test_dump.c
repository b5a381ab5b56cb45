/*
 * test_dump.c - rj_json_dumps() prints exactly what json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY) prints, for every kind of value: key order, every escape, non-ASCII,
 * embedded NULs, integers at the extremes, reals in jansson's own spelling, documents
 * past the stack buffer and trees deeper than the walk goes itself.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json/envelope.h"

/* Checks rj_json_dumps(@p v) against jansson's own text, then releases @p v. */
static void
expect_as_jansson_take(json_t *v)
{
    cr_assert_not_null(v);
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    cr_assert_not_null(want);
    char *got = rj_json_dumps(v);
    cr_expect_str_eq(got, want);
    free(got);
    free(want);
    json_decref(v);
}

Test(json_dump, scalars)
{
    expect_as_jansson_take(json_null());
    expect_as_jansson_take(json_true());
    expect_as_jansson_take(json_false());
    const json_int_t ints[] = {0, 1, -1, 9, 10, -10, 123456789, LLONG_MAX, LLONG_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        expect_as_jansson_take(json_integer(ints[i]));
    const double reals[] = {0.1,     39.5,   -0.000123, 1e20,  1e21,
                            1.5e-7,  1e16,   1e17,      100.0, DBL_MAX,
                            DBL_MIN, 5e-324, -0.0,      1e300, 12345678901234567.0};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++)
        expect_as_jansson_take(json_real(reals[i]));
}

Test(json_dump, strings_and_escapes)
{
    char all[128];
    for (int i = 0; i < 128; i++)
        all[i] = (char)i;
    expect_as_jansson_take(json_stringn(all, sizeof all)); /* every ASCII byte, NUL first */
    expect_as_jansson_take(json_string(""));
    expect_as_jansson_take(json_string("slash / quote \" backslash \\ tab \t"));
    /* Two-, three- and four-byte UTF-8, U+2028 and U+FFFF included. */
    expect_as_jansson_take(json_string("é ü € \xe2\x80\xa8 \xef\xbf\xbf \xf0\x9f\x98\x80 end"));
}

Test(json_dump, containers_in_their_own_order)
{
    expect_as_jansson_take(json_object());
    expect_as_jansson_take(json_array());
    expect_as_jansson_take(json_pack("{s:i, s:[i, s, n, {}, []], s:{s:b, s:f}, s:s}", "z", 1, "a",
                                     2, "x", "b", "y", true, "k\n", 0.5, "", "last"));
    json_t *o = json_object();
    json_object_setn_new(o, "a\0b", 3, json_string("key with a NUL"));
    expect_as_jansson_take(o);
}

Test(json_dump, past_the_stack_buffer)
{
    json_t *a = json_array();
    for (int i = 0; i < 5000; i++)
        json_array_append_new(a, json_pack("{s:i, s:s}", "i", i, "s", "some text to print"));
    expect_as_jansson_take(a);
}

Test(json_dump, deeper_than_the_walk)
{
    json_t *root = json_array(), *inner = root;
    for (int i = 0; i < 3000; i++) {
        json_t *next = json_array();
        json_array_append_new(inner, next);
        inner = next;
    }
    json_array_append_new(inner, json_string("bottom"));
    expect_as_jansson_take(root);
}
