/*
 * kafka.c - the producer, consumer and topic helpers declared in kafka.h.
 *
 * The producer serves librdkafka's main queue (delivery reports, errors,
 * statistics) on whatever thread calls rj_kafka_producer_poll/_flush, and
 * exposes a pipe that librdkafka writes to when that queue becomes non-empty,
 * so an event loop can sleep on it instead of polling on a timer.
 *
 * The consumer is a plain group member whose rebalance callback asks the daemon
 * for start offsets (PostgreSQL is the source of truth) before assigning. It
 * polls message by message rather than with rd_kafka_consume_batch_queue():
 * the latter in 2.0.x may hand out messages of partitions revoked during the
 * call, while rd_kafka_consumer_poll() serves the rebalance first and discards
 * outdated fetches.
 *
 * Transactions wrap librdkafka's own API in the three decisions a caller makes
 * (done, abort and redo, give up: see kafka.h); the calls librdkafka documents as
 * retriable are retried here, within the caller's timeout.
 *
 * Not here: anything about message contents, and retries of failed deliveries
 * or aborted transactions (the caller decides what to re-produce).
 */
#include "kafka/kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config/config.h"
#include "core/core.h"
#include "log/log.h"
#include "proc/proc.h"

#define KAFKA_LOG "kafka"

/* How long rj_kafka_produce keeps retrying against a full local queue. */
#define PRODUCE_QUEUE_FULL_MAX_MS 10000

/* ------------------------------------------------------------------------ */
/* Errors and logging                                                        */
/* ------------------------------------------------------------------------ */

rj_status_t
rj_kafka_status(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return RJ_OK;

    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return RJ_ETIMEOUT;

    /* Transport trouble and leadership moves: the same request later may succeed. */
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__RETRY:
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
    case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
        return RJ_ERETRY;

    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return RJ_ENOTFOUND;

    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        return RJ_ETOOBIG;

    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
        return RJ_EINVAL;

    default:
        return RJ_EIO;
    }
}

/* librdkafka logs with syslog levels; fold them into ours. */
static void
kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    rj_log_level_t lvl = level <= LOG_ERR       ? RJ_LOG_ERROR
                         : level == LOG_WARNING ? RJ_LOG_WARN
                         : level <= LOG_INFO    ? RJ_LOG_INFO
                                                : RJ_LOG_DEBUG;
    rj_log(lvl, KAFKA_LOG, "%s client=%s fac=%s", buf, rd_kafka_name(rk), fac);
}

void
rj_kafka_conf_set_log(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    /* Debug contexts only when someone asked for kafka debug output: they are chatty. */
    if (rj_log_enabled(RJ_LOG_DEBUG, KAFKA_LOG)) {
        char errstr[256];
        rd_kafka_conf_set(conf, "debug", "cgrp,topic,eos,broker", errstr, sizeof errstr);
    }
}

/*
 * Applies RAMJET_KAFKA_CONF ("name=value,name=value") to @p conf: the escape
 * hatch for what Ramjet does not configure itself (security.protocol, SASL,
 * tuning). Applied last, so it may override Ramjet's own settings.
 */
static rj_status_t
kafka_conf_apply_env(rd_kafka_conf_t *conf, rj_error_t *err)
{
    const char *env = getenv("RAMJET_KAFKA_CONF");
    if (env == NULL || *env == '\0')
        return RJ_OK;
    char *copy = rj_xstrdup(env);
    rj_status_t st = RJ_OK;
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv != NULL && st == RJ_OK;
         kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq == NULL) {
            st = rj_error_set(err, RJ_EINVAL,
                              "could not configure Kafka client: RAMJET_KAFKA_CONF entry "
                              "without '=': %s", kv);
            break;
        }
        *eq = '\0';
        char errstr[512];
        if (rd_kafka_conf_set(conf, kv, eq + 1, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
            st = rj_error_set(err, RJ_EINVAL, "could not configure Kafka client: %s: %s", kv,
                              errstr);
    }
    free(copy);
    return st;
}

/*
 * Applies name=value pairs to @p conf; the first rejected one fails the whole
 * thing with RJ_EINVAL.
 */
static rj_status_t
kafka_conf_apply(rd_kafka_conf_t *conf, const char *const (*kv)[2], size_t n, rj_error_t *err)
{
    char errstr[512];
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK)
            return rj_error_set(err, RJ_EINVAL, "could not configure Kafka client: %s=%s: %s",
                                kv[i][0], kv[i][1], errstr);
    }
    return RJ_OK;
}

/* ------------------------------------------------------------------------ */
/* Producer                                                                  */
/* ------------------------------------------------------------------------ */

struct rj_kafka_producer {
    rd_kafka_t *rk;          /* the librdkafka handle */
    rd_kafka_queue_t *mainq; /* main queue, kept for io-event wakeups */
    int wake[2];             /* pipe: librdkafka writes [1] when mainq turns non-empty */
    pthread_mutex_t lock;    /* guards the failure record below */
    unsigned failures;       /* deliveries failed since the last flush */
    rj_status_t first_status; /* status of the first of them */
    char first_msg[256];     /* and its librdkafka reason */
    bool fatal;              /* the idempotent producer hit a fatal error */
    char *txn_id;            /* transactional.id; NULL: not transactional */
};

/* A message's delivery callback and its argument, carried as the message opaque. */
typedef struct produce_ctx {
    rj_kafka_delivery_cb cb; /* the caller's callback */
    void *opaque;            /* its argument */
} produce_ctx_t;

static void
producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *conf_opaque)
{
    rj_kafka_producer_t *p = conf_opaque;
    produce_ctx_t *ctx = m->_private;
    rj_status_t st = rj_kafka_status(m->err);
    const char *reason = m->err ? rd_kafka_err2str(m->err) : "";

    if (m->err) {
        pthread_mutex_lock(&p->lock);
        if (p->failures++ == 0) {
            p->first_status = st;
            snprintf(p->first_msg, sizeof p->first_msg, "%s", reason);
        }
        pthread_mutex_unlock(&p->lock);
        rj_debug(KAFKA_LOG, "delivery failed: %s topic=%s partition=%" PRId32, reason,
                 rd_kafka_topic_name(m->rkt), m->partition);
    }
    if (ctx != NULL) {
        ctx->cb(ctx->opaque, st, reason);
        free(ctx);
    }
}

