/*
 * consistency.c - requests waiting for their consistency token (see consistency.h).
 *
 * Waiters form one FIFO list. Every waiter gets the same bound, so the list is also in
 * deadline order and the timeout sweep stops at the first waiter still in time (the
 * reasoning of pending.h). At most one check is in flight: it covers the waiters at the
 * head of the list, up to CONS_MAX_KEYS writes, each waiter's writes laid out contiguously
 * from its `pos`, so reading a waiter's answer needs no lookup. Waiters that arrive while a
 * check runs wait for the next one, which then starts at once instead of after the poll
 * interval (`again`).
 *
 * A waiter in the check in flight is not expired before its answer comes back: the answer
 * is at most a statement_timeout away, and keeping it simplifies ownership (the check's
 * callback never meets a freed waiter).
 */
#include "consistency.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "log/log.h"
#include "proc/proc.h"

/* The most writes one check asks about; more waiters wait for the next check. */
#define CONS_MAX_KEYS 4096

/* Per write, in the order of the arrays: [projected version, head version] (0: none). */
static const char cons_check_sql[] =
    "SELECT coalesce(json_agg(json_build_array(coalesce(p.version, 0), coalesce(h.version, 0))"
    " ORDER BY k.n), '[]')::text"
    " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(t, i, n)"
    " LEFT JOIN projected_entities p ON p.entity_type = k.t AND p.entity_id = k.i"
    " LEFT JOIN entity_heads h ON h.entity_type = k.t AND h.entity_id = k.i";

typedef struct cons_waiter {
    struct cons_waiter *prev; /* previous in arrival (= deadline) order */
    struct cons_waiter *next; /* next likewise */
    rj_ryw_t writes;          /* what must be projected */
    int64_t deadline;         /* uv_now() when the wait ends */
    bool in_check;            /* the check in flight covers it */
    size_t pos;               /* then: index of its first write in that check */
    gw_cons_cb cb;            /* called once at the end */
    void *opaque;             /* its argument */
} cons_waiter_t;

struct gw_cons {
    uv_loop_t *loop;       /* the gateway's loop */
    gw_pgpool_t *pg;       /* runs the checks */
    gw_cons_opts_t o;      /* the bounds */
    uv_timer_t timer;      /* the next check or deadline */
    cons_waiter_t *head;   /* oldest waiter */
    cons_waiter_t *tail;   /* newest */
    size_t n;              /* waiters */
    bool checking;         /* a check is in flight */
    bool again;            /* a waiter arrived during it: check again at once */
    bool failing;          /* the last check failed (one warning per outage) */
    rj_metric_t *m_waits;  /* requests that waited */
    rj_metric_t *m_checks; /* checks run */
    rj_metric_t *m_late;   /* waits that ran out */
    rj_metric_t *m_gauge;  /* requests waiting now */
};

static void on_timer(uv_timer_t *t);

gw_cons_t *
gw_cons_new(uv_loop_t *loop, gw_pgpool_t *pg, const gw_cons_opts_t *opts)
{
    RJ_ASSERT(opts->wait_ms > 0 && opts->poll_ms > 0 && opts->max_waiting > 0);
    gw_cons_t *c = rj_xcalloc(1, sizeof *c);
    c->loop = loop;
    c->pg = pg;
    c->o = *opts;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->m_waits = rj_metric_counter("ramjet_gateway_consistency_waits_total",
                                   "requests that waited for their consistency token");
    c->m_checks = rj_metric_counter("ramjet_gateway_consistency_checks_total",
                                    "checks of projected versions run for waiting requests");
    c->m_late = rj_metric_counter("ramjet_gateway_consistency_timeouts_total",
                                  "requests whose consistency wait ran out");
    c->m_gauge = rj_metric_gauge("ramjet_gateway_consistency_waiting",
                                 "requests waiting for their consistency token");
    return c;
}

