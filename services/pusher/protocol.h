/*
 * protocol.h - the two GraphQL-over-WebSocket protocols as pure functions over a
 * per-connection session: frames in, frames queued out.
 *
 * graphql-ws (subscriptions-transport-ws, as Booster speaks it; the default):
 *   client → server: connection_init (its token is verified, see protocol.c), start,
 *   stop, connection_terminate;
 *   server → client: connection_ack, connection_error, data, error, complete (and ka when
 *   keep-alives are on; Booster never sends them). booster-surface.md §1.2 and §10 are the
 *   reference; the deliberate differences are listed in protocol.c.
 *
 * graphql-transport-ws (the graphql-ws library's protocol, its PROTOCOL.md):
 *   client → server: connection_init, ping, pong, subscribe, complete;
 *   server → client: connection_ack, ping/pong, next, error, complete; protocol errors
 *   close the socket with 4400, 4401, 4403, 4408, 4409 or 4429.
 *
 * Both protocols serve the same subscriptions: a read model by id, `X(id:)`, or every row
 * satisfying a filter, `Xs(filter:)`, authorized and passed through the read model's
 * before hooks when they start.
 *
 * Both also run queries and mutations, when a forward hook is configured: the operation goes
 * to the GraphQL gateway over HTTP with the Authorization the connection presented in
 * connection_init (forward.h), and the gateway's answer comes back through
 * push_proto_forward_done(): graphql-ws `data` then `complete`, graphql-transport-ws `next`
 * then `complete` (`error` for a request error or a gateway that did not answer). Each
 * operation in flight holds a slot of a fixed table; its request id names the slot and the
 * slot's generation, so an answer for an operation that was stopped, or whose connection
 * closed, finds nothing and is dropped, without a pointer to anything that may be gone.
 *
 * A session knows nothing about sockets. Handling a frame may queue frames on the
 * session's outgoing queue and may ask for the connection to be closed
 * (push_session_t.close_code); the transport (ws.c) is told through the `wake` hook that
 * a session has something to write and drains the queue with push_session_pop().
 * The unit tests drive sessions directly, without lws.
 *
 * The queue is bounded in bytes, not frames (send_queue_max_bytes): a session over it for
 * longer than send_queue_grace_ms, or with over twice it in frames that cannot coalesce
 * (answers, protocol messages) at any moment, is closed with 1008. Once
 * a session has fallen behind (its queue holds coalesce_after_bytes), a change for a
 * subscription does not add a frame when that subscription already has one for the same
 * row waiting: the waiting entry takes the newer value in place (only the
 * newest state of a row matters to a subscriber), so a burst of changes costs a client
 * that reads slowly one entry per (subscription, row), and the rendered value itself is
 * shared by every entry that carries it. Answers to operations and protocol messages are
 * never coalesced.
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
#include "forward.h"
#include "graphql/graphql.h"
#include "readside/ryw.h"
#include "subs.h"

/*
 * Bytes reserved in front of every queued frame for the WebSocket header, so the
 * transport can write in place (libwebsockets' LWS_PRE; ws.c asserts they agree).
 */
#define PUSH_FRAME_HEADROOM 16

/* WebSocket close codes the protocol asks for (RFC 6455 §7.4.1). */
#define PUSH_CLOSE_NORMAL 1000     /* connection_terminate */
#define PUSH_CLOSE_GOING_AWAY 1001 /* server shutting down */
#define PUSH_CLOSE_POLICY 1008     /* send queue over its bound: the client cannot keep up */
#define PUSH_CLOSE_TOO_BIG 1009    /* a message over max-message-bytes */

/* graphql-transport-ws close codes (graphql-ws's CloseCode). */
#define PUSH_CLOSE_BAD_REQUEST 4400  /* an invalid message */
#define PUSH_CLOSE_UNAUTHORIZED 4401 /* subscribe (graphql-ws: start) before connection_ack */
#define PUSH_CLOSE_FORBIDDEN                                                                       \
    4403                                  /* connection_init with a token that does not verify     \
                                             (both protocols) */
