/*
 * pg_test.h - what every PostgreSQL-backed unit test does around its private schema:
 * connect to it or skip (the tests run against RAMJET_TEST_PG_URL, which scripts/test
 * sets from a cluster of its own; unset, they skip), and drop it when the suite ends.
 * Each suite names its schema after its pid, so suites running at once never share one.
 */
#ifndef RJ_PG_TEST_H
#define RJ_PG_TEST_H

#include <criterion/criterion.h>
#include <stdlib.h>

#include "core/core.h"
#include "pg/pg.h"

/* A connection bound to @p schema, or the test is skipped when @p url is unset. */
static inline rj_pg_t *
rjt_pg_connect_or_skip(const char *url, const char *schema)
{
    if (url == NULL || *url == '\0')
        cr_skip_test("RAMJET_TEST_PG_URL is not set");
    rj_error_t err = {0};
    rj_pg_t *pg = rj_pg_connect(url, schema, &err);
    cr_assert_not_null(pg, "%s", err.msg);
    return pg;
}

/* Drops @p schema and everything in it; quiet when there is no database to drop it from. */
static inline void
rjt_pg_drop_schema(const char *url, const char *schema)
{
    if (url == NULL || *url == '\0')
        return;
    rj_pg_t *pg = rj_pg_connect(url, "public", NULL);
    if (pg == NULL)
        return;
    char *q = rj_pg_quote_ident(pg, schema);
    char *sql = rj_xasprintf("DROP SCHEMA IF EXISTS %s CASCADE", q);
    rj_pg_exec(pg, sql, 0, NULL, NULL, NULL);
    free(sql);
    free(q);
    rj_pg_free(pg);
}

#endif