/* Unlinks @p w, reports @p status to its owner and frees it. */
static void
finish(gw_cons_t *c, cons_waiter_t *w, rj_status_t status, const char *msg, const char *code)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        c->head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        c->tail = w->prev;
    c->n--;
    rj_metric_set(c->m_gauge, (int64_t)c->n);
    gw_cons_cb cb = w->cb;
    void *opaque = w->opaque;
    rj_ryw_deinit(&w->writes);
    free(w);
    cb(opaque, status, msg, code);
}

/* Ends, with a timeout, every wait past its deadline that no check covers. */
static void
expire(gw_cons_t *c)
{
    int64_t now = (int64_t)uv_now(c->loop);
    cons_waiter_t *w = c->head;
    while (w != NULL && w->deadline <= now) {
        cons_waiter_t *next = w->next;
        if (!w->in_check) {
            rj_metric_add(c->m_late, 1);
            char *msg = rj_xasprintf(
                "the read models did not reflect the writes of the consistency token within "
                "%d ms (consistency-wait-ms): the projector lags or is down; retry later",
                c->o.wait_ms);
            finish(c, w, RJ_ETIMEOUT, msg, "ConsistencyTimeoutError");
            free(msg);
        }
        w = next;
    }
}

/* Arms the timer: at once when asked, else at the next poll or the first deadline. */
static void
schedule(gw_cons_t *c, bool now)
{
    if (c->n == 0 || uv_is_closing((uv_handle_t *)&c->timer)) {
        if (!uv_is_closing((uv_handle_t *)&c->timer))
            uv_timer_stop(&c->timer);
        return;
    }
    if (c->checking) {
        /*
         * Until the check returns only the deadlines of the waiters it does not cover
         * matter: check_done decides or expires the others. Never a timer that is due
         * already: libuv runs a timer re-armed with 0 from its own callback again in the
         * same pass, without turning the loop, so the check's answer (the thread pool's
         * completion) could never arrive and the loop would spin forever.
         */
        cons_waiter_t *w = c->head;
        while (w != NULL && w->in_check)
            w = w->next;
        if (w == NULL) {
            uv_timer_stop(&c->timer);
            return;
        }
        int64_t wait = w->deadline - (int64_t)uv_now(c->loop);
        uv_timer_start(&c->timer, on_timer, wait > 1 ? (uint64_t)wait : 1, 0);
        return;
    }
    int64_t wait = now ? 0 : c->o.poll_ms;
    int64_t to_deadline = c->head->deadline - (int64_t)uv_now(c->loop);
    if (to_deadline < wait)
        wait = to_deadline;
    uv_timer_start(&c->timer, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

/* Decides @p w from @p rows (the check's answer): true when it was finished. */
static bool
decide(gw_cons_t *c, cons_waiter_t *w, const json_t *rows)
{
    for (size_t i = 0; i < w->writes.n; i++) {
        const json_t *row = json_array_get(rows, w->pos + i);
        int64_t projected = (int64_t)json_integer_value(json_array_get(row, 0));
        int64_t head = (int64_t)json_integer_value(json_array_get(row, 1));
        const rj_ryw_write_t *wr = &w->writes.w[i];
        if (head < wr->version) {
            char *msg = rj_xasprintf("invalid consistency token: entity %s %s was never written "
                                     "at version %" PRId64,
                                     wr->entity, wr->id, wr->version);
            finish(c, w, RJ_EINVAL, msg, "InvalidConsistencyTokenError");
            free(msg);
            return true;
        }
        if (projected < wr->version)
            return false;
    }
    finish(c, w, RJ_OK, NULL, NULL);
    return true;
}

static void
check_done(void *opaque, rj_status_t status, json_t *rows, size_t bytes, const rj_error_t *err)
{
    gw_cons_t *c = opaque;
    (void)bytes;
    c->checking = false;
    bool ok = status == RJ_OK && json_is_array(rows);
    if (!ok && !c->failing)
        rj_warn("consistency", "could not check projected versions: %s",
                status != RJ_OK ? err->msg : "not a JSON array");
    else if (ok && c->failing)
        rj_info("consistency", "projected versions can be checked again");
    c->failing = !ok;

    cons_waiter_t *w = c->head;
    while (w != NULL && w->in_check) {
        cons_waiter_t *next = w->next;
        w->in_check = false;
        if (ok)
            decide(c, w, rows);
        w = next;
    }
    json_decref(rows);
    expire(c);
    bool again = c->again;
    c->again = false;
    schedule(c, again);
}

/* Asks about the writes of the waiters at the head of the list. */
static void
check_start(gw_cons_t *c)
{
    size_t nkeys = 0;
    cons_waiter_t *last = c->head;
    for (cons_waiter_t *w = c->head; w != NULL; w = w->next) {
        if (nkeys > 0 && nkeys + w->writes.n > CONS_MAX_KEYS)
            break;
        w->in_check = true;
        w->pos = nkeys;
        nkeys += w->writes.n;
        last = w;
    }
    const char **types = rj_xmalloc((nkeys + 1) * sizeof *types);
    const char **ids = rj_xmalloc((nkeys + 1) * sizeof *ids);
    for (cons_waiter_t *w = c->head; w != last->next; w = w->next) {
        for (size_t i = 0; i < w->writes.n; i++) {
            types[w->pos + i] = w->writes.w[i].entity;
            ids[w->pos + i] = w->writes.w[i].id;
        }
    }
    char *params[2] = {rj_pg_array_literal(types, nkeys), rj_pg_array_literal(ids, nkeys)};
    free(types);
    free(ids);
    c->checking = true;
    rj_metric_add(c->m_checks, 1);
    gw_pgpool_query_json(c->pg, "gw_cons_check", cons_check_sql, 2, (const char *const *)params, 0,
                         check_done, c);
    free(params[0]);
    free(params[1]);
}

static void
on_timer(uv_timer_t *t)
{
    gw_cons_t *c = t->data;
    expire(c);
    if (c->n > 0 && !c->checking)
        check_start(c);
    schedule(c, false);
}

rj_status_t
gw_cons_wait(gw_cons_t *c, rj_ryw_t *writes, gw_cons_cb cb, void *opaque, rj_error_t *err)
{
    if (c->n >= (size_t)c->o.max_waiting)
        return rj_error_set(err, RJ_ERETRY,
                            "too many requests are waiting for their consistency token "
                            "(consistency-max-waiting is %d): retry later",
                            c->o.max_waiting);
    cons_waiter_t *w = rj_xcalloc(1, sizeof *w);
    w->writes = *writes;
    writes->n = 0;
    w->deadline = (int64_t)uv_now(c->loop) + c->o.wait_ms;
    w->cb = cb;
    w->opaque = opaque;
    w->prev = c->tail;
    if (c->tail != NULL)
        c->tail->next = w;
    else
        c->head = w;
    c->tail = w;
    c->n++;
    rj_metric_add(c->m_waits, 1);
    rj_metric_set(c->m_gauge, (int64_t)c->n);
    if (c->checking)
        c->again = true;
    else
        schedule(c, true); /* on the next turn: waiters of this turn share the check */
    return RJ_OK;
}

void
gw_cons_abort(gw_cons_t *c)
{
    cons_waiter_t *w = c->head;
    while (w != NULL) {
        cons_waiter_t *next = w->next;
        if (!w->in_check)
            finish(c, w, RJ_ETIMEOUT, "the gateway is shutting down", "ConsistencyTimeoutError");
        w = next;
    }
}

size_t
gw_cons_busy(const gw_cons_t *c)
{
    return c->n + (c->checking ? 1 : 0);
}

void
gw_cons_stop(gw_cons_t *c)
{
    uv_close((uv_handle_t *)&c->timer, NULL);
}

void
gw_cons_free(gw_cons_t *c)
{
    if (c == NULL)
        return;
    RJ_ASSERT(gw_cons_busy(c) == 0);
    free(c);
}