static void
producer_error_cb(rd_kafka_t *rk, int code, const char *reason, void *conf_opaque)
{
    rj_kafka_producer_t *p = conf_opaque;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[256];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        pthread_mutex_lock(&p->lock);
        p->fatal = true;
        pthread_mutex_unlock(&p->lock);
        rj_error(KAFKA_LOG, "producer failed fatally: %s (%s)", fatal, rd_kafka_err2name(orig));
        return;
    }
    /* All-brokers-down and transport errors recover by themselves; say so once each. */
    rj_warn(KAFKA_LOG, "producer error: %s code=%s", reason,
            rd_kafka_err2name((rd_kafka_resp_err_t)code));
}

/*
 * The producer with Ramjet's settings, then @p extra (name=value pairs, may be
 * NULL), then RAMJET_KAFKA_CONF.
 */
static rj_kafka_producer_t *
producer_create(const char *brokers, const char *client_id, const char *const (*extra)[2],
                size_t nextra, rj_error_t *err)
{
    static const char *const settings[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "1"},
        /* murmur2 on the key is what the Java client does: external producers agree on placement */
        {"partitioner", "murmur2_random"},
        /* A delivery that cannot make it in 30 s is reported failed; the caller re-produces. */
        {"message.timeout.ms", "30000"},
        {"socket.keepalive.enable", "true"},
        /*
         * Nagle holds a small produce request until the broker's delayed ACK
         * (40 ms on Linux): every batch of commands would pay it.
         */
        {"socket.nagle.disable", "true"},
        /* Envelopes may reach RJ_ENV_MAX_BYTES (8 MiB; the gateway accepts 6 MiB bodies). */
        {"message.max.bytes", "10485760"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *const base[][2] = {
        {"bootstrap.servers", brokers},
        {"client.id", client_id != NULL ? client_id : "ramjet"},
    };
    if (kafka_conf_apply(conf, base, 2, err) != RJ_OK ||
        kafka_conf_apply(conf, settings, sizeof settings / sizeof settings[0], err) != RJ_OK ||
        kafka_conf_apply(conf, extra, nextra, err) != RJ_OK ||
        kafka_conf_apply_env(conf, err) != RJ_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }

    rj_kafka_producer_t *p = rj_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    if (pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        rj_error_set(err, RJ_EIO, "could not create Kafka producer: pipe: %s", strerror(errno));
        rd_kafka_conf_destroy(conf);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    rj_kafka_conf_set_log(conf);
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
    rd_kafka_conf_set_error_cb(conf, producer_error_cb);

    char errstr[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (p->rk == NULL) {
        /* rd_kafka_new frees conf only on success */
        rd_kafka_conf_destroy(conf);
        rj_error_set(err, RJ_EINVAL, "could not create Kafka producer: %s", errstr);
        close(p->wake[0]);
        close(p->wake[1]);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    p->mainq = rd_kafka_queue_get_main(p->rk);
    rd_kafka_queue_io_event_enable(p->mainq, p->wake[1], "1", 1);
    rj_debug(KAFKA_LOG, "producer created client=%s brokers=%s", rd_kafka_name(p->rk), brokers);
    return p;
}

rj_kafka_producer_t *
rj_kafka_producer_new(const char *brokers, const char *client_id, rj_error_t *err)
{
    return producer_create(brokers, client_id, NULL, 0, err);
}

void
rj_kafka_producer_free(rj_kafka_producer_t *p, int timeout_ms)
{
    if (p == NULL)
        return;
    if (rd_kafka_flush(p->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rj_warn(KAFKA_LOG, "producer closing with %d undelivered messages",
                rd_kafka_outq_len(p->rk));
        /* Purging fails the rest with __PURGE_*, so their callbacks run and their contexts go. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 1000);
    }
    rd_kafka_queue_io_event_enable(p->mainq, -1, NULL, 0);
    rd_kafka_queue_destroy(p->mainq);
    rd_kafka_destroy(p->rk);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->lock);
    free(p->txn_id);
    free(p);
}

rj_status_t
rj_kafka_produce_to(rj_kafka_producer_t *p, const char *topic, int32_t partition,
                    const void *key, size_t keylen, const void *value, size_t len,
                    rj_kafka_delivery_cb cb, void *opaque, rj_error_t *err)
{
    pthread_mutex_lock(&p->lock);
    bool fatal = p->fatal;
    pthread_mutex_unlock(&p->lock);
    if (fatal)
        return rj_error_set(err, RJ_EIO,
                            "could not produce to Kafka: producer failed fatally topic=%s", topic);

    produce_ctx_t *ctx = NULL;
    if (cb != NULL) {
        ctx = rj_xmalloc(sizeof *ctx);
        *ctx = (produce_ctx_t){.cb = cb, .opaque = opaque};
    }
    size_t klen = key != NULL ? keylen : 0;
    int64_t deadline = rj_mono_us() + (int64_t)PRODUCE_QUEUE_FULL_MAX_MS * 1000;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_OPAQUE(ctx), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return RJ_OK;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && rj_mono_us() < deadline) {
            /* Serving delivery reports is what frees queue space. */
            rd_kafka_poll(p->rk, 100);
            continue;
        }
        free(ctx);
        return rj_error_set(err, rj_kafka_status(e), "could not produce to Kafka: %s topic=%s",
                            rd_kafka_err2str(e), topic);
    }
}

rj_status_t
rj_kafka_produce(rj_kafka_producer_t *p, const char *topic, const void *key, size_t keylen,
                 const void *value, size_t len, rj_kafka_delivery_cb cb, void *opaque,
                 rj_error_t *err)
{
    return rj_kafka_produce_to(p, topic, RD_KAFKA_PARTITION_UA, key, keylen, value, len, cb,
                               opaque, err);
}

static void
producer_drain_fd(rj_kafka_producer_t *p)
{
    char buf[64];
    while (read(p->wake[0], buf, sizeof buf) > 0)
        ;
}

int
rj_kafka_producer_poll(rj_kafka_producer_t *p, int timeout_ms)
{
    /*
     * Drain before serving: librdkafka writes the pipe again only after the queue
     * was served, so a wakeup that arrives during rd_kafka_poll is kept.
     */
    producer_drain_fd(p);
    return rd_kafka_poll(p->rk, timeout_ms);
}

rj_status_t
rj_kafka_producer_flush(rj_kafka_producer_t *p, int timeout_ms, rj_error_t *err)
{
    producer_drain_fd(p);
    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);

    pthread_mutex_lock(&p->lock);
    unsigned failures = p->failures;
    rj_status_t st = p->first_status;
    char msg[sizeof p->first_msg];
    memcpy(msg, p->first_msg, sizeof msg);
    p->failures = 0;
    pthread_mutex_unlock(&p->lock);

    if (failures > 0)
        return rj_error_set(err, st, "could not deliver %u message%s to Kafka: %s", failures,
                            failures == 1 ? "" : "s", msg);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return rj_error_set(
            err, RJ_ETIMEOUT,
            "could not flush Kafka producer: %d messages still in flight after %d ms",
            rd_kafka_outq_len(p->rk), timeout_ms);
    return RJ_OK;
}

int
rj_kafka_producer_fd(rj_kafka_producer_t *p)
{
    return p->wake[0];
}

int
rj_kafka_producer_outq_len(rj_kafka_producer_t *p)
{
    return rd_kafka_outq_len(p->rk);
}

rd_kafka_t *
rj_kafka_producer_handle(rj_kafka_producer_t *p)
{
    return p->rk;
}

/* ------------------------------------------------------------------------ */
/* Consumer                                                                  */
/* ------------------------------------------------------------------------ */

struct rj_kafka_consumer {
    rd_kafka_t *rk;                   /* the librdkafka handle */
    rj_kafka_consumer_hooks_t hooks;  /* the daemon's assign/revoke hooks */
    void *opaque;                     /* their argument */
    char *group;                      /* group.id */
    unsigned generation;              /* bumped by every rebalance callback */
    int assigned;                     /* partitions assigned to us right now */
    bool cooperative;                 /* the group rebalances incrementally */
    bool fatal;                       /* the consumer cannot go on; see fatal_err */
    rj_error_t fatal_err;             /* why */
    int64_t lag_due_us;               /* when ramjet_consumer_lag is next updated */
    struct lag *lag;                  /* every partition ever held, for its lag gauge */
    size_t nlag;                      /* entries in lag */
};

/* A partition's lag gauge and the progress it measures from. */
struct lag {
    char *key;           /* "<topic>\n<partition>" */
    rj_metric_t *m;      /* ramjet_consumer_lag{group,topic,partition} */
    int64_t committed;   /* next offset the daemon last committed, or -1 */
    unsigned generation; /* the consumer's rebalance count when it did */
};

/* How often a consumer's lag gauges are refreshed. */
#define LAG_EVERY_US 1000000

static void
consumer_set_fatal(rj_kafka_consumer_t *c, rj_status_t st, const char *msg)
{
    if (c->fatal)
        return;
    c->fatal = true;
    rj_error_set(&c->fatal_err, st, "%s", msg);
    rj_error(KAFKA_LOG, "%s group=%s", msg, c->group);
}

static void
log_partitions(const char *what, const char *group, const rd_kafka_topic_partition_list_t *parts)
{
    if (!rj_log_enabled(RJ_LOG_INFO, KAFKA_LOG))
        return;
    rj_buf_t b;
    rj_buf_init(&b);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        rj_buf_printf(&b, "%s%s[%" PRId32 "]", i ? "," : "", tp->topic, tp->partition);
        if (tp->offset >= 0)
            rj_buf_printf(&b, "@%" PRId64, tp->offset);
    }
    rj_info(KAFKA_LOG, "%s group=%s partitions=%s", what, group, b.data != NULL ? b.data : "");
    rj_buf_deinit(&b);
}

static void
consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                      rd_kafka_topic_partition_list_t *parts, void *conf_opaque)
{
    rj_kafka_consumer_t *c = conf_opaque;
    /*
     * NULL while the consumer closes in the middle of a rebalance (a member that
     * exits as another joins): the protocol is then the one of the previous call.
     */
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    if (protocol != NULL)
        c->cooperative = strcmp(protocol, "COOPERATIVE") == 0;
    bool cooperative = c->cooperative;
    rd_kafka_error_t *kerr = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    c->generation++;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (c->hooks.on_assign != NULL && parts->cnt > 0) {
            rj_error_t herr = {0};
            rj_status_t st = c->hooks.on_assign(c->opaque, parts, &herr);
            if (st != RJ_OK) {
                /*
                 * Without start offsets, assigning would read from the wrong place.
                 * Leave the partitions unassigned; the daemon sees the fatal error on
                 * its next poll, exits, and the group hands them to someone else.
                 */
                char msg[RJ_ERROR_MSG_MAX + 64];
                snprintf(msg, sizeof msg, "could not start assigned partitions: %s", herr.msg);
                consumer_set_fatal(c, st, msg);
                return;
            }
        }
        log_partitions("partitions assigned", c->group, parts);
        if (cooperative)
            kerr = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        c->assigned = cooperative ? c->assigned + parts->cnt : parts->cnt;
    } else if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        log_partitions("partitions revoked", c->group, parts);
        if (c->hooks.on_revoke != NULL)
            c->hooks.on_revoke(c->opaque, parts);
        if (cooperative)
            kerr = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        c->assigned = cooperative ? c->assigned - parts->cnt : 0;
    } else {
        rj_error(KAFKA_LOG, "rebalance failed: %s group=%s", rd_kafka_err2str(e), c->group);
        aerr = rd_kafka_assign(rk, NULL);
        c->assigned = 0;
    }
    if (kerr != NULL || aerr != RD_KAFKA_RESP_ERR_NO_ERROR)
        c->assigned = 0;
    /* A member the group gave nothing has no work to take: /readyz says so. */
    rj_proc_set_assigned(c->assigned > 0);
    if (kerr != NULL) {
        char msg[512];
        snprintf(msg, sizeof msg, "could not change assignment: %s", rd_kafka_error_string(kerr));
        consumer_set_fatal(c, RJ_EIO, msg);
        rd_kafka_error_destroy(kerr);
    } else if (aerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        char msg[512];
        snprintf(msg, sizeof msg, "could not change assignment: %s", rd_kafka_err2str(aerr));
        consumer_set_fatal(c, rj_kafka_status(aerr), msg);
    }
}