#define PUSH_CLOSE_INIT_TIMEOUT 4408      /* no connection_init within init-timeout-ms */
#define PUSH_CLOSE_SUBSCRIBER_EXISTS 4409 /* subscribe with an id already in use */
#define PUSH_CLOSE_TOO_MANY_INITS 4429    /* a second connection_init */

/* A close frame's reason is at most 123 bytes (RFC 6455 §5.5: 125 minus the code). */
#define PUSH_CLOSE_REASON_MAX 123

/* The WebSocket subprotocol names, as negotiated in Sec-WebSocket-Protocol. */
#define PUSH_SUBPROTO_GRAPHQL_WS_NAME "graphql-ws"
#define PUSH_SUBPROTO_TRANSPORT_WS_NAME "graphql-transport-ws"

/** The protocol a session speaks, fixed when the socket is opened. */
typedef enum push_subproto {
    PUSH_SUBPROTO_GRAPHQL_WS = 0,   /* subscriptions-transport-ws (Booster's), the default */
    PUSH_SUBPROTO_TRANSPORT_WS = 1, /* graphql-transport-ws (the graphql-ws library) */
} push_subproto_t;

typedef struct push_payload push_payload_t;

/**
 * One entry of a session's outgoing queue. A ready frame (@c sub NULL) is PUSH_FRAME_HEADROOM
 * spare bytes, then @c len bytes of JSON; push_session_pop() returns only ready frames. A
 * change entry (@c sub set, private to protocol.c) holds the frame's opening text in @c buf
 * and the subscription's latest value in @c payload; it becomes a ready frame when popped.
 */
typedef struct push_frame {
    struct push_frame *next;      /* next (newer) entry in the session's queue */
    struct push_frame *prev;      /* previous (older) entry */
    struct push_sub *sub;         /* change entry: its subscription; NULL for a ready frame */
    struct push_frame *sub_older; /* change entry: the subscription's older waiting entry */
    struct push_frame *sub_newer; /* change entry: ... and its newer one */
    push_payload_t *payload;      /* change entry: the latest value, a reference */
    char *row;                    /* change entry: the row it is for (id, sequence key); owned */
    size_t cost;                  /* bytes counted against the session's bound */
    size_t len;                   /* ready frame: payload length, headroom excluded;
                                     change entry: length of the opening text in @c buf */
    unsigned char buf[];          /* headroom + payload (+ a NUL, for logs and tests) */
} push_frame_t;

/** The payload of @p f (after the headroom). */
static inline char *
push_frame_data(push_frame_t *f)
{
    return (char *)f->buf + PUSH_FRAME_HEADROOM;
}

typedef struct push_proto push_proto_t;
typedef struct push_op push_op_t;

/** One client connection's protocol state. Caller-owned storage: _init/_deinit. */
typedef struct push_session {
    char id[RJ_UUID_STRLEN];     /* connection id, for logs */
    push_subproto_t subprotocol; /* the protocol spoken on this connection */
    json_t *user;                /* the user envelope verified at connection_init, or NULL for
                                    anonymous; owned */
    char *authorization;         /* the token that verified at connection_init, sent with
                                    forwarded operations; owned, never logged */
    char *upgrade_authorization; /* the upgrade request's Authorization header, or NULL;
                                    owned, never logged */
    bool initialized;            /* connection_init accepted (connection_ack sent) */
    bool init_received;          /* connection_init received, accepted or not */
    int64_t opened_us;           /* rj_mono_us() at push_session_init, for the init timeout */
    push_sub_owner_t subs;       /* its subscriptions; subs.data points back here */
    rj_ryw_t *writes;            /* what its mutations wrote (read-your-writes), sent with every
                                    forwarded operation; NULL before the first; owned */
    push_op_t *ops;              /* its queries and mutations awaiting the gateway, newest first */
    size_t nops;                 /* their number */
    push_frame_t *out_head;      /* oldest queued frame, or NULL */
    push_frame_t *out_tail;      /* newest queued frame, or NULL */
    size_t out_count;            /* entries queued */
    size_t out_bytes;            /* bytes they will take on the wire (about) */
    size_t out_frame_bytes;      /* of those, in ready frames (answers, protocol messages):
                                  what coalescing cannot bound */
    int64_t over_since_us;       /* rj_mono_us() when out_bytes went over the bound, or 0 */
    int close_code;              /* 0, or the close code the protocol asks the transport for */
    bool close_flush;            /* write the frames queued before the close frame (the
                                    answer explaining it); otherwise they are dropped */
    const char *close_reason;    /* text for the close frame when close_code != 0: static, or
                                    close_reason_buf */
    char close_reason_buf[PUSH_CLOSE_REASON_MAX + 1]; /* a reason built for this session */
    void *transport; /* the transport's handle (ws.c: struct lws *); not touched here */
} push_session_t;

