/*
 * kafka/kafka.h - Ramjet's thin layer over librdkafka: an idempotent producer with
 * delivery tracking, a manually-assigned consumer whose start offsets come from
 * PostgreSQL, topic creation, and the one place librdkafka errors become
 * rj_status_t.
 *
 * The exactly-once scheme (docs/architecture.md) keeps consumer offsets in
 * PostgreSQL, in the same transaction as the writes they cover. So the consumer
 * here never commits on its own (enable.auto.commit and enable.auto.offset.store
 * are off) and, on every partition assignment, asks the daemon for each
 * partition's start offset through rj_kafka_consumer_hooks_t.on_assign before it
 * assigns. Committing to Kafka (rj_kafka_consumer_commit_async) exists only so
 * lag monitors see progress; nothing reads it back.
 *
 * Every client also takes extra librdkafka properties from the environment,
 * RAMJET_KAFKA_CONF="name=value,name=value" (security.protocol, SASL, tuning),
 * applied after Ramjet's own settings.
 *
 * Services are internal, so they see librdkafka's own types (rd_kafka_message_t,
 * rd_kafka_topic_partition_list_t); user applications never include this file.
 *
 * Conventions of this header: pointer parameters are borrowed for the call
 * unless a comment says "taken" or "copied"; a consumer is used from one thread;
 * a producer produces from any thread but is polled/flushed from one.
 *
 * Transactions (rj_kafka_producer_new_transactional, rj_kafka_txn_*) exist for
 * the command processor, whose events must reach read_committed consumers
 * exactly once; the downstream daemons write PostgreSQL, where deterministic ids
 * and ON CONFLICT already make a redelivery harmless, so they keep the plain
 * idempotent producer.
 *
 * Deliberately not here: schema registries, and any JSON knowledge (callers pass
 * bytes).
 */
#ifndef RJ_KAFKA_H
#define RJ_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rj/status.h"

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * Maps a librdkafka error to the status a caller acts on: retriable and
 * transport errors (timeouts, broker down, queue full, not leader, ...) become
 * RJ_ERETRY, timeouts RJ_ETIMEOUT, unknown topic/partition RJ_ENOTFOUND, message
 * too large RJ_ETOOBIG, invalid arguments RJ_EINVAL, everything else RJ_EIO.
 * RD_KAFKA_RESP_ERR_NO_ERROR maps to RJ_OK. Thread-safe.
 */
rj_status_t rj_kafka_status(rd_kafka_resp_err_t e);

/* ------------------------------------------------------------------------ */
/* Producer                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct rj_kafka_producer rj_kafka_producer_t;

/**
 * Called once per message with its delivery outcome.
 *
 * @param opaque  the pointer given to rj_kafka_produce
 * @param status  RJ_OK when the broker acknowledged the message (acks=all),
 *                else the mapped error (the message is lost; re-produce it)
 * @param errstr  librdkafka's reason, "" on success; valid during the call only
 *
 * Runs on the thread that calls rj_kafka_producer_poll, _flush or _free.
 */
typedef void (*rj_kafka_delivery_cb)(void *opaque, rj_status_t status, const char *errstr);

/**
 * Creates an idempotent producer (enable.idempotence=true, acks=all,
 * linger.ms=1, partitioner=murmur2_random so keys land where Java clients put
 * them). librdkafka's logs go to rj_log (module "kafka").
 *
 * @param brokers    bootstrap servers "host:port[,host:port...]"; borrowed
 * @param client_id  client.id shown by brokers, may be NULL ("ramjet"); borrowed
 * @return the producer, or NULL with @p err set (RJ_EINVAL on a bad setting)
 *
 * Ownership: the caller owns the producer and frees it with rj_kafka_producer_free.
 * Any thread; producing is thread-safe, polling should stay on one thread.
 */
rj_kafka_producer_t *rj_kafka_producer_new(const char *brokers, const char *client_id,
                                           rj_error_t *err);

/**
 * Flushes outstanding messages (at most @p timeout_ms; messages still undelivered
 * then are reported as failed to their callbacks) and destroys the producer.
 * NULL is a no-op. Ownership: consumes @p p.
 */
void rj_kafka_producer_free(rj_kafka_producer_t *p, int timeout_ms);

