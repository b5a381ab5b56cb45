/*
 * pg/pg.h - Ramjet's layer over libpq: one connection bound to the app's schema,
 * statement execution with errors translated once (SQLSTATE 23505 -> conflict,
 * lost connections, serialization failures and deadlocks -> retry), prepared
 * statements by name, migrations of Ramjet's own tables, and the consumer-offset
 * store the exactly-once scheme rests on (docs/architecture.md).
 *
 * A connection that breaks is noticed when a statement fails; the layer resets
 * it and returns RJ_ERETRY for that statement, so the caller redoes its whole
 * transaction (the server rolled it back). Prepared statements are forgotten on
 * reset and prepared again on next use.
 *
 * Conventions of this header: a connection is used by one thread at a time;
 * pointer parameters are borrowed for the call; PGresults handed out are the
 * caller's to PQclear.
 *
 * Values are always bound as parameters in text form; identifiers are quoted
 * with PQescapeIdentifier. Deliberately not here: connection pools (each daemon
 * thread owns one connection), asynchronous queries, and SQL generation for
 * read-model filters (that is the gateway's).
 */
#ifndef RJ_PG_H
#define RJ_PG_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"
#include "kafka/kafka.h"
#include "rj/status.h"

typedef struct rj_pg rj_pg_t;

/**
 * Connects to PostgreSQL and sets search_path to @p schema (then public), so
 * unqualified table names resolve in the app's schema. The schema need not
 * exist yet (rj_pg_migrate creates it).
 *
 * @param url     libpq connection string or URI; borrowed
 * @param schema  the app name, e.g. "shop"; borrowed
 * @return the connection, or NULL with @p err set (RJ_ERETRY when the server
 *         is unreachable, RJ_EINVAL on a bad schema name, RJ_EIO otherwise)
 *
 * Ownership: the caller frees it with rj_pg_free. A connection is used by one
 * thread at a time.
 */
rj_pg_t *rj_pg_connect(const char *url, const char *schema, rj_error_t *err);

/**
 * rj_pg_connect, retried with exponential backoff (50 ms doubling to 1 s) for
 * up to @p timeout_ms while the server is starting or unreachable. Errors other
 * than RJ_ERETRY fail at once.
 */
rj_pg_t *rj_pg_connect_retry(const char *url, const char *schema, int timeout_ms,
                             rj_error_t *err);

/** Closes the connection. NULL is a no-op. Ownership: consumes @p pg. */
void rj_pg_free(rj_pg_t *pg);

/** The libpq connection, for escaping and COPY. Borrowed; may change after a reset. */
PGconn *rj_pg_conn(rj_pg_t *pg);

/** The schema given at connect. Borrowed. */
const char *rj_pg_schema(const rj_pg_t *pg);

/**
 * Runs one statement with @p nparams text parameters ($1..$n; NULL elements are
 * SQL NULL). With @p nparams == 0 the simple-query protocol is used, so @p sql
 * may then hold several statements (the result is the last one's).
 *
 * @param values  nparams strings; borrowed
 * @param res_out on RJ_OK, the result (caller PQclear()s it); may be NULL, then
 *                the result is cleared here. Untouched on error.
 * @return RJ_OK; RJ_ECONFLICT on unique_violation (23505); RJ_ERETRY when the
 *         connection was lost (it has been reset: redo the transaction) or on
 *         serialization_failure/deadlock (40001/40P01); RJ_EIO otherwise, with
 *         "could not execute statement: <libpq message>"
 */
rj_status_t rj_pg_exec(rj_pg_t *pg, const char *sql, int nparams, const char *const *values,
                       PGresult **res_out, rj_error_t *err);

/**
 * Like rj_pg_exec, through a prepared statement named @p name, prepared from
 * @p sql the first time it is used on this connection (and again after a reset).
 * The same name must always come with the same SQL.
 */
rj_status_t rj_pg_exec_prepared(rj_pg_t *pg, const char *name, const char *sql, int nparams,
                                const char *const *values, PGresult **res_out, rj_error_t *err);

/**
 * Called by rj_pg_exec_stream for each row, in order.
 * @param res  the result holding the row; borrowed for the call
 * @param row  the row's index in @p res
 * @return RJ_OK to go on; anything else stops the rows (rj_pg_exec_stream returns it)
 */
typedef rj_status_t (*rj_pg_row_fn)(void *opaque, const PGresult *res, int row, rj_error_t *err);

/**
 * Like rj_pg_exec, but hands the rows to @p row_fn one at a time as they arrive (libpq's
 * single-row mode), so a result of any size passes through constant memory. The statement
 * always runs to its end; when @p row_fn stops, the remaining rows are read and dropped.
 *
 * @return RJ_OK; @p row_fn's status; or rj_pg_exec's statuses
 */
rj_status_t rj_pg_exec_stream(rj_pg_t *pg, const char *sql, int nparams, const char *const *values,
                              rj_pg_row_fn row_fn, void *opaque, rj_error_t *err);

