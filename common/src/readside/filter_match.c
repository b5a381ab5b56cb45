/*
 * filter_match.c - read-model filters evaluated on a JSON value in memory, for the
 * subscription pusher, with the semantics filter_sql.c compiles to SQL (readside.h lists
 * them). Where PostgreSQL decides something, this file copies its rule: containment
 * (`includes`, scalar `eq`) is jsonb's @>, numbers compare as numbers whatever their JSON
 * spelling (1 = 1.0), strings by bytes (COLLATE "C").
 *
 * Not here: the choice of which subscriptions to test (the pusher), and regular expression
 * dialects: POSIX extended expressions stand in for PostgreSQL's ARE; both accept the
 * common subset (anchors, classes, alternation, repetition, bracket expressions).
 */
#include <regex.h>
#include <string.h>

#include "readside/readside.h"
#include "readside/rs_int.h"

static const struct {
    const char *key; /* the filter key */
    rj__rs_op_t op;  /* its meaning */
} ops[] = {
    {"and", RJ__RS_AND},
    {"or", RJ__RS_OR},
    {"not", RJ__RS_NOT},
    {"isDefined", RJ__RS_IS_DEFINED},
    {"eq", RJ__RS_EQ},
    {"ne", RJ__RS_NE},
    {"lt", RJ__RS_LT},
    {"lte", RJ__RS_LTE},
    {"gt", RJ__RS_GT},
    {"gte", RJ__RS_GTE},
    {"in", RJ__RS_IN},
    {"beginsWith", RJ__RS_BEGINS_WITH},
    {"contains", RJ__RS_CONTAINS},
    {"regex", RJ__RS_REGEX},
    {"iRegex", RJ__RS_IREGEX},
    {"includes", RJ__RS_INCLUDES},
};

rj__rs_op_t
rj__rs_op(const char *key)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].key, key) == 0)
            return ops[i].op;
    return RJ__RS_FIELD;
}

/* ---- jsonb's comparisons ---- */

/* -1, 0, 1 comparing two numbers exactly when both are integers, as doubles otherwise. */
static int
num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    double x = json_number_value(a), y = json_number_value(b);
    return (x > y) - (x < y);
}

/* Scalar equality as jsonb sees it: same JSON type, numbers by value, strings by bytes. */
static bool
scalar_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b) && !(json_is_boolean(a) && json_is_boolean(b)))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_TRUE:
    case JSON_FALSE:
        return json_is_true(a) == json_is_true(b);
    case JSON_NULL:
        return true;
    default:
        return false;
    }
}

/* jsonb `=`: deep equality, arrays in order, numbers by value. */
static bool
deep_eq(const json_t *a, const json_t *b)
{
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        const json_t *v;
        json_object_foreach ((json_t *)a, k, v) {
            const json_t *w = json_object_get(b, k);
            if (w == NULL || !deep_eq(v, w))
                return false;
        }
        return true;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!deep_eq(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (rj__rs_is_container(a) || rj__rs_is_container(b))
        return false;
    return scalar_eq(a, b);
}

/* jsonb `a @> b` below the top level: objects by key (recursively), arrays by "every
 * element of b is in a" (scalars against scalars, containers against containers of the
 * same kind), scalars by equality. */
static bool
contains(const json_t *a, const json_t *b)
{
    if (json_is_object(b)) {
        if (!json_is_object(a))
            return false;
        const char *k;
        const json_t *v;
        json_object_foreach ((json_t *)b, k, v) {
            const json_t *w = json_object_get(a, k);
            if (w == NULL || !contains(w, v))
                return false;
        }
        return true;
    }
    if (json_is_array(b)) {
        if (!json_is_array(a))
            return false;
        size_t i, j;
        const json_t *e, *x;
        json_array_foreach (b, i, e) {
            bool found = false;
            json_array_foreach (a, j, x) {
                if (rj__rs_is_container(e) ? json_typeof(x) == json_typeof(e) && contains(x, e)
                                           : !rj__rs_is_container(x) && scalar_eq(x, e)) {
                    found = true;
                    break;
                }
            }
            if (!found)
                return false;
        }
        return true;
    }
    return !rj__rs_is_container(a) && scalar_eq(a, b);
}

/* ---- evaluation ---- */

/* The field at @p key of @p at, or NULL when @p at is missing or not an object: `#>`
 * does not step into anything else (field names are never array indexes). */
static const json_t *
step(const json_t *at, const char *key)
{
    return json_is_object(at) ? json_object_get(at, key) : NULL;
}

static bool
eq_test(const json_t *e, const json_t *v)
{
    if (e == NULL)
        return false;
    return rj__rs_is_container(v) ? deep_eq(e, v) : contains(e, v);
}

static bool
regex_test(const char *s, const char *pattern, bool icase)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) != 0)
        return false;
    bool m = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

