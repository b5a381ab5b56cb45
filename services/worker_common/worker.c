/*
 * worker_common/worker.c - the consumer loop shared by the three consumer daemons
 * (see worker.h for the contract).
 *
 * Ordering inside one attempt, and why:
 *
 *   BEGIN
 *   ops.write          the daemon's rows (and, for the reducer, the snapshots produced)
 *   dead letters       produced before the offsets move past their messages
 *   offsets            rj_pg_offsets_store, same transaction as the rows
 *   flush              every message of this attempt acknowledged (acks=all) ...
 *   COMMIT             ... before the offsets that make them unnecessary to redo
 *
 * A kill -9 anywhere before COMMIT loses the rows and the offsets together: on restart
 * the partition is assigned again, on_assign seeks to the stored offsets and the same
 * messages come back. A kill after COMMIT loses at most the at-most-once side effects
 * of ops.publish. Producing before COMMIT means a crash in between produces again;
 * every consumer of what we produce dedupes (snapshots by version, dead letters are
 * for humans).
 *
 * A batch that fails because of its data is bisected rather than written with a
 * savepoint per message: the daemons write a whole batch in a handful of set-based
 * statements (unnest arrays), which savepoints would turn back into one round trip per
 * message on the common path. Bisecting costs nothing until a batch fails, then about
 * 2 log2(n) extra transactions to find the one message that fails alone.
 *
 * Not here: any knowledge of what the consumed messages mean, or of tables other than
 * consumer_offsets, dead_letters and parked_keys.
 */
#include "worker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "log/log.h"
#include "worker_common/index.h"
#include "json/envelope.h"

/* How long one attempt waits for the producer's acknowledgements. */
#define WK_FLUSH_TIMEOUT_MS 10000
/* How long the producer gets to deliver what is left at shutdown. */
#define WK_PRODUCER_CLOSE_MS 5000

/* Why a message was given up on: the reason label of ramjet_deadletters_total. */
typedef enum dl_kind {
    DL_REJECTED,   /* the daemon refused it (decode, reducer, projection) */
    DL_UNWRITABLE, /* its batch failed because of it alone (a constraint, a limit); parks */
    DL_PARKED,     /* an earlier message of its key was unwritable */
    DL_NKINDS,
} dl_kind_t;

static const char *const dl_kind_names[DL_NKINDS] = {"rejected", "unwritable", "parked"};

/* One dead letter, encoded when it is recorded so each attempt only produces it. */
typedef struct deadletter {
    char *key;         /* the original message key, or NULL */
    char *json;        /* the encoded dead-letter envelope */
    dl_kind_t kind;    /* why */
    int32_t partition; /* the message's partition */
    int64_t offset;    /* the message's offset */
} deadletter_t;

struct wk_worker {
    char *daemon;            /* process name */
    char *group;             /* consumer group */
    char *app_name;          /* topic prefix */
    char *topic;             /* consumed topic */
    char *deadletter_topic;  /* <app>.deadletters */
    rj_common_conf_t common; /* shallow copy: strings borrowed from the daemon's config */
    wk_opts_t opts;          /* batch and retry options */

    rj_pg_t *pg;                   /* the one PostgreSQL connection */
    rj_kafka_producer_t *producer; /* dead letters and the daemon's outputs */
    rj_kafka_consumer_t *consumer; /* NULL outside wk_worker_run */

    deadletter_t *dls; /* dead letters of the batch in hand */
    size_t n_dls;      /* number recorded */
    size_t cap_dls;    /* allocated */
    size_t dl_mark;    /* dead letters [0, dl_mark) belong to the batch, the rest to the attempt */

    wk_index_t parked; /* keys parked behind an unwritable message (parked_keys) */
    int64_t *expect;   /* per partition: the offset the next message must have, -1 unknown */
    size_t n_expect;   /* partitions in expect */
    wk_gap_t *gaps;    /* gaps found and not yet handed to a committed batch */
    size_t n_gaps;     /* number of gaps */

