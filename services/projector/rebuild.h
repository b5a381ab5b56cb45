/*
 * projector/rebuild.h - the pure half of `ramjet replay <ReadModel>` (replay.c has the
 * PostgreSQL half): folding entities' events with the app's reducers and running one
 * read model's projections on every state, into an in-memory copy of the read model.
 *
 * The rebuild replays history rather than folding each entity to its last state and
 * projecting that once. Projections are not independent of each other: a Pack joins into
 * the ProductReadModel of each of its products only if that read model exists, and a
 * Customer's rename reaches the OrderReadModels that exist when it is projected. Feeding
 * the events in the order they happened (replay.c orders them by created_at, kept
 * monotonic per entity) and projecting each state as it is reached recreates the order
 * the live projector saw, so the rebuilt rows are the ones it built. Projecting only final
 * states in some fixed order gets one of those cases wrong whichever order is chosen.
 *
 * The rows live in a proj_batch_t row cache, the projector's own (plan.h), and the
 * projections run through the same calls as the projector's (proj_join_ids, rj_app_project,
 * proj_row_apply; proj_query_cached for read-model-query join keys). The cache holds the
 * whole read model being built, so a query join key matches against all of it: the fresh
 * table the rebuild fills is exactly this cache.
 *
 * Also here: the advisory-lock key that excludes the live projector from a read model
 * while it is rebuilt (replay.c, main.c).
 *
 * No I/O here. Not thread-safe: one rebuild per thread.
 */
#ifndef PROJ_REBUILD_H
#define PROJ_REBUILD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "projector/plan.h"
#include "rj/status.h"
#include "worker_common/index.h"

/**
 * The key of the PostgreSQL advisory lock that guards read model @p read_model of app
 * @p app_name: the 64-bit FNV-1a hash of "ramjet.rm.<app>.<ReadModel>", as a signed bigint.
 * Stable across versions and processes (every projector and every replay must agree on
 * it); the "ramjet.rm." prefix keeps it apart from other users of advisory locks.
 */
int64_t proj_rm_lock_key(const char *app_name, const char *read_model);

/** One entity being folded. */
typedef struct proj_rb_entity {
    const char *type; /* entity type; borrowed from the app model */
    char *id;         /* entity id (owned) */
    int64_t version;  /* the last version folded (0: none) */
    json_t *state;    /* its state after that version (owned); NULL while it has none */
} proj_rb_entity_t;

/** What happened to one event handed to proj_rebuild_event. */
typedef enum proj_rb_outcome {
    PROJ_RB_FOLDED,  /* folded (or skipped by a failing reducer, as the reducer does) and
                        the state projected */
    PROJ_RB_ALREADY, /* its version was folded before: ignored */
    PROJ_RB_GAP,     /* an earlier version has not been folded yet: ignored */
    PROJ_RB_UNKNOWN, /* its entity type does not project into the read model: ignored */
} proj_rb_outcome_t;

/** A rebuild of one read model. Caller-owned storage: proj_rebuild_init / _deinit. */
typedef struct proj_rebuild {
    const rj_app_t *app;           /* borrowed */
    const rj_app_read_model_t *rm; /* the read model rebuilt; borrowed */
    size_t max_matches;            /* most rows a query join key may match */
    proj_batch_t rows;             /* the read model being built (only .rows used) */
    proj_rb_entity_t *entities;    /* every entity seen, in order of first event */
    size_t n_entities;             /* number of entities */
    size_t cap_entities;           /* allocated */
    wk_index_t entity_index;       /* (type, id) -> index into entities */
    uint64_t n_events;             /* events folded */
    uint64_t n_projection_errors;  /* projections (or join keys) that failed */
} proj_rebuild_t;

/**
 * Starts an empty rebuild of @p rm.
 * @param app, rm  borrowed; must outlive the rebuild
 * @param max_matches  most rows one read-model-query join key may match (the projector's
 *                     --query-max-matches); beyond it the projection is skipped and counted
 *                     as an error, as the projector dead-letters it
 */
void proj_rebuild_init(proj_rebuild_t *rb, const rj_app_t *app, const rj_app_read_model_t *rm,
                       size_t max_matches);
void proj_rebuild_deinit(proj_rebuild_t *rb);

/** True when entity type @p entity has a projection into the rebuilt read model. */
bool proj_rebuild_projects(const proj_rebuild_t *rb, const rj_app_entity_t *entity);

/**
 * Folds one event into its entity's state, when its version is the next one, and runs
 * every projection of the entity into the read model on the new state. A failing reducer
 * leaves the state as it was (the reducer daemon skips such events too); an entity without
 * a state yet (its first reducer failed) is not projected (the reducer publishes no
 * snapshot of it). A failing projection is logged and counted, and the others still run.
 *
 * @param entity, id, type  the event's entity type and id, and its event type; borrowed
 * @param version           its per-entity version
 * @param value             its payload; borrowed
 * @return what was done with it
 */
proj_rb_outcome_t proj_rebuild_event(proj_rebuild_t *rb, const char *entity, const char *id,
                                     int64_t version, const char *type, const json_t *value);

/** The entity (@p type, @p id), or NULL when no event of it was handed in. Borrowed. */
const proj_rb_entity_t *proj_rebuild_entity(const proj_rebuild_t *rb, const char *type,
                                            const char *id);

#endif
