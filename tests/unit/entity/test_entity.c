/*
 * test_entity.c - entity reads for handlers (common/src/entity, rj_entity_get in run.c):
 * folding a snapshot and its newer events with the shop's reducers, the error for a
 * version found nowhere, folding a batch's pending registrations, the shop handlers that
 * read entities (PlaceOrder, InspectCart, CartTotalQuantity) through a reader, the
 * loader's checks of @query, and (with RAMJET_TEST_PG_URL, else skipped) the one
 * statement against a real PostgreSQL: events, command_outbox fallback, gaps, the index.
 *
 * Needs RAMJET_BUILD_DIR (set by CTest) to find lib/libshop.so.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "app/app_int.h"
#include "core/core.h"
#include "entity/entity.h"
#include "log/log.h"
#include "pg/pg.h"
#include "../pg_test.h"

static rj_app_t *shop;

static void
load_shop(void)
{
    rj_core_init();
    rj_log_init("test-entity");
    rj_log_set_level(RJ_LOG_ERROR);
    const char *dir = getenv("RAMJET_BUILD_DIR");
    cr_assert_not_null(dir, "set RAMJET_BUILD_DIR to the build directory");
    char *path = rj_xasprintf("%s/lib/libshop.so", dir);
    rj_error_t err;
    rj_error_clear(&err);
    shop = rj_app_load(path, &err);
    cr_assert_not_null(shop, "%s", err.msg);
    free(path);
}

static void
free_shop(void)
{
    rj_app_free(shop);
    shop = NULL;
}

/* Rows as the statement returns them: events given as a JSON text. */
static rj_entity_rows_t
rows(long long head, long long snap_version, const char *snapshot, const char *events)
{
    rj_entity_rows_t r = {.head = head, .snapshot_version = snap_version};
    r.snapshot = snapshot != NULL ? json_loads(snapshot, 0, NULL) : NULL;
    r.events = json_loads(events, 0, NULL);
    cr_assert(json_is_array(r.events), "bad fixture %s", events);
    return r;
}

static void
expect_json(const json_t *got, const char *want)
{
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(w, "bad fixture %s", want);
    char *g = got != NULL ? json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    cr_expect(json_equal(got, w), "got %s, want %s", g != NULL ? g : "NULL", want);
    free(g);
    json_decref(w);
}

/* ---- folding the statement's rows ---- */

TestSuite(fold, .init = load_shop, .fini = free_shop);

Test(fold, snapshot_then_newer_events_in_version_order)
{
    rj_entity_rows_t r = rows(4, 2, "{\"id\":\"c1\",\"name\":\"Ann\"}",
                              "[{\"version\":3,\"type\":\"CustomerRenamed\","
                              "  \"value\":{\"customerId\":\"c1\",\"name\":\"Bob\"}},"
                              " {\"version\":4,\"type\":\"CustomerRenamed\","
                              "  \"value\":{\"customerId\":\"c1\",\"name\":\"Cy\"}}]");
    json_t *state = NULL;
    long long version = 0;
    rj_error_t err = {0};
    cr_assert_eq(rj_entity_fold_rows(shop, "Customer", "c1", &r, &state, &version, &err), RJ_OK,
                 "%s", err.msg);
    expect_json(state, "{\"id\":\"c1\",\"name\":\"Cy\"}");
    cr_expect_eq(version, 4);
    /* The snapshot in the rows is not modified by folding (reducers copy). */
    expect_json(r.snapshot, "{\"id\":\"c1\",\"name\":\"Ann\"}");
    cr_expect_eq(r.snapshot->refcount, 1);
    json_decref(state);
    rj_entity_rows_deinit(&r);
}

Test(fold, no_events_is_null_and_snapshot_only_is_the_snapshot)
{
    rj_entity_rows_t r = rows(0, 0, NULL, "[]");
    json_t *state = json_true(); /* must be overwritten */
    rj_error_t err = {0};
    cr_assert_eq(rj_entity_fold_rows(shop, "Customer", "nobody", &r, &state, NULL, &err), RJ_OK);
    cr_expect_null(state);
    rj_entity_rows_deinit(&r);

    r = rows(3, 3, "{\"id\":\"c2\",\"name\":\"Di\"}", "[]");
    cr_assert_eq(rj_entity_fold_rows(shop, "Customer", "c2", &r, &state, NULL, &err), RJ_OK);
    expect_json(state, "{\"id\":\"c2\",\"name\":\"Di\"}");
    json_decref(state);
    rj_entity_rows_deinit(&r);
}

