/*
 * pg.c - the PostgreSQL connection declared in pg.h: connect and session setup,
 * statement execution with one error translation, prepared statements, BEGIN/
 * COMMIT/ROLLBACK, and the consumer-offset store.
 *
 * Connection loss is handled at the statement that notices it: the session is
 * re-established (including search_path) and the statement fails with
 * RJ_ERETRY, because whatever transaction it belonged to is gone with the old
 * session and only the caller can redo it. We never retry a statement here.
 *
 * Migrations live in migrate.c; array literals in array.c.
 */
#include "pg/pg.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "log/log.h"
#include "pg/pg_int.h"

struct rj_pg {
    PGconn *conn;      /* the session; replaced on reconnect */
    char *url;         /* connection string, for reconnects */
    char *schema;      /* app schema, first in search_path */
    char **prepared;   /* names prepared in the current session */
    size_t nprepared;  /* used slots of prepared */
    size_t cap;        /* allocated slots of prepared */
};

/* NOTICEs (e.g. "relation already exists, skipping") are debug output, not stderr noise. */
static void
pg_notice_processor(void *arg, const char *message)
{
    size_t len = strlen(message);
    while (len > 0 && message[len - 1] == '\n')
        len--;
    rj_debug(RJ_PG_LOG, "server notice: %.*s", (int)len, message);
}

/*
 * libpq messages end with a newline and some span several lines ("server closed
 * the connection unexpectedly\n\tThis probably means..."); errors and log lines
 * are one line each, so fold them.
 */
static const char *
pg_trim(char *buf, size_t size, const char *msg)
{
    snprintf(buf, size, "%s", msg != NULL && *msg != '\0' ? msg : "unknown error");
    size_t len = strlen(buf);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    char *w = buf;
    for (const char *r = buf; *r != '\0'; r++) {
        if (*r == '\n' || *r == '\t') {
            if (w > buf && w[-1] != ' ')
                *w++ = ' ';
            continue;
        }
        *w++ = *r;
    }
    *w = '\0';
    return buf;
}

/*
 * Guesses whether a failed connection attempt is worth retrying. libpq gives no
 * SQLSTATE for failed connections, so go by what cannot fix itself: wrong
 * credentials and missing databases; everything else (refused, starting up,
 * too many clients, DNS hiccups) is transient.
 */
static rj_status_t
pg_connect_failure_status(const char *msg)
{
    static const char *const permanent[] = {
        "authentication failed", "password", "does not exist", "no pg_hba.conf entry",
        "permission denied",
    };
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++)
        if (strstr(msg, permanent[i]) != NULL)
            return RJ_EIO;
    return RJ_ERETRY;
}

static void
pg_forget_prepared(rj_pg_t *pg)
{
    for (size_t i = 0; i < pg->nprepared; i++)
        free(pg->prepared[i]);
    pg->nprepared = 0;
}

/* Runs the per-session setup on a fresh connection: search_path, notices. */
static rj_status_t
pg_session_setup(rj_pg_t *pg, rj_error_t *err)
{
    PQsetNoticeProcessor(pg->conn, pg_notice_processor, NULL);
    char *ident = PQescapeIdentifier(pg->conn, pg->schema, strlen(pg->schema));
    if (ident == NULL) {
        char m[256];
        return rj_error_set(err, RJ_EINVAL, "could not quote schema name: %s schema=%s",
                            pg_trim(m, sizeof m, PQerrorMessage(pg->conn)), pg->schema);
    }
    char *path = rj_xasprintf("%s, public", ident);
    PQfreemem(ident);
    const char *params[] = {path};
    PGresult *res = PQexecParams(pg->conn, "SELECT pg_catalog.set_config('search_path', $1, false)",
                                 1, NULL, params, NULL, NULL, 0);
    free(path);
    rj_status_t st = RJ_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char m[RJ_ERROR_MSG_MAX];
        st = rj_error_set(err, RJ_ERETRY, "could not set search_path: %s",
                          pg_trim(m, sizeof m, PQerrorMessage(pg->conn)));
    }
    PQclear(res);
    return st;
}

/* Opens a new session on pg->url, replacing any old one. */
static rj_status_t
pg_open(rj_pg_t *pg, rj_error_t *err)
{
    if (pg->conn != NULL)
        PQfinish(pg->conn);
    pg_forget_prepared(pg);
    pg->conn = PQconnectdb(pg->url);
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        char m[RJ_ERROR_MSG_MAX];
        pg_trim(m, sizeof m, PQerrorMessage(pg->conn));
        return rj_error_set(err, pg_connect_failure_status(m),
                            "could not connect to PostgreSQL: %s", m);
    }
    return pg_session_setup(pg, err);
}

