/*
 * events.c - the events API (booster-surface.md §7): eventsByEntity and eventsByType over
 * the event store's `events` table, newest first, as Booster's EventQueryResponse items.
 *
 * `from` and `to` are compared as strings with the ISO-8601 createdAt Booster prints
 * (UTC, milliseconds, "Z"), not as timestamps, because Booster does so and clients rely on
 * prefixes ("2021" as from; "2021-02-13" as to excludes that day). The comparison is
 * COLLATE "C" so it is the byte order JavaScript's string comparison gives for ASCII.
 *
 * Indexes: (entity_type, entity_id, created_at) and (type, created_at) come with the core
 * migration; eventsByEntity without an id walks (entity_type, created_at), which
 * rj_rs_ensure_event_indexes adds. The string bounds are applied to the rows those
 * indexes return newest first, so `limit` stops the scan early.
 *
 * Not here: authorization (the entity's authorizeReadEvents is decided by the caller,
 * which knows the user) and NotFound for unknown names (the GraphQL enums reject them).
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "pg/pg.h"
#include "readside/readside.h"

/* The item Booster returns; "current_user" is a reserved word, hence the quotes. A user
 * envelope carries claims too, which the API does not expose. */
#define EVENT_ITEM_SQL                                                                             \
    "jsonb_build_object('type', e.type, 'entity', e.entity_type, 'entityID', e.entity_id,"         \
    " 'requestID', e.request_id,"                                                                  \
    " 'user', CASE WHEN jsonb_typeof(e.\"current_user\") = 'object' THEN jsonb_build_object("      \
    "'id', e.\"current_user\" -> 'id', 'username', e.\"current_user\" -> 'username',"              \
    " 'roles', e.\"current_user\" -> 'roles') END,"                                                \
    " 'createdAt', e.created_at_iso, 'value', e.value)"

static size_t
add(rj_rs_params_t *p, const char *v)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->values = rj_xrealloc(p->values, p->cap * sizeof *p->values);
        p->kinds = rj_xrealloc(p->kinds, p->cap);
    }
    p->kinds[p->n] = 't';
    p->values[p->n++] = rj_xstrdup(v);
    return p->n;
}

rj_status_t
rj_rs_events_query_build(const char *entity, const char *entity_id, const char *type,
                         const char *from, const char *to, long limit, rj_buf_t *sql,
                         rj_rs_params_t *params, rj_error_t *err)
{
    rj_buf_reset(sql);
    rj_rs_params_deinit(params);
    if ((entity == NULL) == (type == NULL))
        return rj_error_set(err, RJ_EINVAL,
                            "could not build the events query: give exactly one of entity "
                            "and type");

    rj_buf_puts(sql, "SELECT coalesce(jsonb_agg(" EVENT_ITEM_SQL
                     " ORDER BY e.created_at DESC, e.version DESC, e.event_id), '[]'::jsonb)::text"
                     " FROM (SELECT *, to_char(created_at AT TIME ZONE 'UTC',"
                     " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at_iso FROM events WHERE ");
    if (entity != NULL) {
        rj_buf_printf(sql, "entity_type = $%zu::text", add(params, entity));
        if (entity_id != NULL)
            rj_buf_printf(sql, " AND entity_id = $%zu::text", add(params, entity_id));
    } else {
        rj_buf_printf(sql, "type = $%zu::text", add(params, type));
    }
    /* The bounds test the same expression the output prints. */
    if (from != NULL)
        rj_buf_printf(sql,
                      " AND to_char(created_at AT TIME ZONE 'UTC',"
                      " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') COLLATE \"C\" >= $%zu::text",
                      add(params, from));
    if (to != NULL)
        rj_buf_printf(sql,
                      " AND to_char(created_at AT TIME ZONE 'UTC',"
                      " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') COLLATE \"C\" <= $%zu::text",
                      add(params, to));
    rj_buf_puts(sql, " ORDER BY created_at DESC, version DESC, event_id");
    if (limit > 0) {
        char n[32];
        snprintf(n, sizeof n, "%ld", limit);
        rj_buf_printf(sql, " LIMIT $%zu::bigint", add(params, n));
    }
    rj_buf_puts(sql, ") e");
    return RJ_OK;
}

static rj_status_t
run(rj_pg_t *pg, const char *entity, const char *entity_id, const char *type, const char *from,
    const char *to, long limit, json_t **out, rj_error_t *err)
{
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    PGresult *res = NULL;
    rj_status_t st =
        rj_rs_events_query_build(entity, entity_id, type, from, to, limit, &sql, &params, err);
    if (st == RJ_OK)
        st = rj_pg_exec(pg, sql.data, (int)params.n, rj_rs_params_values(&params), &res, err);
    if (st == RJ_OK) {
        json_t *arr = NULL;
        if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
            arr = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        PQclear(res);
        if (json_is_array(arr)) {
            *out = arr;
        } else {
            json_decref(arr);
            st = rj_error_set(err, RJ_EINTERNAL,
                              "could not read the events query result: not a JSON array");
        }
    }
    rj_rs_params_deinit(&params);
    rj_buf_deinit(&sql);
    return st;
}

rj_status_t
rj_rs_events_by_entity(rj_pg_t *pg, const char *entity, const char *entity_id, const char *from,
                       const char *to, long limit, json_t **out, rj_error_t *err)
{
    if (entity == NULL)
        return rj_error_set(err, RJ_EINVAL, "could not query events: no entity");
    return run(pg, entity, entity_id, NULL, from, to, limit, out, err);
}

rj_status_t
rj_rs_events_by_type(rj_pg_t *pg, const char *type, const char *from, const char *to, long limit,
                     json_t **out, rj_error_t *err)
{
    if (type == NULL)
        return rj_error_set(err, RJ_EINVAL, "could not query events: no type");
    return run(pg, NULL, NULL, type, from, to, limit, out, err);
}

rj_status_t
rj_rs_ensure_event_indexes(rj_pg_t *pg, rj_error_t *err)
{
    return rj_pg_exec(pg,
                      "CREATE INDEX IF NOT EXISTS events_entity_type_created_at_idx"
                      " ON events (entity_type, created_at)",
                      0, NULL, NULL, err);
}
