/*
 * filter_sql.c - Booster read-model filters and sorts compiled to PostgreSQL over the
 * `value jsonb` column of a read-model table, with every value and every field name bound
 * as a parameter.
 *
 * How each test is spelled, and why (E = value #> path, T = value #>> path, with the path
 * a bound text[]):
 *
 *   eq / in with scalars, includes   containment, `value @> {"a":{"b":v}}` or
 *                                    `value @> {"a":[v]}`: the GIN jsonb_path_ops index on
 *                                    value serves it, containment compares numbers
 *                                    numerically and strings exactly, and it is false when
 *                                    any step of the path is missing or not an object.
 *   eq with an object/array operand  `E = v` (containment would accept a superset).
 *   lt/lte/gt/gte                    numbers and booleans as jsonb (numeric order), guarded
 *                                    by jsonb_typeof so a string never compares to a number
 *                                    through jsonb's cross-type order; strings as text
 *                                    COLLATE "C" (byte order, as the evaluator's strcmp).
 *   beginsWith / contains            starts_with / strpos: literal, unlike LIKE or regex.
 *   isDefined                        `E IS [NOT] NULL`: #> yields SQL NULL only for a
 *                                    missing path, JSON null is a defined value.
 *
 * Every fragment is a two-valued boolean (coalesce(..., false) where SQL NULL could
 * appear), so `not` is the complement the evaluator computes; SQL's three-valued NOT would
 * drop rows whose field is missing.
 *
 * Not here: running the statement (list.c), the filter's schema (the GraphQL engine has
 * validated it against the generated filter types already).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "pg/pg.h"
#include "readside/readside.h"
#include "readside/rs_int.h"

/* ---- parameters ---- */

void
rj_rs_params_init(rj_rs_params_t *p)
{
    *p = (rj_rs_params_t){0};
}

void
rj_rs_params_deinit(rj_rs_params_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->values[i]);
    free(p->values);
    free(p->kinds);
    free(p->index);
    *p = (rj_rs_params_t){0};
}

const char *const *
rj_rs_params_values(const rj_rs_params_t *p)
{
    return (const char *const *)p->values;
}

static size_t
param_hash(char kind, const char *value)
{
    return (size_t)(rj_hash(value, strlen(value)) ^ (uint64_t)(unsigned char)kind);
}

/* The index slot of (kind, value): where it is, or the empty slot where it belongs. */
static size_t
param_slot(const rj_rs_params_t *p, char kind, const char *value)
{
    size_t mask = p->nindex - 1, i = param_hash(kind, value) & mask;
    for (; p->index[i] != 0; i = (i + 1) & mask) {
        size_t k = p->index[i] - 1;
        if (p->kinds[k] == kind && strcmp(p->values[k], value) == 0)
            break;
    }
    return i;
}

/* Adds @p value (taken) and returns its number, reusing an equal parameter: a path used by
 * several tests is bound once, and an `in` list's repeated values are bound once. */
static size_t
param_take(rj_rs_params_t *p, char kind, char *value)
{
    /* Only a parameter used with the same cast is shared: PostgreSQL gives a parameter
     * one type, from its first use. The lookup is hashed: a scan per value made a list of
     * 500,000 values take minutes (issue 9). */
    if (p->nindex > 0) {
        size_t i = param_slot(p, kind, value);
        if (p->index[i] != 0) {
            free(value);
            return p->index[i];
        }
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->values = rj_xrealloc(p->values, p->cap * sizeof *p->values);
        p->kinds = rj_xrealloc(p->kinds, p->cap);
    }
    p->kinds[p->n] = kind;
    p->values[p->n++] = value;
    if (p->n * 2 > p->nindex) {
        /* at most half full: rebuild at twice the values' count */
        free(p->index);
        p->nindex = p->nindex ? p->nindex * 2 : 16;
        while (p->nindex < p->n * 2)
            p->nindex *= 2;
        p->index = rj_xcalloc(p->nindex, sizeof *p->index);
        for (size_t k = 0; k < p->n; k++)
            p->index[param_slot(p, p->kinds[k], p->values[k])] = k + 1;
    } else {
        p->index[param_slot(p, kind, value)] = p->n;
    }
    return p->n;
}

size_t
rj_rs_params_add(rj_rs_params_t *p, char kind, const char *value)
{
    return param_take(p, kind, rj_xstrdup(value));
}

/* A JSON value as a jsonb parameter. Reals keep 17 digits, so the database sees the
 * double the client sent. */
static size_t
param_json(rj_rs_params_t *p, const json_t *v)
{
    return param_take(p, 'j',
                      json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17)));
}

/* ---- the compiler ---- */

typedef struct compiler {
    rj_buf_t *sql;          /* output */
    rj_rs_params_t *params; /* parameters */
    json_t *path;           /* field names from the root to the current object */
    rj_error_t *err;        /* where failures go */
} compiler_t;

