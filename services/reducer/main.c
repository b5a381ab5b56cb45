/*
 * reducer/main.c - ramjet-reducer: consumes `<app>.events` (group <app>.ramjet-reducer),
 * folds each entity's events into its snapshot with the application's reducers,
 * produces the new snapshots to `<app>.snapshots` and keeps the latest one per
 * entity in the PostgreSQL `snapshots` table.
 *
 * Per batch (docs/architecture.md, "Reducer"), inside the transaction the consumer
 * loop (worker_common/worker.c) opens:
 *
 *   1. load the stored snapshots of every entity the batch touches, in one query;
 *   2. for each entity whose events skip versions (red_entity_missing), read the
 *      missing ones, whole envelopes, from `events` or command_outbox in one statement
 *      (rj_entity_query_events): the command processor committed them before it
 *      produced the event that skips them (fold.h says why the log can still deliver
 *      them late);
 *   3. fold (reducer/fold.c): version == stored + 1 folds, older is a redelivery,
 *      newer folds the versions read in step 2 first; a version found nowhere leaves
 *      the event reported and not folded;
 *   4. upsert the snapshots in one statement, guarded by version so a stale writer
 *      can never move a snapshot backwards;
 *   5. produce each changed entity's snapshot (key `<Entity>/<id>`);
 *   then the loop stores the offsets, waits for the snapshots' delivery and commits.
 *
 * A crash after producing and before COMMIT produces the same snapshots again on
 * redelivery (reducers are deterministic, and a filled version is the same envelope as
 * the message it stands for); the projector skips them by version. Every attempt starts
 * over from step 1, reads of step 2 included, so a retried batch never folds twice.
 *
 * After an offset gap (the broker dropped events before they were folded) the first
 * batch also brings every entity whose snapshot is behind its head up to date from
 * PostgreSQL (fill_offset_gaps).
 *
 * Deliberately not here, outside that recovery: reading ahead of the batch (versions newer than the
 * newest event in hand arrive as messages of their own; folding them early would only make the
 * snapshot jump ahead of the log it reports), repairing a hole PostgreSQL cannot fill (reported; an
 * operator's decision), and snapshots of entities no event touched.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "config/config.h"
#include "core/core.h"
#include "entity/entity.h"
#include "log/log.h"
#include "proc/proc.h"
#include "reducer/fold.h"
#include "worker_common/worker.h"
#include "json/envelope.h"

#define DAEMON "ramjet-reducer"

typedef struct red_conf {
    rj_common_conf_t common; /* RJ_CONF_COMMON */
    wk_opts_t loop;          /* WK_CONF_ROWS */
} red_conf_t;

static const rj_conf_opt_t red_opts[] = {
    RJ_CONF_COMMON(red_conf_t, common, "9104"),
    WK_CONF_ROWS(red_conf_t, loop, "2000"),
};
#define RED_NOPTS (sizeof red_opts / sizeof red_opts[0])

static const char red_load_sql[] =
    "SELECT s.entity_type, s.entity_id, s.version, s.value::text"
    " FROM unnest($1::text[], $2::text[]) AS k(entity_type, entity_id)"
    " JOIN snapshots s ON s.entity_type = k.entity_type AND s.entity_id = k.entity_id";

/* The version guard makes the upsert monotonic: a zombie reducer still holding a
 * revoked partition, or a retried stale batch, can only lose, never regress. */
static const char red_upsert_sql[] =
    "INSERT INTO snapshots (entity_type, entity_id, version, value, last_event_id, updated_at)"
    " SELECT k.entity_type, k.entity_id, k.version, k.value, k.last_event_id, now()"
    " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[], $5::uuid[])"
    " AS k(entity_type, entity_id, version, value, last_event_id)"
    " ON CONFLICT (entity_type, entity_id) DO UPDATE SET version = EXCLUDED.version,"
    " value = EXCLUDED.value, last_event_id = EXCLUDED.last_event_id,"
    " updated_at = EXCLUDED.updated_at"
    " WHERE snapshots.version < EXCLUDED.version";

