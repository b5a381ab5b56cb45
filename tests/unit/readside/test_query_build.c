/*
 * test_query_build.c - the SQL compiler's output: structure, parameter numbering and
 * types, and that no value, field name or path ever reaches the SQL text (hostile strings
 * in every position). The results of the SQL are checked against PostgreSQL in
 * test_readside_pg.c.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "readside/readside.h"
#include "../test_time.h"

static rj_app_read_model_t cart_rm = {.name = (char *)"CartReadModel"};

typedef struct built {
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_status_t st;
    rj_error_t err;
} built_t;

static void
build(built_t *b, const char *filter, const char *sort_by, const rj_rs_page_t *page)
{
    json_t *f = filter ? json_loads(filter, JSON_DECODE_ANY, NULL) : NULL;
    json_t *s = sort_by ? json_loads(sort_by, JSON_DECODE_ANY, NULL) : NULL;
    cr_assert(filter == NULL || f != NULL, "bad test JSON %s", filter);
    cr_assert(sort_by == NULL || s != NULL, "bad test JSON %s", sort_by);
    rj_buf_init(&b->sql);
    rj_rs_params_init(&b->params);
    rj_error_clear(&b->err);
    b->st = rj_rs_query_build(&cart_rm, f, s, page, &b->sql, &b->params, &b->err);
    json_decref(f);
    json_decref(s);
}

static void
unbuild(built_t *b)
{
    rj_buf_deinit(&b->sql);
    rj_rs_params_deinit(&b->params);
}

/* True when some parameter equals @p v. */
static bool
has_param(const built_t *b, const char *v)
{
    for (size_t i = 0; i < b->params.n; i++)
        if (strcmp(b->params.values[i], v) == 0)
            return true;
    return false;
}

/* Every $n in the SQL names an existing parameter, and every parameter is used. */
static void
expect_params_consistent(const built_t *b)
{
    bool *used = calloc(b->params.n + 1, sizeof *used);
    for (const char *s = strchr(b->sql.data, '$'); s != NULL; s = strchr(s + 1, '$')) {
        long n = strtol(s + 1, NULL, 10);
        cr_assert(n >= 1 && (size_t)n <= b->params.n, "$%ld out of range in %s", n, b->sql.data);
        used[n] = true;
    }
    for (size_t i = 1; i <= b->params.n; i++)
        cr_expect(used[i], "parameter $%zu unused in %s", i, b->sql.data);
    free(used);
}

Test(query_build, no_filter_default_order_and_page)
{
    built_t b;
    rj_rs_page_t page = {.limit = 10, .offset = 20};
    build(&b, NULL, NULL, &page);
    cr_assert_eq(b.st, RJ_OK, "%s", b.err.msg);
    cr_expect_str_eq(b.sql.data,
                     "SELECT coalesce(jsonb_agg(t.value ORDER BY t.id, t.seq), '[]'::jsonb)::text "
                     "FROM (SELECT value, id, seq FROM \"rm_cartreadmodel\" WHERE true "
                     "ORDER BY id, seq LIMIT $1::bigint OFFSET $2::bigint) t");
    cr_expect_eq(b.params.n, 2);
    cr_expect_str_eq(b.params.values[0], "10");
    cr_expect_str_eq(b.params.values[1], "20");
    unbuild(&b);
}

Test(query_build, eq_is_containment_under_the_path)
{
    built_t b;
    build(&b, "{\"shippingAddress\": {\"firstName\": {\"eq\": \"Ann\"}}, \"id\": {\"eq\": 5}}",
          NULL, NULL);
    cr_assert_eq(b.st, RJ_OK, "%s", b.err.msg);
    /* One pair of parentheses per filter object: root, shippingAddress, firstName. */
    cr_expect(strstr(b.sql.data, "WHERE ((((value @> $1::jsonb))) AND ((value @> $2::jsonb))) "
                                 "ORDER BY id, seq) t") != NULL,
              "%s", b.sql.data);
    cr_expect_str_eq(b.params.values[0], "{\"shippingAddress\":{\"firstName\":\"Ann\"}}");
    cr_expect_str_eq(b.params.values[1], "{\"id\":5}");
    expect_params_consistent(&b);
    unbuild(&b);
}

