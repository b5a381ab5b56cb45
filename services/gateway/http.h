/*
 * http.h - the gateway's HTTP server: h2o on the gateway's libuv loop.
 *
 * It listens, routes (POST and GET /graphql, CORS preflight, the health paths, GraphiQL's page and
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

/**
 * The longest query string a GET /graphql may have (64 KiB): far above any hand-written
 * query, and well below h2o's own request-head limit (about 400 KiB), beyond which h2o
 * answers a plain-text 400 and closes the connection. Longer ones get a JSON 414.
 */
#define GW_HTTP_MAX_QUERY_STRING ((size_t)64 * 1024)

/** The way back to one HTTP client. Created by the server; consumed by one _send call. */
typedef struct gw_responder gw_responder_t;

/** How a GraphQL request reached /graphql. */
typedef enum gw_http_method {
    GW_HTTP_GET,  /* GET or HEAD: parameters in the URL's query string; queries only */
    GW_HTTP_POST, /* POST: the request is the body */
} gw_http_method_t;

/** What a POST body is, by its Content-Type. */
typedef enum gw_http_content {
    GW_CONTENT_JSON,    /* application/json, any *+json, or no content type at all */
    GW_CONTENT_GRAPHQL, /* application/graphql: the body is the query text itself */
    GW_CONTENT_OTHER,   /* anything else: ignored, as Booster's express.json() ignores it */
} gw_http_content_t;

/** One GraphQL request as the transport received it. Every pointer borrowed for the call. */
typedef struct gw_http_request {
    gw_http_method_t method;   /* GET or POST */
    const char *query_string;  /* GET: the raw text after '?' (not decoded), or NULL */
    size_t query_string_len;   /* its length */
    const char *body;          /* POST: the body, never NULL ("" when empty) */
    size_t body_len;           /* its length (never above the configured limit) */
    gw_http_content_t content; /* POST: the body's kind */
} gw_http_request_t;

/**
 * Handles one GraphQL request: a POST /graphql, or a GET /graphql that is not a browser
 * asking for GraphiQL.
 *
 * @param opaque  gw_http_opts_t.opaque
 * @param r       the responder; the callee owns it and must eventually consume it with
 *                gw_responder_send_json_take() (at once or later, on the loop thread)
 * @param req     the request; borrowed, valid during the call only
 *
 * Runs on the loop thread.
 */
typedef void (*gw_http_graphql_cb)(void *opaque, gw_responder_t *r, const gw_http_request_t *req);

/** How to build the server. All pointers borrowed for the gw_http_new() call. */
typedef struct gw_http_opts {
    uv_loop_t *loop;                 /* the loop everything runs on */
    const char *host;                /* address to bind, e.g. "0.0.0.0", "::" or "localhost" */
    int port;                        /* port to bind; 0 picks a free one (tests) */
    size_t max_body_bytes;           /* larger bodies get 413; longer GET query strings than
                                        min(this, GW_HTTP_MAX_QUERY_STRING) get 414 */
    gw_http_graphql_cb on_graphql;   /* required */
    void *opaque;                    /* passed to on_graphql */
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

/**
 * Receives a local responder's answer.
 *
 * @param data    gw_responder_new_local()'s @p data
 * @param status  the HTTP status the answer would have had
 * @param body    the answer, a new reference; NULL when an answer built as text did not
 *                decode (never expected)
 *
 * Loop thread; may be called from inside the handler the responder was given to.
 */
typedef void (*gw_local_answer_cb)(void *data, int status, json_t *body);

/**
 * A responder for a request made inside the gateway (the federation executor asking the
 * application's API in-process): no HTTP client, no connection; its answer goes to @p cb.
 * The user was verified by whoever made the request, so no Authorization header is
 * looked at again (gw_responder_user()).
 *
 * @param user             the verified user envelope, or NULL for anonymous; borrowed
 * @param idempotency_key  the client's Idempotency-Key header, or NULL; copied
 *
 * Ownership: consumed like any responder, by one _send call, which calls @p cb.
 */
gw_responder_t *gw_responder_new_local(const json_t *user, const char *idempotency_key,
                                       gw_local_answer_cb cb, void *data);

/**
 * The user a local responder was made for.
 *
 * @param user  for a local responder, the user envelope (a new reference) or NULL
 * @return true for a local responder, false for an HTTP client's (verify its header)
 */
bool gw_responder_user(const gw_responder_t *r, json_t **user);

/** True while the client behind @p r is still connected (always, for a local one). */
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
 * Adds a response header to what gw_responder_send_json_take() will send, e.g. `Allow`.
 * A no-op when the client is gone.
 *
 * @param name, value  NUL-terminated; copied
 */
void gw_responder_add_header(gw_responder_t *r, const char *name, const char *value);

/** What kind of operation a request turned out to be, for ramjet_gateway_responses_total. */
typedef enum gw_operation {
    GW_OPERATION_NONE,         /* none: refused before an operation was known */
    GW_OPERATION_QUERY,        /* a query */
    GW_OPERATION_MUTATION,     /* a mutation */
    GW_OPERATION_SUBSCRIPTION, /* a subscription (refused over HTTP) */
    GW_NOPERATIONS
} gw_operation_t;

/** Says which kind of operation @p r answers; counted when the answer is sent. */
void gw_responder_set_operation(gw_responder_t *r, gw_operation_t op);

/**
 * Answers with @p status and @p body serialised compactly as `application/json`, plus the
 * CORS header, then releases the responder. When the client is gone the body is dropped.
 *
 * Ownership: consumes @p r and takes @p body (a new reference), in every case.
 */
void gw_responder_send_json_take(gw_responder_t *r, int status, json_t *body);

/**
 * Like gw_responder_send_json_take, with the JSON body already serialised (an answer built
 * off the loop thread).
 *
 * @param text  the body, NUL-terminated; taken (freed here)
 */
void gw_responder_send_text_take(gw_responder_t *r, int status, char *text);

/**
 * The transport-error body the gateway uses outside GraphQL execution:
 * {"errors":[{"message": msg, "extensions": {"code": code}}]}, with "extensions": {} when
 * @p code is NULL (Booster's plain errors). Bytes of @p message that are not valid UTF-8
 * are replaced, so any message can be sent.
 *
 * Ownership: a new reference.
 */
json_t *gw_error_body(const char *message, const char *code);

/** What gw_query_param() found. */
typedef enum gw_param_status {
    GW_PARAM_ABSENT,    /* no parameter of that name */
    GW_PARAM_FOUND,     /* exactly one, decoded into the out parameters */
    GW_PARAM_MALFORMED, /* an invalid percent-escape in a key or in the value found */
    GW_PARAM_DUPLICATE, /* more than once: refused rather than guessing which one counts */
} gw_param_status_t;

/**
 * Looks up one parameter of an application/x-www-form-urlencoded string (a URL's query
 * string): pairs separated by '&', key and value by the first '=', '+' meaning a space and
 * %XX a byte, in keys and values alike. A key without '=' has the empty value.
 *
 * @param qs     the encoded text, need not be NUL-terminated; may be NULL when @p len is 0
 * @param name   the decoded key to find
 * @param value  on GW_PARAM_FOUND, the decoded value, NUL-terminated (it may hold NUL bytes
 *               of its own: use @p value_len); untouched otherwise. May be NULL to only
 *               test for presence
 *
 * Ownership: *value is the caller's, free() it. Pure; any thread.
 */
gw_param_status_t gw_query_param(const char *qs, size_t len, const char *name, char **value,
                                 size_t *value_len);

#endif
