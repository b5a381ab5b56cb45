/*
 * json/envelope.h - the JSON envelopes that travel between daemons, encoded and
 * decoded with validation (docs/architecture.md; JSON Schemas in proto/).
 *
 * Each envelope is a struct of views. Decoding parses the bytes, checks every
 * field against the schema (types, required fields, positive versions, the size
 * limit), and fills the struct with pointers *into* the parsed document, which the
 * struct owns in `root`; release it with the envelope's _deinit. Encoding is the
 * reverse: the caller fills the struct with borrowed pointers (root stays NULL)
 * and gets back a compact JSON string with keys in the documented order.
 *
 * Decoders reject, with "could not decode <kind> envelope: <reason>" and RJ_EPROTO
 * (RJ_ETOOBIG for oversized input): malformed JSON, a non-object top level, missing
 * required fields, fields of the wrong type and ids over RJ_ID_MAX_BYTES. Unknown extra fields are
 * accepted and ignored, so a newer producer can add fields without breaking older consumers.
 *
 * What this file deliberately does not do: it does not check that names refer to
 * declared commands, events or read models (the app model does, in the daemon that
 * has it), and it does not validate the application payloads ("input", "value")
 * beyond their JSON type.
 */
#ifndef RJ_ENVELOPE_H
#define RJ_ENVELOPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rj/status.h"

/* Largest envelope a decoder accepts. Keep Kafka's message.max.bytes at least this. */
#define RJ_ENV_MAX_BYTES ((size_t)8 * 1024 * 1024)

/*
 * The longest id Ramjet stores, in bytes: entity ids, read-model ids and request ids.
 * Ids are keys of btree indexes (entity_heads_pkey, command_outbox_pkey, events,
 * snapshots, read-model tables), and PostgreSQL refuses an index row over 2704 bytes: a
 * longer id made the daemon that stored it fail its whole batch again and again. 1024
 * leaves room for the entity type beside the id. The gateway refuses longer ids at the
 * edge (its max-id-bytes, at most this); the command processor fails a command that
 * registers an event for one; the decoders here refuse envelopes whose requestId
 * (command) or entityId (event, snapshot) is longer, for producers that bypass both.
 */
#define RJ_ID_MAX_BYTES 1024

/** `<app>.commands`: one command invocation (proto/command.schema.json). */
typedef struct rj_env_command {
    json_t *root;                /* decode: the parsed document, owned; encode: NULL */
    const char *request_id;      /* "requestId": non-empty */
    const char *command;         /* "command": the command name, non-empty */
    const json_t *input;         /* "input": an object */
    const json_t *current_user;  /* "currentUser": an object, or NULL for JSON null/absent */
    const char *reply_to;        /* "replyTo": Redis channel of the gateway, non-empty */
    const char *issued_at;       /* "issuedAt": ISO-8601 with ms, UTC */
} rj_env_command_t;

/** `<app>.events`: one stored event (proto/event.schema.json). */
typedef struct rj_env_event {
    json_t *root;                /* decode: the parsed document, owned; encode: NULL */
    const char *event_id;        /* "eventId": UUID */
    const char *type;            /* "type": event type name */
    const char *entity;          /* "entity": entity type name */
    const char *entity_id;       /* "entityId" */
    int64_t version;             /* "version": per-entity version, >= 1 */
    const char *request_id;      /* "requestId" */
    const char *created_at;      /* "createdAt": ISO-8601 with ms, UTC */
    const json_t *value;         /* "value": the payload, an object */
    const json_t *current_user;  /* "currentUser": an object, or NULL for JSON null/absent */
} rj_env_event_t;

/** `<app>.snapshots`: an entity's state after a version (proto/snapshot.schema.json). */
typedef struct rj_env_snapshot {
    json_t *root;                /* decode: the parsed document, owned; encode: NULL */
    const char *entity;          /* "entity": entity type name */
    const char *entity_id;       /* "entityId" */
    int64_t version;             /* "version": the last folded event's version, >= 1 */
    const json_t *value;         /* "value": the state, an object */
    const char *last_event_id;   /* "lastEventId": UUID of the last folded event */
    const char *created_at;      /* "createdAt": ISO-8601 with ms, UTC */
} rj_env_snapshot_t;

