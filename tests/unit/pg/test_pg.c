/*
 * test_pg.c - the PostgreSQL layer against a real server: migrations (also
 * concurrent), error translation, prepared statements across a killed
 * session, the offset store, read-model tables and array literals.
 *
 * Skipped unless RAMJET_TEST_PG_URL names a server the tests may create and
 * drop schemas in. Each test uses its own schema, dropped at the end.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "log/log.h"
#include "pg/pg.h"
#include "../pg_test.h"

static const char *pg_url;
static char schema[64];

static void
setup(void)
{
    rj_core_init();
    rj_log_init("test-pg");
    rj_log_set_level(RJ_LOG_WARN);
    pg_url = getenv("RAMJET_TEST_PG_URL");
    snprintf(schema, sizeof schema, "rjtest_%d", (int)getpid());
}

static void
drop_schema(void)
{
    rjt_pg_drop_schema(pg_url, schema);
}

TestSuite(pg, .init = setup, .fini = drop_schema, .timeout = 60);

static rj_pg_t *
connect_or_skip(void)
{
    return rjt_pg_connect_or_skip(pg_url, schema);
}

static rj_pg_t *
migrated(void)
{
    rj_pg_t *pg = connect_or_skip();
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_migrate(pg, &err), RJ_OK, "%s", err.msg);
    return pg;
}

/* The first column of the first row of @p sql, as a new string. */
static char *
scalar(rj_pg_t *pg, const char *sql)
{
    PGresult *res = NULL;
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_exec(pg, sql, 0, NULL, &res, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(PQntuples(res), 1, "%s", sql);
    char *v = rj_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

Test(pg, migrate_creates_tables_in_app_schema_idempotently)
{
    rj_pg_t *pg = migrated();
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_migrate(pg, &err), RJ_OK, "second run: %s", err.msg);

    const char *tables[] = {"events",         "snapshots",        "entity_heads",
                            "command_outbox", "consumer_offsets", "projected_entities",
                            "dead_letters",   "parked_keys",      "schema_migrations"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        const char *params[] = {schema, tables[i]};
        PGresult *res = NULL;
        cr_assert_eq(rj_pg_exec(pg,
                                "SELECT 1 FROM information_schema.tables "
                                "WHERE table_schema = $1 AND table_name = $2",
                                2, params, &res, &err),
                     RJ_OK, "%s", err.msg);
        cr_assert_eq(PQntuples(res), 1, "missing table %s", tables[i]);
        PQclear(res);
    }
    char *n = scalar(pg, "SELECT count(*) FROM schema_migrations");
    cr_assert_str_eq(n, "4"); /* one row per migration step */
    free(n);

    /* search_path: unqualified names resolve in the app schema */
    const char *ev[] = {"6f1e3c5e-2a4b-4c8e-9a51-0c3f5a9b7d10", "Cart", "c1", "1",
                        "CartItemChanged", "{\"q\":1}"};
    const char *insert = "INSERT INTO events (event_id, entity_type, entity_id, version, type, "
                         "value, \"current_user\") VALUES ($1, $2, $3, $4, $5, $6, NULL)";
    cr_assert_eq(rj_pg_exec(pg, insert, 6, ev, NULL, &err), RJ_OK, "%s", err.msg);

    /* a second event with the same version is a conflict, whatever its id */
    const char *dup[] = {"7f1e3c5e-2a4b-4c8e-9a51-0c3f5a9b7d10", "Cart", "c1", "1",
                         "CartItemChanged", "{}"};
    cr_assert_eq(rj_pg_exec(pg, insert, 6, dup, NULL, &err), RJ_ECONFLICT);
    cr_assert(strncmp(err.msg, "could not execute statement: ERROR:  duplicate key", 50) == 0,
              "%s", err.msg);
    rj_pg_free(pg);
}

Test(pg, concurrent_migrations_all_succeed)
{
    if (pg_url == NULL || *pg_url == '\0')
        cr_skip_test("RAMJET_TEST_PG_URL is not set");
    enum { N = 6 };
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        cr_assert_geq(kids[i], 0);
        if (kids[i] == 0) {
            rj_error_t err = {0};
            rj_pg_t *pg = rj_pg_connect(pg_url, schema, &err);
            if (pg == NULL)
                _exit(2);
            rj_status_t st = rj_pg_migrate(pg, &err);
            if (st == RJ_OK)
                st = rj_pg_ensure_read_model_table(pg, "CartReadModel", &err);
            if (st != RJ_OK)
                fprintf(stderr, "child: %s\n", err.msg);
            rj_pg_free(pg);
            _exit(st == RJ_OK ? 0 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        waitpid(kids[i], &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status=%d", i, status);
    }
    rj_pg_t *pg = connect_or_skip();
    char *n = scalar(pg, "SELECT count(*) FROM schema_migrations");
    cr_assert_str_eq(n, "4"); /* one row per migration step */
    free(n);
    rj_pg_free(pg);
}

Test(pg, errors_are_translated)
{
    rj_pg_t *pg = migrated();
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_exec(pg, "SELEKT 1", 0, NULL, NULL, &err), RJ_EIO);
    cr_assert(strstr(err.msg, "could not execute statement: ERROR:  syntax error") == err.msg,
              "%s", err.msg);
    cr_assert(strstr(err.msg, "sqlstate=42601") != NULL, "%s", err.msg);

    /* an aborted transaction cannot be committed */
    cr_assert_eq(rj_pg_begin(pg, &err), RJ_OK);
    cr_assert(rj_pg_in_transaction(pg));
    cr_assert_eq(rj_pg_exec(pg, "SELECT 1/0", 0, NULL, NULL, &err), RJ_EINVAL);
    cr_assert_eq(rj_pg_commit(pg, &err), RJ_EIO);
    cr_assert(strstr(err.msg, "aborted") != NULL, "%s", err.msg);
    cr_assert_not(rj_pg_in_transaction(pg));

    /* A value PostgreSQL refuses (SQLSTATE class 22) is the input's fault: RJ_EINVAL, with
       only PostgreSQL's primary message, which names the problem and not the statement. */
    const char *re[] = {"(unclosed"};
    cr_assert_eq(rj_pg_exec(pg, "SELECT 'x' ~ $1", 1, re, NULL, &err), RJ_EINVAL);
    cr_assert(strncmp(err.msg, "invalid regular expression: ", 28) == 0, "%s", err.msg);
    cr_assert_null(strstr(err.msg, "SELECT"), "%s", err.msg);

    /* rollback really rolls back */
    cr_assert_eq(rj_pg_begin(pg, &err), RJ_OK);
    const char *p[] = {"Cart", "c9", "3"};
    cr_assert_eq(rj_pg_exec(pg, "INSERT INTO entity_heads VALUES ($1, $2, $3)", 3, p, NULL, &err),
                 RJ_OK, "%s", err.msg);
    rj_pg_rollback(pg);
    char *n = scalar(pg, "SELECT count(*) FROM entity_heads");
    cr_assert_str_eq(n, "0");
    free(n);
    rj_pg_free(pg);
}

/* A random printable string of @p n characters: PostgreSQL cannot compress it. */
static char *
random_text(size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *s = rj_xmalloc(n + 1);
    uint64_t x = 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        s[i] = abc[x % 64];
    }
    s[n] = '\0';
    return s;
}

/*
 * Consumers give up on one message only for statuses that blame the data
 * (rj_status_is_data); everything else is retried. A constraint the row violates and a
 * key over a btree entry's size used to come back as RJ_EIO, so the command processor
 * and the workers retried them until they exited, and were restarted into them again.
 */
Test(pg, constraints_and_limits_blame_the_data)
{
    rj_pg_t *pg = migrated();
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_exec(pg,
                            "CREATE TABLE IF NOT EXISTS checked (v int CHECK (v > 0), "
                            "n int NOT NULL DEFAULT 1)",
                            0, NULL, NULL, &err),
                 RJ_OK, "%s", err.msg);
    cr_assert_eq(rj_pg_exec(pg, "INSERT INTO checked (v) VALUES (-1)", 0, NULL, NULL, &err),
                 RJ_EINVAL);
    cr_assert(strstr(err.msg, "violates check constraint") != NULL, "%s", err.msg);
    cr_assert_eq(rj_pg_exec(pg, "INSERT INTO checked (v, n) VALUES (1, NULL)", 0, NULL, NULL, &err),
                 RJ_EINVAL);
    cr_assert(rj_status_is_data(err.status));

    /* issue 9: a 3,000-character entity id over entity_heads_pkey */
    char *id = random_text(3000);
    const char *p[] = {"Cart", id, "1"};
    cr_assert_eq(rj_pg_exec(pg, "INSERT INTO entity_heads VALUES ($1, $2, $3)", 3, p, NULL, &err),
                 RJ_ETOOBIG);
    cr_assert(strstr(err.msg, "index row size") != NULL, "%s", err.msg);
    cr_assert(rj_status_is_data(err.status));
    free(id);

    /* unique_violation stays a conflict (ON CONFLICT paths, version races): retried */
    const char *h[] = {"Cart", "u1", "1"};
    cr_assert_eq(rj_pg_exec(pg, "INSERT INTO entity_heads VALUES ($1, $2, $3)", 3, h, NULL, &err),
                 RJ_OK, "%s", err.msg);
    cr_assert_eq(rj_pg_exec(pg, "INSERT INTO entity_heads VALUES ($1, $2, $3)", 3, h, NULL, &err),
                 RJ_ECONFLICT);
    cr_assert_not(rj_status_is_data(RJ_ECONFLICT));
    cr_assert_not(rj_status_is_data(RJ_ERETRY));
    cr_assert_not(rj_status_is_data(RJ_EIO));
    cr_assert_not(rj_status_is_data(RJ_ETIMEOUT));
    cr_assert_not(rj_status_is_data(RJ_OK));
    rj_pg_free(pg);
}

