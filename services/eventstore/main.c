/*
 * eventstore/main.c - ramjet-eventstore, the event-store writer: consumes
 * `<app>.events` (group <app>.ramjet-eventstore) and appends every event to the PostgreSQL
 * `events` table, exactly once, in batches of one statement and one transaction each.
 *
 * Per batch (docs/architecture.md, "Event-store writer"): decode; malformed messages
 * become dead letters and their offsets still advance; then one transaction holds the
 * bulk INSERT ... ON CONFLICT DO NOTHING and the consumer offsets. The consumer loop
 * (worker_common/worker.c) provides the transaction, the retries and the lifecycle.
 *
 * After an offset gap (the broker dropped events before they were stored) the batch
 * first copies what the command outbox still holds of them (fill_gaps).
 *
 * Deliberately not here: any use of the application's handlers. The writer stores
 * envelopes as they are, so with --app-name it never opens the app library, and
 * without it opens the library only to read the app's name and closes it at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "config/config.h"
#include "core/core.h"
#include "eventstore/store.h"
#include "log/log.h"
#include "proc/proc.h"
#include "worker_common/worker.h"

#define DAEMON "ramjet-eventstore"

typedef struct es_conf {
    rj_common_conf_t common; /* RJ_CONF_COMMON */
    wk_opts_t loop;          /* WK_CONF_ROWS */
} es_conf_t;

static const rj_conf_opt_t es_opts[] = {
    RJ_CONF_COMMON(es_conf_t, common, "9103"),
    WK_CONF_ROWS(es_conf_t, loop, "2000"),
};
#define ES_NOPTS (sizeof es_opts / sizeof es_opts[0])

/* The daemon's state across the loop's callbacks. */
typedef struct es_daemon {
    es_batch_t batch;        /* the batch in hand */
    rj_metric_t *m_events;   /* events handed to PostgreSQL (duplicates included) */
    rj_metric_t *m_inserted; /* rows actually inserted */
} es_daemon_t;

static void
es_prepare(void *opaque, wk_worker_t *w, const wk_batch_t *b)
{
    es_daemon_t *d = opaque;
    for (size_t i = 0; i < b->n; i++) {
        const rd_kafka_message_t *m = b->msgs[i];
        rj_error_t err;
        if (es_batch_add(&d->batch, m->payload, m->len, &err) != RJ_OK)
            wk_deadletter(w, m, "%s", err.msg);
    }
}

/*
 * Every event the command outbox still holds (--outbox-retention-s of the command
 * processor, an hour by default) that the event store lacks, parked entities excepted.
 */
static const char es_fill_sql[] =
    "INSERT INTO events (event_id, entity_type, entity_id, version, type, request_id,"
    " created_at, value, \"current_user\")"
    " SELECT (e->>'eventId')::uuid, e->>'entity', e->>'entityId', (e->>'version')::bigint,"
    " e->>'type', e->>'requestId', (e->>'createdAt')::timestamptz, e->'value',"
    " nullif(e->'currentUser', 'null'::jsonb)"
    " FROM command_outbox o, jsonb_array_elements(o.events) AS e"
    " WHERE NOT EXISTS (SELECT 1 FROM parked_keys k WHERE k.consumer_group = $1"
    " AND k.topic = $2 AND k.key_md5 = md5((e->>'entity') || '/' || (e->>'entityId')))"
    " ON CONFLICT DO NOTHING";

/*
 * Events the broker dropped before we stored them (wk_gap_t) are not lost yet: the
 * command processor commits every event to command_outbox before producing it, so what
 * the outbox still holds is copied from there. Under a savepoint: a row the fill cannot
 * write must not fail the batch (the loop would blame, and dead-letter, the batch's own
 * messages); the gap is then only reported.
 */
static rj_status_t
fill_gaps(wk_worker_t *w, const wk_batch_t *b, rj_error_t *err)
{
    rj_pg_t *pg = wk_worker_pg(w);
    rj_status_t st = rj_pg_exec(pg, "SAVEPOINT es_fill", 0, NULL, NULL, err);
    if (st != RJ_OK)
        return st;
    char *topic = wk_worker_topic(w, "events");
    const char *params[] = {DAEMON, topic};
    PGresult *res = NULL;
    rj_error_t e = {0};
    st = rj_pg_exec_prepared(pg, "es_fill", es_fill_sql, 2, params, &res, &e);
    free(topic);
    if (st == RJ_OK) {
        rj_error("eventstore",
                 "filled offset gap(s) from the command outbox: events inserted=%s gaps=%zu; "
                 "events older than the outbox retention are missing from the event store",
                 PQcmdTuples(res), b->n_gaps);
        PQclear(res);
        return rj_pg_exec(pg, "RELEASE SAVEPOINT es_fill", 0, NULL, NULL, err);
    }
    if (st == RJ_ERETRY)
        return st;
    rj_error("eventstore", "could not fill offset gap(s) from the command outbox: %s gaps=%zu",
             e.msg, b->n_gaps);
    return rj_pg_exec(pg, "ROLLBACK TO SAVEPOINT es_fill", 0, NULL, NULL, err);
}