Test(query_build, operators_bind_paths_once_and_values_typed)
{
    built_t b;
    build(&b,
          "{\"payment\": {\"confirmationToken\": {\"gt\": \"a\", \"lte\": \"z\", "
          "\"beginsWith\": \"t\", \"contains\": \"ok\", \"regex\": \"^t\", \"iRegex\": \"K$\", "
          "\"isDefined\": true, \"ne\": null}}, \"cartItems\": {\"includes\": {\"quantity\": 2}}, "
          "\"id\": {\"in\": [\"a\", 3, null, {\"x\": 1}]}}",
          "{\"shippingAddress\": {\"lastName\": \"DESC\"}, \"id\": \"ASC\"}", NULL);
    cr_assert_eq(b.st, RJ_OK, "%s", b.err.msg);
    expect_params_consistent(&b);
    const char *sql = b.sql.data;
    cr_expect(strstr(sql, " COLLATE \"C\" > $") != NULL, "%s", sql);
    cr_expect(strstr(sql, " COLLATE \"C\" <= $") != NULL, "%s", sql);
    cr_expect(strstr(sql, "starts_with(value #>> $") != NULL, "%s", sql);
    cr_expect(strstr(sql, "strpos(value #>> $") != NULL, "%s", sql);
    cr_expect(strstr(sql, "::text[]) ~ $") != NULL, "%s", sql);
    cr_expect(strstr(sql, "::text[]) ~* $") != NULL, "%s", sql);
    cr_expect(strstr(sql, "IS NOT NULL)") != NULL, "%s", sql);
    cr_expect(strstr(sql, "<> 'null'") != NULL, "%s", sql);
    cr_expect(strstr(sql, "DESC NULLS LAST") != NULL, "%s", sql);
    cr_expect(has_param(&b, "{\"payment\",\"confirmationToken\"}"));
    cr_expect(has_param(&b, "{\"shippingAddress\",\"lastName\"}"));
    cr_expect(has_param(&b, "{\"cartItems\":[{\"quantity\":2}]}"));
    cr_expect(has_param(&b, "{\"id\":\"a\"}"));
    cr_expect(has_param(&b, "{\"id\":3}"));
    cr_expect(has_param(&b, "{\"id\":null}"));
    cr_expect(has_param(&b, "{\"x\":1}"));
    /* The path of confirmationToken is bound once, though eight operators use it. */
    size_t n = 0;
    for (size_t i = 0; i < b.params.n; i++)
        n += strcmp(b.params.values[i], "{\"payment\",\"confirmationToken\"}") == 0;
    cr_expect_eq(n, 1);
    unbuild(&b);
}

Test(query_build, combinators_nest)
{
    built_t b;
    build(&b,
          "{\"or\": [{\"id\": {\"eq\": \"a\"}}, {\"not\": {\"id\": {\"eq\": \"b\"}}}], "
          "\"shippingAddress\": {\"and\": [], \"or\": []}}",
          NULL, NULL);
    cr_assert_eq(b.st, RJ_OK, "%s", b.err.msg);
    cr_expect(strstr(b.sql.data, "WHERE (((((value @> $1::jsonb))) OR (NOT (((value @> "
                                 "$2::jsonb))))) AND (true AND false)) ORDER BY") != NULL,
              "%s", b.sql.data);
    unbuild(&b);
}

