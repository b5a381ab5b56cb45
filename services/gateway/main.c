/*
 * ramjet-gateway - the GraphQL HTTP gateway.
 *
 * Serves the application's generated GraphQL API over HTTP (POST /graphql): queries read
 * read models from PostgreSQL, mutations become command envelopes on `<app>.commands` and
 * are answered when the command processor's reply arrives on this instance's Redis
 * channel. This file is the daemon around that: configuration, connecting to PostgreSQL,
 * Kafka and Redis (with retries, since under a supervisor they may come up after us), one
 * libuv loop that carries everything, and the drain on SIGTERM.
 *
 * Lifecycle:
 *   STARTING  connecting, preparing tables, subscribing to the reply channel; not ready
 *   RUNNING   serving; /readyz follows the reply subscription (no replies, no mutations)
 *   DRAINING  first SIGTERM: listener closed, in-flight requests finish (their own
 *             timeouts bound the wait), then idle connections are closed and the
 *             producer flushed
 *   STOPPED   everything released; exit 0
 * A second SIGTERM exits at once (rj_proc).
 *
 * Threads: the loop thread runs h2o, the executor, timers and Kafka delivery reports;
 * libuv's pool runs PostgreSQL reads and whatever grows with a request's size (exec.c);
 * the Redis subscriber has its own thread and only queues replies for the loop.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "app/app.h"
#include "config/config.h"
#include "core/core.h"
#include "exec.h"
#include "fed.h"
#include "fedpoll.h"
#include "federation/federation.h"
#include "http.h"
#include "json/envelope.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "pgpool.h"
#include "proc/proc.h"
#include "readside/readside.h"
#include "redis/redis.h"

#define GW_TICK_MS 100          /* housekeeping period: producer poll, readiness, drain */
#define GW_CLOSE_GRACE_MS 2000  /* how long closing connections may take at the end */

typedef struct gw_conf {
    rj_common_conf_t common; /* RAMJET_APP, brokers, PostgreSQL, Redis, health, ... */
    int http_port;           /* GraphQL port */
    char *http_host;         /* address to bind */
    int request_timeout_ms;  /* how long a mutation waits for its reply */
    int max_body_bytes;      /* request body limit */
    char *instance_id;       /* reply channel suffix; NULL: random */
    int pg_pool_size;        /* PostgreSQL connections (and libuv pool threads) */
    int connect_timeout_ms;  /* how long to wait for dependencies at start */
    char *graphiql_assets_dir; /* GraphiQL's vendored files; NULL: ../share/graphiql */
    char *graphiql_ws_url;     /* subscriptions URL GraphiQL uses; NULL: derived */
    gw_limits_t limits;        /* per-request bounds */
    char *gateway_config;      /* federation: the services' JSON file, or NULL */
    int federation_timeout_ms; /* federation: per request to a service */
    gw_cons_opts_t consistency;  /* read-your-writes: how requests wait for a token */
    char *mutation_consistency;  /* "durable" or "projected" */
} gw_conf_t;

