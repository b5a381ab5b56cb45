/*
 * ws.h - the pusher's WebSocket server: libwebsockets plumbing around the graphql-ws
 * protocol (protocol.h), fed with read-model changes from Redis (notify.h).
 *
 * One libwebsockets context, one vhost, two protocols ("graphql-ws", the default, and
 * "graphql-transport-ws"), the default poll
 * loop on the calling thread. Every connection's protocol state, the subscription
 * registry and the document cache live on that thread; the only other threads are the
 * Redis subscriber, which hands changes over through notify.c, and, when a gateway URL is
 * configured, the forwarder running queries and mutations through the gateway (forward.c).
 */
#ifndef PUSH_WS_H
#define PUSH_WS_H

#include <stddef.h>

#include "app/app.h"
#include "graphql/graphql.h"
#include "rj/status.h"

typedef struct push_server push_server_t;

/** Everything the server needs. Strings are borrowed for push_server_new() only. */
typedef struct push_server_conf {
    const rj_app_t *app;         /* the application; borrowed, must outlive the server */
    rj_gql_schema_t *schema;     /* the API schema; a reference is kept */
    const char *redis_url;       /* where read-model changes are published */
    const char *app_name;        /* channel prefix: changes arrive on "<app_name>:rm:*" */
    const char *iface;           /* interface or address to listen on, or NULL for all */
    int port;                    /* WebSocket port; 0 picks a free one (push_server_port) */
    const char *path;            /* WebSocket path, e.g. "/websocket"; "/graphql" always works */
    size_t max_message_bytes;    /* largest client message; bigger ones close with 1009 */
    int max_connections;         /* open connections at most; 0 = no limit */
    size_t send_queue_max_bytes; /* bytes queued per connection before it is closed */
    int send_queue_grace_ms;     /* how long a connection may stay over that; 0 = not at all */
    size_t max_subscriptions;    /* subscriptions per connection; 0 = no limit */
    int idle_timeout_s;          /* close a connection silent this long (pinged at half); 0 = off */
    int keepalive_ms;            /* send graphql-ws `ka` this often; 0 = never (Booster) */
    int init_timeout_ms;         /* graphql-transport-ws: close with 4408 without connection_init
                                    this long after opening; 0 = never */
    const char *gateway_url;     /* POST endpoint queries and mutations are forwarded to, or
                                    NULL to refuse them */
    int gateway_timeout_ms;      /* a forwarded request's budget; > 0 when gateway_url is set */
    size_t max_operations;       /* forwarded operations in flight per connection; > 0 */
    size_t gateway_max_in_flight; /* forwarded requests in flight in total; > 0 */
    int liveness_timeout_ms;      /* rj_proc_heartbeat's stall bound, beaten every tick */
} push_server_conf_t;

/**
 * Creates the context and the listener and starts the Redis subscription.
 *
 * @return the server, or NULL with @p err set (RJ_EIO: the port cannot be bound;
 *         RJ_EINVAL: a bad Redis or gateway URL)
 *
 * Ownership: release with push_server_free(). The calling thread becomes the loop thread:
 * call push_server_run() and push_server_free() from it.
 */
push_server_t *push_server_new(const push_server_conf_t *conf, rj_error_t *err);

/** The port the listener is bound to. */
int push_server_port(const push_server_t *srv);

/**
 * Serves until a stop is requested (rj_proc_stopping()), then drains: every connection is
 * closed with 1001 "server shutting down" and given up to two seconds to finish.
 *
 * @return RJ_OK after a clean drain, RJ_EIO when the event loop failed
 */
rj_status_t push_server_run(push_server_t *srv, rj_error_t *err);

/**
 * Stops the Redis subscriber and the forwarder, destroys the context, frees everything.
 * NULL is a no-op.
 */
void push_server_free(push_server_t *srv);

#endif