Test(query_build, hostile_strings_only_in_parameters)
{
    static const char *const evil = "'; DROP TABLE x; --";
    /* The same string as field name, nested field name, every operand and sort key. */
    json_t *filter = json_pack(
        "{s:{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:s}}, s:{s:{s:s}}, s:[{s:{s:s}}]}",
        evil, evil, "eq", evil, "ne", evil, "gt", evil, "lt", evil, "beginsWith", evil, "contains",
        evil, "regex", evil, "iRegex", evil, "in", evil, "gte", evil, "cartItems", "includes",
        "productId", evil, "or", evil, "lte", evil);
    json_t *sort = json_pack("{s:{s:s}, s:s}", evil, evil, "DESC", "id", "ASC");
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    rj_status_t st = rj_rs_query_build(&cart_rm, filter, sort, NULL, &sql, &params, NULL);
    cr_assert_eq(st, RJ_OK);
    cr_expect_null(strstr(sql.data, "DROP"), "%s", sql.data);
    cr_expect_null(strstr(sql.data, "--"), "%s", sql.data);
    /* No quote of the client's text: the only single quotes are our own literals. */
    for (const char *q = strchr(sql.data, '\''); q != NULL; q = strchr(q + 1, '\'')) {
        static const char *const ours[] = {"'[]'", "'number'", "'string'", "'boolean'", "'null'"};
        bool known = false;
        for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
            if (strncmp(q, ours[i], strlen(ours[i])) == 0) {
                known = true;
                q += strlen(ours[i]) - 1;
                break;
            }
        cr_expect(known, "unexpected quote at %.30s", q);
    }
    bool in_params = false;
    for (size_t i = 0; i < params.n; i++)
        in_params |= strstr(params.values[i], "DROP TABLE") != NULL;
    cr_expect(in_params);
    json_decref(filter);
    json_decref(sort);
    rj_buf_deinit(&sql);
    rj_rs_params_deinit(&params);
}

Test(query_build, read_model_name_is_quoted)
{
    rj_app_read_model_t odd = {.name = (char *)"A\"b"};
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    cr_assert_eq(rj_rs_query_build(&odd, NULL, NULL, NULL, &sql, &params, NULL), RJ_OK);
    cr_expect(strstr(sql.data, "FROM \"rm_a\"\"b\" WHERE") != NULL, "%s", sql.data);
    rj_buf_deinit(&sql);
    rj_rs_params_deinit(&params);
}

Test(query_build, malformed_input_is_einval)
{
    static const char *const bad_filters[] = {
        "{\"id\": \"x\"}",
        "{\"id\": {\"in\": \"x\"}}",
        "{\"id\": {\"isDefined\": 1}}",
        "{\"id\": {\"gt\": {\"a\": 1}}}",
        "{\"and\": {}}",
        "{\"id\": {\"beginsWith\": 3}}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof bad_filters / sizeof bad_filters[0]; i++) {
        built_t b;
        build(&b, bad_filters[i], NULL, NULL);
        cr_expect_eq(b.st, RJ_EINVAL, "%s", bad_filters[i]);
        cr_expect(strncmp(b.err.msg, "could not build the read-model query", 36) == 0, "%s",
                  b.err.msg);
        unbuild(&b);
    }
    built_t b;
    build(&b, NULL, "{\"id\": \"UP\"}", NULL);
    cr_expect_eq(b.st, RJ_EINVAL);
    unbuild(&b);
    rj_rs_page_t neg = {.limit = -1, .offset = 0};
    build(&b, NULL, NULL, &neg);
    cr_expect_eq(b.st, RJ_EINVAL);
    unbuild(&b);
}

Test(query_build, null_operands_are_no_test)
{
    built_t b;
    build(&b,
          "{\"id\": {\"gt\": null, \"in\": null, \"includes\": null}, \"payment\": null, "
          "\"not\": null, \"and\": null}",
          NULL, NULL);
    cr_assert_eq(b.st, RJ_OK, "%s", b.err.msg);
    cr_expect_eq(b.params.n, 0);
    unbuild(&b);
}