static const rj_conf_opt_t gw_opts[] = {
    RJ_CONF_COMMON(gw_conf_t, common, "9101"),
    {"http-port", RJ_CONF_INT, "3000", offsetof(gw_conf_t, http_port),
     "port of the GraphQL endpoint (POST /graphql)"},
    {"http-host", RJ_CONF_STR, "0.0.0.0", offsetof(gw_conf_t, http_host),
     "address the GraphQL endpoint binds to"},
    {"request-timeout-ms", RJ_CONF_INT, "10000", offsetof(gw_conf_t, request_timeout_ms),
     "how long a mutation waits for the command processor's reply"},
    {"max-body-bytes", RJ_CONF_INT, "6291456", offsetof(gw_conf_t, max_body_bytes),
     "largest request body accepted (413 above it; Booster's 6 MB by default)"},
    {"max-id-bytes", RJ_CONF_INT, "256", offsetof(gw_conf_t, limits.max_id_bytes),
     "longest ID argument or command key accepted, in bytes (1 to 1024); a longer one is "
     "refused with InvalidParameterError"},
    {"instance-id", RJ_CONF_STR, NULL, offsetof(gw_conf_t, instance_id),
     "this replica's id, the suffix of its reply channel (default: random)"},
    {"pg-pool-size", RJ_CONF_INT, "4", offsetof(gw_conf_t, pg_pool_size),
     "PostgreSQL connections for read-model reads"},
    {"connect-timeout-ms", RJ_CONF_INT, "60000", offsetof(gw_conf_t, connect_timeout_ms),
     "how long to wait for PostgreSQL, Kafka and Redis at start"},
    {"graphiql-assets-dir", RJ_CONF_STR, NULL, offsetof(gw_conf_t, graphiql_assets_dir),
     "directory of GraphiQL's files served at /graphiql (default: ../share/graphiql next to "
     "the binary)"},
    {"graphiql-ws-url", RJ_CONF_STR, NULL, offsetof(gw_conf_t, graphiql_ws_url),
     "the pusher's WebSocket URL GraphiQL subscribes on (default: ws://<host>:65529/websocket)"},
    {"max-fields", RJ_CONF_INT, "4000", offsetof(gw_conf_t, limits.max_fields),
     "most field selections and fragment spreads in one document, fragments expanded, over its "
     "operations and fragment definitions (0: no limit)"},
    {"max-aliases", RJ_CONF_INT, "100", offsetof(gw_conf_t, limits.max_aliases),
     "most aliased fields in one document's operations, fragments expanded (0: no limit)"},
    {"max-filter-values", RJ_CONF_INT, "1000", offsetof(gw_conf_t, limits.max_filter_values),
     "most values in one `in` list of a read-model filter (0: no limit)"},
    {"max-cost", RJ_CONF_INT, "20000", offsetof(gw_conf_t, limits.max_cost),
     "most rows one operation may read: the sum of its List and plural queries' limits "
     "(100 where none is given), 1 per representation of federation's _entities and 1 per "
     "other root field (0: no limit)"},
    {"max-response-bytes", RJ_CONF_INT, "16777216", offsetof(gw_conf_t, limits.max_response_bytes),
     "most bytes of stored rows one answer is built from; above it the operation is answered "
     "with an error (0: no limit)"},
    {"budget-ms", RJ_CONF_INT, "15000", offsetof(gw_conf_t, limits.budget_ms),
     "how long one operation may run before it is answered with a TimeoutError (0: no limit)"},
    {"gateway-config", RJ_CONF_STR, NULL, offsetof(gw_conf_t, gateway_config),
     "JSON file of the Apollo Federation v1 services to compose, with @mercuriusjs/gateway's "
     "option names (docs/federation.md), composed after the application's own API, which is "
     "answered in-process; with --app none the gateway serves only them"},
    {"federation-timeout-ms", RJ_CONF_INT, "10000", offsetof(gw_conf_t, federation_timeout_ms),
     "how long the gateway waits for one federated service's answer before that service's "
     "fields become null with an error"},
    {"consistency-wait-ms", RJ_CONF_INT, "5000", offsetof(gw_conf_t, consistency.wait_ms),
     "how long a request sent with a consistency token (or a mutation, with "
     "--mutation-consistency projected) waits for the projector to reflect its writes before "
     "it is answered with ConsistencyTimeoutError"},
    {"consistency-poll-ms", RJ_CONF_INT, "2", offsetof(gw_conf_t, consistency.poll_ms),
     "how often the projected versions are checked while requests wait for their writes (one "
     "statement for all of them)"},
    {"consistency-max-waiting", RJ_CONF_INT, "10000",
     offsetof(gw_conf_t, consistency.max_waiting),
     "most requests waiting for their writes to be projected at once; more are refused with "
     "RetriableError"},
    {"mutation-consistency", RJ_CONF_STR, "durable", offsetof(gw_conf_t, mutation_consistency),
     "when a mutation is answered: durable (its events are in Kafka; a query may not see them "
     "yet unless it sends the answer's consistency token) or projected (also reflected in "
     "every read model, as Booster's local provider answers)"},
};
#define GW_NOPTS (sizeof gw_opts / sizeof gw_opts[0])

