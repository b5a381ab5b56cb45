/*
 * test_kafka.c - the Kafka wrapper against librdkafka's in-process mock cluster:
 * idempotent produce + flush, delivery callbacks and the wakeup fd, batch
 * consumption, start offsets from on_assign, seeking back, group rebalancing,
 * offsets per batch, topic creation and the error mapping.
 *
 * Each test runs in its own process (Criterion's default) with a fresh cluster.
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "kafka/kafka.h"
#include "proc/proc.h"
#include "log/log.h"

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static const char *brokers;

static void
cluster_up(void)
{
    rj_core_init();
    rj_log_init("test-kafka");
    rj_log_set_level(RJ_LOG_WARN);
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rj_kafka_conf_set_log(conf);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    cr_assert_not_null(mock_rk, "%s", errstr);
    mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    cr_assert_not_null(mock);
    brokers = rd_kafka_mock_cluster_bootstraps(mock);
    cr_assert_eq(rd_kafka_mock_topic_create(mock, "t4", 4, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(rd_kafka_mock_topic_create(mock, "t1", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void
cluster_down(void)
{
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
}

TestSuite(kafka, .init = cluster_up, .fini = cluster_down, .timeout = 60);

/* ---- helpers ----------------------------------------------------------- */

typedef struct delivery_count {
    int ok;     /* deliveries reported RJ_OK */
    int failed; /* deliveries reported failed */
} delivery_count_t;

static void
count_delivery(void *opaque, rj_status_t status, const char *errstr)
{
    delivery_count_t *d = opaque;
    if (status == RJ_OK)
        d->ok++;
    else
        d->failed++;
}

static void
produce_n(const char *topic, int32_t partition, int n, const char *prefix)
{
    rj_error_t err = {0};
    rj_kafka_producer_t *p = rj_kafka_producer_new(brokers, "test", &err);
    cr_assert_not_null(p, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        char key[32], val[64];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "%s-%d", prefix, i);
        cr_assert_eq(rj_kafka_produce_to(p, topic, partition, key, strlen(key), val, strlen(val),
                                         NULL, NULL, &err),
                     RJ_OK, "%s", err.msg);
    }
    cr_assert_eq(rj_kafka_producer_flush(p, 10000, &err), RJ_OK, "%s", err.msg);
    rj_kafka_producer_free(p, 1000);
}

/* Consumes until @p want messages arrived (or 20 s); returns how many, destroying them. */
static size_t
consume_n(rj_kafka_consumer_t *c, size_t want, int64_t *first_offset, char *first_value,
          size_t first_value_size)
{
    size_t got = 0;
    int64_t deadline = rj_mono_us() + 20 * 1000000LL;
    rd_kafka_message_t *msgs[64];
    while (got < want && rj_mono_us() < deadline) {
        rj_error_t err = {0};
        ssize_t n = rj_kafka_consume_batch(c, msgs, 64, 200, &err);
        cr_assert_geq(n, 0, "%s", err.msg);
        for (ssize_t i = 0; i < n; i++) {
            if (got == 0 && first_offset != NULL)
                *first_offset = msgs[i]->offset;
            if (got == 0 && first_value != NULL)
                snprintf(first_value, first_value_size, "%.*s", (int)msgs[i]->len,
                         (const char *)msgs[i]->payload);
            got++;
            rd_kafka_message_destroy(msgs[i]);
        }
    }
    return got;
}

/* ---- producer ------------------------------------------------------------ */

