/*
 * protocol.h - the graphql-ws protocol (subscriptions-transport-ws, as Booster speaks it)
 * as pure functions over a per-connection session: frames in, frames queued out.
 *
 * Client → server: connection_init (its payload.Authorization is verified, see
 * protocol.c), start, stop, connection_terminate.
 * Server → client: connection_ack, connection_error, data, error, complete (and ka when
 * keep-alives are on; Booster never sends them). booster-surface.md §1.2 and §10 are the
 * reference; the deliberate differences are listed in protocol.c.
 *
 * A session knows nothing about sockets. Handling a frame may queue frames on the
 * session's bounded outgoing queue and may ask for the connection to be closed
 * (push_session_t.close_code); the transport (ws.c) is told through the `wake` hook that
 * a session has something to write and drains the queue one frame per writable event.
 * The unit tests drive sessions directly, without lws.
 *
 * Everything here runs on the libwebsockets service thread; nothing is locked.
 */
#ifndef PUSH_PROTOCOL_H
#define PUSH_PROTOCOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "core/core.h"
#include "graphql/graphql.h"
#include "subs.h"

/*
 * Bytes reserved in front of every queued frame for the WebSocket header, so the
 * transport can write in place (libwebsockets' LWS_PRE; ws.c asserts they agree).
 */
#define PUSH_FRAME_HEADROOM 16

/* WebSocket close codes the protocol asks for (RFC 6455 §7.4.1). */
#define PUSH_CLOSE_NORMAL 1000     /* connection_terminate */
#define PUSH_CLOSE_GOING_AWAY 1001 /* server shutting down */
#define PUSH_CLOSE_POLICY 1008     /* send queue overflow: the client cannot keep up */
#define PUSH_CLOSE_TOO_BIG 1009    /* a message over max-message-bytes */

/** One outgoing text frame: PUSH_FRAME_HEADROOM spare bytes, then @c len bytes of JSON. */
typedef struct push_frame {
    struct push_frame *next; /* next frame in the session's queue */
    size_t len;              /* payload length, headroom excluded */
    unsigned char buf[];     /* headroom + payload (+ a NUL, for logs and tests) */
} push_frame_t;

/** The payload of @p f (after the headroom). */
static inline char *
push_frame_data(push_frame_t *f)
{
    return (char *)f->buf + PUSH_FRAME_HEADROOM;
}

typedef struct push_proto push_proto_t;

/** One client connection's protocol state. Caller-owned storage: _init/_deinit. */
typedef struct push_session {
    char id[RJ_UUID_STRLEN];  /* connection id, for logs */
    json_t *user;             /* the user envelope verified at connection_init, or NULL for
                                 anonymous; owned. The token itself is not kept. */
    bool initialized;         /* connection_init received */
    push_sub_owner_t subs;    /* its subscriptions; subs.data points back here */
    push_frame_t *out_head;   /* oldest queued frame, or NULL */
    push_frame_t *out_tail;   /* newest queued frame, or NULL */
    size_t out_count;         /* frames queued */
    int close_code;           /* 0, or the close code the protocol asks the transport for */
    const char *close_reason; /* static text for the close frame when close_code != 0 */
    void *transport;          /* the transport's handle (ws.c: struct lws *); not touched here */
} push_session_t;

/**
 * Called when a session gets its first queued frame or a close request, so the transport
 * can schedule a write. Must not re-enter the protocol.
 */
typedef void (*push_wake_fn)(push_session_t *s, void *ud);

/** Counters for /metrics; updated by the protocol, read by anyone on the loop thread. */
typedef struct push_proto_stats {
    uint64_t frames_in;      /* client frames handled (unparseable ones included) */
    uint64_t frames_ignored; /* unparseable client frames */
    uint64_t frames_out;     /* frames queued for clients */
    uint64_t subscribes;     /* subscriptions registered */
    uint64_t start_errors;   /* `start` answered with errors */
    uint64_t changes;        /* read-model changes received */
    uint64_t changes_bad;    /* changes that could not be decoded */
    uint64_t deliveries;     /* data frames queued for changes */
    uint64_t overflows;      /* sessions closed because their queue was full */
} push_proto_stats_t;

/** How to build a protocol context. */
typedef struct push_proto_opts {
    const rj_app_t *app;      /* the application; borrowed, must outlive the context */
    rj_gql_schema_t *schema;  /* the API schema; a reference is kept */
    size_t send_queue_max;    /* frames a session may have queued; 0 = 1 */
    size_t max_subscriptions; /* subscriptions per session; 0 = no limit */
    size_t doc_cache_size;    /* parsed-document cache entries; 0 = 256 */
    push_wake_fn wake;        /* may be NULL (tests) */
    void *wake_ud;            /* passed to @c wake */
} push_proto_opts_t;

/**
 * Creates a protocol context: the subscription registry and the document cache.
 * Never NULL. Ownership: release with push_proto_free() after every session was
 * deinitialised.
 */
push_proto_t *push_proto_new(const push_proto_opts_t *opts);

/** Frees the context. NULL is a no-op. */
void push_proto_free(push_proto_t *p);

/** The registry (for tests and /metrics). Borrowed. */
push_subs_t *push_proto_subs_get(push_proto_t *p);

/** The counters. Borrowed. */
const push_proto_stats_t *push_proto_stats_get(const push_proto_t *p);

/** Initialises a session with a fresh connection id. @p transport is stored as is. */
void push_session_init(push_session_t *s, void *transport);

/** Drops the session's subscriptions and queued frames and frees its strings. */
void push_session_deinit(push_proto_t *p, push_session_t *s);

/**
 * Handles one complete client text message of @p len bytes (need not be NUL-terminated).
 * Replies and errors are queued on @p s; a protocol-level close is requested through
 * s->close_code. Unparseable frames are logged and ignored.
 */
void push_proto_handle(push_proto_t *p, push_session_t *s, const char *msg, size_t len);

/**
 * Delivers one read-model change published on Redis: decodes the envelope and queues a
 * `data` frame, shaped by each subscription's selection set, for every subscription on
 * that row. Deletions are not delivered (Booster). Sessions whose queue overflows are
 * asked to close.
 *
 * @param msg  the envelope text, @p len bytes; borrowed
 * @return the number of data frames queued
 */
size_t push_proto_deliver(push_proto_t *p, const char *msg, size_t len);

/**
 * Queues `{"type":"ka"}` on @p s (keep-alive, only when configured: Booster never sends it).
 */
void push_session_keepalive(push_proto_t *p, push_session_t *s);

/** Asks for @p s to be closed with @p code and static @p reason; wakes the transport. */
void push_session_close(push_proto_t *p, push_session_t *s, int code, const char *reason);

/** Removes and returns the oldest queued frame (free() it), or NULL when none. */
push_frame_t *push_session_pop(push_session_t *s);

/**
 * The id a read-model request's filter selects, when the filter is exactly
 * {"id": {"eq": <id>}} (what a by-id subscription is, before and, unless a before hook
 * rewrote it into something else, after the hooks).
 *
 * @param request  {"filters": {...}}; borrowed
 * @return a new string (free() it), or NULL for any other filter
 */
char *push_filter_id(const json_t *request);

#endif