    rj_metric_t *m_messages;               /* messages committed */
    rj_metric_t *m_batches;                /* batches committed */
    rj_metric_t *m_deadletters[DL_NKINDS]; /* dead letters committed, by reason */
    rj_metric_t *m_retries;                /* failed attempts */
    rj_metric_t *m_splits;                 /* batches split because of one message's data */
    rj_metric_t *m_gaps;                   /* offset gaps found */
    rj_metric_t *m_gap_msgs;               /* offsets skipped by those gaps */
    rj_metric_t *m_latency;                /* consume-to-commit time per batch */
    rj_metric_t *m_parked;                 /* entities (keys) parked behind dead letters */
};

/* ---- small helpers ---- */

char *
wk_msg_key(const rd_kafka_message_t *m)
{
    return m->key != NULL ? rj_xstrndup(m->key, m->key_len) : NULL;
}

char *
wk_worker_topic(const wk_worker_t *w, const char *suffix)
{
    return rj_xasprintf("%s.%s", w->app_name, suffix);
}

rj_pg_t *
wk_worker_pg(wk_worker_t *w)
{
    return w->pg;
}

rj_kafka_producer_t *
wk_worker_producer(wk_worker_t *w)
{
    return w->producer;
}

const char *
wk_worker_app_name(const wk_worker_t *w)
{
    return w->app_name;
}

const wk_opts_t *
wk_worker_opts(const wk_worker_t *w)
{
    return &w->opts;
}

/* ---- dead letters ---- */

/* Records a dead letter at @p m's place carrying @p given (NULL: m's own payload). */
static void
deadletter_record(wk_worker_t *w, const rd_kafka_message_t *m, const char *given, dl_kind_t kind,
                  const char *reason)
{
    char *key = wk_msg_key(m);
    char *value = given != NULL        ? rj_xstrdup(given)
                  : m->payload != NULL ? rj_xstrndup(m->payload, m->len)
                                       : rj_xstrdup("");
    char at[32];
    rj_iso8601_ms(rj_now_ms(), at);
    rj_env_deadletter_t env = {
        .topic = rd_kafka_topic_name(m->rkt),
        .partition = m->partition,
        .offset = m->offset,
        .key = key,
        .value = value,
        .error = reason,
        .daemon = w->daemon,
        .at = at,
    };
    rj_log(kind == DL_UNWRITABLE ? RJ_LOG_ERROR : RJ_LOG_WARN, "worker",
           "dead letter: %s reason=%s topic=%s partition=%d offset=%" PRId64 " key=%s", reason,
           dl_kind_names[kind], env.topic, (int)m->partition, (int64_t)m->offset,
           key != NULL ? key : "");

    if (w->n_dls == w->cap_dls) {
        w->cap_dls = w->cap_dls ? w->cap_dls * 2 : 16;
        w->dls = rj_xrealloc(w->dls, w->cap_dls * sizeof *w->dls);
    }
    w->dls[w->n_dls++] = (deadletter_t){.key = key,
                                        .json = rj_env_deadletter_encode(&env),
                                        .kind = kind,
                                        .partition = m->partition,
                                        .offset = m->offset};
    free(value);
}

