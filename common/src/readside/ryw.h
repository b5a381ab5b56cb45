/*
 * readside/ryw.h - read-your-writes consistency tokens: which entity versions a client
 * has written, in a form it can carry back to the gateway.
 *
 * A mutation's answer carries, in `extensions.consistencyToken`, the entity versions its
 * command stored (the reply's `events`); a query sent back with that token is answered once
 * the projector has projected every one of them (projected_entities.version >= version).
 * The pusher keeps one such set per WebSocket connection, merging each mutation's token
 * into it, so that every operation it forwards waits for the connection's own writes.
 *
 * The token is base64url (unpadded) of the JSON array [1, [entity, id, version], ...]:
 * opaque to clients, which must not build one, but readable by an operator and strictly
 * checked on the way in. It is bounded (RJ_RYW_MAX_WRITES entries, RJ_RYW_MAX_TOKEN bytes),
 * so neither a forged token nor a long session makes a check cost more than that. It is not
 * signed: a forged token can only make its own request wait (bounded), and the gateway
 * refuses at once a version that was never written (entity_heads).
 *
 * What this file deliberately does not do: wait, or talk to PostgreSQL (the gateway's
 * consistency.c does), or know which entities the application declares.
 */
#ifndef RJ_READSIDE_RYW_H
#define RJ_READSIDE_RYW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "rj/status.h"

/* The most writes one token names; merging more forgets the oldest. */
#define RJ_RYW_MAX_WRITES 32
/* The longest token accepted, in bytes of its text: RJ_RYW_MAX_WRITES writes of the
   longest entity names and ids (RJ_ID_MAX_BYTES) fit. */
#define RJ_RYW_MAX_TOKEN 65536
/* The longest entity name a write may name. */
#define RJ_RYW_MAX_ENTITY 255

/** One write: an entity's version that a reader wants to see projected. */
typedef struct rj_ryw_write {
    char *entity;    /* entity type name; owned */
    char *id;        /* entity id; owned */
    int64_t version; /* >= 1 */
} rj_ryw_write_t;

/** A set of writes, oldest first, at most one per entity. Caller-owned storage. */
typedef struct rj_ryw {
    rj_ryw_write_t w[RJ_RYW_MAX_WRITES]; /* the writes, w[0] the oldest noted */
    size_t n;                            /* how many */
} rj_ryw_t;

/** An empty set. */
void rj_ryw_init(rj_ryw_t *t);

/** Frees the strings of @p t and empties it. */
void rj_ryw_deinit(rj_ryw_t *t);

/**
 * Notes that @p entity @p id reached @p version: an entity already in the set keeps the
 * higher version and becomes the newest; a new one is appended, forgetting the oldest when
 * the set is full. Strings are copied. Any thread (the set is the caller's).
 */
void rj_ryw_note(rj_ryw_t *t, const char *entity, const char *id, int64_t version);

/**
 * Notes every write of a command reply's `events` ([{entity, entityId, version}], as
 * rj_env_reply_decode checked it); elements of another shape are skipped.
 *
 * @param events  borrowed; NULL notes nothing
 */
void rj_ryw_note_events(rj_ryw_t *t, const json_t *events);

/**
 * Decodes @p token and notes its writes into @p t (a merge).
 *
 * @param token  the token's text, @p len bytes; borrowed
 * @return RJ_OK; RJ_EINVAL with a message saying what is wrong (not base64url, not the
 *         token's JSON, too long, too many writes, a bad name, id or version); @p t is
 *         unchanged then
 */
rj_status_t rj_ryw_note_token(rj_ryw_t *t, const char *token, size_t len, rj_error_t *err);

/**
 * The token naming the writes of @p t (an empty set has a token too, which waits for
 * nothing).
 *
 * @return a new string; free() it
 */
char *rj_ryw_encode(const rj_ryw_t *t);

#endif
