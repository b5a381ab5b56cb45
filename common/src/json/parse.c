/*
 * json/parse.c - rj_json_parse(): what rj_json_loadb(buf, len, 0, NULL) returns, built
 * by a parser of our own, for the hot paths that need no error message (the answers of
 * federated services, parsed once per request and service).
 *
 * Why: jansson's parser reads its input a byte at a time through a stream callback,
 * checking UTF-8 as it goes and collecting every token into a growing buffer; then
 * rj_json_loadb() walks the tree again to turn its reals back into integers. That was the
 * largest single cost of a federated request. This parser scans the text in place,
 * copies a string or a key once (jansson's own nocheck constructors), and gives each
 * number rj_json_number()'s canonical form as it reads it.
 *
 * The same verdicts as rj_json_loadb() with flags 0: an object or array at the top,
 * surrounded by whitespace only; RFC 8259 numbers, a real beyond the double range refused
 * and the rest canonical (integral values within 2^53 as integers); strings of valid
 * UTF-8 (jansson's rules: no overlong forms, no surrogates) without raw control
 * characters, escapes as JSON has them, \u surrogate pairs joined, \u0000 refused (as
 * without JSON_ALLOW_NUL); at most 2048 nested containers; of duplicate keys, the last
 * value in the first one's place. What it does not do: say why (callers that report
 * errors use rj_json_loadb()), or take jansson's flags.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "json/envelope.h"

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH: values nested, scalars counted */

typedef struct parser {
    const char *p;   /* the next byte */
    const char *end; /* past the last */
    rj_buf_t tmp;    /* a string with escapes, decoded */
} parser_t;

static json_t *parse_value(parser_t *ps, int depth);

static void
skip_space(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

/* The four hex digits at @p s (at least four bytes before @p end), or -1. */
static int32_t
hex4(const char *s, const char *end)
{
    if (end - s < 4)
        return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = rj_hex_digit(s[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* One escape after its backslash, decoded into ps->tmp; false when invalid. */
static bool
unescape(parser_t *ps)
{
    if (ps->p >= ps->end)
        return false;
    char c = *ps->p++;
    const char *simple = strchr("\"\\/bfnrt", c);
    if (c != '\0' && simple != NULL) {
        rj_buf_putc(&ps->tmp, "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"]);
        return true;
    }
    if (c != 'u')
        return false;
    int32_t cp = hex4(ps->p, ps->end);
    if (cp < 0)
        return false;
    ps->p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate: its low one must follow */
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
            return false;
        int32_t lo = hex4(ps->p + 2, ps->end);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return false;
        ps->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
        return false;
    }
    rj_utf8_encode(&ps->tmp, (uint32_t)cp);
    return true;
}

/*
 * A string after its opening quote. On success *s and *n are the bytes: in the input when
 * it has no escapes, else in ps->tmp.
 */
static bool
scan_string(parser_t *ps, const char **s, size_t *n)
{
    const char *start = ps->p;
    bool escaped = false;
    rj_buf_reset(&ps->tmp);
    for (;;) {
        if (ps->p >= ps->end)
            return false;
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"')
            break;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (!escaped)
                rj_buf_append(&ps->tmp, start, (size_t)(ps->p - start));
            escaped = true;
            ps->p++;
            if (!unescape(ps))
                return false;
            continue;
        }
        uint32_t cp;
        size_t k = 1;
        if (c >= 0x80 &&
            (k = rj_utf8_decode((const unsigned char *)ps->p, (size_t)(ps->end - ps->p), &cp)) == 0)
            return false;
        if (escaped)
            rj_buf_append(&ps->tmp, ps->p, k);
        ps->p += k;
    }
    if (escaped) {
        *s = ps->tmp.data != NULL ? ps->tmp.data : "";
        *n = ps->tmp.len;
    } else {
        *s = start;
        *n = (size_t)(ps->p - start);
    }
    ps->p++; /* the closing quote */
    return true;
}

static size_t
scan_digits(parser_t *ps)
{
    const char *start = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
        ps->p++;
    return (size_t)(ps->p - start);
}

/*
 * A number, in rj_json_number()'s canonical form. Short integers are exact in a double
 * and are read directly; the rest goes through strtod(), as jansson reads them.
 */
static json_t *
parse_number(parser_t *ps)
{
    const char *start = ps->p;
    if (*ps->p == '-')
        ps->p++;
    const char *int_start = ps->p;
    size_t nint = scan_digits(ps);
    if (nint == 0 || (nint > 1 && *int_start == '0'))
        return NULL;
    bool integral = true;
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (scan_digits(ps) == 0)
            return NULL;
        integral = false;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (scan_digits(ps) == 0)
            return NULL;
        integral = false;
    }
    if (integral && nint <= 15) { /* below 10^15 < 2^53: exact either way */
        json_int_t v = 0;
        for (size_t i = 0; i < nint; i++)
            v = v * 10 + (int_start[i] - '0');
        return json_integer(*start == '-' ? -v : v);
    }
    char stack[64];
    size_t len = (size_t)(ps->p - start);
    char *text = len < sizeof stack ? stack : rj_xmalloc(len + 1);
    memcpy(text, start, len);
    text[len] = '\0';
    errno = 0;
    double d = strtod(text, NULL);
    bool overflow = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
    if (text != stack)
        free(text);
    return overflow ? NULL : rj_json_number(d);
}