/**
 * Enqueues one message, copying @p key and @p value. The partition is chosen by
 * hashing the key (murmur2), so equal keys stay in one partition, in order. When
 * the local queue is full, serves delivery reports and retries for up to
 * 10 seconds before giving up with RJ_ERETRY.
 *
 * @param topic   topic name; borrowed
 * @param key     key bytes, may be NULL (then @p keylen is ignored); copied
 * @param value   value bytes, may be NULL for a tombstone; copied
 * @param cb      delivery callback, may be NULL; see rj_kafka_delivery_cb
 * @param opaque  passed to @p cb
 * @return RJ_OK when enqueued (delivery is reported later), else an error;
 *         @p cb is not called when this returns an error
 *
 * Ownership: nothing is kept from the arguments except @p opaque.
 * Thread-safe.
 */
rj_status_t rj_kafka_produce(rj_kafka_producer_t *p, const char *topic, const void *key,
                             size_t keylen, const void *value, size_t len,
                             rj_kafka_delivery_cb cb, void *opaque, rj_error_t *err);

/**
 * Like rj_kafka_produce, to an explicit partition (RD_KAFKA_PARTITION_UA: by key).
 */
rj_status_t rj_kafka_produce_to(rj_kafka_producer_t *p, const char *topic, int32_t partition,
                                const void *key, size_t keylen, const void *value, size_t len,
                                rj_kafka_delivery_cb cb, void *opaque, rj_error_t *err);

/**
 * Waits until every message produced so far is delivered or failed, serving
 * delivery callbacks meanwhile.
 *
 * @return RJ_OK when all of them were delivered; RJ_ETIMEOUT when some are
 *         still in flight after @p timeout_ms; otherwise the status of the first
 *         delivery failure since the previous flush (the caller re-produces what
 *         it needs; the failure count is reset by this call)
 *
 * Ownership: nothing changes hands. Runs on the thread that polls the producer
 * (delivery callbacks run there, inside this call).
 */
rj_status_t rj_kafka_producer_flush(rj_kafka_producer_t *p, int timeout_ms, rj_error_t *err);

/**
 * A file descriptor that becomes readable when delivery reports (or other
 * producer callbacks) are waiting to be served; add it to an event loop and
 * call rj_kafka_producer_poll(p, 0) when it fires. The descriptor belongs to
 * the producer (do not close it). Thread-safe.
 */
int rj_kafka_producer_fd(rj_kafka_producer_t *p);

/**
 * Serves pending delivery reports and other callbacks, waiting up to
 * @p timeout_ms for the first one, and drains rj_kafka_producer_fd.
 * @return the number of events served.
 * Runs on the producer's polling thread; callbacks run inside this call.
 */
int rj_kafka_producer_poll(rj_kafka_producer_t *p, int timeout_ms);

/** Messages produced but not yet delivered or failed (librdkafka's outq). Thread-safe. */
int rj_kafka_producer_outq_len(rj_kafka_producer_t *p);

/** The underlying handle, for what this layer does not wrap. Borrowed. */
rd_kafka_t *rj_kafka_producer_handle(rj_kafka_producer_t *p);

/* ------------------------------------------------------------------------ */
/* Consumer                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct rj_kafka_consumer rj_kafka_consumer_t;

/** What a consuming daemon does when its partition set changes. */
typedef struct rj_kafka_consumer_hooks {
    /*
     * Partitions were assigned to this member: only those added now, since the
     * consumer rebalances incrementally (cooperative-sticky); the ones it already
     * holds keep going. Set each element's .offset to the
     * next offset to read (usually rj_pg_offsets_load; RD_KAFKA_OFFSET_BEGINNING
     * when none is stored) and do recovery work (e.g. re-produce an outbox).
     * Anything but RJ_OK makes the consumer fatal: rj_kafka_consume_batch then
     * fails with that error and the daemon exits to be restarted. May be NULL:
     * then every partition starts at its committed offset or the beginning.
     * @p parts is borrowed for the call. Runs inside rj_kafka_consume_batch.
     */
    rj_status_t (*on_assign)(void *opaque, rd_kafka_topic_partition_list_t *parts,
                             rj_error_t *err);
    /*
     * Partitions are being taken away (rebalance or close): only those. Drop any state kept
     * for them; offsets already stored in PostgreSQL stay valid. May be NULL.
     * @p parts is borrowed. Runs inside rj_kafka_consume_batch or _free.
     */
    void (*on_revoke)(void *opaque, const rd_kafka_topic_partition_list_t *parts);
} rj_kafka_consumer_hooks_t;