/**
 * Called when a session gets its first queued frame or a close request, so the transport
 * can schedule a write. Must not re-enter the protocol.
 */
typedef void (*push_wake_fn)(push_session_t *s, void *ud);

/** Counters for /metrics; updated by the protocol, read by anyone on the loop thread. */
typedef struct push_proto_stats {
    uint64_t frames_in;       /* client frames handled (unparseable ones included) */
    uint64_t frames_ignored;  /* unparseable client frames */
    uint64_t frames_out;      /* frames queued for clients */
    uint64_t subscribes;      /* subscriptions registered */
    uint64_t start_errors;    /* `start` answered with errors */
    uint64_t changes;         /* read-model changes received */
    uint64_t changes_bad;     /* changes that could not be decoded */
    uint64_t deliveries;      /* data frames queued for changes */
    uint64_t overflows;       /* sessions closed because their queue stayed over its bound */
    uint64_t coalesced;       /* changes that replaced a waiting one of the same row */
    uint64_t filter_evals;    /* filter groups evaluated against a change */
    uint64_t renders;         /* payloads rendered for changes (one per matching group or
                                 by-id subscription; shared by a group's members) */
    uint64_t protocol_closes; /* graphql-transport-ws sessions closed for a protocol error */
    uint64_t forwarded;       /* queries and mutations sent to the gateway */
    uint64_t forward_failed;  /* of those, answered with an error because the gateway did not
                                 answer, or not with a GraphQL result */
    uint64_t forward_dropped; /* answers dropped: the client stopped the operation or closed */
    uint64_t forward_refused; /* queries and mutations refused: too many in flight */
    size_t forward_in_flight; /* forwarded requests not answered yet, stopped ones included */
} push_proto_stats_t;

/**
 * Sends a query or mutation to the gateway (ws.c: push_fwd_submit). Its answer must come
 * back later, once, through push_proto_forward_done() with the same @p req_id; the hook
 * must not call into the protocol itself.
 *
 * @param req_id         identifies the operation's slot and generation
 * @param authorization  the connection's Authorization, or NULL; borrowed
 * @param consistency    the connection's consistency token (what its mutations wrote), for
 *                       the gateway's Consistency-Token header, or NULL; borrowed
 * @param body           {"query", "variables", "operationName"}, @p len bytes; taken
 */
typedef void (*push_forward_fn)(void *ud, uint64_t req_id, const char *authorization,
                                const char *consistency, char *body, size_t len);

