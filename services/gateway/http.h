/*
 * http.h - the gateway's HTTP server: h2o on the gateway's libuv loop.
 *
 * It listens, routes (POST /graphql, CORS preflight, the health paths, GraphiQL's page and
 * assets from graphiql.c), enforces the body
 * limit, and hands each GraphQL body to a callback together with a *responder*: the way
 * back to that client. The callback may answer at once or much later (a mutation waits
 * for a Kafka round trip); meanwhile the client may disconnect, and h2o then frees the
 * request's memory pool. A responder survives that: it notices (through a dispose
 * callback in the request pool) and turns the eventual answer into a no-op, so a late
 * reply can never write into freed memory.
 *
 * What this file deliberately does not do: no GraphQL, no JSON parsing of the body (the
 * callback's business), no TLS (the gateway sits behind a load balancer or ingress that
 * terminates it), and no threads (everything runs on the loop thread).
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "rj/status.h"

typedef struct gw_http gw_http_t;

/** The way back to one HTTP client. Created by the server; consumed by one _send call. */
typedef struct gw_responder gw_responder_t;

/**
 * Handles the body of one POST /graphql.
 *
 * @param opaque  gw_http_opts_t.opaque
 * @param r       the responder; the callee owns it and must eventually consume it with
 *                gw_responder_send_json_take() (at once or later, on the loop thread)
 * @param body    the request body; borrowed, valid during the call only
 * @param len     its length (never above the configured limit)
 * @param is_json the content type is application/json (Booster's body parser ignores
 *                any other body, and so do we)
 *
 * Runs on the loop thread.
 */
typedef void (*gw_http_graphql_cb)(void *opaque, gw_responder_t *r, const char *body, size_t len,
                                   bool is_json);

/** How to build the server. All pointers borrowed for the gw_http_new() call. */
typedef struct gw_http_opts {
    uv_loop_t *loop;               /* the loop everything runs on */
    const char *host;              /* address to bind, e.g. "0.0.0.0", "::" or "localhost" */
    int port;                      /* port to bind; 0 picks a free one (tests) */
    size_t max_body_bytes;         /* larger bodies get 413 */
    gw_http_graphql_cb on_graphql; /* required */
    void *opaque;                  /* passed to on_graphql */
    const char *graphiql_assets_dir; /* GraphiQL's files; NULL: ../share/graphiql (graphiql.h) */
    const char *graphiql_ws_url;     /* subscriptions URL for GraphiQL; NULL: derived */
} gw_http_opts_t;

/**
 * Builds the h2o configuration and context and starts listening.
 *
 * @return the server, or NULL with @p err set (RJ_EINVAL: bad host; RJ_EIO: bind/listen
 *         failed, e.g. the port is taken)
 *
 * Ownership: the caller ends it with gw_http_stop() and gw_http_free(). On failure the
 * listener may still be closing: run the loop before closing it. Loop thread only.
 */
gw_http_t *gw_http_new(const gw_http_opts_t *opts, rj_error_t *err);

/** The bound port (useful when gw_http_opts_t.port was 0). */
int gw_http_port(const gw_http_t *h);

/**
 * Starts the drain: closes the listening socket, asks h2o to wind connections down, and
 * marks every later response `Connection: close`. Requests already accepted are still
 * answered. Idempotent.
 */
void gw_http_stop_accepting(gw_http_t *h);

/** Requests accepted and not yet answered (responders alive, clients gone or not). */
size_t gw_http_inflight(const gw_http_t *h);

/** Open client connections. */
size_t gw_http_connections(const gw_http_t *h);

/**
 * Shuts down every client connection's socket, so h2o sees end-of-stream on each and
 * closes it on the next loop iteration. For the very end of a drain, after
 * gw_http_inflight() reached zero: idle keep-alive clients would otherwise hold the
 * process (and their memory) open.
 */
void gw_http_close_connections(gw_http_t *h);

/**
 * Closes the listener (if still open) and disposes the h2o context, whose timers are uv
 * handles embedded in @p h: run the loop until they are released (uv_run returns 0), then
 * call gw_http_free(). Requires that no responder and no connection is left (drain with
 * gw_http_close_connections() first). Idempotent.
 */
void gw_http_stop(gw_http_t *h);

/** Frees the server after gw_http_stop() and a loop run. NULL is a no-op. Consumes @p h. */
void gw_http_free(gw_http_t *h);

/** True while the client behind @p r is still connected. */
bool gw_responder_connected(const gw_responder_t *r);

/**
 * Looks up a request header (case-insensitive @p name, e.g. "authorization").
 *
 * @param len  set to the value's length
 * @return the value (not NUL-terminated; borrowed, valid until @p r is consumed), or NULL
 *         when absent or the client is gone
 */
const char *gw_responder_header(const gw_responder_t *r, const char *name, size_t *len);

/**
 * Answers with @p status and @p body serialised compactly as `application/json`, plus the
 * CORS header, then releases the responder. When the client is gone the body is dropped.
 *
 * Ownership: consumes @p r and takes @p body (a new reference), in every case.
 */
void gw_responder_send_json_take(gw_responder_t *r, int status, json_t *body);

/**
 * The transport-error body the gateway uses outside GraphQL execution:
 * {"errors":[{"message": msg, "extensions": {"code": code}}]}, with "extensions": {} when
 * @p code is NULL (Booster's plain errors). Bytes of @p message that are not valid UTF-8
 * are replaced, so any message can be sent.
 *
 * Ownership: a new reference.
 */
json_t *gw_error_body(const char *message, const char *code);

#endif
