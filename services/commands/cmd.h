/*
 * cmd.h - the command processor's internals: one batch of commands in, events,
 * replies and an outbox row per command out, exactly once in effect.
 *
 * How a batch goes (docs/architecture.md, "Command processor"):
 *
 *   1. decode; an undecodable message becomes a dead letter (it has no reply-to);
 *   2. drop commands already in command_outbox (a redelivered message or a client's
 *      retry), keeping their stored reply to send again, and their events to
 *      produce again only while their row is not marked produced;
 *   3. run before hooks and handlers; a failing one gets an error reply, no events.
 *      Their entity reads (rj_entity_get) run in the batch's transaction, with the
 *      events registered by the batch's earlier commands folded on top; a failed
 *      read statement aborts the transaction, so the whole batch is redone;
 *   4. in ONE PostgreSQL transaction: claim per-entity versions in entity_heads,
 *      insert the outbox rows (events with their versions, the reply, the command's
 *      offset), store the commands offsets;
 *   5. in ONE Kafka transaction: produce the events and dead letters, and send
 *      the commands' next offsets with the consumer's group metadata
 *      (rd_kafka_send_offsets_to_transaction), then commit it;
 *   6. publish the replies on Redis;
 *   7. mark the outbox rows produced.
 *
 * A batch whose transaction fails because of one command's data (rj_status_is_data:
 * a constraint, an id over an index's limit, stored rows that cannot be decoded) is
 * split in halves down to that command, which gets an error reply and a dead letter
 * (topic and dead_letters table); the others go on.
 *
 * Exactly once on the events topic, for read_committed consumers: the group's
 * committed offset on the commands topic moves only in the Kafka transaction that
 * carries the events of the commands below it. A crash before 4 commits loses
 * nothing (the commands are delivered again). A crash after it leaves unmarked
 * outbox rows, which cmd_recover() settles on the next partition assignment: it
 * reads the committed offsets (stable ones: it waits while a transaction that
 * sends offsets is still open) and marks, without producing, every row whose
 * command lies below them; the rest had their transaction aborted (or never
 * begun), so it produces them again, with the same ids and versions, in one new
 * transaction. A Kafka transaction that cannot commit is aborted and redone; a
 * processor fenced by a newer one with its transactional.id (a zombie) exits.
 *
 * The transactional.id is per instance (--transactional-id, default
 * "<group>@<hostname>"), so a restarted instance fences its predecessor at
 * start (init_transactions aborts what it left open); an instance that never
 * comes back has its open transaction aborted by the broker after
 * --transaction-timeout-ms. The consumer's group metadata in every transaction
 * fences an instance that lost its partitions in a rebalance as well (KIP-447).
 *
 * With --kafka-transactions off (brokers without transactions), step 5 is an
 * idempotent produce (acks=all) and a wait for delivery, and recovery produces
 * every unmarked row again: consumers then see at worst identical duplicates.
 *
 * Test-only: RAMJET_TEST_TXN_PAUSE_FILE names a file; while it exists, each
 * transaction pauses for the milliseconds written in it after its messages reached
 * the broker and before it commits (tests kill or fence the processor there;
 * without transactions, after the acknowledgement and before the outbox mark).
 *
 * Transactions do not replace the version counter in PostgreSQL: events of one
 * entity can come from commands in different partitions, handled by different
 * processors, so PostgreSQL orders what needs ordering; Kafka only decides which
 * produced copies are visible.
 */
#ifndef CMD_H
#define CMD_H

#include <librdkafka/rdkafka.h>

#include "app/app.h"
#include "kafka/kafka.h"
#include "pg/pg.h"
#include "proc/proc.h"
#include "redis/redis.h"

#include <stdbool.h>

/** Everything a batch needs; owned by main.c, borrowed here. */
typedef struct cmd_processor {
    const rj_app_t *app;           /* the loaded application */
    rj_pg_t *pg;                   /* the processor's connection */
    rj_kafka_producer_t *producer; /* events and dead letters (transactional unless off) */
    rj_kafka_consumer_t *consumer; /* the commands consumer: group metadata, committed offsets */
    bool transactional;            /* Kafka transactions on (steps 5, recovery) */
    const char *test_pause_file;   /* RAMJET_TEST_TXN_PAUSE_FILE, or NULL (test only) */
    rj_redis_t *redis;             /* reply publisher */
    char *group;                   /* consumer group, for the offset store; owned */
    char *events_topic;            /* "<app>.events" */
    char *deadletters_topic;       /* "<app>.deadletters" */
    int produce_timeout_ms;        /* how long a delivery may take before we retry */
    rj_metric_t *m_commands;       /* commands handled (incl. failed) */
    rj_metric_t *m_failed;         /* commands whose handler failed */
    rj_metric_t *m_duplicates;     /* redelivered commands answered from the outbox */
    rj_metric_t *m_dl_undecodable; /* dead letters: messages that are not commands */
    rj_metric_t *m_dl_unwritable;  /* dead letters: commands whose data fails their batch */
    rj_metric_t *m_splits;         /* batches split because of one command's data */
    rj_metric_t *m_events;         /* events produced */
    rj_metric_t *m_recovered;      /* outbox rows produced again after a crash */
    rj_metric_t *m_settled;        /* unmarked outbox rows found committed in Kafka */
    rj_metric_t *m_txn_committed;  /* Kafka transactions committed */
    rj_metric_t *m_txn_aborted;    /* Kafka transactions aborted (then redone) */
    rj_metric_t *m_batch_us;       /* batch latency histogram */
    rj_metric_t *m_gaps;           /* offset gaps: commands the broker dropped unconsumed */
    rj_metric_t *m_gap_msgs;       /* offsets skipped by those gaps */
    int64_t *expect;               /* per partition: the next offset expected, -1 unknown */
    size_t n_expect;               /* partitions in expect */
} cmd_processor_t;

/**
 * Handles one polled batch end to end (steps 1-7 above).
 *
 * @param msgs  the batch, in poll order; borrowed (the caller destroys them)
 * @return RJ_OK once the batch's effects are durable and its replies sent;
 *         RJ_ERETRY when a dependency failed and the caller should rewind the
 *         consumer to the batch and try again; another error when the daemon
 *         should exit and be restarted. When this returns an error nothing of
 *         the batch was committed, or everything was (and cmd_recover finishes it).
 *
 * Runs on the daemon's main thread.
 */
rj_status_t cmd_process_batch(cmd_processor_t *p, rd_kafka_message_t *const *msgs, size_t n,
                              rj_error_t *err);

/**
 * Finishes every outbox row of @p parts that is not marked produced: rows whose
 * transaction committed are only marked; the others are produced again (in one
 * transaction, with @p parts' offsets) and marked; every row's reply is published
 * again. Called on partition assignment, before any new command of those
 * partitions is handled, so an entity's events reach the events topic in version
 * order.
 *
 * @param parts  commands-topic partitions now owned, .offset set to the next offset
 *               stored in PostgreSQL (negative when none); borrowed
 * @return RJ_OK, or an error that fails the assignment (the daemon restarts)
 *
 * Runs on the main thread, inside the consumer's rebalance callback.
 */
rj_status_t cmd_recover(cmd_processor_t *p, const rd_kafka_topic_partition_list_t *parts,
                        rj_error_t *err);

/** Deletes produced outbox rows older than @p retention_s (the redelivery dedupe window). */
rj_status_t cmd_prune(cmd_processor_t *p, int retention_s, rj_error_t *err);

#endif
