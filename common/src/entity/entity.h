/*
 * entity/entity.h - an entity's current state, read from PostgreSQL for handlers
 * (rj_entity_get in ramjet.h): the latest snapshot plus every event not folded into it
 * yet, folded with the application's reducers.
 *
 * Where the events are. The command processor claims an entity's versions in
 * entity_heads and writes the events into command_outbox in the transaction that
 * acknowledges their command; the event-store writer copies them into `events` later,
 * and the reducer folds them into `snapshots` later still. So for head version H and
 * snapshot version S, versions S+1..H are in `events`, or (while the writer lags) still
 * in the outbox, which keeps every command's events until it prunes produced rows after
 * an hour. One statement reads all four tables, so under READ COMMITTED it sees one
 * snapshot of them: a claimed head always comes with its outbox row, and an outbox row
 * pruned in between cannot be missed because its event is already in `events`.
 *
 * A version of S+1..H found nowhere (the writer lagged past the outbox's retention, or
 * someone deleted rows) is an error, never a silently stale state: a handler deciding on
 * an old entity is the bug this module exists to prevent.
 *
 * Folding follows the reducer daemon's rules (services/reducer/fold.h), so a state read
 * here is the one the next snapshot will hold: events in version order; a reducer that
 * fails (or is missing) skips its event and leaves the state as it was.
 *
 * The reducer reads here too (rj_entity_query_events): whole envelopes of a version range,
 * to fill a gap its partition's log left (services/reducer/fold.h).
 *
 * Split in three so each part is testable and the daemons combine them as they need:
 * the statement (rj_entity_query), the pure fold of its rows (rj_entity_fold_rows), and
 * the pure fold of events not stored anywhere yet (rj_entity_fold_pending: the
 * registrations of earlier commands in the processor's batch). rj_entity_read is the
 * first two together, for the gateway. Handlers' read-model searches
 * (rj_read_models_search) are here too, as a thin layer over the read side's compiler.
 *
 * Not here: caching (every read is fresh, which is the point), optimistic version checks
 * (the caller has the version if it wants one), and choosing the connection.
 */
#ifndef RJ_ENTITY_H
#define RJ_ENTITY_H

#include <jansson.h>

#include "app/app.h"
#include "json/envelope.h"
#include "pg/pg.h"
#include "rj/status.h"

/** What the statement read for one entity. */
typedef struct rj_entity_rows {
    long long head;             /* newest claimed version (entity_heads, or the snapshot's
                                   when larger); 0 when the entity has no events */
    long long snapshot_version; /* version folded into the snapshot; 0 when none */
    json_t *snapshot;           /* the snapshot's value, or NULL (none, or JSON null when
                                   every reducer so far failed); owned */
    json_t *events;             /* [{version, type, value}] of versions in
                                   snapshot_version+1..head that were found, in version
                                   order; owned */
} rj_entity_rows_t;

/** Releases the rows' JSON. */
void rj_entity_rows_deinit(rj_entity_rows_t *rows);

/**
 * Runs the one statement that reads an entity: head, snapshot, the newer events from
 * `events`, and those still missing from command_outbox (looked up only when `events`
 * lacks some, through the GIN index on command_outbox.events).
 *
 * @param pg      the connection; inside the caller's transaction if it has one
 * @param entity  entity type; @p id the entity id; borrowed
 * @param out     on RJ_OK the rows (release with rj_entity_rows_deinit); zeroed on failure
 * @return RJ_OK, the statement's error (rj_pg_exec's statuses: a failure inside a
 *         transaction aborts it), or RJ_EINTERNAL for a result that does not parse
 *
 * Runs on the caller's thread, blocking.
 */
rj_status_t rj_entity_query(rj_pg_t *pg, const char *entity, const char *id, rj_entity_rows_t *out,
                            rj_error_t *err);