/*
 * The config-table row of a consumer daemon's group.instance.id (a `char *` member of its
 * config struct), passed to rj_kafka_consumer_new.
 */
#define RJ_KAFKA_CONF_INSTANCE_ID(type, member)                                                    \
    {"group-instance-id", RJ_CONF_STR, NULL, offsetof(type, member),                               \
     "static consumer-group membership: a stable id per replica (\"@hostname\": this host's "     \
     "name, a pod's or container's); a replica restarted with the same id within the session "     \
     "timeout gets its partitions back at once instead of after a rebalance. Unset: dynamic "      \
     "membership"}

/**
 * The consumer group of daemon @p daemon ("ramjet-reducer") of application @p app:
 * "<app>.<daemon>", so two applications on one cluster never share a group, and one
 * prefix ACL ("<app>.") covers an application's topics and groups. A new string.
 */
char *rj_kafka_group_name(const char *app, const char *daemon);

/**
 * Creates a group consumer subscribed to @p topics with enable.auto.commit=false,
 * enable.auto.offset.store=false, auto.offset.reset=earliest,
 * fetch.wait.max.ms=5, isolation.level=read_committed, session.timeout.ms=6000
 * (a rebalance on the dev broker waits that long), and a rebalance callback
 * that calls @p hooks (above) then assigns or unassigns.
 *
 * @param brokers  bootstrap servers; borrowed
 * @param group    group.id, e.g. "shop.ramjet-eventstore" (rj_kafka_group_name); borrowed
 * @param instance_id  group.instance.id for static membership, "@hostname" for this host's
 *                 name, or NULL or "" for dynamic membership; borrowed. A static member
 *                 killed and restarted with the same id resumes its partitions without a
 *                 rebalance (under a second instead of the session timeout plus a
 *                 rebalance); the price is that a static member does not leave the group
 *                 when it closes, so after a clean stop its partitions wait for the session
 *                 timeout unless a member with the same id comes back
 * @param topics   topic names; borrowed
 * @param hooks    may be NULL; copied
 * @param opaque   passed to the hooks
 * @return the consumer, or NULL with @p err set
 *
 * Ownership: the caller frees it with rj_kafka_consumer_free. Not thread-safe:
 * use one consumer from one thread.
 */
rj_kafka_consumer_t *rj_kafka_consumer_new(const char *brokers, const char *group,
                                           const char *instance_id,
                                           const char *const *topics, size_t ntopics,
                                           const rj_kafka_consumer_hooks_t *hooks,
                                           void *opaque, rj_error_t *err);

/**
 * Leaves the group properly (calls on_revoke for the current assignment) and
 * destroys the consumer. NULL is a no-op. Ownership: consumes @p c.
 */
void rj_kafka_consumer_free(rj_kafka_consumer_t *c);

/**
 * Polls up to @p max messages: waits up to @p timeout_ms for the first one, then
 * takes whatever else is already fetched without waiting. Serves rebalances on
 * the way (the hooks run here). Partition EOF and other per-partition,
 * non-fatal errors are logged and filtered out.
 *
 * @param msgs  array of at least @p max slots; filled with messages the caller
 *              destroys with rd_kafka_message_destroy
 * @return the number of messages (0 on timeout), or -1 with @p err set when the
 *         consumer cannot go on (fatal librdkafka error, failed on_assign)
 *
 * Ownership: each returned message is the caller's (rd_kafka_message_destroy).
 * Runs on the consumer's thread. Messages of partitions revoked by a rebalance
 * during this call are dropped here, never returned.
 */
ssize_t rj_kafka_consume_batch(rj_kafka_consumer_t *c, rd_kafka_message_t **msgs, size_t max,
                               int timeout_ms, rj_error_t *err);

/**
 * Moves the fetch position of one assigned partition, e.g. back to the first
 * offset of a batch whose PostgreSQL transaction failed. Messages already fetched
 * from the old position are discarded by librdkafka.
 * @return RJ_OK, or an error (RJ_ENOTFOUND when the partition is not assigned)
 * Runs on the consumer's thread; waits up to 5 s for librdkafka to confirm.
 */