/* One operator on @p e, the value at the current path (NULL when missing). */
static bool
leaf(rj__rs_op_t op, const json_t *e, const json_t *v)
{
    if (json_is_null(v) && op != RJ__RS_EQ && op != RJ__RS_NE)
        return true;
    switch (op) {
    case RJ__RS_IS_DEFINED:
        return json_is_boolean(v) && (json_is_true(v) ? e != NULL : e == NULL);
    case RJ__RS_EQ:
        return eq_test(e, v);
    case RJ__RS_NE:
        if (json_is_null(v))
            return e != NULL && !json_is_null(e);
        return !eq_test(e, v);
    case RJ__RS_IN: {
        size_t i;
        const json_t *x;
        json_array_foreach (v, i, x) {
            if (eq_test(e, x))
                return true;
        }
        return false;
    }
    case RJ__RS_LT:
    case RJ__RS_LTE:
    case RJ__RS_GT:
    case RJ__RS_GTE: {
        int c;
        if (e == NULL)
            return false;
        if (json_is_number(v) && json_is_number(e))
            c = num_cmp(e, v);
        else if (json_is_boolean(v) && json_is_boolean(e))
            c = (int)json_is_true(e) - (int)json_is_true(v);
        else if (json_is_string(v) && json_is_string(e))
            c = strcmp(json_string_value(e), json_string_value(v));
        else
            return false;
        return op == RJ__RS_LT    ? c < 0
               : op == RJ__RS_LTE ? c <= 0
               : op == RJ__RS_GT  ? c > 0
                                  : c >= 0;
    }
    case RJ__RS_BEGINS_WITH:
    case RJ__RS_CONTAINS:
    case RJ__RS_REGEX:
    case RJ__RS_IREGEX: {
        if (!json_is_string(e) || !json_is_string(v))
            return false;
        const char *s = json_string_value(e), *p = json_string_value(v);
        if (op == RJ__RS_BEGINS_WITH)
            return strncmp(s, p, strlen(p)) == 0;
        if (op == RJ__RS_CONTAINS)
            return strstr(s, p) != NULL;
        return regex_test(s, p, op == RJ__RS_IREGEX);
    }
    case RJ__RS_INCLUDES: {
        if (!json_is_array(e))
            return false;
        json_t *wrapped = json_array();
        json_array_append(wrapped, (json_t *)v);
        bool m = contains(e, wrapped);
        json_decref(wrapped);
        return m;
    }
    default:
        return false;
    }
}

/* A filter object over @p at (the value at the current path, NULL when missing). */
static bool
match(const json_t *filter, const json_t *at)
{
    if (filter == NULL || json_is_null(filter))
        return true;
    if (!json_is_object(filter))
        return false;
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)filter, k, v) {
        rj__rs_op_t op = rj__rs_op(k);
        bool ok;
        size_t i;
        const json_t *f;
        switch (op) {
        case RJ__RS_AND:
            if (json_is_null(v))
                continue;
            if (!json_is_array(v))
                return false;
            ok = true;
            json_array_foreach (v, i, f) {
                if (!match(f, at)) {
                    ok = false;
                    break;
                }
            }
            break;
        case RJ__RS_OR:
            if (json_is_null(v))
                continue;
            if (!json_is_array(v))
                return false;
            ok = false;
            json_array_foreach (v, i, f) {
                if (match(f, at)) {
                    ok = true;
                    break;
                }
            }
            break;
        case RJ__RS_NOT:
            /* A malformed operand is a build error in SQL; here it never matches. */
            if (v != NULL && !json_is_null(v) && !json_is_object(v))
                return false;
            ok = json_is_null(v) || !match(v, at);
            break;
        case RJ__RS_FIELD:
            ok = match(v, step(at, k));
            break;
        default:
            ok = leaf(op, at, v);
            break;
        }
        if (!ok)
            return false;
    }
    return true;
}

bool
rj_rs_filter_match(const json_t *filter, const json_t *value)
{
    return match(filter, value);
}
