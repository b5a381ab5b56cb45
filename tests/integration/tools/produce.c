/*
 * produce.c - ramjet-test-produce: produces one message straight to Kafka, as a buggy or
 * hostile producer would, so integration tests can check what the daemons do with input
 * the gateway would never have let through (tests/integration/poison.test.mjs).
 *
 * Usage: ramjet-test-produce <brokers> <topic> <key>   (the value is read from stdin)
 *
 * Exits 0 once the broker acknowledged the message, 1 otherwise. It does nothing else on
 * purpose: what to produce is the test's business, so the test shows it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "kafka/kafka.h"
#include "log/log.h"

int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ramjet-test-produce <brokers> <topic> <key> < value\n");
        return 2;
    }
    rj_log_init("ramjet-test-produce");
    rj_buf_t value;
    rj_buf_init(&value);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        rj_buf_append(&value, chunk, n);

    rj_error_t err = {0};
    rj_kafka_producer_t *p = rj_kafka_producer_new(argv[1], "ramjet-test-produce", &err);
    rj_status_t st = p != NULL ? RJ_OK : err.status;
    if (st == RJ_OK)
        st = rj_kafka_produce(p, argv[2], argv[3], strlen(argv[3]), value.data, value.len, NULL,
                              NULL, &err);
    if (st == RJ_OK)
        st = rj_kafka_producer_flush(p, 30000, &err);
    rj_kafka_producer_free(p, 5000);
    rj_buf_deinit(&value);
    if (st != RJ_OK) {
        fprintf(stderr, "ramjet-test-produce: could not produce to %s: %s\n", argv[2], err.msg);
        return 1;
    }
    return 0;
}