static const char gw_summary[] =
    "ramjet-gateway: serves the application's GraphQL API over HTTP; mutations become\n"
    "commands on <app>.commands and are answered from the command processor's reply.";

/* Everything the daemon built, so teardown can undo whatever part of it exists. */
typedef struct gw_daemon {
    gw_conf_t *conf;                 /* configuration */
    uv_loop_t loop;                  /* the one loop */
    rj_app_t *app;                   /* the application */
    const rj_fed_conf_t *fed;        /* federation: the services (nservices 0: none) */
    gw_fedpoll_t *fedpoll;           /* federation: the executors, or NULL without services */
    gw_pgpool_t *pg;                 /* read-model reads */
    rj_kafka_producer_t *producer;   /* command producer */
    gw_exec_t *exec;                 /* GraphQL execution */
    rj_redis_sub_t *sub;             /* reply subscriber */
    gw_http_t *http;                 /* the HTTP server */
    uv_poll_t producer_poll;         /* producer's event fd */
    bool producer_poll_open;         /* producer_poll was initialised */
    uv_poll_t signal_poll;           /* rj_proc's self-pipe */
    bool signal_poll_open;           /* signal_poll was initialised */
    uv_timer_t tick;                 /* housekeeping */
    bool tick_open;                  /* tick was initialised */
    uint64_t drain_deadline;         /* DRAINING: when waiting for requests stops */
    bool aborted;                    /* waiting commands were failed at the deadline */
    bool closing;                    /* connections are being closed */
    uint64_t close_deadline;         /* when closing stops waiting */
} gw_daemon_t;

/* ---- callbacks ----------------------------------------------------------------------- */

/* Redis subscriber thread: hand the reply to the loop. */
static void
on_reply(void *opaque, const char *channel, const char *msg, size_t len)
{
    (void)channel;
    gw_exec_post_reply(opaque, msg, len);
}

static void
on_producer_event(uv_poll_t *h, int status, int events)
{
    gw_daemon_t *d = h->data;
    (void)status;
    (void)events;
    rj_kafka_producer_poll(d->producer, 0);
}

static void
begin_drain(gw_daemon_t *d)
{
    rj_proc_set_state(RJ_PROC_DRAINING);
    rj_proc_set_ready(false);
    gw_http_stop_accepting(d->http);
    d->drain_deadline = uv_now(&d->loop) + (uint64_t)d->conf->request_timeout_ms + 1000;
    rj_info("main", "draining: %zu requests in flight", gw_http_inflight(d->http));
}

static void
on_signal(uv_poll_t *h, int status, int events)
{
    gw_daemon_t *d = h->data;
    (void)status;
    (void)events;
    /* The pipe stays readable once a stop was requested: stop watching it. */
    uv_poll_stop(h);
    begin_drain(d);
}

/*
 * The drain, step by step: wait until every request was answered and every PostgreSQL
 * read returned (at the deadline, fail the commands still waiting so their requests
 * answer), then close the remaining (idle) connections and stop the loop.
 */
static void
drain_step(gw_daemon_t *d)
{
    uint64_t now = uv_now(&d->loop);

    if (!d->closing) {
        bool requests_done = gw_http_inflight(d->http) == 0 &&
                             (d->pg == NULL || gw_pgpool_busy(d->pg) == 0) &&
                             gw_fedpoll_busy(d->fedpoll) == 0;
        bool commands_done = d->exec == NULL || gw_exec_busy(d->exec) == 0;
        if (requests_done && (commands_done || d->aborted)) {
            d->closing = true;
            d->close_deadline = now + GW_CLOSE_GRACE_MS;
            gw_http_close_connections(d->http);
        } else if (now >= d->drain_deadline && !d->aborted) {
            if (d->exec != NULL) {
                rj_warn("main", "drain deadline reached: failing %zu waiting requests",
                        gw_exec_busy(d->exec));
                gw_exec_abort_waiting(d->exec);
            }
            d->aborted = true;
        }
    }
    if (d->closing && (gw_http_connections(d->http) == 0 || now >= d->close_deadline))
        uv_stop(&d->loop);
}