void
wk_deadletter(wk_worker_t *w, const rd_kafka_message_t *m, const char *fmt, ...)
{
    char reason[RJ_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    deadletter_record(w, m, NULL, DL_REJECTED, reason);
}

void
wk_deadletter_as(wk_worker_t *w, const rd_kafka_message_t *m, const char *value, const char *fmt,
                 ...)
{
    char reason[RJ_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    deadletter_record(w, m, value, DL_REJECTED, reason);
}

/* Forgets the dead letters recorded after index @p keep. */
static void
deadletters_truncate(wk_worker_t *w, size_t keep)
{
    for (size_t i = keep; i < w->n_dls; i++) {
        free(w->dls[i].key);
        free(w->dls[i].json);
    }
    w->n_dls = keep;
}

static rj_status_t
deadletters_produce(wk_worker_t *w, rj_error_t *err)
{
    for (size_t i = 0; i < w->n_dls; i++) {
        const deadletter_t *d = &w->dls[i];
        rj_status_t st = rj_kafka_produce(w->producer, w->deadletter_topic, d->key,
                                          d->key != NULL ? strlen(d->key) : 0, d->json,
                                          strlen(d->json), NULL, NULL, err);
        if (st != RJ_OK)
            return st;
        const rj_pg_deadletter_t row = {
            .daemon = w->daemon,
            .topic = w->topic,
            .partition = d->partition,
            .offset = d->offset,
            .reason = dl_kind_names[d->kind],
            .envelope = d->json,
            .group = d->kind == DL_UNWRITABLE ? w->group : NULL,
            .key = d->key,
        };
        st = rj_pg_deadletter_insert(w->pg, &row, err);
        if (st != RJ_OK)
            return st;
    }
    return RJ_OK;
}

/* ---- parked keys ---- */

bool
wk_worker_parked(const wk_worker_t *w, const char *key)
{
    if (w->parked.len == 0)
        return false;
    const char *parts[] = {key};
    size_t unused;
    return wk_index_find(&w->parked, parts, 1, &unused);
}

static bool
key_parked(const wk_worker_t *w, const rd_kafka_message_t *m)
{
    if (m->key == NULL || w->parked.len == 0)
        return false;
    char *key = wk_msg_key(m);
    bool found = wk_worker_parked(w, key);
    free(key);
    return found;
}

/*
 * Loads the keys this group parked on this topic. All of them, not only the assigned
 * partitions': there are few (each is an incident an operator should look at), and a
 * key's partition cannot be told from the table.
 */
static rj_status_t
parked_load(wk_worker_t *w, rj_error_t *err)
{
    const char *params[] = {w->group, w->topic};
    PGresult *res = NULL;
    rj_status_t st =
        rj_pg_exec_prepared(w->pg, "wk_parked_load",
                            "SELECT key FROM parked_keys WHERE consumer_group = $1 AND topic = $2",
                            2, params, &res, err);
    if (st != RJ_OK)
        return st;
    wk_index_reset(&w->parked);
    for (int r = 0; r < PQntuples(res); r++) {
        const char *parts[] = {PQgetvalue(res, r, 0)};
        size_t v = 1;
        wk_index_upsert(&w->parked, parts, 1, &v);
    }
    rj_metric_set(w->m_parked, (int64_t)w->parked.len);
    if (PQntuples(res) > 0)
        rj_warn("worker",
                "%d key(s) parked behind dead letters (table parked_keys) group=%s topic=%s",
                PQntuples(res), w->group, w->topic);
    PQclear(res);
    return RJ_OK;
}

/* ---- offset gaps ---- */

static void
expect_set(wk_worker_t *w, int32_t partition, int64_t next)
{
    if (partition < 0)
        return;
    if ((size_t)partition >= w->n_expect) {
        size_t n = (size_t)partition + 1;
        w->expect = rj_xrealloc(w->expect, n * sizeof *w->expect);
        for (size_t i = w->n_expect; i < n; i++)
            w->expect[i] = -1;
        w->n_expect = n;
    }
    w->expect[partition] = next;
}

/*
 * Whether offsets from @p want on are still in @p m's partition, so a jump to @p m
 * skipped only what read_committed hides: the commit and abort markers of the command
 * processor's transactions (one offset each) and the records of aborted transactions.
 * The partition's log start offset, which librdkafka caches from every fetch
 * response, says: retention or a reset that lost messages moved it past @p want.
 */
static bool
gap_is_transactional(wk_worker_t *w, const rd_kafka_message_t *m, int64_t want)
{
    int64_t lo = -1, hi = -1;
    rd_kafka_resp_err_t e = rd_kafka_get_watermark_offsets(
        rj_kafka_consumer_handle(w->consumer), rd_kafka_topic_name(m->rkt), m->partition, &lo, &hi);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR && lo >= 0 && lo <= want;
}

/*
 * Compares each message's offset with the one its partition should deliver next. No
 * topic is compacted, so a jump is either messages the consumer never saw, or the
 * markers and aborted records of transactions (gap_is_transactional), which are not.
 */
static void
gaps_find(wk_worker_t *w, rd_kafka_message_t *const *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        int32_t p = m->partition;
        int64_t want = p >= 0 && (size_t)p < w->n_expect ? w->expect[p] : -1;
        if (want >= 0 && m->offset > want && !gap_is_transactional(w, m, want)) {
            rj_error("worker",
                     "offset gap: messages were skipped, the broker no longer has them "
                     "(retention or an offset reset) topic=%s partition=%d from=%" PRId64
                     " to=%" PRId64 " group=%s",
                     w->topic, (int)p, want, (int64_t)m->offset - 1, w->group);
            rj_metric_add(w->m_gaps, 1);
            rj_metric_add(w->m_gap_msgs, (int64_t)m->offset - want);
            w->gaps = rj_xrealloc(w->gaps, (w->n_gaps + 1) * sizeof *w->gaps);
            w->gaps[w->n_gaps++] =
                (wk_gap_t){.partition = p, .from = want, .to = (int64_t)m->offset - 1};
        }
        if (want < 0 || m->offset >= want)
            expect_set(w, p, (int64_t)m->offset + 1);
    }
}

/* ---- start-up ---- */

wk_worker_t *
wk_worker_new(const wk_config_t *cfg, rj_error_t *errp)
{
    rj_error_t e, *err = &e;
    rj_error_clear(err);
    RJ_ASSERT(cfg->opts.batch_max > 0);
    wk_worker_t *w = rj_xcalloc(1, sizeof *w);
    w->daemon = rj_xstrdup(cfg->daemon);
    w->group = rj_kafka_group_name(cfg->app_name, cfg->group);
    w->app_name = rj_xstrdup(cfg->app_name);
    w->topic = wk_worker_topic(w, cfg->topic_suffix);
    w->deadletter_topic = wk_worker_topic(w, "deadletters");
    w->common = *cfg->common;
    w->opts = cfg->opts;

    char *label = rj_xasprintf("{topic=\"%s\"}", w->topic);
    char *name = rj_xasprintf("ramjet_consumed_messages_total%s", label);
    w->m_messages = rj_metric_counter(name, "messages consumed and committed");
    free(name);
    name = rj_xasprintf("ramjet_consumed_batches_total%s", label);
    w->m_batches = rj_metric_counter(name, "batches committed (one transaction each)");
    free(name);
    for (int k = 0; k < DL_NKINDS; k++) {
        name = rj_xasprintf("ramjet_deadletters_total{topic=\"%s\",reason=\"%s\"}", w->topic,
                            dl_kind_names[k]);
        w->m_deadletters[k] =
            rj_metric_counter(name, "messages given up on and sent to dead letters, by reason");
        free(name);
    }
    name = rj_xasprintf("ramjet_parked_keys%s", label);
    w->m_parked = rj_metric_gauge(name, "entities (message keys) stopped behind a dead letter "
                                        "until an operator unparks them (table parked_keys)");
    free(name);
    name = rj_xasprintf("ramjet_batch_retries_total%s", label);
    w->m_retries = rj_metric_counter(name, "batch attempts rolled back and retried");
    free(name);
    name = rj_xasprintf("ramjet_batch_splits_total%s", label);
    w->m_splits = rj_metric_counter(name, "batches split in two because of one message's data");
    free(name);
    name = rj_xasprintf("ramjet_offset_gaps_total%s", label);
    w->m_gaps = rj_metric_counter(name, "offset jumps: messages the broker dropped before they "
                                        "were consumed");
    free(name);
    name = rj_xasprintf("ramjet_offset_gap_messages_total%s", label);
    w->m_gap_msgs = rj_metric_counter(name, "offsets skipped by offset gaps");
    free(name);
    free(label);
    wk_index_init(&w->parked);
    w->m_latency =
        rj_metric_histogram("ramjet_batch_seconds", "time from consuming a batch to committing it");

    w->pg = rj_pg_connect_retry(w->common.pg_url, w->app_name, w->opts.stall_timeout_ms, err);
    if (w->pg == NULL)
        goto fail;

    /* Every daemon migrates at start; rj_pg_migrate serialises concurrent starters
     * itself, so a failure here is the server going away under us: retry. */
    rj_backoff_t bo;
    rj_backoff_init(&bo, w->opts.stall_timeout_ms);
    for (;;) {
        rj_status_t st = rj_pg_migrate(w->pg, err);
        if (st == RJ_OK)
            st = rj_pg_offsets_adopt(w->pg, cfg->group, w->group, NULL, err);
        if (st == RJ_OK)
            break;
        rj_warn("pg", "could not migrate, retrying: %s", err->msg);
        if (!rj_backoff_wait(&bo))
            goto fail;
    }

    w->producer = rj_kafka_producer_new(w->common.kafka_brokers, w->daemon, err);
    if (w->producer == NULL)
        goto fail;

    /* The broker may come up after us under the supervisor; creating the topics is
     * also how we learn that it is reachable. */
    size_t n_names = 0;
    char *names[16];
    RJ_ASSERT(cfg->n_out + 2 <= sizeof names / sizeof names[0]);
    names[n_names++] = rj_xstrdup(w->topic);
    names[n_names++] = rj_xstrdup(w->deadletter_topic);
    for (size_t i = 0; i < cfg->n_out; i++)
        names[n_names++] = wk_worker_topic(w, cfg->out_suffixes[i]);
    rj_backoff_init(&bo, w->opts.stall_timeout_ms);
    rj_status_t st;
    for (;;) {
        rj_kafka_topic_spec_t spec = rj_kafka_topic_spec(&w->common);
        st = rj_kafka_ensure_topics(w->common.kafka_brokers, (const char *const *)names, n_names,
                                    &spec, err);
        if (st != RJ_ERETRY && st != RJ_ETIMEOUT)
            break;
        rj_warn("kafka", "could not create topics, retrying: %s brokers=%s", err->msg,
                w->common.kafka_brokers);
        if (!rj_backoff_wait(&bo))
            break;
    }
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    if (st != RJ_OK)
        goto fail;
    return w;

fail:
    if (errp != NULL)
        *errp = e;
    wk_worker_free(w);
    return NULL;
}

void
wk_worker_free(wk_worker_t *w)
{
    if (w == NULL)
        return;
    rj_kafka_consumer_free(w->consumer);
    rj_kafka_producer_free(w->producer, WK_PRODUCER_CLOSE_MS);
    rj_pg_free(w->pg);
    deadletters_truncate(w, 0);
    free(w->dls);
    wk_index_deinit(&w->parked);
    free(w->expect);
    free(w->gaps);
    free(w->daemon);
    free(w->group);
    free(w->app_name);
    free(w->topic);
    free(w->deadletter_topic);
    free(w);
}

/* ---- partition assignment ---- */

/*
 * The heart of exactly-once on the consuming side: a partition starts where the last
 * committed transaction said it ends, whatever Kafka's own committed offset says. A
 * failure here would make the consumer start somewhere arbitrary, so it is retried,
 * and if PostgreSQL stays away the consumer fails and the daemon exits to be restarted.
 */
static rj_status_t
on_assign(void *opaque, rd_kafka_topic_partition_list_t *parts, rj_error_t *err)
{
    wk_worker_t *w = opaque;
    rj_backoff_t bo;
    rj_backoff_init(&bo, w->opts.stall_timeout_ms);
    for (;;) {
        rj_status_t st = rj_pg_offsets_load(w->pg, w->group, parts, err);
        if (st == RJ_OK)
            break;
        rj_warn("worker", "could not load offsets, retrying: %s group=%s", err->msg, w->group);
        if (!rj_backoff_wait(&bo))
            return st;
    }
    rj_backoff_init(&bo, w->opts.stall_timeout_ms);
    for (;;) {
        rj_status_t st = parked_load(w, err);
        if (st == RJ_OK)
            break;
        rj_warn("worker", "could not load parked keys, retrying: %s group=%s", err->msg, w->group);
        if (!rj_backoff_wait(&bo))
            return st;
    }
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        /* A partition with no stored offset starts wherever the log starts: nothing to
           compare the first message with. */
        expect_set(w, p->partition, p->offset >= 0 ? p->offset : -1);
        if (p->offset == RD_KAFKA_OFFSET_BEGINNING)
            rj_info("worker", "assigned topic=%s partition=%d from=beginning", p->topic,
                    (int)p->partition);
        else
            rj_info("worker", "assigned topic=%s partition=%d from=%" PRId64, p->topic,
                    (int)p->partition, (int64_t)p->offset);
    }
    return RJ_OK;
}

