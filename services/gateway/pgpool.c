/*
 * pgpool.c - synchronous PostgreSQL connections driven from the libuv thread pool
 * (see pgpool.h).
 *
 * Connections sit on a free list guarded by a mutex; a worker takes one, runs its
 * statement, and puts it back. The loop thread only queues jobs and receives their
 * results in uv's after-work callback, so the job object is touched by one thread at a
 * time: the worker between work_cb's start and end, the loop thread otherwise.
 */
#include "pgpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "json/envelope.h"
#include "log/log.h"

/* The protocol's limit: Bind carries the parameter count as a 16-bit integer. */
#define GW_PG_MAX_PARAMS 65535

/* One pooled connection. */
typedef struct gw_pgconn {
    rj_pg_t *pg;            /* the connection */
    struct gw_pgconn *next; /* next free connection, while on the free list */
} gw_pgconn_t;

struct gw_pgpool {
    uv_loop_t *loop;       /* the loop results are delivered on */
    pthread_mutex_t lock;  /* guards `free` */
    pthread_cond_t cond;   /* signalled when a connection is put back */
    gw_pgconn_t *conns;    /* all connections */
    int nconns;            /* their number */
    gw_pgconn_t *free;     /* connections not in use */
    size_t busy;           /* jobs queued or running (loop thread only) */
    char set_timeout[64];  /* the SET statement_timeout every connection runs */
    char *url;             /* where connections go; for replacing one */
    char *schema;          /* their schema */
};

/*
 * A connection that received a result this large is replaced by a fresh one: libpq grows a
 * connection's input buffer to its largest result and never shrinks it, so each pooled
 * connection would keep the largest answer it ever carried (tens of megabytes each).
 */
#define GW_PG_FRESH_BYTES (4u * 1024 * 1024)

/* One query or call in flight. */
typedef struct gw_pgjob {
    uv_work_t work;                        /* libuv's request; work.data is unused */
    gw_pgpool_t *pool;                     /* the pool */
    gw_pgpool_fn fn;                       /* a call: the function to run, else NULL */
    gw_pgpool_done_cb done;                /* a call: its completion callback */
    const char *name;                      /* prepared statement name (borrowed), or NULL:
                                              run sql unnamed */
    const char *sql;                       /* its SQL; borrowed, or owned_sql */
    char *owned_sql;                       /* the copy of an unnamed statement's SQL */
    int nparams;                           /* number of parameters */
    char **params;                         /* copies of the parameters, NULL = SQL NULL */
    gw_pgpool_result_cb cb;                /* result callback, or NULL for json_cb */
    gw_pgpool_json_cb json_cb;             /* JSON result callback, or NULL for cb */
    size_t max_bytes;                      /* json_cb: longest value parsed; 0: any */
    void *opaque;                          /* its argument */
    rj_status_t status;                    /* outcome, set by the worker */
    char *text;                            /* first value, set by the worker */
    json_t *value;                         /* json_cb: the value parsed, set by the worker */
    size_t bytes;                          /* json_cb: the value's length as text */
    rj_error_t err;                        /* message, set by the worker */
} gw_pgjob_t;

static gw_pgconn_t *
conn_take(gw_pgpool_t *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->free == NULL)
        pthread_cond_wait(&p->cond, &p->lock);
    gw_pgconn_t *c = p->free;
    p->free = c->next;
    pthread_mutex_unlock(&p->lock);
    return c;
}