/** `<app>.readmodels` and `<app>:rm:<ReadModel>`: a read-model change (proto/readmodel.schema.json). */
typedef struct rj_env_readmodel {
    json_t *root;                /* decode: the parsed document, owned; encode: NULL */
    const char *type;            /* "type": read model name */
    const char *id;              /* "id" */
    const char *sequence_key;    /* "sequenceKey": string, or NULL for JSON null */
    int64_t version;             /* "version": the row's version, >= 1 */
    const json_t *value;         /* "value": an object; NULL (JSON null) iff deleted */
    bool deleted;                /* "deleted" */
} rj_env_readmodel_t;

/** Redis `<app>:reply:<gateway>`: the outcome of one command (proto/reply.schema.json). */
typedef struct rj_env_reply {
    json_t *root;                /* decode: the parsed document, owned; encode: NULL */
    const char *request_id;      /* "requestId" */
    bool ok;                     /* "ok" */
    const json_t *result;        /* ok: "result", any JSON value (required) */
    const json_t *events;        /* ok: "events", array of {entity, entityId, version};
                                    encode: NULL is written as [] */
    const char *error_message;   /* !ok: "error.message" */
    const char *error_code;      /* !ok: "error.code", or NULL when absent */
} rj_env_reply_t;

/** `<app>.deadletters`: a message given up on (proto/deadletter.schema.json). */
typedef struct rj_env_deadletter {
    json_t *root;                /* decode: the parsed document, owned; encode: NULL */
    const char *topic;           /* "topic": where the message came from */
    int32_t partition;           /* "partition": >= 0 */
    int64_t offset;              /* "offset": >= 0 */
    const char *key;             /* "key": the original key, or NULL for JSON null */
    const char *value;           /* "value": the original message text */
    const char *error;           /* "error": why it was given up on */
    const char *daemon;          /* "daemon": e.g. "ramjet-commands" */
    const char *at;              /* "at": ISO-8601 with ms, UTC */
} rj_env_deadletter_t;

/*
 * Decoders: parse and validate @p len bytes at @p buf (not necessarily NUL-terminated).
 * On RJ_OK @p out owns the document (release with _deinit); on failure @p out is
 * zeroed and needs no _deinit. Errors: RJ_EPROTO (malformed, wrong type, missing
 * field), RJ_ETOOBIG (len > RJ_ENV_MAX_BYTES). Thread-safe.
 *
 * Encoders: build the compact JSON text of @p env, whose pointers are borrowed
 * (required strings must be non-NULL; RJ_ASSERT checks). Ownership: a new string,
 * free() it. Never NULL.
 */
rj_status_t rj_env_command_decode(const char *buf, size_t len, rj_env_command_t *out,
                                  rj_error_t *err);
char *rj_env_command_encode(const rj_env_command_t *env);
void rj_env_command_deinit(rj_env_command_t *env);

rj_status_t rj_env_event_decode(const char *buf, size_t len, rj_env_event_t *out,
                                rj_error_t *err);
char *rj_env_event_encode(const rj_env_event_t *env);
void rj_env_event_deinit(rj_env_event_t *env);

rj_status_t rj_env_snapshot_decode(const char *buf, size_t len, rj_env_snapshot_t *out,
                                   rj_error_t *err);
char *rj_env_snapshot_encode(const rj_env_snapshot_t *env);
void rj_env_snapshot_deinit(rj_env_snapshot_t *env);

rj_status_t rj_env_readmodel_decode(const char *buf, size_t len, rj_env_readmodel_t *out,
                                    rj_error_t *err);
char *rj_env_readmodel_encode(const rj_env_readmodel_t *env);
void rj_env_readmodel_deinit(rj_env_readmodel_t *env);