/* The daemon's state across the loop's callbacks. */
typedef struct red_daemon {
    rj_app_t *app;               /* the application (reducers) */
    char *snapshots_topic;       /* <app>.snapshots */
    red_batch_t batch;           /* the batch in hand */
    red_fold_stats_t stats;      /* the last attempt's fold, counted once committed */
    size_t n_snapshots;          /* snapshots written by the last attempt */
    rj_metric_t *m_applied;      /* events folded */
    rj_metric_t *m_dups;         /* redeliveries skipped */
    rj_metric_t *m_gaps;         /* events not folded because of a gap PostgreSQL could not fill */
    rj_metric_t *m_filled;       /* events read from PostgreSQL and folded to fill gaps */
    rj_metric_t *m_failed;       /* events whose reducer failed */
    rj_metric_t *m_snaps;        /* snapshots written */
    rj_metric_t *m_gap_entities; /* entities brought up to their head after an offset gap */
    bool gaps_filled;            /* the batch in hand has added what its gaps lost */
} red_daemon_t;

/* Heap strings of one attempt, freed together. */
typedef struct strs {
    char **v;   /* the strings */
    size_t n;   /* used */
    size_t cap; /* allocated */
} strs_t;

static char *
strs_keep(strs_t *s, char *str)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = rj_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = str;
    return str;
}