static void
conn_put(gw_pgpool_t *p, gw_pgconn_t *c)
{
    pthread_mutex_lock(&p->lock);
    c->next = p->free;
    p->free = c;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

gw_pgpool_t *
gw_pgpool_new(uv_loop_t *loop, const char *url, const char *schema, int size,
              int connect_timeout_ms, int statement_timeout_ms, rj_error_t *err)
{
    RJ_ASSERT(size > 0);

    gw_pgpool_t *p = rj_xcalloc(1, sizeof *p);
    p->loop = loop;
    p->url = rj_xstrdup(url);
    p->schema = rj_xstrdup(schema);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->conns = rj_xcalloc((size_t)size, sizeof *p->conns);

    snprintf(p->set_timeout, sizeof p->set_timeout, "SET statement_timeout = %d",
             statement_timeout_ms);

    for (int i = 0; i < size; i++) {
        rj_pg_t *pg = rj_pg_connect_retry(url, schema, connect_timeout_ms, err);
        if (pg == NULL || rj_pg_exec(pg, p->set_timeout, 0, NULL, NULL, err) != RJ_OK) {
            rj_pg_free(pg);
            gw_pgpool_free(p);
            return NULL;
        }
        p->conns[i].pg = pg;
        p->conns[i].next = p->free;
        p->free = &p->conns[i];
        p->nconns++;
    }
    return p;
}

rj_status_t
gw_pgpool_run_sync(gw_pgpool_t *p, gw_pgpool_fn fn, void *opaque, rj_error_t *err)
{
    gw_pgconn_t *c = conn_take(p);
    rj_status_t st = fn(opaque, c->pg, err);
    conn_put(p, c);
    return st;
}

/*
 * Restores the session settings after the layer reopened a broken connection. The first
 * statement on a connection found broken only reopens it (and reports RJ_ERETRY), so the
 * SET may need a second try.
 */
static rj_status_t
restore_session(gw_pgpool_t *p, rj_pg_t *pg, rj_error_t *err)
{
    rj_status_t st = rj_pg_exec(pg, p->set_timeout, 0, NULL, NULL, err);
    if (st == RJ_ERETRY)
        st = rj_pg_exec(pg, p->set_timeout, 0, NULL, NULL, err);
    return st;
}

/* Worker thread, for a call: run the function, again after a reset connection. */
static void
call_work_cb(uv_work_t *w)
{
    gw_pgjob_t *job = (gw_pgjob_t *)(void *)w;
    gw_pgconn_t *c = conn_take(job->pool);
    for (int attempt = 0; attempt < 3; attempt++) {
        rj_error_clear(&job->err);
        job->status = job->fn(job->opaque, c->pg, &job->err);
        if (job->status != RJ_ERETRY)
            break;
        rj_error_t e;
        rj_error_clear(&e);
        rj_status_t st = restore_session(job->pool, c->pg, &e);
        if (st != RJ_OK && st != RJ_ERETRY)
            break; /* report the function's own RJ_ERETRY, with its message */
    }
    /* A function that failed mid-transaction must not hand the next job an aborted one. */
    if (rj_pg_in_transaction(c->pg))
        rj_pg_rollback(c->pg);
    conn_put(job->pool, c);
}

/* Loop thread, for a call: report and free the job. */
static void
call_after_work_cb(uv_work_t *w, int status)
{
    gw_pgjob_t *job = (gw_pgjob_t *)(void *)w;

    RJ_ASSERT(status == 0); /* jobs are never cancelled */
    job->pool->busy--;
    job->done(job->opaque, job->status, &job->err);
    free(job);
}

void
gw_pgpool_call(gw_pgpool_t *p, gw_pgpool_fn fn, gw_pgpool_done_cb done, void *opaque)
{
    gw_pgjob_t *job = rj_xcalloc(1, sizeof *job);
    job->pool = p;
    job->fn = fn;
    job->done = done;
    job->opaque = opaque;
    job->status = RJ_OK;

    p->busy++;
    int rc = uv_queue_work(p->loop, &job->work, call_work_cb, call_after_work_cb);
    RJ_ASSERT(rc == 0); /* fails only for a NULL work_cb */
}

/*
 * Worker thread: the value as JSON, parsed here rather than on the loop, where parsing
 * megabytes would hold every other request up; one longer than the caller can still
 * take is refused unparsed.
 */
static void
parse_value(gw_pgjob_t *job)
{
    job->bytes = strlen(job->text);
    if (job->max_bytes > 0 && job->bytes > job->max_bytes) {
        job->status = rj_error_set(&job->err, RJ_ETOOBIG, "the value has %zu bytes, more than %zu",
                                   job->bytes, job->max_bytes);
    } else {
        json_error_t jerr;
        job->value = rj_json_loads(job->text, JSON_DECODE_ANY, &jerr);
        if (job->value == NULL)
            job->status =
                rj_error_set(&job->err, RJ_EINTERNAL, "could not parse the value: %s", jerr.text);
    }
    free(job->text);
    job->text = NULL;
}

/* Worker thread, holding @p c: replace its connection by a fresh one, if one can be had. */
static void
conn_renew(gw_pgpool_t *p, gw_pgconn_t *c)
{
    rj_error_t err;
    rj_error_clear(&err);
    rj_pg_t *fresh = rj_pg_connect(p->url, p->schema, &err);
    if (fresh == NULL || restore_session(p, fresh, &err) != RJ_OK) {
        /* keeping the old connection costs memory, not correctness */
        rj_warn("pgpool", "could not renew a connection after a large result: %s", err.msg);
        rj_pg_free(fresh);
        return;
    }
    rj_pg_free(c->pg);
    c->pg = fresh;
}

/* Worker thread: run the statement, keep the first value. */
static void
work_cb(uv_work_t *w)
{
    gw_pgjob_t *job = (gw_pgjob_t *)(void *)w;
    gw_pgconn_t *c = conn_take(job->pool);
    PGresult *res = NULL;

    /* A read is safe to run again after the connection was reset: try up to three times. */
    for (int attempt = 0; attempt < 3; attempt++) {
        rj_error_clear(&job->err);
        const char *const *params = (const char *const *)job->params;
        job->status = job->name != NULL
                          ? rj_pg_exec_prepared(c->pg, job->name, job->sql, job->nparams, params,
                                                &res, &job->err)
                          : rj_pg_exec(c->pg, job->sql, job->nparams, params, &res, &job->err);
        if (job->status != RJ_ERETRY)
            break;
        rj_status_t st = restore_session(job->pool, c->pg, &job->err);
        if (st != RJ_OK && st != RJ_ERETRY) {
            job->status = st;
            break;
        }
    }
    if (job->status == RJ_OK) {
        if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
            job->text = rj_xstrndup(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
        PQclear(res);
        if (job->text != NULL && strlen(job->text) >= GW_PG_FRESH_BYTES)
            conn_renew(job->pool, c);
    }
    conn_put(job->pool, c);
    if (job->status == RJ_OK && job->json_cb != NULL && job->text != NULL)
        parse_value(job);
}

/* Loop thread: hand the result over and free the job. */
static void
after_work_cb(uv_work_t *w, int status)
{
    gw_pgjob_t *job = (gw_pgjob_t *)(void *)w;

    /* Jobs are never cancelled, so libuv always ran work_cb. */
    RJ_ASSERT(status == 0);
    job->pool->busy--;
    if (job->json_cb != NULL)
        job->json_cb(job->opaque, job->status, job->value, job->bytes, &job->err);
    else
        job->cb(job->opaque, job->status, job->text, &job->err);
    for (int i = 0; i < job->nparams; i++)
        free(job->params[i]);
    free(job->params);
    free(job->owned_sql);
    free(job);
}

/* Queues @p job (its result fields set by the caller) with copies of the statement. */
static void
submit(gw_pgpool_t *p, gw_pgjob_t *job, const char *name, const char *sql, int nparams,
       const char *const *params)
{
    RJ_ASSERT(nparams >= 0);
    if (nparams > GW_PG_MAX_PARAMS) {
        /* The count comes from the client's input (a long `in` list): an error for this
         * statement, never an assertion that takes every other request down with it. */
        rj_error_set(&job->err, RJ_ETOOBIG,
                     "the statement needs %d parameters, more than the %d PostgreSQL accepts",
                     nparams, GW_PG_MAX_PARAMS);
        if (job->json_cb != NULL)
            job->json_cb(job->opaque, job->err.status, NULL, 0, &job->err);
        else
            job->cb(job->opaque, job->err.status, NULL, &job->err);
        free(job);
        return;
    }

    job->pool = p;
    job->name = name;
    if (name != NULL) {
        job->sql = sql;
    } else {
        /* Built for this request only: nothing else keeps the text alive. */
        job->owned_sql = rj_xstrdup(sql);
        job->sql = job->owned_sql;
    }
    job->nparams = nparams;
    job->params = rj_xcalloc(nparams > 0 ? (size_t)nparams : 1, sizeof *job->params);
    for (int i = 0; i < nparams; i++)
        job->params[i] = params[i] != NULL ? rj_xstrdup(params[i]) : NULL;
    job->status = RJ_OK;

    p->busy++;
    int rc = uv_queue_work(p->loop, &job->work, work_cb, after_work_cb);
    RJ_ASSERT(rc == 0); /* fails only for a NULL work_cb */
}

void
gw_pgpool_query(gw_pgpool_t *p, const char *name, const char *sql, int nparams,
                const char *const *params, gw_pgpool_result_cb cb, void *opaque)
{
    gw_pgjob_t *job = rj_xcalloc(1, sizeof *job);
    job->cb = cb;
    job->opaque = opaque;
    submit(p, job, name, sql, nparams, params);
}

void
gw_pgpool_query_json(gw_pgpool_t *p, const char *name, const char *sql, int nparams,
                     const char *const *params, size_t max_bytes, gw_pgpool_json_cb cb,
                     void *opaque)
{
    gw_pgjob_t *job = rj_xcalloc(1, sizeof *job);
    job->json_cb = cb;
    job->max_bytes = max_bytes;
    job->opaque = opaque;
    submit(p, job, name, sql, nparams, params);
}

size_t
gw_pgpool_busy(const gw_pgpool_t *p)
{
    return p->busy;
}

void
gw_pgpool_free(gw_pgpool_t *p)
{
    if (p == NULL)
        return;
    RJ_ASSERT(p->busy == 0);
    for (int i = 0; i < p->nconns; i++)
        rj_pg_free(p->conns[i].pg);
    free(p->conns);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->url);
    free(p->schema);
    free(p);
}