static rj_status_t
bad(compiler_t *c, const char *what, const char *key)
{
    return rj_error_set(c->err, RJ_EINVAL, "could not build the read-model query: %s key=%s", what,
                        key);
}

/* The current path as a text[] parameter. */
static size_t
param_path(compiler_t *c)
{
    size_t n = json_array_size(c->path);
    const char **items = rj_xcalloc(n > 0 ? n : 1, sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = json_string_value(json_array_get(c->path, i));
    char *lit = rj_pg_array_literal(items, n);
    free(items);
    return param_take(c->params, 'a', lit);
}

/* {"a":{"b": leaf}} for the current path; @p leaf is taken. */
static json_t *
nest_take(const compiler_t *c, json_t *leaf)
{
    for (size_t i = json_array_size(c->path); i-- > 0;) {
        json_t *o = json_object();
        json_object_set_new(o, json_string_value(json_array_get(c->path, i)), leaf);
        leaf = o;
    }
    return leaf;
}

/* `value @> $n::jsonb` with the operand nested under the current path. */
static void
put_containment_take(compiler_t *c, json_t *leaf)
{
    json_t *doc = nest_take(c, leaf);
    rj_buf_printf(c->sql, "(value @> $%zu::jsonb)", param_json(c->params, doc));
    json_decref(doc);
}

/* Equality with @p v (never SQL NULL). */
static void
put_eq(compiler_t *c, const json_t *v)
{
    if (rj__rs_is_container(v)) {
        size_t path = param_path(c);
        rj_buf_printf(c->sql, "coalesce((value #> $%zu::text[]) = $%zu::jsonb, false)", path,
                      param_json(c->params, v));
    } else {
        put_containment_take(c, json_deep_copy(v));
    }
}

static const char *
order_sql(rj__rs_op_t op)
{
    switch (op) {
    case RJ__RS_LT:
        return "<";
    case RJ__RS_LTE:
        return "<=";
    case RJ__RS_GT:
        return ">";
    default:
        return ">=";
    }
}

/* One operator test on the current path. A null operand (other than eq/ne) is no test. */
static rj_status_t
put_leaf(compiler_t *c, rj__rs_op_t op, const char *key, const json_t *v)
{
    if (json_is_null(v) && op != RJ__RS_EQ && op != RJ__RS_NE) {
        rj_buf_puts(c->sql, "true");
        return RJ_OK;
    }
    switch (op) {
    case RJ__RS_IS_DEFINED:
        if (!json_is_boolean(v))
            return bad(c, "isDefined needs a boolean", key);
        rj_buf_printf(c->sql, "((value #> $%zu::text[]) IS %s)", param_path(c),
                      json_is_true(v) ? "NOT NULL" : "NULL");
        return RJ_OK;
    case RJ__RS_EQ:
        put_eq(c, v);
        return RJ_OK;
    case RJ__RS_NE:
        if (json_is_null(v)) {
            /* ne: null = present and not null (Booster's tests rely on it). */
            rj_buf_printf(c->sql, "coalesce(jsonb_typeof(value #> $%zu::text[]) <> 'null', false)",
                          param_path(c));
            return RJ_OK;
        }
        rj_buf_puts(c->sql, "NOT ");
        put_eq(c, v);
        return RJ_OK;
    case RJ__RS_IN: {
        if (!json_is_array(v))
            return bad(c, "in needs a list", key);
        if (json_array_size(v) == 0) {
            rj_buf_puts(c->sql, "false");
            return RJ_OK;
        }
        rj_buf_putc(c->sql, '(');
        size_t i;
        const json_t *e;
        json_array_foreach (v, i, e) {
            if (i > 0)
                rj_buf_puts(c->sql, " OR ");
            put_eq(c, e);
        }
        rj_buf_putc(c->sql, ')');
        return RJ_OK;
    }
    case RJ__RS_LT:
    case RJ__RS_LTE:
    case RJ__RS_GT:
    case RJ__RS_GTE: {
        size_t path = param_path(c);
        if (json_is_number(v) || json_is_boolean(v))
            rj_buf_printf(c->sql,
                          "coalesce(jsonb_typeof(value #> $%zu::text[]) = '%s'"
                          " AND (value #> $%zu::text[]) %s $%zu::jsonb, false)",
                          path, json_is_number(v) ? "number" : "boolean", path, order_sql(op),
                          param_json(c->params, v));
        else if (json_is_string(v))
            rj_buf_printf(c->sql,
                          "coalesce(jsonb_typeof(value #> $%zu::text[]) = 'string'"
                          " AND (value #>> $%zu::text[]) COLLATE \"C\" %s $%zu::text, false)",
                          path, path, order_sql(op),
                          param_take(c->params, 't', rj_xstrdup(json_string_value(v))));
        else
            return bad(c, "comparisons need a number, a string or a boolean", key);
        return RJ_OK;
    }
    case RJ__RS_BEGINS_WITH:
    case RJ__RS_CONTAINS:
    case RJ__RS_REGEX:
    case RJ__RS_IREGEX: {
        if (!json_is_string(v))
            return bad(c, "string operators need a string", key);
        size_t path = param_path(c);
        size_t s = param_take(c->params, 't', rj_xstrdup(json_string_value(v)));
        rj_buf_printf(c->sql, "coalesce(jsonb_typeof(value #> $%zu::text[]) = 'string' AND ", path);
        if (op == RJ__RS_BEGINS_WITH)
            rj_buf_printf(c->sql, "starts_with(value #>> $%zu::text[], $%zu::text)", path, s);
        else if (op == RJ__RS_CONTAINS)
            rj_buf_printf(c->sql, "strpos(value #>> $%zu::text[], $%zu::text) > 0", path, s);
        else
            rj_buf_printf(c->sql, "(value #>> $%zu::text[]) %s $%zu::text", path,
                          op == RJ__RS_REGEX ? "~" : "~*", s);
        rj_buf_puts(c->sql, ", false)");
        return RJ_OK;
    }
    case RJ__RS_INCLUDES: {
        json_t *arr = json_array();
        json_array_append(arr, (json_t *)v);
        put_containment_take(c, arr);
        return RJ_OK;
    }
    default:
        return bad(c, "not an operator", key);
    }
}

static rj_status_t put_filter(compiler_t *c, const json_t *filter, const char *key);

/* and/or: the list's filters over the current object, joined; an empty list is the
 * operator's identity (true for and, false for or). */
static rj_status_t
put_junction(compiler_t *c, const json_t *list, const char *key, bool is_and)
{
    if (!json_is_array(list))
        return bad(c, "and/or need a list of filters", key);
    if (json_array_size(list) == 0) {
        rj_buf_puts(c->sql, is_and ? "true" : "false");
        return RJ_OK;
    }
    rj_buf_putc(c->sql, '(');
    size_t i;
    const json_t *f;
    json_array_foreach (list, i, f) {
        if (i > 0)
            rj_buf_puts(c->sql, is_and ? " AND " : " OR ");
        rj_status_t st = put_filter(c, f, key);
        if (st != RJ_OK)
            return st;
    }
    rj_buf_putc(c->sql, ')');
    return RJ_OK;
}

/* A filter object over the current path: its keys ANDed. */
static rj_status_t
put_filter(compiler_t *c, const json_t *filter, const char *key)
{
    if (filter == NULL || json_is_null(filter) ||
        (json_is_object(filter) && json_object_size(filter) == 0)) {
        rj_buf_puts(c->sql, "true");
        return RJ_OK;
    }
    if (!json_is_object(filter))
        return bad(c, "a filter must be an object", key);

    rj_buf_putc(c->sql, '(');
    bool first = true;
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)filter, k, v) {
        if (!first)
            rj_buf_puts(c->sql, " AND ");
        first = false;
        rj__rs_op_t op = rj__rs_op(k);
        rj_status_t st = RJ_OK;
        switch (op) {
        case RJ__RS_AND:
        case RJ__RS_OR:
            if (json_is_null(v))
                rj_buf_puts(c->sql, "true");
            else
                st = put_junction(c, v, k, op == RJ__RS_AND);
            break;
        case RJ__RS_NOT:
            if (json_is_null(v)) {
                rj_buf_puts(c->sql, "true");
            } else {
                rj_buf_puts(c->sql, "NOT ");
                st = put_filter(c, v, k);
            }
            break;
        case RJ__RS_FIELD:
            json_array_append_new(c->path, json_string(k));
            st = put_filter(c, v, k);
            json_array_remove(c->path, json_array_size(c->path) - 1);
            break;
        default:
            st = put_leaf(c, op, k, v);
            break;
        }
        if (st != RJ_OK)
            return st;
    }
    rj_buf_putc(c->sql, ')');
    return RJ_OK;
}