/** BEGIN. */
rj_status_t rj_pg_begin(rj_pg_t *pg, rj_error_t *err);
/** COMMIT; RJ_ERETRY when the server aborted the transaction (serialization, lost link). */
rj_status_t rj_pg_commit(rj_pg_t *pg, rj_error_t *err);
/** ROLLBACK; errors are logged, never returned (a lost connection rolled back already). */
void rj_pg_rollback(rj_pg_t *pg);

/** True when the connection is inside a transaction block (PQtransactionStatus). */
bool rj_pg_in_transaction(rj_pg_t *pg);

/**
 * Creates the app schema and Ramjet's own tables and indexes (events, snapshots,
 * entity_heads, command_outbox, consumer_offsets, projected_entities,
 * schema_migrations) as docs/architecture.md lists them. Idempotent and safe
 * when several daemons start at once (one transaction under an advisory lock);
 * records applied versions in schema_migrations.
 */
rj_status_t rj_pg_migrate(rj_pg_t *pg, rj_error_t *err);

/**
 * Creates the read-model table rm_<lower(name)> (id, seq, version, value,
 * updated_at; primary key (id, seq)) when missing. Idempotent.
 */
rj_status_t rj_pg_ensure_read_model_table(rj_pg_t *pg, const char *name, rj_error_t *err);

/**
 * The quoted table name of read model @p name: "rm_cartreadmodel" (quoted with
 * PQescapeIdentifier, unqualified: search_path resolves it).
 * Ownership: a new string the caller free()s.
 */
char *rj_pg_read_model_table(rj_pg_t *pg, const char *name);

/** @p ident quoted as an SQL identifier. Ownership: a new string the caller free()s. */
char *rj_pg_quote_ident(rj_pg_t *pg, const char *ident);

/**
 * Loads stored next offsets for @p group: sets each element's .offset in
 * @p parts to the stored value, or RD_KAFKA_OFFSET_BEGINNING when none is
 * stored. Meant for rj_kafka_consumer_hooks_t.on_assign. @p parts is borrowed
 * and modified in place.
 */
rj_status_t rj_pg_offsets_load(rj_pg_t *pg, const char *group,
                               rd_kafka_topic_partition_list_t *parts, rj_error_t *err);

/**
 * Upserts the next offsets of @p group in one statement. Run it inside the
 * transaction that holds the writes those messages caused. The last write wins,
 * even when it moves an offset backwards: re-reading is safe (every writer
 * dedupes), skipping is not (after the dev broker lost its log, a "never
 * backwards" rule would park the offset past messages nobody processed).
 */
rj_status_t rj_pg_offsets_store(rj_pg_t *pg, const char *group, const rj_kafka_offset_t *offs,
                                size_t n, rj_error_t *err);
/**
 * Moves the stored offsets and parked keys of consumer group @p legacy to @p group, once:
 * only while @p group has no offsets of its own, so a later call (another replica, the
 * next start) changes nothing. One statement: replicas starting together cannot both
 * move the rows. Sets *@p moved (may be NULL) to the number of offset rows moved.
 *
 * For a group renamed between releases (groups were named "ramjet-<daemon>" before they
 * took the application's name, rj_kafka_group_name): the consumer resumes where the old
 * name stopped instead of reading its topic from the beginning. A replica of the old release still running after
 * the move stores offsets under the old name, which nothing reads again; what it
 * processed meanwhile is processed again by the new group, and every writer dedupes.
 */
rj_status_t rj_pg_offsets_adopt(rj_pg_t *pg, const char *legacy, const char *group, int *moved,
                                rj_error_t *err);

/** Where a dead letter came from and what it is; every pointer borrowed for the call. */
typedef struct rj_pg_deadletter {
    const char *daemon;   /* e.g. "ramjet-reducer" */
    const char *topic;    /* the consumed topic */
    int32_t partition;    /* the message's partition */
    int64_t offset;       /* the message's offset */
    const char *reason;   /* a short label: rejected, unwritable, parked, undecodable */
    const char *envelope; /* the dead-letter envelope, as produced to <app>.deadletters */
    const char *group;    /* consumer group that parks @p key, or NULL to park nothing */
    const char *key;      /* the message key to park; may be NULL (nothing parked) */
} rj_pg_deadletter_t;

/**
 * Inserts a dead letter into the dead_letters table and, when @p dl->group and
 * @p dl->key are set, parks the key in parked_keys for that group and topic (a key
 * already parked stays parked behind its first dead letter). A key that is not UTF-8 is
 * stored with its non-ASCII bytes as '?'. Run it inside the transaction that moves the
 * offsets past the message.
 */
rj_status_t rj_pg_deadletter_insert(rj_pg_t *pg, const rj_pg_deadletter_t *dl, rj_error_t *err);


/**
 * Appends a PostgreSQL array literal of @p n text elements to @p out:
 * {"a","b\"c",NULL}. NULL elements become NULL; every other element is
 * double-quoted with backslash and quote escaped, so any string survives. Use
 * with `unnest($1::text[])` for bulk statements. An empty array is "{}".
 */
void rj_pg_array_append(rj_buf_t *out, const char *const *items, size_t n);

/** rj_pg_array_append into a new string the caller free()s. */
char *rj_pg_array_literal(const char *const *items, size_t n);

#endif
