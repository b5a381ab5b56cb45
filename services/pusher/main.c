/*
 * pusher/main.c - ramjet-pusher, the subscription pusher: serves GraphQL subscriptions
 * over WebSocket (subprotocol graphql-ws, as Booster clients speak it, and
 * graphql-transport-ws, the graphql-ws library's) and pushes every read-model change the
 * projectors publish on Redis (`<app>:rm:<ReadModel>`) to the clients subscribed to that
 * row or to a filter it satisfies.
 *
 * The pusher is stateless (docs/architecture.md, "Pusher"): subscriptions live in memory
 * with their connection, every replica receives every change from Redis and delivers it
 * to its own clients, so replicas scale behind any TCP load balancer and a restart only
 * asks clients to reconnect and subscribe again.
 *
 * Lifecycle: STARTING (config, app, health endpoint, listener, Redis subscriber) →
 * RUNNING (ready once Redis is subscribed) → DRAINING on SIGTERM (clients get 1001 and
 * two seconds to close) → STOPPED, exit 0.
 *
 * Tokens sent in connection_init are verified with the application's verifiers (loaded
 * with the app, clock leeway from RAMJET_JWT_LEEWAY_S); protocol.c does it.
 *
 * Queries and mutations sent over the socket are not executed here: with --gateway-url
 * they are forwarded to the gateway's POST /graphql with the connection's Authorization
 * (forward.c), so the socket answers exactly as HTTP does; without it they are refused
 * with an error pointing at POST /graphql. The gateway is not a readiness condition:
 * subscriptions work without it, and a forwarded operation fails alone when it is down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "config/config.h"
#include "core/core.h"
#include "log/log.h"
#include "proc/proc.h"
#include "pusher/ws.h"

#define DAEMON "ramjet-pusher"
#define SUMMARY                                                                                    \
    "Serves GraphQL over WebSocket (graphql-ws, graphql-transport-ws): subscriptions fed by "      \
    "read-model changes, and queries and mutations forwarded to the gateway."

typedef struct push_conf {
    rj_common_conf_t common;   /* RJ_CONF_COMMON */
    int ws_port;               /* WebSocket port */
    char *ws_path;             /* WebSocket path */
    int max_message_bytes;     /* largest client message */
    int max_connections;       /* open connections at most; 0 = no limit */
    int send_queue_max_bytes;  /* bytes queued per connection before closing it */
    int send_queue_grace_ms;   /* how long a connection may stay over that */
    int max_subscriptions;     /* subscriptions per connection; 0 = no limit */
    int idle_timeout_s;        /* silent connections are pinged, then closed; 0 = off */
    int keepalive_ms;          /* graphql-ws `ka` period; 0 = off */
    int init_timeout_ms;       /* graphql-transport-ws connection_init deadline; 0 = off */
    char *gateway_url;         /* where queries and mutations are forwarded; NULL/"" = refused */
    int gateway_timeout_ms;    /* a forwarded request's budget */
    int max_operations;        /* forwarded operations in flight per connection */
    int gateway_max_in_flight; /* forwarded requests in flight in total */
} push_conf_t;

static const rj_conf_opt_t push_opts[] = {
    RJ_CONF_COMMON(push_conf_t, common, "9106"),
    {"ws-port", RJ_CONF_INT, "65529", offsetof(push_conf_t, ws_port),
     "WebSocket port (Booster's local default)"},
    {"ws-path", RJ_CONF_STR, "/websocket", offsetof(push_conf_t, ws_path),
     "WebSocket path; /graphql is accepted as well"},
    {"max-message-bytes", RJ_CONF_INT, "65536", offsetof(push_conf_t, max_message_bytes),
     "largest client message; a bigger one closes the connection with 1009"},
    {"max-connections", RJ_CONF_INT, "10000", offsetof(push_conf_t, max_connections),
     "open WebSocket connections at most (0: no limit); extra ones are closed with 1013"},
    {"send-queue-max-bytes", RJ_CONF_INT, "16777216", offsetof(push_conf_t, send_queue_max_bytes),
     "bytes queued for one client (a subscription's pending changes of one row coalesce into "
     "the latest); a client over this for send-queue-grace-ms, or with over twice this in "
     "answers and protocol messages at any time, is closed as too slow (1008)"},
    {"send-queue-grace-ms", RJ_CONF_INT, "5000", offsetof(push_conf_t, send_queue_grace_ms),
     "how long a client may stay over send-queue-max-bytes, as in a burst it is reading "
     "through (0: not at all)"},
    {"max-subscriptions", RJ_CONF_INT, "1000", offsetof(push_conf_t, max_subscriptions),
     "subscriptions one connection may hold (0: no limit)"},
    {"idle-timeout-s", RJ_CONF_INT, "120", offsetof(push_conf_t, idle_timeout_s),
     "close a connection silent this long; it is pinged at half (0: off)"},
    {"keepalive-ms", RJ_CONF_INT, "0", offsetof(push_conf_t, keepalive_ms),
     "send graphql-ws `ka` frames this often (0: off, as Booster)"},
    {"init-timeout-ms", RJ_CONF_INT, "3000", offsetof(push_conf_t, init_timeout_ms),
     "graphql-transport-ws: close with 4408 when connection_init has not arrived this long "
     "after the socket opened (0: never)"},
    {"gateway-url", RJ_CONF_STR, NULL, offsetof(push_conf_t, gateway_url),
     "the gateway's GraphQL endpoint, e.g. http://gateway:3000/graphql: queries and mutations "
     "sent over the socket are POSTed there with the connection's Authorization (unset: they "
     "are refused with an error pointing at POST /graphql)"},
    {"gateway-timeout-ms", RJ_CONF_INT, "15000", offsetof(push_conf_t, gateway_timeout_ms),
     "how long a forwarded query or mutation may take, connecting included; keep it above the "
     "gateway's request-timeout-ms so that its own timeout answer is the one relayed"},
    {"max-operations", RJ_CONF_INT, "16", offsetof(push_conf_t, max_operations),
     "queries and mutations one connection may have in flight to the gateway; more are refused "
     "with an error"},
    {"gateway-max-in-flight", RJ_CONF_INT, "1024", offsetof(push_conf_t, gateway_max_in_flight),
     "queries and mutations in flight to the gateway from all connections; more are refused "
     "with an error"},
};
#define PUSH_NOPTS (sizeof push_opts / sizeof push_opts[0])