Test(page, from_args_and_connection)
{
    rj_rs_page_t p;
    cr_assert_eq(rj_rs_page_from_args(NULL, NULL, &p, NULL), RJ_OK);
    cr_expect_eq(p.limit, RJ_RS_PAGE_SIZE);
    cr_expect_eq(p.offset, 0);
    json_t *lim = json_integer(3), *cur = json_pack("{s:s}", "id", "6");
    cr_assert_eq(rj_rs_page_from_args(lim, cur, &p, NULL), RJ_OK);
    cr_expect_eq(p.limit, 3);
    cr_expect_eq(p.offset, 6);
    json_t *conn = rj_rs_connection_take(json_pack("[i,i]", 1, 2), &p);
    char *text = json_dumps(conn, JSON_COMPACT);
    cr_expect_str_eq(text, "{\"items\":[1,2],\"count\":2,\"cursor\":{\"id\":\"9\"}}");
    free(text);
    json_decref(conn);
    json_decref(cur);
    json_decref(lim);

    static const char *const bad_cursors[] = {"{\"id\": \"-1\"}", "{\"id\": \"1x\"}",
                                              "{\"id\": 1.5}", "\"5\"", "{\"id\": \"\"}"};
    for (size_t i = 0; i < sizeof bad_cursors / sizeof bad_cursors[0]; i++) {
        json_t *c = json_loads(bad_cursors[i], JSON_DECODE_ANY, NULL);
        cr_expect_eq(rj_rs_page_from_args(NULL, c, &p, NULL), RJ_EINVAL, "%s", bad_cursors[i]);
        json_decref(c);
    }
    json_t *neg = json_integer(-1);
    cr_expect_eq(rj_rs_page_from_args(neg, NULL, &p, NULL), RJ_EINVAL);
    json_decref(neg);
    /* Without limit the cursor steps by the page size, as Booster's integration test. */
    cr_assert_eq(rj_rs_page_from_args(NULL, NULL, &p, NULL), RJ_OK);
    conn = rj_rs_connection_take(json_array(), &p);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(conn, "cursor"), "id")),
                     "100");
    cr_expect_eq(json_integer_value(json_object_get(conn, "count")), 0);
    json_decref(conn);
    cr_expect_null(rj_rs_connection_take(json_object(), &p));
}

Test(events_build, shape_and_errors)
{
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    cr_assert_eq(
        rj_rs_events_query_build("Cart", "c1", NULL, "2021", "2022", 5, &sql, &params, NULL),
        RJ_OK);
    /* entity, id, from and its range start, to and its range start and unit, limit */
    cr_expect_eq(params.n, 8);
    cr_expect(strstr(sql.data, "entity_type = $1::text AND entity_id = $2::text") != NULL, "%s",
              sql.data);
    cr_expect(strstr(sql.data, "\"current_user\"") != NULL);
    cr_expect(strstr(sql.data, "LIMIT $8::bigint") != NULL);
    cr_assert_eq(
        rj_rs_events_query_build(NULL, NULL, "CartPaid", NULL, NULL, 0, &sql, &params, NULL),
        RJ_OK);
    cr_expect_eq(params.n, 1);
    cr_expect_null(strstr(sql.data, "LIMIT"));
    cr_expect_eq(rj_rs_events_query_build(NULL, NULL, NULL, NULL, NULL, 0, &sql, &params, NULL),
                 RJ_EINVAL);
    cr_expect_eq(
        rj_rs_events_query_build("Cart", NULL, "CartPaid", NULL, NULL, 0, &sql, &params, NULL),
        RJ_EINVAL);
    rj_buf_deinit(&sql);
    rj_rs_params_deinit(&params);
}

