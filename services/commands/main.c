/*
 * ramjet-commands - the command processor.
 *
 * Consumes <app>.commands in the <app>.ramjet-commands group, runs the application's
 * before hooks and handlers, and turns each command into events on <app>.events
 * and a reply on the gateway's Redis channel, exactly once in effect
 * (processor.c). This file is the daemon around it: configuration, connecting
 * to PostgreSQL, Kafka and Redis (with retries, since under a supervisor they may
 * come up after us), the poll loop, recovery on partition assignment, and a
 * clean drain on SIGTERM.
 *
 * Lifecycle: STARTING (connecting, migrating) -> RUNNING (polling) ->
 * DRAINING (SIGTERM: finish the batch in hand, leave the group) -> STOPPED.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "cmd.h"
#include "config/config.h"
#include "core/core.h"
#include "log/log.h"

typedef struct cmd_conf {
    rj_common_conf_t common; /* RAMJET_APP, brokers, PostgreSQL, Redis, health, ... */
    int batch_max;           /* commands per batch */
    int batch_wait_ms;       /* how long a poll waits for the first message */
    int produce_timeout_ms;  /* delivery wait before a batch's events are produced again */
    int outbox_retention_s;  /* how long handled request ids are remembered */
    int connect_timeout_ms;  /* how long to wait for dependencies at start */
    char *group_instance_id; /* group.instance.id; NULL: dynamic membership */
    bool kafka_transactions; /* produce in Kafka transactions (cmd.h) */
    char *transactional_id;  /* transactional.id; NULL: "<group>@<hostname>" */
    int txn_timeout_ms;      /* transaction.timeout.ms */
} cmd_conf_t;

static const rj_conf_opt_t cmd_opts[] = {
    RJ_CONF_COMMON(cmd_conf_t, common, "9102"),
    {"batch-max", RJ_CONF_INT, "500", offsetof(cmd_conf_t, batch_max),
     "most commands handled in one batch (one transaction, one produce round)"},
    {"batch-wait-ms", RJ_CONF_INT, "100", offsetof(cmd_conf_t, batch_wait_ms),
     "how long a poll waits for the first command"},
    {"produce-timeout-ms", RJ_CONF_INT, "30000", offsetof(cmd_conf_t, produce_timeout_ms),
     "how long to wait for Kafka to acknowledge a batch's events before producing them again"},
    {"outbox-retention-s", RJ_CONF_INT, "3600", offsetof(cmd_conf_t, outbox_retention_s),
     "how long handled request ids are remembered to drop redelivered commands"},
    {"connect-timeout-ms", RJ_CONF_INT, "60000", offsetof(cmd_conf_t, connect_timeout_ms),
     "how long to wait for PostgreSQL, Kafka and Redis at start"},
    RJ_KAFKA_CONF_INSTANCE_ID(cmd_conf_t, group_instance_id),
    {"kafka-transactions", RJ_CONF_BOOL, "on", offsetof(cmd_conf_t, kafka_transactions),
     "produce each batch's events in a Kafka transaction with the commands' offsets, so "
     "read_committed consumers see them exactly once; off for brokers without transactions "
     "(consumers then drop identical copies by version)"},
    {"transactional-id", RJ_CONF_STR, NULL, offsetof(cmd_conf_t, transactional_id),
     "Kafka transactional.id of this instance: stable across its restarts (a restarted "
     "instance fences its predecessor and aborts what it left open) and unique among running "
     "instances (two with one id fence each other). "
     "Unset: \"<app>.ramjet-commands@<hostname>\""},
    {"transaction-timeout-ms", RJ_CONF_INT, "15000", offsetof(cmd_conf_t, txn_timeout_ms),
     "how long the broker keeps an instance's transaction open before aborting it: how long "
     "an instance that vanished mid-transaction can hold back read_committed consumers"},
};
#define CMD_NOPTS (sizeof cmd_opts / sizeof cmd_opts[0])

static const char cmd_summary[] =
    "ramjet-commands: runs the application's command handlers, produces their events to\n"
    "<app>.events and replies to the gateway, exactly once in effect.";

static void
expect_set(cmd_processor_t *p, int32_t partition, int64_t next)
{
    if (partition < 0)
        return;
    if ((size_t)partition >= p->n_expect) {
        size_t n = (size_t)partition + 1;
        p->expect = rj_xrealloc(p->expect, n * sizeof *p->expect);
        for (size_t i = p->n_expect; i < n; i++)
            p->expect[i] = -1;
        p->n_expect = n;
    }
    p->expect[partition] = next;
}