rj_status_t
rj_rs_filter_sql(const json_t *filter, rj_buf_t *sql, rj_rs_params_t *params, rj_error_t *err)
{
    compiler_t c = {.sql = sql, .params = params, .path = json_array(), .err = err};
    rj_status_t st = put_filter(&c, filter, "filter");
    json_decref(c.path);
    return st;
}

/* ---- sorting ---- */

typedef struct sort_key {
    size_t path; /* parameter number of the text[] path */
    bool desc;   /* DESC rather than ASC */
} sort_key_t;

typedef struct sort_keys {
    sort_key_t *keys; /* in priority order */
    size_t n, cap;    /* used, allocated */
} sort_keys_t;

static rj_status_t
collect_sort(compiler_t *c, const json_t *sort_by, sort_keys_t *out)
{
    if (!json_is_object(sort_by))
        return bad(c, "sortBy must be an object", "sortBy");
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)sort_by, k, v) {
        if (json_is_null(v))
            continue;
        json_array_append_new(c->path, json_string(k));
        rj_status_t st = RJ_OK;
        if (json_is_object(v)) {
            st = collect_sort(c, v, out);
        } else if (json_is_string(v) && (strcmp(json_string_value(v), "ASC") == 0 ||
                                         strcmp(json_string_value(v), "DESC") == 0)) {
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 4;
                out->keys = rj_xrealloc(out->keys, out->cap * sizeof *out->keys);
            }
            out->keys[out->n++] = (sort_key_t){.path = param_path(c),
                                               .desc = strcmp(json_string_value(v), "DESC") == 0};
        } else {
            st = bad(c, "a sort direction must be ASC or DESC", k);
        }
        json_array_remove(c->path, json_array_size(c->path) - 1);
        if (st != RJ_OK)
            return st;
    }
    return RJ_OK;
}

