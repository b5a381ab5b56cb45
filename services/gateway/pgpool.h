/*
 * pgpool.h - a small pool of synchronous PostgreSQL connections used from the gateway's
 * libuv loop.
 *
 * libpq's blocking API is simple and correct; the loop must not block, so each query runs
 * on libuv's thread pool (uv_queue_work) with a connection taken from this pool, and its
 * result comes back to the loop thread through the callback. The pool has as many
 * connections as libuv has worker threads for it (main sets UV_THREADPOOL_SIZE), so a
 * worker waits for a connection only when another user of the thread pool competes.
 *
 * Two kinds of statement run here: the fixed by-id reads, prepared once per connection
 * under a name, and the statements the read side builds per request (List queries,
 * the events API), which differ with every filter and so run unnamed, with their text
 * and however many parameters the filter produced copied into the job. A third kind of
 * job runs a function with the connection (gw_pgpool_call): query handlers, whose
 * entity reads are statements of their own choosing.
 *
 * What this file deliberately does not do: asynchronous libpq (a second event source on
 * the loop for a handful of primary-key reads buys nothing measurable), transactions across
 * queries, and SQL building (exec.c and readside/ know the tables).
 */
#ifndef GW_PGPOOL_H
#define GW_PGPOOL_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#include "pg/pg.h"
#include "rj/status.h"

typedef struct gw_pgpool gw_pgpool_t;

/**
 * Receives the outcome of one gw_pgpool_query().
 *
 * @param opaque  the pointer given to gw_pgpool_query
 * @param status  RJ_OK, or the error of the statement (see rj_pg_exec)
 * @param text    on RJ_OK: the first column of the first row as text (a new string the
 *                callee owns and free()s), or NULL when there was no row or it was SQL NULL
 * @param err     on failure the message; borrowed for the call
 *
 * Runs on the loop thread.
 */
typedef void (*gw_pgpool_result_cb)(void *opaque, rj_status_t status, char *text,
                                    const rj_error_t *err);

/**
 * Receives the outcome of one gw_pgpool_query_json().
 *
 * @param status  RJ_OK; RJ_ETOOBIG when the value was longer than max_bytes (then
 *                @p bytes is its length) or the statement had too many parameters (then
 *                @p bytes is 0); RJ_EINTERNAL when it was not JSON; or the statement's error
 * @param value   on RJ_OK the first column of the first row parsed as JSON, a new
 *                reference the callee owns; NULL when there was no row or it was SQL NULL
 * @param bytes   the value's length as text, parsed or not
 *
 * Runs on the loop thread.
 */
typedef void (*gw_pgpool_json_cb)(void *opaque, rj_status_t status, json_t *value, size_t bytes,
                                  const rj_error_t *err);

/**
 * Runs with a pooled connection: synchronously at start-up (gw_pgpool_run_sync:
 * migrations, quoting), or on a worker thread (gw_pgpool_call).
 *
 * @return RJ_OK or an error with @p err set; RJ_ERETRY from a gw_pgpool_call job means
 *         "the connection was reset under me, run me again"
 */
typedef rj_status_t (*gw_pgpool_fn)(void *opaque, rj_pg_t *pg, rj_error_t *err);

/**
 * Receives the outcome of one gw_pgpool_call().
 *
 * @param opaque  the pointer given to gw_pgpool_call
 * @param status  what the function returned (its last attempt's)
 * @param err     its message when @p status is not RJ_OK; borrowed for the call
 *
 * Runs on the loop thread.
 */
typedef void (*gw_pgpool_done_cb)(void *opaque, rj_status_t status, const rj_error_t *err);

/**
 * Connects @p size connections bound to @p schema, retrying while PostgreSQL is starting
 * (up to @p connect_timeout_ms), and sets statement_timeout to @p statement_timeout_ms on
 * each, so no query can hold a connection longer than a request may wait.
 *
 * @return the pool, or NULL with @p err set
 *
 * Ownership: the caller frees it with gw_pgpool_free(). Loop thread only.
 */
gw_pgpool_t *gw_pgpool_new(uv_loop_t *loop, const char *url, const char *schema, int size,
                           int connect_timeout_ms, int statement_timeout_ms, rj_error_t *err);

/**
 * Runs @p fn with one of the pool's connections, blocking the caller. For start-up only,
 * before queries are queued.
 */
rj_status_t gw_pgpool_run_sync(gw_pgpool_t *p, gw_pgpool_fn fn, void *opaque, rj_error_t *err);

/**
 * Runs one statement on the thread pool and reports its first value to @p cb. A statement
 * that fails because the connection broke is retried on the reopened connection, up to
 * three attempts in all (the gateway only reads, so a retry is always safe).
 *
 * @param name     prepared statement name, borrowed and outliving the query; or NULL for
 *                 a one-off unnamed statement (then @p sql is copied)
 * @param sql      its SQL (always the same for the same name); borrowed likewise when
 *                 @p name is set
 * @param nparams  number of parameters, >= 0; above the 65,535 PostgreSQL accepts the
 *                 statement is not run and @p cb gets RJ_ETOOBIG at once, before this
 *                 function returns
 * @param params   text parameters, NULL for SQL NULL; copied (the array may be NULL when
 *                 @p nparams is 0)
 * @param cb       result callback, called exactly once on the loop thread
 *
 * Loop thread only.
 */
void gw_pgpool_query(gw_pgpool_t *p, const char *name, const char *sql, int nparams,
                     const char *const *params, gw_pgpool_result_cb cb, void *opaque);

/**
 * Like gw_pgpool_query, with the value parsed as JSON on the worker thread, so the loop
 * never parses a large value; one longer than @p max_bytes (0: no limit) is refused
 * unparsed with RJ_ETOOBIG. Loop thread only.
 */
void gw_pgpool_query_json(gw_pgpool_t *p, const char *name, const char *sql, int nparams,
                          const char *const *params, size_t max_bytes, gw_pgpool_json_cb cb,
                          void *opaque);

/**
 * Runs @p fn with one of the pool's connections on the thread pool, then reports to
 * @p done on the loop thread. When @p fn returns RJ_ERETRY (a statement found the
 * connection broken; the layer reopened it), the session settings are restored and @p fn
 * runs again, up to three attempts in all, so it must be safe to repeat (reads are).
 *
 * @param fn      runs on a worker thread; @p opaque is its only link to the caller, which
 *                must not touch what fn writes until @p done runs
 * @param done    called exactly once on the loop thread
 *
 * Loop thread only.
 */
void gw_pgpool_call(gw_pgpool_t *p, gw_pgpool_fn fn, gw_pgpool_done_cb done, void *opaque);

/** Jobs (queries and calls) queued or running. Loop thread. */
size_t gw_pgpool_busy(const gw_pgpool_t *p);

/** Closes every connection. No query may be in flight. NULL is a no-op. Consumes @p p. */
void gw_pgpool_free(gw_pgpool_t *p);

#endif
