/*
 * test_reducer_pg.c - the reducer's gap fill against a real PostgreSQL (with
 * RAMJET_TEST_PG_URL, else skipped): rj_entity_query_events reads whole envelopes of a
 * version range from `events` and, for versions the event-store writer has not written,
 * from command_outbox; the fold (services/reducer/fold.c) then folds them before the
 * event that needed them, exactly as ramjet-reducer's steps 2 and 3 do.
 *
 * Each run works in a schema of its own (rjtest_reducer_<pid>), dropped at the end.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "entity/entity.h"
#include "log/log.h"
#include "pg/pg.h"
#include "reducer/fold.h"
#include "json/envelope.h"
#include "../pg_test.h"

static const char *pg_url;
static char schema[64];
static rj_pg_t *conn; /* the test's connection, closed before the schema is dropped: a
                         failed assertion inside a transaction must not block the DROP */

static void
setup(void)
{
    rj_core_init();
    rj_log_init("test-reducer-pg");
    rj_log_set_level(RJ_LOG_FATAL); /* the malformed row below is logged at error, on purpose */
    pg_url = getenv("RAMJET_TEST_PG_URL");
    snprintf(schema, sizeof schema, "rjtest_reducer_%d", (int)getpid());
}

static void
teardown(void)
{
    rj_pg_free(conn);
    conn = NULL;
    rjt_pg_drop_schema(pg_url, schema);
}

TestSuite(reducer_pg, .init = setup, .fini = teardown, .timeout = 60);

static rj_pg_t *
migrated_or_skip(void)
{
    rj_pg_t *pg = rjt_pg_connect_or_skip(pg_url, schema);
    rj_error_t err = {0};
    conn = pg;
    cr_assert_eq(rj_pg_migrate(pg, &err), RJ_OK, "%s", err.msg);
    return pg;
}

static void
exec_ok(rj_pg_t *pg, const char *sql)
{
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_exec(pg, sql, 0, NULL, NULL, &err), RJ_OK, "%s: %s", sql, err.msg);
}

/* The event id the command processor would give version @p v of cart @p id. */
static void
event_id(char out[RJ_UUID_STRLEN], const char *id, int v)
{
    char name[64];
    snprintf(name, sizeof name, "%s/%d", id, v);
    rj_uuid_derive(out, "test-reducer-pg", name);
}

/* A row of `events`: what the event-store writer stores from the envelope of cart @p id
 * at version @p v, created at 10:00:00.<v>30Z, adding item @p item. */
static void
insert_event(rj_pg_t *pg, const char *id, int v, const char *item)
{
    char eid[RJ_UUID_STRLEN];
    event_id(eid, id, v);
    char *sql = rj_xasprintf(
        "INSERT INTO events (event_id, entity_type, entity_id, version, type, request_id,"
        " created_at, value, \"current_user\") VALUES ('%s', 'Cart', '%s', %d,"
        " 'CartItemChanged', 'req-%s-%d', '2026-11-22T10:00:00.%d30Z',"
        " jsonb_build_object('cartId', '%s', 'productId', '%s'), '{\"id\": \"u1\"}')",
        eid, id, v, id, v, v, id, item);
    exec_ok(pg, sql);
    free(sql);
}

/* An outbox row (produced or not) holding version @p v of cart @p id, built as the
 * processor builds it (rj_env_event_to_json), beside an event of cart "other". */
static void
insert_outbox(rj_pg_t *pg, const char *id, int v, const char *item)
{
    char eid[RJ_UUID_STRLEN], oid[RJ_UUID_STRLEN], rid[64], created[32];
    event_id(eid, id, v);
    event_id(oid, "other", v);
    snprintf(rid, sizeof rid, "req-%s-%d", id, v);
    snprintf(created, sizeof created, "2026-11-22T10:00:00.%d30Z", v);
    json_t *value = json_pack("{s:s, s:s}", "cartId", id, "productId", item);
    json_t *user = json_pack("{s:s}", "id", "u1");
    json_t *events = json_array();
    const rj_env_event_t other = {.event_id = oid,
                                  .type = "CartItemChanged",
                                  .entity = "Cart",
                                  .entity_id = "other",
                                  .version = 1,
                                  .request_id = rid,
                                  .created_at = created,
                                  .value = value};
    const rj_env_event_t mine = {.event_id = eid,
                                 .type = "CartItemChanged",
                                 .entity = "Cart",
                                 .entity_id = id,
                                 .version = v,
                                 .request_id = rid,
                                 .created_at = created,
                                 .value = value,
                                 .current_user = user};
    json_array_append_new(events, rj_env_event_to_json(&other));
    json_array_append_new(events, rj_env_event_to_json(&mine));
    char *text = rj_json_dumps(events);
    const char *params[] = {rid, text};
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_exec(pg,
                            "INSERT INTO command_outbox (request_id, partition, produced, events,"
                            " reply) VALUES ($1, 0, false, $2::jsonb, '{}')",
                            2, params, NULL, &err),
                 RJ_OK, "%s", err.msg);
    free(text);
    json_decref(events);
    json_decref(user);
    json_decref(value);
}

