/*
 * projector/replay.c - rebuilds one read model from the event store and swaps it in
 * (`ramjet replay <ReadModel>`, i.e. `ramjet-projector --replay <ReadModel>`).
 *
 * Target: exactly what the live projector has projected. projected_entities records, per
 * entity, the version of the last snapshot projected (p_e); the rebuild folds each entity's
 * events 1..p_e with the app's reducers and runs the read model's projections on every
 * state on the way (rebuild.h says why every state, in event order). Entities the
 * projector has not reached yet are left to it; so are versions above p_e.
 *
 * All in one PostgreSQL transaction, so a failure anywhere changes nothing:
 *
 *   1. pass 1, without any lock: stream the events up to the p_e read now and fold them.
 *      This is nearly all the work, and the live projectors carry on meanwhile.
 *   2. take the read model's advisory lock exclusively (proj_rm_lock_key; session level,
 *      so it can be let go while waiting). Projector batches that write the read model
 *      take it shared, with pg_try_advisory_xact_lock_shared (main.c), so this waits for
 *      the batches in flight and, from then on, batches that would write the read model
 *      fail their attempt and retry with the worker's backoff. Nobody else writes rm_*.
 *   3. check that the event store holds every version up to the p_e read *now*; the
 *      event-store writer may lag the reducer, which the projector follows. If not, let
 *      the lock go, wait and retry, for up to --replay-wait-ms, then fail.
 *   4. pass 2, under the lock: fold the events pass 1 did not (above its p_e, or past a
 *      gap); the p_e read now are final until the commit.
 *   5. create the fresh table (LIKE the live one INCLUDING ALL: same columns, defaults,
 *      constraints and indexes, whatever they are) and fill it; each row's version is the
 *      live row's + 1 (1 for a new row), so no version ever goes backwards.
 *   6. swap: drop the live table, rename the fresh one into its place and its indexes to
 *      the live ones' names; commit; let the lock go.
 *
 * Readers are never blocked by steps 1-5 and never see an empty read model: until the
 * commit they read the old table, after it the new one. Step 6's DROP and RENAME take an
 * ACCESS EXCLUSIVE lock, so a query arriving during the swap waits for the commit (a few
 * catalog updates), then PostgreSQL resolves the name again and reads the new table.
 * Prepared statements are re-planned against it the same way.
 *
 * After the commit, rows whose value changed (and rows that are gone) are announced like
 * the projector's own writes, at most once: on <app>.readmodels, and changed rows on Redis
 * for subscriptions, so a replay that corrects a read model also corrects what clients
 * hold. Unchanged rows are not announced; their version still moves up by one.
 *
 * Deliberately not here: rebuilding several read models in one run (run it once per read
 * model; each takes its own lock), and bounding memory: the rebuilt read model and the
 * folded entity states are held in memory until the swap.
 */
#include "replay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "pg/pg.h"
#include "proc/proc.h"
#include "projector/rebuild.h"
#include "redis/redis.h"
#include "json/envelope.h"

#define REPLAY_LOG "replay"
/* Rows per INSERT into the fresh table. */
#define REPLAY_INSERT_ROWS 1000
/* Between two checks of the event store while it is behind. */
#define REPLAY_LAG_SLEEP_MS 200
/* How long the changed rows' envelopes may take to be acknowledged. */
#define REPLAY_FLUSH_MS 5000

/*
 * The events of the entity types that project into the read model, each entity's from the
 * version after the one already folded ($2..$4; none: 0) up to its projected version, in
 * the order they happened. created_at orders entities against each other; its running
 * maximum per entity (with the version) keeps one entity's events in version order even if
 * two command processors' clocks disagreed about them.
 */