static void
on_tick(uv_timer_t *t)
{
    gw_daemon_t *d = t->data;

    /* /healthz turns 503 when the loop stops turning (rj_proc_heartbeat). */
    rj_proc_heartbeat(d->conf->common.liveness_timeout_ms);
    /* Delivery reports also wake producer_poll; polling here too costs nothing. */
    if (d->producer != NULL)
        rj_kafka_producer_poll(d->producer, 0);
    if (rj_proc_state() == RJ_PROC_RUNNING)
        rj_proc_set_ready(d->app == NULL || rj_redis_sub_is_connected(d->sub));
    else if (rj_proc_state() == RJ_PROC_DRAINING)
        drain_step(d);
}

/* ---- start-up ------------------------------------------------------------------------ */

static rj_status_t
topics_ensure_retry(const char *brokers, const char *topic, const rj_kafka_topic_spec_t *spec,
                    int timeout_ms, rj_error_t *err)
{
    int64_t deadline = rj_mono_us() + (int64_t)timeout_ms * 1000;
    const char *topics[] = {topic};
    for (int attempt = 0;; attempt++) {
        rj_status_t st = rj_kafka_ensure_topics(brokers, topics, 1, spec, err);
        if (st != RJ_ERETRY || rj_mono_us() > deadline)
            return st;
        if (rj_proc_sleep(100 << (attempt < 4 ? attempt : 4)))
            return st;
    }
}

