/*
 * projector/main.c - ramjet-projector: consumes `<app>.snapshots` (group
 * <app>.ramjet-projector), runs the application's projections, keeps the read-model tables
 * (rm_<name>) in PostgreSQL, and announces every change on `<app>.readmodels` and on
 * Redis (`<app>:rm:<ReadModel>`, which the pushers fan out to subscriptions).
 *
 * Per batch (docs/architecture.md, "Projector"), inside the transaction the consumer
 * loop (worker_common/worker.c) opens:
 *
 *   1. keep the newest snapshot per entity (projector/plan.c) and drop those whose
 *      version projected_entities already records (redelivered snapshots);
 *   2. collect the rows every projection will touch (read model id from the join
 *      field; an array field yields one row per element) and load them, one query
 *      per read model;
 *   3. run the projections in batch order against the cached rows;
 *   4. run the projections keyed by a read-model query (projector/query.h), in batch
 *      order: each join key's filter is matched against the table (bound parameters,
 *      paged) and the row cache, so these projections see every write of step 3;
 *   5. write each touched row once, conditionally on the version it was loaded at,
 *      and record the entities' versions in projected_entities;
 *   then the loop stores the offsets and commits. Only after the commit are the
 *   read-model envelopes produced and published on Redis: announcing a change that a
 *   conflicting transaction then rolled back would be worse than missing one, and
 *   notifications are at most once by design (Redis pub/sub is).
 *
 * Deletes are announced on the topic (deleted: true) but, as in Booster, not to
 * subscribers. A projection that fails sends its snapshot to dead letters and the
 * entity's other projections still run.
 *
 * Query-keyed projections run after the keyed ones (step 4) rather than interleaved in
 * batch order. Snapshots of different entities come from different partitions, so the
 * batch order between them means nothing; running the queries last lets a rename of a
 * customer reach an order whose read model the same batch creates, instead of missing it.
 * What this cannot see is a row that a *later* batch creates from a state older than the
 * query's entity (an order placed before a rename, projected after it): the rename never
 * revisits it, as in Booster, whose query join keys only see stored read models. The
 * ordering of the pipeline (an order's snapshot reaches the projector no later than that
 * of a command issued after the order's reply) keeps sequential clients safe from it.
 *
 * A query join key matching more than --query-max-matches rows dead-letters the snapshot
 * for that projection (none of those rows is written): every match is cached in memory
 * and written in this one transaction, so an unbounded match would stall the partition
 * instead; raise the limit, or narrow the filter.
 *
 * Deliberately not here: read-model queries (the gateway's) and calculated fields (they
 * are computed when read).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "config/config.h"
#include "core/core.h"
#include "log/log.h"
#include "proc/proc.h"
#include "projector/plan.h"
#include "projector/query.h"
#include "projector/rebuild.h"
#include "projector/replay.h"
#include "redis/redis.h"
#include "worker_common/worker.h"
#include "json/envelope.h"

#define DAEMON "ramjet-projector"
/* How long publishing waits for the read-model envelopes to be acknowledged. */
#define PROJ_PUBLISH_FLUSH_MS 5000

typedef struct proj_conf {
    rj_common_conf_t common; /* RJ_CONF_COMMON */
    wk_opts_t loop;          /* WK_CONF_ROWS */
    int query_max_matches;   /* most rows one read-model-query join key may match */
    char *replay;            /* --replay: rebuild this read model and exit (replay.h) */
    int replay_wait_ms;      /* --replay-wait-ms: how long a replay waits for the event store */
} proj_conf_t;

static const rj_conf_opt_t proj_opts[] = {
    RJ_CONF_COMMON(proj_conf_t, common, "9105"),
    WK_CONF_ROWS(proj_conf_t, loop, "1000"),
    {"query-max-matches", RJ_CONF_INT, "10000", offsetof(proj_conf_t, query_max_matches),
     "most read models one read-model-query join key may match; beyond it the snapshot is "
     "dead-lettered for that projection"},
    {"replay", RJ_CONF_STR, NULL, offsetof(proj_conf_t, replay),
     "rebuild this read model from the event store, swap it in and exit, instead of consuming "
     "(what `ramjet replay <ReadModel>` runs)"},
    {"replay-wait-ms", RJ_CONF_INT, "30000", offsetof(proj_conf_t, replay_wait_ms),
     "with --replay: how long to wait for the event store to hold every version the projector "
     "has projected before giving up (ms)"},
};
#define PROJ_NOPTS (sizeof proj_opts / sizeof proj_opts[0])

static const char proj_seen_sql[] =
    "SELECT p.entity_type, p.entity_id, p.version"
    " FROM unnest($1::text[], $2::text[]) AS k(entity_type, entity_id)"
    " JOIN projected_entities p ON p.entity_type = k.entity_type AND p.entity_id = k.entity_id";

static const char proj_record_sql[] =
    "INSERT INTO projected_entities (entity_type, entity_id, version)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])"
    " ON CONFLICT (entity_type, entity_id) DO UPDATE SET version = EXCLUDED.version"
    " WHERE projected_entities.version < EXCLUDED.version";

/* One read model: its table and its statements, built once at start. */
typedef struct proj_rm {
    const rj_app_read_model_t *model; /* borrowed from the app */
    char *table;                      /* its table, quoted (for query join keys) */
    char *load_sql;                   /* rows of (id, seq) pairs */
    char *upsert_sql;                 /* conditional on version = new - 1 */
    char *delete_sql;                 /* conditional on version */
    char stmt[3][48];                 /* prepared statement names: load, upsert, delete */
    char lock_key[24];                /* its advisory-lock key (proj_rm_lock_key), decimal */
} proj_rm_t;