rj_status_t rj_kafka_consumer_seek(rj_kafka_consumer_t *c, const char *topic,
                                   int32_t partition, int64_t offset, rj_error_t *err);

/**
 * Seeks every partition present in @p msgs back to its lowest offset there, so
 * the whole batch is delivered again. Ownership: @p msgs stay the caller's
 * (destroy them after the call). Runs on the consumer's thread.
 */
rj_status_t rj_kafka_consumer_rewind(rj_kafka_consumer_t *c, rd_kafka_message_t *const *msgs,
                                     size_t n, rj_error_t *err);

/**
 * The current assignment, or NULL when nothing is assigned.
 * Ownership: a new list the caller frees with rd_kafka_topic_partition_list_destroy.
 */
rd_kafka_topic_partition_list_t *rj_kafka_consumer_assignment(rj_kafka_consumer_t *c);

/** The group.id given at creation. Borrowed. */
const char *rj_kafka_consumer_group(const rj_kafka_consumer_t *c);

/** The underlying handle. Borrowed. */
rd_kafka_t *rj_kafka_consumer_handle(rj_kafka_consumer_t *c);

/**
 * Reads the group's committed offsets of @p parts into their .offset
 * (RD_KAFKA_OFFSET_INVALID where the group has none). The consumer reads
 * read_committed, so the broker answers with stable offsets only: while a
 * transaction that sends offsets for one of these partitions is open, the answer
 * waits (up to @p timeout_ms) until it commits or aborts.
 *
 * @param parts  topic/partition pairs; borrowed, offsets filled in
 * @return RJ_OK, or RJ_ERETRY / RJ_ETIMEOUT / another mapped error
 * Runs on the consumer's thread (also from inside on_assign).
 */
rj_status_t rj_kafka_consumer_committed(rj_kafka_consumer_t *c,
                                        rd_kafka_topic_partition_list_t *parts, int timeout_ms,
                                        rj_error_t *err);

/* ------------------------------------------------------------------------ */
/* Offsets                                                                   */
/* ------------------------------------------------------------------------ */

/** The next offset to read in one partition: what a daemon stores in PostgreSQL. */
typedef struct rj_kafka_offset {
    char *topic;         /* topic name (heap, owned by the array) */
    int32_t partition;   /* partition number */
    int64_t next_offset; /* offset of the last processed message + 1 */
} rj_kafka_offset_t;

/**
 * Computes the next offset per (topic, partition) present in a batch: the
 * highest offset seen + 1. Messages with an error are skipped.
 *
 * @param msgs  borrowed
 * @param out   set to a new array (free with rj_kafka_offsets_free), or NULL when
 *              the batch holds no messages
 * @return the number of elements in *out
 */
size_t rj_kafka_offsets_from_batch(rd_kafka_message_t *const *msgs, size_t n,
                                   rj_kafka_offset_t **out);

/** Frees an array from rj_kafka_offsets_from_batch. NULL is a no-op. */
void rj_kafka_offsets_free(rj_kafka_offset_t *offs, size_t n);

/**
 * Commits @p offs to Kafka asynchronously, for lag monitoring only (PostgreSQL
 * is the source of truth). Failures are logged at debug level.
 * Ownership: @p offs is borrowed. Runs on the consumer's thread.
 */
void rj_kafka_consumer_commit_async(rj_kafka_consumer_t *c, const rj_kafka_offset_t *offs,
                                    size_t n);

/* ------------------------------------------------------------------------ */
/* Transactions                                                              */
/* ------------------------------------------------------------------------ */

/*
 * Statuses of the transaction calls below, the decision a caller makes:
 *   RJ_OK      done;
 *   RJ_ERETRY  the transaction cannot commit (a delivery failed, a timeout, the
 *              group moved on): call rj_kafka_txn_abort, then redo the whole
 *              transaction;
 *   RJ_EIO     the producer is dead: fenced by a newer instance with the same
 *              transactional.id (this one is a zombie; the message says so) or
 *              another fatal error. The daemon exits and is restarted.
 */

