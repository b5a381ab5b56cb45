/*
 * entity.c - reading an entity's current state (see entity.h for where its events are
 * and why one statement reads them).
 */
#include "entity/entity.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "json/envelope.h"
#include "log/log.h"
#include "readside/readside.h"

/* Log module (RAMJET_LOG_DEBUG=entity). */
#define ENTITY_LOG "entity"

/*
 * $1 entity type, $2 entity id. One row: head H, snapshot version S, the snapshot's value,
 * and the events of versions S+1..H found, as a JSON array in version order.
 *
 * The outbox is the fallback, and only consulted when `events` lacks some of S+1..H: the
 * condition on `pending` refers to nothing of its own rows, so PostgreSQL evaluates it
 * once (a one-time filter) and skips the scan when the event store is caught up. When it
 * does look, the containment test uses command_outbox_events_idx (GIN, jsonb_path_ops),
 * and the element filter then picks this entity's events out of each matching row (a
 * command may register events of several entities).
 *
 * H is the larger of the claimed head and the snapshot's version, so an entity whose
 * head row is missing (data loaded from elsewhere) still reads as its snapshot.
 */
static const char ENTITY_READ_SQL[] =
    "WITH snap AS ("
    "  SELECT version, value FROM snapshots WHERE entity_type = $1 AND entity_id = $2"
    "), bounds AS ("
    "  SELECT coalesce((SELECT version FROM snap), 0) AS s,"
    "         coalesce(greatest((SELECT version FROM entity_heads"
    "                            WHERE entity_type = $1 AND entity_id = $2),"
    "                           (SELECT version FROM snap)), 0) AS h"
    "), stored AS ("
    "  SELECT version, type, value FROM events"
    "  WHERE entity_type = $1 AND entity_id = $2"
    "    AND version > (SELECT s FROM bounds) AND version <= (SELECT h FROM bounds)"
    "), pending AS ("
    "  SELECT (x->>'version')::bigint AS version, x->>'type' AS type, x->'value' AS value"
    "  FROM command_outbox o, jsonb_array_elements(o.events) AS x"
    "  WHERE (SELECT count(*) FROM stored) < (SELECT h - s FROM bounds)"
    "    AND o.events @> jsonb_build_array(jsonb_build_object('entity', $1::text,"
    "                                                         'entityId', $2::text))"
    "    AND x->>'entity' = $1 AND x->>'entityId' = $2"
    ")"
    "SELECT b.h, b.s, (SELECT value FROM snap)::text,"
    "  (SELECT coalesce(json_agg(json_build_object('version', u.version, 'type', u.type,"
    "                                              'value', u.value) ORDER BY u.version),"
    "                   '[]')"
    "   FROM (SELECT version, type, value FROM stored"
    "         UNION ALL"
    "         SELECT version, type, value FROM pending p"
    "         WHERE p.version > b.s AND p.version <= b.h"
    "           AND NOT EXISTS (SELECT 1 FROM stored WHERE stored.version = p.version)) u"
    "  )::text "
    "FROM bounds b";

/*
 * $1 entity type, $2 entity id, $3..$4 the versions wanted. One row per version found:
 * the version and the whole event envelope as text, in version order.
 *
 * The envelope is rebuilt from `events` field by field, with createdAt formatted as the
 * envelopes carry it (ISO-8601, milliseconds, UTC: what the event-store writer stored, so
 * the text round-trips exactly); an outbox element already is the envelope the processor
 * produced. As in ENTITY_READ_SQL, the outbox is looked at only when `events` lacks some
 * of the range (a one-time filter), through the GIN index, and `events` wins when a
 * version is in both (the writer copied it and the row is not pruned yet).
 */
static const char ENTITY_EVENTS_SQL[] =
    "WITH stored AS ("
    "  SELECT version, json_build_object('eventId', event_id, 'type', type,"
    "    'entity', entity_type, 'entityId', entity_id, 'version', version,"
    "    'requestId', coalesce(request_id, ''),"
    "    'createdAt', to_char(created_at AT TIME ZONE 'UTC',"
    "                         'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
    "    'value', value, 'currentUser', \"current_user\")::text AS env"
    "  FROM events"
    "  WHERE entity_type = $1 AND entity_id = $2 AND version BETWEEN $3::bigint AND $4::bigint"
    "), pending AS ("
    "  SELECT (x->>'version')::bigint AS version, x::text AS env"
    "  FROM command_outbox o, jsonb_array_elements(o.events) AS x"
    "  WHERE (SELECT count(*) FROM stored) < $4::bigint - $3::bigint + 1"
    "    AND o.events @> jsonb_build_array(jsonb_build_object('entity', $1::text,"
    "                                                         'entityId', $2::text))"
    "    AND x->>'entity' = $1 AND x->>'entityId' = $2"
    "    AND (x->>'version')::bigint BETWEEN $3::bigint AND $4::bigint"
    ")"
    "SELECT version, env FROM stored"
    " UNION ALL "
    "SELECT version, env FROM pending p"
    " WHERE NOT EXISTS (SELECT 1 FROM stored WHERE stored.version = p.version)"
    " ORDER BY 1";