static void
consumer_error_cb(rd_kafka_t *rk, int code, const char *reason, void *conf_opaque)
{
    rj_kafka_consumer_t *c = conf_opaque;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[256];
        rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        char msg[320];
        snprintf(msg, sizeof msg, "consumer failed fatally: %s", fatal);
        consumer_set_fatal(c, RJ_EIO, msg);
        return;
    }
    rj_warn(KAFKA_LOG, "consumer error: %s code=%s group=%s", reason,
            rd_kafka_err2name((rd_kafka_resp_err_t)code), c->group);
}

static void
consumer_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e, rd_kafka_topic_partition_list_t *offs,
                   void *conf_opaque)
{
    /* Kafka-side commits only feed lag monitors; a failure changes nothing we rely on. */
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        rj_debug(KAFKA_LOG, "offset commit to Kafka failed: %s", rd_kafka_err2str(e));
}

/* Sets group.instance.id from the daemon's option ("@hostname": gethostname()). */
static rj_status_t
consumer_conf_instance_id(rd_kafka_conf_t *conf, const char *instance_id, rj_error_t *err)
{
    if (instance_id == NULL || *instance_id == '\0')
        return RJ_OK;
    char host[256];
    if (strcmp(instance_id, "@hostname") == 0) {
        if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
            return rj_error_set(err, RJ_EINVAL,
                                "could not read the host name for group-instance-id: %s",
                                strerror(errno));
        host[sizeof host - 1] = '\0';
        instance_id = host;
    }
    const char *const kv[][2] = {{"group.instance.id", instance_id}};
    return kafka_conf_apply(conf, kv, 1, err);
}