/*
 * Commands the broker dropped before we consumed them (retention; the dev broker keeps
 * about 5 MB per partition) and auto.offset.reset skipped: nothing can bring them back
 * (their clients were told the outcome is unknown when their wait ran out, and nothing
 * of them was applied), but it must never be silent. Offsets of a partition are
 * contiguous (idempotent, non-transactional producers; no compaction), so a jump is a gap.
 */
static void
gaps_report(cmd_processor_t *p, rd_kafka_message_t *const *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        int32_t part = m->partition;
        int64_t want = part >= 0 && (size_t)part < p->n_expect ? p->expect[part] : -1;
        if (want >= 0 && m->offset > want) {
            rj_error("command",
                     "offset gap: commands were skipped unhandled, the broker no longer has "
                     "them (retention or an offset reset) topic=%s partition=%d from=%lld "
                     "to=%lld",
                     rd_kafka_topic_name(m->rkt), (int)part, (long long)want,
                     (long long)m->offset - 1);
            rj_metric_add(p->m_gaps, 1);
            rj_metric_add(p->m_gap_msgs, (int64_t)m->offset - want);
        }
        if (want < 0 || m->offset >= want)
            expect_set(p, part, (int64_t)m->offset + 1);
    }
}

/*
 * On assignment: start each partition at the offset stored with the last
 * committed batch, then finish any batch that was committed but not produced
 * before a crash, before a single new command of those partitions runs.
 */
static rj_status_t
on_assign(void *opaque, rd_kafka_topic_partition_list_t *parts, rj_error_t *err)
{
    cmd_processor_t *p = opaque;
    rj_status_t st = rj_pg_offsets_load(p->pg, p->group, parts, err);
    if (st != RJ_OK)
        return st;
    for (int i = 0; i < parts->cnt; i++)
        expect_set(p, parts->elems[i].partition,
                   parts->elems[i].offset >= 0 ? parts->elems[i].offset : -1);
    st = cmd_recover(p, parts, err);
    rj_info("kafka", "assigned %d partitions", parts->cnt);
    rj_proc_set_ready(true);
    return st;
}

static void
on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts)
{
    (void)opaque;
    rj_info("kafka", "revoked %d partitions", parts->cnt);
}

/*
 * The producer of events and dead letters: transactional unless turned off. Its
 * transactional.id defaults to the group and this host's name, which a restarted
 * pod or container keeps, so the new instance fences the old one.
 */
static rj_kafka_producer_t *
producer_new(const cmd_conf_t *conf, const char *group, rj_error_t *err)
{
    const char *brokers = conf->common.kafka_brokers;
    if (!conf->kafka_transactions)
        return rj_kafka_producer_new(brokers, group, err);
    char host[256];
    char *id = NULL;
    if (conf->transactional_id != NULL && conf->transactional_id[0] != '\0') {
        id = rj_xstrdup(conf->transactional_id);
    } else if (gethostname(host, sizeof host) == 0 && host[0] != '\0') {
        host[sizeof host - 1] = '\0';
        id = rj_xasprintf("%s@%s", group, host);
    } else {
        rj_error_set(err, RJ_EINVAL, "could not read the host name for transactional-id: %s",
                     strerror(errno));
        return NULL;
    }
    rj_kafka_producer_t *p = rj_kafka_producer_new_transactional(
        brokers, group, id, conf->txn_timeout_ms, conf->connect_timeout_ms, err);
    free(id);
    return p;
}

static rj_redis_t *
redis_connect_retry(const char *url, int timeout_ms, rj_error_t *err)
{
    rj_backoff_t bo;
    rj_backoff_init(&bo, timeout_ms);
    for (;;) {
        rj_redis_t *r = rj_redis_connect(url, err);
        if (r != NULL || err->status != RJ_ERETRY || !rj_backoff_wait(&bo))
            return r;
    }
}

static rj_status_t
topics_ensure_retry(const char *brokers, const char *const *topics, size_t n,
                    const rj_kafka_topic_spec_t *spec, int timeout_ms, rj_error_t *err)
{
    rj_backoff_t bo;
    rj_backoff_init(&bo, timeout_ms);
    for (;;) {
        rj_status_t st = rj_kafka_ensure_topics(brokers, topics, n, spec, err);
        if (st != RJ_ERETRY || !rj_backoff_wait(&bo))
            return st;
    }
}

