/*
 * cmd.h - the command processor's internals: one batch of commands in, events,
 * replies and an outbox row per command out, exactly once in effect.
 *
 * How a batch goes (docs/architecture.md, "Command processor"):
 *
 *   1. decode; an undecodable message becomes a dead letter (it has no reply-to);
 *   2. drop commands already in command_outbox (a redelivered message), keeping
 *      their stored events and reply to send again;
 *   3. run before hooks and handlers; a failing one gets an error reply, no events.
 *      Their entity reads (rj_entity_get) run in the batch's transaction, with the
 *      events registered by the batch's earlier commands folded on top; a failed
 *      read statement aborts the transaction, so the whole batch is redone;
 *   4. in ONE PostgreSQL transaction: claim per-entity versions in entity_heads,
 *      insert the outbox rows (events with their versions, the reply), store the
 *      commands offsets;
 *   5. produce the events (acks=all, idempotent) and wait for delivery;
 *   6. publish the replies on Redis;
 *   7. mark the outbox rows produced.
 *
 * A batch whose transaction fails because of one command's data (rj_status_is_data:
 * a constraint, an id over an index's limit, stored rows that cannot be decoded) is
 * split in halves down to that command, which gets an error reply and a dead letter
 * (topic and dead_letters table); the others go on.
 *
 * A crash before 4 commits loses nothing (the commands are delivered again); a
 * crash after it is repaired by cmd_recover() on the next partition assignment,
 * which produces the unproduced rows again with the same ids and versions, so
 * downstream consumers see at worst an identical duplicate.
 *
 * Deliberately not here: Kafka transactions. They would need the version
 * counter anyway (events of one entity can come from commands in different
 * partitions), so PostgreSQL already orders everything that needs ordering.
 */
#ifndef CMD_H
#define CMD_H

#include <librdkafka/rdkafka.h>

#include "app/app.h"
#include "kafka/kafka.h"
#include "pg/pg.h"
#include "proc/proc.h"
#include "redis/redis.h"

/** Everything a batch needs; owned by main.c, borrowed here. */
typedef struct cmd_processor {
    const rj_app_t *app;           /* the loaded application */
    rj_pg_t *pg;                   /* the processor's connection */
    rj_kafka_producer_t *producer; /* events and dead letters */
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
 * Produces again the events and replies of every outbox row of @p partitions
 * that is not marked produced, then marks them. Called on partition assignment,
 * before any new command of those partitions is handled, so an entity's events
 * reach the events topic in version order.
 *
 * @param partitions  commands-topic partition numbers now owned; borrowed
 */
rj_status_t cmd_recover(cmd_processor_t *p, const int32_t *partitions, size_t n, rj_error_t *err);

/** Deletes produced outbox rows older than @p retention_s (the redelivery dedupe window). */
rj_status_t cmd_prune(cmd_processor_t *p, int retention_s, rj_error_t *err);

#endif