rj_kafka_consumer_t *
rj_kafka_consumer_new(const char *brokers, const char *group, const char *instance_id,
                      const char *const *topics, size_t ntopics,
                      const rj_kafka_consumer_hooks_t *hooks, void *opaque, rj_error_t *err)
{
    if (ntopics == 0) {
        rj_error_set(err, RJ_EINVAL, "could not create Kafka consumer: no topics group=%s", group);
        return NULL;
    }
    static const char *const settings[][2] = {
        /* Offsets live in PostgreSQL, committed with the writes they cover. */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        /* The dev broker holds every fetch for the full wait: keep each hop cheap. */
        {"fetch.wait.max.ms", "5"},
        {"socket.nagle.disable", "true"},
        {"fetch.message.max.bytes", "10485760"},
        {"isolation.level", "read_committed"},
        {"enable.partition.eof", "false"},
        /*
         * A dead member's partitions stall until its session times out, and the
         * dev broker (mock cluster) waits session.timeout.ms - 1 s for members to
         * rejoin on every rebalance: keep it at the broker minimum (6 s).
         */
        {"session.timeout.ms", "6000"},
        {"heartbeat.interval.ms", "1000"},
        /*
         * Incremental rebalancing: a replica joining or leaving moves only the partitions
         * that change hands, and the others keep consuming through it (eager assignment
         * stops every member of the group at every change).
         */
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"socket.keepalive.enable", "true"},
        /*
         * Nagle holds a small produce request until the broker's delayed ACK
         * (40 ms on Linux): every batch of commands would pay it.
         */
        {"socket.nagle.disable", "true"},
        /* Envelopes may reach RJ_ENV_MAX_BYTES (8 MiB; the gateway accepts 6 MiB bodies). */
        {"message.max.bytes", "10485760"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *const base[][2] = {
        {"bootstrap.servers", brokers},
        {"group.id", group},
        {"client.id", group},
    };
    if (kafka_conf_apply(conf, base, 3, err) != RJ_OK ||
        kafka_conf_apply(conf, settings, sizeof settings / sizeof settings[0], err) != RJ_OK ||
        consumer_conf_instance_id(conf, instance_id, err) != RJ_OK ||
        kafka_conf_apply_env(conf, err) != RJ_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }

    rj_kafka_consumer_t *c = rj_xcalloc(1, sizeof *c);
    rj_proc_set_assigned(false); /* not ready before the group's first assignment */
    if (hooks != NULL)
        c->hooks = *hooks;
    c->opaque = opaque;
    c->group = rj_xstrdup(group);
    rj_kafka_conf_set_log(conf);
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, consumer_rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, consumer_commit_cb);

    char errstr[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (c->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        rj_error_set(err, RJ_EINVAL, "could not create Kafka consumer: %s group=%s", errstr, group);
        free(c->group);
        free(c);
        return NULL;
    }
    /* One queue for messages, rebalances and errors: rd_kafka_consumer_poll serves them all. */
    rd_kafka_poll_set_consumer(c->rk);

    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rj_error_set(err, rj_kafka_status(e), "could not subscribe to Kafka topics: %s group=%s",
                     rd_kafka_err2str(e), group);
        rd_kafka_destroy(c->rk);
        free(c->group);
        free(c);
        return NULL;
    }
    rj_debug(KAFKA_LOG, "consumer created group=%s instance=%s brokers=%s", group,
             instance_id != NULL && *instance_id != '\0' ? instance_id : "(dynamic)", brokers);
    return c;
}

void
rj_kafka_consumer_free(rj_kafka_consumer_t *c)
{
    if (c == NULL)
        return;
    /* Leaves the group (the revoke hook runs here), so the others rebalance at once. */
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(c->rk);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        rj_warn(KAFKA_LOG, "could not close consumer cleanly: %s group=%s", rd_kafka_err2str(e),
                c->group);
    rd_kafka_destroy(c->rk);
    for (size_t i = 0; i < c->nlag; i++)
        free(c->lag[i].key);
    free(c->lag);
    free(c->group);
    free(c);
}