void
rj_entity_events_deinit(rj_entity_events_t *evs)
{
    for (size_t i = 0; i < evs->n; i++)
        rj_env_event_deinit(&evs->v[i]);
    free(evs->v);
    *evs = (rj_entity_events_t){0};
}

rj_status_t
rj_entity_query_events(rj_pg_t *pg, const char *entity, const char *id, long long from,
                       long long to, rj_entity_events_t *out, rj_error_t *err)
{
    *out = (rj_entity_events_t){0};
    if (to < from)
        return RJ_OK;
    char a_from[24], a_to[24];
    snprintf(a_from, sizeof a_from, "%lld", from);
    snprintf(a_to, sizeof a_to, "%lld", to);
    const char *params[] = {entity, id, a_from, a_to};
    PGresult *res = NULL;
    rj_status_t st =
        rj_pg_exec_prepared(pg, "rj_entity_events", ENTITY_EVENTS_SQL, 4, params, &res, err);
    if (st != RJ_OK)
        return st;
    RJ_ASSERT(PQnfields(res) == 2);

    int rows = PQntuples(res);
    out->v = rows > 0 ? rj_xcalloc((size_t)rows, sizeof *out->v) : NULL;
    long long prev = 0;
    for (int r = 0; r < rows; r++) {
        long long v = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        if (v == prev)
            continue; /* two outbox rows claiming one version: impossible, keep the first */
        rj_error_t e;
        rj_error_clear(&e);
        rj_env_event_t *ev = &out->v[out->n];
        const char *text = PQgetvalue(res, r, 1);
        if (rj_env_event_decode(text, strlen(text), ev, &e) != RJ_OK) {
            rj_error(ENTITY_LOG, "could not read stored event: %s entity=%s/%s version=%lld", e.msg,
                     entity, id, v);
            continue;
        }
        out->n++;
        prev = v;
    }
    PQclear(res);
    rj_debug(ENTITY_LOG, "read events entity=%s/%s from=%lld to=%lld found=%zu", entity, id, from,
             to, out->n);
    return RJ_OK;
}

void
rj_entity_rows_deinit(rj_entity_rows_t *rows)
{
    json_decref(rows->snapshot);
    json_decref(rows->events);
    *rows = (rj_entity_rows_t){0};
}

rj_status_t
rj_entity_query(rj_pg_t *pg, const char *entity, const char *id, rj_entity_rows_t *out,
                rj_error_t *err)
{
    *out = (rj_entity_rows_t){0};
    const char *params[] = {entity, id};
    PGresult *res = NULL;
    rj_status_t st =
        rj_pg_exec_prepared(pg, "rj_entity_read", ENTITY_READ_SQL, 2, params, &res, err);
    if (st != RJ_OK)
        return st;
    RJ_ASSERT(PQntuples(res) == 1 && PQnfields(res) == 4);

    out->head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    out->snapshot_version = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    json_error_t jerr;
    if (!PQgetisnull(res, 0, 2)) {
        out->snapshot = rj_json_loads(PQgetvalue(res, 0, 2), JSON_DECODE_ANY, &jerr);
        if (out->snapshot == NULL)
            st = rj_error_set(err, RJ_EINTERNAL, "could not parse stored snapshot: %s entity=%s/%s",
                              jerr.text, entity, id);
        else if (json_is_null(out->snapshot)) {
            json_decref(out->snapshot);
            out->snapshot = NULL;
        }
    }
    if (st == RJ_OK) {
        out->events = rj_json_loads(PQgetvalue(res, 0, 3), 0, &jerr);
        if (!json_is_array(out->events))
            st = rj_error_set(err, RJ_EINTERNAL, "could not parse stored events: %s entity=%s/%s",
                              jerr.text, entity, id);
    }
    PQclear(res);
    if (st != RJ_OK)
        rj_entity_rows_deinit(out);
    return st;
}