rj_pg_t *
rj_pg_connect(const char *url, const char *schema, rj_error_t *err)
{
    if (schema == NULL || *schema == '\0') {
        rj_error_set(err, RJ_EINVAL, "could not connect to PostgreSQL: empty schema name");
        return NULL;
    }
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (opts == NULL) {
        char m[RJ_ERROR_MSG_MAX];
        rj_error_set(err, RJ_EINVAL, "could not parse PostgreSQL connection string: %s",
                     pg_trim(m, sizeof m, perr));
        PQfreemem(perr);
        return NULL;
    }
    PQconninfoFree(opts);

    rj_pg_t *pg = rj_xcalloc(1, sizeof *pg);
    pg->url = rj_xstrdup(url);
    pg->schema = rj_xstrdup(schema);
    if (pg_open(pg, err) != RJ_OK) {
        rj_pg_free(pg);
        return NULL;
    }
    rj_debug(RJ_PG_LOG, "connected schema=%s", schema);
    return pg;
}

rj_pg_t *
rj_pg_connect_retry(const char *url, const char *schema, int timeout_ms, rj_error_t *err)
{
    int64_t deadline = rj_mono_us() + (int64_t)timeout_ms * 1000;
    int backoff_ms = 50;
    for (int attempt = 1;; attempt++) {
        rj_error_t e = {0};
        rj_pg_t *pg = rj_pg_connect(url, schema, &e);
        if (pg != NULL)
            return pg;
        if (e.status != RJ_ERETRY || rj_mono_us() + (int64_t)backoff_ms * 1000 > deadline) {
            if (err != NULL)
                *err = e;
            return NULL;
        }
        if (attempt == 1 || attempt % 10 == 0)
            rj_info(RJ_PG_LOG, "waiting for PostgreSQL: %s attempt=%d", e.msg, attempt);
        struct timespec ts = {.tv_sec = backoff_ms / 1000,
                              .tv_nsec = (long)(backoff_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        backoff_ms = backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2;
    }
}

void
rj_pg_free(rj_pg_t *pg)
{
    if (pg == NULL)
        return;
    if (pg->conn != NULL)
        PQfinish(pg->conn);
    pg_forget_prepared(pg);
    free(pg->prepared);
    free(pg->url);
    free(pg->schema);
    free(pg);
}

PGconn *
rj_pg_conn(rj_pg_t *pg)
{
    return pg->conn;
}

const char *
rj_pg_schema(const rj_pg_t *pg)
{
    return pg->schema;
}

bool
rj_pg_in_transaction(rj_pg_t *pg)
{
    PGTransactionStatusType t = PQtransactionStatus(pg->conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/*
 * Turns a finished statement into a status. Consumes @p res unless it is
 * returned through @p res_out. A lost session is re-opened here (so the next
 * transaction can start at once) and reported as RJ_ERETRY.
 */
static rj_status_t
pg_finish(rj_pg_t *pg, PGresult *res, PGresult **res_out, rj_error_t *err)
{
    ExecStatusType rs = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK || rs == PGRES_EMPTY_QUERY) {
        if (res_out != NULL)
            *res_out = res;
        else
            PQclear(res);
        return RJ_OK;
    }

    char m[RJ_ERROR_MSG_MAX];
    pg_trim(m, sizeof m, res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
    if (m[0] == '\0' || strcmp(m, "unknown error") == 0)
        pg_trim(m, sizeof m, PQerrorMessage(pg->conn));
    /* Copied: the field lives in @p res, which is cleared before the message is built. */
    char sqlstate[8] = "";
    const char *field = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (field != NULL)
        snprintf(sqlstate, sizeof sqlstate, "%s", field);
    const char *state = sqlstate[0] != '\0' ? sqlstate : NULL;
    rj_status_t st = RJ_EIO;
    /* Copied too: a data exception's own words are what a client may be shown. */
    char primary[RJ_ERROR_MSG_MAX] = "";
    field = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (field != NULL)
        pg_trim(primary, sizeof primary, field);

    if (PQstatus(pg->conn) == CONNECTION_BAD) {
        rj_warn(RJ_PG_LOG, "connection lost, reconnecting: %s", m);
        rj_error_t rerr = {0};
        if (pg_open(pg, &rerr) != RJ_OK)
            rj_warn(RJ_PG_LOG, "%s", rerr.msg);
        st = RJ_ERETRY;
    } else if (state != NULL) {
        if (strcmp(state, "23505") == 0)                     /* unique_violation */
            st = RJ_ECONFLICT;
        else if ((strncmp(state, "22", 2) == 0 ||  /* data_exception */
                  strncmp(state, "23", 2) == 0) && /* integrity_constraint_violation */
                 primary[0] != '\0')
            st = RJ_EINVAL;
        else if (strncmp(state, "54", 2) == 0 && primary[0] != '\0') /* program_limit_exceeded */
            st = RJ_ETOOBIG;
        else if (strcmp(state, "40001") == 0 ||  /* serialization_failure */
                 strcmp(state, "40P01") == 0 ||  /* deadlock_detected */
                 strncmp(state, "08", 2) == 0 || /* connection_exception */
                 strcmp(state, "57P01") == 0 ||  /* admin_shutdown */
                 strcmp(state, "57P03") == 0 ||  /* cannot_connect_now */
                 strcmp(state, "53300") == 0)    /* too_many_connections */
            st = RJ_ERETRY;
    }
    PQclear(res);
    if (st == RJ_ECONFLICT)
        return rj_error_set(err, st, "could not execute statement: %s", m);
    /* A value in the statement was refused (an invalid regular expression in a filter, a
       number out of range, a constraint, a key too long for its index): the input is at
       fault, and PostgreSQL's primary message, which names the problem and not the
       statement, is all that is reported. Consumers dead-letter the message that caused it
       (rj_status_is_data) instead of retrying it forever. */
    if (st == RJ_EINVAL || st == RJ_ETOOBIG)
        return rj_error_set(err, st, "%s", primary);
    return rj_error_set(err, st, "could not execute statement: %s%s%s", m,
                        state != NULL ? " sqlstate=" : "", state != NULL ? state : "");
}

/* Re-opens a session found broken before a statement is sent on it. */
static rj_status_t
pg_ensure_open(rj_pg_t *pg, rj_error_t *err)
{
    if (PQstatus(pg->conn) == CONNECTION_OK)
        return RJ_OK;
    rj_warn(RJ_PG_LOG, "connection is broken, reconnecting");
    rj_status_t st = pg_open(pg, err);
    /* Even when it worked, any transaction in progress is gone: the caller redoes it. */
    if (st == RJ_OK)
        return rj_error_set(err, RJ_ERETRY,
                            "could not execute statement: connection to PostgreSQL was reset");
    return st == RJ_ERETRY || st == RJ_EIO ? RJ_ERETRY : st;
}

rj_status_t
rj_pg_exec(rj_pg_t *pg, const char *sql, int nparams, const char *const *values,
           PGresult **res_out, rj_error_t *err)
{
    rj_status_t st = pg_ensure_open(pg, err);
    if (st != RJ_OK)
        return st;
    PGresult *res = nparams == 0
                        ? PQexec(pg->conn, sql)
                        : PQexecParams(pg->conn, sql, nparams, NULL, values, NULL, NULL, 0);
    return pg_finish(pg, res, res_out, err);
}

static bool
pg_is_prepared(const rj_pg_t *pg, const char *name)
{
    for (size_t i = 0; i < pg->nprepared; i++)
        if (strcmp(pg->prepared[i], name) == 0)
            return true;
    return false;
}

rj_status_t
rj_pg_exec_prepared(rj_pg_t *pg, const char *name, const char *sql, int nparams,
                    const char *const *values, PGresult **res_out, rj_error_t *err)
{
    rj_status_t st = pg_ensure_open(pg, err);
    if (st != RJ_OK)
        return st;
    if (!pg_is_prepared(pg, name)) {
        st = pg_finish(pg, PQprepare(pg->conn, name, sql, nparams, NULL), NULL, err);
        if (st != RJ_OK)
            return st;
        if (pg->nprepared == pg->cap) {
            pg->cap = pg->cap ? pg->cap * 2 : 16;
            pg->prepared = rj_xrealloc(pg->prepared, pg->cap * sizeof *pg->prepared);
        }
        pg->prepared[pg->nprepared++] = rj_xstrdup(name);
        rj_debug(RJ_PG_LOG, "prepared statement name=%s", name);
    }
    PGresult *res = PQexecPrepared(pg->conn, name, nparams, values, NULL, NULL, 0);
    return pg_finish(pg, res, res_out, err);
}

rj_status_t
rj_pg_exec_stream(rj_pg_t *pg, const char *sql, int nparams, const char *const *values,
                  rj_pg_row_fn row_fn, void *opaque, rj_error_t *err)
{
    rj_status_t st = pg_ensure_open(pg, err);
    if (st != RJ_OK)
        return st;
    if (!PQsendQueryParams(pg->conn, sql, nparams, NULL, values, NULL, NULL, 0))
        return pg_finish(pg, NULL, NULL, err);
    /* Without single-row mode the rows come as one result: the loop handles both. */
    (void)PQsetSingleRowMode(pg->conn);
    PGresult *res;
    while ((res = PQgetResult(pg->conn)) != NULL) {
        ExecStatusType rs = PQresultStatus(res);
        if (rs == PGRES_SINGLE_TUPLE || rs == PGRES_TUPLES_OK) {
            for (int r = 0; st == RJ_OK && r < PQntuples(res); r++)
                st = row_fn(opaque, res, r, err);
            PQclear(res);
        } else if (st == RJ_OK) {
            /* Translates and clears; a lost session is re-opened there, and the new one
             * has no results pending, so the loop ends. */
            st = pg_finish(pg, res, NULL, err);
        } else {
            PQclear(res);
        }
    }
    return st;
}

rj_status_t
rj_pg_begin(rj_pg_t *pg, rj_error_t *err)
{
    return rj_pg_exec(pg, "BEGIN", 0, NULL, NULL, err);
}

rj_status_t
rj_pg_commit(rj_pg_t *pg, rj_error_t *err)
{
    PGresult *res = NULL;
    rj_status_t st = rj_pg_exec(pg, "COMMIT", 0, NULL, &res, err);
    if (st != RJ_OK)
        return st;
    /* COMMIT of a transaction that already failed answers "ROLLBACK" without an error. */
    bool rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back)
        return rj_error_set(err, RJ_EIO,
                            "could not commit transaction: it was aborted by an earlier error");
    return RJ_OK;
}

void
rj_pg_rollback(rj_pg_t *pg)
{
    if (PQstatus(pg->conn) != CONNECTION_OK)
        return;
    rj_error_t e = {0};
    if (rj_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, &e) != RJ_OK)
        rj_warn(RJ_PG_LOG, "%s", e.msg);
}

char *
rj_pg_quote_ident(rj_pg_t *pg, const char *ident)
{
    char *q = PQescapeIdentifier(pg->conn, ident, strlen(ident));
    if (q == NULL) {
        /*
         * libpq fails only on invalid multibyte input (or OOM). Quote by hand
         * then: doubling '"' is all an identifier needs.
         */
        rj_buf_t b;
        rj_buf_init(&b);
        rj_buf_putc(&b, '"');
        for (const char *s = ident; *s; s++) {
            if (*s == '"')
                rj_buf_putc(&b, '"');
            rj_buf_putc(&b, *s);
        }
        rj_buf_putc(&b, '"');
        return rj_buf_steal(&b);
    }
    char *out = rj_xstrdup(q);
    PQfreemem(q);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Consumer offsets                                                          */
/* ------------------------------------------------------------------------ */

rj_status_t
rj_pg_offsets_load(rj_pg_t *pg, const char *group, rd_kafka_topic_partition_list_t *parts,
                   rj_error_t *err)
{
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;

    const char *params[] = {group};
    PGresult *res = NULL;
    rj_status_t st = rj_pg_exec_prepared(
        pg, "rj_offsets_load",
        "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1", 1,
        params, &res, err);
    if (st != RJ_OK)
        return st;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *topic = PQgetvalue(res, r, 0);
        int32_t partition = (int32_t)strtol(PQgetvalue(res, r, 1), NULL, 10);
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(parts, topic, partition);
        if (tp != NULL)
            tp->offset = strtoll(PQgetvalue(res, r, 2), NULL, 10);
    }
    PQclear(res);
    return RJ_OK;
}

/*
 * One statement for the row and the park. md5 keys the park: a key can be longer than a
 * btree entry may be (the 3,000-character entity id that may be why it is here).
 */
static const char pg_deadletter_sql[] =
    "WITH d AS (INSERT INTO dead_letters (daemon, topic, partition, \"offset\", reason,"
    " envelope) VALUES ($1, $2, $3::int, $4::bigint, $5, $6) RETURNING id)"
    " INSERT INTO parked_keys (consumer_group, topic, key_md5, key, dead_letter_id)"
    " SELECT $7::text, $2, md5($8::text), $8::text, d.id FROM d"
    " WHERE $7::text IS NOT NULL AND $8::text IS NOT NULL ON CONFLICT DO NOTHING";

rj_status_t
rj_pg_deadletter_insert(rj_pg_t *pg, const rj_pg_deadletter_t *dl, rj_error_t *err)
{
    char partition[16], offset[24];
    snprintf(partition, sizeof partition, "%d", (int)dl->partition);
    snprintf(offset, sizeof offset, "%" PRId64, dl->offset);
    /* PostgreSQL's text refuses what is not UTF-8; a hostile key must not make the dead
       letter that reports it fail. The envelope is JSON from jansson: UTF-8 already. */
    char *key = NULL;
    if (dl->group != NULL && dl->key != NULL) {
        json_t *probe = json_string(dl->key);
        key = rj_xstrdup(dl->key);
        if (probe == NULL)
            for (char *c = key; *c != '\0'; c++)
                if ((unsigned char)*c >= 0x80)
                    *c = '?';
        json_decref(probe);
    }
    const char *params[] = {dl->daemon, dl->topic,    partition, offset,
                            dl->reason, dl->envelope, dl->group, key};
    rj_status_t st =
        rj_pg_exec_prepared(pg, "rj_deadletter_insert", pg_deadletter_sql, 8, params, NULL, err);
    free(key);
    return st;
}

rj_status_t
rj_pg_offsets_store(rj_pg_t *pg, const char *group, const rj_kafka_offset_t *offs, size_t n,
                    rj_error_t *err)
{
    if (n == 0)
        return RJ_OK;
    rj_buf_t partitions, offsets;
    rj_buf_init(&partitions);
    rj_buf_init(&offsets);
    const char **topics = rj_xcalloc(n, sizeof *topics);
    rj_buf_putc(&partitions, '{');
    rj_buf_putc(&offsets, '{');
    for (size_t i = 0; i < n; i++) {
        topics[i] = offs[i].topic;
        rj_buf_printf(&partitions, "%s%" PRId32, i ? "," : "", offs[i].partition);
        rj_buf_printf(&offsets, "%s%" PRId64, i ? "," : "", offs[i].next_offset);
    }
    rj_buf_putc(&partitions, '}');
    rj_buf_putc(&offsets, '}');
    char *topic_arr = rj_pg_array_literal(topics, n);

    const char *params[] = {group, topic_arr, partitions.data, offsets.data};
    rj_status_t st = rj_pg_exec_prepared(
        pg, "rj_offsets_store",
        "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
        "SELECT $1, u.topic, u.partition, u.next_offset "
        "FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(topic, partition, next_offset) "
        "ON CONFLICT (consumer_group, topic, partition) "
        "DO UPDATE SET next_offset = EXCLUDED.next_offset",
        4, params, NULL, err);

    free(topic_arr);
    free(topics);
    rj_buf_deinit(&partitions);
    rj_buf_deinit(&offsets);
    return st;
}

rj_status_t
rj_pg_offsets_adopt(rj_pg_t *pg, const char *legacy, const char *group, int *moved,
                    rj_error_t *err)
{
    const char *params[] = {legacy, group};
    PGresult *res = NULL;
    rj_status_t st = rj_pg_exec(
        pg,
        "WITH fresh AS (SELECT NOT EXISTS (SELECT 1 FROM consumer_offsets"
        "                                  WHERE consumer_group = $2) AS yes),"
        " o AS (UPDATE consumer_offsets SET consumer_group = $2"
        "       WHERE consumer_group = $1 AND (SELECT yes FROM fresh) RETURNING 1),"
        " k AS (UPDATE parked_keys SET consumer_group = $2"
        "       WHERE consumer_group = $1 AND (SELECT yes FROM fresh) RETURNING 1)"
        " SELECT (SELECT count(*) FROM o), (SELECT count(*) FROM k)",
        2, params, &res, err);
    if (st != RJ_OK)
        return st;
    int offsets = atoi(PQgetvalue(res, 0, 0)), parked = atoi(PQgetvalue(res, 0, 1));
    PQclear(res);
    if (offsets > 0 || parked > 0)
        rj_info(RJ_PG_LOG, "consumer group renamed from=%s to=%s offsets=%d parked_keys=%d",
                legacy, group, offsets, parked);
    if (moved != NULL)
        *moved = offsets;
    return RJ_OK;
}