rj_status_t rj_env_reply_decode(const char *buf, size_t len, rj_env_reply_t *out,
                                rj_error_t *err);
char *rj_env_reply_encode(const rj_env_reply_t *env);
void rj_env_reply_deinit(rj_env_reply_t *env);

rj_status_t rj_env_deadletter_decode(const char *buf, size_t len, rj_env_deadletter_t *out,
                                     rj_error_t *err);
char *rj_env_deadletter_encode(const rj_env_deadletter_t *env);
void rj_env_deadletter_deinit(rj_env_deadletter_t *env);

/*
 * The same envelopes as json_t objects, for callers that embed them in a larger
 * document (the command outbox stores event envelopes in a jsonb array).
 * Ownership: a new reference.
 */
json_t *rj_env_event_to_json(const rj_env_event_t *env);
json_t *rj_env_reply_to_json(const rj_env_reply_t *env);

/*
 * Numbers. Ramjet has one number encoding, for commands, events, snapshots, read models
 * and replies alike (docs/app-sdl.md, "Numbers"): every number it stores is a finite
 * IEEE-754 double; integral values within ±2^53 are written as JSON integers, all others
 * as jansson's round-trip real (at most 17 significant digits). Infinities and NaN do not
 * exist: the GraphQL layer refuses them at the edge. PostgreSQL's jsonb may hand such a number
 * back in another spelling (1e308 as 309 digits, 5e-324 as 0.000...49406564584124654,
 * -0 as 0); rj_json_loadb() reads every spelling back as the same double.
 */

/**
 * The canonical JSON form of @p d: an integer when @p d is integral within ±2^53 (-0
 * included, which becomes 0), else a real.
 *
 * @return a new reference, or NULL when @p d is infinite or NaN (which JSON cannot hold)
 */
json_t *rj_json_number(double d);

/**
 * json_loadb() for data Ramjet stored or transported: the one decoder every daemon uses.
 * It never fails on a valid JSON number that is a finite double, and returns every number
 * in rj_json_number()'s canonical form: an integer literal int64 cannot hold (jsonb prints
 * 1e308 as 309 digits) is the nearest double, a real; so is any integer beyond ±2^53;
 * integral values within ±2^53 are integers, whether spelt 3 or 3.0.
 *
 * @param buf    the text; borrowed, need not be NUL-terminated
 * @param flags  jansson's decoding flags (JSON_DECODE_ANY, JSON_REJECT_DUPLICATES, ...)
 * @param error  if not NULL, filled on failure as by json_loadb()
 * @return a new reference, or NULL on malformed JSON or a real beyond the double range
 *
 * Thread-safe.
 */
json_t *rj_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error);

/**
 * rj_json_loadb(@p buf, @p len, 0, NULL), by a faster parser of our own (json/parse.c):
 * the same value, or NULL for the same inputs, but no word of why. For hot paths that
 * report a bad document without jansson's message. One difference, on purpose: a raw NUL
 * byte outside a string is refused, as RFC 8259 says; jansson's reader skips some (it
 * takes one for the end of its look-ahead buffer). tests/fuzz/fuzz_json holds the rest.
 *
 * Thread-safe.
 */
json_t *rj_json_parse(const char *buf, size_t len);

/** rj_json_loadb() of the NUL-terminated @p s. */
json_t *rj_json_loads(const char *s, size_t flags, json_error_t *error);

/**
 * Compact, key-order-preserving dump of @p v (borrowed): the text json_dumps() prints
 * with JSON_COMPACT | JSON_ENCODE_ANY, without its cost (json/dump.c). Aborts where
 * json_dumps() fails (a cycle, a string that is not UTF-8). A new string, free() it.
 * Thread-safe.
 */
char *rj_json_dumps(const json_t *v);

/**
 * True when a string anywhere in @p v (borrowed; NULL is false) contains U+0000.
 * PostgreSQL's jsonb and text cannot store it and the decoders here refuse it, so
 * the gateway refuses such input up front instead of losing it downstream.
 */
bool rj_json_has_nul(const json_t *v);

#endif
