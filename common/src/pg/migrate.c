/*
 * migrate.c - creates the app schema and Ramjet's own tables (docs/architecture.md,
 * "PostgreSQL"), and the per-read-model tables.
 *
 * Every daemon runs rj_pg_migrate at start, so several may run it at once. One
 * transaction holds a transaction-scoped advisory lock while it creates the
 * schema, reads schema_migrations and applies the missing steps; the others
 * wait on the lock and then find nothing to do. (CREATE ... IF NOT EXISTS alone
 * is not enough: two sessions creating the same relation race on the catalog's
 * unique indexes and one fails.)
 *
 * Steps are append-only: a released step is never edited, a change is a new
 * step. The DDL names the schema explicitly ({S}) rather than relying on
 * search_path, which may have named the schema before it existed.
 *
 * Not here: the application's own data migrations (upcasters), which run on
 * events as they are read.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "log/log.h"
#include "pg/pg.h"
#include "pg/pg_int.h"

/* Key of the advisory lock every Ramjet migration takes ("RAMJET" in ASCII). */
#define MIGRATE_LOCK_KEY "82657774698384"

typedef struct migration {
    int version;      /* schema_migrations.version */
    const char *name; /* what it does, recorded beside the version */
    const char *sql;  /* statements; {S} stands for the quoted schema */
} migration_t;

static const migration_t migrations[] = {
    {1, "ramjet core tables",
     /* The event store: append-only; the unique key is the per-entity version. */
     "CREATE TABLE IF NOT EXISTS {S}.events ("
     "  event_id uuid PRIMARY KEY,"
     "  entity_type text NOT NULL,"
     "  entity_id text NOT NULL,"
     "  version bigint NOT NULL,"
     "  type text NOT NULL,"
     "  request_id text,"
     "  created_at timestamptz NOT NULL DEFAULT now(),"
     "  value jsonb,"
     "  \"current_user\" jsonb,"
     "  UNIQUE (entity_type, entity_id, version));"
     "CREATE INDEX IF NOT EXISTS events_type_created_at_idx ON {S}.events (type, created_at);"
     "CREATE INDEX IF NOT EXISTS events_entity_created_at_idx"
     "  ON {S}.events (entity_type, entity_id, created_at);"
     /* Latest state per entity, written by the reducer. */
     "CREATE TABLE IF NOT EXISTS {S}.snapshots ("
     "  entity_type text NOT NULL,"
     "  entity_id text NOT NULL,"
     "  version bigint NOT NULL,"
     "  value jsonb,"
     "  last_event_id uuid,"
     "  updated_at timestamptz NOT NULL DEFAULT now(),"
     "  PRIMARY KEY (entity_type, entity_id));"
     /* The command processor's version claims. */
     "CREATE TABLE IF NOT EXISTS {S}.entity_heads ("
     "  entity_type text NOT NULL,"
     "  entity_id text NOT NULL,"
     "  version bigint NOT NULL,"
     "  PRIMARY KEY (entity_type, entity_id));"
     /* Handled commands whose events may not be produced yet, and their replies. */
     "CREATE TABLE IF NOT EXISTS {S}.command_outbox ("
     "  request_id text PRIMARY KEY,"
     "  partition int NOT NULL,"
     "  seq bigserial NOT NULL,"
     "  produced boolean NOT NULL DEFAULT false,"
     "  events jsonb,"
     "  reply jsonb,"
     "  created_at timestamptz NOT NULL DEFAULT now());"
     "CREATE INDEX IF NOT EXISTS command_outbox_pending_idx"
     "  ON {S}.command_outbox (partition, seq) WHERE NOT produced;"
     "CREATE INDEX IF NOT EXISTS command_outbox_created_at_idx"
     "  ON {S}.command_outbox (created_at) WHERE produced;"
     /* Next offset per partition, committed with the writes the messages caused. */
     "CREATE TABLE IF NOT EXISTS {S}.consumer_offsets ("
     "  consumer_group text NOT NULL,"
     "  topic text NOT NULL,"
     "  partition int NOT NULL,"
     "  next_offset bigint NOT NULL,"
     "  PRIMARY KEY (consumer_group, topic, partition));"
     /* The newest entity version each read model was projected from. */
     "CREATE TABLE IF NOT EXISTS {S}.projected_entities ("
     "  entity_type text NOT NULL,"
     "  entity_id text NOT NULL,"
     "  version bigint NOT NULL,"
     "  PRIMARY KEY (entity_type, entity_id));"},
    {2, "command outbox events index",
     /* rj_entity_get finds the events the event-store writer has not written yet by
        containment, events @> '[{"entity": E, "entityId": I}]'; jsonb_path_ops indexes
        exactly that operator, smaller than the default jsonb_ops. */
     "CREATE INDEX IF NOT EXISTS command_outbox_events_idx"
     "  ON {S}.command_outbox USING gin (events jsonb_path_ops);"},
    {3, "dead letters and parked keys",
     /* Every message a daemon gave up on, with its error: the same envelope as on
        <app>.deadletters (text, not jsonb: jsonb refuses the escaped NUL a hostile message
        may carry), written in the transaction that moves the offsets past it, so an
        operator can find it with SQL even when nobody consumes the topic. */
     "CREATE TABLE IF NOT EXISTS {S}.dead_letters ("
     "  id bigserial PRIMARY KEY,"
     "  daemon text NOT NULL,"
     "  topic text NOT NULL,"
     "  partition int NOT NULL,"
     "  \"offset\" bigint NOT NULL,"
     "  reason text NOT NULL,"
     "  envelope text NOT NULL,"
     "  created_at timestamptz NOT NULL DEFAULT now());"
     /* Message keys (entities) a consumer group stopped at: later messages of the key are
        dead-lettered behind the first, so the entity's order is kept and nothing is
        applied on top of a hole. Keyed by md5(key): a key may exceed a btree row. */
     "CREATE TABLE IF NOT EXISTS {S}.parked_keys ("
     "  consumer_group text NOT NULL,"
     "  topic text NOT NULL,"
     "  key_md5 text NOT NULL,"
     "  key text NOT NULL,"
     "  dead_letter_id bigint NOT NULL,"
     "  parked_at timestamptz NOT NULL DEFAULT now(),"
     "  PRIMARY KEY (consumer_group, topic, key_md5));"},
    {4, "command outbox offsets",
     /* The offset of the command a row came from. With Kafka transactions, the group's
        committed offset on <app>.commands moves atomically with the events: a row whose
        command is below it had its events committed, and recovery only marks it. NULL in
        rows written before this column, which recovery produces again as it always did. */
     "ALTER TABLE {S}.command_outbox ADD COLUMN IF NOT EXISTS command_offset bigint;"},
};