static void
on_revoke(void *opaque, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++)
        rj_info("worker", "revoked topic=%s partition=%d", parts->elems[i].topic,
                (int)parts->elems[i].partition);
}

/* ---- batches ---- */

/* One attempt; @p write false commits only the dead letters and the offsets. */
static rj_status_t
attempt(wk_worker_t *w, const wk_ops_t *ops, void *opaque, const wk_batch_t *b, bool write,
        rj_error_t *err)
{
    rj_status_t st = rj_pg_begin(w->pg, err);
    if (st == RJ_OK && write)
        st = ops->write(opaque, w, b, err);
    if (st == RJ_OK)
        st = deadletters_produce(w, err);
    if (st == RJ_OK)
        st = rj_pg_offsets_store(w->pg, w->group, b->offs, b->n_offs, err);
    if (st == RJ_OK)
        st = rj_kafka_producer_flush(w->producer, WK_FLUSH_TIMEOUT_MS, err);
    if (st == RJ_OK)
        st = rj_pg_commit(w->pg, err);
    return st;
}

typedef enum batch_outcome {
    BATCH_COMMITTED, /* written, offsets stored */
    BATCH_STOPPED,   /* a stop was requested while it kept failing; not committed */
    BATCH_FAILED,    /* kept failing for stall-timeout-ms; not committed */
    BATCH_DATA,      /* failed because of its data; not committed, not retried as it is */
} batch_outcome_t;