/*
 * Folds one event into *state (which holds one reference or NULL). A reducer that fails
 * leaves the state as it is, as the reducer daemon does: the snapshot it will write skips
 * that event too, and a read here must not disagree with the snapshot it foreshadows.
 */
static void
fold_one(const rj_app_t *app, const char *entity, const char *id, const char *type,
         const json_t *value, long long version, json_t **state)
{
    json_t *next = NULL;
    rj_error_t e;
    rj_error_clear(&e);
    if (rj_app_reduce(app, entity, type, value, *state, &next, &e) != RJ_OK) {
        rj_warn(ENTITY_LOG,
                "skipping event while reading entity: %s entity=%s/%s version=%lld "
                "event=%s",
                e.msg, entity, id, version, type != NULL ? type : "(null)");
        return;
    }
    json_decref(*state);
    *state = next;
}

rj_status_t
rj_entity_fold_rows(const rj_app_t *app, const char *entity, const char *id,
                    const rj_entity_rows_t *rows, json_t **state, long long *version,
                    rj_error_t *err)
{
    *state = NULL;
    json_t *cur = rows->snapshot != NULL ? json_incref(rows->snapshot) : NULL;
    long long at = rows->snapshot_version;

    size_t i;
    json_t *ev;
    json_array_foreach (rows->events, i, ev) {
        long long v = (long long)json_integer_value(json_object_get(ev, "version"));
        if (v <= at)
            continue; /* a copy of a version already folded */
        if (v != at + 1)
            break; /* a hole; reported below */
        fold_one(app, entity, id, json_string_value(json_object_get(ev, "type")),
                 json_object_get(ev, "value"), v, &cur);
        at = v;
    }
    if (at < rows->head) {
        json_decref(cur);
        return rj_error_set(err, RJ_EINTERNAL,
                            "could not read entity %s id=%s: version %lld (of %lld after "
                            "snapshot %lld) is in neither the event store nor the command "
                            "outbox",
                            entity, id, at + 1, rows->head, rows->snapshot_version);
    }
    *state = cur;
    if (version != NULL)
        *version = at;
    return RJ_OK;
}

size_t
rj_entity_fold_pending(const rj_app_t *app, const char *entity, const char *id,
                       const json_t *registrations, json_t **state)
{
    size_t folded = 0;
    size_t i;
    json_t *reg;
    json_array_foreach (registrations, i, reg) {
        const char *e = json_string_value(json_object_get(reg, "entity"));
        const char *rid = json_string_value(json_object_get(reg, "entityId"));
        if (e == NULL || rid == NULL || strcmp(e, entity) != 0 || strcmp(rid, id) != 0)
            continue;
        /* Not versioned yet (the processor claims versions after its handlers ran). */
        fold_one(app, entity, id, json_string_value(json_object_get(reg, "type")),
                 json_object_get(reg, "value"), 0, state);
        folded++;
    }
    return folded;
}

rj_status_t
rj_entity_search_read_models(rj_pg_t *pg, const rj_app_read_model_t *rm, const json_t *filter,
                             size_t limit, json_t **items, rj_error_t *err)
{
    *items = NULL;
    if (limit == 0)
        return rj_rs_search(pg, rm, filter, items, err);
    /* A List query's first page, without its cursor: same filter, same order by id. */
    json_t *lim = json_integer(limit > (size_t)LONG_MAX ? LONG_MAX : (json_int_t)limit);
    json_t *conn = NULL;
    rj_status_t st = rj_rs_list(pg, rm, filter, NULL, lim, NULL, &conn, err);
    json_decref(lim);
    if (st == RJ_OK)
        *items = json_incref(json_object_get(conn, "items"));
    json_decref(conn);
    return st;
}

rj_status_t
rj_entity_read(rj_pg_t *pg, const rj_app_t *app, const char *entity, const char *id, json_t **state,
               long long *version, rj_error_t *err)
{
    *state = NULL;
    rj_entity_rows_t rows;
    rj_status_t st = rj_entity_query(pg, entity, id, &rows, err);
    if (st != RJ_OK)
        return st;
    st = rj_entity_fold_rows(app, entity, id, &rows, state, version, err);
    rj_debug(ENTITY_LOG, "read entity=%s/%s head=%lld snapshot=%lld events=%zu status=%s", entity,
             id, rows.head, rows.snapshot_version, json_array_size(rows.events),
             rj_status_name(st));
    rj_entity_rows_deinit(&rows);
    return st;
}
