/*
 * fed.h - the gateway as an Apollo Federation v1 gateway: GraphQL requests answered by
 * planning them over the composed services (common/src/federation) and running the plan
 * with pooled HTTP requests to the services.
 *
 * The transport is libcurl's multi interface driven by the gateway's libuv loop (socket
 * and timer callbacks), not h2o's HTTP client: h2o 2.2's client has no connection pool
 * of its own and its API changed in every release since, while curl's multi handle keeps
 * a bounded cache of keep-alive connections per host, does HTTPS and per-transfer
 * timeouts, and is already a dependency (JWKS). Everything runs on the loop thread.
 *
 * With an application, its generated API is one more service of the composition (the
 * first), and its fetches never leave the process: each is handed to the application's
 * executor (exec.h) with a local responder carrying the user the client's Authorization
 * header was verified as, so the app's fields are authorized, limited and resolved
 * exactly as without federation (`_entities` by entities.c, one statement per read
 * model), and its mutations are still commands through Kafka whose replies are awaited.
 */
#ifndef GW_FED_H
#define GW_FED_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "auth/auth.h"
#include "exec.h"
#include "federation/federation.h"
#include "http.h"

typedef struct gw_fed gw_fed_t;

/** What the federated executor needs. Pointers borrowed for the gw_fed_new() call. */
typedef struct gw_fed_opts {
    uv_loop_t *loop;           /* the gateway's loop */
    const rj_fed_conf_t *conf; /* the configuration; must outlive the executor */
    rj_fed_graph_t *graph;     /* the composition; taken */
    const bool *present;       /* per configured service: in the composition */
    int timeout_ms;            /* per request to a service */
    int budget_ms;             /* per operation, then answered as it is; 0: none */
    size_t max_answer_bytes;   /* most bytes the services may answer one operation */
    size_t max_fields;         /* document bounds (0: none), as the app's executor */
    size_t max_aliases;        /* likewise */
    gw_exec_t *local;          /* the application's executor, whose API is the graph's service
                                  0 and is asked in-process; NULL for a pure gateway */
    const char *local_name;    /* with local: its service name (the application's) */
    const char *local_sdl;     /* with local: its subgraph SDL; must outlive the executor */
    const rj_auth_t *auth;     /* with local: the application's token verifiers */
} gw_fed_opts_t;

/** Builds the executor; takes opts->graph. Loop thread. */
gw_fed_t *gw_fed_new(const gw_fed_opts_t *opts);

/** Handles one GraphQL request (gw_http_graphql_cb); @p opaque is the gw_fed_t. */
void gw_fed_handle(void *opaque, gw_responder_t *r, const gw_http_request_t *req);

/** The composition it serves. Borrowed. */
const rj_fed_graph_t *gw_fed_graph(const gw_fed_t *f);

/** Operations in flight. */
size_t gw_fed_busy(const gw_fed_t *f);

/** Closes the loop handles; run the loop, then gw_fed_free(). Requires gw_fed_busy() == 0. */
void gw_fed_stop(gw_fed_t *f);

/** Frees the executor after gw_fed_stop() and a loop run. NULL is a no-op. */
void gw_fed_free(gw_fed_t *f);

#endif