/*
 * Attempts until one commits. Infrastructure failures are retried with backoff; a
 * failure blamed on the data returns BATCH_DATA at once (with @p write; without it
 * nothing of the daemon's runs, so whatever fails is ours and is retried).
 */
static batch_outcome_t
commit_loop(wk_worker_t *w, const wk_ops_t *ops, void *opaque, const wk_batch_t *b, bool write,
            rj_error_t *data_err)
{
    rj_backoff_t bo;
    rj_backoff_init(&bo, w->opts.stall_timeout_ms);
    for (int tries = 1;; tries++) {
        rj_error_t err;
        rj_error_clear(&err);
        deadletters_truncate(w, w->dl_mark);
        rj_status_t st = attempt(w, ops, opaque, b, write, &err);
        if (st == RJ_OK)
            return BATCH_COMMITTED;
        if (rj_pg_in_transaction(w->pg))
            rj_pg_rollback(w->pg);
        if (write && rj_status_is_data(st)) {
            *data_err = err;
            return BATCH_DATA;
        }
        rj_metric_add(w->m_retries, 1);
        rj_proc_set_ready(false);
        rj_log(st == RJ_ERETRY || st == RJ_ECONFLICT ? RJ_LOG_WARN : RJ_LOG_ERROR, "worker",
               "could not commit batch, retrying: %s status=%s messages=%zu attempt=%d", err.msg,
               rj_status_name(st), b->n, tries);
        /* Giving up is always safe: nothing of the batch is committed, so it is
         * delivered again, from the stored offsets, to whoever consumes next. */
        if (!rj_backoff_wait(&bo))
            return rj_proc_stopping() ? BATCH_STOPPED : BATCH_FAILED;
    }
}