/* The daemon's state across the loop's callbacks. */
typedef struct proj_daemon {
    rj_app_t *app;                /* the application (projections) */
    proj_rm_t *rms;               /* one per read model, in declaration order */
    size_t n_rms;                 /* number of read models */
    char *readmodels_topic;       /* <app>.readmodels */
    char *redis_url;              /* borrowed from the config */
    size_t query_max_matches;     /* --query-max-matches */
    rj_redis_t *redis;            /* publisher; NULL while Redis is unreachable */
    proj_batch_t batch;           /* the batch in hand */
    size_t n_projected;           /* entities projected by the last attempt */
    rj_metric_t *m_entities;      /* entities projected */
    rj_metric_t *m_writes;        /* read-model rows written (upserts and deletes) */
    rj_metric_t *m_conflicts;     /* batches retried because a row changed under them */
    rj_metric_t *m_notify_failed; /* notifications that could not be published */
    rj_metric_t *m_gap_filled;    /* entities projected from PostgreSQL after an offset gap */
    bool gaps_filled;             /* the batch in hand has added what its gaps lost */
} proj_daemon_t;

/* ---- start-up ---- */

static void
proj_rm_init(proj_rm_t *rm, const rj_app_read_model_t *model, size_t i, rj_pg_t *pg,
             const char *app_name)
{
    rm->model = model;
    snprintf(rm->lock_key, sizeof rm->lock_key, "%" PRId64,
             proj_rm_lock_key(app_name, model->name));
    char *t = rj_pg_read_model_table(pg, model->name);
    rm->load_sql = rj_xasprintf(
        "SELECT t.id, t.seq, t.version, t.value::text FROM %s t"
        " JOIN unnest($1::text[], $2::text[]) AS k(id, seq) ON t.id = k.id AND t.seq = k.seq",
        t);
    /* A new row (version 1) conflicts with any existing row, since no row has version 0. */
    rm->upsert_sql = rj_xasprintf(
        "INSERT INTO %s AS t (id, seq, version, value, updated_at)"
        " SELECT k.id, k.seq, k.version, k.value, now()"
        " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::jsonb[]) AS k(id, seq, version,"
        " value)"
        " ON CONFLICT (id, seq) DO UPDATE SET version = EXCLUDED.version,"
        " value = EXCLUDED.value, updated_at = EXCLUDED.updated_at"
        " WHERE t.version = EXCLUDED.version - 1",
        t);
    rm->delete_sql = rj_xasprintf(
        "DELETE FROM %s AS t USING unnest($1::text[], $2::text[], $3::bigint[])"
        " AS k(id, seq, version) WHERE t.id = k.id AND t.seq = k.seq AND t.version = k.version",
        t);
    rm->table = t;
    snprintf(rm->stmt[0], sizeof rm->stmt[0], "proj_load_%zu", i);
    snprintf(rm->stmt[1], sizeof rm->stmt[1], "proj_upsert_%zu", i);
    snprintf(rm->stmt[2], sizeof rm->stmt[2], "proj_delete_%zu", i);
}

static void
proj_rm_deinit(proj_rm_t *rm)
{
    free(rm->table);
    free(rm->load_sql);
    free(rm->upsert_sql);
    free(rm->delete_sql);
}

/* Creates every read model's table (another projector may be doing the same). */
static rj_status_t
ensure_tables(proj_daemon_t *d, wk_worker_t *w, rj_error_t *err)
{
    for (size_t i = 0; i < d->n_rms; i++) {
        rj_backoff_t bo;
        rj_backoff_init(&bo, wk_worker_opts(w)->stall_timeout_ms);
        for (;;) {
            rj_status_t st =
                rj_pg_ensure_read_model_table(wk_worker_pg(w), d->rms[i].model->name, err);
            if (st == RJ_OK)
                break;
            rj_warn("pg", "could not create read-model table, retrying: %s read_model=%s", err->msg,
                    d->rms[i].model->name);
            if (!rj_backoff_wait(&bo))
                return st;
        }
    }
    return RJ_OK;
}

static proj_rm_t *
find_rm(proj_daemon_t *d, const char *name)
{
    for (size_t i = 0; i < d->n_rms; i++)
        if (d->rms[i].model->name == name || strcmp(d->rms[i].model->name, name) == 0)
            return &d->rms[i];
    return NULL;
}

/* ---- one batch ---- */

static void
proj_prepare(void *opaque, wk_worker_t *w, const wk_batch_t *b)
{
    proj_daemon_t *d = opaque;
    for (size_t i = 0; i < b->n; i++) {
        const rd_kafka_message_t *m = b->msgs[i];
        rj_error_t err;
        if (proj_batch_add(&d->batch, m->payload, m->len, i, &err) != RJ_OK)
            wk_deadletter(w, m, "%s", err.msg);
    }
}