static void
strs_free(strs_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static void
red_prepare(void *opaque, wk_worker_t *w, const wk_batch_t *b)
{
    red_daemon_t *d = opaque;
    for (size_t i = 0; i < b->n; i++) {
        const rd_kafka_message_t *m = b->msgs[i];
        rj_error_t err;
        if (red_batch_add(&d->batch, m->payload, m->len, i, &err) != RJ_OK)
            wk_deadletter(w, m, "%s", err.msg);
    }
}

static rj_status_t
load_snapshots(red_daemon_t *d, rj_pg_t *pg, rj_error_t *err)
{
    red_batch_t *rb = &d->batch;
    const char **types = rj_xmalloc(rb->n_entities * sizeof *types);
    const char **ids = rj_xmalloc(rb->n_entities * sizeof *ids);
    for (size_t i = 0; i < rb->n_entities; i++) {
        types[i] = rb->entities[i].entity;
        ids[i] = rb->entities[i].entity_id;
    }
    char *params[2] = {rj_pg_array_literal(types, rb->n_entities),
                       rj_pg_array_literal(ids, rb->n_entities)};
    free(types);
    free(ids);

    PGresult *res = NULL;
    rj_status_t st = rj_pg_exec_prepared(pg, "red_load", red_load_sql, 2,
                                         (const char *const *)params, &res, err);
    free(params[0]);
    free(params[1]);
    if (st != RJ_OK)
        return st;
    for (int r = 0; r < PQntuples(res); r++) {
        red_entity_t *e = red_batch_find(rb, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
        if (e == NULL)
            continue; /* cannot happen: the query joins on the batch's own keys */
        int64_t version = strtoll(PQgetvalue(res, r, 2), NULL, 10);
        json_t *value = NULL;
        if (!PQgetisnull(res, r, 3)) {
            json_error_t jerr;
            value = rj_json_loads(PQgetvalue(res, r, 3), JSON_DECODE_ANY, &jerr);
            if (value == NULL) {
                /* jsonb holds valid JSON, but not always JSON jansson reads back (a number
                 * beyond its integers). Retrying cannot help: blamed on the data, so the
                 * loop dead-letters the event that brought this entity in and parks it. */
                st =
                    rj_error_set(err, RJ_EINVAL, "could not parse stored snapshot: %s entity=%s/%s",
                                 jerr.text, e->entity, e->entity_id);
                break;
            }
        }
        red_entity_set_stored(e, version, value);
    }
    PQclear(res);
    return st;
}

/*
 * Step 2: reads, once per entity and attempt, the versions the entity's fold will lack.
 * Inside the batch's transaction, so the read sees what the snapshots were loaded from;
 * a failing statement fails the attempt (the loop retries it from step 1).
 */
static rj_status_t
fill_gaps(red_daemon_t *d, rj_pg_t *pg, rj_error_t *err)
{
    red_batch_t *rb = &d->batch;
    for (size_t i = 0; i < rb->n_entities; i++) {
        red_entity_t *e = &rb->entities[i];
        int64_t from, to;
        if (!red_entity_missing(rb, e, &from, &to))
            continue;
        rj_entity_events_t evs;
        rj_status_t st = rj_entity_query_events(pg, e->entity, e->entity_id, from, to, &evs, err);
        if (st != RJ_OK)
            return st;
        rj_info("reducer",
                "filling a version gap from PostgreSQL entity=%s/%s stored=%" PRId64
                " versions=%" PRId64 "-%" PRId64 " found=%zu",
                e->entity, e->entity_id, e->stored_version, from, to, evs.n);
        red_entity_take_fill(e, evs.v, evs.n); /* takes the array and the documents */
    }
    return RJ_OK;
}

static rj_status_t
reduce_with_app(void *opaque, const rj_env_event_t *ev, const json_t *current, json_t **out,
                rj_error_t *err)
{
    const rj_app_t *app = opaque;
    return rj_app_reduce(app, ev->entity, ev->type, ev->value, current, out, err);
}

/*
 * Dead-letters what the fold refused. An unfilled gap is an error in its own right: the
 * command processor committed every version before producing a later one, so PostgreSQL
 * lacking one means data was lost or deleted (see fold.h); it is logged at error.
 * A filled event whose reducer failed never comes as a message of this batch (its own
 * message, when it arrives, is a redelivery and skipped), so its dead letter is written
 * now, carrying its envelope, at the place of the event whose gap it filled.
 */
static void
report_rejects(red_daemon_t *d, wk_worker_t *w, const wk_batch_t *b)
{
    red_batch_t *rb = &d->batch;
    for (size_t i = 0; i < rb->n_events; i++) {
        const red_event_t *ev = &rb->events[i];
        if (ev->outcome == RED_GAPPED)
            rj_error("reducer", "%s", ev->error);
        if (ev->outcome == RED_GAPPED || ev->outcome == RED_FAILED)
            wk_deadletter(w, b->msgs[ev->msg], "%s", ev->error);
    }
    for (size_t i = 0; i < rb->n_entities; i++) {
        const red_entity_t *e = &rb->entities[i];
        for (size_t k = 0; k < e->n_fill; k++) {
            const red_event_t *f = &e->fill[k];
            if (f->outcome != RED_FAILED)
                continue;
            char *value = rj_json_dumps(f->env.root);
            wk_deadletter_as(w, b->msgs[f->msg], value, "%s (read from PostgreSQL to fill a gap)",
                             f->error);
            free(value);
        }
    }
}

/*
 * Produces the changed snapshots and upserts them. An entity whose state is still
 * none (its first event's reducer failed) has no snapshot to publish (the envelope's
 * value is an object); its version is still stored, as JSON null, so the next event
 * folds in order.
 */
static rj_status_t
write_snapshots(red_daemon_t *d, wk_worker_t *w, rj_error_t *err)
{
    red_batch_t *rb = &d->batch;
    size_t n = 0;
    for (size_t i = 0; i < rb->n_entities; i++)
        n += red_entity_changed(&rb->entities[i]);
    d->n_snapshots = n;
    if (n == 0)
        return RJ_OK;

    enum { C_TYPE, C_ID, C_VERSION, C_VALUE, C_LAST, NC };
    const char **cols[NC];
    for (int c = 0; c < NC; c++)
        cols[c] = rj_xmalloc(n * sizeof *cols[c]);
    strs_t keep = {0};
    char created_at[32];
    rj_iso8601_ms(rj_now_ms(), created_at);
    size_t k = 0;
    for (size_t i = 0; i < rb->n_entities; i++) {
        const red_entity_t *e = &rb->entities[i];
        if (!red_entity_changed(e))
            continue;
        cols[C_TYPE][k] = e->entity;
        cols[C_ID][k] = e->entity_id;
        cols[C_VERSION][k] = strs_keep(&keep, rj_xasprintf("%" PRId64, e->version));
        cols[C_VALUE][k] = e->value != NULL ? strs_keep(&keep, rj_json_dumps(e->value)) : "null";
        cols[C_LAST][k] = e->last->env.event_id; /* set: the version advanced */
        k++;
    }
    /* The upsert first: a row PostgreSQL refuses (a constraint, a limit) fails the attempt
       before any snapshot of it is queued for the projectors, which would otherwise see a
       state the snapshots table never held. */
    char *params[NC];
    for (int c = 0; c < NC; c++)
        params[c] = rj_pg_array_literal(cols[c], n);
    rj_status_t st = rj_pg_exec_prepared(wk_worker_pg(w), "red_upsert", red_upsert_sql, NC,
                                         (const char *const *)params, NULL, err);
    for (int c = 0; c < NC; c++)
        free(params[c]);
    for (size_t i = 0; i < rb->n_entities && st == RJ_OK; i++) {
        const red_entity_t *e = &rb->entities[i];
        if (!red_entity_changed(e) || e->value == NULL)
            continue;
        const char *last_event_id = e->last->env.event_id;
        const rj_env_snapshot_t env = {
            .entity = e->entity,
            .entity_id = e->entity_id,
            .version = e->version,
            .value = e->value,
            .last_event_id = last_event_id,
            .created_at = created_at,
        };
        char *json = rj_env_snapshot_encode(&env);
        char *key = rj_xasprintf("%s/%s", e->entity, e->entity_id);
        st = rj_kafka_produce(wk_worker_producer(w), d->snapshots_topic, key, strlen(key), json,
                              strlen(json), NULL, NULL, err);
        free(key);
        free(json);
    }
    for (int c = 0; c < NC; c++)
        free(cols[c]);
    strs_free(&keep);
    return st;
}

/* Entities whose claimed head is ahead of their snapshot. */
static const char red_behind_sql[] =
    "SELECT h.entity_type, h.entity_id, coalesce(s.version, 0), h.version"
    " FROM entity_heads h LEFT JOIN snapshots s"
    " ON s.entity_type = h.entity_type AND s.entity_id = h.entity_id"
    " WHERE h.version > coalesce(s.version, 0)";

/*
 * After an offset gap (wk_gap_t: the broker dropped events before we folded them), an
 * entity none of whose later events arrives would keep its old snapshot for good. Every
 * entity whose head (entity_heads, claimed with its events' outbox rows) is ahead of its
 * snapshot has its missing versions read from PostgreSQL (events or command_outbox,
 * rj_entity_query_events) and joins the batch as if they had been consumed; versions
 * that arrive later as messages are redeliveries. Entities the batch already holds fill
 * their own gaps (fill_gaps); parked ones stay parked. Entities in flight (produced, not
 * consumed yet) are brought up early, which is harmless for the same reason. Once per
 * batch: the events added stay in the batch across attempts.
 */
static rj_status_t
fill_offset_gaps(red_daemon_t *d, wk_worker_t *w, const wk_batch_t *b, rj_error_t *err)
{
    rj_pg_t *pg = wk_worker_pg(w);
    PGresult *res = NULL;
    rj_status_t st = rj_pg_exec_prepared(pg, "red_behind", red_behind_sql, 0, NULL, &res, err);
    if (st != RJ_OK)
        return st;
    size_t entities = 0, events = 0;
    for (int r = 0; r < PQntuples(res) && st == RJ_OK; r++) {
        const char *type = PQgetvalue(res, r, 0), *id = PQgetvalue(res, r, 1);
        char *key = rj_xasprintf("%s/%s", type, id);
        bool skip = wk_worker_parked(w, key) || red_batch_find(&d->batch, type, id) != NULL;
        free(key);
        if (skip)
            continue;
        rj_entity_events_t evs;
        st = rj_entity_query_events(pg, type, id, strtoll(PQgetvalue(res, r, 2), NULL, 10) + 1,
                                    strtoll(PQgetvalue(res, r, 3), NULL, 10), &evs, err);
        if (st != RJ_OK)
            break;
        for (size_t i = 0; i < evs.n; i++) {
            char *json = rj_env_event_encode(&evs.v[i]);
            rj_error_t e;
            if (red_batch_add(&d->batch, json, strlen(json), b->gaps[0].msg, &e) == RJ_OK)
                events++;
            else
                rj_error("reducer", "could not fill an offset gap: %s entity=%s/%s", e.msg, type,
                         id);
            free(json);
        }
        entities += evs.n > 0;
        rj_entity_events_deinit(&evs);
    }
    PQclear(res);
    if (st != RJ_OK)
        return st;
    rj_error("reducer",
             "filling offset gap(s) from PostgreSQL: folding %zu events of %zu entities whose "
             "snapshot was behind their head gaps=%zu",
             events, entities, b->n_gaps);
    rj_metric_add(d->m_gap_entities, (int64_t)entities);
    return RJ_OK;
}

static rj_status_t
red_write(void *opaque, wk_worker_t *w, const wk_batch_t *b, rj_error_t *err)
{
    red_daemon_t *d = opaque;
    red_batch_t *rb = &d->batch;
    d->n_snapshots = 0;
    memset(&d->stats, 0, sizeof d->stats);
    if (b->n_gaps > 0 && !d->gaps_filled) {
        rj_status_t st = fill_offset_gaps(d, w, b, err);
        if (st != RJ_OK)
            return st;
        d->gaps_filled = true;
    }
    if (rb->n_entities == 0)
        return RJ_OK;

    red_batch_reset(rb);
    rj_status_t st = load_snapshots(d, wk_worker_pg(w), err);
    if (st == RJ_OK)
        st = fill_gaps(d, wk_worker_pg(w), err);
    if (st != RJ_OK)
        return st;
    red_batch_fold(rb, reduce_with_app, d->app, &d->stats);
    report_rejects(d, w, b);
    return write_snapshots(d, w, err);
}

/* Counted after the commit, so retried attempts do not count twice. */
static void
red_publish(void *opaque, wk_worker_t *w, const wk_batch_t *b)
{
    red_daemon_t *d = opaque;
    rj_metric_add(d->m_applied, (int64_t)d->stats.applied);
    rj_metric_add(d->m_dups, (int64_t)d->stats.duplicates);
    rj_metric_add(d->m_gaps, (int64_t)d->stats.gaps);
    rj_metric_add(d->m_failed, (int64_t)d->stats.failed);
    rj_metric_add(d->m_filled, (int64_t)d->stats.filled);
    rj_metric_add(d->m_snaps, (int64_t)d->n_snapshots);
    if (d->stats.duplicates > 0)
        rj_debug("reducer", "skipped redelivered events count=%zu", d->stats.duplicates);
}

static void
red_release(void *opaque, const wk_batch_t *b)
{
    red_daemon_t *d = opaque;
    red_batch_deinit(&d->batch);
    d->gaps_filled = false;
}

int
main(int argc, char **argv)
{
    red_conf_t conf = {0};
    rj_proc_init_daemon(DAEMON, red_opts, RED_NOPTS, &conf, &conf.common, argc, argv,
                        "Folds <app>.events into entity snapshots (PostgreSQL snapshots table "
                        "and <app>.snapshots).");
    rj_error_t err = {0};

    int rc = 1;
    wk_worker_t *w = NULL;
    red_daemon_t d = {0};
    red_batch_init(&d.batch);

    if (conf.common.app == NULL) {
        rj_fatal("main", "--app is required (the application library with the reducers)");
        goto out;
    }
    d.app = rj_app_load(conf.common.app, &err);
    if (d.app == NULL) {
        rj_fatal("main", "could not load application: %s path=%s", err.msg, conf.common.app);
        goto out;
    }
    const char *app_name =
        conf.common.app_name != NULL ? conf.common.app_name : rj_app_name_get(d.app);

    if (rj_health_start(conf.common.health_port, &err) != RJ_OK) {
        rj_fatal("main", "could not start health endpoint: %s", err.msg);
        goto out;
    }
    d.m_applied = rj_metric_counter("ramjet_reducer_events_total{outcome=\"applied\"}",
                                    "events by what the reducer did with them");
    d.m_dups = rj_metric_counter("ramjet_reducer_events_total{outcome=\"duplicate\"}",
                                 "events by what the reducer did with them");
    d.m_gaps = rj_metric_counter("ramjet_reducer_events_total{outcome=\"gap\"}",
                                 "events by what the reducer did with them");
    /* "filled": folded from PostgreSQL ahead of its own message, which then counts as a
       duplicate; "gap": not folded because PostgreSQL could not fill the gap either. */
    d.m_filled = rj_metric_counter("ramjet_reducer_events_total{outcome=\"filled\"}",
                                   "events by what the reducer did with them");
    d.m_failed = rj_metric_counter("ramjet_reducer_events_total{outcome=\"failed\"}",
                                   "events by what the reducer did with them");
    d.m_snaps = rj_metric_counter("ramjet_reducer_snapshots_total", "snapshots written");
    d.m_gap_entities = rj_metric_counter("ramjet_reducer_gap_filled_total",
                                         "entities brought up to their head from PostgreSQL "
                                         "after an offset gap");

    static const char *const outs[] = {"snapshots"};
    const wk_config_t wc = {
        .daemon = DAEMON,
        .group = "ramjet-reducer",
        .app_name = app_name,
        .topic_suffix = "events",
        .out_suffixes = outs,
        .n_out = 1,
        .common = &conf.common,
        .opts = conf.loop,
    };
    w = wk_worker_new(&wc, &err);
    if (w == NULL) {
        if (rj_proc_stopping())
            rc = 0;
        else
            rj_fatal("main", "could not start: %s", err.msg);
        goto out;
    }
    d.snapshots_topic = wk_worker_topic(w, "snapshots");
    const wk_ops_t ops = {
        .prepare = red_prepare,
        .write = red_write,
        .publish = red_publish,
        .release = red_release,
    };
    rc = wk_worker_run(w, &ops, &d);

out:
    wk_worker_free(w);
    red_batch_deinit(&d.batch);
    free(d.snapshots_topic);
    rj_app_free(d.app);
    rj_health_stop();
    rj_proc_set_state(RJ_PROC_STOPPED);
    rj_metrics_free_all();
    rj_config_deinit(red_opts, RED_NOPTS, &conf);
    return rc;
}