static rj_status_t
check_conf(const gw_conf_t *c, rj_error_t *err)
{
    if (c->common.app == NULL)
        return rj_error_set(err, RJ_EINVAL,
                            "no application: set RAMJET_APP or --app to the application library");
    bool federated = c->gateway_config != NULL && c->gateway_config[0] != '\0';
    if (strcmp(c->common.app, "none") == 0 && !federated)
        return rj_error_set(err, RJ_EINVAL,
                            "--app none needs --gateway-config (a pure "
                            "federation gateway)");
    if (c->federation_timeout_ms <= 0)
        return rj_error_set(err, RJ_EINVAL, "invalid federation-timeout-ms: %d",
                            c->federation_timeout_ms);
    if (c->http_port < 0 || c->http_port > 65535)
        return rj_error_set(err, RJ_EINVAL, "invalid http-port: %d", c->http_port);
    if (c->request_timeout_ms <= 0)
        return rj_error_set(err, RJ_EINVAL, "invalid request-timeout-ms: %d",
                            c->request_timeout_ms);
    if (c->max_body_bytes <= 0)
        return rj_error_set(err, RJ_EINVAL, "invalid max-body-bytes: %d", c->max_body_bytes);
    if (c->limits.max_id_bytes < 1 || c->limits.max_id_bytes > RJ_ID_MAX_BYTES)
        return rj_error_set(err, RJ_EINVAL, "invalid max-id-bytes: %d (1 to %d)",
                            c->limits.max_id_bytes, RJ_ID_MAX_BYTES);
    const struct {
        const char *name; /* option */
        int value;        /* its value */
    } limits[] = {
        {"max-fields", c->limits.max_fields},
        {"max-aliases", c->limits.max_aliases},
        {"max-filter-values", c->limits.max_filter_values},
        {"max-cost", c->limits.max_cost},
        {"max-response-bytes", c->limits.max_response_bytes},
        {"budget-ms", c->limits.budget_ms},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (limits[i].value < 0)
            return rj_error_set(err, RJ_EINVAL, "invalid %s: %d (0 or more)", limits[i].name,
                                limits[i].value);
    if (c->consistency.wait_ms <= 0 || c->consistency.poll_ms <= 0 ||
        c->consistency.max_waiting <= 0)
        return rj_error_set(err, RJ_EINVAL,
                            "invalid consistency-wait-ms, consistency-poll-ms or "
                            "consistency-max-waiting: each must be 1 or more");
    if (strcmp(c->mutation_consistency, "durable") != 0 &&
        strcmp(c->mutation_consistency, "projected") != 0)
        return rj_error_set(err, RJ_EINVAL,
                            "invalid mutation-consistency: %s (durable or projected)",
                            c->mutation_consistency);
    if (c->pg_pool_size < 1 || c->pg_pool_size > 128)
        return rj_error_set(err, RJ_EINVAL, "invalid pg-pool-size: %d (1 to 128)",
                            c->pg_pool_size);
    return RJ_OK;
}

/*
 * libuv's thread pool runs the PostgreSQL reads, one connection each, and builds large
 * answers (exec.c): give it a thread per connection and two more, so answers being built
 * never keep a read waiting for a thread. Must happen before the pool's first use.
 */
static void
size_thread_pool(int pg_pool_size)
{
    int want = pg_pool_size + 2;
    const char *cur = getenv("UV_THREADPOOL_SIZE");
    if (cur == NULL || atoi(cur) < want) {
        char v[16];
        snprintf(v, sizeof v, "%d", want);
        setenv("UV_THREADPOOL_SIZE", v, 1);
    }
}

/*
 * One attempt at the read side's indexes: the GIN index of every read model's table
 * (rj_rs_ensure_indexes) and the events API's (rj_rs_ensure_event_indexes). One
 * transaction without a statement timeout: building an index over a large existing table
 * takes as long as it takes, and only once; the pool's timeout bounds requests, not this.
 * rj_pg_ensure_read_model_table takes the migration lock inside the transaction, so the
 * event index is created under it too and concurrent starts queue instead of racing.
 */
static rj_status_t
ensure_indexes_once(const rj_app_t *app, rj_pg_t *pg, rj_error_t *err)
{
    rj_status_t st = rj_pg_begin(pg, err);
    if (st != RJ_OK)
        return st;
    st = rj_pg_exec(pg, "SET LOCAL statement_timeout = 0", 0, NULL, NULL, err);
    for (size_t i = 0; st == RJ_OK && i < rj_app_read_model_count(app); i++)
        st = rj_rs_ensure_indexes(pg, rj_app_read_model_at(app, i), err);
    if (st == RJ_OK)
        st = rj_rs_ensure_event_indexes(pg, err);
    if (st == RJ_OK)
        return rj_pg_commit(pg, err);
    rj_pg_rollback(pg);
    return st;
}

/*
 * Start-up, after the executor's migrations: the read side's indexes, idempotently.
 * Without read models no lock is taken, and another process creating the same index at
 * the same moment makes ours fail with a unique violation (RJ_ECONFLICT): the index then
 * exists, so the next attempt finds it. A lost connection (RJ_ERETRY) is tried again too.
 */
static rj_status_t
ensure_read_side_indexes(void *opaque, rj_pg_t *pg, rj_error_t *err)
{
    const rj_app_t *app = opaque;
    rj_status_t st = RJ_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        rj_error_clear(err);
        st = ensure_indexes_once(app, pg, err);
        if (st != RJ_ECONFLICT && st != RJ_ERETRY)
            break;
    }
    if (st == RJ_OK)
        rj_info("main", "read-side indexes ready read_models=%zu", rj_app_read_model_count(app));
    return st;
}

static void start_loop_handles(gw_daemon_t *d);
static rj_status_t start_federation(gw_daemon_t *d, rj_error_t *err);
static rj_status_t start_composition(gw_daemon_t *d, const char *name, rj_error_t *err);
static rj_status_t start_http(gw_daemon_t *d, gw_http_graphql_cb on_graphql, void *opaque,
                              rj_error_t *err);