static rj_status_t
load_projected(proj_daemon_t *d, rj_pg_t *pg, rj_error_t *err)
{
    proj_batch_t *pb = &d->batch;
    const char **types = rj_xmalloc(pb->n_entities * sizeof *types);
    const char **ids = rj_xmalloc(pb->n_entities * sizeof *ids);
    for (size_t i = 0; i < pb->n_entities; i++) {
        const rj_env_snapshot_t *s = proj_entity_snapshot(pb, &pb->entities[i]);
        types[i] = s->entity;
        ids[i] = s->entity_id;
    }
    char *params[2] = {rj_pg_array_literal(types, pb->n_entities),
                       rj_pg_array_literal(ids, pb->n_entities)};
    free(types);
    free(ids);
    PGresult *res = NULL;
    rj_status_t st = rj_pg_exec_prepared(pg, "proj_seen", proj_seen_sql, 2,
                                         (const char *const *)params, &res, err);
    free(params[0]);
    free(params[1]);
    if (st != RJ_OK)
        return st;
    for (int r = 0; r < PQntuples(res); r++) {
        proj_entity_t *e = proj_batch_find_entity(pb, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
        if (e != NULL)
            e->projected = strtoll(PQgetvalue(res, r, 2), NULL, 10);
    }
    PQclear(res);
    return RJ_OK;
}

/*
 * Visits every (projection, read-model id) a live entity of the batch projects into,
 * in batch order. With @p run false it only registers the rows (so they can be loaded
 * in bulk first); with @p run true it runs the projections against the cached rows.
 */
static void
visit_projections(proj_daemon_t *d, wk_worker_t *w, const wk_batch_t *b, bool run)
{
    proj_batch_t *pb = &d->batch;
    for (size_t i = 0; i < pb->n_entities; i++) {
        const proj_entity_t *pe = &pb->entities[i];
        if (!proj_entity_live(pb, pe))
            continue;
        const rj_env_snapshot_t *snap = proj_entity_snapshot(pb, pe);
        const rj_app_entity_t *entity = rj_app_entity(d->app, snap->entity);
        if (entity == NULL)
            continue; /* an entity the app no longer declares: nothing projects it */
        for (size_t p = 0; p < entity->n_projections; p++) {
            const rj_app_projection_t *proj = entity->projections[p];
            if (proj->join_query != NULL)
                continue; /* run by run_query_joins, after these */
            char **ids;
            size_t n_ids = proj_join_ids(snap->value, proj->join_field, &ids);
            if (n_ids == 0 && run)
                rj_warn("projector",
                        "no read model id in join field, projection skipped: entity=%s/%s "
                        "read_model=%s join_field=%s",
                        snap->entity, snap->entity_id, proj->read_model->name, proj->join_field);
            char *seq = proj_sequence_key(proj->read_model, snap->value);
            for (size_t k = 0; k < n_ids; k++) {
                proj_row_t *row = proj_batch_row(pb, proj->read_model->name, ids[k], seq);
                if (!run)
                    continue;
                rj_app_project_action_t action;
                json_t *out = NULL;
                rj_error_t err;
                rj_error_clear(&err);
                if (rj_app_project(proj, snap->value, ids[k], row->value, &action, &out, &err) ==
                    RJ_OK) {
                    proj_row_apply(row, action, out);
                } else {
                    wk_deadletter(w, b->msgs[pb->snaps[pe->snap].msg],
                                  "could not project %s into %s: %s entity=%s/%s id=%s "
                                  "version=%" PRId64,
                                  snap->entity, proj->read_model->name, err.msg, snap->entity,
                                  snap->entity_id, ids[k], snap->version);
                }
            }
            free(seq);
            for (size_t k = 0; k < n_ids; k++)
                free(ids[k]);
            free(ids);
        }
    }
}

/* Sets @p row as loaded from result row @p t of (id, seq, version, value::text). */
static rj_status_t
row_load(proj_row_t *row, const PGresult *res, int t, const char *read_model, rj_error_t *err)
{
    json_error_t jerr;
    json_t *value = rj_json_loads(PQgetvalue(res, t, 3), JSON_DECODE_ANY, &jerr);
    if (!json_is_object(value)) {
        /* Blamed on the data (jsonb holds numbers jansson cannot read back): the loop
           dead-letters the snapshot that needed this row, not the partition. */
        json_decref(value);
        return rj_error_set(err, RJ_EINVAL,
                            "could not parse stored read model: %s read_model=%s id=%s",
                            value == NULL ? jerr.text : "not an object", read_model, row->id);
    }
    proj_row_set_loaded(row, strtoll(PQgetvalue(res, t, 2), NULL, 10), value);
    return RJ_OK;
}

/*
 * Adds every stored row of @p rm that @p filter matches to the batch's cache, a page at a
 * time. Rows the batch has already loaded or written keep their cached state: it is newer
 * than the table's. Counts the rows in *n_found, and stops (RJ_OK) as soon as it passes
 * @p max; RJ_EINVAL for a malformed filter, rj_pg_exec's statuses otherwise.
 *
 * The pages run under a savepoint. A filter can be well-formed and still fail in
 * PostgreSQL (an invalid regex is only found when it runs), and a failed statement aborts
 * the whole transaction: without the savepoint, one customer's bad filter would fail the
 * batch on every retry and stall the partition. With it, such a failure (RJ_EINVAL, a
 * data exception, or RJ_EIO) is rolled back to here and reported as RJ_EINVAL, the
 * snapshot's problem.
 */
static rj_status_t
cache_matches(proj_daemon_t *d, rj_pg_t *pg, const proj_rm_t *rm, const json_t *filter,
              size_t max, size_t *n_found, rj_error_t *err)
{
    proj_batch_t *pb = &d->batch;
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    char *after_id = NULL, *after_seq = NULL;
    *n_found = 0;
    rj_status_t st = rj_pg_exec(pg, "SAVEPOINT proj_match", 0, NULL, NULL, err);
    while (st == RJ_OK) {
        st = proj_query_build(rm->table, filter, after_id, after_seq, &sql, &params, err);
        PGresult *res = NULL;
        if (st == RJ_OK)
            st = rj_pg_exec(pg, sql.data, (int)params.n, rj_rs_params_values(&params), &res, err);
        if (st != RJ_OK)
            break;
        int n = PQntuples(res);
        for (int t = 0; t < n && st == RJ_OK; t++) {
            proj_row_t *row =
                proj_batch_row(pb, rm->model->name, PQgetvalue(res, t, 0), PQgetvalue(res, t, 1));
            if (row->loaded_exists || row->touched)
                continue;
            st = row_load(row, res, t, rm->model->name, err);
        }
        *n_found += (size_t)n;
        free(after_id);
        free(after_seq);
        after_id = n > 0 ? rj_xstrdup(PQgetvalue(res, n - 1, 0)) : NULL;
        after_seq = n > 0 ? rj_xstrdup(PQgetvalue(res, n - 1, 1)) : NULL;
        PQclear(res);
        if (st != RJ_OK || n < PROJ_QUERY_PAGE || *n_found > max)
            break;
    }
    if (st == RJ_EIO || st == RJ_EINVAL) {
        /* RJ_EINVAL: a malformed filter (nothing ran) or one PostgreSQL refused (a data
           exception: the transaction is aborted until rolled back to the savepoint). */
        rj_error_t rb;
        if (rj_pg_exec(pg, "ROLLBACK TO SAVEPOINT proj_match", 0, NULL, NULL, &rb) == RJ_OK)
            st = RJ_EINVAL; /* err keeps PostgreSQL's words about the filter */
    } else if (st == RJ_OK) {
        rj_error_t rel;
        rj_status_t rs = rj_pg_exec(pg, "RELEASE SAVEPOINT proj_match", 0, NULL, NULL, &rel);
        if (rs != RJ_OK) {
            st = rs;
            *err = rel;
        }
    }
    free(after_id);
    free(after_seq);
    rj_rs_params_deinit(&params);
    rj_buf_deinit(&sql);
    return st;
}

/*
 * Runs one read-model-query projection for one entity state: the join key's filter, the
 * matching rows (table and cache), then the projection once per match in (id, seq)
 * order, or once with no id and no current row when nothing matches. Failures that
 * belong to the snapshot (the join key, a malformed filter, too many matches, the
 * projection) dead-letter it and return RJ_OK; only database failures are returned, and
 * retry the batch.
 */
static rj_status_t
project_by_query(proj_daemon_t *d, wk_worker_t *w, const wk_batch_t *b, const proj_entity_t *pe,
                 const rj_app_projection_t *proj, rj_pg_t *pg, rj_error_t *err)
{
    proj_batch_t *pb = &d->batch;
    const rj_env_snapshot_t *snap = proj_entity_snapshot(pb, pe);
    const rd_kafka_message_t *msg = b->msgs[pb->snaps[pe->snap].msg];
    const char *rm_name = proj->read_model->name;
    json_t *filter = NULL;
    rj_error_t e;
    rj_error_clear(&e);
    if (rj_app_projection_query(proj, snap->value, &filter, &e) != RJ_OK) {
        wk_deadletter(w, msg, "could not project %s into %s: %s entity=%s/%s version=%" PRId64,
                      snap->entity, rm_name, e.msg, snap->entity, snap->entity_id, snap->version);
        return RJ_OK;
    }
    if (filter == NULL) {
        rj_debug("projector", "join key skipped the projection: entity=%s/%s read_model=%s",
                 snap->entity, snap->entity_id, rm_name);
        return RJ_OK;
    }

    size_t n_found = 0;
    rj_status_t st = cache_matches(d, pg, find_rm(d, rm_name), filter, d->query_max_matches,
                                   &n_found, &e);
    size_t *idx = NULL;
    size_t n = 0;
    if (st == RJ_OK)
        n = proj_query_cached(pb, rm_name, filter, &idx);
    json_decref(filter);
    if (st == RJ_EINVAL || (st == RJ_OK && (n_found > d->query_max_matches ||
                                            n > d->query_max_matches))) {
        if (st == RJ_OK)
            rj_error_set(&e, RJ_ETOOBIG,
                         "the join key's filter matches more than %zu read models "
                         "(--query-max-matches)",
                         d->query_max_matches);
        rj_error("projector", "could not project %s into %s: %s entity=%s/%s", snap->entity,
                 rm_name, e.msg, snap->entity, snap->entity_id);
        wk_deadletter(w, msg, "could not project %s into %s: %s entity=%s/%s version=%" PRId64,
                      snap->entity, rm_name, e.msg, snap->entity, snap->entity_id, snap->version);
        free(idx);
        return RJ_OK;
    }
    if (st != RJ_OK) {
        *err = e;
        free(idx);
        return st;
    }

    /* No row is added below, so the pointers into pb->rows stay valid. */
    for (size_t k = 0; k < (n > 0 ? n : 1); k++) {
        proj_row_t *row = n > 0 ? &pb->rows[idx[k]] : NULL;
        rj_app_project_action_t action;
        json_t *out = NULL;
        rj_error_clear(&e);
        if (rj_app_project(proj, snap->value, row != NULL ? row->id : NULL,
                           row != NULL ? row->value : NULL, &action, &out, &e) != RJ_OK) {
            wk_deadletter(w, msg,
                          "could not project %s into %s: %s entity=%s/%s id=%s version=%" PRId64,
                          snap->entity, rm_name, e.msg, snap->entity, snap->entity_id,
                          row != NULL ? row->id : "(none)", snap->version);
        } else if (row != NULL) {
            proj_row_apply(row, action, out);
        } else if (action == RJ_APP_PROJECT_WRITE) {
            /* Booster would store it under `undefined`; a row needs an id, so say so. */
            json_decref(out);
            rj_error("projector",
                     "projection returned a read model although its join key matched none: "
                     "there is no id to store it under, so it is dropped entity=%s/%s "
                     "read_model=%s",
                     snap->entity, snap->entity_id, rm_name);
            wk_deadletter(w, msg,
                          "could not project %s into %s: the projection returned a read model "
                          "although its join key matched none (return RJ_NOTHING) entity=%s/%s "
                          "version=%" PRId64,
                          snap->entity, rm_name, snap->entity, snap->entity_id, snap->version);
        }
    }
    free(idx);
    return RJ_OK;
}

/* Step 4: the read-model-query projections of every live entity, in batch order. */
static rj_status_t
run_query_joins(proj_daemon_t *d, wk_worker_t *w, const wk_batch_t *b, rj_pg_t *pg,
                rj_error_t *err)
{
    proj_batch_t *pb = &d->batch;
    for (size_t i = 0; i < pb->n_entities; i++) {
        const proj_entity_t *pe = &pb->entities[i];
        if (!proj_entity_live(pb, pe))
            continue;
        const rj_app_entity_t *entity = rj_app_entity(d->app, proj_entity_snapshot(pb, pe)->entity);
        for (size_t p = 0; entity != NULL && p < entity->n_projections; p++) {
            if (entity->projections[p]->join_query == NULL)
                continue;
            rj_status_t st = project_by_query(d, w, b, pe, entity->projections[p], pg, err);
            if (st != RJ_OK)
                return st;
        }
    }
    return RJ_OK;
}

static rj_status_t
load_rows(proj_daemon_t *d, rj_pg_t *pg, rj_error_t *err)
{
    proj_batch_t *pb = &d->batch;
    const char **ids = rj_xmalloc((pb->n_rows + 1) * sizeof *ids);
    const char **seqs = rj_xmalloc((pb->n_rows + 1) * sizeof *seqs);
    rj_status_t st = RJ_OK;
    for (size_t m = 0; m < d->n_rms && st == RJ_OK; m++) {
        proj_rm_t *rm = &d->rms[m];
        size_t n = 0;
        for (size_t r = 0; r < pb->n_rows; r++) {
            if (strcmp(pb->rows[r].read_model, rm->model->name) != 0)
                continue;
            ids[n] = pb->rows[r].id;
            seqs[n] = pb->rows[r].seq;
            n++;
        }
        if (n == 0)
            continue;
        char *params[2] = {rj_pg_array_literal(ids, n), rj_pg_array_literal(seqs, n)};
        PGresult *res = NULL;
        st = rj_pg_exec_prepared(pg, rm->stmt[0], rm->load_sql, 2, (const char *const *)params,
                                 &res, err);
        free(params[0]);
        free(params[1]);
        if (st != RJ_OK)
            break;
        for (int t = 0; t < PQntuples(res) && st == RJ_OK; t++) {
            proj_row_t *row =
                proj_batch_row(pb, rm->model->name, PQgetvalue(res, t, 0), PQgetvalue(res, t, 1));
            st = row_load(row, res, t, rm->model->name, err);
        }
        PQclear(res);
    }
    free(ids);
    free(seqs);
    return st;
}

/* Runs one conditional bulk statement and checks every planned row was affected. */
static rj_status_t
exec_counted(rj_pg_t *pg, const char *name, const char *sql, int nparams, char **params,
             size_t expected, const char *read_model, rj_error_t *err)
{
    PGresult *res = NULL;
    rj_status_t st =
        rj_pg_exec_prepared(pg, name, sql, nparams, (const char *const *)params, &res, err);
    if (st != RJ_OK)
        return st;
    size_t affected = strtoul(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    if (affected != expected)
        return rj_error_set(err, RJ_ECONFLICT,
                            "could not write read model: %zu of %zu rows changed concurrently "
                            "read_model=%s",
                            expected - affected, expected, read_model);
    return RJ_OK;
}

/*
 * Writes every touched row, one upsert and one delete statement per read model. Rows go
 * in (id, seq) order, read model by read model, so two projectors whose batches share
 * rows lock them in the same order and one waits for the other instead of deadlocking
 * (a deadlock would still be safe, 40P01 is retried, but costs deadlock_timeout).
 */
static rj_status_t
write_rows(proj_daemon_t *d, rj_pg_t *pg, size_t *written, rj_error_t *err)
{
    proj_batch_t *pb = &d->batch;
    size_t cap = pb->n_rows + 1;
    const proj_row_t **sorted = rj_xmalloc(cap * sizeof *sorted);
    for (size_t r = 0; r < pb->n_rows; r++)
        sorted[r] = &pb->rows[r];
    qsort(sorted, pb->n_rows, sizeof *sorted, proj_row_ptr_cmp);
    const char **up[4], **del[3];
    for (int c = 0; c < 4; c++)
        up[c] = rj_xmalloc(cap * sizeof *up[c]);
    for (int c = 0; c < 3; c++)
        del[c] = rj_xmalloc(cap * sizeof *del[c]);
    char **texts = rj_xmalloc(cap * 2 * sizeof *texts); /* versions and values */
    size_t n_texts = 0;
    rj_status_t st = RJ_OK;
    *written = 0;

    for (size_t m = 0; m < d->n_rms && st == RJ_OK; m++) {
        proj_rm_t *rm = &d->rms[m];
        size_t n_up = 0, n_del = 0;
        for (size_t r = 0; r < pb->n_rows; r++) {
            const proj_row_t *row = sorted[r];
            if (strcmp(row->read_model, rm->model->name) != 0)
                continue;
            int64_t version;
            switch (proj_row_write(row, &version)) {
            case PROJ_WRITE_NONE:
                break;
            case PROJ_WRITE_UPSERT:
                up[0][n_up] = row->id;
                up[1][n_up] = row->seq;
                up[2][n_up] = texts[n_texts++] = rj_xasprintf("%" PRId64, version);
                up[3][n_up] = texts[n_texts++] = rj_json_dumps(row->value);
                n_up++;
                break;
            case PROJ_WRITE_DELETE:
                del[0][n_del] = row->id;
                del[1][n_del] = row->seq;
                del[2][n_del] = texts[n_texts++] = rj_xasprintf("%" PRId64, row->loaded_version);
                n_del++;
                break;
            }
        }
        if (n_up > 0) {
            char *params[4];
            for (int c = 0; c < 4; c++)
                params[c] = rj_pg_array_literal(up[c], n_up);
            st = exec_counted(pg, rm->stmt[1], rm->upsert_sql, 4, params, n_up, rm->model->name,
                              err);
            for (int c = 0; c < 4; c++)
                free(params[c]);
        }
        if (n_del > 0 && st == RJ_OK) {
            char *params[3];
            for (int c = 0; c < 3; c++)
                params[c] = rj_pg_array_literal(del[c], n_del);
            st = exec_counted(pg, rm->stmt[2], rm->delete_sql, 3, params, n_del, rm->model->name,
                              err);
            for (int c = 0; c < 3; c++)
                free(params[c]);
        }
        *written += n_up + n_del;
    }

    for (size_t i = 0; i < n_texts; i++)
        free(texts[i]);
    free(texts);
    free(sorted);
    for (int c = 0; c < 4; c++)
        free(up[c]);
    for (int c = 0; c < 3; c++)
        free(del[c]);
    return st;
}

static rj_status_t
record_projected(proj_daemon_t *d, rj_pg_t *pg, rj_error_t *err)
{
    proj_batch_t *pb = &d->batch;
    const char **cols[3];
    for (int c = 0; c < 3; c++)
        cols[c] = rj_xmalloc(pb->n_entities * sizeof *cols[c]);
    char **versions = rj_xmalloc(pb->n_entities * sizeof *versions);
    size_t n = 0;
    for (size_t i = 0; i < pb->n_entities; i++) {
        if (!proj_entity_live(pb, &pb->entities[i]))
            continue;
        const rj_env_snapshot_t *s = proj_entity_snapshot(pb, &pb->entities[i]);
        cols[0][n] = s->entity;
        cols[1][n] = s->entity_id;
        cols[2][n] = versions[n] = rj_xasprintf("%" PRId64, s->version);
        n++;
    }
    d->n_projected = n;
    rj_status_t st = RJ_OK;
    if (n > 0) {
        char *params[3];
        for (int c = 0; c < 3; c++)
            params[c] = rj_pg_array_literal(cols[c], n);
        st = rj_pg_exec_prepared(pg, "proj_record", proj_record_sql, 3, (const char *const *)params,
                                 NULL, err);
        for (int c = 0; c < 3; c++)
            free(params[c]);
    }
    for (size_t i = 0; i < n; i++)
        free(versions[i]);
    free(versions);
    for (int c = 0; c < 3; c++)
        free(cols[c]);
    return st;
}

/*
 * Takes, shared and for the transaction, the advisory lock of every read model a live
 * entity of the batch projects into, before anything reads or writes those tables.
 * `ramjet replay` holds one exclusively while it rebuilds and swaps a read model
 * (replay.c): this batch must then neither write the table being replaced nor commit a
 * projected_entities version the rebuild did not see. pg_try_ never waits: a batch that
 * finds a replay (or a replay waiting for the lock, which PostgreSQL queues ahead of new
 * shared requests) fails this attempt with RJ_ERETRY and the loop retries it with its
 * backoff, so the replay is not starved and no connection sits blocked.
 */
static rj_status_t
lock_read_models(proj_daemon_t *d, rj_pg_t *pg, rj_error_t *err)
{
    proj_batch_t *pb = &d->batch;
    bool *want = rj_xcalloc(d->n_rms + 1, sizeof *want);
    for (size_t i = 0; i < pb->n_entities; i++) {
        if (!proj_entity_live(pb, &pb->entities[i]))
            continue;
        const rj_app_entity_t *entity =
            rj_app_entity(d->app, proj_entity_snapshot(pb, &pb->entities[i])->entity);
        for (size_t p = 0; entity != NULL && p < entity->n_projections; p++)
            for (size_t m = 0; m < d->n_rms; m++)
                if (d->rms[m].model == entity->projections[p]->read_model)
                    want[m] = true;
    }
    rj_status_t st = RJ_OK;
    for (size_t m = 0; m < d->n_rms && st == RJ_OK; m++) {
        if (!want[m])
            continue;
        const char *params[] = {d->rms[m].lock_key};
        PGresult *res = NULL;
        st = rj_pg_exec_prepared(pg, "proj_rm_lock",
                                 "SELECT pg_try_advisory_xact_lock_shared($1::bigint)", 1, params,
                                 &res, err);
        if (st != RJ_OK)
            break;
        if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
            st = rj_error_set(err, RJ_ERETRY,
                              "read model is being rebuilt (ramjet replay), waiting read_model=%s",
                              d->rms[m].model->name);
        PQclear(res);
    }
    free(want);
    return st;
}
/*
 * Every entity whose stored snapshot is newer than what projected_entities records:
 * what a projector that lost snapshots to an offset gap has not projected.
 */
static const char proj_unprojected_sql[] =
    "SELECT s.entity_type, s.entity_id, s.version, s.value::text, s.last_event_id::text,"
    " to_char(s.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    " FROM snapshots s LEFT JOIN projected_entities p"
    " ON p.entity_type = s.entity_type AND p.entity_id = s.entity_id"
    " WHERE jsonb_typeof(s.value) = 'object' AND s.last_event_id IS NOT NULL"
    " AND s.version > coalesce(p.version, 0)";

/*
 * Finding 8: the broker dropped snapshots before this projector consumed them (the dev
 * broker keeps about 5 MB per partition; any broker has a retention), and the consumer
 * jumped past them. The snapshots table holds every entity's newest state, and
 * projected_entities what was projected, so the entities behind are exactly those whose
 * snapshot is newer: they join the batch as if their newest snapshots had been consumed
 * (a projection maps a state, so the newest one is all that matters; plan.h).
 *
 * Not restricted to the gapped partitions: the partition of a key depends on the
 * producer's partitioner and the topic's partition count, and a wrong guess would leave
 * an entity stale in silence. An entity of another partition projected here early is
 * harmless: projected_entities and the row versions make its own snapshot, when it
 * comes, a redelivery; another projector writing the same rows loses a version race and
 * retries. Parked entities stay parked. Once per batch: the snapshots added stay in the
 * batch across attempts.
 */
static rj_status_t
fill_gaps(proj_daemon_t *d, wk_worker_t *w, const wk_batch_t *b, rj_error_t *err)
{
    PGresult *res = NULL;
    rj_status_t st = rj_pg_exec_prepared(wk_worker_pg(w), "proj_unprojected", proj_unprojected_sql,
                                         0, NULL, &res, err);
    if (st != RJ_OK)
        return st;
    size_t added = 0, parked = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *type = PQgetvalue(res, r, 0), *id = PQgetvalue(res, r, 1);
        char *key = rj_xasprintf("%s/%s", type, id);
        bool is_parked = wk_worker_parked(w, key);
        free(key);
        if (is_parked) {
            parked++;
            continue;
        }
        json_t *value = rj_json_loads(PQgetvalue(res, r, 3), 0, NULL);
        if (!json_is_object(value)) {
            rj_error("projector",
                     "could not fill an offset gap for an entity: its stored snapshot cannot "
                     "be decoded entity=%s/%s",
                     type, id);
            json_decref(value);
            continue;
        }
        const rj_env_snapshot_t env = {
            .entity = type,
            .entity_id = id,
            .version = strtoll(PQgetvalue(res, r, 2), NULL, 10),
            .value = value,
            .last_event_id = PQgetvalue(res, r, 4),
            .created_at = PQgetvalue(res, r, 5),
        };
        char *json = rj_env_snapshot_encode(&env);
        json_decref(value);
        rj_error_t e;
        if (proj_batch_add(&d->batch, json, strlen(json), b->gaps[0].msg, &e) == RJ_OK)
            added++;
        else
            rj_error("projector", "could not fill an offset gap for an entity: %s entity=%s/%s",
                     e.msg, type, id);
        free(json);
    }
    PQclear(res);
    rj_error("projector",
             "filling offset gap(s) from PostgreSQL: projecting the stored snapshots of %zu "
             "entities the projector had not projected gaps=%zu parked=%zu",
             added, b->n_gaps, parked);
    rj_metric_add(d->m_gap_filled, (int64_t)added);
    return RJ_OK;
}


static rj_status_t
proj_write(void *opaque, wk_worker_t *w, const wk_batch_t *b, rj_error_t *err)
{
    proj_daemon_t *d = opaque;
    proj_batch_t *pb = &d->batch;
    rj_pg_t *pg = wk_worker_pg(w);
    if (b->n_gaps > 0 && !d->gaps_filled) {
        rj_status_t st = fill_gaps(d, w, b, err);
        if (st != RJ_OK)
            return st;
        d->gaps_filled = true;
    }
    d->n_projected = 0;
    if (pb->n_entities == 0)
        return RJ_OK;

    proj_batch_reset(pb);
    rj_status_t st = load_projected(d, pg, err);
    if (st == RJ_OK)
        st = lock_read_models(d, pg, err);
    if (st != RJ_OK)
        return st;
    visit_projections(d, w, b, false);
    if ((st = load_rows(d, pg, err)) != RJ_OK)
        return st;
    visit_projections(d, w, b, true);
    if ((st = run_query_joins(d, w, b, pg, err)) != RJ_OK)
        return st;
    size_t written;
    st = write_rows(d, pg, &written, err);
    if (st == RJ_ECONFLICT)
        rj_metric_add(d->m_conflicts, 1);
    if (st != RJ_OK)
        return st;
    return record_projected(d, pg, err);
}

/* After the commit: announce every row written, at most once. */
static void
proj_publish(void *opaque, wk_worker_t *w, const wk_batch_t *b)
{
    proj_daemon_t *d = opaque;
    proj_batch_t *pb = &d->batch;
    rj_metric_add(d->m_entities, (int64_t)d->n_projected);

    rj_redis_msg_t *notes = rj_xmalloc((pb->n_rows + 1) * sizeof *notes);
    char **bufs = rj_xmalloc((pb->n_rows + 1) * 2 * sizeof *bufs);
    size_t n_notes = 0, n_bufs = 0, n_written = 0;
    for (size_t r = 0; r < pb->n_rows; r++) {
        const proj_row_t *row = &pb->rows[r];
        int64_t version;
        proj_write_t kind = proj_row_write(row, &version);
        if (kind == PROJ_WRITE_NONE)
            continue;
        n_written++;
        const proj_rm_t *rm = find_rm(d, row->read_model);
        const rj_env_readmodel_t env = {
            .type = row->read_model,
            .id = row->id,
            .sequence_key = rm->model->sequenced_by != NULL ? row->seq : NULL,
            .version = version,
            .value = kind == PROJ_WRITE_UPSERT ? row->value : NULL,
            .deleted = kind == PROJ_WRITE_DELETE,
        };
        char *json = rj_env_readmodel_encode(&env);
        char *key = rj_xasprintf("%s/%s", row->read_model, row->id);
        rj_error_t err;
        if (rj_kafka_produce(wk_worker_producer(w), d->readmodels_topic, key, strlen(key), json,
                             strlen(json), NULL, NULL, &err) != RJ_OK)
            rj_warn("projector", "could not produce read-model change: %s read_model=%s id=%s",
                    err.msg, row->read_model, row->id);
        free(key);
        bufs[n_bufs++] = json;
        /* Booster does not notify subscribers of deletions. */
        if (kind == PROJ_WRITE_UPSERT) {
            char *channel = rj_xasprintf("%s:rm:%s", wk_worker_app_name(w), row->read_model);
            bufs[n_bufs++] = channel;
            notes[n_notes++] =
                (rj_redis_msg_t){.channel = channel, .msg = json, .len = strlen(json)};
        }
    }
    rj_metric_add(d->m_writes, (int64_t)n_written);

    rj_error_t err;
    rj_error_clear(&err);
    if (n_notes > 0) {
        if (d->redis == NULL)
            d->redis = rj_redis_connect(d->redis_url, &err);
        if (d->redis == NULL || rj_redis_publish_many(d->redis, notes, n_notes, &err) != RJ_OK) {
            rj_metric_add(d->m_notify_failed, (int64_t)n_notes);
            rj_warn("projector", "could not notify read-model changes: %s count=%zu", err.msg,
                    n_notes);
        }
    }
    if (n_written > 0 &&
        rj_kafka_producer_flush(wk_worker_producer(w), PROJ_PUBLISH_FLUSH_MS, &err) != RJ_OK)
        rj_warn("projector", "could not deliver read-model changes: %s", err.msg);

    for (size_t i = 0; i < n_bufs; i++)
        free(bufs[i]);
    free(bufs);
    free(notes);
}

static void
proj_release(void *opaque, const wk_batch_t *b)
{
    proj_daemon_t *d = opaque;
    d->gaps_filled = false;
    proj_batch_deinit(&d->batch);
}

int
main(int argc, char **argv)
{
    proj_conf_t conf = {0};
    rj_proc_init_daemon(DAEMON, proj_opts, PROJ_NOPTS, &conf, &conf.common, argc, argv,
                        "Projects <app>.snapshots into read models (PostgreSQL rm_* tables, "
                        "<app>.readmodels and Redis notifications).");
    rj_error_t err = {0};

    int rc = 1;
    wk_worker_t *w = NULL;
    proj_daemon_t d = {0};
    proj_batch_init(&d.batch);
    d.redis_url = conf.common.redis_url;
    d.query_max_matches = conf.query_max_matches > 0 ? (size_t)conf.query_max_matches : 1;

    if (conf.common.app == NULL) {
        rj_fatal("main", "--app is required (the application library with the projections)");
        goto out;
    }
    d.app = rj_app_load(conf.common.app, &err);
    if (d.app == NULL) {
        rj_fatal("main", "could not load application: %s path=%s", err.msg, conf.common.app);
        goto out;
    }
    const char *app_name =
        conf.common.app_name != NULL ? conf.common.app_name : rj_app_name_get(d.app);

    if (conf.replay != NULL && *conf.replay != '\0') {
        /* One-shot: no health endpoint, consumer or Redis subscription of its own. */
        const proj_replay_opts_t ro = {
            .read_model = conf.replay,
            .app_name = app_name,
            .pg_url = conf.common.pg_url,
            .kafka_brokers = conf.common.kafka_brokers,
            .redis_url = conf.common.redis_url,
            .query_max_matches = d.query_max_matches,
            .wait_ms = conf.replay_wait_ms > 0 ? conf.replay_wait_ms : 0,
        };
        rc = proj_replay_main(d.app, &ro);
        goto out;
    }

    if (rj_health_start(conf.common.health_port, &err) != RJ_OK) {
        rj_fatal("main", "could not start health endpoint: %s", err.msg);
        goto out;
    }
    d.m_entities = rj_metric_counter("ramjet_projector_entities_total", "entity states projected");
    d.m_writes = rj_metric_counter("ramjet_projector_writes_total",
                                   "read-model rows written (upserts and deletes)");
    d.m_conflicts =
        rj_metric_counter("ramjet_projector_conflicts_total",
                          "batches retried because a read-model row changed under them");
    d.m_gap_filled = rj_metric_counter("ramjet_projector_gap_filled_total",
                                       "entities projected from the snapshots table after an "
                                       "offset gap");
    d.m_notify_failed = rj_metric_counter("ramjet_projector_notify_failures_total",
                                          "read-model notifications that could not be published");

    static const char *const outs[] = {"readmodels"};
    const wk_config_t wc = {
        .daemon = DAEMON,
        .group = "ramjet-projector",
        .app_name = app_name,
        .topic_suffix = "snapshots",
        .out_suffixes = outs,
        .n_out = 1,
        .common = &conf.common,
        .opts = conf.loop,
    };
    w = wk_worker_new(&wc, &err);
    if (w == NULL)
        goto fail;
    d.readmodels_topic = wk_worker_topic(w, "readmodels");

    d.n_rms = rj_app_read_model_count(d.app);
    d.rms = rj_xcalloc(d.n_rms + 1, sizeof *d.rms);
    for (size_t i = 0; i < d.n_rms; i++)
        proj_rm_init(&d.rms[i], rj_app_read_model_at(d.app, i), i, wk_worker_pg(w), app_name);
    if (ensure_tables(&d, w, &err) != RJ_OK)
        goto fail;

    /* Redis only carries notifications, but a projector that starts without it would
     * silently starve every subscription; wait for it like for the other dependencies. */
    rj_backoff_t bo;
    rj_backoff_init(&bo, conf.loop.stall_timeout_ms);
    while ((d.redis = rj_redis_connect(d.redis_url, &err)) == NULL) {
        rj_warn("redis", "could not connect, retrying: %s", err.msg);
        if (!rj_backoff_wait(&bo))
            goto fail;
    }

    const wk_ops_t ops = {
        .prepare = proj_prepare,
        .write = proj_write,
        .publish = proj_publish,
        .release = proj_release,
    };
    rc = wk_worker_run(w, &ops, &d);
    goto out;

fail:
    if (rj_proc_stopping())
        rc = 0;
    else
        rj_fatal("main", "could not start: %s", err.msg);
out:
    wk_worker_free(w);
    proj_batch_deinit(&d.batch);
    for (size_t i = 0; i < d.n_rms; i++)
        proj_rm_deinit(&d.rms[i]);
    free(d.rms);
    free(d.readmodels_topic);
    rj_redis_free(d.redis);
    rj_app_free(d.app);
    rj_health_stop();
    rj_proc_set_state(RJ_PROC_STOPPED);
    rj_metrics_free_all();
    rj_config_deinit(proj_opts, PROJ_NOPTS, &conf);
    return rc;
}