static rj_status_t
es_write(void *opaque, wk_worker_t *w, const wk_batch_t *b, rj_error_t *err)
{
    es_daemon_t *d = opaque;
    if (b->n_gaps > 0) {
        rj_status_t st = fill_gaps(w, b, err);
        if (st != RJ_OK)
            return st;
    }
    if (d->batch.n == 0)
        return RJ_OK; /* only dead letters: the loop still stores the offsets */
    PGresult *res = NULL;
    rj_status_t st = rj_pg_exec_prepared(wk_worker_pg(w), "es_insert", es_insert_sql, ES_NCOLS,
                                         es_batch_params(&d->batch), &res, err);
    if (st != RJ_OK)
        return st;
    long inserted = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    rj_metric_add(d->m_events, (int64_t)d->batch.n);
    rj_metric_add(d->m_inserted, inserted);
    if ((size_t)inserted < d->batch.n)
        rj_debug("eventstore", "skipped already stored events count=%zu",
                 d->batch.n - (size_t)inserted);
    return RJ_OK;
}

static void
es_release(void *opaque, const wk_batch_t *b)
{
    es_daemon_t *d = opaque;
    es_batch_deinit(&d->batch);
}

int
main(int argc, char **argv)
{
    es_conf_t conf = {0};
    rj_proc_init_daemon(DAEMON, es_opts, ES_NOPTS, &conf, &conf.common, argc, argv,
                        "Appends every event of <app>.events to the PostgreSQL event store.");
    rj_error_t err = {0};

    int rc = 1;
    rj_app_t *app = NULL;
    wk_worker_t *w = NULL;
    es_daemon_t d = {0};
    es_batch_init(&d.batch);

    /* The app name decides the topic and schema; without --app-name we read it from
     * the app library, loaded only for that and released at once. */
    char *app_name = conf.common.app_name != NULL ? rj_xstrdup(conf.common.app_name) : NULL;
    if (app_name == NULL) {
        if (conf.common.app == NULL) {
            rj_fatal("main", "either --app or --app-name is required");
            goto out;
        }
        app = rj_app_load(conf.common.app, &err);
        if (app == NULL) {
            rj_fatal("main", "could not load application: %s path=%s", err.msg, conf.common.app);
            goto out;
        }
        app_name = rj_xstrdup(rj_app_name_get(app));
        rj_app_free(app);
        app = NULL;
    }

    if (rj_health_start(conf.common.health_port, &err) != RJ_OK) {
        rj_fatal("main", "could not start health endpoint: %s", err.msg);
        goto out;
    }
    d.m_events = rj_metric_counter("ramjet_eventstore_events_total",
                                   "events written to the event store, duplicates included");
    d.m_inserted = rj_metric_counter("ramjet_eventstore_inserted_total",
                                     "events inserted (not already stored)");

    const wk_config_t wc = {
        .daemon = DAEMON,
        .group = "ramjet-eventstore",
        .app_name = app_name,
        .topic_suffix = "events",
        .common = &conf.common,
        .opts = conf.loop,
    };
    w = wk_worker_new(&wc, &err);
    if (w == NULL) {
        if (rj_proc_stopping()) {
            rc = 0;
        } else {
            rj_fatal("main", "could not start: %s", err.msg);
        }
        goto out;
    }
    const wk_ops_t ops = {.prepare = es_prepare, .write = es_write, .release = es_release};
    rc = wk_worker_run(w, &ops, &d);

out:
    wk_worker_free(w);
    es_batch_deinit(&d.batch);
    rj_app_free(app);
    free(app_name);
    rj_health_stop();
    rj_proc_set_state(RJ_PROC_STOPPED);
    rj_metrics_free_all();
    rj_config_deinit(es_opts, ES_NOPTS, &conf);
    return rc;
}
