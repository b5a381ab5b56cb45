/*
 * ws.c - libwebsockets plumbing for the pusher (see ws.h).
 *
 * The loop thread owns everything. Callbacks map one-to-one onto the protocol:
 *
 *   HTTP_CONFIRM_UPGRADE        refuse upgrades on paths other than ws-path and /graphql
 *   ESTABLISHED                 a session starts (or is closed at once past max-connections)
 *   RECEIVE                     fragments are reassembled up to max-message-bytes, then the
 *                               whole message goes to push_proto_handle()
 *   SERVER_WRITEABLE            queued frames are written while the socket takes them,
 *                               or the requested close is performed (after the frames
 *                               queued before it, when the protocol asks for that)
 *   CLOSED                      the session's subscriptions and queue are dropped
 *   EVENT_WAIT_CANCELLED        the Redis thread queued changes, or the forwarder answers:
 *                               drain and deliver both
 *
 * Two subprotocols share the callback: graphql-ws (first, so clients that ask for none get
 * it) and graphql-transport-ws; lws picks the one the client asked for and answers it in
 * Sec-WebSocket-Protocol, and ESTABLISHED tells the session which one it speaks.
 *
 * A periodic timer (TICK_MS) publishes readiness and gauges, sends graphql-ws keep-alives
 * when they are configured, enforces graphql-transport-ws's connection_init timeout (to
 * within a tick), and makes lws_service() return so the loop sees a stop request.
 * Idle connections are left to libwebsockets' validity policy: it pings a connection
 * silent for half of idle-timeout-s and hangs up when the whole timeout passes without
 * a pong or other traffic.
 *
 * What this file deliberately does not do: TLS (terminate it at the ingress, as the
 * deployment manifests do), or permessage-deflate.
 */
#include "ws.h"

#include <assert.h>
#include <libwebsockets.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "log/log.h"
#include "forward.h"
#include "notify.h"
#include "proc/proc.h"
#include "protocol.h"

static_assert(PUSH_FRAME_HEADROOM >= LWS_PRE, "frames need LWS_PRE bytes of headroom");

#define TICK_MS 250
#define DRAIN_TIMEOUT_MS 2000
#define PUSH_CLOSE_TRY_AGAIN 1013 /* RFC 6455 "Try Again Later": max-connections reached */
#define ALT_PATH "/graphql"
#define RX_KEEP_BYTES 4096     /* reassembly capacity a connection keeps between messages */
#define DELIVER_SLICE_US 10000 /* changes delivered per loop turn, in time */
/*
 * Changes coalesce in a queue holding this much (protocol.h): less than the kernel
 * buffers for one socket, so a client that has stopped reading gets there at once, and
 * a client that reads along never does and sees every state, as before.
 */
#define COALESCE_AFTER_BYTES (64u * 1024)
/* A connection this big going away is worth returning memory to the system for. */
#define TRIM_SUBSCRIPTIONS 256
#define TRIM_QUEUED_BYTES (1u << 20)

/* One WebSocket connection: lws allocates and zeroes it as the per-session data. */
typedef struct push_conn {
    push_session_t session; /* protocol state; session.transport is the wsi */
    rj_buf_t rx;            /* the message being reassembled from fragments */
    bool rx_discard;        /* the current message is too big: drop fragments to its end */
    bool open;              /* ESTABLISHED seen and CLOSED not yet */
    struct push_conn *prev; /* neighbours in the server's list of open connections */
    struct push_conn *next;
} push_conn_t;

