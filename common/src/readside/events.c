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
 * rj_rs_ensure_event_indexes adds. Each index is walked newest first, so `limit` stops the
 * scan early. A string bound alone cannot bound that walk (to_char is not indexable), so a
 * window far in the past would read every newer event of the type first (56 ms for the
 * 75k newer events of 200k, 0.8 ms with the range; docs/PERFORMANCE.md). Each bound
 * therefore also yields a range on created_at that the string test implies (time_bound),
 * which the index serves; the string test stays, and decides.
 *
 * Not here: authorization (the entity's authorizeReadEvents is decided by the caller,
 * which knows the user) and NotFound for unknown names (the GraphQL enums reject them).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "json/envelope.h"
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

/* Days in @p month (1-12) of @p year, in the proleptic Gregorian calendar PostgreSQL uses. */
static int
days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/*
 * The range on created_at that `createdAt >= s` or `createdAt <= s` implies. createdAt is
 * "YYYY-MM-DDTHH:MI:SS.MSZ": fixed width, so (for years 1-9999) its byte order is time order.
 * Let P be the longest prefix of @p s made of whole, valid fields (year; then -MM, -DD, THH,
 * :MI, :SS, each only if the previous one was read), and t(P) the earliest time whose
 * createdAt starts with P. Every createdAt >= s starts with something >= P, so
 * created_at >= t(P); every createdAt <= s starts with something <= P, so
 * created_at < t(P) + one unit of P's last field. Anything after P (milliseconds, a partial
 * or invalid field, other text) only makes the string test stricter, which still runs.
 *
 * @param start  on true, t(P) as "YYYY-MM-DD HH:MI:SS" (a UTC timestamp without zone)
 * @param unit   on true, the interval P's last field spans ("1 day", ...); static
 * @return false when @p s does not start with a year 0001-9999: no range is implied
 */
static bool
time_bound(const char *s, char start[32], const char **unit)
{
    static const struct {
        char sep;         /* the separator before the field ('\0' for the year) */
        int width;        /* digits */
        int lo, hi;       /* valid values; hi 0: the days of the month read before it */
        const char *unit; /* what one unit of the field spans */
    } fields[] = {
        {'\0', 4, 1, 9999, "1 year"}, {'-', 2, 1, 12, "1 month"},  {'-', 2, 1, 0, "1 day"},
        {'T', 2, 0, 23, "1 hour"},    {':', 2, 0, 59, "1 minute"}, {':', 2, 0, 59, "1 second"},
    };
    int v[6];
    size_t n = 0;
    for (; n < 6; n++) {
        if (fields[n].sep != '\0' && *s++ != fields[n].sep)
            break;
        int x = 0, w = 0;
        for (; w < fields[n].width && s[w] >= '0' && s[w] <= '9'; w++)
            x = x * 10 + (s[w] - '0');
        if (w < fields[n].width)
            break;
        int hi = fields[n].hi != 0 ? fields[n].hi : days_in_month(v[0], v[1]);
        if (x < fields[n].lo || x > hi)
            break;
        v[n] = x;
        s += w;
    }
    if (n == 0)
        return false;
    for (size_t i = n; i < 6; i++)
        v[i] = fields[i].lo;
    snprintf(start, 32, "%04d-%02d-%02d %02d:%02d:%02d", v[0], v[1], v[2], v[3], v[4], v[5]);
    *unit = fields[n - 1].unit;
    return true;
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
    /* The bounds test the same expression the output prints; the created_at range they
       imply is computed on timestamp without time zone, so that adding a day or a month is
       calendar arithmetic in UTC, not in the session's zone (where a DST change would make
       a day 23 hours long and the range too narrow). */
    char start[32];
    const char *unit;
    if (from != NULL) {
        rj_buf_printf(sql,
                      " AND to_char(created_at AT TIME ZONE 'UTC',"
                      " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') COLLATE \"C\" >= $%zu::text",
                      add(params, from));
        if (time_bound(from, start, &unit))
            rj_buf_printf(sql, " AND created_at >= ($%zu::timestamp AT TIME ZONE 'UTC')",
                          add(params, start));
    }
    if (to != NULL) {
        rj_buf_printf(sql,
                      " AND to_char(created_at AT TIME ZONE 'UTC',"
                      " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') COLLATE \"C\" <= $%zu::text",
                      add(params, to));
        if (time_bound(to, start, &unit)) {
            size_t t = add(params, start);
            rj_buf_printf(sql,
                          " AND created_at < (($%zu::timestamp + $%zu::interval)"
                          " AT TIME ZONE 'UTC')",
                          t, add(params, unit));
        }
    }
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
            arr = rj_json_loads(PQgetvalue(res, 0, 0), 0, NULL);
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