/* Bookkeeping once a batch (or a give-up) committed. */
static void
committed(wk_worker_t *w, const wk_batch_t *b, size_t n_msgs)
{
    rj_proc_set_ready(true);
    rj_metric_add(w->m_messages, (int64_t)n_msgs);
    rj_metric_add(w->m_batches, 1);
    for (size_t i = 0; i < w->n_dls; i++) {
        const deadletter_t *d = &w->dls[i];
        rj_metric_add(w->m_deadletters[d->kind], 1);
        if (d->kind == DL_UNWRITABLE && d->key != NULL) {
            const char *parts[] = {d->key};
            size_t v = 1;
            wk_index_upsert(&w->parked, parts, 1, &v);
        }
    }
    rj_metric_set(w->m_parked, (int64_t)w->parked.len);
    for (size_t i = 0; i < b->n_offs; i++)
        expect_set(w, b->offs[i].partition, b->offs[i].next_offset);
    rj_kafka_consumer_commit_async(w->consumer, b->offs, b->n_offs);
}

/*
 * Gives up on @p m, the one message its batch fails with: commits its dead letter, its
 * key's park and its offset, and nothing of the daemon's. Logged at error: an entity
 * stops here until an operator looks (docs/running.md, "Dead letters").
 */
static batch_outcome_t
give_up(wk_worker_t *w, const wk_ops_t *ops, void *opaque, rd_kafka_message_t *m,
        const rj_error_t *why)
{
    wk_batch_t b = {.msgs = &m, .n = 1};
    b.n_offs = rj_kafka_offsets_from_batch(&m, 1, &b.offs);
    deadletters_truncate(w, 0);
    char reason[RJ_ERROR_MSG_MAX + 64];
    snprintf(reason, sizeof reason, "%s (status=%s; later messages of this key are parked)",
             why->msg, rj_status_name(why->status));
    deadletter_record(w, m, NULL, DL_UNWRITABLE, reason);
    w->dl_mark = w->n_dls;
    rj_error_t unused;
    batch_outcome_t outcome = commit_loop(w, ops, opaque, &b, false, &unused);
    if (outcome == BATCH_COMMITTED)
        committed(w, &b, 1);
    deadletters_truncate(w, 0);
    rj_kafka_offsets_free(b.offs, b.n_offs);
    return outcome;
}