static int
run(cmd_conf_t *conf)
{
    rj_error_t err = {0};
    int rc = 1;
    rj_app_t *app = NULL;
    rj_kafka_consumer_t *consumer = NULL;
    cmd_processor_t p = {0};
    rd_kafka_message_t **msgs = NULL;
    char *commands_topic = NULL;

    if (conf->common.app == NULL) {
        rj_fatal("main", "no application: set RAMJET_APP or --app to the application library");
        return 2;
    }
    app = rj_app_load(conf->common.app, &err);
    if (app == NULL) {
        rj_fatal("main", "%s", err.msg);
        return 2;
    }
    const char *name = conf->common.app_name ? conf->common.app_name : rj_app_name_get(app);
    commands_topic = rj_xasprintf("%s.commands", name);
    p.app = app;
    p.group = rj_kafka_group_name(name, "ramjet-commands");
    p.events_topic = rj_xasprintf("%s.events", name);
    p.deadletters_topic = rj_xasprintf("%s.deadletters", name);
    p.produce_timeout_ms = conf->produce_timeout_ms;
    p.m_commands = rj_metric_counter("ramjet_commands_total", "commands handled");
    p.m_failed = rj_metric_counter("ramjet_commands_failed_total", "commands whose handler failed");
    p.m_duplicates = rj_metric_counter("ramjet_commands_redelivered_total",
                                       "redelivered commands answered from the outbox");
    p.m_dl_undecodable =
        rj_metric_counter("ramjet_deadletters_total{reason=\"undecodable\"}",
                          "commands given up on and sent to dead letters, by reason");
    p.m_dl_unwritable =
        rj_metric_counter("ramjet_deadletters_total{reason=\"unwritable\"}",
                          "commands given up on and sent to dead letters, by reason");
    p.m_splits = rj_metric_counter("ramjet_command_batch_splits_total",
                                   "command batches split in two because of one command's data");
    p.m_events = rj_metric_counter("ramjet_events_produced_total", "events produced");
    p.m_recovered = rj_metric_counter("ramjet_outbox_recovered_total",
                                      "outbox rows produced again after a crash");
    p.m_settled = rj_metric_counter("ramjet_outbox_settled_total",
                                    "unmarked outbox rows found committed in Kafka after a crash");
    p.m_txn_committed = rj_metric_counter("ramjet_kafka_transactions_total{outcome=\"committed\"}",
                                          "Kafka transactions, by outcome");
    p.m_txn_aborted = rj_metric_counter("ramjet_kafka_transactions_total{outcome=\"aborted\"}",
                                        "Kafka transactions, by outcome");
    p.transactional = conf->kafka_transactions;
    p.test_pause_file = getenv("RAMJET_TEST_TXN_PAUSE_FILE");
    if (p.test_pause_file != NULL && p.test_pause_file[0] == '\0')
        p.test_pause_file = NULL;
    p.m_batch_us = rj_metric_histogram("ramjet_command_batch_seconds", "command batch latency");
    char *gap_name = rj_xasprintf("ramjet_offset_gaps_total{topic=\"%s\"}", commands_topic);
    p.m_gaps = rj_metric_counter(gap_name, "offset jumps: commands the broker dropped before "
                                           "they were consumed");
    free(gap_name);
    gap_name = rj_xasprintf("ramjet_offset_gap_messages_total{topic=\"%s\"}", commands_topic);
    p.m_gap_msgs = rj_metric_counter(gap_name, "offsets skipped by offset gaps");
    free(gap_name);

    if (rj_health_start(conf->common.health_port, &err) != RJ_OK) {
        rj_fatal("main", "%s", err.msg);
        goto out;
    }
    p.pg = rj_pg_connect_retry(conf->common.pg_url, name, conf->connect_timeout_ms, &err);
    if (p.pg == NULL || rj_pg_migrate(p.pg, &err) != RJ_OK ||
        rj_pg_offsets_adopt(p.pg, "ramjet-commands", p.group, NULL, &err) != RJ_OK) {
        rj_fatal("pg", "%s", err.msg);
        goto out;
    }
    p.redis = redis_connect_retry(conf->common.redis_url, conf->connect_timeout_ms, &err);
    if (p.redis == NULL) {
        rj_fatal("redis", "%s", err.msg);
        goto out;
    }
    const char *topics[] = {commands_topic, p.events_topic, p.deadletters_topic};
    /*
     * Creating topics is a convenience: the dev broker and docker-compose create
     * them up front, and the dev broker cannot create topics through the Admin API.
     * A topic that really is missing shows up as a consumer or delivery error.
     */
    rj_kafka_topic_spec_t spec = rj_kafka_topic_spec(&conf->common);
    if (topics_ensure_retry(conf->common.kafka_brokers, topics, 3, &spec, 5000, &err) != RJ_OK)
        rj_warn("kafka", "could not ensure topics exist, assuming they do: %s", err.msg);
    p.producer = producer_new(conf, p.group, &err);
    if (p.producer == NULL) {
        rj_fatal("kafka", "%s", err.msg);
        goto out;
    }
    const rj_kafka_consumer_hooks_t hooks = {.on_assign = on_assign, .on_revoke = on_revoke};
    const char *sub[] = {commands_topic};
    consumer = rj_kafka_consumer_new(conf->common.kafka_brokers, p.group,
                                     conf->group_instance_id, sub, 1, &hooks, &p, &err);
    if (consumer == NULL) {
        rj_fatal("kafka", "%s", err.msg);
        goto out;
    }
    p.consumer = consumer;

    rj_proc_set_state(RJ_PROC_RUNNING);
    rj_info("main", "consuming topic=%s group=%s app=%s", commands_topic, p.group, name);
    msgs = rj_xcalloc((size_t)conf->batch_max, sizeof *msgs);
    int64_t next_prune = rj_mono_us() + 60 * 1000000LL;
    rc = 0;
    while (!rj_proc_stopping()) {
        rj_proc_heartbeat(conf->common.liveness_timeout_ms);
        ssize_t n = rj_kafka_consume_batch(consumer, msgs, (size_t)conf->batch_max,
                                           conf->batch_wait_ms, &err);
        if (n < 0) {
            rj_fatal("kafka", "could not consume commands: %s", err.msg);
            rc = 1;
            break;
        }
        if (n > 0) {
            gaps_report(&p, msgs, (size_t)n);
            rj_status_t st = cmd_process_batch(&p, msgs, (size_t)n, &err);
            if (st != RJ_OK) {
                /* Whatever was committed is finished by recovery after the restart. */
                rj_fatal("main", "could not process command batch: %s", err.msg);
                for (ssize_t i = 0; i < n; i++)
                    rd_kafka_message_destroy(msgs[i]);
                rc = 1;
                break;
            }
            /* With transactions the batch's offsets were committed with its events:
               a commit outside them could only run ahead of what recovery trusts. */
            if (!p.transactional) {
                rj_kafka_offset_t *offs = NULL;
                size_t noffs = rj_kafka_offsets_from_batch(msgs, (size_t)n, &offs);
                rj_kafka_consumer_commit_async(consumer, offs, noffs);
                rj_kafka_offsets_free(offs, noffs);
            }
            for (ssize_t i = 0; i < n; i++)
                rd_kafka_message_destroy(msgs[i]);
        }
        if (rj_mono_us() > next_prune) {
            if (cmd_prune(&p, conf->outbox_retention_s, &err) != RJ_OK)
                rj_warn("pg", "could not prune the outbox: %s", err.msg);
            next_prune = rj_mono_us() + 60 * 1000000LL;
        }
    }
    rj_proc_set_state(RJ_PROC_DRAINING);

out:
    rj_kafka_consumer_free(consumer);
    rj_kafka_producer_free(p.producer, 10000);
    rj_redis_free(p.redis);
    rj_pg_free(p.pg);
    rj_health_stop();
    free(msgs);
    free(p.expect);
    free(p.events_topic);
    free(p.deadletters_topic);
    free(p.group);
    free(commands_topic);
    rj_app_free(app);
    rj_proc_set_state(RJ_PROC_STOPPED);
    rj_metrics_free_all();
    return rc;
}

int
main(int argc, char **argv)
{
    cmd_conf_t conf = {0};
    rj_proc_init_daemon("ramjet-commands", cmd_opts, CMD_NOPTS, &conf, &conf.common, argc,
                        argv, cmd_summary);
    int rc = run(&conf);
    rj_config_deinit(cmd_opts, CMD_NOPTS, &conf);
    return rc;
}