static const char replay_events_sql[] =
    "SELECT e.entity_type, e.entity_id, e.version, e.type, e.value::text"
    " FROM projected_entities p"
    " LEFT JOIN unnest($2::text[], $3::text[], $4::bigint[]) AS d(entity_type, entity_id, version)"
    "   ON d.entity_type = p.entity_type AND d.entity_id = p.entity_id"
    " JOIN events e ON e.entity_type = p.entity_type AND e.entity_id = p.entity_id"
    "   AND e.version > coalesce(d.version, 0) AND e.version <= p.version"
    " WHERE p.entity_type = ANY($1::text[])"
    " ORDER BY max(e.created_at) OVER (PARTITION BY e.entity_type, e.entity_id"
    "   ORDER BY e.version), e.entity_type, e.entity_id, e.version";

/* One entity whose projected versions the event store does not hold yet, if any. */
static const char replay_lag_sql[] =
    "SELECT p.entity_type, p.entity_id, p.version, count(e.version)"
    " FROM projected_entities p"
    " LEFT JOIN unnest($2::text[], $3::text[], $4::bigint[]) AS d(entity_type, entity_id, version)"
    "   ON d.entity_type = p.entity_type AND d.entity_id = p.entity_id"
    " LEFT JOIN events e ON e.entity_type = p.entity_type AND e.entity_id = p.entity_id"
    "   AND e.version > coalesce(d.version, 0) AND e.version <= p.version"
    " WHERE p.entity_type = ANY($1::text[]) AND p.version > coalesce(d.version, 0)"
    " GROUP BY p.entity_type, p.entity_id, p.version, d.version"
    " HAVING count(e.version) < p.version - coalesce(d.version, 0)"
    " LIMIT 1";

/*
 * Pairs each index of the fresh table ($2) with the live table's ($1) index it copies:
 * same kind and the same definition after "USING" (the part that names neither the index
 * nor the table); row_number pairs identical definitions in name order.
 */
static const char replay_index_pairs_sql[] =
    "WITH ix AS ("
    "  SELECT i.indrelid, c.relname, i.indisprimary, i.indisunique,"
    "         substring(pg_get_indexdef(i.indexrelid) from ' USING .*') AS def"
    "  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    "  WHERE i.indrelid IN ($1::regclass, $2::regclass)),"
    " n AS (SELECT *, row_number() OVER (PARTITION BY indrelid, indisprimary, indisunique, def"
    "       ORDER BY relname) AS k FROM ix)"
    " SELECT f.relname, l.relname FROM n l JOIN n f"
    "   ON l.indisprimary = f.indisprimary AND l.indisunique = f.indisunique"
    "   AND l.def = f.def AND l.k = f.k"
    " WHERE l.indrelid = $1::regclass AND f.indrelid = $2::regclass";

/* A change to announce after the commit. */
typedef struct replay_note {
    char *id;        /* read model id */
    char *seq;       /* sequence key ("" when unsequenced) */
    int64_t version; /* the row's new version (deleted: the old one + 1) */
    json_t *value;   /* the new value, or NULL for a deleted row */
} replay_note_t;

/* One run. */
typedef struct replay {
    const rj_app_t *app;           /* borrowed */
    const proj_replay_opts_t *o;   /* borrowed */
    const rj_app_read_model_t *rm; /* the read model */
    rj_pg_t *pg;                   /* the replay's connection */
    proj_rebuild_t rb;             /* the states and the rebuilt rows */
    const char **types;            /* entity types that project into rm; borrowed names */
    size_t n_types;                /* number of types */
    char *types_param;             /* types as an array literal */
    int64_t key;                   /* the advisory-lock key */
    char key_text[24];             /* key in decimal, the statements' parameter */
    bool locked;                   /* the session holds the advisory lock */
    char *table;                   /* live table, quoted */
    char *fresh;                   /* fresh table, quoted */
    uint64_t n_gaps;               /* events pass 1 left to pass 2 (a gap before them) */
    long long rows_before;         /* rows of the live table at the swap */
    size_t rows_after;             /* rows of the fresh table */
    replay_note_t *notes;          /* changes to announce */
    size_t n_notes;                /* number of notes */
    size_t n_deleted;              /* of which deleted rows */
} replay_t;

