/*
 * worker_common/worker.h - the consumer loop shared by ramjet-eventstore,
 * ramjet-reducer and ramjet-projector: "consume a batch, write PostgreSQL and the
 * batch's offsets in one transaction, retry that transaction until it commits".
 *
 * The loop owns the exactly-once plumbing of docs/architecture.md so the daemons only
 * say what a batch means:
 *
 *   - start: PostgreSQL (connect with backoff, rj_pg_migrate), the producer, the topics;
 *   - on partition assignment: seek to the offsets stored in consumer_offsets, so the
 *     first message processed is the first one no committed transaction covers;
 *   - per batch: ops.prepare once (decode), then attempts of
 *         BEGIN; ops.write; dead letters; offsets; flush the producer; COMMIT
 *     until one commits, then ops.publish (at-most-once side effects) and ops.release.
 *     An attempt that fails because of the infrastructure (rj_status_is_data false:
 *     PostgreSQL or Kafka unreachable, a lost connection, a serialization failure)
 *     rolls back and runs again on the same in-memory messages, so a batch is never
 *     skipped; when attempts keep failing for stall-timeout-ms the process exits
 *     non-zero and the supervisor restarts it (the batch is delivered again from the
 *     stored offsets);
 *   - an attempt that fails because of the data (rj_status_is_data: a constraint, a
 *     value PostgreSQL refuses, a stored row that cannot be decoded, a row over a
 *     limit) is not retried as it is: the batch is split in two halves, each run as a
 *     batch of its own, down to the one message that fails alone. That message is
 *     dead-lettered (topic <app>.deadletters and table dead_letters) and its key
 *     parked: later messages of the key are dead-lettered behind it ("parked"), so an
 *     entity's order is kept, while every other key goes on;
 *   - offsets the broker skipped (wk_gap_t) are logged at error, counted, and handed
 *     to the daemon with the next batch;
 *   - SIGTERM: the batch in hand is finished and committed, then the consumer leaves
 *     the group and the loop returns 0. If that batch is failing (a dependency is down)
 *     the loop stops retrying and returns 0 without committing it: nothing of it was
 *     committed, so it is delivered again after the restart.
 *
 * Deliberately not here: what the messages mean, threads (one loop per process; the
 * daemons scale by partitions and replicas), and Kafka-side commits other than the
 * asynchronous ones lag monitors read.
 */
#ifndef WK_WORKER_H
#define WK_WORKER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "kafka/kafka.h"
#include "pg/pg.h"
#include "proc/proc.h"
#include "rj/status.h"

/** The loop's own options, embedded in each daemon's config struct. */
typedef struct wk_opts {
    int batch_max;        /* most messages in one batch (one transaction) */
    int poll_timeout_ms;  /* how long to wait for the first message of a batch */
    int stall_timeout_ms; /* give up (exit non-zero) after failing this long */
    char *group_instance_id; /* group.instance.id; NULL: dynamic membership */
} wk_opts_t;

/*
 * WK_CONF_ROWS(struct, field, batch_default) expands to the config-table rows of a
 * wk_opts_t embedded in the daemon's config struct as @p field.
 */
#define WK_CONF_ROWS(type, field, batch_default)                                                   \
    {"batch-max", RJ_CONF_INT, batch_default, offsetof(type, field.batch_max),                     \
     "most messages consumed and committed as one batch"},                                         \
        {"poll-timeout-ms", RJ_CONF_INT, "100", offsetof(type, field.poll_timeout_ms),             \
         "how long to wait for the first message of a batch (ms)"},                                \
    {"stall-timeout-ms", RJ_CONF_INT, "120000", offsetof(type, field.stall_timeout_ms),            \
     "exit non-zero when dependencies stay unusable this long (ms)"},                              \
        RJ_KAFKA_CONF_INSTANCE_ID(type, field.group_instance_id)

/**
 * Offsets of a partition the consumer never saw: it expected @p from (the offset stored
 * with the last committed batch) and was handed @p to + 1. The broker no longer has them
 * (retention, the dev broker's 5 MB, a topic recreated) and auto.offset.reset moved the
 * consumer past them. Whatever those messages carried is not in this batch; a daemon that
 * can get it from PostgreSQL fills it in ops.write (the projector does).
 */
typedef struct wk_gap {
    int32_t partition; /* partition of the consumed topic */
    int64_t from;      /* first offset skipped */
    int64_t to;        /* last offset skipped */
    size_t msg;        /* a message of the batch to report it against (dead letters) */
} wk_gap_t;

/** One consumed batch, in log order per partition. */
typedef struct wk_batch {
    rd_kafka_message_t **msgs; /* n messages; owned by the loop; parked keys left out */
    size_t n;                  /* number of messages */
    rj_kafka_offset_t *offs;   /* next offset per partition present; owned by the loop */
    size_t n_offs;             /* number of offsets */
    const wk_gap_t *gaps;      /* offset gaps found since the last committed batch */
    size_t n_gaps;             /* number of gaps; 0 almost always */
} wk_batch_t;

typedef struct wk_worker wk_worker_t;

