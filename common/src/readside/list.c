/*
 * list.c - running read-model queries on one connection: pages and Booster's cursors,
 * the List and deprecated plural queries, and the indexes they rely on.
 *
 * A query comes back as one JSON text (rj_rs_query_build aggregates in SQL), so running it
 * is one round trip and one rj_json_loads, whatever the page size.
 *
 * Not here: SQL generation (filter_sql.c) and authorization (the caller's).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "json/envelope.h"
#include "pg/pg.h"
#include "readside/readside.h"

/* A non-negative count from a JSON integer or a decimal string. */
static bool
read_count(const json_t *v, long *out)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 0 || n > LONG_MAX)
            return false;
        *out = (long)n;
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = n;
    return true;
}

rj_status_t
rj_rs_page_from_args(const json_t *limit, const json_t *after_cursor, rj_rs_page_t *page,
                     rj_error_t *err)
{
    rj_rs_page_t p = {.limit = RJ_RS_PAGE_SIZE, .offset = 0};
    if (limit != NULL && !json_is_null(limit)) {
        if (!json_is_integer(limit) || !read_count(limit, &p.limit))
            return rj_error_set(err, RJ_EINVAL,
                                "could not read the page: limit must be an integer >= 0");
    }
    if (after_cursor != NULL && !json_is_null(after_cursor)) {
        const json_t *id = json_object_get(after_cursor, "id");
        if (!json_is_object(after_cursor) || (id != NULL && !read_count(id, &p.offset)))
            return rj_error_set(err, RJ_EINVAL,
                                "could not read the page: afterCursor must be {\"id\": "
                                "\"<offset>\"} with a decimal offset >= 0");
    }
    *page = p;
    return RJ_OK;
}

json_t *
rj_rs_connection_take(json_t *items, const rj_rs_page_t *page)
{
    if (!json_is_array(items)) {
        json_decref(items);
        return NULL;
    }
    /* Booster's cursor is the offset of the next page as a decimal string. */
    long next = page->offset > LONG_MAX - page->limit ? LONG_MAX : page->offset + page->limit;
    char id[32];
    snprintf(id, sizeof id, "%ld", next);
    size_t count = json_array_size(items);
    return json_pack("{s:o, s:I, s:{s:s}}", "items", items, "count", (json_int_t)count, "cursor",
                     "id", id);
}

/* Runs a built statement and parses its single JSON array. */
static rj_status_t
run_array(rj_pg_t *pg, const rj_buf_t *sql, const rj_rs_params_t *params, json_t **out,
          rj_error_t *err)
{
    PGresult *res = NULL;
    rj_status_t st =
        rj_pg_exec(pg, sql->data, (int)params->n, rj_rs_params_values(params), &res, err);
    if (st != RJ_OK)
        return st;
    json_t *arr = NULL;
    if (PQntuples(res) == 1 && PQnfields(res) == 1 && !PQgetisnull(res, 0, 0))
        arr = rj_json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return rj_error_set(err, RJ_EINTERNAL, "could not read the query result: not a JSON array");
    }
    *out = arr;
    return RJ_OK;
}

rj_status_t
rj_rs_list(rj_pg_t *pg, const rj_app_read_model_t *rm, const json_t *filter, const json_t *sort_by,
           const json_t *limit, const json_t *after_cursor, json_t **connection, rj_error_t *err)
{
    rj_rs_page_t page;
    rj_status_t st = rj_rs_page_from_args(limit, after_cursor, &page, err);
    if (st != RJ_OK)
        return st;
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    json_t *items = NULL;
    st = rj_rs_query_build(rm, filter, sort_by, &page, &sql, &params, err);
    if (st == RJ_OK)
        st = run_array(pg, &sql, &params, &items, err);
    if (st == RJ_OK)
        *connection = rj_rs_connection_take(items, &page);
    rj_rs_params_deinit(&params);
    rj_buf_deinit(&sql);
    return st;
}

rj_status_t
rj_rs_search(rj_pg_t *pg, const rj_app_read_model_t *rm, const json_t *filter, json_t **items,
             rj_error_t *err)
{
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    rj_status_t st = rj_rs_query_build(rm, filter, NULL, NULL, &sql, &params, err);
    if (st == RJ_OK)
        st = run_array(pg, &sql, &params, items, err);
    rj_rs_params_deinit(&params);
    rj_buf_deinit(&sql);
    return st;
}

rj_status_t
rj_rs_ensure_indexes(rj_pg_t *pg, const rj_app_read_model_t *rm, rj_error_t *err)
{
    /* rj_pg_ensure_read_model_table creates the table with its GIN index on
     * value jsonb_path_ops, which is the index containment (eq, in, includes) uses; the
     * primary key (id, seq) serves the default order and the id tie-break. Measured on
     * 100k carts (test_readside_pg, RAMJET_TEST_PG_BENCH=1), limit 20: eq on a nested
     * field 1.2 ms with the index vs 24 ms without; includes 1.3 vs 30 ms; in (3 ids) 2.2
     * vs 25 ms; no filter in default order 0.3 ms. Prefix, range and regex tests and
     * sorts on a field scan (about 40 ms): they would need an expression index per
     * field path and query shape, and each one slows every projection's write, so none
     * is created here. */
    return rj_pg_ensure_read_model_table(pg, rm->name, err);
}
