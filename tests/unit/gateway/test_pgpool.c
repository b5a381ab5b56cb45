/*
 * test_pgpool.c - the gateway pool's function jobs (gw_pgpool_call, services/gateway/
 * pgpool.c): the function runs on a worker with a connection, its outcome reaches the
 * loop, RJ_ERETRY runs it again (at most three times), and a transaction it leaves open
 * is rolled back before the connection serves anyone else.
 *
 * Skipped unless RAMJET_TEST_PG_URL names a server.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "gateway/pgpool.h"

typedef struct call {
    int runs;            /* times the function ran (worker) */
    int retry_first;     /* return RJ_ERETRY from this many runs first */
    bool open_tx;        /* leave a transaction open */
    char *value;         /* what the statement read (worker) */
    int done;            /* completions (loop) */
    rj_status_t status;  /* the reported status */
    char msg[RJ_ERROR_MSG_MAX]; /* the reported message */
} call_t;

static rj_status_t
call_fn(void *opaque, rj_pg_t *pg, rj_error_t *err)
{
    call_t *c = opaque;
    c->runs++;
    if (c->runs <= c->retry_first)
        return rj_error_set(err, RJ_ERETRY, "connection lost, run %d", c->runs);
    if (c->open_tx && rj_pg_begin(pg, err) != RJ_OK)
        return err->status;
    PGresult *res = NULL;
    rj_status_t st = rj_pg_exec(pg, "SELECT 'in tx: ' || (now() = statement_timestamp())::text",
                                0, NULL, &res, err);
    if (st != RJ_OK)
        return st;
    free(c->value);
    c->value = rj_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return RJ_OK;
}

static void
call_done(void *opaque, rj_status_t status, const rj_error_t *err)
{
    call_t *c = opaque;
    c->done++;
    c->status = status;
    snprintf(c->msg, sizeof c->msg, "%s", status != RJ_OK ? err->msg : "");
}

Test(gw_pgpool_call, runs_retries_and_cleans_up_after_the_function)
{
    const char *url = getenv("RAMJET_TEST_PG_URL");
    if (url == NULL || *url == '\0')
        cr_skip_test("RAMJET_TEST_PG_URL is not set");
    uv_loop_t loop;
    uv_loop_init(&loop);
    rj_error_t err = {0};
    /* One connection: every job below gets the same one, in turn. */
    gw_pgpool_t *pool = gw_pgpool_new(&loop, url, "public", 1, 5000, 5000, &err);
    cr_assert_not_null(pool, "%s", err.msg);

    call_t plain = {0}, twice = {.retry_first = 1}, gives_up = {.retry_first = 5},
           tx = {.open_tx = true}, after_tx = {0};
    gw_pgpool_call(pool, call_fn, call_done, &plain);
    gw_pgpool_call(pool, call_fn, call_done, &twice);
    gw_pgpool_call(pool, call_fn, call_done, &gives_up);
    cr_expect_eq(gw_pgpool_busy(pool), 3);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(gw_pgpool_busy(pool), 0);

    cr_expect_eq(plain.runs, 1);
    cr_expect_eq(plain.done, 1);
    cr_expect_eq(plain.status, RJ_OK);
    cr_expect_str_eq(plain.value, "in tx: true"); /* autocommit: each statement its own */
    cr_expect_eq(twice.runs, 2);
    cr_expect_eq(twice.status, RJ_OK);
    cr_expect_eq(gives_up.runs, 3, "three attempts in all");
    cr_expect_eq(gives_up.done, 1);
    cr_expect_eq(gives_up.status, RJ_ERETRY);
    cr_expect_str_eq(gives_up.msg, "connection lost, run 3");

    /* A transaction left open is rolled back: the next job's statement is not in it. */
    gw_pgpool_call(pool, call_fn, call_done, &tx);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(tx.status, RJ_OK);
    cr_expect_str_eq(tx.value, "in tx: false"); /* now() is the transaction's start */
    gw_pgpool_call(pool, call_fn, call_done, &after_tx);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(after_tx.status, RJ_OK);
    cr_expect_str_eq(after_tx.value, "in tx: true");

    free(plain.value);
    free(twice.value);
    free(tx.value);
    free(after_tx.value);
    gw_pgpool_free(pool);
    cr_expect_eq(uv_loop_close(&loop), 0);
}