/* ---- passes ---- */

static rj_status_t
on_event(void *opaque, const PGresult *res, int r, rj_error_t *err)
{
    replay_t *rp = opaque;
    if (rj_proc_stopping())
        return rj_error_set(err, RJ_ETIMEOUT, "could not rebuild read model: stop requested");
    json_error_t jerr;
    json_t *value = rj_json_loads(PQgetvalue(res, r, 4), JSON_DECODE_ANY, &jerr);
    if (value == NULL)
        return rj_error_set(err, RJ_EINTERNAL, "could not parse stored event: %s entity=%s/%s",
                            jerr.text, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
    proj_rb_outcome_t out =
        proj_rebuild_event(&rp->rb, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                           strtoll(PQgetvalue(res, r, 2), NULL, 10), PQgetvalue(res, r, 3), value);
    json_decref(value);
    if (out == PROJ_RB_GAP)
        rp->n_gaps++;
    return RJ_OK;
}

/* The per-entity versions folded so far, as the three array parameters $2..$4. */
static void
done_params(const replay_t *rp, char *params[3])
{
    size_t n = rp->rb.n_entities;
    const char **types = rj_xmalloc((n + 1) * sizeof *types);
    const char **ids = rj_xmalloc((n + 1) * sizeof *ids);
    const char **versions = rj_xmalloc((n + 1) * sizeof *versions);
    char **texts = rj_xmalloc((n + 1) * sizeof *texts);
    for (size_t i = 0; i < n; i++) {
        const proj_rb_entity_t *e = &rp->rb.entities[i];
        types[i] = e->type;
        ids[i] = e->id;
        versions[i] = texts[i] = rj_xasprintf("%" PRId64, e->version);
    }
    params[0] = rj_pg_array_literal(types, n);
    params[1] = rj_pg_array_literal(ids, n);
    params[2] = rj_pg_array_literal(versions, n);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(versions);
    free(ids);
    free(types);
}

/* Runs @p sql with the types and the folded versions; rows to @p fn (or the result out). */
static rj_status_t
exec_with_done(replay_t *rp, const char *sql, rj_pg_row_fn fn, PGresult **res, rj_error_t *err)
{
    char *done[3];
    done_params(rp, done);
    const char *params[] = {rp->types_param, done[0], done[1], done[2]};
    rj_status_t st = fn != NULL ? rj_pg_exec_stream(rp->pg, sql, 4, params, fn, rp, err)
                                : rj_pg_exec(rp->pg, sql, 4, params, res, err);
    for (int i = 0; i < 3; i++)
        free(done[i]);
    return st;
}

static rj_status_t
lock_exec(replay_t *rp, const char *fn, rj_error_t *err)
{
    char *sql = rj_xasprintf("SELECT %s($1::bigint)", fn);
    const char *params[] = {rp->key_text};
    rj_status_t st = rj_pg_exec(rp->pg, sql, 1, params, NULL, err);
    free(sql);
    return st;
}

/*
 * Steps 2-3: takes the lock once the event store holds every projected version not folded
 * yet; lets it go and waits while it does not, up to --replay-wait-ms.
 */
static rj_status_t
lock_when_complete(replay_t *rp, int64_t *lock_at, rj_error_t *err)
{
    int64_t deadline = rj_mono_us() + (int64_t)rp->o->wait_ms * 1000;
    for (;;) {
        rj_status_t st = lock_exec(rp, "pg_advisory_lock", err);
        if (st != RJ_OK)
            return st;
        rp->locked = true;
        *lock_at = rj_mono_us();
        PGresult *res = NULL;
        if ((st = exec_with_done(rp, replay_lag_sql, NULL, &res, err)) != RJ_OK)
            return st;
        if (PQntuples(res) == 0) {
            PQclear(res);
            return RJ_OK;
        }
        char lag[512];
        snprintf(lag, sizeof lag, "entity=%s/%s projected_version=%s", PQgetvalue(res, 0, 0),
                 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
        PQclear(res);
        if ((st = lock_exec(rp, "pg_advisory_unlock", err)) != RJ_OK)
            return st;
        rp->locked = false;
        if (rj_mono_us() > deadline)
            return rj_error_set(err, RJ_ETIMEOUT,
                                "the event store is behind the projector: it lacks events the "
                                "projector has projected, after waiting %d ms (--replay-wait-ms; "
                                "is ramjet-eventstore running?) %s",
                                rp->o->wait_ms, lag);
        rj_info(REPLAY_LOG, "waiting for the event store to catch up %s", lag);
        if (rj_proc_sleep(REPLAY_LAG_SLEEP_MS))
            return rj_error_set(err, RJ_ETIMEOUT, "could not rebuild read model: stop requested");
    }
}

/* ---- the fresh table ---- */

/* Step 5: the fresh table, filled in (id, seq) order, versions above the live ones. */
static rj_status_t
fill_fresh(replay_t *rp, rj_error_t *err)
{
    char *sql = rj_xasprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL)", rp->fresh, rp->table);
    rj_status_t st = rj_pg_exec(rp->pg, sql, 0, NULL, NULL, err);
    free(sql);
    if (st != RJ_OK)
        return st;

    const proj_batch_t *rows = &rp->rb.rows;
    const proj_row_t **sorted = rj_xmalloc((rows->n_rows + 1) * sizeof *sorted);
    size_t n = 0;
    for (size_t r = 0; r < rows->n_rows; r++)
        if (rows->rows[r].value != NULL)
            sorted[n++] = &rows->rows[r];
    qsort(sorted, n, sizeof *sorted, proj_row_ptr_cmp);
    rp->rows_after = n;

    char *insert =
        rj_xasprintf("INSERT INTO %s (id, seq, version, value, updated_at)"
                     " SELECT k.id, k.seq, coalesce(o.version, 0) + 1, k.value, now()"
                     " FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS k(id, seq, value)"
                     " LEFT JOIN %s o ON o.id = k.id AND o.seq = k.seq",
                     rp->fresh, rp->table);
    const char **cols[3];
    for (int c = 0; c < 3; c++)
        cols[c] = rj_xmalloc(REPLAY_INSERT_ROWS * sizeof *cols[c]);
    char **values = rj_xmalloc(REPLAY_INSERT_ROWS * sizeof *values);
    for (size_t from = 0; from < n && st == RJ_OK; from += REPLAY_INSERT_ROWS) {
        size_t k = n - from < REPLAY_INSERT_ROWS ? n - from : REPLAY_INSERT_ROWS;
        for (size_t i = 0; i < k; i++) {
            cols[0][i] = sorted[from + i]->id;
            cols[1][i] = sorted[from + i]->seq;
            cols[2][i] = values[i] = rj_json_dumps(sorted[from + i]->value);
        }
        char *params[3];
        for (int c = 0; c < 3; c++)
            params[c] = rj_pg_array_literal(cols[c], k);
        st = rj_pg_exec(rp->pg, insert, 3, (const char *const *)params, NULL, err);
        for (int c = 0; c < 3; c++)
            free(params[c]);
        for (size_t i = 0; i < k; i++)
            free(values[i]);
        if (st == RJ_OK && rj_proc_stopping())
            st = rj_error_set(err, RJ_ETIMEOUT, "could not rebuild read model: stop requested");
    }
    free(values);
    for (int c = 0; c < 3; c++)
        free(cols[c]);
    free(insert);
    free(sorted);
    return st;
}

static rj_status_t
on_note(void *opaque, const PGresult *res, int r, rj_error_t *err)
{
    replay_t *rp = opaque;
    json_t *value = NULL;
    if (!PQgetisnull(res, r, 3)) {
        json_error_t jerr;
        value = rj_json_loads(PQgetvalue(res, r, 3), JSON_DECODE_ANY, &jerr);
        if (value == NULL)
            return rj_error_set(err, RJ_EINTERNAL, "could not parse rebuilt read model: %s id=%s",
                                jerr.text, PQgetvalue(res, r, 0));
    } else {
        rp->n_deleted++;
    }
    rp->notes = rj_xrealloc(rp->notes, (rp->n_notes + 1) * sizeof *rp->notes);
    rp->notes[rp->n_notes++] = (replay_note_t){
        .id = rj_xstrdup(PQgetvalue(res, r, 0)),
        .seq = rj_xstrdup(PQgetvalue(res, r, 1)),
        .version = strtoll(PQgetvalue(res, r, 2), NULL, 10),
        .value = value,
    };
    return RJ_OK;
}

/* The rows the swap changes: new or changed values, and rows that disappear. */
static rj_status_t
collect_changes(replay_t *rp, rj_error_t *err)
{
    char *sql =
        rj_xasprintf("SELECT f.id, f.seq, f.version, f.value::text FROM %s f LEFT JOIN %s o"
                     "   ON o.id = f.id AND o.seq = f.seq WHERE o.value IS DISTINCT FROM f.value"
                     " UNION ALL"
                     " SELECT o.id, o.seq, o.version + 1, NULL FROM %s o"
                     "   WHERE NOT EXISTS (SELECT 1 FROM %s f WHERE f.id = o.id AND f.seq = o.seq)",
                     rp->fresh, rp->table, rp->table, rp->fresh);
    rj_status_t st = rj_pg_exec_stream(rp->pg, sql, 0, NULL, on_note, rp, err);
    free(sql);
    if (st != RJ_OK)
        return st;
    sql = rj_xasprintf("SELECT count(*) FROM %s", rp->table);
    PGresult *res = NULL;
    st = rj_pg_exec(rp->pg, sql, 0, NULL, &res, err);
    free(sql);
    if (st == RJ_OK) {
        rp->rows_before = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    return st;
}

/* Step 6: the fresh table and its indexes take the live ones' places. */
static rj_status_t
swap(replay_t *rp, rj_error_t *err)
{
    PGresult *pairs = NULL;
    const char *params[] = {rp->table, rp->fresh};
    rj_status_t st = rj_pg_exec(rp->pg, replay_index_pairs_sql, 2, params, &pairs, err);
    if (st != RJ_OK)
        return st;
    /* The live table's name unquoted: RENAME TO takes a bare identifier, which we quote. */
    rj_buf_t sql;
    rj_buf_init(&sql);
    rj_buf_printf(&sql, "DROP TABLE %s; ALTER TABLE %s RENAME TO %s;", rp->table, rp->fresh,
                  rp->table);
    for (int r = 0; r < PQntuples(pairs); r++) {
        char *from = rj_pg_quote_ident(rp->pg, PQgetvalue(pairs, r, 0));
        char *to = rj_pg_quote_ident(rp->pg, PQgetvalue(pairs, r, 1));
        rj_buf_printf(&sql, "ALTER INDEX %s RENAME TO %s;", from, to);
        free(from);
        free(to);
    }
    PQclear(pairs);
    st = rj_pg_exec(rp->pg, sql.data, 0, NULL, NULL, err);
    rj_buf_deinit(&sql);
    return st;
}

/* ---- after the commit ---- */

/* Announces the changes as the projector announces its writes: at most once. */
static void
publish(replay_t *rp)
{
    if (rp->n_notes == 0)
        return;
    char *topic = rj_xasprintf("%s.readmodels", rp->o->app_name);
    char *channel = rj_xasprintf("%s:rm:%s", rp->o->app_name, rp->rm->name);
    char **jsons = rj_xcalloc(rp->n_notes, sizeof *jsons);
    rj_redis_msg_t *msgs = rj_xcalloc(rp->n_notes, sizeof *msgs);
    size_t n_msgs = 0;
    for (size_t i = 0; i < rp->n_notes; i++) {
        const replay_note_t *n = &rp->notes[i];
        const rj_env_readmodel_t env = {
            .type = rp->rm->name,
            .id = n->id,
            .sequence_key = rp->rm->sequenced_by != NULL ? n->seq : NULL,
            .version = n->version,
            .value = n->value,
            .deleted = n->value == NULL,
        };
        jsons[i] = rj_env_readmodel_encode(&env);
        /* Booster does not notify subscribers of deletions. */
        if (n->value != NULL)
            msgs[n_msgs++] =
                (rj_redis_msg_t){.channel = channel, .msg = jsons[i], .len = strlen(jsons[i])};
    }

    rj_error_t err;
    rj_error_clear(&err);
    rj_kafka_producer_t *p = rj_kafka_producer_new(rp->o->kafka_brokers, "ramjet-replay", &err);
    for (size_t i = 0; p != NULL && i < rp->n_notes; i++) {
        char *key = rj_xasprintf("%s/%s", rp->rm->name, rp->notes[i].id);
        if (rj_kafka_produce(p, topic, key, strlen(key), jsons[i], strlen(jsons[i]), NULL, NULL,
                             &err) != RJ_OK)
            rj_warn(REPLAY_LOG, "could not produce read-model change: %s read_model=%s id=%s",
                    err.msg, rp->rm->name, rp->notes[i].id);
        free(key);
    }
    if (p == NULL || rj_kafka_producer_flush(p, REPLAY_FLUSH_MS, &err) != RJ_OK)
        rj_warn(REPLAY_LOG, "could not deliver read-model changes to %s: %s", topic, err.msg);
    rj_kafka_producer_free(p, 0);

    if (n_msgs > 0) {
        rj_error_clear(&err);
        rj_redis_t *redis = rj_redis_connect(rp->o->redis_url, &err);
        if (redis == NULL || rj_redis_publish_many(redis, msgs, n_msgs, &err) != RJ_OK)
            rj_warn(REPLAY_LOG, "could not notify read-model changes: %s count=%zu", err.msg,
                    n_msgs);
        rj_redis_free(redis);
    }
    for (size_t i = 0; i < rp->n_notes; i++)
        free(jsons[i]);
    free(jsons);
    free(msgs);
    free(channel);
    free(topic);
}

/* ---- the run ---- */

static void
print_declared(const rj_app_t *app)
{
    fprintf(stderr, "declared read models:");
    for (size_t i = 0; i < rj_app_read_model_count(app); i++)
        fprintf(stderr, " %s", rj_app_read_model_at(app, i)->name);
    fprintf(stderr, "\n");
}

static rj_status_t
replay_run(replay_t *rp, int64_t *lock_us, rj_error_t *err)
{
    const proj_replay_opts_t *o = rp->o;
    rp->pg = rj_pg_connect_retry(o->pg_url, o->app_name, 10000, err);
    if (rp->pg == NULL)
        return err->status;
    rj_status_t st = rj_pg_migrate(rp->pg, err);
    if (st == RJ_OK)
        st = rj_pg_ensure_read_model_table(rp->pg, rp->rm->name, err);
    if (st != RJ_OK)
        return st;
    rp->table = rj_pg_read_model_table(rp->pg, rp->rm->name);
    char *fresh = rj_xasprintf("ramjet_replay_%016" PRIx64, (uint64_t)rp->key);
    rp->fresh = rj_pg_quote_ident(rp->pg, fresh);
    free(fresh);

    int64_t lock_at = 0;
    if ((st = rj_pg_begin(rp->pg, err)) == RJ_OK)
        st = exec_with_done(rp, replay_events_sql, on_event, NULL, err); /* pass 1 */
    rj_info(REPLAY_LOG, "pass 1 done read_model=%s entities=%zu events=%" PRIu64, rp->rm->name,
            rp->rb.n_entities, rp->rb.n_events);
    if (st == RJ_OK)
        st = lock_when_complete(rp, &lock_at, err);
    uint64_t gaps_before = rp->n_gaps;
    if (st == RJ_OK)
        st = exec_with_done(rp, replay_events_sql, on_event, NULL, err); /* pass 2 */
    if (st == RJ_OK && rp->n_gaps != gaps_before)
        st = rj_error_set(err, RJ_EINTERNAL,
                          "could not rebuild read model: events missing under the lock, which "
                          "the check before it should have found");
    if (st == RJ_OK)
        st = fill_fresh(rp, err);
    if (st == RJ_OK)
        st = collect_changes(rp, err);
    if (st == RJ_OK)
        st = swap(rp, err);
    if (st == RJ_OK)
        st = rj_pg_commit(rp->pg, err);
    if (st != RJ_OK && rj_pg_in_transaction(rp->pg))
        rj_pg_rollback(rp->pg);
    if (rp->locked) {
        rj_error_t e;
        if (lock_exec(rp, "pg_advisory_unlock", &e) != RJ_OK)
            rj_warn(REPLAY_LOG,
                    "could not release the read model's lock (it goes with the "
                    "connection): %s",
                    e.msg);
        rp->locked = false;
        *lock_us = rj_mono_us() - lock_at;
    }
    return st;
}

int
proj_replay_main(const rj_app_t *app, const proj_replay_opts_t *o)
{
    int64_t t0 = rj_mono_us();
    const rj_app_read_model_t *rm = rj_app_read_model(app, o->read_model);
    if (rm == NULL) {
        fprintf(stderr, "ramjet replay: unknown read model '%s'\n", o->read_model);
        print_declared(app);
        return 2;
    }
    replay_t rp = {.app = app, .o = o, .rm = rm};
    proj_rebuild_init(&rp.rb, app, rm, o->query_max_matches);
    rp.key = proj_rm_lock_key(o->app_name, rm->name);
    snprintf(rp.key_text, sizeof rp.key_text, "%" PRId64, rp.key);
    rp.types = rj_xmalloc((rj_app_entity_count(app) + 1) * sizeof *rp.types);
    for (size_t i = 0; i < rj_app_entity_count(app); i++)
        if (proj_rebuild_projects(&rp.rb, rj_app_entity_at(app, i)))
            rp.types[rp.n_types++] = rj_app_entity_at(app, i)->name;
    rp.types_param = rj_pg_array_literal(rp.types, rp.n_types);

    rj_error_t err;
    rj_error_clear(&err);
    int64_t lock_us = 0;
    rj_status_t st = replay_run(&rp, &lock_us, &err);
    int rc = 0;
    if (st != RJ_OK) {
        fprintf(stderr, "ramjet replay: could not rebuild %s, nothing was changed: %s\n", rm->name,
                err.msg);
        rc = 1;
    } else {
        publish(&rp);
        printf("rebuilt %s: %lld rows before, %zu after (%zu changed, %zu removed); "
               "%zu entities folded from %" PRIu64 " events; %" PRIu64
               " projection errors; lock held %" PRId64 " ms; %" PRId64 " ms in all\n",
               rm->name, rp.rows_before, rp.rows_after, rp.n_notes - rp.n_deleted, rp.n_deleted,
               rp.rb.n_entities, rp.rb.n_events, rp.rb.n_projection_errors, lock_us / 1000,
               (rj_mono_us() - t0) / 1000);
        fflush(stdout);
    }

    for (size_t i = 0; i < rp.n_notes; i++) {
        free(rp.notes[i].id);
        free(rp.notes[i].seq);
        json_decref(rp.notes[i].value);
    }
    free(rp.notes);
    free(rp.table);
    free(rp.fresh);
    free(rp.types_param);
    free(rp.types);
    proj_rebuild_deinit(&rp.rb);
    rj_pg_free(rp.pg);
    return rc;
}