Test(pg, deadletter_insert_records_and_parks_any_key)
{
    rj_pg_t *pg = migrated();
    rj_error_t err = {0};
    char *long_key = random_text(5000); /* longer than a btree entry may be */
    const char *keys[] = {long_key, "Cart/\xff\xfe-not-utf8", "Cart/plain"};
    for (size_t i = 0; i < 3; i++) {
        const rj_pg_deadletter_t dl = {
            .daemon = "ramjet-reducer",
            .topic = "shop.events",
            .partition = 3,
            .offset = (int64_t)i,
            .reason = "unwritable",
            .envelope = "{\"error\":\"x\"}",
            .group = "ramjet-reducer",
            .key = keys[i],
        };
        cr_assert_eq(rj_pg_deadletter_insert(pg, &dl, &err), RJ_OK, "key %zu: %s", i, err.msg);
    }
    /* the same key again: one more dead letter, still one park (behind the first) */
    const rj_pg_deadletter_t again = {.daemon = "ramjet-reducer",
                                      .topic = "shop.events",
                                      .partition = 3,
                                      .offset = 9,
                                      .reason = "unwritable",
                                      .envelope = "{}",
                                      .group = "ramjet-reducer",
                                      .key = "Cart/plain"};
    cr_assert_eq(rj_pg_deadletter_insert(pg, &again, &err), RJ_OK, "%s", err.msg);
    /* no group: recorded, nothing parked (the command processor's dead letters) */
    const rj_pg_deadletter_t cmd = {.daemon = "ramjet-commands",
                                    .topic = "shop.commands",
                                    .partition = 0,
                                    .offset = 1,
                                    .reason = "unwritable",
                                    .envelope = "{}",
                                    .key = "c1"};
    cr_assert_eq(rj_pg_deadletter_insert(pg, &cmd, &err), RJ_OK, "%s", err.msg);

    char *n = scalar(pg, "SELECT count(*) FROM dead_letters");
    cr_assert_str_eq(n, "5");
    free(n);
    n = scalar(pg, "SELECT count(*) FROM parked_keys WHERE consumer_group = 'ramjet-reducer'");
    cr_assert_str_eq(n, "3");
    free(n);
    n = scalar(pg, "SELECT count(*) FROM parked_keys WHERE key = 'Cart/?"
                   "?-not-utf8'");
    cr_assert_str_eq(n, "1");
    free(n);
    n = scalar(pg, "SELECT d.\"offset\" FROM parked_keys p JOIN dead_letters d "
                   "ON d.id = p.dead_letter_id WHERE p.key = 'Cart/plain'");
    cr_assert_str_eq(n, "2");
    free(n);
    free(long_key);
    rj_pg_free(pg);
}

