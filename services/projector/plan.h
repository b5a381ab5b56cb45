/*
 * projector/plan.h - the projector's batch model: the newest snapshot of each entity,
 * the read-model rows the batch touches, and what each projection result means for
 * the row's final write.
 *
 * Per batch only the newest snapshot of an entity matters: a projection maps an
 * entity's *state* to a read model, so projecting an older state first would only be
 * overwritten (Booster projects every snapshot, but its read models end up the same).
 * Rows are cached for the whole batch, so when two entities project into one row the
 * second sees the first's result, and a row is written once per batch with its final
 * state, whatever number of projections touched it.
 *
 * Row versions and optimistic concurrency: a row written by a batch gets version
 * loaded + 1 (1 for a new row), and the write only succeeds against the version it was
 * loaded at (new rows: against no row). Rows are keyed by read model id, not by entity,
 * so two projectors owning different snapshot partitions may write the same row
 * concurrently (two carts projecting into one product's read model); the loser of
 * that race sees fewer rows affected than planned, reports RJ_ECONFLICT, and the whole
 * batch is retried against fresh rows, as Booster retries its optimistic read-model
 * writes.
 *
 * Pure: no I/O. Deliberately not here: running projections (main.c does, through the
 * app) and SQL.
 */
#ifndef PROJ_PLAN_H
#define PROJ_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "rj/status.h"
#include "worker_common/index.h"
#include "json/envelope.h"

/** One decoded snapshot of the batch. */
typedef struct proj_snap {
    rj_env_snapshot_t env; /* the decoded envelope; owns its document */
    size_t msg;            /* index of its message in the consumed batch */
} proj_snap_t;

/** One entity of the batch: its newest snapshot. */
typedef struct proj_entity {
    size_t snap;       /* index of its newest snapshot in the batch */
    int64_t projected; /* version recorded in projected_entities (0: none); per attempt */
} proj_entity_t;

/** A read-model row the batch touches. */
typedef struct proj_row {
    const char *read_model; /* read model name; borrowed from the app model */
    char *id;               /* read model id (owned) */
    char *seq;              /* sequence key (owned); "" for read models without one */
    bool loaded_exists;     /* the row existed when loaded */
    int64_t loaded_version; /* its version then (0 when absent) */
    json_t *value;          /* the row as the batch's projections left it (owned); NULL = absent */
    bool touched;           /* a projection wrote or deleted it */
} proj_row_t;

/** The write a row needs at the end of the batch. */
typedef enum proj_write {
    PROJ_WRITE_NONE,   /* unchanged, or created and deleted within the batch */
    PROJ_WRITE_UPSERT, /* store value with version loaded + 1, if still at loaded_version */
    PROJ_WRITE_DELETE, /* delete it, if still at loaded_version */
} proj_write_t;

/** A batch of snapshots. Caller-owned storage: proj_batch_init / proj_batch_deinit. */
typedef struct proj_batch {
    proj_snap_t *snaps;      /* every decoded snapshot, in batch order */
    size_t n_snaps;          /* number of snapshots */
    size_t cap_snaps;        /* allocated */
    proj_entity_t *entities; /* one per entity, in order of first appearance */
    size_t n_entities;       /* number of entities */
    size_t cap_entities;     /* allocated */
    wk_index_t entity_index; /* (entity type, id) -> index into entities */
    proj_row_t *rows;        /* rows touched in this attempt, in order of first touch */
    size_t n_rows;           /* number of rows */
    size_t cap_rows;         /* allocated */
    wk_index_t row_index;    /* (read model, id, seq) -> index into rows */
} proj_batch_t;

void proj_batch_init(proj_batch_t *b);
/** Frees everything; @p b is empty (initialised) afterwards. */
void proj_batch_deinit(proj_batch_t *b);

/**
 * Decodes one message; keeps it as its entity's snapshot when it is newer than the one
 * kept so far.
 *
 * @param payload  @p len bytes (NULL for an empty value); borrowed
 * @param msg      the message's index in the consumed batch
 * @return RJ_OK or the decoder's error in @p err; the batch is unchanged on error
 */
rj_status_t proj_batch_add(proj_batch_t *b, const char *payload, size_t len, size_t msg,
                           rj_error_t *err);

/** An entity's newest snapshot. Borrowed from @p b. */
const rj_env_snapshot_t *proj_entity_snapshot(const proj_batch_t *b, const proj_entity_t *e);

/** The entity (@p entity, @p id), or NULL when the batch has no snapshot of it. */
proj_entity_t *proj_batch_find_entity(proj_batch_t *b, const char *entity, const char *id);

/** True when the entity's newest snapshot is above its projected version (it must be projected). */
bool proj_entity_live(const proj_batch_t *b, const proj_entity_t *e);

/** Forgets the rows and projected versions of a previous attempt. */
void proj_batch_reset(proj_batch_t *b);

/**
 * Finds the row (@p read_model, @p id, @p seq) or adds it, absent and untouched.
 *
 * @param read_model  borrowed; must outlive the batch (the app model's name)
 * @param id, seq     copied
 * @return the row; valid until the next proj_batch_row, proj_batch_reset or _deinit
 */
proj_row_t *proj_batch_row(proj_batch_t *b, const char *read_model, const char *id,
                           const char *seq);

/**
 * Sets a row as loaded from PostgreSQL.
 * @param value  the stored read model; taken
 */
void proj_row_set_loaded(proj_row_t *r, int64_t version, json_t *value);

/** qsort comparator for an array of `const proj_row_t *`: (id, seq) order, the order in
 * which rows are written so that writers sharing rows lock them alike. */
int proj_row_ptr_cmp(const void *a, const void *b);

/**
 * Applies what a projection asked for to the cached row.
 * @param out  for RJ_APP_PROJECT_WRITE the new read model, taken; ignored otherwise
 */
void proj_row_apply(proj_row_t *r, rj_app_project_action_t action, json_t *out);

/**
 * The write the row needs now.
 * @param version  set to the version the row's envelope carries (loaded + 1) unless NONE
 */
proj_write_t proj_row_write(const proj_row_t *r, int64_t *version);

/**
 * The read-model ids an entity state projects into through @p join_field: the field's
 * string form (rj_app_id_string) for a scalar, one id per usable element for an array
 * (the projection runs once per element), none when the field is missing, null, false,
 * empty or not an id.
 *
 * @param entity  the entity state; borrowed
 * @param ids     set to a new array of new strings (free each, then the array), or NULL
 * @return the number of ids
 */
size_t proj_join_ids(const json_t *entity, const char *join_field, char ***ids);

/**
 * The sequence key of the rows a projection of @p entity into @p rm writes: the string form
 * of the entity's field named like the read model's @sequencedBy field, "" when the read
 * model is not sequenced (or the field is missing).
 *
 * @return a new string; free() it
 */
char *proj_sequence_key(const rj_app_read_model_t *rm, const json_t *entity);

#endif