typedef struct push_metrics {
    rj_metric_t *connections;     /* gauge: open connections */
    rj_metric_t *subscriptions;   /* gauge: registered subscriptions */
    rj_metric_t *topics;          /* gauge: distinct (read model, id) watched */
    rj_metric_t *groups;          /* gauge: distinct filter groups */
    rj_metric_t *frames_in;       /* counter: client messages */
    rj_metric_t *frames_out;      /* counter: frames queued for clients */
    rj_metric_t *changes;         /* counter: read-model changes received */
    rj_metric_t *changes_bad;     /* counter: undecodable changes */
    rj_metric_t *deliveries;      /* counter: data frames for changes */
    rj_metric_t *filter_evals;    /* counter: filter groups evaluated */
    rj_metric_t *renders;         /* counter: payloads rendered for changes */
    rj_metric_t *protocol_closes; /* counter: graphql-transport-ws protocol-error closes */
    rj_metric_t *overflows;       /* counter: connections closed for a full send queue */
    rj_metric_t *coalesced;       /* counter: changes that replaced a waiting one */
    rj_metric_t *notify_dropped;  /* counter: changes dropped before reaching the loop */
    rj_metric_t *fwd_in_flight;   /* gauge: forwarded requests not answered yet */
    rj_metric_t *fwd_total;       /* counter: queries and mutations forwarded to the gateway */
    rj_metric_t *fwd_failed;      /* counter: ... answered with a gateway failure */
    rj_metric_t *fwd_dropped;     /* counter: answers dropped (operation stopped, client gone) */
    rj_metric_t *fwd_refused;     /* counter: queries and mutations refused over the limits */
} push_metrics_t;

struct push_server {
    struct lws_context *ctx;     /* the libwebsockets context */
    struct lws_vhost *vhost;     /* its one vhost */
    push_proto_t *proto;         /* protocol state shared by all sessions */
    push_notify_t *notify;       /* Redis subscriber hand-off */
    push_fwd_t *fwd;             /* gateway forwarder, or NULL when no gateway-url is set */
    char *path;                  /* ws-path */
    char *iface;                 /* listen interface, or NULL */
    int port;                    /* bound port */
    size_t max_message_bytes;    /* client message limit */
    int max_connections;         /* 0 = unlimited */
    int64_t keepalive_us;        /* 0 = off */
    int64_t last_keepalive_us;   /* when keep-alives last went out */
    int liveness_timeout_ms;     /* the heartbeat's stall bound */
    push_conn_t *conns;          /* open connections */
    size_t nconns;               /* their number */
    bool ready;                  /* last readiness published */
    bool announced;              /* the "listening" line was logged */
    bool trim_due;               /* a large connection closed: malloc_trim at the next tick */
    lws_sorted_usec_list_t tick; /* periodic timer */
    lws_retry_bo_t idle_policy;  /* validity (ping / hang-up) policy */
    push_metrics_t m;            /* metrics */
};

/* ---- lws → rj log ----------------------------------------------------------------------- */

static void
lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        rj_error("lws", "%.*s", (int)n, line);
    else if (level & LLL_WARN)
        rj_warn("lws", "%.*s", (int)n, line);
    else
        rj_debug("lws", "%.*s", (int)n, line);
}

/* ---- connections ------------------------------------------------------------------------- */

/* A closing peer gets this long to take its close frame before the socket is dropped. */
#define CLOSE_GRACE_S 2

static void
wake_session(push_session_t *s, void *ud)
{
    (void)ud;
    lws_callback_on_writable(s->transport);
    /*
     * The close frame goes out from the WRITEABLE callback, which never comes for a
     * client that has stopped reading (the very client a full send queue closes): it
     * would keep its socket, subscriptions and queue until the idle timeout. Bound the
     * wait: lws drops the connection if the close has not been sent by then.
     */
    if (s->close_code != 0)
        lws_set_timeout(s->transport, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_GRACE_S);
}

static void
conn_open(push_server_t *srv, push_conn_t *c, struct lws *wsi)
{
    const struct lws_protocols *proto = lws_get_protocol(wsi);
    push_session_init_proto(&c->session, wsi,
                            push_subproto_from_name(proto != NULL ? proto->name : NULL));
    rj_buf_init(&c->rx);
    c->open = true;
    /* The upgrade request's Authorization, for clients that authenticate there rather
       than in connection_init (the headers are gone after this callback). */
    int alen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (alen > 0) {
        char *value = rj_xmalloc((size_t)alen + 1);
        int n = lws_hdr_copy(wsi, value, alen + 1, WSI_TOKEN_HTTP_AUTHORIZATION);
        if (n > 0)
            push_session_set_upgrade_authorization(&c->session, value, (size_t)n);
        free(value);
    }
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;

    char peer[64] = "";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    rj_debug("ws", "connection opened conn=%s peer=%s protocol=%s", c->session.id, peer,
             c->session.subprotocol == PUSH_SUBPROTO_TRANSPORT_WS ? PUSH_SUBPROTO_TRANSPORT_WS_NAME
                                                                  : PUSH_SUBPROTO_GRAPHQL_WS_NAME);
    if (srv->max_connections > 0 && srv->nconns > (size_t)srv->max_connections) {
        rj_warn("ws", "refusing connection: max-connections=%d reached conn=%s peer=%s",
                srv->max_connections, c->session.id, peer);
        push_session_close(srv->proto, &c->session, PUSH_CLOSE_TRY_AGAIN, "too many connections");
    }
}