static void
expect_event(const rj_env_event_t *ev, const char *id, int v, const char *item)
{
    char eid[RJ_UUID_STRLEN], rid[64], created[32];
    event_id(eid, id, v);
    snprintf(rid, sizeof rid, "req-%s-%d", id, v);
    snprintf(created, sizeof created, "2026-11-22T10:00:00.%d30Z", v);
    cr_expect_eq(ev->version, v);
    cr_expect_str_eq(ev->event_id, eid, "version %d", v);
    cr_expect_str_eq(ev->type, "CartItemChanged");
    cr_expect_str_eq(ev->entity, "Cart");
    cr_expect_str_eq(ev->entity_id, id);
    cr_expect_str_eq(ev->request_id, rid);
    cr_expect_str_eq(ev->created_at, created, "version %d", v);
    cr_expect_str_eq(json_string_value(json_object_get(ev->value, "productId")), item, "version %d",
                     v);
    cr_expect_str_eq(json_string_value(json_object_get(ev->current_user, "id")), "u1");
}

Test(reducer_pg, events_with_ids_and_timestamps_from_the_store_and_the_outbox)
{
    rj_pg_t *pg = migrated_or_skip();
    insert_event(pg, "k", 1, "p1");
    insert_event(pg, "k", 2, "p2");
    insert_outbox(pg, "k", 2, "stale"); /* both: the event store's row wins */
    insert_outbox(pg, "k", 3, "p3");    /* only in the outbox: the writer lags */
    /* 4 nowhere */
    insert_event(pg, "k", 5, "p5");
    insert_outbox(pg, "kk", 4, "not-mine"); /* another entity, whose id extends "k" */
    exec_ok(pg, "INSERT INTO events (event_id, entity_type, entity_id, version, type, value)"
                " VALUES (gen_random_uuid(), 'Cart', 'k', 6, 'CartItemChanged', NULL)");

    rj_error_t err = {0};
    rj_entity_events_t evs;
    cr_assert_eq(rj_pg_begin(pg, &err), RJ_OK, "%s", err.msg); /* as the reducer: in its batch */
    cr_assert_eq(rj_entity_query_events(pg, "Cart", "k", 1, 6, &evs, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(evs.n, 4, "1, 2, 3, 5; 4 is nowhere and 6 is no envelope (no value)");
    expect_event(&evs.v[0], "k", 1, "p1");
    expect_event(&evs.v[1], "k", 2, "p2");
    expect_event(&evs.v[2], "k", 3, "p3");
    expect_event(&evs.v[3], "k", 5, "p5");
    rj_entity_events_deinit(&evs);
    cr_assert_eq(evs.n, 0);

    /* A sub-range, only what it asks for; an empty range reads nothing. */
    cr_assert_eq(rj_entity_query_events(pg, "Cart", "k", 3, 4, &evs, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(evs.n, 1);
    expect_event(&evs.v[0], "k", 3, "p3");
    rj_entity_events_deinit(&evs);
    cr_assert_eq(rj_entity_query_events(pg, "Cart", "k", 4, 3, &evs, &err), RJ_OK);
    cr_assert_eq(evs.n, 0);
    cr_assert_eq(rj_entity_query_events(pg, "Cart", "nobody", 1, 9, &evs, &err), RJ_OK);
    cr_assert_eq(evs.n, 0);
    exec_ok(pg, "SELECT 1"); /* the transaction is still usable */
    cr_assert_eq(rj_pg_commit(pg, &err), RJ_OK, "%s", err.msg);
}

/* The fold's reducer: the state lists the products in the order they were folded. */
static rj_status_t
list_reduce(void *opaque, const rj_env_event_t *ev, const json_t *current, json_t **out,
            rj_error_t *err)
{
    (void)opaque;
    (void)err;
    json_t *items = json_copy(json_object_get(current, "items"));
    if (items == NULL)
        items = json_array();
    json_array_append(items, json_object_get(ev->value, "productId"));
    *out = json_pack("{s:o}", "items", items);
    return RJ_OK;
}

/* Steps 2 and 3 of ramjet-reducer on a batch holding only version @p v of cart k. */
static red_fold_stats_t
fold_with_fill(rj_pg_t *pg, red_batch_t *b, int64_t stored, int v)
{
    char eid[RJ_UUID_STRLEN], created[32];
    event_id(eid, "k", v);
    snprintf(created, sizeof created, "2026-11-22T10:00:00.%d30Z", v);
    json_t *value = json_pack("{s:s, s:s}", "cartId", "k", "productId", "p-last");
    const rj_env_event_t env = {.event_id = eid,
                                .type = "CartItemChanged",
                                .entity = "Cart",
                                .entity_id = "k",
                                .version = v,
                                .request_id = "r",
                                .created_at = created,
                                .value = value};
    char *text = rj_env_event_encode(&env);
    json_decref(value);
    rj_error_t err = {0};
    red_batch_init(b);
    cr_assert_eq(red_batch_add(b, text, strlen(text), 0, &err), RJ_OK, "%s", err.msg);
    free(text);
    red_batch_reset(b);
    red_entity_t *e = &b->entities[0];
    red_entity_set_stored(e, stored, NULL);
    int64_t from, to;
    cr_assert(red_entity_missing(b, e, &from, &to));
    rj_entity_events_t evs;
    cr_assert_eq(rj_entity_query_events(pg, e->entity, e->entity_id, from, to, &evs, &err), RJ_OK,
                 "%s", err.msg);
    red_entity_take_fill(e, evs.v, evs.n);
    red_fold_stats_t st;
    red_batch_fold(b, list_reduce, NULL, &st);
    return st;
}

Test(reducer_pg, a_gap_is_filled_from_postgresql_and_a_hole_is_named)
{
    rj_pg_t *pg = migrated_or_skip();
    insert_event(pg, "k", 1, "p1");
    insert_outbox(pg, "k", 2, "p2");
    insert_outbox(pg, "k", 4, "p4");

    /* Version 5 arrives first; 3 is in neither place: 1 and 2 fold, 5 is reported. */
    red_batch_t b;
    red_fold_stats_t st = fold_with_fill(pg, &b, 0, 5);
    cr_expect_eq(st.filled, 2);
    cr_expect_eq(st.gaps, 1);
    cr_expect_eq(b.entities[0].version, 2);
    cr_expect_eq(b.events[0].outcome, RED_GAPPED);
    cr_expect(strstr(b.events[0].error, "version(s) 3 in neither") != NULL, "%s",
              b.events[0].error);
    char eid[RJ_UUID_STRLEN];
    event_id(eid, "k", 2);
    cr_expect_str_eq(b.entities[0].last->env.event_id, eid);
    red_batch_deinit(&b);

    /* Version 3 committed (the writer stored it): the same delivery now folds 1..5. */
    insert_event(pg, "k", 3, "p3");
    st = fold_with_fill(pg, &b, 0, 5);
    cr_expect_eq(st.filled, 4);
    cr_expect_eq(st.applied, 1);
    cr_expect_eq(st.gaps, 0);
    cr_expect_eq(b.entities[0].version, 5);
    json_t *want = json_pack("{s:[s,s,s,s,s]}", "items", "p1", "p2", "p3", "p4", "p-last");
    char *got = json_dumps(b.entities[0].value, JSON_COMPACT);
    cr_expect(json_equal(b.entities[0].value, want), "%s", got);
    free(got);
    json_decref(want);
    event_id(eid, "k", 5);
    cr_expect_str_eq(b.entities[0].last->env.event_id, eid);
    red_batch_deinit(&b);
}