/** What a daemon plugs into the loop. @p opaque is the daemon's state. */
typedef struct wk_ops {
    /*
     * Decodes the batch into the daemon's state and reports malformed messages with
     * wk_deadletter. Runs once per batch, before the first attempt. Must not touch
     * PostgreSQL. May be NULL.
     */
    void (*prepare)(void *opaque, wk_worker_t *w, const wk_batch_t *b);
    /*
     * Does the batch's PostgreSQL writes inside the transaction the loop opened (and may
     * produce and flush Kafka messages that must be durable before the commit). Runs once
     * per attempt, so it must rebuild whatever an earlier attempt left behind. Any error
     * aborts the attempt (the loop rolls back and retries after a backoff); RJ_ECONFLICT
     * and RJ_ERETRY are the expected transient ones.
     */
    rj_status_t (*write)(void *opaque, wk_worker_t *w, const wk_batch_t *b, rj_error_t *err);
    /*
     * Runs once after the batch committed: side effects that are at most once by
     * design (read-model notifications). May be NULL.
     */
    void (*publish)(void *opaque, wk_worker_t *w, const wk_batch_t *b);
    /* Frees the batch's state; runs once per batch, last. May be NULL. */
    void (*release)(void *opaque, const wk_batch_t *b);
} wk_ops_t;

/** Everything wk_worker_new needs; all borrowed for the call (copied). */
typedef struct wk_config {
    const char *daemon;              /* process name, e.g. "ramjet-reducer" */
    const char *group;               /* consumer group after "<app>.", e.g. "ramjet-reducer" */
    const char *app_name;            /* topic/table/channel prefix, e.g. "shop" */
    const char *topic_suffix;        /* consumed topic after "<app>.", e.g. "events" */
    const char *const *out_suffixes; /* produced topics after "<app>." (created at start) */
    size_t n_out;                    /* number of out_suffixes */
    const rj_common_conf_t *common;  /* brokers, URLs, partitions */
    wk_opts_t opts;                  /* batch and retry options */
} wk_config_t;

/**
 * Connects to PostgreSQL (retrying while it is unreachable, up to stall-timeout-ms),
 * migrates Ramjet's tables, creates the producer and makes sure the consumed, produced
 * and dead-letter topics exist (retrying likewise). Does not subscribe yet: the daemon
 * finishes its own start-up first, then calls wk_worker_run.
 *
 * @return the worker, or NULL with @p err set (the daemon exits non-zero)
 * Ownership: the caller frees it with wk_worker_free. Main thread only.
 */
wk_worker_t *wk_worker_new(const wk_config_t *cfg, rj_error_t *err);

/** Closes the consumer (if still open), flushes and frees the producer, closes PostgreSQL. NULL is
 * a no-op. */
void wk_worker_free(wk_worker_t *w);

/**
 * Subscribes and runs batches until a stop is requested or the worker cannot go on.
 * Moves the process to RUNNING (ready) and, on stop, to DRAINING.
 *
 * @return the process exit status: 0 after a clean stop, 1 when the consumer failed or
 *         a batch could not be committed for stall-timeout-ms
 */
int wk_worker_run(wk_worker_t *w, const wk_ops_t *ops, void *opaque);

/** The worker's PostgreSQL connection. Borrowed; valid until wk_worker_free. */
rj_pg_t *wk_worker_pg(wk_worker_t *w);
/** The worker's producer. Borrowed; valid until wk_worker_free. */
rj_kafka_producer_t *wk_worker_producer(wk_worker_t *w);
/** "<app>.<suffix>" for a topic of this app. Ownership: a new string, free() it. */
char *wk_worker_topic(const wk_worker_t *w, const char *suffix);
/** The app name. Borrowed. */
const char *wk_worker_app_name(const wk_worker_t *w);
/** The loop options. Borrowed. */
const wk_opts_t *wk_worker_opts(const wk_worker_t *w);

/**
 * Records that @p m is given up on, with a reason in postgres style. The dead letter
 * (docs/architecture.md, `<app>.deadletters`, key = the original key) is produced in
 * every attempt of the batch before its commit, so it is at least once: never lost
 * when the offsets move past the message, duplicated only when an attempt is retried;
 * it is also inserted into the dead_letters table in the transaction that stores the
 * offsets, exactly once.
 * Dead letters recorded in ops.prepare belong to the batch; those recorded in ops.write
 * belong to the attempt and are forgotten when it fails. Also logs the reason at warn.
 *
 * @param m  the message; borrowed (its key and payload are copied)
 */
void wk_deadletter(wk_worker_t *w, const rd_kafka_message_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * wk_deadletter for an event that was not consumed as a message of its own but read
 * from elsewhere on @p m's behalf (the reducer folds the versions a gap lacks from
 * PostgreSQL): the dead letter points at @p m (topic, partition, offset, key) but
 * carries @p value, the text of the event given up on.
 *
 * @param value  NUL-terminated; borrowed (copied)
 */
void wk_deadletter_as(wk_worker_t *w, const rd_kafka_message_t *m, const char *value,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** True when messages of @p key are parked behind a dead letter (the loop skips them). */
bool wk_worker_parked(const wk_worker_t *w, const char *key);

/** A message's key as a new NUL-terminated string (free() it), or NULL when it has none. */
char *wk_msg_key(const rd_kafka_message_t *m);

#endif