/* @p tmpl with every "{S}" replaced by @p schema. A new string. */
static char *
expand_schema(const char *tmpl, const char *schema)
{
    rj_buf_t b;
    rj_buf_init(&b);
    for (const char *s = tmpl; *s != '\0';) {
        const char *hole = strstr(s, "{S}");
        if (hole == NULL) {
            rj_buf_puts(&b, s);
            break;
        }
        rj_buf_append(&b, s, (size_t)(hole - s));
        rj_buf_puts(&b, schema);
        s = hole + 3;
    }
    return rj_buf_steal(&b);
}

/* Runs @p sql_tmpl (schema-expanded) as one simple query. */
static rj_status_t
exec_ddl(rj_pg_t *pg, const char *schema, const char *sql_tmpl, rj_error_t *err)
{
    char *sql = expand_schema(sql_tmpl, schema);
    rj_status_t st = rj_pg_exec(pg, sql, 0, NULL, NULL, err);
    free(sql);
    return st;
}

/* The body of rj_pg_migrate, inside its transaction. */
static rj_status_t
migrate_locked(rj_pg_t *pg, const char *schema, int *applied, rj_error_t *err)
{
    rj_status_t st =
        exec_ddl(pg, schema,
                 "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ");"
                 "CREATE SCHEMA IF NOT EXISTS {S};"
                 "CREATE TABLE IF NOT EXISTS {S}.schema_migrations ("
                 "  version int PRIMARY KEY,"
                 "  name text NOT NULL,"
                 "  applied_at timestamptz NOT NULL DEFAULT now());",
                 err);
    if (st != RJ_OK)
        return st;

    char *select = expand_schema("SELECT coalesce(max(version), 0) FROM {S}.schema_migrations",
                                 schema);
    PGresult *res = NULL;
    st = rj_pg_exec(pg, select, 0, NULL, &res, err);
    free(select);
    if (st != RJ_OK)
        return st;
    int current = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);

    char *record = expand_schema("INSERT INTO {S}.schema_migrations (version, name) "
                                 "VALUES ($1::int, $2)",
                                 schema);
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0] && st == RJ_OK; i++) {
        const migration_t *m = &migrations[i];
        if (m->version <= current)
            continue;
        st = exec_ddl(pg, schema, m->sql, err);
        if (st == RJ_OK) {
            char version[16];
            snprintf(version, sizeof version, "%d", m->version);
            const char *params[] = {version, m->name};
            st = rj_pg_exec(pg, record, 2, params, NULL, err);
        }
        if (st == RJ_OK) {
            (*applied)++;
            rj_info(RJ_PG_LOG, "applied migration version=%d name=\"%s\" schema=%s", m->version,
                    m->name, rj_pg_schema(pg));
        }
    }
    free(record);
    return st;
}