/* Range checks the table cannot express; returns false after logging the first problem. */
static bool
conf_check(const push_conf_t *c)
{
    if (c->ws_port < 0 || c->ws_port > 65535) {
        rj_fatal("main", "invalid ws-port=%d: expected 0..65535", c->ws_port);
        return false;
    }
    if (c->ws_path == NULL || c->ws_path[0] != '/') {
        rj_fatal("main", "invalid ws-path=%s: it must start with /", c->ws_path ? c->ws_path : "");
        return false;
    }
    if (c->max_message_bytes <= 0 || c->send_queue_max_bytes <= 0 || c->send_queue_grace_ms < 0 ||
        c->max_connections < 0 || c->max_subscriptions < 0 || c->idle_timeout_s < 0 ||
        c->keepalive_ms < 0 || c->init_timeout_ms < 0) {
        rj_fatal("main", "invalid limits: max-message-bytes and send-queue-max-bytes must be "
                         "positive, "
                         "the others not negative");
        return false;
    }
    if (c->gateway_timeout_ms <= 0 || c->max_operations <= 0 || c->gateway_max_in_flight <= 0) {
        rj_fatal("main", "invalid limits: gateway-timeout-ms, max-operations and "
                         "gateway-max-in-flight must be positive");
        return false;
    }
    return true;
}

int
main(int argc, char **argv)
{
    push_conf_t conf = {0};
    rj_proc_init_daemon(DAEMON, push_opts, PUSH_NOPTS, &conf, &conf.common, argc, argv,
                        SUMMARY);
    if (!conf_check(&conf)) {
        rj_config_deinit(push_opts, PUSH_NOPTS, &conf);
        return 2;
    }
    rj_error_t err = {0};

    int rc = 1;
    rj_app_t *app = NULL;
    push_server_t *srv = NULL;

    if (conf.common.app == NULL) {
        rj_fatal("main", "--app (RAMJET_APP) is required: the pusher needs the app's API schema");
        goto out;
    }
    app = rj_app_load(conf.common.app, &err);
    if (app == NULL) {
        rj_fatal("main", "could not load application: %s path=%s", err.msg, conf.common.app);
        goto out;
    }
    if (rj_health_start(conf.common.health_port, &err) != RJ_OK) {
        rj_fatal("main", "could not start health endpoint: %s", err.msg);
        goto out;
    }

    /*
     * The app owns the schema and keeps it for its whole life; the engine's API takes a
     * mutable pointer only to count references, which is all the pusher does with it,
     * on this one thread.
     */
    rj_gql_schema_t *schema = (rj_gql_schema_t *)(uintptr_t)rj_app_api_schema(app);
    const push_server_conf_t sc = {
        .app = app,
        .schema = schema,
        .redis_url = conf.common.redis_url,
        .app_name = conf.common.app_name != NULL ? conf.common.app_name : rj_app_name_get(app),
        .iface = NULL,
        .port = conf.ws_port,
        .path = conf.ws_path,
        .max_message_bytes = (size_t)conf.max_message_bytes,
        .max_connections = conf.max_connections,
        .send_queue_max_bytes = (size_t)conf.send_queue_max_bytes,
        .send_queue_grace_ms = conf.send_queue_grace_ms,
        .max_subscriptions = (size_t)conf.max_subscriptions,
        .idle_timeout_s = conf.idle_timeout_s,
        .keepalive_ms = conf.keepalive_ms,
        .init_timeout_ms = conf.init_timeout_ms,
        .gateway_url =
            conf.gateway_url != NULL && conf.gateway_url[0] != '\0' ? conf.gateway_url : NULL,
        .gateway_timeout_ms = conf.gateway_timeout_ms,
        .max_operations = (size_t)conf.max_operations,
        .gateway_max_in_flight = (size_t)conf.gateway_max_in_flight,
        .liveness_timeout_ms = conf.common.liveness_timeout_ms,
    };
    srv = push_server_new(&sc, &err);
    if (srv == NULL) {
        rj_fatal("main", "could not start the WebSocket server: %s", err.msg);
        goto out;
    }
    rj_proc_set_state(RJ_PROC_RUNNING);
    if (push_server_run(srv, &err) != RJ_OK) {
        rj_fatal("main", "%s", err.msg);
        goto out;
    }
    rc = 0;

out:
    push_server_free(srv);
    rj_health_stop();
    rj_app_free(app);
    rj_proc_set_state(RJ_PROC_STOPPED);
    rj_metrics_free_all();
    rj_config_deinit(push_opts, PUSH_NOPTS, &conf);
    return rc;
}