/* The rest of a literal whose first letter was read. */
static json_t *
parse_literal(parser_t *ps, const char *word, json_t *value)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return NULL;
    ps->p += n;
    return value;
}

static json_t *
parse_object(parser_t *ps, int depth)
{
    json_t *o = json_object();
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return o;
    }
    for (;;) {
        const char *key;
        size_t klen;
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p++ != '"' || !scan_string(ps, &key, &klen))
            break;
        /* The key may live in ps->tmp, which the value's strings reuse: keep a copy. */
        char stack[128];
        char *k = klen < sizeof stack ? stack : rj_xmalloc(klen + 1);
        memcpy(k, key, klen);
        skip_space(ps);
        json_t *v = NULL;
        if (ps->p < ps->end && *ps->p++ == ':')
            v = parse_value(ps, depth);
        if (v != NULL)
            json_object_setn_new_nocheck(o, k, klen, v);
        if (k != stack)
            free(k);
        if (v == NULL)
            break;
        skip_space(ps);
        if (ps->p >= ps->end)
            break;
        char c = *ps->p++;
        if (c == '}')
            return o;
        if (c != ',')
            break;
    }
    json_decref(o);
    return NULL;
}

static json_t *
parse_array(parser_t *ps, int depth)
{
    json_t *a = json_array();
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return a;
    }
    for (;;) {
        json_t *v = parse_value(ps, depth);
        if (v == NULL)
            break;
        json_array_append_new(a, v);
        skip_space(ps);
        if (ps->p >= ps->end)
            break;
        char c = *ps->p++;
        if (c == ']')
            return a;
        if (c != ',')
            break;
    }
    json_decref(a);
    return NULL;
}

/* A value inside @p depth others (0 at the top). */
static json_t *
parse_value(parser_t *ps, int depth)
{
    skip_space(ps);
    if (ps->p >= ps->end || depth + 1 > MAX_DEPTH)
        return NULL;
    char c = *ps->p;
    switch (c) {
    case '{':
    case '[':
        ps->p++;
        return c == '{' ? parse_object(ps, depth + 1) : parse_array(ps, depth + 1);
    case '"': {
        const char *s;
        size_t n;
        ps->p++;
        return scan_string(ps, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
    }
    case 't':
        return parse_literal(ps, "true", json_true());
    case 'f':
        return parse_literal(ps, "false", json_false());
    case 'n':
        return parse_literal(ps, "null", json_null());
    default:
        return c == '-' || (c >= '0' && c <= '9') ? parse_number(ps) : NULL;
    }
}

json_t *
rj_json_parse(const char *buf, size_t len)
{
    parser_t ps = {.p = buf, .end = buf + len};
    rj_buf_init(&ps.tmp);
    skip_space(&ps);
    json_t *v = NULL;
    if (ps.p < ps.end && (*ps.p == '{' || *ps.p == '['))
        v = parse_value(&ps, 0);
    skip_space(&ps);
    if (v != NULL && ps.p != ps.end) {
        json_decref(v);
        v = NULL;
    }
    rj_buf_deinit(&ps.tmp);
    return v;
}