rj_status_t
rj_pg_migrate(rj_pg_t *pg, rj_error_t *err)
{
    char *schema = rj_pg_quote_ident(pg, rj_pg_schema(pg));
    rj_status_t st = rj_pg_begin(pg, err);
    int applied = 0;
    if (st == RJ_OK)
        st = migrate_locked(pg, schema, &applied, err);
    if (st == RJ_OK)
        st = rj_pg_commit(pg, err);
    else
        rj_pg_rollback(pg);
    free(schema);
    if (st == RJ_OK && applied == 0)
        rj_debug(RJ_PG_LOG, "schema is up to date schema=%s", rj_pg_schema(pg));
    return st;
}

char *
rj_pg_read_model_table(rj_pg_t *pg, const char *name)
{
    char *table = rj_xasprintf("rm_%s", name);
    for (char *s = table; *s != '\0'; s++)
        *s = (char)tolower((unsigned char)*s);
    char *quoted = rj_pg_quote_ident(pg, table);
    free(table);
    return quoted;
}

rj_status_t
rj_pg_ensure_read_model_table(rj_pg_t *pg, const char *name, rj_error_t *err)
{
    if (name == NULL || *name == '\0')
        return rj_error_set(err, RJ_EINVAL, "could not create read-model table: empty name");
    char *schema = rj_pg_quote_ident(pg, rj_pg_schema(pg));
    char *table = rj_pg_read_model_table(pg, name);
    /* The index name is derived from the table's; quote it the same way. */
    char *raw_index = rj_xasprintf("rm_%s_value_idx", name);
    for (char *s = raw_index; *s != '\0'; s++)
        *s = (char)tolower((unsigned char)*s);
    char *index = rj_pg_quote_ident(pg, raw_index);
    free(raw_index);

    rj_buf_t sql;
    rj_buf_init(&sql);
    rj_buf_printf(&sql,
                  "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ");"
                  "CREATE TABLE IF NOT EXISTS %s.%s ("
                  "  id text NOT NULL,"
                  "  seq text NOT NULL DEFAULT '',"
                  "  version bigint NOT NULL DEFAULT 1,"
                  "  value jsonb NOT NULL,"
                  "  updated_at timestamptz NOT NULL DEFAULT now(),"
                  "  PRIMARY KEY (id, seq));"
                  /* containment filters (value @> '{...}') use it */
                  "CREATE INDEX IF NOT EXISTS %s ON %s.%s USING gin (value jsonb_path_ops);",
                  schema, table, index, schema, table);

    /* Inside the caller's transaction the lock is held until its end; else make one. */
    bool own_tx = !rj_pg_in_transaction(pg);
    rj_status_t st = own_tx ? rj_pg_begin(pg, err) : RJ_OK;
    if (st == RJ_OK)
        st = rj_pg_exec(pg, sql.data, 0, NULL, NULL, err);
    if (own_tx) {
        if (st == RJ_OK)
            st = rj_pg_commit(pg, err);
        else
            rj_pg_rollback(pg);
    }
    if (st == RJ_OK)
        rj_debug(RJ_PG_LOG, "read-model table ready table=%s", table);

    rj_buf_deinit(&sql);
    free(index);
    free(table);
    free(schema);
    return st;
}