static void
conn_closed(push_server_t *srv, push_conn_t *c)
{
    if (!c->open)
        return; /* closed before ESTABLISHED: nothing was set up */
    c->open = false;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->nconns--;
    rj_debug("ws", "connection closed conn=%s subscriptions=%zu queued_bytes=%zu", c->session.id,
             c->session.subs.count, c->session.out_bytes);
    if (c->session.subs.count >= TRIM_SUBSCRIPTIONS || c->session.out_bytes >= TRIM_QUEUED_BYTES)
        srv->trim_due = true;
    push_session_deinit(srv->proto, &c->session);
    rj_buf_deinit(&c->rx);
}

static void
conn_receive(push_server_t *srv, push_conn_t *c, struct lws *wsi, const char *in, size_t len)
{
    bool first = lws_is_first_fragment(wsi);
    bool last = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    if (first) {
        rj_buf_reset(&c->rx);
        c->rx_discard = false;
    }
    if (c->rx_discard)
        return;
    if (c->rx.len + len > srv->max_message_bytes) {
        c->rx_discard = true;
        rj_buf_reset(&c->rx);
        rj_warn("ws", "closing connection: message over max-message-bytes=%zu conn=%s",
                srv->max_message_bytes, c->session.id);
        push_session_close(srv->proto, &c->session, PUSH_CLOSE_TOO_BIG, "message too big");
        return;
    }
    if (first && last) {
        /* The usual case, a message in one piece: no copy. */
        push_proto_handle(srv->proto, &c->session, len > 0 ? in : "", len);
        return;
    }
    rj_buf_append(&c->rx, in, len);
    if (last) {
        push_proto_handle(srv->proto, &c->session, c->rx.data != NULL ? c->rx.data : "", c->rx.len);
        /* Do not let every connection keep the capacity of its largest message. */
        if (c->rx.cap > RX_KEEP_BYTES) {
            rj_buf_deinit(&c->rx);
            rj_buf_init(&c->rx);
        } else {
            rj_buf_reset(&c->rx);
        }
    }
}

/*
 * Frames written per WRITEABLE event at most, so that one busy connection cannot hold the
 * loop while others wait for theirs.
 */
#define WRITES_PER_EVENT 32

/*
 * Writes queued frames while the socket takes them. lws allows a second write in the same
 * callback only while lws_send_pipe_choked() says the first went out whole and the socket
 * is still writable; otherwise lws keeps the unsent rest and we wait for the next event.
 * Writing one frame per event instead would tie the drain rate to loop iterations, and a
 * burst of changes delivered in one iteration could fill the queue of a client that reads
 * as fast as it can.
 */
static int
conn_writeable(push_conn_t *c, struct lws *wsi)
{
    push_session_t *s = &c->session;
    /* A close goes out at once, unless the protocol asked for what it queued before to be
       written first (the message saying why); a slow client's queue is not waited for. */
    if (s->close_code != 0 && (!s->close_flush || s->out_head == NULL)) {
        lws_close_reason(wsi, (enum lws_close_status)s->close_code,
                         (unsigned char *)(uintptr_t)s->close_reason, strlen(s->close_reason));
        return -1;
    }
    for (int i = 0; i < WRITES_PER_EVENT; i++) {
        push_frame_t *f = push_session_pop(s);
        if (f == NULL)
            break;
        int n = lws_write(wsi, f->buf + PUSH_FRAME_HEADROOM, f->len, LWS_WRITE_TEXT);
        size_t len = f->len;
        free(f);
        if (n < 0 || (size_t)n < len) {
            rj_warn("ws", "could not write to client conn=%s", s->id);
            return -1;
        }
        if (s->out_head == NULL || lws_send_pipe_choked(wsi))
            break;
    }
    if (s->out_head != NULL || s->close_code != 0)
        lws_callback_on_writable(wsi);
    return 0;
}