/** How to build a protocol context. */
typedef struct push_proto_opts {
    const rj_app_t *app;         /* the application; borrowed, must outlive the context */
    rj_gql_schema_t *schema;     /* the API schema; a reference is kept */
    size_t send_queue_max_bytes; /* bytes a session may have queued; 0 = 1 */
    int send_queue_grace_ms;     /* how long a session may stay over that before it is
                                    closed; 0 = not at all */
    size_t coalesce_after_bytes; /* changes coalesce only in a queue holding this much: a
                                    client that keeps up gets every state; 0 = always */
    size_t max_subscriptions;    /* subscriptions per session; 0 = no limit */
    size_t doc_cache_size;       /* parsed-document cache entries; 0 = 256 */
    int init_timeout_ms;         /* graphql-transport-ws: close with 4408 when connection_init
                                    has not arrived this long after opening; 0 = never */
    push_wake_fn wake;           /* may be NULL (tests) */
    void *wake_ud;               /* passed to @c wake */
    push_forward_fn forward;     /* runs queries and mutations; NULL refuses them with an error
                                    pointing at POST /graphql */
    void *forward_ud;            /* passed to @c forward */
    size_t max_operations;       /* forwarded operations in flight per session; 0 = 1 */
    size_t max_forwarded;        /* forwarded requests in flight in total, stopped ones included
                                    until their answer arrives; 0 = 1 */
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

/**
 * Sets the Authorization header of the WebSocket upgrade request, used when
 * connection_init's payload carries no token. Call before the first message.
 *
 * @param value  the header's value, @p len bytes; copied
 */
void push_session_set_upgrade_authorization(push_session_t *s, const char *value, size_t len);

/**
 * Initialises a graphql-ws session with a fresh connection id. @p transport is stored as
 * is. Same as push_session_init_proto(s, transport, PUSH_SUBPROTO_GRAPHQL_WS).
 */
void push_session_init(push_session_t *s, void *transport);

/** Initialises a session that speaks @p subprotocol. */
void push_session_init_proto(push_session_t *s, void *transport, push_subproto_t subprotocol);

/**
 * The subprotocol named @p name ("graphql-ws" or "graphql-transport-ws"); NULL or any
 * other name is graphql-ws, which is what clients asking for no subprotocol get.
 */
push_subproto_t push_subproto_from_name(const char *name);

/**
 * Drops the session's subscriptions, queued frames and pending operations (their answers
 * will be dropped when they arrive) and frees its strings.
 */
void push_session_deinit(push_proto_t *p, push_session_t *s);

/**
 * Handles one complete client text message of @p len bytes (need not be NUL-terminated).
 * Replies and errors are queued on @p s; a protocol-level close is requested through
 * s->close_code. Unparseable frames are logged and ignored.
 */
void push_proto_handle(push_proto_t *p, push_session_t *s, const char *msg, size_t len);

/**
 * Delivers one read-model change published on Redis: decodes the envelope and queues a
 * `data` frame (`next` on graphql-transport-ws), shaped by the subscription's selection
 * set, for every by-id subscription on that row and every filter subscription of that
 * read model whose filter the new value satisfies. A filter shared by several
 * subscriptions is evaluated once, and a selection shared by them rendered once.
 * Deletions are not delivered (Booster). Sessions whose queue overflows are asked to
 * close.
 *
 * @param msg  the envelope text, @p len bytes; borrowed
 * @return the number of data frames queued
 */
size_t push_proto_deliver(push_proto_t *p, const char *msg, size_t len);

/**
 * Delivers the gateway's answer to a forwarded operation: relays the GraphQL result to the
 * session that asked (graphql-ws `data` + `complete`, graphql-transport-ws `next` +
 * `complete`, or `error` for a request error), or an error when the gateway did not
 * answer with one. An answer whose operation was stopped, or whose session is gone, is
 * dropped. Frees the operation's slot either way.
 *
 * @param r  the result; borrowed
 */
void push_proto_forward_done(push_proto_t *p, const push_fwd_result_t *r);

/**
 * Queues `{"type":"ka"}` on a graphql-ws session (keep-alive, only when configured:
 * Booster never sends it). graphql-transport-ws has no `ka`: nothing is queued there.
 */
void push_session_keepalive(push_proto_t *p, push_session_t *s);

/**
 * Periodic check of @p s at time @p now_us (rj_mono_us()): a graphql-transport-ws session
 * still waiting for connection_init after init_timeout_ms is closed with 4408, and a
 * session whose queue has stayed over send_queue_max_bytes for send_queue_grace_ms is
 * closed with 1008.
 */
void push_session_tick(push_proto_t *p, push_session_t *s, int64_t now_us);

/** Asks for @p s to be closed with @p code and static @p reason; wakes the transport. */
void push_session_close(push_proto_t *p, push_session_t *s, int code, const char *reason);

/**
 * Removes the oldest queued entry and returns it as a ready frame (free() it), or NULL
 * when none. A change entry is rendered now, with the newest value it was given.
 */
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