/**
 * Creates a transactional producer: rj_kafka_producer_new's settings plus
 * transactional.id=@p transactional_id and transaction.timeout.ms=@p txn_timeout_ms
 * (message.timeout.ms follows it, as librdkafka requires), then
 * rd_kafka_init_transactions(), which fences every older producer with the same
 * id and aborts the transaction it left open.
 *
 * @param transactional_id  stable per instance (a restarted instance must reuse it to
 *                          fence its predecessor); borrowed
 * @param txn_timeout_ms    how long the broker keeps a transaction open before
 *                          aborting it: how long a vanished instance's transaction
 *                          can hold back read_committed consumers
 * @param init_timeout_ms   how long init_transactions may wait for the cluster
 * @return the producer, or NULL with @p err set (RJ_ERETRY when the cluster did not
 *         answer in time, RJ_EIO when the broker refuses transactions)
 *
 * Ownership: as rj_kafka_producer_new. Every message it produces must be inside a
 * transaction (rj_kafka_txn_begin). Runs on the daemon's main thread.
 */
rj_kafka_producer_t *rj_kafka_producer_new_transactional(const char *brokers, const char *client_id,
                                                         const char *transactional_id,
                                                         int txn_timeout_ms, int init_timeout_ms,
                                                         rj_error_t *err);

/** Begins a transaction. @return RJ_OK or RJ_EIO (see the statuses above). */
rj_status_t rj_kafka_txn_begin(rj_kafka_producer_t *p, rj_error_t *err);

/**
 * Adds the consumer's next offsets @p offs to the transaction (with @p c's group
 * metadata, so a member of an older group generation cannot commit: KIP-447) and
 * commits it: the messages produced since rj_kafka_txn_begin and the offsets
 * become visible together, or neither does.
 *
 * @param c          the group consumer the offsets belong to; may be NULL when @p n is 0
 * @param offs       next offset per partition; borrowed; may be NULL when @p n is 0
 * @param timeout_ms bound of each step (librdkafka retries inside it)
 * @return RJ_OK, RJ_ERETRY (abort and redo) or RJ_EIO (fatal or fenced)
 *
 * Runs on the producer's polling thread (delivery callbacks run inside).
 */
rj_status_t rj_kafka_txn_commit(rj_kafka_producer_t *p, rj_kafka_consumer_t *c,
                                const rj_kafka_offset_t *offs, size_t n, int timeout_ms,
                                rj_error_t *err);

/**
 * Aborts the current transaction: its messages are purged or marked aborted, so
 * read_committed consumers never see them. @return RJ_OK, or RJ_EIO when the
 * producer is dead (fenced, fatal) or the abort did not finish in @p timeout_ms.
 */
rj_status_t rj_kafka_txn_abort(rj_kafka_producer_t *p, int timeout_ms, rj_error_t *err);

/* ------------------------------------------------------------------------ */
/* Topics                                                                    */
/* ------------------------------------------------------------------------ */

/** How Ramjet creates a topic that is missing (the common options topic-*). */
typedef struct rj_kafka_topic_spec {
    int partitions;          /* number of partitions */
    int replication_factor;  /* replicas per partition; -1: the broker's default */
    int min_insync_replicas; /* min.insync.replicas; 0: the broker's default */
    int max_message_bytes;   /* max.message.bytes; 0: the broker's default (about 1 MiB) */
} rj_kafka_topic_spec_t;

struct rj_common_conf;

/** The topic spec of a daemon's common options (--partitions, --topic-*). */
rj_kafka_topic_spec_t rj_kafka_topic_spec(const struct rj_common_conf *c);

/**
 * Creates the topics among @p names that do not exist yet, as @p spec says, and
 * waits for the result (10 s). Topics that already exist (even with another
 * partition count or configuration) are fine. Idempotent; safe when several
 * daemons race.
 *
 * @return RJ_OK, RJ_ERETRY when the cluster is unreachable, or another error
 * Any thread; creates and destroys its own admin client.
 */
rj_status_t rj_kafka_ensure_topics(const char *brokers, const char *const *names, size_t n,
                                   const rj_kafka_topic_spec_t *spec, rj_error_t *err);

/**
 * Routes a librdkafka handle's logs into rj_log (module "kafka"). Done by every
 * constructor here; exposed for handles made elsewhere (the dev broker).
 */
void rj_kafka_conf_set_log(rd_kafka_conf_t *conf);

#endif
