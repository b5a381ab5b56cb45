/*
 * test_query.c - the projector's read-model-query join keys (services/projector/query.c):
 * the paged match statement (text, bound parameters, keyset paging) and the matches in the
 * batch's row cache; then, with RAMJET_TEST_PG_URL (else skipped), the statement run page
 * by page against a real read-model table with more matches than one page holds.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "log/log.h"
#include "pg/pg.h"
#include "projector/plan.h"
#include "projector/query.h"
#include "../pg_test.h"

Test(query, statement_binds_every_value_and_pages_by_key)
{
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    rj_error_t err;
    json_t *filter = json_pack("{s:{s:s}}", "customerId", "eq", "c1'); DROP TABLE x; --");

    cr_assert_eq(proj_query_build("\"rm_orderreadmodel\"", filter, NULL, NULL, &sql, &params, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect(strncmp(sql.data,
                      "SELECT id, seq, version, value::text FROM \"rm_orderreadmodel\" WHERE ",
                      66) == 0,
              "%s", sql.data);
    cr_expect_null(strstr(sql.data, "DROP"), "values are parameters: %s", sql.data);
    cr_expect_null(strstr(sql.data, "(id, seq) >"), "the first page has no lower bound");
    cr_expect(strstr(sql.data, " ORDER BY id, seq LIMIT 500") != NULL, "%s", sql.data);
    size_t first_n = params.n;

    cr_assert_eq(proj_query_build("\"rm_orderreadmodel\"", filter, "o'9", "", &sql, &params, &err),
                 RJ_OK);
    cr_expect_eq(params.n, first_n + 2, "the key of the last row: two more parameters");
    char bound[64];
    snprintf(bound, sizeof bound, "(id, seq) > ($%zu::text, $%zu::text)", first_n + 1,
             first_n + 2);
    cr_expect(strstr(sql.data, bound) != NULL, "%s", sql.data);
    cr_expect_str_eq(params.values[first_n], "o'9");
    cr_expect_str_eq(params.values[first_n + 1], "");

    /* A filter the schema could not have produced is the snapshot's problem. */
    json_t *bad = json_pack("{s:{s:s}}", "customerId", "in", "not a list");
    cr_expect_eq(proj_query_build("t", bad, NULL, NULL, &sql, &params, &err), RJ_EINVAL);
    json_decref(bad);
    json_decref(filter);
    rj_rs_params_deinit(&params);
    rj_buf_deinit(&sql);
}

static proj_row_t *
cached(proj_batch_t *b, const char *rm, const char *id, const char *seq, const char *customer)
{
    proj_row_t *r = proj_batch_row(b, rm, id, seq);
    if (customer != NULL)
        proj_row_set_loaded(r, 1, json_pack("{s:s, s:s}", "id", id, "customerId", customer));
    return r;
}

Test(query, cache_matches_by_current_value_in_key_order)
{
    proj_batch_t b;
    proj_batch_init(&b);
    cached(&b, "OrderReadModel", "o3", "", "c1");
    cached(&b, "OrderReadModel", "o1", "", "c1");
    cached(&b, "OrderReadModel", "o2", "", "c2");
    cached(&b, "CartReadModel", "o0", "", "c1"); /* another read model */
    cached(&b, "OrderReadModel", "o4", "", NULL); /* absent */
    /* Created by an earlier projection of the batch: matches though not stored yet. */
    proj_row_t *fresh = cached(&b, "OrderReadModel", "o0", "", NULL);
    proj_row_apply(fresh, RJ_APP_PROJECT_WRITE,
                   json_pack("{s:s, s:s}", "id", "o0", "customerId", "c1"));
    /* Deleted by an earlier projection of the batch: no longer matches. */
    proj_row_t *gone = cached(&b, "OrderReadModel", "o5", "", "c1");
    proj_row_apply(gone, RJ_APP_PROJECT_DELETE, NULL);

    json_t *filter = json_pack("{s:{s:s}}", "customerId", "eq", "c1");
    size_t *idx;
    size_t n = proj_query_cached(&b, "OrderReadModel", filter, &idx);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(b.rows[idx[0]].id, "o0");
    cr_expect_str_eq(b.rows[idx[1]].id, "o1");
    cr_expect_str_eq(b.rows[idx[2]].id, "o3");
    free(idx);

    json_t *none = json_pack("{s:{s:s}}", "customerId", "eq", "c9");
    cr_expect_eq(proj_query_cached(&b, "OrderReadModel", none, &idx), 0);
    cr_expect_null(idx);
    json_decref(none);
    json_decref(filter);
    proj_batch_deinit(&b);
}

