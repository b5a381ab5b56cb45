/*
 * json/dump.c - rj_json_dumps(): the compact JSON text of a jansson value, byte for byte
 * what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) prints, at a fraction of its cost.
 *
 * Why not json_dumps(): jansson 2.14 guards every object and array it prints against
 * reference cycles by printing the container's address into a string and keeping that in
 * a hash table while inside it; with a buffer grown from 16 bytes and a callback per
 * chunk, printing a GraphQL answer cost twice as much as parsing it, and an answer is
 * printed for every request (and every body sent to a federated service). Ramjet never
 * builds a cycle: a value is only set into containers it does not contain. A tree deeper
 * than MAX_DEPTH, which is what a cycle would look like, is handed to json_dumps(), whose
 * check then fails as loudly as before.
 *
 * The same text: object keys in the object's own (insertion) order; strings with
 * jansson's escapes (\" \\ \b \f \n \r \t, other control characters as \u00XX in upper
 * case, everything else as it is, '/' and non-ASCII included); integers in decimal. Reals
 * are printed by jansson itself: they are rare, and its formatting (%.17g, then ".0"
 * added or the exponent's '+' and leading zeros dropped) is thereby kept exactly. A
 * string that is not valid UTF-8, which jansson refuses to print, is handed to
 * json_dumps() as well, so it fails the same way.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "json/envelope.h"

#define MAX_DEPTH 2048   /* deeper trees go to json_dumps() (see above) */
#define STACK_BYTES 8192 /* most documents are printed without an allocation but the result */

/* The text being printed: the caller's stack buffer until it outgrows it, then the heap. */
typedef struct out {
    char *p;    /* the bytes */
    size_t len; /* used */
    size_t cap; /* available */
    bool heap;  /* p was allocated here */
} out_t;

static void
out_grow(out_t *o, size_t n)
{
    size_t cap = 2 * o->cap;
    while (cap < o->len + n)
        cap *= 2;
    if (o->heap) {
        o->p = rj_xrealloc(o->p, cap);
    } else {
        char *p = rj_xmalloc(cap);
        memcpy(p, o->p, o->len);
        o->p = p;
        o->heap = true;
    }
    o->cap = cap;
}

static inline void
out_put(out_t *o, const char *s, size_t n)
{
    if (o->len + n > o->cap)
        out_grow(o, n);
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static inline void
out_putc(out_t *o, char c)
{
    if (o->len == o->cap)
        out_grow(o, 1);
    o->p[o->len++] = c;
}

/* Prints @p n bytes of @p s as a JSON string; false when they are not valid UTF-8. */
static bool
put_string(out_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s;
    out_putc(o, '"');
    size_t run = 0; /* start of the bytes not printed yet */
    for (size_t i = 0; i < n;) {
        if (u[i] >= 0x80) {
            uint32_t cp;
            size_t k = rj_utf8_decode(u + i, n - i, &cp);
            if (k == 0)
                return false;
            i += k;
            continue;
        }
        if (u[i] >= 0x20 && u[i] != '"' && u[i] != '\\') {
            i++;
            continue;
        }
        out_put(o, s + run, i - run);
        char esc[6] = {'\\', 0, '0', '0', 0, 0};
        size_t len = 2;
        switch (u[i]) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[4] = hex[u[i] >> 4];
            esc[5] = hex[u[i] & 0xF];
            len = 6;
        }
        out_put(o, esc, len);
        run = ++i;
    }
    out_put(o, s + run, n - run);
    out_putc(o, '"');
    return true;
}

static void
put_integer(out_t *o, json_int_t v)
{
    char digits[24];
    size_t i = sizeof digits;
    /* Through unsigned: the magnitude of the most negative integer does not fit. */
    unsigned long long m = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[--i] = (char)('0' + m % 10);
        m /= 10;
    } while (m != 0);
    if (v < 0)
        digits[--i] = '-';
    out_put(o, digits + i, sizeof digits - i);
}

static bool
put_value(out_t *o, const json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth >= MAX_DEPTH)
            return false;
        out_putc(o, '{');
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it != NULL;
             it = json_object_iter_next((json_t *)v, it)) {
            if (!first)
                out_putc(o, ',');
            first = false;
            if (!put_string(o, json_object_iter_key(it), json_object_iter_key_len(it)))
                return false;
            out_putc(o, ':');
            if (!put_value(o, json_object_iter_value(it), depth + 1))
                return false;
        }
        out_putc(o, '}');
        return true;
    }
    case JSON_ARRAY: {
        if (depth >= MAX_DEPTH)
            return false;
        out_putc(o, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                out_putc(o, ',');
            if (!put_value(o, json_array_get(v, i), depth + 1))
                return false;
        }
        out_putc(o, ']');
        return true;
    }
    case JSON_STRING:
        return put_string(o, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        put_integer(o, json_integer_value(v));
        return true;
    case JSON_REAL: {
        char text[64];
        size_t n = json_dumpb(v, text, sizeof text, JSON_COMPACT | JSON_ENCODE_ANY);
        if (n == 0 || n > sizeof text)
            return false;
        out_put(o, text, n);
        return true;
    }
    case JSON_TRUE:
        out_put(o, "true", 4);
        return true;
    case JSON_FALSE:
        out_put(o, "false", 5);
        return true;
    case JSON_NULL:
        out_put(o, "null", 4);
        return true;
    }
    return false;
}

char *
rj_json_dumps(const json_t *v)
{
    char stack[STACK_BYTES];
    out_t o = {.p = stack, .cap = sizeof stack};
    if (v != NULL && put_value(&o, v, 0)) {
        out_putc(&o, '\0');
        if (o.heap)
            return o.p;
        char *s = rj_xmalloc(o.len);
        memcpy(s, stack, o.len);
        return s;
    }
    if (o.heap)
        free(o.p);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    RJ_ASSERT(s != NULL);
    return s;
}