/* Is @p uri (the request line's path, maybe with a query string) one we serve? */
static bool
path_accepted(const push_server_t *srv, const char *uri)
{
    size_t n = strcspn(uri, "?");
    return (strlen(srv->path) == n && strncmp(uri, srv->path, n) == 0) ||
           (strlen(ALT_PATH) == n && strncmp(uri, ALT_PATH, n) == 0);
}

/* ---- Redis hand-off ---------------------------------------------------------------------- */

static void
notify_wake(void *ud)
{
    push_server_t *srv = ud;
    lws_cancel_service(srv->ctx);
}

static void
deliver_change(void *ud, const char *channel, const char *msg, size_t len)
{
    push_server_t *srv = ud;
    (void)channel;
    push_proto_deliver(srv->proto, msg, len);
}

/* ---- gateway hand-off -------------------------------------------------------------------- */

/* The forwarder's thread has answers: same wake-up as Redis's, drained in the same place. */
static void
forward_wake(void *ud)
{
    push_server_t *srv = ud;
    lws_cancel_service(srv->ctx);
}

static void
forward_submit(void *ud, uint64_t req_id, const char *authorization, const char *consistency,
               char *body, size_t len)
{
    push_server_t *srv = ud;
    push_fwd_submit(srv->fwd, req_id, authorization, consistency, body, len);
}

static void
forward_answer(void *ud, const push_fwd_result_t *r)
{
    push_server_t *srv = ud;
    push_proto_forward_done(srv->proto, r);
}

/* ---- the protocol callback --------------------------------------------------------------- */

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);

static const struct lws_protocols protocols[] = {
    /* First, so it also serves clients that request no subprotocol. */
    {.name = PUSH_SUBPROTO_GRAPHQL_WS_NAME,
     .callback = ws_callback,
     .per_session_data_size = sizeof(push_conn_t),
     .rx_buffer_size = 16384},
    {.name = PUSH_SUBPROTO_TRANSPORT_WS_NAME,
     .callback = ws_callback,
     .per_session_data_size = sizeof(push_conn_t),
     .rx_buffer_size = 16384},
    {0},
};