/* The lag entry of (topic, partition), with its gauge registered the first time. */
static struct lag *
lag_entry(rj_kafka_consumer_t *c, const char *topic, int32_t partition)
{
    char *key = rj_xasprintf("%s\n%" PRId32, topic, partition);
    for (size_t i = 0; i < c->nlag; i++) {
        if (strcmp(c->lag[i].key, key) == 0) {
            free(key);
            return &c->lag[i];
        }
    }
    char *name =
        rj_xasprintf("ramjet_consumer_lag{group=\"%s\",topic=\"%s\",partition=\"%" PRId32 "\"}",
                     c->group, topic, partition);
    c->lag = rj_xrealloc(c->lag, (c->nlag + 1) * sizeof *c->lag);
    struct lag *l = &c->lag[c->nlag++];
    *l = (struct lag){.key = key, .committed = -1};
    l->m = rj_metric_gauge(name, "messages of the partition this member has not processed yet "
                                 "(high watermark - committed offset); 0 where another member "
                                 "holds the partition");
    free(name);
    return l;
}

/*
 * Refreshes ramjet_consumer_lag, at most once a second: for each partition held, the high
 * watermark librdkafka last saw in a fetch minus the offset the daemon last committed
 * (the position before its first commit), without a request to the broker. Partitions no
 * longer held go to 0, so a sum over the group's members is the group's lag: what an
 * operator alerts on, exported by the daemons themselves.
 */
static void
lag_update(rj_kafka_consumer_t *c)
{
    int64_t now = rj_mono_us();
    if (now < c->lag_due_us)
        return;
    c->lag_due_us = now + LAG_EVERY_US;
    for (size_t i = 0; i < c->nlag; i++)
        rj_metric_set(c->lag[i].m, 0);
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || parts == NULL)
        return;
    rd_kafka_position(c->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t low = -1, high = -1;
        rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &low, &high);
        if (high < 0)
            continue; /* nothing fetched yet: unknown */
        struct lag *l = lag_entry(c, p->topic, p->partition);
        /* A commit from before a rebalance may be older than where another member left the
           partition: then the position (where this member resumed) says more. */
        bool current = l->committed >= 0 && l->generation == c->generation;
        int64_t from = current ? l->committed : p->offset >= 0 ? p->offset : low;
        rj_metric_set(l->m, from >= 0 && high > from ? high - from : 0);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

/* True when (topic, partition) is in @p parts. */
static bool
parts_contain(const rd_kafka_topic_partition_list_t *parts, const char *topic, int32_t partition)
{
    return parts != NULL && rd_kafka_topic_partition_list_find(parts, topic, partition) != NULL;
}

ssize_t
rj_kafka_consume_batch(rj_kafka_consumer_t *c, rd_kafka_message_t **msgs, size_t max,
                       int timeout_ms, rj_error_t *err)
{
    size_t n = 0;
    unsigned generation = c->generation;
    int wait = timeout_ms;

    while (n < max && !c->fatal) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, wait);
        if (m == NULL)
            break;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                rj_debug(KAFKA_LOG, "reached end of partition topic=%s partition=%" PRId32,
                         m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : "", m->partition);
            } else if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char fatal[256];
                rd_kafka_fatal_error(c->rk, fatal, sizeof fatal);
                char msg[320];
                snprintf(msg, sizeof msg, "consumer failed fatally: %s", fatal);
                consumer_set_fatal(c, RJ_EIO, msg);
            } else {
                /* Offset resets (the dev broker's retention), unknown topics... recoverable. */
                rj_warn(KAFKA_LOG, "consumer error: %s topic=%s partition=%" PRId32 " group=%s",
                        rd_kafka_message_errstr(m),
                        m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : "", m->partition,
                        c->group);
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        msgs[n++] = m;
        wait = 0;
    }
    lag_update(c);

    if (c->fatal) {
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
        if (err != NULL)
            *err = c->fatal_err;
        return -1;
    }

    /*
     * A rebalance in the middle of the batch may have taken some of its
     * partitions away; their new owner starts from the offsets in PostgreSQL,
     * so the messages gathered here for them must not be processed.
     */
    if (generation != c->generation && n > 0) {
        rd_kafka_topic_partition_list_t *now = NULL;
        rd_kafka_assignment(c->rk, &now);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            if (parts_contain(now, rd_kafka_topic_name(msgs[i]->rkt), msgs[i]->partition))
                msgs[kept++] = msgs[i];
            else
                rd_kafka_message_destroy(msgs[i]);
        }
        if (kept != n)
            rj_debug(KAFKA_LOG, "dropped %zu messages of revoked partitions group=%s", n - kept,
                     c->group);
        n = kept;
        if (now != NULL)
            rd_kafka_topic_partition_list_destroy(now);
    }
    return (ssize_t)n;
}

rj_status_t
rj_kafka_consumer_seek(rj_kafka_consumer_t *c, const char *topic, int32_t partition,
                       int64_t offset, rj_error_t *err)
{
    rd_kafka_topic_partition_list_t *assigned = NULL;
    rd_kafka_assignment(c->rk, &assigned);
    bool ok = parts_contain(assigned, topic, partition);
    if (assigned != NULL)
        rd_kafka_topic_partition_list_destroy(assigned);
    if (!ok)
        return rj_error_set(err, RJ_ENOTFOUND,
                            "could not seek: partition not assigned topic=%s partition=%" PRId32,
                            topic, partition);

    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rd_kafka_error_t *kerr = rd_kafka_seek_partitions(c->rk, l, 5000);
    rj_status_t st = RJ_OK;
    if (kerr != NULL) {
        st = rj_error_set(err, rj_kafka_status(rd_kafka_error_code(kerr)),
                          "could not seek: %s topic=%s partition=%" PRId32,
                          rd_kafka_error_string(kerr), topic, partition);
        rd_kafka_error_destroy(kerr);
    } else if (l->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        st = rj_error_set(err, rj_kafka_status(l->elems[0].err),
                          "could not seek: %s topic=%s partition=%" PRId32,
                          rd_kafka_err2str(l->elems[0].err), topic, partition);
    } else {
        rj_debug(KAFKA_LOG, "seeked topic=%s partition=%" PRId32 " offset=%" PRId64, topic,
                 partition, offset);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return st;
}

rj_status_t
rj_kafka_consumer_rewind(rj_kafka_consumer_t *c, rd_kafka_message_t *const *msgs, size_t n,
                         rj_error_t *err)
{
    /* Lowest offset per partition present in the batch. */
    rd_kafka_topic_partition_list_t *low = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR || m->rkt == NULL)
            continue;
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(low, topic, m->partition);
        if (tp == NULL)
            rd_kafka_topic_partition_list_add(low, topic, m->partition)->offset = m->offset;
        else if (m->offset < tp->offset)
            tp->offset = m->offset;
    }
    rj_status_t st = RJ_OK;
    for (int i = 0; i < low->cnt && st == RJ_OK; i++)
        st = rj_kafka_consumer_seek(c, low->elems[i].topic, low->elems[i].partition,
                                    low->elems[i].offset, err);
    rd_kafka_topic_partition_list_destroy(low);
    return st;
}

