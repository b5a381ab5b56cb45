/*
 * test_devbroker.c - starts the real ramjet-devbroker binary, reads its
 * BOOTSTRAP line, produces and consumes through the Kafka wrapper, then stops
 * it with SIGTERM and expects exit status 0.
 *
 * The binary is found at $RAMJET_DEVBROKER, else $RAMJET_BUILD_DIR/bin (set by
 * CTest); without either the test is skipped.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "kafka/kafka.h"
#include "log/log.h"

typedef struct broker {
    pid_t pid;           /* the child */
    char bootstrap[512]; /* from its BOOTSTRAP line */
} broker_t;

static char *
devbroker_path(void)
{
    const char *p = getenv("RAMJET_DEVBROKER");
    if (p != NULL && *p != '\0')
        return rj_xstrdup(p);
    const char *b = getenv("RAMJET_BUILD_DIR");
    if (b != NULL && *b != '\0')
        return rj_xasprintf("%s/bin/ramjet-devbroker", b);
    return NULL;
}

/* Starts the broker and reads "BOOTSTRAP host:port" from its stdout (10 s at most). */
static bool
broker_start(broker_t *b, const char *path)
{
    int out[2];
    cr_assert_eq(pipe(out), 0);
    b->pid = fork();
    cr_assert_geq(b->pid, 0);
    if (b->pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl(path, path, "--brokers", "1", "--topics", "shop.commands,shop.events", "--partitions",
              "3", "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[512];
    size_t len = 0;
    int64_t deadline = rj_mono_us() + 10 * 1000000LL;
    while (len < sizeof line - 1 && rj_mono_us() < deadline) {
        struct pollfd pfd = {.fd = out[0], .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = read(out[0], line + len, sizeof line - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        line[len] = '\0';
        if (strchr(line, '\n') != NULL)
            break;
    }
    close(out[0]);
    line[len] = '\0';
    char *nl = strchr(line, '\n');
    if (nl == NULL || strncmp(line, "BOOTSTRAP ", 10) != 0)
        return false;
    *nl = '\0';
    snprintf(b->bootstrap, sizeof b->bootstrap, "%s", line + 10);
    return true;
}

static int
broker_stop(broker_t *b)
{
    kill(b->pid, SIGTERM);
    int status = 0;
    while (waitpid(b->pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

Test(devbroker, serves_produce_and_consume_and_exits_cleanly, .timeout = 60)
{
    rj_core_init();
    rj_log_init("test-devbroker");
    rj_log_set_level(RJ_LOG_WARN);
    char *path = devbroker_path();
    if (path == NULL || access(path, X_OK) != 0) {
        free(path);
        cr_skip_test("ramjet-devbroker not found (set RAMJET_DEVBROKER or RAMJET_BUILD_DIR)");
    }
    broker_t b = {0};
    bool started = broker_start(&b, path);
    free(path);
    cr_assert(started, "no BOOTSTRAP line from the dev broker");
    cr_assert(strstr(b.bootstrap, "127.0.0.1:") == b.bootstrap, "bootstrap=%s", b.bootstrap);

    rj_error_t err = {0};
    const char *topics[] = {"shop.events", "shop.commands"};
    cr_assert_eq(rj_kafka_ensure_topics(b.bootstrap, topics, 2,
                                        &(rj_kafka_topic_spec_t){.partitions = 3}, &err),
                 RJ_OK, "%s", err.msg);

    rj_kafka_producer_t *p = rj_kafka_producer_new(b.bootstrap, "test", &err);
    cr_assert_not_null(p, "%s", err.msg);
    for (int i = 0; i < 30; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "Cart/c%d", i % 5);
        snprintf(val, sizeof val, "{\"n\":%d}", i);
        cr_assert_eq(rj_kafka_produce(p, "shop.events", key, strlen(key), val, strlen(val), NULL,
                                      NULL, &err),
                     RJ_OK, "%s", err.msg);
    }
    cr_assert_eq(rj_kafka_producer_flush(p, 10000, &err), RJ_OK, "%s", err.msg);
    rj_kafka_producer_free(p, 1000);

    rj_kafka_consumer_t *c =
        rj_kafka_consumer_new(b.bootstrap, "test-devbroker", NULL, topics, 1, NULL, NULL, &err);
    cr_assert_not_null(c, "%s", err.msg);
    size_t got = 0;
    int last_seen_for_c0 = -1;
    bool in_order = true;
    int64_t deadline = rj_mono_us() + 20 * 1000000LL;
    rd_kafka_message_t *msgs[64];
    while (got < 30 && rj_mono_us() < deadline) {
        ssize_t n = rj_kafka_consume_batch(c, msgs, 64, 200, &err);
        cr_assert_geq(n, 0, "%s", err.msg);
        for (ssize_t i = 0; i < n; i++) {
            /* one key's messages arrive in the order produced */
            if (msgs[i]->key_len == 7 && memcmp(msgs[i]->key, "Cart/c0", 7) == 0) {
                int v = atoi((const char *)msgs[i]->payload + 5);
                in_order = in_order && v > last_seen_for_c0;
                last_seen_for_c0 = v;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
        got += (size_t)n;
    }
    rj_kafka_consumer_free(c);
    int status = broker_stop(&b);
    cr_assert_eq(got, 30);
    cr_assert(in_order);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status=%d", status);
}