Test(fold, a_version_found_nowhere_is_an_error_not_a_stale_state)
{
    /* Version 3 of 2..4 is missing: folding 4 onto 2 would fake a state. */
    rj_entity_rows_t r = rows(4, 1, "{\"id\":\"c1\",\"name\":\"Ann\"}",
                              "[{\"version\":2,\"type\":\"CustomerRenamed\","
                              "  \"value\":{\"customerId\":\"c1\",\"name\":\"Bob\"}},"
                              " {\"version\":4,\"type\":\"CustomerRenamed\","
                              "  \"value\":{\"customerId\":\"c1\",\"name\":\"Cy\"}}]");
    json_t *state = NULL;
    rj_error_t err = {0};
    cr_expect_eq(rj_entity_fold_rows(shop, "Customer", "c1", &r, &state, NULL, &err),
                 RJ_EINTERNAL);
    cr_expect_null(state);
    cr_expect_str_eq(err.msg, "could not read entity Customer id=c1: version 3 (of 4 after "
                              "snapshot 1) is in neither the event store nor the command "
                              "outbox");
    rj_entity_rows_deinit(&r);

    /* The newest versions missing (the head is ahead of everything found) fails too. */
    r = rows(5, 0, NULL,
             "[{\"version\":1,\"type\":\"CustomerRegistered\","
             "  \"value\":{\"customerId\":\"c9\",\"name\":\"Ed\"}}]");
    rj_error_clear(&err);
    cr_expect_eq(rj_entity_fold_rows(shop, "Customer", "c9", &r, &state, NULL, &err),
                 RJ_EINTERNAL);
    cr_expect_null(state);
    cr_expect(strstr(err.msg, "version 2 (of 5 after snapshot 0)") != NULL, "%s", err.msg);
    rj_entity_rows_deinit(&r);
}

Test(fold, copies_are_skipped_and_a_failing_reducer_skips_its_event_only)
{
    /* Version 1 again (already in the snapshot), then an event nobody reduces: the state
       stays, the version still advances, and version 3 folds. */
    rj_entity_rows_t r = rows(3, 1, "{\"id\":\"k\",\"cartItems\":[]}",
                              "[{\"version\":1,\"type\":\"CartItemChanged\","
                              "  \"value\":{\"cartId\":\"k\",\"productId\":\"p\",\"quantity\":9}},"
                              " {\"version\":2,\"type\":\"NoSuchEvent\",\"value\":{}},"
                              " {\"version\":3,\"type\":\"CartItemChanged\","
                              "  \"value\":{\"cartId\":\"k\",\"productId\":\"p\",\"quantity\":2}}]");
    json_t *state = NULL;
    long long version = 0;
    rj_error_t err = {0};
    cr_assert_eq(rj_entity_fold_rows(shop, "Cart", "k", &r, &state, &version, &err), RJ_OK, "%s",
                 err.msg);
    expect_json(state, "{\"id\":\"k\",\"cartItems\":[{\"productId\":\"p\",\"quantity\":2}]}");
    cr_expect_eq(version, 3);
    json_decref(state);
    rj_entity_rows_deinit(&r);
}

Test(fold, pending_registrations_of_the_entity_fold_in_order)
{
    json_t *regs = json_loads(
        "[{\"type\":\"CustomerRenamed\",\"entity\":\"Customer\",\"entityId\":\"c1\","
        "  \"value\":{\"customerId\":\"c1\",\"name\":\"Bob\"}},"
        " {\"type\":\"CustomerRenamed\",\"entity\":\"Customer\",\"entityId\":\"c2\","
        "  \"value\":{\"customerId\":\"c2\",\"name\":\"Other\"}},"
        " {\"type\":\"CartItemChanged\",\"entity\":\"Cart\",\"entityId\":\"c1\","
        "  \"value\":{\"cartId\":\"c1\",\"productId\":\"p\",\"quantity\":1}},"
        " {\"type\":\"CustomerRenamed\",\"entity\":\"Customer\",\"entityId\":\"c1\","
        "  \"value\":{\"customerId\":\"c1\",\"name\":\"Cy\"}}]",
        0, NULL);
    cr_assert_not_null(regs);
    json_t *state = json_pack("{s:s, s:s}", "id", "c1", "name", "Ann");
    cr_expect_eq(rj_entity_fold_pending(shop, "Customer", "c1", regs, &state), 2);
    expect_json(state, "{\"id\":\"c1\",\"name\":\"Cy\"}");
    json_decref(state);

    /* From nothing: the first registration creates the entity. */
    state = NULL;
    cr_expect_eq(rj_entity_fold_pending(shop, "Customer", "c2", regs, &state), 1);
    expect_json(state, "{\"id\":\"c2\",\"name\":\"Other\"}");
    json_decref(state);

    state = NULL;
    cr_expect_eq(rj_entity_fold_pending(shop, "Customer", "c3", regs, &state), 0);
    cr_expect_null(state);
    json_decref(regs);
}