/* The created_at range a string bound implies: params.values of eventsByType(from or to). */
static void
expect_bound(bool is_from, const char *bound, const char *start, const char *unit)
{
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    cr_assert_eq(rj_rs_events_query_build(NULL, NULL, "CartPaid", is_from ? bound : NULL,
                                          is_from ? NULL : bound, 0, &sql, &params, NULL),
                 RJ_OK);
    /* $1 type, $2 the string bound, then the range's start (and, for `to`, its unit) */
    size_t want = start == NULL ? 2 : is_from ? 3 : 4;
    cr_assert_eq(params.n, want, "%s %s: %s", is_from ? "from" : "to", bound, sql.data);
    if (start != NULL) {
        cr_expect_str_eq(params.values[2], start, "%s %s", is_from ? "from" : "to", bound);
        cr_expect(strstr(sql.data, is_from ? "created_at >= ($3::timestamp AT TIME ZONE 'UTC')"
                                           : "created_at < (($3::timestamp + $4::interval) AT "
                                             "TIME ZONE 'UTC')") != NULL,
                  "%s", sql.data);
        if (!is_from)
            cr_expect_str_eq(params.values[3], unit, "to %s", bound);
    }
    rj_buf_deinit(&sql);
    rj_rs_params_deinit(&params);
}

Test(events_build, string_bounds_imply_a_created_at_range)
{
    /* Whole fields are read, up to the seconds; what follows is left to the string test. */
    expect_bound(true, "2021", "2021-01-01 00:00:00", NULL);
    expect_bound(false, "2021", "2021-01-01 00:00:00", "1 year");
    expect_bound(false, "2021-02-13", "2021-02-13 00:00:00", "1 day");
    expect_bound(false, "2021-02-13T09", "2021-02-13 09:00:00", "1 hour");
    expect_bound(true, "2024-02-29T23:59:59.999Z", "2024-02-29 23:59:59", NULL);
    expect_bound(false, "2024-02-29T23:59:59.999Z", "2024-02-29 23:59:59", "1 second");
    expect_bound(false, "2021-12-31T23:59", "2021-12-31 23:59:00", "1 minute");
    /* A partial or invalid field ends the prefix: the range is wider, never wrong. */
    expect_bound(false, "2021-1", "2021-01-01 00:00:00", "1 year");
    expect_bound(false, "2023-02-29", "2023-02-01 00:00:00", "1 month");
    expect_bound(true, "2021-13-01", "2021-01-01 00:00:00", NULL);
    expect_bound(false, "2021-02-13 09", "2021-02-13 00:00:00", "1 day");
    expect_bound(false, "2021-02-13T24", "2021-02-13 00:00:00", "1 day");
    /* No year, no range. */
    expect_bound(true, "", NULL, NULL);
    expect_bound(false, "0000", NULL, NULL);
    expect_bound(true, "202", NULL, NULL);
    expect_bound(false, "'; DROP TABLE events; --", NULL, NULL);
}

/*
 * Issue 9, finding 3: equal parameters were found by scanning all earlier ones, so an `in`
 * list of 500,000 values took minutes. The lookup is hashed: 200,000 values (half of them
 * repeats) build in well under a second, each distinct value bound once, and a value of
 * another kind (a text[] path equal to a jsonb text) is not shared.
 */
Test(query_build, long_in_lists_build_in_linear_time)
{
    enum { N = 200000 };
    rj_buf_t f;
    rj_buf_init(&f);
    rj_buf_puts(&f, "{\"id\":{\"in\":[");
    for (int i = 0; i < N; i++)
        rj_buf_printf(&f, "%s\"c%d\"", i > 0 ? "," : "", i % (N / 2));
    rj_buf_puts(&f, "]}}");
    built_t b;
    int64_t t0 = rj_mono_us();
    build(&b, f.data, NULL, NULL);
    double ms = (double)(rj_mono_us() - t0) / 1000.0;
    cr_assert_eq(b.st, RJ_OK, "%s", b.err.msg);
    cr_expect_lt(ms, RJ_TEST_MS(1000.0), "%d values took %.0f ms", N, ms);
    cr_expect_eq(b.params.n, N / 2, "distinct values bound once: %zu parameters", b.params.n);
    cr_expect(has_param(&b, "{\"id\":\"c0\"}"));
    cr_expect(has_param(&b, "{\"id\":\"c99999\"}"));
    unbuild(&b);
    rj_buf_deinit(&f);
}
