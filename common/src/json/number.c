/*
 * json/number.c - Ramjet's one number encoding and the one JSON decoder for stored and
 * transported data (declared in envelope.h, where the encoding is described).
 *
 * Why a decoder of our own: PostgreSQL's jsonb keeps numbers as `numeric` and prints them
 * without an exponent, so the double 1e308 a client sent comes back as a 309-digit integer
 * literal. jansson reads integer literals into int64 and refuses that one ("too big
 * integer"), which turned one mutation into a snapshot the reducer could never read and a
 * cart the command processor could never load. Every valid JSON number that is a finite
 * double must therefore decode, whatever its spelling.
 *
 * How: parse reading every number as a double (JSON_DECODE_INT_AS_REAL, strtod's correct
 * rounding), then turn the integral ones within ±2^53 back into integers. So what comes out
 * is always in the canonical form rj_json_number() writes, whichever spelling came in:
 * jsonb prints the double 1.2345678901234568e17 as the integer 123456789012345680, and a
 * handler adding two such int64s would overflow, where two doubles cannot. One parse and
 * one walk; jansson's own nesting limit (2048) bounds the walk's recursion. A real beyond
 * the double range (1e400) still fails: it is not a number Ramjet ever writes.
 *
 * What this file does not do: it does not clamp or reject infinities in documents being
 * encoded (jansson cannot hold them: json_real(inf) is NULL); writers build their numbers
 * with rj_json_number(), which refuses them up front.
 */
#include <math.h>
#include <string.h>

#include "json/envelope.h"

/* 2^53: every integer of at most this magnitude is exactly a double, and back. */
#define SAFE_INTEGER_LIMIT 9007199254740992.0

json_t *
rj_json_number(double d)
{
    if (!isfinite(d))
        return NULL;
    /* -0.0 lands here too and becomes 0: jsonb's numeric has no negative zero anyway. */
    if (d == floor(d) && fabs(d) <= SAFE_INTEGER_LIMIT)
        return json_integer((json_int_t)d);
    return json_real(d);
}

/* Turns the integral reals within ±2^53 of @p v, at any depth, back into integers. */
static void
integers_restore(json_t *v)
{
    if (json_is_object(v)) {
        void *it = json_object_iter(v);
        while (it != NULL) {
            json_t *child = json_object_iter_value(it);
            if (json_is_real(child))
                json_object_iter_set_new(v, it, rj_json_number(json_real_value(child)));
            else
                integers_restore(child);
            it = json_object_iter_next(v, it);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *child = json_array_get(v, i);
            if (json_is_real(child))
                json_array_set_new(v, i, rj_json_number(json_real_value(child)));
            else
                integers_restore(child);
        }
    }
}

json_t *
rj_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error)
{
    json_t *v = json_loadb(buf, len, flags | JSON_DECODE_INT_AS_REAL, error);
    if (json_is_real(v)) {
        json_t *n = rj_json_number(json_real_value(v));
        json_decref(v);
        return n;
    }
    integers_restore(v);
    return v;
}

json_t *
rj_json_loads(const char *s, size_t flags, json_error_t *error)
{
    return rj_json_loadb(s, strlen(s), flags, error);
}
