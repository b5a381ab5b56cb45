/*
 * fedpoll.c - the executor in service and its replacement (fedpoll.h).
 *
 * Executors move through three lists: current (one), retired (replaced, still finishing
 * operations) and stopped (handles closing; freed at the next reap, after the loop has
 * turned). A poll that fails - a service down, a composition error - keeps the current
 * composition: a gateway that served yesterday's schema is better than none.
 */
#include "fedpoll.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "log/log.h"

#define GW_FEDPOLL_MAX_OLD 16 /* executors replaced and not yet freed */

struct gw_fedpoll {
    gw_fed_opts_t opts;                    /* how to build executors */
    gw_fed_t *current;                     /* takes new requests */
    gw_fed_t *retired[GW_FEDPOLL_MAX_OLD]; /* replaced, finishing their operations */
    size_t nretired;                       /* count */
    gw_fed_t *stopped[GW_FEDPOLL_MAX_OLD]; /* handles closing; freed at the next reap */
    size_t nstopped;                       /* count */
    uv_timer_t timer;                      /* the polling period */
    bool timer_open;                       /* timer was initialised */
    uv_work_t work;                        /* a poll off the loop */
    bool polling;                          /* work is queued or running */
    bool stopping;                         /* gw_fedpoll_stop() was called */
    rj_fed_conf_t conf;                    /* the configuration, without start-up retries */
    rj_fed_graph_t *graph;                 /* work's result, or NULL */
    bool *present;                         /* with graph: the services it holds */
    rj_error_t err;                        /* work's failure */
};

/* Frees the stopped executors, stops the retired ones that are done. */
static void
reap(gw_fedpoll_t *p)
{
    for (size_t i = 0; i < p->nstopped; i++)
        gw_fed_free(p->stopped[i]);
    p->nstopped = 0;
    size_t kept = 0;
    for (size_t i = 0; i < p->nretired; i++) {
        if (gw_fed_busy(p->retired[i]) == 0) {
            gw_fed_stop(p->retired[i]);
            p->stopped[p->nstopped++] = p->retired[i];
        } else {
            p->retired[kept++] = p->retired[i];
        }
    }
    p->nretired = kept;
}

/* Pool thread: the services' SDL, composed. */
static void
poll_work(uv_work_t *w)
{
    gw_fedpoll_t *p = w->data;
    rj_error_clear(&p->err);
    const rj_fed_sdl_t local = {
        .name = p->opts.local_name,
        .sdl = p->opts.local_sdl,
        .len = p->opts.local_sdl != NULL ? strlen(p->opts.local_sdl) : 0,
    };
    p->graph = rj_fed_load(&p->conf, p->opts.local != NULL ? &local : NULL, p->opts.timeout_ms,
                           &p->present, &p->err);
}

/* Loop thread: a different composition replaces the current one. */
static void
poll_done(uv_work_t *w, int status)
{
    gw_fedpoll_t *p = w->data;
    p->polling = false;
    rj_fed_graph_t *g = p->graph;
    p->graph = NULL;
    reap(p);
    if (status != 0 || g == NULL) {
        if (status == 0)
            rj_warn("federation", "polling: %s; keeping the current composition", p->err.msg);
        rj_fed_graph_free(g);
    } else if (p->stopping || p->nretired == GW_FEDPOLL_MAX_OLD ||
               strcmp(rj_fed_graph_sdl(g), rj_fed_graph_sdl(gw_fed_graph(p->current))) == 0) {
        rj_fed_graph_free(g);
    } else {
        gw_fed_opts_t o = p->opts;
        o.graph = g;
        o.present = p->present;
        rj_info("federation", "the services' schemas changed: composition replaced services=%zu",
                rj_fed_graph_nservices(g));
        p->retired[p->nretired++] = p->current;
        p->current = gw_fed_new(&o);
    }
    free(p->present);
    p->present = NULL;
}

static void
on_poll(uv_timer_t *t)
{
    gw_fedpoll_t *p = t->data;
    reap(p);
    if (p->polling || p->stopping)
        return;
    p->polling = true;
    p->work.data = p;
    uv_queue_work(p->opts.loop, &p->work, poll_work, poll_done);
}

gw_fedpoll_t *
gw_fedpoll_new(const gw_fed_opts_t *opts, gw_fed_t *first, int interval_ms)
{
    gw_fedpoll_t *p = rj_xcalloc(1, sizeof(*p));
    p->opts = *opts;
    p->current = first;
    /* A poll reads each service once: a failure waits for the next period, not retries. */
    p->conf = *opts->conf;
    p->conf.retry_services_count = 0;
    if (interval_ms > 0) {
        uv_timer_init(opts->loop, &p->timer);
        p->timer.data = p;
        p->timer_open = true;
        uv_timer_start(&p->timer, on_poll, (uint64_t)interval_ms, (uint64_t)interval_ms);
    }
    return p;
}

void
gw_fedpoll_handle(void *opaque, gw_responder_t *r, const gw_http_request_t *req)
{
    gw_fedpoll_t *p = opaque;
    gw_fed_handle(p->current, r, req);
}

size_t
gw_fedpoll_busy(const gw_fedpoll_t *p)
{
    if (p == NULL)
        return 0;
    size_t n = gw_fed_busy(p->current);
    for (size_t i = 0; i < p->nretired; i++)
        n += gw_fed_busy(p->retired[i]);
    return n;
}

void
gw_fedpoll_stop(gw_fedpoll_t *p)
{
    if (p == NULL)
        return;
    p->stopping = true;
    if (p->timer_open) {
        uv_close((uv_handle_t *)&p->timer, NULL);
        p->timer_open = false;
    }
    gw_fed_stop(p->current);
    for (size_t i = 0; i < p->nretired; i++)
        gw_fed_stop(p->retired[i]);
}

void
gw_fedpoll_free(gw_fedpoll_t *p)
{
    if (p == NULL)
        return;
    gw_fed_free(p->current);
    for (size_t i = 0; i < p->nretired; i++)
        gw_fed_free(p->retired[i]);
    for (size_t i = 0; i < p->nstopped; i++)
        gw_fed_free(p->stopped[i]);
    rj_fed_graph_free(p->graph);
    free(p->present);
    free(p);
}