/* Builds everything in dependency order; on failure returns with what was built. */
static rj_status_t
start(gw_daemon_t *d, rj_error_t *err)
{
    gw_conf_t *c = d->conf;
    rj_status_t st;

    if ((st = rj_health_start(c->common.health_port, err)) != RJ_OK)
        return st;
    if (strcmp(c->common.app, "none") == 0)
        return start_federation(d, err);
    if ((d->app = rj_app_load(c->common.app, err)) == NULL)
        return err->status;
    const char *name = c->common.app_name != NULL ? c->common.app_name : rj_app_name_get(d->app);
    /* Before anything connects: a clash is the operator's to fix, not a retry's. */
    for (size_t i = 0; i < d->fed->nservices; i++)
        if (strcmp(d->fed->services[i].name, name) == 0)
            return rj_error_set(err, RJ_EINVAL,
                                "gateway config: services[%zu].name: %s is the application's "
                                "own name (its API is composed in-process under it)",
                                i, name);

    d->pg = gw_pgpool_new(&d->loop, c->common.pg_url, name, c->pg_pool_size,
                          c->connect_timeout_ms, c->request_timeout_ms, err);
    if (d->pg == NULL)
        return err->status;

    char *topic = rj_xasprintf("%s.commands", name);
    rj_kafka_topic_spec_t spec = rj_kafka_topic_spec(&c->common);
    st = topics_ensure_retry(c->common.kafka_brokers, topic, &spec, c->connect_timeout_ms, err);
    free(topic);
    if (st != RJ_OK)
        return st;
    if ((d->producer = rj_kafka_producer_new(c->common.kafka_brokers, "ramjet-gateway", err)) ==
        NULL)
        return err->status;
    uv_poll_init(&d->loop, &d->producer_poll, rj_kafka_producer_fd(d->producer));
    d->producer_poll.data = d;
    d->producer_poll_open = true;
    uv_poll_start(&d->producer_poll, UV_READABLE, on_producer_event);

    const gw_exec_opts_t xo = {
        .loop = &d->loop,
        .app = d->app,
        .app_name = name,
        .instance_id = c->instance_id,
        .producer = d->producer,
        .pg = d->pg,
        .timeout_ms = c->request_timeout_ms,
        .limits = c->limits,
        .consistency = c->consistency,
        .mutation_projected = strcmp(c->mutation_consistency, "projected") == 0,
    };
    if ((d->exec = gw_exec_new(&xo, err)) == NULL)
        return err->status;
    if ((st = gw_pgpool_run_sync(d->pg, ensure_read_side_indexes, d->app, err)) != RJ_OK)
        return st;

    /* Subscribed before ready: a reply published before SUBSCRIBE would be lost. */
    const char *channel = gw_exec_reply_channel(d->exec);
    d->sub = rj_redis_sub_start(c->common.redis_url, &channel, 1, on_reply, d->exec, err);
    if (d->sub == NULL)
        return err->status;
    if (!rj_redis_sub_wait_connected(d->sub, c->connect_timeout_ms))
        return rj_error_set(err, RJ_ERETRY, "could not subscribe to %s at %s within %d ms",
                            channel, c->common.redis_url, c->connect_timeout_ms);

    /* With services, every request is planned over the composition, the app's included. */
    if (d->fed->nservices > 0 && (st = start_composition(d, name, err)) != RJ_OK)
        return st;
    rj_info("main", "app=%s instance=%s replies=%s", name, c->instance_id, channel);
    if (d->fedpoll != NULL)
        return start_http(d, gw_fedpoll_handle, d->fedpoll, err);
    return start_http(d, gw_exec_handle, d->exec, err);
    return RJ_OK;
}

/* The signal watcher and the housekeeping tick, once everything else stands. */
static void
start_loop_handles(gw_daemon_t *d)
{
    uv_poll_init(&d->loop, &d->signal_poll, rj_proc_wake_fd());
    d->signal_poll.data = d;
    d->signal_poll_open = true;
    uv_poll_start(&d->signal_poll, UV_READABLE, on_signal);

    uv_timer_init(&d->loop, &d->tick);
    d->tick.data = d;
    d->tick_open = true;
    uv_timer_start(&d->tick, on_tick, GW_TICK_MS, GW_TICK_MS);
}

/*
 * A pure federation gateway (--app none): no application, so no PostgreSQL, Kafka or
 * Redis; the services' SDL is read and composed, and every request is planned over them.
 */
static rj_status_t
start_federation(gw_daemon_t *d, rj_error_t *err)
{
    rj_status_t st = start_composition(d, NULL, err);
    if (st != RJ_OK)
        return st;
    return start_http(d, gw_fedpoll_handle, d->fedpoll, err);
}

