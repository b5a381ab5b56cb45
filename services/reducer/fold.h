/*
 * reducer/fold.h - the reducer's batch model: events grouped by entity in log order,
 * and the decision, event by event, of what folding it into the entity's snapshot
 * means.
 *
 * The rule (docs/architecture.md, "Reducer"): an event whose version is exactly the
 * snapshot's version + 1 is folded; an older one is a redelivery and skipped; a newer
 * one is a gap, and the versions in between are folded first, from PostgreSQL.
 *
 * Why gaps happen, and why PostgreSQL has what they lack: the command processor claims
 * an entity's versions in entity_heads and commits them, with the events, to
 * command_outbox before it produces them (the event-store writer copies them to
 * `events` later). Claims of one entity are serialised by the head row's lock, so the
 * claim of v6 completes only after v5 is committed; but two processors that own
 * different command partitions (a command keyed by something other than the entity its
 * events belong to, or by nothing, like the shop's CreateProduct) may claim v5 and v6 in
 * that order and produce v6 first. The reducer then meets v6 on a snapshot at v4.
 * Folding v6 alone would produce a snapshot claiming a version whose effects it lacks;
 * skipping it (what the reducer once did) lost v6 for good, since v5 then folded and v6
 * never came again, and every later event of the entity was a gap too. Instead the
 * caller reads the missing versions (red_entity_missing says which) from `events` and
 * command_outbox inside the batch's transaction and hands them over
 * (red_entity_take_fill); the fold folds them in version order before the event that
 * needed them. When v5 arrives later it is an ordinary redelivery. The same repair
 * covers a log that lost or reordered messages for other reasons (the topic's partition
 * count was changed, the dev broker dropped what a slow consumer had not read), as long
 * as PostgreSQL still has them.
 *
 * A version found in neither place (the outbox keeps produced rows for an hour and the
 * event-store writer lagged longer, or rows were deleted) is never folded across: the
 * event that needed it is reported (error log naming exactly the missing versions, and a
 * dead letter) and not folded, so every stored snapshot stays true to the events it
 * claims. The filled events before the hole are folded: they are real, in order. A later
 * event of the entity asks PostgreSQL again, so the entity recovers as soon as the hole
 * is filled (the missing event arrives, or the writer stores it).
 *
 * A reducer that fails, or returns something that is not an object, does not stop
 * the entity: as in Booster, the event is skipped, the state stays as it was, and the
 * version still advances (so the next event folds); the event goes to dead letters.
 * When the application's global error handler swallows the failure, rj_app_reduce
 * returns the state unchanged instead, and the event is folded as a no-op, unreported.
 * Filled events follow the same rules (a failed one is dead-lettered by main.c with its
 * own envelope, since its own message will only be skipped as a redelivery).
 *
 * Pure: no I/O. The reducer call is a function pointer so tests can fold without an
 * application library, and the filled events are handed in already read, so tests fold
 * gaps from rows they make up.
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
    RED_GAP,       /* version > current + 1: earlier events are missing; fill them first */
} red_verdict_t;

/** The verdict for an event of version @p version on a state at version @p current (0: none). */
red_verdict_t red_verdict(int64_t current, int64_t version);

/** What happened to one event in the last fold. */
typedef enum red_outcome {
    RED_PENDING, /* not folded yet in this attempt */
    RED_APPLIED, /* folded; the state changed (or, for a swallowed failure, stayed) */
    RED_SKIPPED, /* a duplicate, skipped */
    RED_GAPPED,  /* a gap PostgreSQL could not fill: not folded, reported */
    RED_FAILED,  /* the reducer failed: state unchanged, version advanced, reported */
} red_outcome_t;

/** One event of the batch, or one read from PostgreSQL to fill a gap. */
typedef struct red_event {
    rj_env_event_t env;    /* the decoded envelope; owns its document */
    size_t msg;            /* index of its message in the consumed batch; for a filled
                              event, that of the event whose gap it filled (where its
                              dead letter points) once folded */
    red_outcome_t outcome; /* set by red_batch_fold (a filled event stays RED_PENDING
                              until folded) */
    char *error;           /* RED_FAILED/RED_GAPPED: why (heap), else NULL */
} red_event_t;

/** One entity touched by the batch. */
typedef struct red_entity {
    const char *entity;      /* entity type; borrowed from its first event */
    const char *entity_id;   /* entity id; borrowed from its first event */
    size_t *events;          /* indices into the batch's events, in log order */
    size_t n_events;         /* number of events */
    size_t cap_events;       /* allocated */
    int64_t stored_version;  /* version of the stored snapshot; 0 when none */
    int64_t version;         /* version after the fold */
    json_t *value;           /* state after the fold (owned); NULL when the entity has none */
    const red_event_t *last; /* the last event that advanced the version (of the batch or
                                of fill); borrowed; NULL until one did */
    red_event_t *fill;       /* events read from PostgreSQL for this attempt's gaps, in
                                version order (red_entity_take_fill); owned */
    size_t n_fill;           /* number of filled events */
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
 * The versions the fold of @p e will lack, given its stored version: every version
 * between the stored one and the batch's newest event of the entity that no event before
 * it in the batch supplies, as one range (the first missing to the last missing; versions
 * in between that the batch does hold are read again and skipped as copies).
 *
 * @param from, to  on true the range, inclusive; untouched on false
 * @return true when the entity has a gap to fill (call after red_entity_set_stored)
 */
bool red_entity_missing(const red_batch_t *b, const red_entity_t *e, int64_t *from, int64_t *to);

/**
 * Hands the fold the events read to fill @p e's gaps (what PostgreSQL holds of the
 * versions red_entity_missing named).
 *
 * @param evs  @p n decoded envelopes of this entity, in increasing version order, each
 *             version at most once; the array and the envelopes' documents are taken
 *             (the array must come from rj_xmalloc/rj_xcalloc, or be NULL when @p n is 0)
 *
 * Forgotten by red_batch_reset: every attempt reads them again.
 */
void red_entity_take_fill(red_entity_t *e, rj_env_event_t *evs, size_t n);

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
    size_t gaps;       /* events not folded because of a gap PostgreSQL could not fill */
    size_t failed;     /* events whose reducer failed (of the batch and filled ones) */
    size_t filled;     /* events read from PostgreSQL and folded to fill gaps; their own
                          messages, when they come, count as duplicates */
} red_fold_stats_t;

/**
 * Folds every entity's events into its stored state, setting each event's outcome
 * (filled events too, once folded) and each entity's version, value and last.
 * An event of a gap is preceded by the filled events of the missing versions; when one
 * is not there, the filled ones before the hole are folded, the event is RED_GAPPED and
 * its error names the missing versions.
 */
void red_batch_fold(red_batch_t *b, red_reduce_fn reduce, void *opaque, red_fold_stats_t *stats);

/** True when the fold advanced the entity's version (its snapshot must be written). */
bool red_entity_changed(const red_entity_t *e);

#endif
