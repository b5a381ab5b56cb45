/*
 * test_parse.c - rj_json_parse() against rj_json_loadb(.., 0, NULL), its reference: for
 * every input, both refuse it, or both give the same value, keys in the same order and
 * numbers of the same kind. Inputs: a corpus of valid and broken documents (numbers,
 * escapes, surrogates, UTF-8, nesting at jansson's depth limit) and, from a fixed seed,
 * thousands of random mutations of them.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "json/envelope.h"

/* Both parsers' verdicts on @p len bytes of @p text must agree. */
static void
expect_as_loadb(const char *text, size_t len)
{
    json_t *want = rj_json_loadb(text, len, 0, NULL);
    json_t *got = rj_json_parse(text, len);
    if (want == NULL || got == NULL) {
        cr_expect(want == got, "%s: rj_json_loadb %s, rj_json_parse %s", text,
                  want != NULL ? "accepts" : "refuses", got != NULL ? "accepts" : "refuses");
    } else {
        /* The printed text compares order and kind (1 and 1.0 print differently). */
        char *w = rj_json_dumps(want), *g = rj_json_dumps(got);
        cr_expect_str_eq(g, w, "input: %s", text);
        free(w);
        free(g);
    }
    json_decref(want);
    json_decref(got);
}

static const char *const corpus[] = {
    "{}",
    "[]",
    " \t\r\n[ ]\n",
    "{\"a\":1}",
    "[1,2,3]",
    "[1,]",
    "[,1]",
    "{\"a\":1,}",
    "{\"a\"}",
    "{\"a\":}",
    "{a:1}",
    "{\"a\":1 \"b\":2}",
    "[1 2]",
    "[",
    "]",
    "{",
    "",
    "   ",
    "1",
    "\"s\"",
    "null",
    "true",
    "[true,false,null]",
    "[tru]",
    "[truex]",
    "[nul]",
    "[True]",
    "[1]x",
    "[1] [2]",
    "{\"a\":1,\"a\":2,\"b\":3}",
    "{\"b\":1,\"a\":2}",
    /* numbers */
    "[0]",
    "[-0]",
    "[01]",
    "[-01]",
    "[-]",
    "[1.]",
    "[.5]",
    "[1.5]",
    "[1e5]",
    "[1E+5]",
    "[1e-5]",
    "[1e]",
    "[1e+]",
    "[3.0]",
    "[-3.0]",
    "[1.5e3]",
    "[123456789012345]",
    "[1234567890123456]",
    "[9007199254740992]",
    "[9007199254740993]",
    "[-9007199254740993]",
    "[99999999999999999999]",
    "[1e308]",
    "[1e309]",
    "[-1e309]",
    "[1e-400]",
    "[4.9e-324]",
    "[0.1]",
    "[2.5e-7]",
    "[+1]",
    "[0x10]",
    "[NaN]",
    "[Infinity]",
    "[1_000]",
    "[0e0]",
    "[-0.0]",
    "[100000000000000000000.0]",
    /* strings */
    "[\"\"]",
    "[\"a\\\"b\"]",
    "[\"\\\\\"]",
    "[\"\\/\"]",
    "[\"\\b\\f\\n\\r\\t\"]",
    "[\"\\x\"]",
    "[\"\\u0041\"]",
    "[\"\\u00e9\\u00E9\"]",
    "[\"\\u20ac\"]",
    "[\"\\ud83d\\ude00\"]",
    "[\"\\ud83d\"]",
    "[\"\\ude00\"]",
    "[\"\\ud83d\\u0041\"]",
    "[\"\\ud83dx\"]",
    "[\"\\u0000\"]",
    "[\"\\u12\"]",
    "[\"\\u12g4\"]",
    "[\"tab\tin\"]",
    "[\"nl\nin\"]",
    "[\"unterminated]",
    "[\"\xc3\xa9\"]",
    "[\"\xe2\x82\xac\"]",
    "[\"\xf0\x9f\x98\x80\"]",
    "[\"\xc3\"]",
    "[\"\xc0\xaf\"]",
    "[\"\xe0\x80\xaf\"]",
    "[\"\xed\xa0\x80\"]",
    "[\"\xf4\x90\x80\x80\"]",
    "[\"\xff\"]",
    "[\"\x80\"]",
    "{\"k\\u00e9y\":\"v\",\"k\xc3\xa9y\":1}",
    "{\"\\u0000\":1}",
    "[\xc3\xa9]",
    "{\"a\":{\"b\":[{\"c\":\"d\"}]}}",
};

Test(json_parse, corpus)
{
    for (size_t i = 0; i < sizeof corpus / sizeof *corpus; i++)
        expect_as_loadb(corpus[i], strlen(corpus[i]));
    expect_as_loadb("[\"a\0b\"]", 7); /* a raw NUL inside a string */
    expect_as_loadb("[1]\0", 4);      /* and after the document */
}

/* @p n arrays nested, around @p inner. */
static char *
nested(size_t n, const char *inner)
{
    size_t len = strlen(inner);
    char *s = malloc(2 * n + len + 1);
    memset(s, '[', n);
    memcpy(s + n, inner, len);
    memset(s + n + len, ']', n);
    s[2 * n + len] = '\0';
    return s;
}

Test(json_parse, depth_limit_as_jansson)
{
    const size_t ns[] = {2046, 2047, 2048, 2049};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        char *a = nested(ns[i], ""), *b = nested(ns[i], "1");
        expect_as_loadb(a, strlen(a));
        expect_as_loadb(b, strlen(b));
        free(a);
        free(b);
    }
}

Test(json_parse, random_mutations)
{
    static const char alphabet[] = "{}[]\",:\\/ -+.eE0123456789abfnrtu\x01\x1f\x80\xc3\xa9\xed";
    unsigned seed = 20261207;
    char buf[256];
    for (int round = 0; round < 20000; round++) {
        const char *base = corpus[rand_r(&seed) % (sizeof corpus / sizeof *corpus)];
        size_t len = strlen(base);
        memcpy(buf, base, len);
        for (int m = 1 + rand_r(&seed) % 3; m > 0; m--) {
            size_t at = len > 0 ? (size_t)rand_r(&seed) % len : 0;
            char c = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
            switch (rand_r(&seed) % 3) {
            case 0: /* replace */
                if (len > 0)
                    buf[at] = c;
                break;
            case 1: /* insert */
                if (len + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = c;
                    len++;
                }
                break;
            default: /* delete */
                if (len > 0) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
            }
        }
        buf[len] = '\0';
        expect_as_loadb(buf, len);
    }
}