Test(pg, lost_session_is_reset_and_reported_retriable)
{
    rj_pg_t *pg = migrated();
    rj_error_t err = {0};
    const char *sql = "SELECT count(*) FROM consumer_offsets WHERE consumer_group = $1";
    const char *params[] = {"g"};
    PGresult *res = NULL;
    cr_assert_eq(rj_pg_exec_prepared(pg, "count", sql, 1, params, &res, &err), RJ_OK, "%s",
                 err.msg);
    PQclear(res);

    /* Kill our backend from another session, as a server restart or failover would. */
    int pid = PQbackendPID(rj_pg_conn(pg));
    rj_pg_t *killer = connect_or_skip();
    char pidtext[16];
    snprintf(pidtext, sizeof pidtext, "%d", pid);
    const char *kp[] = {pidtext};
    cr_assert_eq(rj_pg_exec(killer, "SELECT pg_terminate_backend($1::int)", 1, kp, NULL, &err),
                 RJ_OK, "%s", err.msg);
    rj_pg_free(killer);
    usleep(100000);

    cr_assert_eq(rj_pg_exec_prepared(pg, "count", sql, 1, params, NULL, &err), RJ_ERETRY, "%s",
                 err.msg);
    /* the caller retries: a new session, statement prepared again, search_path restored */
    cr_assert_eq(rj_pg_exec_prepared(pg, "count", sql, 1, params, &res, &err), RJ_OK, "%s",
                 err.msg);
    cr_assert_str_eq(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
    cr_assert_neq(PQbackendPID(rj_pg_conn(pg)), pid);
    rj_pg_free(pg);
}

Test(pg, offsets_store_and_load)
{
    rj_pg_t *pg = migrated();
    rj_error_t err = {0};
    rj_kafka_offset_t offs[] = {
        {.topic = "shop.events", .partition = 0, .next_offset = 17},
        {.topic = "shop.events", .partition = 3, .next_offset = 5},
        {.topic = "weird \"topic\",{x}", .partition = 1, .next_offset = 9},
    };
    cr_assert_eq(rj_pg_begin(pg, &err), RJ_OK);
    cr_assert_eq(rj_pg_offsets_store(pg, "ramjet-eventstore", offs, 3, &err), RJ_OK, "%s",
                 err.msg);
    cr_assert_eq(rj_pg_commit(pg, &err), RJ_OK, "%s", err.msg);

    /* the last write wins, also backwards */
    offs[0].next_offset = 12;
    cr_assert_eq(rj_pg_offsets_store(pg, "ramjet-eventstore", offs, 1, &err), RJ_OK, "%s",
                 err.msg);
    /* another group is independent */
    offs[1].next_offset = 100;
    cr_assert_eq(rj_pg_offsets_store(pg, "ramjet-reducer", &offs[1], 1, &err), RJ_OK);

    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_add(parts, "shop.events", 0);
    rd_kafka_topic_partition_list_add(parts, "shop.events", 1);
    rd_kafka_topic_partition_list_add(parts, "shop.events", 3);
    rd_kafka_topic_partition_list_add(parts, "weird \"topic\",{x}", 1);
    cr_assert_eq(rj_pg_offsets_load(pg, "ramjet-eventstore", parts, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(parts->elems[0].offset, 12);
    cr_assert_eq(parts->elems[1].offset, RD_KAFKA_OFFSET_BEGINNING);
    cr_assert_eq(parts->elems[2].offset, 5);
    cr_assert_eq(parts->elems[3].offset, 9);
    rd_kafka_topic_partition_list_destroy(parts);
    rj_pg_free(pg);
}

Test(pg, offsets_adopt_moves_a_renamed_group_once)
{
    rj_pg_t *pg = migrated();
    rj_error_t err = {0};
    rj_kafka_offset_t offs[] = {
        {.topic = "shop.events", .partition = 0, .next_offset = 41},
        {.topic = "shop.events", .partition = 1, .next_offset = 7},
    };
    cr_assert_eq(rj_pg_offsets_store(pg, "ramjet-reducer", offs, 2, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(rj_pg_exec(pg,
                            "INSERT INTO parked_keys (consumer_group, topic, key_md5, key,"
                            " dead_letter_id) VALUES ('ramjet-reducer', 'shop.events',"
                            " md5('Cart/x'), 'Cart/x', 1)",
                            0, NULL, NULL, &err),
                 RJ_OK, "%s", err.msg);

    int moved = -1;
    cr_assert_eq(rj_pg_offsets_adopt(pg, "ramjet-reducer", "shop.ramjet-reducer", &moved, &err),
                 RJ_OK, "%s", err.msg);
    cr_assert_eq(moved, 2);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, "shop.events", 0);
    rd_kafka_topic_partition_list_add(parts, "shop.events", 1);
    cr_assert_eq(rj_pg_offsets_load(pg, "shop.ramjet-reducer", parts, &err), RJ_OK, "%s",
                 err.msg);
    cr_assert_eq(parts->elems[0].offset, 41);
    cr_assert_eq(parts->elems[1].offset, 7);
    char *n = scalar(pg, "SELECT consumer_group FROM parked_keys WHERE key = 'Cart/x'");
    cr_assert_str_eq(n, "shop.ramjet-reducer");
    free(n);

    /* An old replica still storing under the old name afterwards: never adopted again,
       the new group's own offsets win. */
    offs[0].next_offset = 3;
    cr_assert_eq(rj_pg_offsets_store(pg, "ramjet-reducer", offs, 1, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(rj_pg_offsets_adopt(pg, "ramjet-reducer", "shop.ramjet-reducer", &moved, &err),
                 RJ_OK, "%s", err.msg);
    cr_assert_eq(moved, 0);
    cr_assert_eq(rj_pg_offsets_load(pg, "shop.ramjet-reducer", parts, &err), RJ_OK);
    cr_assert_eq(parts->elems[0].offset, 41);
    rd_kafka_topic_partition_list_destroy(parts);
    rj_pg_free(pg);
}

Test(pg, read_model_table)
{
    rj_pg_t *pg = migrated();
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_ensure_read_model_table(pg, "CartReadModel", &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(rj_pg_ensure_read_model_table(pg, "CartReadModel", &err), RJ_OK, "%s", err.msg);
    char *t = rj_pg_read_model_table(pg, "CartReadModel");
    cr_assert_str_eq(t, "\"rm_cartreadmodel\"");
    char *sql = rj_xasprintf("INSERT INTO %s (id, value) VALUES ($1, $2)", t);
    const char *p[] = {"c1", "{\"id\":\"c1\"}"};
    cr_assert_eq(rj_pg_exec(pg, sql, 2, p, NULL, &err), RJ_OK, "%s", err.msg);
    free(sql);
    sql = rj_xasprintf("SELECT seq || ':' || version FROM %s WHERE id = 'c1'", t);
    char *v = scalar(pg, sql);
    cr_assert_str_eq(v, ":1");
    free(v);
    free(sql);
    free(t);

    /* inside a caller's transaction too */
    cr_assert_eq(rj_pg_begin(pg, &err), RJ_OK);
    cr_assert_eq(rj_pg_ensure_read_model_table(pg, "Other", &err), RJ_OK, "%s", err.msg);
    cr_assert(rj_pg_in_transaction(pg), "the caller's transaction stays open");
    cr_assert_eq(rj_pg_commit(pg, &err), RJ_OK, "%s", err.msg);
    rj_pg_free(pg);
}

Test(pg, array_literal_round_trips_any_string)
{
    const char *items[] = {"plain", "with \"quotes\"", "back\\slash", "{braces},commas",
                           "NULL",  "",                NULL,          "ünïcødé  spaces "};
    size_t n = sizeof items / sizeof items[0];
    char *lit = rj_pg_array_literal(items, n);
    cr_assert_str_eq(lit, "{\"plain\",\"with \\\"quotes\\\"\",\"back\\\\slash\","
                          "\"{braces},commas\",\"NULL\",\"\",NULL,\"ünïcødé  spaces \"}");
    char *empty = rj_pg_array_literal(NULL, 0);
    cr_assert_str_eq(empty, "{}");
    free(empty);

    rj_pg_t *pg = connect_or_skip();
    rj_error_t err = {0};
    PGresult *res = NULL;
    const char *p[] = {lit};
    cr_assert_eq(rj_pg_exec(pg, "SELECT u FROM unnest($1::text[]) WITH ORDINALITY AS t(u, i) "
                                "ORDER BY i",
                            1, p, &res, &err),
                 RJ_OK, "%s", err.msg);
    cr_assert_eq((size_t)PQntuples(res), n);
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL)
            cr_assert(PQgetisnull(res, (int)i, 0));
        else
            cr_assert_str_eq(PQgetvalue(res, (int)i, 0), items[i]);
    }
    PQclear(res);
    free(lit);
    rj_pg_free(pg);
}

Test(pg, connect_failures)
{
    rj_error_t err = {0};
    cr_assert_null(rj_pg_connect("postgresql://x:y@[bad", "shop", &err));
    cr_assert_eq(err.status, RJ_EINVAL, "%s", err.msg);
    cr_assert_null(rj_pg_connect("postgresql://127.0.0.1:1/x", "", &err));
    cr_assert_eq(err.status, RJ_EINVAL);

    int64_t t0 = rj_mono_us();
    cr_assert_null(rj_pg_connect_retry("postgresql://127.0.0.1:1/x?connect_timeout=1", "shop", 300,
                                       &err));
    int64_t ms = (rj_mono_us() - t0) / 1000;
    cr_assert_eq(err.status, RJ_ERETRY, "%s", err.msg);
    cr_assert(strstr(err.msg, "could not connect to PostgreSQL: ") == err.msg, "%s", err.msg);
    cr_assert(ms >= 100 && ms < 3000, "retried for %lld ms", (long long)ms);
}