rd_kafka_topic_partition_list_t *
rj_kafka_consumer_assignment(rj_kafka_consumer_t *c)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || l == NULL)
        return NULL;
    if (l->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(l);
        return NULL;
    }
    return l;
}

char *
rj_kafka_group_name(const char *app, const char *daemon)
{
    return rj_xasprintf("%s.%s", app, daemon);
}

const char *
rj_kafka_consumer_group(const rj_kafka_consumer_t *c)
{
    return c->group;
}

rd_kafka_t *
rj_kafka_consumer_handle(rj_kafka_consumer_t *c)
{
    return c->rk;
}

/* ------------------------------------------------------------------------ */
/* Offsets                                                                   */
/* ------------------------------------------------------------------------ */

size_t
rj_kafka_offsets_from_batch(rd_kafka_message_t *const *msgs, size_t n, rj_kafka_offset_t **out)
{
    /* Batches touch few partitions; a linear scan beats hashing at these sizes. */
    rj_kafka_offset_t *offs = NULL;
    size_t count = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR || m->rkt == NULL)
            continue;
        const char *topic = rd_kafka_topic_name(m->rkt);
        size_t j = 0;
        while (j < count &&
               !(offs[j].partition == m->partition && strcmp(offs[j].topic, topic) == 0))
            j++;
        if (j == count) {
            if (count == cap) {
                cap = cap ? cap * 2 : 8;
                offs = rj_xrealloc(offs, cap * sizeof *offs);
            }
            offs[count++] = (rj_kafka_offset_t){.topic = rj_xstrdup(topic),
                                                .partition = m->partition,
                                                .next_offset = m->offset + 1};
        } else if (m->offset + 1 > offs[j].next_offset) {
            offs[j].next_offset = m->offset + 1;
        }
    }
    *out = offs;
    return count;
}

void
rj_kafka_offsets_free(rj_kafka_offset_t *offs, size_t n)
{
    if (offs == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(offs[i].topic);
    free(offs);
}

void
rj_kafka_consumer_commit_async(rj_kafka_consumer_t *c, const rj_kafka_offset_t *offs, size_t n)
{
    if (n == 0)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(l, offs[i].topic, offs[i].partition)->offset =
            offs[i].next_offset;
        struct lag *lag = lag_entry(c, offs[i].topic, offs[i].partition);
        lag->committed = offs[i].next_offset;
        lag->generation = c->generation;
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, 1);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        rj_debug(KAFKA_LOG, "could not commit offsets to Kafka: %s group=%s", rd_kafka_err2str(e),
                 c->group);
    rd_kafka_topic_partition_list_destroy(l);
}

rj_status_t
rj_kafka_consumer_committed(rj_kafka_consumer_t *c, rd_kafka_topic_partition_list_t *parts,
                            int timeout_ms, rj_error_t *err)
{
    rd_kafka_resp_err_t e = rd_kafka_committed(c->rk, parts, timeout_ms);
    for (int i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && i < parts->cnt; i++)
        e = parts->elems[i].err;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return rj_error_set(err, rj_kafka_status(e),
                            "could not read committed offsets from Kafka: %s group=%s",
                            rd_kafka_err2str(e), c->group);
    return RJ_OK;
}

/* ------------------------------------------------------------------------ */
/* Transactions                                                              */
/* ------------------------------------------------------------------------ */

rj_kafka_producer_t *
rj_kafka_producer_new_transactional(const char *brokers, const char *client_id,
                                    const char *transactional_id, int txn_timeout_ms,
                                    int init_timeout_ms, rj_error_t *err)
{
    if (transactional_id == NULL || *transactional_id == '\0' || txn_timeout_ms <= 0) {
        rj_error_set(err, RJ_EINVAL,
                     "could not create Kafka producer: empty transactional.id or "
                     "transaction.timeout.ms=%d",
                     txn_timeout_ms);
        return NULL;
    }
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%d", txn_timeout_ms);
    /*
     * librdkafka refuses a message timeout longer than the transaction's: a delivery
     * still pending when the broker aborts the transaction would be lost anyway.
     */
    const char *const extra[][2] = {
        {"transactional.id", transactional_id},
        {"transaction.timeout.ms", timeout},
        {"message.timeout.ms", timeout},
        /*
         * The coordinator answers CONCURRENT_TRANSACTIONS to the next transaction's
         * first request while it still writes the previous one's markers, a few ms;
         * librdkafka retries after retry.backoff.ms, 100 ms by default, which every
         * batch then paid. 20 ms is the Java producer's backoff for this case.
         */
        {"retry.backoff.ms", "20"},
    };
    rj_kafka_producer_t *p =
        producer_create(brokers, client_id, extra, sizeof extra / sizeof extra[0], err);
    if (p == NULL)
        return NULL;
    p->txn_id = rj_xstrdup(transactional_id);
    rd_kafka_error_t *e = rd_kafka_init_transactions(p->rk, init_timeout_ms);
    if (e != NULL) {
        rj_status_t st = rd_kafka_error_is_retriable(e) ? RJ_ERETRY : RJ_EIO;
        rj_error_set(err, st, "could not initialise Kafka transactions: %s transactional.id=%s",
                     rd_kafka_error_string(e), transactional_id);
        rd_kafka_error_destroy(e);
        rj_kafka_producer_free(p, 0);
        return NULL;
    }
    rj_info(KAFKA_LOG, "transactional producer ready transactional.id=%s timeout_ms=%d",
            transactional_id, txn_timeout_ms);
    return p;
}

