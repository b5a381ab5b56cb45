/*
 * forward.h - queries and mutations sent over the WebSocket, forwarded to the GraphQL
 * gateway over HTTP (POST <gateway-url>, {"query", "variables", "operationName"}).
 *
 * The pusher does not execute queries and mutations itself: the gateway already does, with
 * its PostgreSQL pool, Kafka producer and reply channel, and clients must get from the
 * socket exactly what they get from HTTP (same authorization, same errors, same codes). So
 * a forwarded operation is one HTTP request carrying the connection's Authorization, and
 * its answer is relayed to the client by the protocol (protocol.c).
 *
 * The requests run on a thread of their own (a libcurl multi handle), never on the
 * libwebsockets loop: the loop submits a request and returns at once; when the answer (or a
 * failure) is in, the thread queues a result and calls the wake hook (ws.c:
 * lws_cancel_service), and the loop drains the results, as it does the Redis changes of
 * notify.h. A request is identified by the id the loop chose; the thread never sees a
 * connection, so a connection that closes while its request is in flight costs nothing
 * here: the protocol simply finds no live operation for that id when the result arrives.
 *
 * Types shared with the protocol (push_fwd_result_t) live here without any libcurl
 * declaration, so the protocol and its unit tests do not depend on libcurl.
 */
#ifndef PUSH_FORWARD_H
#define PUSH_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "rj/status.h"

/* The largest gateway answer relayed; a bigger one fails the operation. */
#define PUSH_FWD_MAX_REPLY_BYTES (16u * 1024 * 1024)

/** How a forwarded request ended. */
typedef enum push_fwd_status {
    PUSH_FWD_OK = 0,      /* the gateway answered: http_status and body are set */
    PUSH_FWD_FAILED = 1,  /* no usable answer: unreachable, connection lost, answer too big */
    PUSH_FWD_TIMEOUT = 2, /* no whole answer within the timeout */
} push_fwd_status_t;

/** The outcome of one forwarded request, handed to the loop. All pointers borrowed for the call. */
typedef struct push_fwd_result {
    uint64_t req_id;          /* the id given to push_fwd_submit() */
    push_fwd_status_t status; /* see push_fwd_status_t */
    long http_status;         /* PUSH_FWD_OK: the HTTP status */
    const char *body;         /* PUSH_FWD_OK: the body, NUL-terminated (may be empty) */
    size_t len;               /* its length */
    const char *error;        /* otherwise: what went wrong, for the logs (never "") */
} push_fwd_result_t;

typedef struct push_fwd push_fwd_t;

/** Called on the forwarding thread after a result was queued. Must only wake the loop. */
typedef void (*push_fwd_wake_fn)(void *ud);

/** Called on the loop thread for each drained result; @p r is borrowed for the call. */
typedef void (*push_fwd_result_fn)(void *ud, const push_fwd_result_t *r);

/** How to build a forwarder. Strings are copied. */
typedef struct push_fwd_opts {
    const char *url;       /* the gateway's GraphQL endpoint, e.g. http://gateway:3000/graphql */
    int timeout_ms;        /* a request's whole budget, connecting included; > 0 */
    push_fwd_wake_fn wake; /* required */
    void *wake_ud;         /* passed to @c wake */
} push_fwd_opts_t;

/**
 * Starts the forwarding thread.
 *
 * @return the forwarder, or NULL with @p err set (RJ_EINVAL: not an http(s) URL; RJ_EIO:
 *         libcurl or the thread could not be set up)
 *
 * Ownership: release with push_fwd_free(). Call from the loop thread.
 */
push_fwd_t *push_fwd_start(const push_fwd_opts_t *opts, rj_error_t *err);

/**
 * Stops the thread (requests in flight are abandoned, their results never delivered), then
 * frees everything. NULL is a no-op. Loop thread.
 */
void push_fwd_free(push_fwd_t *f);

/**
 * Queues one POST for the thread and returns at once. Exactly one result with @p req_id
 * comes back through push_fwd_drain(), unless the forwarder is freed first.
 *
 * @param req_id         the caller's id for the request; echoed in its result
 * @param authorization  the Authorization header's value, or NULL for none; copied. Never
 *                       logged. A value with control characters is not sent: the request
 *                       fails instead (PUSH_FWD_FAILED)
 * @param consistency    the Consistency-Token header's value (readside/ryw.h: base64url,
 *                       always header-safe), or NULL for none; copied
 * @param body           the JSON request body, @p len bytes; taken (free()d here)
 *
 * Loop thread.
 */
void push_fwd_submit(push_fwd_t *f, uint64_t req_id, const char *authorization,
                     const char *consistency, char *body, size_t len);

/**
 * Takes every finished request and calls @p fn for each, in completion order, without
 * holding the lock. Loop thread.
 *
 * @return the number of results delivered to @p fn
 */
size_t push_fwd_drain(push_fwd_t *f, push_fwd_result_fn fn, void *ud);

#endif