Test(kafka, produce_flush_reports_every_delivery)
{
    rj_error_t err = {0};
    rj_kafka_producer_t *p = rj_kafka_producer_new(brokers, "test", &err);
    cr_assert_not_null(p, "%s", err.msg);
    delivery_count_t d = {0};
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof key, "Cart/c%d", i % 7);
        cr_assert_eq(rj_kafka_produce(p, "t4", key, strlen(key), "{}", 2, count_delivery, &d, &err),
                     RJ_OK, "%s", err.msg);
    }
    cr_assert_eq(rj_kafka_producer_flush(p, 10000, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(d.ok, 100);
    cr_assert_eq(d.failed, 0);
    cr_assert_eq(rj_kafka_producer_outq_len(p), 0);
    rj_kafka_producer_free(p, 1000);
}

Test(kafka, producer_fd_wakes_loop_for_delivery_reports)
{
    rj_error_t err = {0};
    rj_kafka_producer_t *p = rj_kafka_producer_new(brokers, "test", &err);
    cr_assert_not_null(p, "%s", err.msg);
    delivery_count_t d = {0};
    cr_assert_eq(rj_kafka_produce(p, "t4", "k", 1, "v", 1, count_delivery, &d, &err), RJ_OK);

    /* An event loop sleeps on the fd, then serves the callbacks without blocking. */
    int64_t deadline = rj_mono_us() + 10 * 1000000LL;
    while (d.ok == 0 && rj_mono_us() < deadline) {
        struct pollfd pfd = {.fd = rj_kafka_producer_fd(p), .events = POLLIN};
        if (poll(&pfd, 1, 1000) > 0)
            rj_kafka_producer_poll(p, 0);
    }
    cr_assert_eq(d.ok, 1, "delivery report not served through the fd");
    rj_kafka_producer_free(p, 1000);
}

Test(kafka, delivery_failure_is_reported_by_callback_and_flush)
{
    rj_error_t err = {0};
    rj_kafka_producer_t *p = rj_kafka_producer_new(brokers, "test", &err);
    cr_assert_not_null(p, "%s", err.msg);
    /* A partition that does not exist fails at delivery time (once metadata is known). */
    delivery_count_t d = {0};
    rj_status_t st = rj_kafka_produce_to(p, "t1", 7, "k", 1, "v", 1, count_delivery, &d, &err);
    if (st == RJ_OK) {
        cr_assert_neq(rj_kafka_producer_flush(p, 10000, &err), RJ_OK);
        cr_assert_eq(d.failed, 1);
        /* the failure count is reset by the flush that reported it */
        cr_assert_eq(rj_kafka_producer_flush(p, 1000, &err), RJ_OK, "%s", err.msg);
    } else {
        cr_assert_eq(st, RJ_ENOTFOUND, "%s", err.msg);
        cr_assert_eq(d.failed, 0, "callback must not run when produce fails");
    }
    rj_kafka_producer_free(p, 1000);
}

/* ---- consumer ------------------------------------------------------------ */

Test(kafka, consume_batch_gets_everything_and_offsets_per_partition)
{
    produce_n("t4", RD_KAFKA_PARTITION_UA, 40, "m");
    rj_error_t err = {0};
    const char *topics[] = {"t4"};
    rj_kafka_consumer_t *c =
        rj_kafka_consumer_new(brokers, "g-batch", NULL, topics, 1, NULL, NULL, &err);
    cr_assert_not_null(c, "%s", err.msg);

    size_t got = 0;
    int64_t deadline = rj_mono_us() + 20 * 1000000LL;
    rd_kafka_message_t *msgs[64];
    int64_t next[4] = {0};
    while (got < 40 && rj_mono_us() < deadline) {
        ssize_t n = rj_kafka_consume_batch(c, msgs, 64, 200, &err);
        cr_assert_geq(n, 0, "%s", err.msg);
        rj_kafka_offset_t *offs = NULL;
        size_t no = rj_kafka_offsets_from_batch(msgs, (size_t)n, &offs);
        for (size_t i = 0; i < no; i++) {
            cr_assert_str_eq(offs[i].topic, "t4");
            cr_assert(offs[i].partition >= 0 && offs[i].partition < 4);
            /* next offsets grow and always point past the batch */
            cr_assert_gt(offs[i].next_offset, next[offs[i].partition]);
            next[offs[i].partition] = offs[i].next_offset;
        }
        rj_kafka_consumer_commit_async(c, offs, no);
        rj_kafka_offsets_free(offs, no);
        for (ssize_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
        got += (size_t)n;
    }
    cr_assert_eq(got, 40);
    cr_assert_eq(next[0] + next[1] + next[2] + next[3], 40, "next offsets sum to the count");
    rj_kafka_consumer_free(c);
}

typedef struct assign_state {
    int64_t start;  /* offset on_assign gives partition 0 */
    int assigned;   /* on_assign calls */
    int revoked;    /* on_revoke calls */
    int partitions; /* partitions in the last assignment */
    bool fail;      /* make on_assign fail */
} assign_state_t;

static rj_status_t
on_assign(void *opaque, rd_kafka_topic_partition_list_t *parts, rj_error_t *err)
{
    assign_state_t *s = opaque;
    s->assigned++;
    s->partitions += parts->cnt; /* incremental: the consumer is cooperative-sticky */
    if (s->fail)
        return rj_error_set(err, RJ_ERETRY, "could not load offsets: test");
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset =
            parts->elems[i].partition == 0 ? s->start : RD_KAFKA_OFFSET_BEGINNING;
    return RJ_OK;
}

static void
on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts)
{
    assign_state_t *s = opaque;
    s->revoked++;
    s->partitions -= parts->cnt;
}

Test(kafka, on_assign_sets_start_offset)
{
    produce_n("t1", 0, 10, "v");
    assign_state_t s = {.start = 6};
    rj_kafka_consumer_hooks_t hooks = {.on_assign = on_assign, .on_revoke = on_revoke};
    const char *topics[] = {"t1"};
    rj_error_t err = {0};
    rj_kafka_consumer_t *c =
        rj_kafka_consumer_new(brokers, "g-assign", NULL, topics, 1, &hooks, &s, &err);
    cr_assert_not_null(c, "%s", err.msg);
    int64_t first = -1;
    char value[32] = "";
    cr_assert_eq(consume_n(c, 4, &first, value, sizeof value), 4);
    cr_assert_eq(first, 6);
    cr_assert_str_eq(value, "v-6");
    cr_assert_eq(s.assigned, 1);
    cr_assert_eq(s.partitions, 1);

    rd_kafka_topic_partition_list_t *a = rj_kafka_consumer_assignment(c);
    cr_assert_not_null(a);
    cr_assert_eq(a->cnt, 1);
    rd_kafka_topic_partition_list_destroy(a);

    rj_kafka_consumer_free(c);
    cr_assert_eq(s.revoked, 1, "close revokes through the hook");
}

Test(kafka, failed_on_assign_makes_consumer_fatal)
{
    produce_n("t1", 0, 1, "v");
    assign_state_t s = {.fail = true};
    rj_kafka_consumer_hooks_t hooks = {.on_assign = on_assign};
    const char *topics[] = {"t1"};
    rj_error_t err = {0};
    rj_kafka_consumer_t *c =
        rj_kafka_consumer_new(brokers, "g-fail", NULL, topics, 1, &hooks, &s, &err);
    cr_assert_not_null(c, "%s", err.msg);
    rd_kafka_message_t *msgs[8];
    ssize_t n = 0;
    int64_t deadline = rj_mono_us() + 20 * 1000000LL;
    while (n == 0 && rj_mono_us() < deadline)
        n = rj_kafka_consume_batch(c, msgs, 8, 200, &err);
    cr_assert_eq(n, -1);
    cr_assert_eq(err.status, RJ_ERETRY);
    cr_assert(strstr(err.msg, "could not load offsets: test") != NULL, "%s", err.msg);
    rj_kafka_consumer_free(c);
}

Test(kafka, rewind_redelivers_a_batch)
{
    produce_n("t1", 0, 5, "r");
    const char *topics[] = {"t1"};
    rj_error_t err = {0};
    rj_kafka_consumer_t *c =
        rj_kafka_consumer_new(brokers, "g-rewind", NULL, topics, 1, NULL, NULL, &err);
    cr_assert_not_null(c, "%s", err.msg);

    rd_kafka_message_t *msgs[16];
    size_t got = 0;
    int64_t deadline = rj_mono_us() + 20 * 1000000LL;
    while (got < 5 && rj_mono_us() < deadline) {
        ssize_t n = rj_kafka_consume_batch(c, msgs + got, 16 - got, 200, &err);
        cr_assert_geq(n, 0, "%s", err.msg);
        got += (size_t)n;
    }
    cr_assert_eq(got, 5);

    /* Pretend the PostgreSQL transaction failed: everything from offset 0 again. */
    cr_assert_eq(rj_kafka_consumer_rewind(c, msgs, got, &err), RJ_OK, "%s", err.msg);
    for (size_t i = 0; i < got; i++)
        rd_kafka_message_destroy(msgs[i]);
    int64_t first = -1;
    cr_assert_eq(consume_n(c, 5, &first, NULL, 0), 5);
    cr_assert_eq(first, 0);

    /* and a single seek forward */
    cr_assert_eq(rj_kafka_consumer_seek(c, "t1", 0, 3, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(consume_n(c, 2, &first, NULL, 0), 2);
    cr_assert_eq(first, 3);

    cr_assert_eq(rj_kafka_consumer_seek(c, "t4", 0, 0, &err), RJ_ENOTFOUND);
    rj_kafka_consumer_free(c);
}

Test(kafka, group_rebalances_between_two_members)
{
    produce_n("t4", RD_KAFKA_PARTITION_UA, 8, "g");
    const char *topics[] = {"t4"};
    assign_state_t s1 = {.start = RD_KAFKA_OFFSET_BEGINNING}, s2 = s1;
    rj_kafka_consumer_hooks_t hooks = {.on_assign = on_assign, .on_revoke = on_revoke};
    rj_error_t err = {0};
    rj_kafka_consumer_t *c1 =
        rj_kafka_consumer_new(brokers, "g-two", NULL, topics, 1, &hooks, &s1, &err);
    cr_assert_not_null(c1, "%s", err.msg);
    rd_kafka_message_t *msgs[16];
    int64_t deadline = rj_mono_us() + 20 * 1000000LL;
    while (s1.assigned == 0 && rj_mono_us() < deadline) {
        ssize_t n = rj_kafka_consume_batch(c1, msgs, 16, 100, &err);
        for (ssize_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    cr_assert_eq(s1.partitions, 4, "the only member gets every partition");

    rj_kafka_consumer_t *c2 =
        rj_kafka_consumer_new(brokers, "g-two", NULL, topics, 1, &hooks, &s2, &err);
    cr_assert_not_null(c2, "%s", err.msg);
    deadline = rj_mono_us() + 30 * 1000000LL;
    while ((s2.assigned == 0 || s1.partitions + s2.partitions != 4 || s1.partitions == 4) &&
           rj_mono_us() < deadline) {
        ssize_t n = rj_kafka_consume_batch(c1, msgs, 16, 50, &err);
        for (ssize_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
        n = rj_kafka_consume_batch(c2, msgs, 16, 50, &err);
        for (ssize_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    cr_assert_geq(s1.revoked, 1, "the first member gave partitions up");
    cr_assert_eq(s1.partitions + s2.partitions, 4, "s1=%d s2=%d", s1.partitions, s2.partitions);
    cr_assert_gt(s2.partitions, 0);
    rj_kafka_consumer_free(c2);
    rj_kafka_consumer_free(c1);
}

/* ---- offsets, topics, errors ------------------------------------------------ */

Test(kafka, ensure_topics_accepts_existing_and_reports_unsupported_create)
{
    rj_error_t err = {0};
    const rj_kafka_topic_spec_t spec = {.partitions = 4, .max_message_bytes = 10485760};
    const char *existing[] = {"t4", "t1"};
    cr_assert_eq(rj_kafka_ensure_topics(brokers, existing, 2, &spec, &err), RJ_OK, "%s", err.msg);
    /* The mock cluster has no CreateTopics: a missing topic is an error, not a hang. */
    const char *missing[] = {"t4", "brand-new"};
    rj_status_t st = rj_kafka_ensure_topics(brokers, missing, 2, &spec, &err);
    cr_assert_neq(st, RJ_OK);
    cr_assert(strstr(err.msg, "could not create Kafka topic") == err.msg, "%s", err.msg);
}

Test(kafka, status_mapping)
{
    cr_assert_eq(rj_kafka_status(RD_KAFKA_RESP_ERR_NO_ERROR), RJ_OK);
    cr_assert_eq(rj_kafka_status(RD_KAFKA_RESP_ERR__TRANSPORT), RJ_ERETRY);
    cr_assert_eq(rj_kafka_status(RD_KAFKA_RESP_ERR__QUEUE_FULL), RJ_ERETRY);
    cr_assert_eq(rj_kafka_status(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION), RJ_ERETRY);
    cr_assert_eq(rj_kafka_status(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT), RJ_ETIMEOUT);
    cr_assert_eq(rj_kafka_status(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART), RJ_ENOTFOUND);
    cr_assert_eq(rj_kafka_status(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), RJ_ETOOBIG);
    cr_assert_eq(rj_kafka_status(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED), RJ_EIO);
}

Test(kafka, offsets_from_batch_takes_highest_per_partition)
{
    /* Messages built by hand: only rkt, partition, offset and err are read. */
    rd_kafka_topic_t *ta = rd_kafka_topic_new(mock_rk, "a", NULL);
    rd_kafka_topic_t *tb = rd_kafka_topic_new(mock_rk, "b", NULL);
    rd_kafka_message_t m[5] = {
        {.rkt = ta, .partition = 0, .offset = 7},
        {.rkt = ta, .partition = 0, .offset = 9},
        {.rkt = ta, .partition = 1, .offset = 3},
        {.rkt = tb, .partition = 0, .offset = 1},
        {.rkt = tb, .partition = 0, .offset = 99, .err = RD_KAFKA_RESP_ERR__PARTITION_EOF},
    };
    rd_kafka_message_t *msgs[5] = {&m[0], &m[1], &m[2], &m[3], &m[4]};
    rj_kafka_offset_t *offs = NULL;
    size_t n = rj_kafka_offsets_from_batch(msgs, 5, &offs);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(offs[0].topic, "a");
    cr_assert_eq(offs[0].partition, 0);
    cr_assert_eq(offs[0].next_offset, 10);
    cr_assert_eq(offs[1].partition, 1);
    cr_assert_eq(offs[1].next_offset, 4);
    cr_assert_str_eq(offs[2].topic, "b");
    cr_assert_eq(offs[2].next_offset, 2);
    rj_kafka_offsets_free(offs, n);

    cr_assert_eq(rj_kafka_offsets_from_batch(msgs, 0, &offs), 0);
    cr_assert_null(offs);
    rd_kafka_topic_destroy(ta);
    rd_kafka_topic_destroy(tb);
}

Test(kafka, full_local_queue_is_waited_out_and_env_conf_applies)
{
    /* A 10-message local queue: produce has to serve delivery reports to make room. */
    setenv("RAMJET_KAFKA_CONF", "queue.buffering.max.messages=10", 1);
    rj_error_t err = {0};
    rj_kafka_producer_t *p = rj_kafka_producer_new(brokers, "test", &err);
    cr_assert_not_null(p, "%s", err.msg);
    delivery_count_t d = {0};
    for (int i = 0; i < 200; i++)
        cr_assert_eq(rj_kafka_produce(p, "t4", "k", 1, "v", 1, count_delivery, &d, &err), RJ_OK,
                     "message %d: %s", i, err.msg);
    cr_assert_eq(rj_kafka_producer_flush(p, 10000, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(d.ok, 200);
    rj_kafka_producer_free(p, 1000);

    setenv("RAMJET_KAFKA_CONF", "no-equals-sign", 1);
    cr_assert_null(rj_kafka_producer_new(brokers, "test", &err));
    cr_assert_eq(err.status, RJ_EINVAL);
    unsetenv("RAMJET_KAFKA_CONF");
}

Test(kafka, free_fails_undelivered_messages_through_their_callbacks)
{
    /* Nobody listens on this port: nothing can be delivered. */
    rj_error_t err = {0};
    rj_kafka_producer_t *p = rj_kafka_producer_new("127.0.0.1:1", "test", &err);
    cr_assert_not_null(p, "%s", err.msg);
    delivery_count_t d = {0};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(rj_kafka_produce(p, "t4", "k", 1, "v", 1, count_delivery, &d, &err), RJ_OK);
    cr_assert_eq(rj_kafka_producer_flush(p, 200, &err), RJ_ETIMEOUT);
    cr_assert(strstr(err.msg, "still in flight") != NULL, "%s", err.msg);
    rj_kafka_producer_free(p, 100);
    cr_assert_eq(d.failed, 5, "every callback ran, with a failure");
    cr_assert_eq(d.ok, 0);
}

/* Issue 15: each consumer exports its lag per partition, from what it committed. */
Test(kafka, consumer_exports_its_lag_per_partition)
{
    produce_n("t1", 0, 10, "m");
    rj_error_t err = {0};
    const char *topics[] = {"t1"};
    rj_kafka_consumer_t *c =
        rj_kafka_consumer_new(brokers, "g-lag", NULL, topics, 1, NULL, NULL, &err);
    cr_assert_not_null(c, "%s", err.msg);
    rd_kafka_message_t *msgs[3];
    ssize_t n = 0;
    for (int64_t deadline = rj_mono_us() + 20000000; n == 0 && rj_mono_us() < deadline;)
        n = rj_kafka_consume_batch(c, msgs, 3, 200, &err);
    cr_assert_eq(n, 3, "%s", err.msg);
    for (ssize_t i = 0; i < n; i++)
        rd_kafka_message_destroy(msgs[i]);
    /* Three fetched, two processed so far: the lag counts from what was committed. */
    const rj_kafka_offset_t done = {.topic = "t1", .partition = 0, .next_offset = 2};
    rj_kafka_consumer_commit_async(c, &done, 1);

    usleep(1100 * 1000); /* the gauges refresh once a second */
    cr_assert_eq(rj_kafka_consume_batch(c, msgs, 0, 0, &err), 0);
    rj_metric_t *lag =
        rj_metric_gauge("ramjet_consumer_lag{group=\"g-lag\",topic=\"t1\",partition=\"0\"}", "");
    cr_expect_eq(rj_metric_value(lag), 8, "lag %lld", (long long)rj_metric_value(lag));
    rj_kafka_consumer_free(c);
}
