/*
 * devkafka.h - the Apache Kafka broker `ramjet dev` runs by default.
 *
 * A single-node KRaft cluster (broker and controller in one JVM) on loopback,
 * from the jars scripts/deps resolves through Maven (tools/kafka/pom.xml) into
 * <kafka-home>/libs. Its data lives under <data-dir>/kafka, so stopping and
 * starting the dev stack keeps every topic, offset and transaction; the storage
 * is formatted once, when <data-dir>/kafka/data has no meta.properties yet.
 *
 * This module knows the broker's files, command line and wire readiness; the
 * supervisor (dev.c) starts, probes, restarts and stops it like any child.
 */
#ifndef RJ_TOOLS_DEVKAFKA_H
#define RJ_TOOLS_DEVKAFKA_H

#include <signal.h>
#include <stdbool.h>

#include "rj/status.h"

/** Where the broker lives and how it is started. Every string is owned. */
typedef struct dev_kafka {
    char *home;          /* the Kafka distribution: <home>/libs holds the jars */
    char *java;          /* absolute path of the java launcher */
    char **java_opts;    /* JVM options, NULL-ended */
    char *dir;           /* <data-dir>/kafka */
    char *props;         /* <dir>/server.properties, written at every start */
    char *log4j;         /* log4j2 configuration, or NULL for Kafka's own default */
    int port;            /* the PLAINTEXT listener on 127.0.0.1 */
    int controller_port; /* the KRaft controller listener: port + 1 */
} dev_kafka_t;

/**
 * Finds java and the Kafka jars, creates <data-dir>/kafka and writes its
 * server.properties.
 *
 * @param home       directory of the Kafka distribution (its libs/)
 * @param java_opts  JVM options separated by spaces; may be empty
 * @param data_dir   the supervisor's absolute data directory
 * @param port       the broker's listener port; the controller's is port + 1
 * @param partitions default partitions of topics created on the broker
 * @return RJ_OK, RJ_ENOTFOUND naming what is missing and how to get it, or RJ_EIO
 */
rj_status_t dev_kafka_init(dev_kafka_t *k, const char *home, const char *java_opts,
                           const char *data_dir, int port, int partitions, rj_error_t *err);

/**
 * Formats the broker's storage unless it already holds a cluster: runs Kafka's
 * StorageTool with a fresh cluster id. Blocks until it is done (about a second).
 *
 * @param stop_flag  polled while the tool runs (a stop request ends it); may be NULL
 * @return RJ_OK, or RJ_EIO with the tool's output in the message's log file
 */
rj_status_t dev_kafka_format(const dev_kafka_t *k, volatile const sig_atomic_t *stop_flag,
                             rj_error_t *err);

/**
 * The broker's command line: java, its options, the classpath, kafka.Kafka and
 * the properties file.
 *
 * @return a NULL-ended array of heap strings; free it with dev_strv_free
 */
char **dev_kafka_argv(const dev_kafka_t *k);

/**
 * True when the broker answers an ApiVersions request on 127.0.0.1:@p port
 * within @p timeout_ms. A KRaft broker processes requests only once it has
 * caught up with the metadata log and is unfenced, so an answer means clients
 * can use it, which a bare TCP connect (the listener is bound earlier) does not.
 */
bool dev_kafka_probe(int port, int timeout_ms);

void dev_kafka_deinit(dev_kafka_t *k);

#endif
