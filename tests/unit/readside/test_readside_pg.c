/*
 * test_readside_pg.c - the read side against a real PostgreSQL: every filter case of
 * fixtures.h through the List and plural queries (the same answers the evaluator gives),
 * sorting and cursor pagination, hostile strings executed for real, the events API with
 * time windows, and (with RAMJET_TEST_PG_BENCH=1) a filtered List query on 100k rows with
 * and without the GIN index.
 *
 * Skipped unless RAMJET_TEST_PG_URL names a server the tests may create and drop schemas
 * in. Each test uses its own schema, dropped at the end.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "log/log.h"
#include "pg/pg.h"
#include "readside/readside.h"

#include "fixtures.h"
#include "../pg_test.h"

static const char *pg_url;
static char schema[64];
static rj_app_read_model_t cart_rm = {.name = (char *)"CartReadModel"};
static rj_app_read_model_t product_rm = {.name = (char *)"ProductReadModel"};

static void
setup(void)
{
    rj_core_init();
    rj_log_init("test-readside-pg");
    rj_log_set_level(RJ_LOG_WARN);
    pg_url = getenv("RAMJET_TEST_PG_URL");
    snprintf(schema, sizeof schema, "rjrs_%d", (int)getpid());
}

static void
drop_schema(void)
{
    rjt_pg_drop_schema(pg_url, schema);
}

TestSuite(readside_pg, .init = setup, .fini = drop_schema, .timeout = 300);

static void
exec_ok(rj_pg_t *pg, const char *sql, int n, const char *const *params)
{
    rj_error_t err = {0};
    rj_status_t st = rj_pg_exec(pg, sql, n, params, NULL, &err);
    cr_assert_eq(st, RJ_OK, "%s: %s", sql, err.msg);
}

/* A connection to a fresh schema with the core tables and the two read models loaded. */
static rj_pg_t *
connect_or_skip(void)
{
    rj_pg_t *pg = rjt_pg_connect_or_skip(pg_url, schema);
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_migrate(pg, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(rj_rs_ensure_indexes(pg, &cart_rm, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(rj_rs_ensure_indexes(pg, &product_rm, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(rj_rs_ensure_event_indexes(pg, &err), RJ_OK, "%s", err.msg);
    return pg;
}

static void
load(rj_pg_t *pg, const char *table, const char *const *docs, size_t n)
{
    char *sql = rj_xasprintf("INSERT INTO %s (id, value) VALUES ($1, $2::jsonb)", table);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_loads(docs[i], 0, NULL);
        cr_assert_not_null(v);
        const char *params[2] = {json_string_value(json_object_get(v, "id")), docs[i]};
        exec_ok(pg, sql, 2, params);
        json_decref(v);
    }
    free(sql);
}

/* "a,b,c" from an array of read models. */
static char *
ids_of(const json_t *items)
{
    rj_buf_t b;
    rj_buf_init(&b);
    size_t i;
    const json_t *v;
    json_array_foreach (items, i, v) {
        rj_buf_printf(&b, "%s%s", i ? "," : "", json_string_value(json_object_get(v, "id")));
    }
    return rj_buf_steal(&b);
}

static void
check_cases(rj_pg_t *pg, const rj_app_read_model_t *rm, const filter_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_loads(cases[i].filter, 0, NULL);
        cr_assert_not_null(f, "bad case %s", cases[i].filter);
        rj_error_t err = {0};

        json_t *items = NULL;
        rj_status_t st = rj_rs_search(pg, rm, f, &items, &err);
        cr_assert_eq(st, RJ_OK, "%s: %s", cases[i].filter, err.msg);
        char *got = ids_of(items);
        cr_expect_str_eq(got, cases[i].ids, "search %s", cases[i].filter);
        free(got);
        json_decref(items);

        json_t *conn = NULL;
        st = rj_rs_list(pg, rm, f, NULL, NULL, NULL, &conn, &err);
        cr_assert_eq(st, RJ_OK, "%s: %s", cases[i].filter, err.msg);
        got = ids_of(json_object_get(conn, "items"));
        cr_expect_str_eq(got, cases[i].ids, "list %s", cases[i].filter);
        cr_expect_eq((size_t)json_integer_value(json_object_get(conn, "count")),
                     json_array_size(json_object_get(conn, "items")));
        free(got);
        json_decref(conn);
        json_decref(f);
    }
}

Test(readside_pg, every_filter_case)
{
    rj_pg_t *pg = connect_or_skip();
    load(pg, "rm_cartreadmodel", fixture_carts, sizeof fixture_carts / sizeof fixture_carts[0]);
    load(pg, "rm_productreadmodel", fixture_products,
         sizeof fixture_products / sizeof fixture_products[0]);
    check_cases(pg, &cart_rm, cart_cases, sizeof cart_cases / sizeof cart_cases[0]);
    check_cases(pg, &product_rm, product_cases, sizeof product_cases / sizeof product_cases[0]);
    rj_pg_free(pg);
}

/* One List page: "ids|count|cursor". */
static char *
page(rj_pg_t *pg, const rj_app_read_model_t *rm, const char *filter, const char *sort,
     const char *limit, const char *cursor)
{
    json_t *f = filter ? json_loads(filter, 0, NULL) : NULL;
    json_t *s = sort ? json_loads(sort, 0, NULL) : NULL;
    json_t *l = limit ? json_loads(limit, JSON_DECODE_ANY, NULL) : NULL;
    json_t *c = cursor ? json_loads(cursor, 0, NULL) : NULL;
    json_t *conn = NULL;
    rj_error_t err = {0};
    rj_status_t st = rj_rs_list(pg, rm, f, s, l, c, &conn, &err);
    cr_assert_eq(st, RJ_OK, "%s", err.msg);
    char *ids = ids_of(json_object_get(conn, "items"));
    char *out = rj_xasprintf(
        "%s|%lld|%s", ids, (long long)json_integer_value(json_object_get(conn, "count")),
        json_string_value(json_object_get(json_object_get(conn, "cursor"), "id")));
    free(ids);
    json_decref(conn);
    json_decref(f);
    json_decref(s);
    json_decref(l);
    json_decref(c);
    return out;
}

static void
expect_page(rj_pg_t *pg, const rj_app_read_model_t *rm, const char *filter, const char *sort,
            const char *limit, const char *cursor, const char *want)
{
    char *got = page(pg, rm, filter, sort, limit, cursor);
    cr_expect_str_eq(got, want, "filter=%s sort=%s limit=%s cursor=%s", filter, sort, limit,
                     cursor);
    free(got);
}

Test(readside_pg, sorting_and_pages)
{
    rj_pg_t *pg = connect_or_skip();
    load(pg, "rm_cartreadmodel", fixture_carts, sizeof fixture_carts / sizeof fixture_carts[0]);
    load(pg, "rm_productreadmodel", fixture_products,
         sizeof fixture_products / sizeof fixture_products[0]);

    /* Numbers numerically (1000.0 > 250.5 > 100 > 30). */
    expect_page(pg, &product_rm, NULL, "{\"price\": {\"cents\": \"DESC\"}}", NULL, NULL,
                "p4,p2,p1,p3|4|100");
    expect_page(pg, &product_rm, NULL, "{\"price\": {\"cents\": \"ASC\"}}", NULL, NULL,
                "p3,p1,p2,p4|4|100");
    /* Several keys in object order; strings by bytes ("SKU-10" < "SKU-2"). */
    expect_page(pg, &product_rm, NULL, "{\"featured\": \"DESC\", \"sku\": \"ASC\"}", NULL, NULL,
                "p1,p4,p2,p3|4|100");
    expect_page(pg, &product_rm, NULL, "{\"sku\": \"DESC\"}", NULL, NULL, "p3,p2,p4,p1|4|100");
    /* Missing values last in both directions, then id. */
    expect_page(pg, &cart_rm, NULL, "{\"shippingAddress\": {\"lastName\": \"ASC\"}}", NULL, NULL,
                "before-c5,c2,c1,c3,c4|5|100");
    expect_page(pg, &cart_rm, NULL, "{\"shippingAddress\": {\"lastName\": \"DESC\"}}", NULL, NULL,
                "c1,c2,before-c5,c3,c4|5|100");
    /* Pages follow the cursor to the end, and past it. */
    const char *sort = "{\"price\": {\"cents\": \"DESC\"}}";
    expect_page(pg, &product_rm, NULL, sort, "2", NULL, "p4,p2|2|2");
    expect_page(pg, &product_rm, NULL, sort, "2", "{\"id\": \"2\"}", "p1,p3|2|4");
    expect_page(pg, &product_rm, NULL, sort, "2", "{\"id\": \"4\"}", "|0|6");
    expect_page(pg, &product_rm, NULL, sort, "0", NULL, "|0|0");
    /* Filter, sort and page together. */
    expect_page(pg, &product_rm, "{\"price\": {\"currency\": {\"eq\": \"EUR\"}}}", sort, "1",
                "{\"id\": 1}", "p1|1|2");
    rj_pg_free(pg);
}

Test(readside_pg, hostile_strings_are_data)
{
    rj_pg_t *pg = connect_or_skip();
    static const char evil[] = "'; DROP TABLE rm_cartreadmodel; --";
    json_t *doc = json_pack("{s:s, s:{s:s}}", "id", evil, evil, evil, evil);
    char *text = json_dumps(doc, 0);
    const char *docs[1] = {text};
    load(pg, "rm_cartreadmodel", docs, 1);
    json_t *filter = json_pack("{s:{s:{s:s, s:s, s:s, s:s, s:s, s:[s]}}, s:{s:s, s:s}}", evil, evil,
                               "eq", evil, "beginsWith", evil, "contains", evil, "gte", evil, "lte",
                               evil, "in", evil, "id", "regex", "DROP", "iRegex", "drop TABLE");
    json_t *sort = json_pack("{s:{s:s}}", evil, evil, "DESC");
    json_t *conn = NULL;
    rj_error_t err = {0};
    cr_assert_eq(rj_rs_list(pg, &cart_rm, filter, sort, NULL, NULL, &conn, &err), RJ_OK, "%s",
                 err.msg);
    cr_expect_eq(json_integer_value(json_object_get(conn, "count")), 1);
    cr_expect(json_equal(json_array_get(json_object_get(conn, "items"), 0), doc));
    json_decref(conn);
    json_decref(filter);
    json_decref(sort);
    json_decref(doc);
    free(text);
    /* The table is still there. */
    exec_ok(pg, "SELECT 1 FROM rm_cartreadmodel", 0, NULL);
    rj_pg_free(pg);
}

/* The filter's value is at fault, not the server: RJ_EINVAL, with PostgreSQL's reason. */
Test(readside_pg, invalid_regex_is_an_error_not_a_crash)
{
    rj_pg_t *pg = connect_or_skip();
    load(pg, "rm_cartreadmodel", fixture_carts, 1);
    json_t *filter = json_pack("{s:{s:s}}", "id", "regex", "(");
    json_t *items = NULL;
    rj_error_t err = {0};
    cr_expect_eq(rj_rs_search(pg, &cart_rm, filter, &items, &err), RJ_EINVAL);
    cr_expect(strncmp(err.msg, "invalid regular expression", 26) == 0, "%s", err.msg);
    json_decref(filter);
    rj_pg_free(pg);
}

/* ---- events API ---- */

static void
load_events(rj_pg_t *pg)
{
    /* A session time zone far from UTC proves createdAt is printed in UTC. */
    exec_ok(pg, "SET TIME ZONE 'Asia/Tokyo'", 0, NULL);
    exec_ok(pg,
            "INSERT INTO events (event_id, entity_type, entity_id, version, type, request_id,"
            " created_at, value, \"current_user\") VALUES"
            " (gen_random_uuid(), 'Cart', 'c1', 1, 'CartItemChanged', 'r1',"
            "  '2021-02-12T10:00:00.123Z', '{\"cartId\": \"c1\", \"quantity\": 2}',"
            "  '{\"id\": \"u1\", \"username\": \"ann@example.com\", \"roles\": [\"Admin\"],"
            "    \"claims\": {\"secret\": 1}}'),"
            " (gen_random_uuid(), 'Cart', 'c1', 2, 'CartItemChanged', 'r2',"
            "  '2021-02-13T09:00:00Z', '{\"cartId\": \"c1\", \"quantity\": 3}', NULL),"
            " (gen_random_uuid(), 'Cart', 'c2', 1, 'ShippingAddressUpdated', 'r3',"
            "  '2021-03-01T00:00:00.5Z', '{\"cartId\": \"c2\"}', 'null'),"
            " (gen_random_uuid(), 'Payment', 'pay1', 1, 'CartPaid', 'r4',"
            "  '2022-01-01T00:00:00Z', '{\"paymentId\": \"pay1\"}', NULL)",
            0, NULL);
}

/* "requestID,requestID,..." of an events answer. */
static char *
request_ids(const json_t *events)
{
    rj_buf_t b;
    rj_buf_init(&b);
    size_t i;
    const json_t *e;
    json_array_foreach (events, i, e) {
        rj_buf_printf(&b, "%s%s", i ? "," : "", json_string_value(json_object_get(e, "requestID")));
    }
    return rj_buf_steal(&b);
}

static void
expect_events(rj_pg_t *pg, const char *entity, const char *id, const char *type, const char *from,
              const char *to, long limit, const char *want)
{
    json_t *out = NULL;
    rj_error_t err = {0};
    rj_status_t st = entity ? rj_rs_events_by_entity(pg, entity, id, from, to, limit, &out, &err)
                            : rj_rs_events_by_type(pg, type, from, to, limit, &out, &err);
    cr_assert_eq(st, RJ_OK, "%s", err.msg);
    char *got = request_ids(out);
    cr_expect_str_eq(got, want, "entity=%s id=%s type=%s from=%s to=%s limit=%ld", entity, id, type,
                     from, to, limit);
    free(got);
    json_decref(out);
}

Test(readside_pg, events_api)
{
    rj_pg_t *pg = connect_or_skip();
    load_events(pg);

    expect_events(pg, "Cart", NULL, NULL, NULL, NULL, 0, "r3,r2,r1");
    expect_events(pg, "Cart", "c1", NULL, NULL, NULL, 0, "r2,r1");
    expect_events(pg, "Cart", NULL, NULL, NULL, NULL, 1, "r3");
    expect_events(pg, "Cart", NULL, NULL, NULL, NULL, 2, "r3,r2");
    /* String bounds: "2021-02-13" as `to` excludes events on that day; prefixes work. */
    expect_events(pg, "Cart", NULL, NULL, "2021-02-13", NULL, 0, "r3,r2");
    expect_events(pg, "Cart", NULL, NULL, NULL, "2021-02-13", 0, "r1");
    expect_events(pg, "Cart", NULL, NULL, "2021", "2021-03", 0, "r2,r1");
    expect_events(pg, "Cart", NULL, NULL, "2021-02-12T10:00:00.123Z", "2021-02-12T10:00:00.123Z", 0,
                  "r1");
    expect_events(pg, "Cart", NULL, NULL, "2021-02-12T10:00:00.124Z", "2021-02-13T09", 0, "");
    expect_events(pg, "Nothing", NULL, NULL, NULL, NULL, 0, "");
    expect_events(pg, NULL, NULL, "CartItemChanged", NULL, NULL, 0, "r2,r1");
    expect_events(pg, NULL, NULL, "CartItemChanged", "2022", NULL, 0, "");
    expect_events(pg, NULL, NULL, "CartPaid", "2021-12-31", "2022-01-01T00:00:00.000Z", 5, "r4");

    /* Booster's item shape: the user without its claims, createdAt in UTC with ms. */
    json_t *out = NULL;
    rj_error_t err = {0};
    cr_assert_eq(rj_rs_events_by_entity(pg, "Cart", NULL, NULL, NULL, 0, &out, &err), RJ_OK, "%s",
                 err.msg);
    json_t *want = json_loads(
        "[{\"type\": \"ShippingAddressUpdated\", \"entity\": \"Cart\", \"entityID\": \"c2\","
        "  \"requestID\": \"r3\", \"user\": null, \"createdAt\": \"2021-03-01T00:00:00.500Z\","
        "  \"value\": {\"cartId\": \"c2\"}},"
        " {\"type\": \"CartItemChanged\", \"entity\": \"Cart\", \"entityID\": \"c1\","
        "  \"requestID\": \"r2\", \"user\": null, \"createdAt\": \"2021-02-13T09:00:00.000Z\","
        "  \"value\": {\"cartId\": \"c1\", \"quantity\": 3}},"
        " {\"type\": \"CartItemChanged\", \"entity\": \"Cart\", \"entityID\": \"c1\","
        "  \"requestID\": \"r1\", \"user\": {\"id\": \"u1\", \"username\": \"ann@example.com\","
        "  \"roles\": [\"Admin\"]}, \"createdAt\": \"2021-02-12T10:00:00.123Z\","
        "  \"value\": {\"cartId\": \"c1\", \"quantity\": 2}}]",
        0, NULL);
    cr_assert_not_null(want);
    char *got_text = json_dumps(out, JSON_SORT_KEYS);
    cr_expect(json_equal(out, want), "%s", got_text);
    free(got_text);
    json_decref(want);
    json_decref(out);

    /* The created_at range a `to` implies is counted in UTC days, whatever the session's
       zone: New York's 2021-03-14 had 23 hours, and an event at 23:30 UTC is on that day.
       ("2021-03-14" as `to` excludes the whole day; "2021-03-14T9" ends its prefix at the
       day and includes 23:30, as "2" < "9".) */
    exec_ok(pg, "SET TIME ZONE 'America/New_York'", 0, NULL);
    exec_ok(pg,
            "INSERT INTO events (event_id, entity_type, entity_id, version, type, request_id,"
            " created_at, value) VALUES (gen_random_uuid(), 'Payment', 'pay2', 1, 'CartPaid',"
            " 'r5', '2021-03-14T23:30:00Z', '{\"paymentId\": \"pay2\"}')",
            0, NULL);
    expect_events(pg, NULL, NULL, "CartPaid", "2021-03-14", "2021-03-14", 0, "");
    expect_events(pg, NULL, NULL, "CartPaid", "2021-03-14", "2021-03-14T9", 0, "r5");
    expect_events(pg, NULL, NULL, "CartPaid", "2021-03", "2021-03-3", 0, "r5");
    expect_events(pg, NULL, NULL, "CartPaid", "2021-03-14T23", "2021-03-14T23:30:00.001", 0, "r5");
    expect_events(pg, NULL, NULL, "CartPaid", "2021-03-14T23:30:01", NULL, 0, "r4");
    expect_events(pg, NULL, NULL, "CartPaid", NULL, "2021-03-14T23:29:59.999Z", 0, "");

    /* Hostile strings in every position are data. */
    static const char evil[] = "'; DROP TABLE events; --";
    expect_events(pg, evil, evil, NULL, evil, evil, 3, "");
    expect_events(pg, NULL, NULL, evil, evil, NULL, 0, "");
    exec_ok(pg, "SELECT 1 FROM events", 0, NULL);
    rj_pg_free(pg);
}

/* The plan of @p sql with @p params as JSON text (EXPLAIN without ANALYZE); a new string. */
static char *
explain(rj_pg_t *pg, const rj_buf_t *sql, const rj_rs_params_t *params)
{
    char *text = rj_xasprintf("EXPLAIN (FORMAT JSON) %s", sql->data);
    PGresult *res = NULL;
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_exec(pg, text, (int)params->n, rj_rs_params_values(params), &res, &err),
                 RJ_OK, "%s: %s", text, err.msg);
    char *plan = rj_xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    free(text);
    return plan;
}

Test(readside_pg, events_windows_bound_the_index_scan)
{
    rj_pg_t *pg = connect_or_skip();
    /* 20k events of four types over two entity types, one every 10 minutes from 2021 on. */
    exec_ok(pg,
            "INSERT INTO events (event_id, entity_type, entity_id, version, type, created_at,"
            " value) SELECT gen_random_uuid(), CASE WHEN g % 4 < 3 THEN 'Cart' ELSE 'Product' END,"
            " 'e' || (g % 500), g / 500 + 1, 'T' || (g % 4),"
            " '2021-01-01T00:00:00Z'::timestamptz + g * interval '10 minutes', '{}'"
            " FROM generate_series(0, 19999) g",
            0, NULL);
    exec_ok(pg, "ANALYZE events", 0, NULL);

    /* Each query shape with a window months before the newest event: the index that
       serves it must be bounded by created_at (its Index Cond), not only filtered. */
    static const struct {
        const char *entity, *id, *type, *index;
    } shapes[] = {
        {NULL, NULL, "T1", "events_type_created_at_idx"},
        {"Cart", "e1", NULL, "events_entity_created_at_idx"},
        {"Cart", NULL, NULL, "events_entity_type_created_at_idx"},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        rj_buf_t sql;
        rj_rs_params_t params;
        rj_buf_init(&sql);
        rj_rs_params_init(&params);
        cr_assert_eq(rj_rs_events_query_build(shapes[i].entity, shapes[i].id, shapes[i].type,
                                              "2021-02-01", "2021-02-14", 20, &sql, &params, NULL),
                     RJ_OK);
        char *plan = explain(pg, &sql, &params);
        json_t *doc = json_loads(plan, 0, NULL);
        cr_assert_not_null(doc, "%s", plan);
        /* Find the node that scans the expected index, at any depth. */
        json_t *stack = json_array();
        json_array_append(stack, json_object_get(json_array_get(doc, 0), "Plan"));
        const char *cond = NULL;
        while (json_array_size(stack) > 0 && cond == NULL) {
            json_t *node = json_incref(json_array_get(stack, json_array_size(stack) - 1));
            json_array_remove(stack, json_array_size(stack) - 1);
            const char *name = json_string_value(json_object_get(node, "Index Name"));
            if (name != NULL && strcmp(name, shapes[i].index) == 0)
                cond = json_string_value(json_object_get(node, "Index Cond"));
            size_t k;
            json_t *child;
            json_array_foreach (json_object_get(node, "Plans"), k, child)
                json_array_append(stack, child);
            json_decref(node);
        }
        cr_expect_not_null(cond, "%s is not used, or without an Index Cond: %s", shapes[i].index,
                           plan);
        if (cond != NULL) {
            cr_expect(strstr(cond, "created_at >=") != NULL, "no lower bound: %s", cond);
            cr_expect(strstr(cond, "created_at <") != NULL, "no upper bound: %s", cond);
        }
        json_decref(stack);
        json_decref(doc);
        free(plan);
        rj_rs_params_deinit(&params);
        rj_buf_deinit(&sql);
    }

    /* And the answers stay the string test's: the window's newest events, newest first. */
    json_t *out = NULL;
    rj_error_t err = {0};
    cr_assert_eq(rj_rs_events_by_type(pg, "T1", "2021-02-01", "2021-02-14", 0, &out, &err), RJ_OK,
                 "%s", err.msg);
    /* Events 10 minutes apart, every 4th of type T1: 13 days * 144 per day / 4. */
    cr_expect_eq(json_array_size(out), 13 * 144 / 4);
    json_decref(out);
    rj_pg_free(pg);
}

/* ---- 100k rows ---- */

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Median of 7 runs of a List query, in ms. */
static double
time_list(rj_pg_t *pg, const char *filter, const char *sort, size_t *count)
{
    json_t *f = json_loads(filter, 0, NULL);
    json_t *s = sort ? json_loads(sort, 0, NULL) : NULL;
    json_t *limit = json_integer(20);
    double t[7];
    for (int i = 0; i < 7; i++) {
        json_t *conn = NULL;
        rj_error_t err = {0};
        double t0 = now_ms();
        cr_assert_eq(rj_rs_list(pg, &cart_rm, f, s, limit, NULL, &conn, &err), RJ_OK, "%s",
                     err.msg);
        t[i] = now_ms() - t0;
        *count = (size_t)json_integer_value(json_object_get(conn, "count"));
        json_decref(conn);
    }
    for (int i = 1; i < 7; i++)
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    json_decref(f);
    json_decref(s);
    json_decref(limit);
    return t[3];
}

Test(readside_pg, list_on_100k_rows)
{
    const char *bench = getenv("RAMJET_TEST_PG_BENCH");
    if (bench == NULL || strcmp(bench, "1") != 0)
        cr_skip_test("RAMJET_TEST_PG_BENCH is not 1");
    rj_pg_t *pg = connect_or_skip();
    /* 100k carts: 1000 products, 10 countries, every 7th without an address. */
    exec_ok(pg,
            "INSERT INTO rm_cartreadmodel (id, value) SELECT 'cart-' || g, jsonb_build_object("
            " 'id', 'cart-' || g,"
            " 'cartItems', jsonb_build_array(jsonb_build_object('productId', 'prod-' || (g % 1000),"
            "   'quantity', g % 5 + 1)),"
            " 'cartItemsIds', jsonb_build_array('prod-' || (g % 1000)))"
            " || CASE WHEN g % 7 = 0 THEN '{}'::jsonb ELSE jsonb_build_object('shippingAddress',"
            "   jsonb_build_object('firstName', 'Name' || (g % 5000), 'lastName', 'L' || g,"
            "   'country', 'C' || (g % 10), 'state', 'S', 'postalCode', (g % 90000)::text,"
            "   'address', 'A')) END FROM generate_series(1, 100000) g",
            0, NULL);
    exec_ok(pg, "ANALYZE rm_cartreadmodel", 0, NULL);

    static const struct {
        const char *name, *filter, *sort;
    } queries[] = {
        {"eq nested", "{\"shippingAddress\": {\"firstName\": {\"eq\": \"Name42\"}}}", NULL},
        {"includes object", "{\"cartItems\": {\"includes\": {\"productId\": \"prod-7\"}}}", NULL},
        {"includes scalar + sort", "{\"cartItemsIds\": {\"includes\": \"prod-7\"}}",
         "{\"shippingAddress\": {\"lastName\": \"DESC\"}}"},
        {"in (3 ids)", "{\"id\": {\"in\": [\"cart-1\", \"cart-50000\", \"cart-99999\"]}}", NULL},
        {"beginsWith (no index)",
         "{\"shippingAddress\": {\"postalCode\": {\"beginsWith\": "
         "\"8999\"}}}",
         NULL},
        {"no filter, default order", "{}", NULL},
        {"no filter, sort by field", "{}", "{\"shippingAddress\": {\"firstName\": \"ASC\"}}"},
    };
    size_t nq = sizeof queries / sizeof queries[0];
    double with_gin[16], without[16];
    size_t counts[16];
    for (size_t i = 0; i < nq; i++)
        with_gin[i] = time_list(pg, queries[i].filter, queries[i].sort, &counts[i]);
    exec_ok(pg, "DROP INDEX rm_cartreadmodel_value_idx", 0, NULL);
    for (size_t i = 0; i < nq; i++) {
        size_t c;
        without[i] = time_list(pg, queries[i].filter, queries[i].sort, &c);
        cr_expect_eq(c, counts[i], "%s", queries[i].name);
    }
    fprintf(stderr, "List on 100k CartReadModel rows, limit 20, median of 7 (ms):\n");
    for (size_t i = 0; i < nq; i++)
        fprintf(stderr, "  %-28s count=%-3zu with GIN %8.2f   without %8.2f\n", queries[i].name,
                counts[i], with_gin[i], without[i]);
    /* The index must matter for containment. */
    cr_expect(with_gin[0] * 5 < without[0], "eq: %.2f vs %.2f", with_gin[0], without[0]);
    rj_pg_free(pg);
}