static batch_outcome_t
run_batch(wk_worker_t *w, const wk_ops_t *ops, void *opaque, rd_kafka_message_t **msgs, size_t n)
{
    int64_t t0 = rj_mono_us();
    wk_batch_t b = {0};
    b.n_offs = rj_kafka_offsets_from_batch(msgs, n, &b.offs);

    /* Messages of a parked key are dead-lettered behind the first, never written: the
       daemon does not see them, the offsets move past them. */
    deadletters_truncate(w, 0);
    rd_kafka_message_t **live = rj_xmalloc(n * sizeof *live);
    for (size_t i = 0; i < n; i++) {
        if (key_parked(w, msgs[i]))
            deadletter_record(w, msgs[i], NULL, DL_PARKED,
                              "not processed: an earlier message of this key was dead-lettered "
                              "and the key is parked (table parked_keys)");
        else
            live[b.n++] = msgs[i];
    }
    b.msgs = live;

    /* Gaps go with the first batch that has a message to report them against. */
    wk_gap_t *gaps = NULL;
    if (b.n > 0 && w->n_gaps > 0) {
        gaps = rj_xmalloc(w->n_gaps * sizeof *gaps);
        for (size_t g = 0; g < w->n_gaps; g++) {
            gaps[g] = w->gaps[g];
            gaps[g].msg = 0;
            for (size_t i = 0; i < b.n; i++)
                if (live[i]->partition == gaps[g].partition) {
                    gaps[g].msg = i;
                    break;
                }
        }
        b.gaps = gaps;
        b.n_gaps = w->n_gaps;
    }

    if (ops->prepare != NULL && b.n > 0)
        ops->prepare(opaque, w, &b);
    w->dl_mark = w->n_dls;

    rj_error_t data_err;
    rj_error_clear(&data_err);
    batch_outcome_t outcome = commit_loop(w, ops, opaque, &b, b.n > 0, &data_err);

    if (outcome == BATCH_COMMITTED) {
        committed(w, &b, n);
        if (b.n_gaps > 0) {
            /* Handed over and committed: the daemon did what it can about them. */
            memmove(w->gaps, w->gaps + b.n_gaps, (w->n_gaps - b.n_gaps) * sizeof *w->gaps);
            w->n_gaps -= b.n_gaps;
        }
        rj_metric_observe_us(w->m_latency, rj_mono_us() - t0);
        rj_debug("worker", "committed batch messages=%zu partitions=%zu deadletters=%zu", n,
                 b.n_offs, w->n_dls);
        if (ops->publish != NULL && b.n > 0)
            ops->publish(opaque, w, &b);
    } else if (outcome == BATCH_STOPPED) {
        rj_warn("worker",
                "stopping with an uncommitted batch; it will be delivered again "
                "messages=%zu",
                n);
    } else if (outcome == BATCH_FAILED) {
        rj_fatal("worker", "could not commit batch for %d ms, giving up messages=%zu",
                 w->opts.stall_timeout_ms, n);
    }

    if (ops->release != NULL && b.n > 0)
        ops->release(opaque, &b);
    deadletters_truncate(w, 0);
    rj_kafka_offsets_free(b.offs, b.n_offs);
    free(gaps);
    free(live);

    if (outcome != BATCH_DATA)
        return outcome;
    if (n == 1)
        return give_up(w, ops, opaque, msgs[0], &data_err);
    /* In log order: the first half's offsets are below the second's in every partition,
       so committing the halves one after the other stores what one commit would have. */
    rj_metric_add(w->m_splits, 1);
    rj_warn("worker", "batch failed because of its data, splitting it: %s status=%s messages=%zu",
            data_err.msg, rj_status_name(data_err.status), n);
    size_t half = n / 2;
    outcome = run_batch(w, ops, opaque, msgs, half);
    if (outcome != BATCH_COMMITTED)
        return outcome;
    return run_batch(w, ops, opaque, msgs + half, n - half);
}

