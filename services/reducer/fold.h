/*
 * reducer/fold.h - the reducer's batch model: events grouped by entity in log order,
 * and the decision, event by event, of what folding it into the entity's snapshot
 * means.
 *
 * The rule (docs/architecture.md, "Reducer"): an event whose version is exactly the
 * snapshot's version + 1 is folded; an older one is a redelivery and skipped; a newer
 * one (a gap) is never folded, because folding it would produce a snapshot claiming a
 * version whose effects it lacks, and every later snapshot would inherit the hole.
 *
 * Why a gap should be impossible, and what it means when it is not: the command
 * processor assigns versions per entity and produces an entity's events with the key
 * `<Entity>/<id>`, so all of them are in one partition, in version order, and one
 * reducer owns that partition at a time. A gap therefore means the log itself lost or
 * reordered something: the topic's partition count was changed (the key now hashes
 * elsewhere, so the newer events of an entity are in another partition, read by
 * another reducer, possibly before the older ones), a second writer produced events
 * for the entity outside the command processor, or the broker lost messages (the dev
 * broker drops what a slow consumer has not read). Folding across such a hole would
 * silently corrupt the snapshot; skipping it at least keeps every stored snapshot
 * true to the events it claims, reports it loudly (error log and a dead letter), and
 * leaves the repair (rebuilding the snapshot from the events table) to an operator.
 *
 * A reducer that fails, or returns something that is not an object, does not stop
 * the entity: as in Booster, the event is skipped, the state stays as it was, and the
 * version still advances (so the next event folds); the event goes to dead letters.
 * When the application's global error handler swallows the failure, rj_app_reduce
 * returns the state unchanged instead, and the event is folded as a no-op, unreported.
 *
 * Pure: no I/O. The reducer call is a function pointer so tests can fold without an
 * application library.
 */
#ifndef RED_FOLD_H
#define RED_FOLD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rj/status.h"
#include "worker_common/index.h"
#include "json/envelope.h"

/** What folding one event into its entity's state means. */
typedef enum red_verdict {
    RED_APPLY,     /* version == current + 1: fold it */
    RED_DUPLICATE, /* version <= current: already folded (redelivery); skip */
    RED_GAP,       /* version > current + 1: an earlier event is missing; do not fold */
} red_verdict_t;

/** The verdict for an event of version @p version on a state at version @p current (0: none). */
red_verdict_t red_verdict(int64_t current, int64_t version);

/** What happened to one event in the last fold. */
typedef enum red_outcome {
    RED_PENDING, /* not folded yet in this attempt */
    RED_APPLIED, /* folded; the state changed (or, for a swallowed failure, stayed) */
    RED_SKIPPED, /* a duplicate, skipped */
    RED_GAPPED,  /* a gap: not folded, reported */
    RED_FAILED,  /* the reducer failed: state unchanged, version advanced, reported */
} red_outcome_t;

/** One event of the batch. */
typedef struct red_event {
    rj_env_event_t env;    /* the decoded envelope; owns its document */
    size_t msg;            /* index of its message in the consumed batch */
    red_outcome_t outcome; /* set by red_batch_fold */
    char *error;           /* RED_FAILED/RED_GAPPED: why (heap), else NULL */
} red_event_t;

/** One entity touched by the batch. */
typedef struct red_entity {
    const char *entity;     /* entity type; borrowed from its first event */
    const char *entity_id;  /* entity id; borrowed from its first event */
    size_t *events;         /* indices into the batch's events, in log order */
    size_t n_events;        /* number of events */
    size_t cap_events;      /* allocated */
    int64_t stored_version; /* version of the stored snapshot; 0 when none */
    int64_t version;        /* version after the fold */
    json_t *value;          /* state after the fold (owned); NULL when the entity has none */
    size_t last_event;      /* index of the last event that advanced the version */
} red_entity_t;

/** A batch grouped by entity. Caller-owned storage: red_batch_init / red_batch_deinit. */
typedef struct red_batch {
    red_event_t *events;    /* every decoded event, in batch order */
    size_t n_events;        /* number of events */
    size_t cap_events;      /* allocated */
    red_entity_t *entities; /* entities in order of first appearance */
    size_t n_entities;      /* number of entities */
    size_t cap_entities;    /* allocated */
    wk_index_t index;       /* (entity type, id) -> index into entities */
} red_batch_t;

void red_batch_init(red_batch_t *b);
/** Frees everything; @p b is empty (initialised) afterwards. */
void red_batch_deinit(red_batch_t *b);

/**
 * Decodes one message and appends its event to its entity's group.
 *
 * @param payload  @p len bytes of the message value (NULL for an empty value); borrowed
 * @param msg      the message's index in the consumed batch, kept for dead letters
 * @return RJ_OK or the decoder's error in @p err; the batch is unchanged on error
 */
rj_status_t red_batch_add(red_batch_t *b, const char *payload, size_t len, size_t msg,
                          rj_error_t *err);

/**
 * Forgets the outcome of a previous attempt: every entity back to "no stored
 * snapshot", every event back to RED_PENDING. Call before loading snapshots.
 */
void red_batch_reset(red_batch_t *b);

/** The entity (@p entity, @p id) of the batch, or NULL when the batch does not touch it. */
red_entity_t *red_batch_find(red_batch_t *b, const char *entity, const char *id);

/**
 * Sets an entity's stored snapshot (what PostgreSQL holds before the batch).
 *
 * @param value  the stored state, or NULL (or JSON null) for none; taken
 */
void red_entity_set_stored(red_entity_t *e, int64_t version, json_t *value);

/**
 * Folds one event into a state: the application's reducer.
 *
 * @param event    the event envelope; borrowed
 * @param current  the state before, or NULL for none; borrowed
 * @param out      on RJ_OK the new state, a new reference; NULL only when @p current is
 *                 NULL too: the event leaves the entity without state (rj_app_reduce
 *                 does this when the global error handler swallowed a reducer failure;
 *                 the event is then not reported)
 */
typedef rj_status_t (*red_reduce_fn)(void *opaque, const rj_env_event_t *event,
                                     const json_t *current, json_t **out, rj_error_t *err);

/** Counts from one fold. */
typedef struct red_fold_stats {
    size_t applied;    /* events folded */
    size_t duplicates; /* redeliveries skipped */
    size_t gaps;       /* events not folded because of a gap */
    size_t failed;     /* events whose reducer failed */
} red_fold_stats_t;

/**
 * Folds every entity's events into its stored state, setting each event's outcome
 * and each entity's version, value and last_event.
 */
void red_batch_fold(red_batch_t *b, red_reduce_fn reduce, void *opaque, red_fold_stats_t *stats);

/** True when the fold advanced the entity's version (its snapshot must be written). */
bool red_entity_changed(const red_entity_t *e);

#endif