/* ---- the shop's handlers, through a reader ---- */

/* A reader over a JSON object {"<Entity>/<id>": state}; counts its calls. */
typedef struct fake_store {
    json_t *entities; /* owned */
    int calls;        /* reads served */
    rj_status_t fail; /* when not RJ_OK, every read fails with it */
} fake_store_t;

static rj_status_t
fake_read(void *opaque, const char *entity, const char *id, json_t **state, rj_error_t *err)
{
    fake_store_t *s = opaque;
    s->calls++;
    if (s->fail != RJ_OK)
        return rj_error_set(err, s->fail, "could not read entity %s id=%s: store is down",
                            entity, id);
    char key[256];
    snprintf(key, sizeof key, "%s/%s", entity, id);
    json_t *v = json_object_get(s->entities, key);
    *state = v != NULL ? json_deep_copy(v) : NULL;
    return RJ_OK;
}

static rj_status_t
fake_search(void *opaque, const rj_app_read_model_t *rm, const json_t *filter, size_t limit,
            json_t **items, rj_error_t *err)
{
    fake_store_t *s = opaque;
    s->calls++;
    /* Echo what the store was asked, so the test sees it arrive intact. */
    *items = json_pack("[{s:s, s:O, s:I}]", "readModel", rm->name, "filter",
                       filter != NULL ? filter : json_null(), "limit", (json_int_t)limit);
    return RJ_OK;
}

TestSuite(handlers, .init = load_shop, .fini = free_shop);

/* A command that searches CustomerReadModel and returns what it found (in-process shop). */
static rj_status_t
search_handler(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    const json_t *items = NULL;
    rj_status_t st = rj_read_models_search(ctx, json_string_value(json_object_get(input, "rm")),
                                           json_object_get(input, "filter"), 2, &items, err);
    if (st == RJ_OK)
        *result = json_incref((json_t *)items);
    return st;
}

Test(handlers, read_model_search_goes_to_the_store_and_checks_its_arguments)
{
    fake_store_t store = {0};
    const rj_app_reader_t reader = {.read_models = fake_search, .opaque = &store};
    rj_app_t *app = rj__app_new();
    rj_app_schema_string(app, "type V @readModel(authorize: ALL) { id: ID!  name: String }\n"
                              "input Search @command(authorize: ALL) { rm: String  filter: JSON }\n");
    rj_app_on_command(app, "Search", search_handler);
    rj_error_t err = {0};
    cr_assert_eq(rj__app_finish(app, &err), RJ_OK, "%s", err.msg);

    json_t *input = json_pack("{s:s, s:{s:{s:s}}}", "rm", "V", "filter", "name", "beginsWith", "A");
    json_t *result = NULL, *events = NULL;
    cr_assert_eq(rj_app_run_command_reading(app, &reader, "Search", input, NULL, "r", &result,
                                            &events, &err),
                 RJ_OK, "%s", err.msg);
    expect_json(result, "[{\"readModel\":\"V\",\"filter\":{\"name\":{\"beginsWith\":\"A\"}},"
                        "\"limit\":2}]");
    cr_expect_eq(result->refcount, 1);
    json_decref(result);
    json_decref(events);

    json_object_set_new(input, "rm", json_string("Nope"));
    cr_expect_eq(rj_app_run_command_reading(app, &reader, "Search", input, NULL, "r", &result,
                                            &events, &err),
                 RJ_ENOTFOUND);
    cr_expect_str_eq(err.msg, "could not search read model Nope: it is not declared with "
                              "@readModel");
    json_object_set_new(input, "rm", json_string("V"));
    json_object_set_new(input, "filter", json_string("name = 'A'"));
    cr_expect_eq(rj_app_run_command_reading(app, &reader, "Search", input, NULL, "r", &result,
                                            &events, &err),
                 RJ_EINVAL);
    cr_expect_str_eq(err.msg, "could not search read model V: the filter must be an object");
    cr_expect_eq(store.calls, 1, "refused searches never reach the store");
    json_decref(input);
    rj_app_free(app);
}