int
wk_worker_run(wk_worker_t *w, const wk_ops_t *ops, void *opaque)
{
    rj_error_t err;
    rj_error_clear(&err);
    const rj_kafka_consumer_hooks_t hooks = {.on_assign = on_assign, .on_revoke = on_revoke};
    const char *topics[] = {w->topic};
    w->consumer =
        rj_kafka_consumer_new(w->common.kafka_brokers, w->group, w->opts.group_instance_id,
                              topics, 1, &hooks, w, &err);
    if (w->consumer == NULL) {
        rj_fatal("worker", "could not create consumer: %s group=%s", err.msg, w->group);
        return 1;
    }

    rj_proc_set_state(RJ_PROC_RUNNING);
    rj_proc_set_ready(true);
    rj_info("main", "consuming topic=%s group=%s batch-max=%d", w->topic, w->group,
            w->opts.batch_max);

    int rc = 0;
    size_t max = (size_t)w->opts.batch_max;
    rd_kafka_message_t **msgs = rj_xmalloc(max * sizeof *msgs);
    while (!rj_proc_stopping()) {
        rj_proc_heartbeat(w->common.liveness_timeout_ms);
        ssize_t got = rj_kafka_consume_batch(w->consumer, msgs, max, w->opts.poll_timeout_ms, &err);
        if (got < 0) {
            if (!rj_proc_stopping()) {
                rj_fatal("worker", "could not consume: %s topic=%s group=%s", err.msg, w->topic,
                         w->group);
                rc = 1;
            }
            break;
        }
        if (got == 0)
            continue;
        gaps_find(w, msgs, (size_t)got);
        batch_outcome_t outcome = run_batch(w, ops, opaque, msgs, (size_t)got);
        for (ssize_t i = 0; i < got; i++)
            rd_kafka_message_destroy(msgs[i]);
        if (outcome == BATCH_FAILED)
            rc = 1;
        if (outcome != BATCH_COMMITTED)
            break;
    }
    free(msgs);

    /* DRAINING: the batch in hand is committed (or safely abandoned); leave the group so
     * the partitions move to another member at once instead of after a session timeout. */
    if (rj_proc_state() == RJ_PROC_RUNNING)
        rj_proc_set_state(RJ_PROC_DRAINING);
    rj_proc_set_ready(false);
    rj_kafka_consumer_free(w->consumer);
    w->consumer = NULL;
    return rc;
}