/** Whole stored events of one entity, as rj_entity_query_events reads them. */
typedef struct rj_entity_events {
    rj_env_event_t *v; /* decoded envelopes, in version order, each version once; owned */
    size_t n;          /* number of events */
} rj_entity_events_t;

/** Releases the events' documents and the array; @p evs is empty afterwards. */
void rj_entity_events_deinit(rj_entity_events_t *evs);

/**
 * Reads an entity's events of versions @p from..@p to (inclusive) as whole envelopes
 * (event id, type, version, request id, createdAt, value, current user), from `events`
 * or, for versions `events` lacks (the event-store writer lags), from command_outbox:
 * the same two places, the same one-statement rule and the same GIN lookup as
 * rj_entity_query, which reads only what a fold needs. The reducer uses this to fill a
 * version gap (services/reducer/fold.h): an envelope read here is the one the command
 * processor produced, byte for byte in every field a snapshot depends on.
 *
 * Versions found nowhere are simply absent from @p out; the caller decides what a hole
 * means. A row that does not decode as an event envelope (only data written outside
 * Ramjet can do that) is logged at error and left out likewise, so one bad row makes a
 * hole rather than a statement that fails for ever.
 *
 * @param pg      the connection; inside the caller's transaction if it has one
 * @param entity  entity type; @p id the entity id; borrowed
 * @param out     on RJ_OK the events (release with rj_entity_events_deinit); empty on
 *                failure
 * @return RJ_OK, or the statement's error (rj_pg_exec's statuses: a failure inside a
 *         transaction aborts it)
 *
 * Runs on the caller's thread, blocking.
 */
rj_status_t rj_entity_query_events(rj_pg_t *pg, const char *entity, const char *id, long long from,
                                   long long to, rj_entity_events_t *out, rj_error_t *err);

/**
 * Folds the rows of rj_entity_query: the snapshot, then each event of versions
 * snapshot_version+1..head in order.
 *
 * @param rows     borrowed
 * @param state    on RJ_OK the state (a new reference), or NULL when the entity has no
 *                 events (or no reducer ever produced a state)
 * @param version  on RJ_OK the state's version (rows->head); may be NULL
 * @return RJ_OK, or RJ_EINTERNAL naming the first version found nowhere
 */
rj_status_t rj_entity_fold_rows(const rj_app_t *app, const char *entity, const char *id,
                                const rj_entity_rows_t *rows, json_t **state, long long *version,
                                rj_error_t *err);

/**
 * Folds, in order, the events of @p registrations that belong to @p entity / @p id:
 * events registered by handlers but not stored anywhere yet.
 *
 * @param registrations  an array of {"type", "entity", "entityId", "value"} as
 *                       rj_app_run_command returns them; borrowed
 * @param state          in: the state to start from (a reference this call takes over),
 *                       or NULL; out: the folded state (a new reference) or NULL
 * @return the number of events folded (skipped ones included)
 */
size_t rj_entity_fold_pending(const rj_app_t *app, const char *entity, const char *id,
                              const json_t *registrations, json_t **state);

/**
 * The storage half of rj_read_models_search: every row of @p rm matching @p filter
 * (rj_rs_search), or the first @p limit of them by id (rj_rs_list).
 *
 * @param items  on RJ_OK a new JSON array of the stored values
 * @return as rj_rs_search: RJ_OK, RJ_EINVAL for a malformed filter, rj_pg_exec's statuses
 */
rj_status_t rj_entity_search_read_models(rj_pg_t *pg, const rj_app_read_model_t *rm,
                                         const json_t *filter, size_t limit, json_t **items,
                                         rj_error_t *err);

/**
 * rj_entity_query, then rj_entity_fold_rows.
 *
 * @return RJ_OK with *state as rj_entity_fold_rows sets it, or either one's error
 */
rj_status_t rj_entity_read(rj_pg_t *pg, const rj_app_t *app, const char *entity, const char *id,
                           json_t **state, long long *version, rj_error_t *err);

#endif
