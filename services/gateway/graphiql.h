/*
 * graphiql.h - the GraphiQL IDE, served by the gateway itself: the page at GET /graphiql
 * (and GET /graphql for browsers, which ask for text/html) and its JavaScript and CSS at
 * /graphiql/assets/<file>, read from a directory of files vendored from npm at build time
 * (web/, copied into <build>/share/graphiql). No CDN: the IDE works offline and behind
 * strict egress rules, and its version is the one the lock file pins.
 *
 * The page points GraphiQL's fetcher at this gateway's /graphql (same origin) and its
 * subscriptions at the pusher's WebSocket URL (graphql-transport-ws).
 *
 * What this file deliberately does not do: HTTP. It answers "what is the response to this
 * path", and http.c sends it, so the h2o plumbing stays in one file. Nor does it watch the
 * asset directory: assets are read once, at start, and a gateway without them still serves
 * GraphQL (the IDE's routes answer 503 saying where they looked).
 */
#ifndef GW_GRAPHIQL_H
#define GW_GRAPHIQL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct gw_graphiql gw_graphiql_t;

/** A response to send: status, content type and body, all borrowed from the gw_graphiql_t. */
typedef struct gw_graphiql_response {
    int status;               /* 200, 404 or 503 */
    const char *content_type; /* e.g. "text/html; charset=utf-8" */
    const char *body;         /* the body (not NUL-terminated for assets) */
    size_t len;               /* its length */
} gw_graphiql_response_t;

/**
 * Loads the assets and renders the page.
 *
 * @param assets_dir  directory holding graphiql.min.js, graphiql.min.css,
 *                    react.production.min.js and react-dom.production.min.js; NULL or ""
 *                    for ../share/graphiql next to the running binary; borrowed
 * @param ws_url      the pusher's WebSocket URL for subscriptions; NULL or "" for
 *                    ws(s)://<the page's host>:65529/websocket (the pusher's default port);
 *                    borrowed
 * @return the IDE, never NULL: missing assets are logged once and answered with 503
 *
 * Ownership: release with gw_graphiql_free(). Loop thread (it is read-only after this).
 */
gw_graphiql_t *gw_graphiql_new(const char *assets_dir, const char *ws_url);

/** Frees the IDE. NULL is a no-op. */
void gw_graphiql_free(gw_graphiql_t *g);

/**
 * True when @p accept (an Accept header value, may be NULL) prefers HTML: a browser
 * navigating to /graphql, as opposed to a GraphQL client (which sends application/json or
 * nothing).
 */
bool gw_graphiql_wants_html(const char *accept, size_t len);

/**
 * Answers GET /graphiql, /graphiql/ and /graphiql/assets/<file>.
 *
 * @param path  the normalized request path; borrowed
 * @param len   its length
 * @param out   set when the path is the IDE's
 * @return true when the path belongs to the IDE (then send @p out), false otherwise
 */
bool gw_graphiql_route(const gw_graphiql_t *g, const char *path, size_t len,
                       gw_graphiql_response_t *out);

/** The IDE page itself (what GET /graphql with Accept: text/html gets). */
void gw_graphiql_page(const gw_graphiql_t *g, gw_graphiql_response_t *out);

#endif