/* The HTTP server, handing GraphQL requests to @p on_graphql, then the loop's own handles. */
static rj_status_t
start_http(gw_daemon_t *d, gw_http_graphql_cb on_graphql, void *opaque, rj_error_t *err)
{
    gw_conf_t *c = d->conf;
    const gw_http_opts_t ho = {
        .loop = &d->loop,
        .host = c->http_host,
        .port = c->http_port,
        .max_body_bytes = (size_t)c->max_body_bytes,
        .on_graphql = on_graphql,
        .opaque = opaque,
        .graphiql_assets_dir = c->graphiql_assets_dir,
        .graphiql_ws_url = c->graphiql_ws_url,
    };
    if ((d->http = gw_http_new(&ho, err)) == NULL)
        return err->status;
    start_loop_handles(d);
    rj_info("http", "listening on http://%s:%d/graphql", c->http_host, gw_http_port(d->http));
    return RJ_OK;
}

/*
 * The services' SDL read and composed, and the executors that plan over them. With an
 * application (@p name, d->exec built), its own API is composed first, under its name,
 * and answered in-process: the gateway never asks itself over HTTP.
 */
static rj_status_t
start_composition(gw_daemon_t *d, const char *name, rj_error_t *err)
{
    gw_conf_t *c = d->conf;
    const rj_fed_sdl_t local = {
        .name = name,
        .sdl = d->app != NULL ? rj_app_subgraph_sdl(d->app) : NULL,
        .len = d->app != NULL ? strlen(rj_app_subgraph_sdl(d->app)) : 0,
    };
    bool *present = NULL;
    rj_fed_graph_t *g =
        rj_fed_load(d->fed, name != NULL ? &local : NULL, c->federation_timeout_ms, &present, err);
    if (g == NULL)
        return err->status;
    rj_info("federation", "composed services=%zu of %zu types=%zu", rj_fed_graph_nservices(g),
            d->fed->nservices + (name != NULL), rj_gql_schema_ntypes(rj_fed_graph_schema(g)));
    const gw_fed_opts_t fo = {
        .loop = &d->loop,
        .conf = d->fed,
        .graph = g,
        .present = present,
        .timeout_ms = c->federation_timeout_ms,
        .budget_ms = c->limits.budget_ms,
        .max_answer_bytes =
            c->limits.max_response_bytes > 0 ? (size_t)c->limits.max_response_bytes : SIZE_MAX,
        .max_fields = c->limits.max_fields > 0 ? (size_t)c->limits.max_fields : 0,
        .max_aliases = c->limits.max_aliases > 0 ? (size_t)c->limits.max_aliases : 0,
        .local = name != NULL ? d->exec : NULL,
        .local_name = name,
        .local_sdl = local.sdl,
        .auth = d->app != NULL ? rj_app_token_auth(d->app) : NULL,
    };
    gw_fed_t *first = gw_fed_new(&fo);
    free(present);
    d->fedpoll = gw_fedpoll_new(&fo, first, d->fed->polling_interval_ms);
    return RJ_OK;
}

/* ---- teardown ------------------------------------------------------------------------ */

static void
close_handle(uv_handle_t *h, bool *open)
{
    if (*open) {
        uv_close(h, NULL);
        *open = false;
    }
}

/*
 * Undoes start() in reverse, whatever part of it succeeded. The order matters: the Redis
 * thread stops before the executor's inbox closes; the producer is freed (flushing, and
 * reporting what it could not deliver) while the executor its callbacks point at is alive;
 * handles are closed and the loop run until it has released them before memory goes.
 */