/* "rm_<lower(name)>" quoted as an identifier, as rj_pg_read_model_table spells it, without
 * needing a connection: the name is a GraphQL name, and quotes are doubled regardless. */
static void
put_table(rj_buf_t *sql, const char *name)
{
    rj_buf_puts(sql, "\"rm_");
    for (const char *s = name; *s != '\0'; s++) {
        if (*s == '"')
            rj_buf_putc(sql, '"');
        rj_buf_putc(sql, (char)tolower((unsigned char)*s));
    }
    rj_buf_putc(sql, '"');
}

/* The ORDER BY list over the inner query's output columns s<i>a (strings, COLLATE "C")
 * and s<i>b (everything else, in jsonb's order), then id and seq. @p prefix qualifies the columns
 * ("t." or ""). */
static void
put_order(rj_buf_t *sql, const sort_keys_t *keys, const char *prefix)
{
    for (size_t i = 0; i < keys->n; i++) {
        const char *dir = keys->keys[i].desc ? "DESC" : "ASC";
        rj_buf_printf(sql, "%ss%zua %s NULLS LAST, %ss%zub %s NULLS LAST, ", prefix, i, dir, prefix,
                      i, dir);
    }
    rj_buf_printf(sql, "%sid, %sseq", prefix, prefix);
}

rj_status_t
rj_rs_query_build(const rj_app_read_model_t *rm, const json_t *filter, const json_t *sort_by,
                  const rj_rs_page_t *page, rj_buf_t *sql, rj_rs_params_t *params, rj_error_t *err)
{
    rj_buf_reset(sql);
    rj_rs_params_deinit(params);
    compiler_t c = {.sql = sql, .params = params, .path = json_array(), .err = err};
    sort_keys_t keys = {0};
    rj_status_t st = RJ_OK;
    if (page != NULL && (page->limit < 0 || page->offset < 0))
        st = rj_error_set(err, RJ_EINVAL,
                          "could not build the read-model query: negative limit or offset");
    if (st == RJ_OK && sort_by != NULL && !json_is_null(sort_by))
        st = collect_sort(&c, sort_by, &keys);
    if (st != RJ_OK)
        goto out;

    /* The page is cut in a subquery ordered by the sort keys; the aggregate repeats the
     * order, since a subquery's order is not guaranteed to survive aggregation. */
    rj_buf_puts(sql, "SELECT coalesce(jsonb_agg(t.value ORDER BY ");
    put_order(sql, &keys, "t.");
    rj_buf_puts(sql, "), '[]'::jsonb)::text FROM (SELECT value, id, seq");
    for (size_t i = 0; i < keys.n; i++) {
        size_t p = keys.keys[i].path;
        rj_buf_printf(sql,
                      ", (CASE WHEN jsonb_typeof(value #> $%zu::text[]) = 'string'"
                      " THEN value #>> $%zu::text[] END) COLLATE \"C\" AS s%zua, value #> "
                      "$%zu::text[] AS s%zub",
                      p, p, i, p, i);
    }
    rj_buf_puts(sql, " FROM ");
    put_table(sql, rm->name);
    rj_buf_puts(sql, " WHERE ");
    st = put_filter(&c, filter, "filter");
    if (st != RJ_OK)
        goto out;
    rj_buf_puts(sql, " ORDER BY ");
    put_order(sql, &keys, "");
    if (page != NULL) {
        size_t lim = param_take(params, 'n', rj_xasprintf("%ld", page->limit));
        size_t off = param_take(params, 'n', rj_xasprintf("%ld", page->offset));
        rj_buf_printf(sql, " LIMIT $%zu::bigint OFFSET $%zu::bigint", lim, off);
    }
    rj_buf_puts(sql, ") t");

out:
    free(keys.keys);
    json_decref(c.path);
    return st;
}