static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    push_server_t *srv = lws_context_user(lws_get_context(wsi));
    push_conn_t *c = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        /* Refuse upgrades on other paths with a real HTTP answer, not a hang-up. */
        char uri[512] = "";
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) >= 0 && path_accepted(srv, uri))
            return 0;
        rj_debug("ws", "refusing upgrade on path=%s", uri);
        if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "No WebSocket endpoint here"))
            return -1;
        return 1;
    }
    case LWS_CALLBACK_ESTABLISHED:
        conn_open(srv, c, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (c != NULL && c->open)
            conn_receive(srv, c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (c == NULL || !c->open)
            return 0;
        return conn_writeable(c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c != NULL && len >= 2) {
            const unsigned char *p = in;
            rj_debug("ws", "peer closed conn=%s code=%d", c->session.id, (p[0] << 8) | p[1]);
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (c != NULL)
            conn_closed(srv, c);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        /* Broadcast to every protocol of the vhost (through copies of the table, so by
           name): drain once, from the first. */
        if (srv != NULL && lws_get_protocol(wsi) != NULL &&
            strcmp(lws_get_protocol(wsi)->name, protocols[0].name) == 0) {
            /* A slice of changes, then back to the sockets; the cancel brings us here
               again at once if some are left. */
            if (srv->notify != NULL &&
                push_notify_drain(srv->notify, DELIVER_SLICE_US, deliver_change, srv))
                lws_cancel_service(srv->ctx);
            if (srv->fwd != NULL)
                push_fwd_drain(srv->fwd, forward_answer, srv);
        }
        return 0;
    case LWS_CALLBACK_HTTP: {
        /* A plain HTTP request on the WebSocket port: say where the socket is. */
        if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
                                   "This port serves GraphQL subscriptions over WebSocket "
                                   "(subprotocols graphql-ws and graphql-transport-ws)"))
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- the timer --------------------------------------------------------------------------- */

static void
publish_state(push_server_t *srv)
{
    const push_proto_stats_t *st = push_proto_stats_get(srv->proto);
    push_subs_t *subs = push_proto_subs_get(srv->proto);
    rj_metric_set(srv->m.connections, (int64_t)srv->nconns);
    rj_metric_set(srv->m.subscriptions, (int64_t)push_subs_count(subs));
    rj_metric_set(srv->m.topics, (int64_t)push_subs_topic_count(subs));
    rj_metric_set(srv->m.groups, (int64_t)push_subs_group_count(subs));
    rj_metric_set(srv->m.frames_in, (int64_t)st->frames_in);
    rj_metric_set(srv->m.frames_out, (int64_t)st->frames_out);
    rj_metric_set(srv->m.changes, (int64_t)st->changes);
    rj_metric_set(srv->m.changes_bad, (int64_t)st->changes_bad);
    rj_metric_set(srv->m.deliveries, (int64_t)st->deliveries);
    rj_metric_set(srv->m.filter_evals, (int64_t)st->filter_evals);
    rj_metric_set(srv->m.renders, (int64_t)st->renders);
    rj_metric_set(srv->m.protocol_closes, (int64_t)st->protocol_closes);
    rj_metric_set(srv->m.overflows, (int64_t)st->overflows);
    rj_metric_set(srv->m.coalesced, (int64_t)st->coalesced);
    rj_metric_set(srv->m.notify_dropped, (int64_t)push_notify_dropped(srv->notify));
    rj_metric_set(srv->m.fwd_in_flight, (int64_t)st->forward_in_flight);
    rj_metric_set(srv->m.fwd_total, (int64_t)st->forwarded);
    rj_metric_set(srv->m.fwd_failed, (int64_t)st->forward_failed);
    rj_metric_set(srv->m.fwd_dropped, (int64_t)st->forward_dropped);
    rj_metric_set(srv->m.fwd_refused, (int64_t)st->forward_refused);

    /* Ready: the listener is up (it is, or we would not be here) and Redis is subscribed. */
    bool ready = !rj_proc_stopping() && push_notify_connected(srv->notify);
    if (ready != srv->ready) {
        srv->ready = ready;
        rj_proc_set_ready(ready);
        if (ready && !srv->announced) {
            srv->announced = true;
            rj_info("ws", "listening on ws://%s:%d%s", srv->iface ? srv->iface : "0.0.0.0",
                    srv->port, srv->path);
        } else if (!ready && !rj_proc_stopping()) {
            rj_warn("ws", "not ready: the Redis subscription is down");
        }
    }
}

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
    push_server_t *srv = lws_container_of(sul, push_server_t, tick);
    rj_proc_heartbeat(srv->liveness_timeout_ms); /* /healthz: 503 when the loop is held */
    publish_state(srv);
    /*
     * glibc keeps freed memory in its arenas, and a pusher that held many subscriptions
     * and queued changes for clients that left would keep hundreds of megabytes it no
     * longer uses. Once per tick at most, and only after a large release: the trim walks
     * the heap.
     */
    if (srv->trim_due) {
        srv->trim_due = false;
        malloc_trim(0);
    }
    int64_t now = rj_mono_us();
    if (!rj_proc_stopping())
        for (push_conn_t *c = srv->conns; c != NULL; c = c->next)
            push_session_tick(srv->proto, &c->session, now);
    if (srv->keepalive_us > 0 && !rj_proc_stopping()) {
        if (now - srv->last_keepalive_us >= srv->keepalive_us) {
            srv->last_keepalive_us = now;
            for (push_conn_t *c = srv->conns; c != NULL; c = c->next)
                if (c->session.initialized)
                    push_session_keepalive(srv->proto, &c->session);
        }
    }
    lws_sul_schedule(srv->ctx, 0, &srv->tick, tick_cb, TICK_MS * LWS_US_PER_MS);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static void
metrics_init(push_metrics_t *m)
{
    m->connections = rj_metric_gauge("ramjet_pusher_connections", "open WebSocket connections");
    m->subscriptions = rj_metric_gauge("ramjet_pusher_subscriptions", "active subscriptions");
    m->topics = rj_metric_gauge("ramjet_pusher_watched_rows",
                                "distinct read-model rows with at least one subscription");
    m->groups = rj_metric_gauge("ramjet_pusher_filter_groups",
                                "distinct (read model, filter, selection) of filter subscriptions");
    m->frames_in = rj_metric_counter("ramjet_pusher_client_messages_total",
                                     "graphql-ws messages received from clients");
    m->frames_out = rj_metric_counter("ramjet_pusher_frames_sent_total",
                                      "graphql-ws frames queued for clients");
    m->changes =
        rj_metric_counter("ramjet_pusher_changes_total", "read-model changes received from Redis");
    m->changes_bad = rj_metric_counter("ramjet_pusher_changes_invalid_total",
                                       "read-model changes that could not be decoded");
    m->deliveries = rj_metric_counter("ramjet_pusher_deliveries_total",
                                      "data frames queued for read-model changes");
    m->filter_evals = rj_metric_counter("ramjet_pusher_filter_evaluations_total",
                                        "filter groups evaluated against read-model changes");
    m->renders = rj_metric_counter("ramjet_pusher_renders_total",
                                   "payloads rendered for changes (shared within a filter group)");
    m->protocol_closes =
        rj_metric_counter("ramjet_pusher_protocol_error_closes_total",
                          "graphql-transport-ws connections closed for a protocol error");
    m->overflows =
        rj_metric_counter("ramjet_pusher_slow_client_closes_total",
                          "connections closed because their send queue stayed over its bound");
    m->coalesced = rj_metric_counter("ramjet_pusher_changes_coalesced_total",
                                     "changes that replaced a waiting change of the same "
                                     "subscription and row, unwritten");
    m->notify_dropped = rj_metric_counter("ramjet_pusher_changes_dropped_total",
                                          "changes dropped because the loop fell behind");
    m->fwd_in_flight = rj_metric_gauge("ramjet_pusher_operations_in_flight",
                                       "queries and mutations forwarded to the gateway and not "
                                       "answered yet");
    m->fwd_total = rj_metric_counter("ramjet_pusher_operations_forwarded_total",
                                     "queries and mutations forwarded to the gateway");
    m->fwd_failed = rj_metric_counter("ramjet_pusher_operations_gateway_failures_total",
                                      "forwarded operations the gateway gave no GraphQL result "
                                      "for (unreachable, timeout)");
    m->fwd_dropped = rj_metric_counter("ramjet_pusher_operations_dropped_total",
                                       "gateway answers dropped: the client stopped the "
                                       "operation or closed");
    m->fwd_refused = rj_metric_counter("ramjet_pusher_operations_refused_total",
                                       "queries and mutations refused: too many in flight");
}

push_server_t *
push_server_new(const push_server_conf_t *conf, rj_error_t *err)
{
    push_server_t *srv = rj_xcalloc(1, sizeof *srv);
    srv->path = rj_xstrdup(conf->path);
    srv->iface = conf->iface != NULL ? rj_xstrdup(conf->iface) : NULL;
    srv->max_message_bytes = conf->max_message_bytes;
    srv->max_connections = conf->max_connections;
    srv->liveness_timeout_ms = conf->liveness_timeout_ms;
    srv->keepalive_us = (int64_t)conf->keepalive_ms * 1000;
    metrics_init(&srv->m);

    push_proto_opts_t po = {
        .app = conf->app,
        .schema = conf->schema,
        .send_queue_max_bytes = conf->send_queue_max_bytes,
        .send_queue_grace_ms = conf->send_queue_grace_ms,
        .coalesce_after_bytes = COALESCE_AFTER_BYTES,
        .max_subscriptions = conf->max_subscriptions,
        .init_timeout_ms = conf->init_timeout_ms,
        .wake = wake_session,
        .wake_ud = srv,
        .forward = conf->gateway_url != NULL ? forward_submit : NULL,
        .forward_ud = srv,
        .max_operations = conf->max_operations,
        .max_forwarded = conf->gateway_max_in_flight,
    };
    srv->proto = push_proto_new(&po);

    lws_set_log_level(LLL_ERR | LLL_WARN | (rj_log_enabled(RJ_LOG_DEBUG, "lws") ? LLL_INFO : 0),
                      lws_log_emit);

    if (conf->idle_timeout_s > 0) {
        int t = conf->idle_timeout_s > 65535 ? 65535 : conf->idle_timeout_s;
        srv->idle_policy.secs_since_valid_ping = (uint16_t)(t / 2 > 0 ? t / 2 : 1);
        srv->idle_policy.secs_since_valid_hangup = (uint16_t)t;
    }

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = conf->port;
    info.iface = conf->iface;
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    info.user = srv;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (conf->idle_timeout_s > 0)
        info.retry_and_idle_policy = &srv->idle_policy;

    srv->ctx = lws_create_context(&info);
    if (srv->ctx == NULL) {
        rj_error_set(err, RJ_EIO, "could not create the WebSocket context");
        push_server_free(srv);
        return NULL;
    }
    srv->vhost = lws_create_vhost(srv->ctx, &info);
    if (srv->vhost == NULL) {
        rj_error_set(err, RJ_EIO, "could not listen on WebSocket port %d", conf->port);
        push_server_free(srv);
        return NULL;
    }
    srv->port = lws_get_vhost_listen_port(srv->vhost);

    char *pattern = rj_xasprintf("%s:rm:*", conf->app_name);
    srv->notify = push_notify_start(conf->redis_url, pattern, notify_wake, srv, err);
    free(pattern);
    if (srv->notify == NULL) {
        push_server_free(srv);
        return NULL;
    }
    if (conf->gateway_url != NULL) {
        const push_fwd_opts_t fo = {
            .url = conf->gateway_url,
            .timeout_ms = conf->gateway_timeout_ms,
            .wake = forward_wake,
            .wake_ud = srv,
        };
        srv->fwd = push_fwd_start(&fo, err);
        if (srv->fwd == NULL) {
            push_server_free(srv);
            return NULL;
        }
        rj_info("ws", "queries and mutations over WebSocket go to the gateway url=%s",
                conf->gateway_url);
    } else {
        rj_info("ws", "no gateway-url: queries and mutations over WebSocket are refused");
    }
    rj_debug("ws", "WebSocket listener bound port=%d path=%s", srv->port, srv->path);
    return srv;
}

int
push_server_port(const push_server_t *srv)
{
    return srv->port;
}

rj_status_t
push_server_run(push_server_t *srv, rj_error_t *err)
{
    lws_sul_schedule(srv->ctx, 0, &srv->tick, tick_cb, 1);
    srv->last_keepalive_us = rj_mono_us();

    while (!rj_proc_stopping()) {
        if (lws_service(srv->ctx, 0) < 0)
            return rj_error_set(err, RJ_EIO, "WebSocket event loop failed");
    }

    /* DRAINING: no new subscriptions; tell every client we are going away and let the
       close handshakes finish, but not forever. */
    rj_proc_set_state(RJ_PROC_DRAINING);
    rj_proc_set_ready(false);
    rj_info("ws", "draining connections=%zu", srv->nconns);
    for (push_conn_t *c = srv->conns; c != NULL; c = c->next)
        push_session_close(srv->proto, &c->session, PUSH_CLOSE_GOING_AWAY, "server shutting down");
    int64_t deadline = rj_mono_us() + (int64_t)DRAIN_TIMEOUT_MS * 1000;
    while (srv->nconns > 0 && rj_mono_us() < deadline) {
        if (lws_service(srv->ctx, 0) < 0)
            break;
    }
    if (srv->nconns > 0)
        rj_warn("ws", "drain timed out; dropping connections=%zu", srv->nconns);
    return RJ_OK;
}

void
push_server_free(push_server_t *srv)
{
    if (srv == NULL)
        return;
    /* The Redis and forwarding threads call lws_cancel_service on the context: stop them
       first. Sessions closed below only detach their pending operations; the forwarder is
       not called again. */
    push_notify_free(srv->notify);
    srv->notify = NULL;
    push_fwd_free(srv->fwd);
    srv->fwd = NULL;
    if (srv->ctx != NULL) {
        lws_sul_cancel(&srv->tick);
        /* Closes what is still open; CLOSED callbacks deinit sessions through srv->proto. */
        lws_context_destroy(srv->ctx);
    }
    push_proto_free(srv->proto);
    free(srv->path);
    free(srv->iface);
    free(srv);
}