static void
teardown(gw_daemon_t *d)
{
    bool http_clean = true;

    rj_redis_sub_stop(d->sub);
    if (d->http != NULL) {
        if (gw_http_inflight(d->http) == 0 && gw_http_connections(d->http) == 0) {
            gw_http_stop(d->http);
        } else {
            /* h2o still owns live connections; freeing under them would be worse. */
            rj_warn("main", "exiting with %zu connections still open",
                    gw_http_connections(d->http));
            http_clean = false;
        }
    }
    close_handle((uv_handle_t *)&d->signal_poll, &d->signal_poll_open);
    close_handle((uv_handle_t *)&d->tick, &d->tick_open);
    close_handle((uv_handle_t *)&d->producer_poll, &d->producer_poll_open);
    rj_kafka_producer_free(d->producer, d->conf->request_timeout_ms);
    d->producer = NULL;
    if (d->exec != NULL)
        gw_exec_stop(d->exec);
    gw_fedpoll_stop(d->fedpoll);

    if (http_clean) {
        uv_run(&d->loop, UV_RUN_DEFAULT);
        gw_http_free(d->http);
        gw_exec_free(d->exec);
        gw_fedpoll_free(d->fedpoll);
        gw_pgpool_free(d->pg);
        if (uv_loop_close(&d->loop) != 0)
            rj_warn("main", "the event loop still has open handles");
    }
    rj_app_free(d->app);
    rj_health_stop();
}

static int
run(gw_conf_t *conf, const rj_fed_conf_t *fed)
{
    gw_daemon_t d = {.conf = conf, .fed = fed};
    rj_error_t err = {0};
    int rc = 0;

    uv_loop_init(&d.loop);
    if (start(&d, &err) != RJ_OK) {
        rj_fatal("main", "%s", err.msg);
        rc = 1;
    } else if (!rj_proc_stopping()) {
        rj_proc_set_state(RJ_PROC_RUNNING);
        rj_proc_set_ready(true);
        uv_run(&d.loop, UV_RUN_DEFAULT);
    }
    teardown(&d);
    rj_proc_set_state(RJ_PROC_STOPPED);
    return rc;
}

int
main(int argc, char **argv)
{
    /* scripts/gen-docs builds docs/federation.md's key tables from this. */
    if (argc == 2 && strcmp(argv[1], "--gateway-config-markdown") == 0) {
        rj_fed_conf_print_markdown(stdout);
        return 0;
    }
    /*
     * Bodies, answers and Kafka produce buffers of megabytes come and go. glibc raises its
     * mmap threshold each time such a block is freed (up to 32 MB), after which they come
     * from the heap's arenas, where fragmentation keeps them: the gateway settled 100 MB
     * above its start after a burst of large mutations on Apache Kafka. A fixed threshold
     * keeps every block of 1 MiB or more in its own mapping, returned when it is freed.
     */
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    gw_conf_t conf = {0};
    rj_proc_init_daemon("ramjet-gateway", gw_opts, GW_NOPTS, &conf, &conf.common, argc,
                        argv, gw_summary);
    rj_error_t err = {0};
    if (check_conf(&conf, &err) != RJ_OK) {
        fprintf(stderr, "ramjet-gateway: %s\n", err.msg);
        rj_config_deinit(gw_opts, GW_NOPTS, &conf);
        return 2;
    }
    if (conf.instance_id == NULL || conf.instance_id[0] == '\0') {
        char uuid[RJ_UUID_STRLEN];
        rj_uuid_v4(uuid);
        free(conf.instance_id);
        conf.instance_id = rj_xasprintf("gw-%.8s", uuid);
    }
    size_thread_pool(conf.pg_pool_size);

    /*
     * The federation file is read before anything starts: a misspelt key or a duplicate
     * service is an operator's mistake that no restart will fix, so it refuses the start
     * (exit 2, like a bad flag) instead of becoming a crash loop under a supervisor.
     */
    rj_fed_conf_t fed = {0};
    if (conf.gateway_config != NULL && conf.gateway_config[0] != '\0' &&
        rj_fed_conf_load(conf.gateway_config, &fed, &err) != RJ_OK) {
        fprintf(stderr, "ramjet-gateway: %s\n", err.msg);
        rj_config_deinit(gw_opts, GW_NOPTS, &conf);
        return 2;
    }

    int rc = run(&conf, &fed);
    rj_fed_conf_deinit(&fed);

    rj_metrics_free_all();
    rj_config_deinit(gw_opts, GW_NOPTS, &conf);
    return rc;
}