Test(handlers, place_order_records_the_current_customer_name_or_fails_exactly)
{
    fake_store_t store = {.entities = json_pack("{s:{s:s, s:s}}", "Customer/c1", "id", "c1",
                                                "name", "Ann Renamed")};
    const rj_app_reader_t reader = {.entity = fake_read, .opaque = &store};
    json_t *input = json_pack("{s:s, s:s, s:f}", "orderId", "o1", "customerId", "c1",
                              "amountCents", 1250.0);
    json_t *result = NULL, *events = NULL;
    rj_error_t err = {0};
    cr_assert_eq(rj_app_run_command_reading(shop, &reader, "PlaceOrder", input, NULL, "r1",
                                            &result, &events, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect_eq(store.calls, 1);
    cr_expect(json_is_true(result));
    expect_json(events, "[{\"type\":\"OrderPlaced\",\"entity\":\"Order\",\"entityId\":\"o1\","
                        "  \"value\":{\"orderId\":\"o1\",\"customerId\":\"c1\","
                        "             \"customerName\":\"Ann Renamed\",\"amountCents\":1250.0}}]");
    json_decref(result);
    json_decref(events);

    json_object_set_new(input, "customerId", json_string("ghost"));
    result = events = NULL;
    cr_expect_eq(rj_app_run_command_reading(shop, &reader, "PlaceOrder", input, NULL, "r2",
                                            &result, &events, &err),
                 RJ_ENOTFOUND);
    cr_expect_str_eq(err.msg, "Customer ghost not found");
    cr_expect_null(result);
    cr_expect_null(events);

    /* A storage failure reaches the client as the read's own message. */
    store.fail = RJ_ERETRY;
    cr_expect_eq(rj_app_run_command_reading(shop, &reader, "PlaceOrder", input, NULL, "r3",
                                            &result, &events, &err),
                 RJ_ERETRY);
    cr_expect_str_eq(err.msg, "could not read entity Customer id=ghost: store is down");

    /* Without a store (rj_app_run_command) an entity read is refused, not faked. */
    cr_expect_eq(rj_app_run_command(shop, "PlaceOrder", input, NULL, "r4", &result, &events,
                                    &err),
                 RJ_EINVAL);
    cr_expect(strstr(err.msg, "without an entity store") != NULL, "%s", err.msg);
    json_decref(input);
    json_decref(store.entities);
}

Test(handlers, inspect_cart_returns_the_entity_or_null_and_total_quantity_sums)
{
    fake_store_t store = {
        .entities = json_loads("{\"Cart/k1\":{\"id\":\"k1\",\"cartItems\":["
                               "{\"productId\":\"p1\",\"quantity\":2},"
                               "{\"productId\":\"p2\",\"quantity\":3.5}]}}",
                               0, NULL)};
    const rj_app_reader_t reader = {.entity = fake_read, .opaque = &store};
    json_t *result = NULL, *events = NULL;
    rj_error_t err = {0};

    json_t *input = json_pack("{s:s}", "cartId", "k1");
    cr_assert_eq(rj_app_run_command_reading(shop, &reader, "InspectCart", input, NULL, "r1",
                                            &result, &events, &err),
                 RJ_OK, "%s", err.msg);
    expect_json(result, "{\"id\":\"k1\",\"cartItems\":[{\"productId\":\"p1\",\"quantity\":2},"
                        "{\"productId\":\"p2\",\"quantity\":3.5}]}");
    cr_expect_eq(json_array_size(events), 0);
    /* The result outlived the context that held the state: it is the caller's alone. */
    cr_expect_eq(result->refcount, 1);
    json_decref(result);
    json_decref(events);

    cr_assert_eq(rj_app_run_query(shop, &reader, "CartTotalQuantity", input, NULL, "q1", &result,
                                  &err),
                 RJ_OK, "%s", err.msg);
    cr_expect_float_eq(json_number_value(result), 5.5, 1e-9);
    json_decref(result);
    json_decref(input);

    /* A cart without events: InspectCart is a GraphQL null (not `true`), the total 0. */
    input = json_pack("{s:s}", "cartId", "empty");
    cr_assert_eq(rj_app_run_command_reading(shop, &reader, "InspectCart", input, NULL, "r2",
                                            &result, &events, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect(json_is_null(result));
    json_decref(result);
    json_decref(events);
    cr_assert_eq(rj_app_run_query(shop, &reader, "CartTotalQuantity", input, NULL, "q2", &result,
                                  &err),
                 RJ_OK, "%s", err.msg);
    cr_expect(json_is_real(result) && json_real_value(result) == 0.0);
    json_decref(result);
    json_decref(input);
    json_decref(store.entities);

    cr_expect_eq(rj_app_run_query(shop, &reader, "Nope", NULL, NULL, "q3", &result, &err),
                 RJ_ENOTFOUND);
}

Test(handlers, the_queries_in_the_model_and_the_api)
{
    const rj_app_query_t *q = rj_app_query(shop, "CartTotalQuantity");
    cr_assert_not_null(q);
    cr_expect_eq(rj_app_query_count(shop), 1);
    cr_expect_eq(rj_app_query_at(shop, 0), q);
    cr_expect_str_eq(q->returns, "Float!");
    cr_expect_eq(q->authorize.kind, RJ_APP_AUTH_ALL);
    cr_expect_eq(q->n_fields, 1);
    cr_expect_null(rj_app_command(shop, "CartTotalQuantity"));
    const char *sdl = rj_app_api_sdl(shop);
    cr_expect(strstr(sdl, "  CartTotalQuantity(input: CartTotalQuantityInput!): Float!\n") !=
                  NULL, "%s", sdl);
    cr_expect(strstr(sdl, "input CartTotalQuantityInput {\n  cartId: ID!\n}") != NULL);
    cr_expect(strstr(sdl, "  InspectCart(input: InspectCartInput!): Cart\n") != NULL);
    cr_expect(strstr(sdl, "type Cart {\n") != NULL, "the Cart object type is in the API");
    cr_expect(strstr(sdl, "  PlaceOrder(input: PlaceOrderInput!): JSON!\n") != NULL);
}

/* ---- in-process apps: @query declarations and the query context ---- */

static rj_status_t
query_registers(rj_query_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    /* A query is a read: registering must fail, and the status is passed on. */
    return rj_command_register_take(ctx, "ThingSet", json_pack("{s:s}", "id", "x"), err);
}

static rj_status_t
query_hook_upper(const json_t *input, const json_t *user, json_t **out, rj_error_t *err)
{
    *out = json_pack("{s:s}", "id", "FROM-HOOK");
    return RJ_OK;
}

static rj_status_t
query_echo(rj_query_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    *result = json_deep_copy(json_object_get(input, "id"));
    return RJ_OK;
}

static rj_status_t
reduce_copy(const json_t *event, const json_t *current, json_t **out, rj_error_t *err)
{
    *out = json_deep_copy(event);
    return RJ_OK;
}

static rj_status_t
allow_all(const json_t *user, const json_t *input, rj_error_t *err)
{
    return RJ_OK;
}

static const char query_sdl[] =
    "type Thing @entity { id: ID! }\n"
    "type ThingSet @event(entity: \"Thing\", key: \"id\") { id: ID! }\n"
    "input Echo @query(authorize: ALL, returns: \"String\") { id: ID! }\n"
    "input Registers @query(authorize: CUSTOM, returns: \"Boolean\")\n";

/* Declares query_sdl (or @p sdl) with the bindings @p mask asks for; NULL on failure. */
enum { BIND_ECHO = 1, BIND_REGISTERS = 2, BIND_AUTH = 4, BIND_AUTH_ECHO = 8 };

static rj_app_t *
query_app(const char *sdl, int mask, rj_error_t *err)
{
    rj_app_t *app = rj__app_new();
    rj_app_schema_string(app, sdl);
    rj_app_on_reduce(app, "Thing", "ThingSet", reduce_copy);
    if (mask & BIND_ECHO) {
        rj_app_before_query(app, "Echo", query_hook_upper);
        rj_app_on_query(app, "Echo", query_echo);
    }
    if (mask & BIND_REGISTERS)
        rj_app_on_query(app, "Registers", query_registers);
    if (mask & BIND_AUTH)
        rj_app_authorize_query(app, "Registers", allow_all);
    if (mask & BIND_AUTH_ECHO)
        rj_app_authorize_query(app, "Echo", allow_all);
    if (rj__app_finish(app, err) != RJ_OK) {
        rj_app_free(app);
        return NULL;
    }
    return app;
}

Test(queries, hooks_run_before_the_handler_and_a_query_cannot_register)
{
    rj_error_t err = {0};
    rj_app_t *app = query_app(query_sdl, BIND_ECHO | BIND_REGISTERS | BIND_AUTH, &err);
    cr_assert_not_null(app, "%s", err.msg);
    cr_expect(strstr(rj_app_api_sdl(app), "  Registers: Boolean\n") != NULL, "%s",
              rj_app_api_sdl(app));

    json_t *input = json_pack("{s:s}", "id", "from-client");
    json_t *result = NULL;
    cr_assert_eq(rj_app_run_query(app, NULL, "Echo", input, NULL, "q", &result, &err), RJ_OK,
                 "%s", err.msg);
    cr_expect_str_eq(json_string_value(result), "FROM-HOOK");
    json_decref(result);
    json_decref(input);

    result = NULL;
    cr_expect_eq(rj_app_run_query(app, NULL, "Registers", NULL, NULL, "q", &result, &err),
                 RJ_EINVAL);
    cr_expect_str_eq(err.msg, "could not register event ThingSet: query Registers is a read; "
                              "only command handlers register events");
    cr_expect_null(result);
    rj_app_free(app);
}

Test(queries, the_loader_refuses_what_cannot_run)
{
    static const struct {
        const char *sdl;
        int mask;
        const char *error;
    } cases[] = {
        {query_sdl, BIND_ECHO | BIND_AUTH,
         "query Registers has no handler (bind one with rj_app_on_query)"},
        {query_sdl, BIND_ECHO | BIND_REGISTERS,
         "query Registers is declared with authorize: CUSTOM but has no authorizer (bind one "
         "with rj_app_authorize_query)"},
        {query_sdl, BIND_ECHO | BIND_REGISTERS | BIND_AUTH | BIND_AUTH_ECHO,
         "rj_app_authorize_query: Echo is not declared with @query(authorize: CUSTOM), so its "
         "authorizer would never run"},
        {"input Echo @query(authorize: ALL) { id: ID! }\n"
         "input Registers @query(authorize: CUSTOM, returns: \"Boolean\")\n",
         BIND_ECHO | BIND_REGISTERS | BIND_AUTH,
         "invalid app schema: query Echo: @query needs returns: (its GraphQL type, e.g. "
         "\"Float!\")"},
        {"input Echo @query(authorize: ALL, returns: \"Nope\") { id: ID! }\n"
         "input Registers @query(authorize: CUSTOM, returns: \"Boolean\")\n",
         BIND_ECHO | BIND_REGISTERS | BIND_AUTH,
         "invalid app schema: query Echo: @query(returns: \"Nope\") is not a known output type"},
        {"input Echo @query(authorize: ALL, returns: \"String\", entity: \"X\") { id: ID! }\n",
         0, "invalid app schema: Echo: @query takes no argument entity"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rj_error_t err = {0};
        rj_app_t *app = query_app(cases[i].sdl, cases[i].mask, &err);
        cr_expect_null(app, "case %zu loaded", i);
        rj_app_free(app);
        cr_expect_str_eq(err.msg, cases[i].error, "case %zu", i);
    }

    /* A binding for a query the schema does not declare. */
    rj_app_t *app = rj__app_new();
    rj_app_schema_string(app, "type Thing @entity { id: ID! }\n");
    rj_app_on_query(app, "Ghost", query_echo);
    rj_error_t err = {0};
    cr_expect_eq(rj__app_finish(app, &err), RJ_ESCHEMA);
    cr_expect(strstr(err.msg, "query Ghost is bound") != NULL, "%s", err.msg);
    rj_app_free(app);
}

/* ---- the statement, against PostgreSQL ---- */

static const char *pg_url;
static char schema[64];

static void
pg_setup(void)
{
    load_shop();
    pg_url = getenv("RAMJET_TEST_PG_URL");
    snprintf(schema, sizeof schema, "rjtest_entity_%d", (int)getpid());
}

static void
pg_teardown(void)
{
    free_shop();
    rjt_pg_drop_schema(pg_url, schema);
}

TestSuite(entity_pg, .init = pg_setup, .fini = pg_teardown, .timeout = 60);

static rj_pg_t *
migrated_or_skip(void)
{
    rj_pg_t *pg = rjt_pg_connect_or_skip(pg_url, schema);
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_migrate(pg, &err), RJ_OK, "%s", err.msg);
    return pg;
}

static void
exec_ok(rj_pg_t *pg, const char *sql)
{
    rj_error_t err = {0};
    cr_assert_eq(rj_pg_exec(pg, sql, 0, NULL, NULL, &err), RJ_OK, "%s: %s", sql, err.msg);
}

/* An event row of Customer @p id: version @p v renames it to @p name. */
static void
insert_event(rj_pg_t *pg, const char *id, int v, const char *name)
{
    char *sql = rj_xasprintf(
        "INSERT INTO events (event_id, entity_type, entity_id, version, type, value) VALUES "
        "(gen_random_uuid(), 'Customer', '%s', %d, '%s', "
        "jsonb_build_object('customerId', '%s', 'name', '%s'))",
        id, v, v == 1 ? "CustomerRegistered" : "CustomerRenamed", id, name);
    exec_ok(pg, sql);
    free(sql);
}

/* An outbox row holding version @p v of Customer @p id, next to an event of another entity. */
static void
insert_outbox(rj_pg_t *pg, const char *rid, const char *id, int v, const char *name)
{
    char *sql = rj_xasprintf(
        "INSERT INTO command_outbox (request_id, partition, produced, events, reply) VALUES "
        "('%s', 0, true, jsonb_build_array("
        "  jsonb_build_object('entity', 'Cart', 'entityId', '%s', 'version', %d,"
        "    'type', 'CartItemChanged', 'value', jsonb_build_object('cartId', '%s')),"
        "  jsonb_build_object('entity', 'Customer', 'entityId', '%s', 'version', %d,"
        "    'type', 'CustomerRenamed', 'value',"
        "    jsonb_build_object('customerId', '%s', 'name', '%s'))), '{}')",
        rid, id, v, id, id, v, id, name);
    exec_ok(pg, sql);
    free(sql);
}

static void
set_head(rj_pg_t *pg, const char *id, int v)
{
    char *sql = rj_xasprintf("INSERT INTO entity_heads VALUES ('Customer', '%s', %d) "
                             "ON CONFLICT (entity_type, entity_id) DO UPDATE SET version = %d",
                             id, v, v);
    exec_ok(pg, sql);
    free(sql);
}

static void
expect_name(rj_pg_t *pg, const char *id, const char *name, long long want_version)
{
    json_t *state = NULL;
    long long version = -1;
    rj_error_t err = {0};
    cr_assert_eq(rj_entity_read(pg, shop, "Customer", id, &state, &version, &err), RJ_OK,
                 "%s: %s", id, err.msg);
    cr_assert_not_null(state, "%s has a state", id);
    cr_expect_str_eq(json_string_value(json_object_get(state, "name")), name, "%s", id);
    cr_expect_eq(version, want_version, "%s", id);
    json_decref(state);
}

Test(entity_pg, snapshot_events_and_outbox_together)
{
    rj_pg_t *pg = migrated_or_skip();
    json_t *state = json_true();
    rj_error_t err = {0};

    /* Nothing at all: NULL, no error. */
    cr_assert_eq(rj_entity_read(pg, shop, "Customer", "none", &state, NULL, &err), RJ_OK, "%s",
                 err.msg);
    cr_expect_null(state);

    /* Only in `events` (no snapshot yet). */
    insert_event(pg, "a", 1, "A1");
    insert_event(pg, "a", 2, "A2");
    set_head(pg, "a", 2);
    expect_name(pg, "a", "A2", 2);

    /* A snapshot at 2 and versions 3, 4 still only in the outbox (the writer lags), one of
       them in an outbox row of its own and beside another entity's event. */
    exec_ok(pg, "INSERT INTO snapshots (entity_type, entity_id, version, value) VALUES "
                "('Customer', 'a', 2, '{\"id\": \"a\", \"name\": \"A2\"}')");
    insert_outbox(pg, "req-a3", "a", 3, "A3");
    insert_outbox(pg, "req-a4", "a", 4, "A4");
    set_head(pg, "a", 4);
    expect_name(pg, "a", "A4", 4);

    /* Version 3 reaches `events` and its outbox row is pruned: still the same state. */
    insert_event(pg, "a", 3, "A3");
    exec_ok(pg, "DELETE FROM command_outbox WHERE request_id = 'req-a3'");
    expect_name(pg, "a", "A4", 4);

    /* Version 4's row pruned before the writer wrote it: a gap, reported. */
    exec_ok(pg, "DELETE FROM command_outbox WHERE request_id = 'req-a4'");
    state = NULL;
    cr_expect_eq(rj_entity_read(pg, shop, "Customer", "a", &state, NULL, &err), RJ_EINTERNAL);
    cr_expect_null(state);
    cr_expect_str_eq(err.msg, "could not read entity Customer id=a: version 4 (of 4 after "
                              "snapshot 2) is in neither the event store nor the command outbox");

    /* Entity ids are matched exactly, never by prefix or inside other values. */
    insert_outbox(pg, "req-ab1", "ab", 1, "AB1");
    set_head(pg, "ab", 1);
    expect_name(pg, "ab", "AB1", 1);
    rj_pg_free(pg);
}

Test(entity_pg, read_model_search_with_filter_and_limit)
{
    rj_pg_t *pg = migrated_or_skip();
    rj_error_t err = {0};
    const rj_app_read_model_t *rm = rj_app_read_model(shop, "CustomerReadModel");
    cr_assert_not_null(rm);
    cr_assert_eq(rj_pg_ensure_read_model_table(pg, rm->name, &err), RJ_OK, "%s", err.msg);
    exec_ok(pg, "INSERT INTO rm_customerreadmodel (id, value) VALUES "
                "('c3', '{\"id\": \"c3\", \"name\": \"Alma\"}'),"
                "('c1', '{\"id\": \"c1\", \"name\": \"Ada\"}'),"
                "('c2', '{\"id\": \"c2\", \"name\": \"Bea\"}')");
    json_t *filter = json_pack("{s:{s:s}}", "name", "beginsWith", "A");
    json_t *items = NULL;
    cr_assert_eq(rj_entity_search_read_models(pg, rm, filter, 0, &items, &err), RJ_OK, "%s",
                 err.msg);
    expect_json(items, "[{\"id\":\"c1\",\"name\":\"Ada\"},{\"id\":\"c3\",\"name\":\"Alma\"}]");
    json_decref(items);
    cr_assert_eq(rj_entity_search_read_models(pg, rm, filter, 1, &items, &err), RJ_OK, "%s",
                 err.msg);
    expect_json(items, "[{\"id\":\"c1\",\"name\":\"Ada\"}]");
    json_decref(items);
    cr_assert_eq(rj_entity_search_read_models(pg, rm, NULL, 0, &items, &err), RJ_OK, "%s",
                 err.msg);
    cr_expect_eq(json_array_size(items), 3);
    json_decref(items);
    json_decref(filter);

    /* A filter of the wrong shape is the caller's error, found before any SQL runs. */
    filter = json_pack("{s:{s:i}}", "name", "beginsWith", 3);
    items = NULL;
    cr_expect_eq(rj_entity_search_read_models(pg, rm, filter, 0, &items, &err), RJ_EINVAL);
    cr_expect_null(items);
    json_decref(filter);
    rj_pg_free(pg);
}

Test(entity_pg, inside_a_transaction_and_through_the_outbox_index)
{
    rj_pg_t *pg = migrated_or_skip();
    rj_error_t err = {0};
    for (int v = 1; v <= 3; v++) {
        char rid[32], name[16];
        snprintf(rid, sizeof rid, "req-b%d", v);
        snprintf(name, sizeof name, "B%d", v);
        insert_outbox(pg, rid, "b", v, name);
    }
    set_head(pg, "b", 3);

    /* The processor reads inside its batch transaction: the read leaves it usable. */
    cr_assert_eq(rj_pg_begin(pg, &err), RJ_OK, "%s", err.msg);
    expect_name(pg, "b", "B3", 3);
    exec_ok(pg, "SELECT 1");
    cr_assert_eq(rj_pg_commit(pg, &err), RJ_OK, "%s", err.msg);

    /* The containment lookup can use the GIN index (the planner picks it once sequential
       scans are off; tiny tables would otherwise be scanned). */
    exec_ok(pg, "SET enable_seqscan = off");
    PGresult *res = NULL;
    cr_assert_eq(rj_pg_exec(pg,
                            "EXPLAIN SELECT 1 FROM command_outbox WHERE events @> "
                            "jsonb_build_array(jsonb_build_object('entity', 'Customer'::text, "
                            "'entityId', 'b'::text))",
                            0, NULL, &res, &err),
                 RJ_OK, "%s", err.msg);
    bool indexed = false;
    for (int r = 0; r < PQntuples(res); r++)
        indexed |= strstr(PQgetvalue(res, r, 0), "command_outbox_events_idx") != NULL;
    PQclear(res);
    cr_expect(indexed, "the outbox lookup does not use command_outbox_events_idx");
    exec_ok(pg, "RESET enable_seqscan");
    rj_pg_free(pg);
}