/* ---- against PostgreSQL ---- */

static const char *pg_url;
static char schema[64];

static void
setup(void)
{
    rj_core_init();
    rj_log_init("test-query-pg");
    rj_log_set_level(RJ_LOG_WARN);
    pg_url = getenv("RAMJET_TEST_PG_URL");
    snprintf(schema, sizeof schema, "rjpq_%d", (int)getpid());
}

static void
drop_schema(void)
{
    rjt_pg_drop_schema(pg_url, schema);
}

TestSuite(query_pg, .init = setup, .fini = drop_schema, .timeout = 120);

Test(query_pg, pages_through_every_match)
{
    rj_pg_t *pg = rjt_pg_connect_or_skip(pg_url, schema);
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_migrate(pg, &err), RJ_OK, "%s", err.msg); /* creates the schema */
    cr_assert_eq(rj_pg_ensure_read_model_table(pg, "OrderReadModel", &err), RJ_OK, "%s", err.msg);
    char *table = rj_pg_read_model_table(pg, "OrderReadModel");

    /* 1203 orders of a customer whose id would break string-built SQL, 300 of others. */
    static const char customer[] = "c'1\"); --";
    char *ins = rj_xasprintf(
        "INSERT INTO %s (id, seq, version, value, updated_at)"
        " SELECT 'o' || lpad(g::text, 5, '0'), '', 1,"
        " jsonb_build_object('id', 'o' || lpad(g::text, 5, '0'), 'customerId',"
        " CASE WHEN g %% 5 = 0 THEN 'other' ELSE $1 END), now()"
        " FROM generate_series(1, 1503) g",
        table);
    const char *p[] = {customer};
    cr_assert_eq(rj_pg_exec(pg, ins, 1, p, NULL, &err), RJ_OK, "%s", err.msg);
    free(ins);

    json_t *filter = json_pack("{s:{s:s}}", "customerId", "eq", customer);
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    char *after_id = NULL, *after_seq = NULL;
    size_t total = 0, pages = 0;
    char last[16] = "";
    for (;;) {
        cr_assert_eq(proj_query_build(table, filter, after_id, after_seq, &sql, &params, &err),
                     RJ_OK);
        PGresult *res = NULL;
        cr_assert_eq(rj_pg_exec(pg, sql.data, (int)params.n, rj_rs_params_values(&params), &res,
                                &err),
                     RJ_OK, "%s: %s", sql.data, err.msg);
        int n = PQntuples(res);
        for (int t = 0; t < n; t++) {
            cr_expect_gt(strcmp(PQgetvalue(res, t, 0), last), 0, "ascending, no repeats");
            snprintf(last, sizeof last, "%s", PQgetvalue(res, t, 0));
            cr_expect_str_eq(PQgetvalue(res, t, 2), "1");
            json_t *v = json_loads(PQgetvalue(res, t, 3), 0, NULL);
            cr_expect_str_eq(json_string_value(json_object_get(v, "customerId")), customer);
            json_decref(v);
        }
        total += (size_t)n;
        pages++;
        free(after_id);
        free(after_seq);
        after_id = n > 0 ? rj_xstrdup(PQgetvalue(res, n - 1, 0)) : NULL;
        after_seq = n > 0 ? rj_xstrdup(PQgetvalue(res, n - 1, 1)) : NULL;
        PQclear(res);
        if (n < PROJ_QUERY_PAGE)
            break;
    }
    cr_expect_eq(total, 1503 - 300);
    cr_expect_eq(pages, 3);
    free(after_id);
    free(after_seq);
    rj_rs_params_deinit(&params);
    rj_buf_deinit(&sql);
    json_decref(filter);
    free(table);
    rj_pg_free(pg);
}
