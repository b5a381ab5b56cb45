/*
 * eventstore/store.h - turns a batch of event envelopes into the parameters of one
 * bulk INSERT into the events table.
 *
 * The event store is the system of record, so the writer's one job is to make every
 * well-formed event on `<app>.events` land in `events` exactly once, fast. A batch
 * becomes a single statement whose nine parameters are PostgreSQL array literals,
 * one per column, unnested server-side:
 *
 *   INSERT INTO events (...) SELECT * FROM unnest($1::uuid[], ..., $9::jsonb[])
 *   ON CONFLICT DO NOTHING
 *
 * which costs one round trip per batch instead of one per event. ON CONFLICT DO
 * NOTHING absorbs redelivery (same event id) and, through unique(entity_type,
 * entity_id, version), any second event claiming a taken version.
 *
 * This file is pure (no I/O) so it can be unit-tested: it decodes, validates and
 * encodes. Deliberately not here: the statement's execution and the dead letters,
 * which are the daemon's (main.c).
 */
#ifndef ES_STORE_H
#define ES_STORE_H

#include <stddef.h>

#include "core/core.h"
#include "rj/status.h"
#include "json/envelope.h"

/* Columns of the insert, in the order of the statement's parameters. */
enum {
    ES_COL_EVENT_ID,
    ES_COL_ENTITY_TYPE,
    ES_COL_ENTITY_ID,
    ES_COL_VERSION,
    ES_COL_TYPE,
    ES_COL_REQUEST_ID,
    ES_COL_CREATED_AT,
    ES_COL_VALUE,
    ES_COL_CURRENT_USER,
    ES_NCOLS
};

/** The statement es_batch_params feeds: $1..$9 are the columns above. */
extern const char es_insert_sql[];

/** A batch of decoded events. Caller-owned storage: es_batch_init / es_batch_deinit. */
typedef struct es_batch {
    rj_env_event_t *envs;   /* decoded envelopes, each owning its document */
    char **texts;           /* per event: version, value and current user as text, 3 each */
    size_t n;               /* events */
    size_t cap;             /* allocated */
    char *params[ES_NCOLS]; /* array literals, built by es_batch_params; NULL before */
} es_batch_t;

void es_batch_init(es_batch_t *b);
/** Frees every event and literal; @p b is empty (initialised) afterwards. */
void es_batch_deinit(es_batch_t *b);

/**
 * Decodes one message and appends the event.
 *
 * @param payload  @p len bytes of the message value (may be NULL for an empty value); borrowed
 * @return RJ_OK, or the decoder's error (RJ_EPROTO, RJ_ETOOBIG) with "could not decode
 *         event envelope: ..." in @p err; the batch is unchanged then
 */
rj_status_t es_batch_add(es_batch_t *b, const char *payload, size_t len, rj_error_t *err);

/**
 * Builds (once) and returns the nine array-literal parameters of es_insert_sql.
 * Ownership: borrowed from @p b, valid until es_batch_deinit. Call only with n > 0.
 */
const char *const *es_batch_params(es_batch_t *b);

#endif