/* Whether @p code says a newer producer with our transactional.id took over. */
static bool
txn_code_fenced(rd_kafka_resp_err_t code)
{
    return code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

/*
 * Translates (and destroys) a transaction call's error: fatal ones make the producer
 * unusable (RJ_EIO, with the fencing spelled out), the rest only this transaction
 * (RJ_ERETRY: abort, redo).
 */
static rj_status_t
txn_error(rj_kafka_producer_t *p, rd_kafka_error_t *e, const char *what, rj_error_t *err)
{
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    bool fatal = rd_kafka_error_is_fatal(e);
    char reason[256];
    snprintf(reason, sizeof reason, "%s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    if (fatal) {
        char fatal_msg[256] = "";
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(p->rk, fatal_msg, sizeof fatal_msg);
        pthread_mutex_lock(&p->lock);
        p->fatal = true;
        pthread_mutex_unlock(&p->lock);
        if (txn_code_fenced(code) || txn_code_fenced(orig))
            return rj_error_set(err, RJ_EIO,
                                "could not %s Kafka transaction: this instance was fenced, a newer "
                                "one with the same transactional.id took over: %s "
                                "transactional.id=%s",
                                what, fatal_msg[0] ? fatal_msg : reason, p->txn_id);
        return rj_error_set(err, RJ_EIO,
                            "could not %s Kafka transaction: fatal producer error: %s "
                            "transactional.id=%s",
                            what, fatal_msg[0] ? fatal_msg : reason, p->txn_id);
    }
    return rj_error_set(err, RJ_ERETRY, "could not %s Kafka transaction: %s transactional.id=%s",
                        what, reason, p->txn_id);
}

rj_status_t
rj_kafka_txn_begin(rj_kafka_producer_t *p, rj_error_t *err)
{
    rd_kafka_error_t *e = rd_kafka_begin_transaction(p->rk);
    if (e == NULL)
        return RJ_OK;
    /*
     * Only a dead producer or a broken call sequence (a transaction still open, which
     * the callers never leave behind) gets here: both are fatal to us.
     */
    (void)txn_error(p, e, "begin", err);
    if (err != NULL)
        err->status = RJ_EIO;
    return RJ_EIO;
}

/*
 * Runs one step of a commit; librdkafka's retriable errors (a timeout while the
 * coordinator is busy) are retried with the same call until @p deadline_us, as its
 * documentation asks; anything else is translated.
 */
static rj_status_t
txn_step(rj_kafka_producer_t *p, const char *what, int64_t deadline_us,
         rd_kafka_error_t *(*step)(rj_kafka_producer_t *, void *, int), void *arg, rj_error_t *err)
{
    for (;;) {
        int64_t left_ms = (deadline_us - rj_mono_us()) / 1000;
        rd_kafka_error_t *e = step(p, arg, left_ms > 0 ? (int)left_ms : 0);
        if (e == NULL)
            return RJ_OK;
        if (!rd_kafka_error_is_retriable(e) || rj_mono_us() >= deadline_us ||
            rd_kafka_error_txn_requires_abort(e) || rd_kafka_error_is_fatal(e))
            return txn_error(p, e, what, err);
        rj_debug(KAFKA_LOG, "retrying %s of Kafka transaction: %s", what, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

/* The offsets and group of rj_kafka_txn_commit, as txn_step's argument. */
typedef struct txn_offsets {
    rd_kafka_topic_partition_list_t *list;     /* next offset per partition */
    rd_kafka_consumer_group_metadata_t *group; /* the consumer's group generation */
} txn_offsets_t;

static rd_kafka_error_t *
txn_send_offsets(rj_kafka_producer_t *p, void *arg, int timeout_ms)
{
    txn_offsets_t *o = arg;
    return rd_kafka_send_offsets_to_transaction(p->rk, o->list, o->group, timeout_ms);
}

static rd_kafka_error_t *
txn_commit(rj_kafka_producer_t *p, void *arg, int timeout_ms)
{
    (void)arg;
    producer_drain_fd(p);
    return rd_kafka_commit_transaction(p->rk, timeout_ms);
}

rj_status_t
rj_kafka_txn_commit(rj_kafka_producer_t *p, rj_kafka_consumer_t *c, const rj_kafka_offset_t *offs,
                    size_t n, int timeout_ms, rj_error_t *err)
{
    int64_t deadline = rj_mono_us() + (int64_t)timeout_ms * 1000;
    rj_status_t st = RJ_OK;
    if (n > 0) {
        txn_offsets_t o = {
            .list = rd_kafka_topic_partition_list_new((int)n),
            .group = rd_kafka_consumer_group_metadata(c->rk),
        };
        for (size_t i = 0; i < n; i++)
            rd_kafka_topic_partition_list_add(o.list, offs[i].topic, offs[i].partition)->offset =
                offs[i].next_offset;
        st = txn_step(p, "send offsets to", deadline, txn_send_offsets, &o, err);
        rd_kafka_consumer_group_metadata_destroy(o.group);
        rd_kafka_topic_partition_list_destroy(o.list);
    }
    if (st == RJ_OK)
        st = txn_step(p, "commit", deadline, txn_commit, NULL, err);
    /* Delivery failures inside a transaction are the commit's to report. */
    pthread_mutex_lock(&p->lock);
    p->failures = 0;
    pthread_mutex_unlock(&p->lock);
    return st;
}

static rd_kafka_error_t *
txn_abort(rj_kafka_producer_t *p, void *arg, int timeout_ms)
{
    (void)arg;
    return rd_kafka_abort_transaction(p->rk, timeout_ms);
}

rj_status_t
rj_kafka_txn_abort(rj_kafka_producer_t *p, int timeout_ms, rj_error_t *err)
{
    rj_status_t st =
        txn_step(p, "abort", rj_mono_us() + (int64_t)timeout_ms * 1000, txn_abort, NULL, err);
    pthread_mutex_lock(&p->lock);
    p->failures = 0;
    pthread_mutex_unlock(&p->lock);
    /* A transaction that cannot even be aborted leaves nothing to go on with. */
    if (st != RJ_OK && err != NULL)
        err->status = RJ_EIO;
    return st == RJ_OK ? RJ_OK : RJ_EIO;
}

/* ------------------------------------------------------------------------ */
/* Topics                                                                    */
/* ------------------------------------------------------------------------ */

/* Marks in @p missing which of @p names the cluster does not list. */
static rj_status_t
topics_find_missing(rd_kafka_t *rk, const char *const *names, size_t n, bool *missing,
                    size_t *nmissing, rj_error_t *err)
{
    const struct rd_kafka_metadata *md = NULL;
    /* all_topics=1 asks for the list without asking the broker to auto-create anything */
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return rj_error_set(err, rj_kafka_status(e) == RJ_ETIMEOUT ? RJ_ERETRY : rj_kafka_status(e),
                            "could not list Kafka topics: %s", rd_kafka_err2str(e));
    *nmissing = 0;
    for (size_t i = 0; i < n; i++) {
        missing[i] = true;
        for (int t = 0; t < md->topic_cnt; t++) {
            if (strcmp(md->topics[t].topic, names[i]) == 0 &&
                md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                missing[i] = false;
                break;
            }
        }
        if (missing[i])
            (*nmissing)++;
    }
    rd_kafka_metadata_destroy(md);
    return RJ_OK;
}

rj_kafka_topic_spec_t
rj_kafka_topic_spec(const rj_common_conf_t *c)
{
    return (rj_kafka_topic_spec_t){
        .partitions = c->partitions,
        .replication_factor = c->topic_replication_factor,
        .min_insync_replicas = c->topic_min_insync_replicas,
        .max_message_bytes = c->topic_max_message_bytes,
    };
}

/* Sets topic config @p name to @p value on @p t when @p value is positive. */
static rj_status_t
topic_set_config(rd_kafka_NewTopic_t *t, const char *topic, const char *name, int value,
                 rj_error_t *err)
{
    if (value <= 0)
        return RJ_OK;
    char v[16];
    snprintf(v, sizeof v, "%d", value);
    rd_kafka_resp_err_t e = rd_kafka_NewTopic_set_config(t, name, v);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return rj_error_set(err, RJ_EINVAL, "could not set %s=%s on topic %s: %s", name, v, topic,
                            rd_kafka_err2str(e));
    return RJ_OK;
}

rj_status_t
rj_kafka_ensure_topics(const char *brokers, const char *const *names, size_t n,
                       const rj_kafka_topic_spec_t *spec, rj_error_t *err)
{
    if (n == 0)
        return RJ_OK;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *const base[][2] = {
        {"bootstrap.servers", brokers},
        {"client.id", "ramjet-admin"},
    };
    rj_error_t cerr = {0};
    if (kafka_conf_apply(conf, base, 2, &cerr) != RJ_OK ||
        kafka_conf_apply_env(conf, &cerr) != RJ_OK) {
        rd_kafka_conf_destroy(conf);
        if (err != NULL)
            *err = cerr;
        return cerr.status;
    }
    rj_kafka_conf_set_log(conf);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return rj_error_set(err, RJ_EINVAL, "could not create Kafka admin client: %s", errstr);
    }

    bool *missing = rj_xcalloc(n, sizeof *missing);
    size_t nmissing = 0;
    rj_status_t st = topics_find_missing(rk, names, n, missing, &nmissing, err);
    /*
     * Asking first keeps CreateTopics off brokers that lack it (the dev broker,
     * librdkafka's mock cluster, answers metadata but not CreateTopics) and
     * keeps restarts quiet.
     */
    if (st != RJ_OK || nmissing == 0)
        goto done;

    rd_kafka_NewTopic_t **topics = rj_xcalloc(nmissing, sizeof *topics);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!missing[i])
            continue;
        topics[k] = rd_kafka_NewTopic_new(names[i], spec->partitions,
                                          spec->replication_factor > 0 ? spec->replication_factor
                                                                       : -1,
                                          errstr, sizeof errstr);
        if (topics[k] == NULL) {
            st = rj_error_set(err, RJ_EINVAL, "could not create Kafka topic: %s topic=%s", errstr,
                              names[i]);
            break;
        }
        k++;
        if ((st = topic_set_config(topics[k - 1], names[i], "min.insync.replicas",
                                   spec->min_insync_replicas, err)) != RJ_OK ||
            (st = topic_set_config(topics[k - 1], names[i], "max.message.bytes",
                                   spec->max_message_bytes, err)) != RJ_OK)
            break;
    }
    if (st == RJ_OK) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opts, 10000, errstr, sizeof errstr);
        rd_kafka_AdminOptions_set_request_timeout(opts, 10000, errstr, sizeof errstr);
        rd_kafka_CreateTopics(rk, topics, k, opts, q);

        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
        if (ev == NULL) {
            st = rj_error_set(err, RJ_ERETRY, "could not create Kafka topics: timed out");
        } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /*
             * The dev broker (mock cluster) has no controller and no CreateTopics:
             * the request times out waiting for one. Say what to do about it.
             */
            const char *why = rd_kafka_event_error_string(ev);
            bool no_controller = strstr(why, "controller") != NULL;
            st = rj_error_set(err, rj_kafka_status(rd_kafka_event_error(ev)),
                              "could not create Kafka topics: %s%s", why,
                              no_controller ? " (a broker without a controller, such as "
                                              "ramjet-devbroker, cannot create topics: "
                                              "create them when starting it)"
                                            : "");
        } else {
            size_t cnt = 0;
            const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
            for (size_t i = 0; i < cnt && st == RJ_OK; i++) {
                rd_kafka_resp_err_t te = rd_kafka_topic_result_error(res[i]);
                const char *name = rd_kafka_topic_result_name(res[i]);
                if (te == RD_KAFKA_RESP_ERR_NO_ERROR)
                    rj_info(KAFKA_LOG,
                            "created topic topic=%s partitions=%d replication-factor=%d "
                            "min-insync-replicas=%d max-message-bytes=%d",
                            name, spec->partitions, spec->replication_factor,
                            spec->min_insync_replicas, spec->max_message_bytes);
                else if (te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                    st = rj_error_set(err, rj_kafka_status(te),
                                      "could not create Kafka topic: %s topic=%s",
                                      rd_kafka_topic_result_error_string(res[i]), name);
            }
        }
        if (ev != NULL)
            rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_queue_destroy(q);
    }
    rd_kafka_NewTopic_destroy_array(topics, k);
    free(topics);

done:
    free(missing);
    rd_kafka_destroy(rk);
    return st;
}
