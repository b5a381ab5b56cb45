/*
 * test_projections_calculated.c - read-model-query join keys and calculated fields in
 * the application model: the loader's rules for both bindings, running a join key,
 * calculated fields computed by the GraphQL engine only when selected (errors at the
 * field's path, null propagation), and the shop's OrderReadModel and cartItemsSize.
 *
 * Needs RAMJET_BUILD_DIR (set by CTest) to find lib/libshop.so.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/app_int.h"
#include "core/core.h"
#include "graphql/graphql.h"

/* ---- an in-process app ---- */

static const char *const sdl =
    "type Thing @entity { id: ID!  name: String }\n"
    "type ThingSet @event(entity: \"Thing\", key: \"id\") { id: ID!  name: String }\n"
    "type View @readModel(authorize: ALL) {\n"
    "  id: ID!\n"
    "  owner: ID\n"
    "  items: [String]\n"
    "  size: Float @calculated(dependsOn: [\"items\"])\n"
    "  strict: Float! @calculated(dependsOn: [\"items\"])\n"
    "}\n";

static int n_size_calls; /* how often size() ran */

static rj_status_t
reduce_copy(const json_t *event, const json_t *current, json_t **out, rj_error_t *err)
{
    *out = json_deep_copy(event);
    return RJ_OK;
}

static rj_status_t
project_copy(const json_t *entity, const char *id, const json_t *current, json_t **out,
             rj_error_t *err)
{
    *out = id == NULL ? RJ_NOTHING : json_pack("{s:s}", "id", id);
    return RJ_OK;
}

/* owner == entity id; "skip" skips; "fail" fails; "bad" returns a non-object. */
static rj_status_t
join_by_owner(const json_t *entity, json_t **filter, rj_error_t *err)
{
    const char *name = json_string_value(json_object_get(entity, "name"));
    if (name != NULL && strcmp(name, "skip") == 0)
        return RJ_OK;
    if (name != NULL && strcmp(name, "fail") == 0)
        return rj_error_set(err, RJ_EHANDLER, "join says no");
    if (name != NULL && strcmp(name, "bad") == 0) {
        *filter = json_string("nope");
        return RJ_OK;
    }
    *filter = json_pack("{s:{s:O}}", "owner", "eq", json_object_get(entity, "id"));
    return RJ_OK;
}

/* size: the number of items; fails when an item is "boom". */
static rj_status_t
calc_size(const json_t *rm, json_t **out, rj_error_t *err)
{
    n_size_calls++;
    const json_t *items = json_object_get(rm, "items");
    size_t i;
    const json_t *it;
    json_array_foreach(items, i, it) if (json_is_string(it) &&
                                         strcmp(json_string_value(it), "boom") == 0)
    {
        rj_error_set(err, RJ_EHANDLER, "size exploded");
        rj_error_set_code(err, "SizeError");
        return RJ_EHANDLER;
    }
    *out = json_integer((json_int_t)json_array_size(items));
    return RJ_OK;
}

/* strict: null when there are no items, which its non-null type turns into an error. */
static rj_status_t
calc_strict(const json_t *rm, json_t **out, rj_error_t *err)
{
    const json_t *items = json_object_get(rm, "items");
    *out = json_array_size(items) > 0 ? json_integer(1) : NULL;
    return RJ_OK;
}

static rj_app_t *
declare(void)
{
    rj_app_t *app = rj__app_new();
    rj_app_schema_string(app, sdl);
    rj_app_on_reduce(app, "Thing", "ThingSet", reduce_copy);
    return app;
}

static void
expect_load_error(rj_app_t *app, rj_status_t status, const char *message)
{
    rj_error_t err;
    rj_error_clear(&err);
    cr_expect_eq(rj__app_finish(app, &err), status, "%s", err.msg);
    cr_expect_str_eq(err.msg, message);
    rj_app_free(app);
}

static rj_app_t *
full_app(void)
{
    rj_app_t *app = declare();
    rj_app_on_project_query(app, "View", "Thing", join_by_owner, project_copy);
    rj_app_calculated_field(app, "View", "size", calc_size);
    rj_app_calculated_field(app, "View", "strict", calc_strict);
    rj_error_t err;
    rj_error_clear(&err);
    cr_assert_eq(rj__app_finish(app, &err), RJ_OK, "%s", err.msg);
    return app;
}

Test(calculated, every_calculated_field_needs_exactly_one_function)
{
    rj_app_t *app = declare();
    rj_app_calculated_field(app, "View", "size", calc_size);
    expect_load_error(app, RJ_ESCHEMA,
                      "read model field View.strict is declared @calculated but has no function "
                      "(bind one with rj_app_calculated_field)");

    app = declare();
    rj_app_calculated_field(app, "View", "size", calc_size);
    rj_app_calculated_field(app, "View", "strict", calc_strict);
    rj_app_calculated_field(app, "View", "owner", calc_size);
    expect_load_error(app, RJ_ESCHEMA,
                      "rj_app_calculated_field: View.owner is not declared @calculated, so its "
                      "function would never run");

    app = declare();
    rj_app_calculated_field(app, "View", "sizes", calc_size);
    expect_load_error(app, RJ_ESCHEMA,
                      "rj_app_calculated_field: sizes is not a field of read model View");

    app = declare();
    rj_app_calculated_field(app, "Ghost", "size", calc_size);
    expect_load_error(app, RJ_ESCHEMA, "rj_app_calculated_field: read model Ghost is not declared");

    app = declare();
    rj_app_calculated_field(app, "View", "size", calc_size);
    rj_app_calculated_field(app, "View", "size", calc_size);
    expect_load_error(app, RJ_EINVAL,
                      "invalid app declaration: rj_app_calculated_field: View.size already has "
                      "a function");

    app = declare();
    rj_app_calculated_field(app, "View", "size", NULL);
    expect_load_error(app, RJ_EINVAL,
                      "invalid app declaration: rj_app_calculated_field: NULL function for "
                      "View.size");
}

Test(query_join, bindings_are_checked)
{
    rj_app_t *app = declare();
    rj_app_on_project_query(app, "View", "Thing", NULL, project_copy);
    expect_load_error(app, RJ_EINVAL,
                      "invalid app declaration: rj_app_on_project_query: NULL join key for View "
                      "from Thing");

    app = declare();
    rj_app_on_project(app, "View", "Thing", "id", project_copy);
    rj_app_on_project_query(app, "View", "Thing", join_by_owner, project_copy);
    expect_load_error(app, RJ_EINVAL,
                      "invalid app declaration: rj_app_on_project_query: View already has a "
                      "projection from Thing");

    app = declare();
    rj_app_on_project_query(app, "View", "Ghost", join_by_owner, project_copy);
    expect_load_error(app, RJ_ESCHEMA, "rj_app_on_project: entity Ghost is not declared");
}

Test(query_join, runs_the_join_key)
{
    rj_app_t *app = full_app();
    const rj_app_entity_t *thing = rj_app_entity(app, "Thing");
    cr_assert_eq(thing->n_projections, 1);
    const rj_app_projection_t *proj = thing->projections[0];
    cr_expect_null(proj->join_field);
    cr_expect_not_null(proj->join_query);
    cr_expect_not(proj->join_is_array);

    json_t *entity = json_pack("{s:s, s:s}", "id", "t1", "name", "x");
    /* Ids come from the read side, never from the entity. */
    cr_expect_null(rj_app_projection_id(proj, entity));
    json_t *ids = rj_app_projection_ids(proj, entity);
    cr_expect_eq(json_array_size(ids), 0);
    json_decref(ids);

    rj_error_t err;
    json_t *filter = NULL;
    cr_assert_eq(rj_app_projection_query(proj, entity, &filter, &err), RJ_OK, "%s", err.msg);
    json_t *want = json_pack("{s:{s:s}}", "owner", "eq", "t1");
    cr_expect(json_equal(filter, want));
    cr_expect_eq(filter->refcount, 1, "the filter is a new reference");
    json_decref(want);
    json_decref(filter);

    static const struct {
        const char *name;
        rj_status_t status;
        const char *message;
    } cases[] = {
        {"skip", RJ_OK, ""},
        {"fail", RJ_EHANDLER, "join says no"},
        {"bad", RJ_ESCHEMA,
         "join key of projection View from Thing returned a filter that is not an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object_set_new(entity, "name", json_string(cases[i].name));
        filter = NULL;
        rj_error_clear(&err);
        cr_expect_eq(rj_app_projection_query(proj, entity, &filter, &err), cases[i].status, "%s",
                     cases[i].name);
        cr_expect_null(filter, "%s", cases[i].name);
        cr_expect_str_eq(err.msg, cases[i].message, "%s", cases[i].name);
    }

    /* No match: the projection runs with no id and no current read model. */
    rj_app_project_action_t action;
    json_t *out = NULL;
    cr_expect_eq(rj_app_project(proj, entity, NULL, NULL, &action, &out, &err), RJ_OK);
    cr_expect_eq(action, RJ_APP_PROJECT_NOTHING);
    json_decref(entity);
    rj_app_free(app);
}

/* ---- calculated fields through the engine ---- */

static json_t *root_value; /* what the View root field resolves to */

static rj_status_t
resolve_root(void *ud, const rj_gql_root_field_t *field, json_t **value, rj_error_t *err)
{
    *value = json_incref(root_value);
    return RJ_OK;
}

static json_t *
run(const rj_app_t *app, const char *query)
{
    rj_gql_doc_t *doc = rj_gql_parse(query, strlen(query), NULL, NULL);
    cr_assert_not_null(doc, "%s", query);
    json_t *resp = rj_gql_execute_sync((rj_gql_schema_t *)rj_app_api_schema(app), doc, NULL, NULL,
                                       resolve_root, NULL);
    rj_gql_doc_free(doc);
    return resp;
}

static void
expect_json(json_t *got_take, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    cr_assert_not_null(w, "%s", want);
    char *g = json_dumps(got_take, JSON_SORT_KEYS | JSON_COMPACT);
    cr_expect(json_equal(got_take, w), "got %s\nwant %s", g, want);
    free(g);
    json_decref(w);
    json_decref(got_take);
}

Test(calculated, computed_only_when_selected)
{
    rj_app_t *app = full_app();
    root_value = json_pack("{s:s, s:[s,s]}", "id", "v1", "items", "a", "b");
    n_size_calls = 0;

    expect_json(run(app, "{ View(id: \"v1\") { id } }"), "{\"data\":{\"View\":{\"id\":\"v1\"}}}");
    cr_expect_eq(n_size_calls, 0, "not selected, not computed");

    expect_json(run(app, "{ View(id: \"v1\") { id n: size ...F } }\n"
                         "fragment F on View { size }"),
                "{\"data\":{\"View\":{\"id\":\"v1\",\"n\":2,\"size\":2}}}");
    cr_expect_eq(n_size_calls, 2, "once per response key");

    expect_json(run(app, "{ View(id: \"v1\") { size @skip(if: true) } }"),
                "{\"data\":{\"View\":{}}}");
    cr_expect_eq(n_size_calls, 2);

    /* A stored property of the same name is not what the client sees. */
    json_object_set_new(root_value, "size", json_integer(99));
    expect_json(run(app, "{ View(id: \"v1\") { size } }"), "{\"data\":{\"View\":{\"size\":2}}}");
    json_decref(root_value);
    rj_app_free(app);
}

Test(calculated, errors_land_at_the_field_with_null_propagation)
{
    rj_app_t *app = full_app();
    root_value = json_pack("{s:s, s:[s]}", "id", "v1", "items", "boom");
    expect_json(run(app, "{ View(id: \"v1\") { id size } }"),
                "{\"errors\":[{\"message\":\"size exploded\",\"locations\":[{\"line\":1,"
                "\"column\":23}],\"path\":[\"View\",\"size\"],\"extensions\":{\"code\":"
                "\"SizeError\"}}],\"data\":{\"View\":{\"id\":\"v1\",\"size\":null}}}");
    json_decref(root_value);

    /* A non-null calculated field that resolves to null nulls its parent. */
    root_value = json_pack("{s:s, s:[]}", "id", "v1", "items");
    expect_json(run(app, "{ View(id: \"v1\") { id strict } }"),
                "{\"errors\":[{\"message\":\"Cannot return null for non-nullable field "
                "View.strict.\",\"locations\":[{\"line\":1,\"column\":23}],\"path\":[\"View\","
                "\"strict\"]}],\"data\":{\"View\":null}}");
    json_decref(root_value);
    rj_app_free(app);
}

/* ---- the shop ---- */

static rj_app_t *shop;

static void
load_shop(void)
{
    const char *dir = getenv("RAMJET_BUILD_DIR");
    cr_assert_not_null(dir, "set RAMJET_BUILD_DIR to the build directory");
    char *path = rj_xasprintf("%s/lib/libshop.so", dir);
    rj_error_t err;
    rj_error_clear(&err);
    shop = rj_app_load(path, &err);
    free(path);
    cr_assert_not_null(shop, "%s", err.msg);
}

static void
free_shop(void)
{
    rj_app_free(shop);
    shop = NULL;
}

TestSuite(shop, .init = load_shop, .fini = free_shop);

static const rj_app_projection_t *
projection(const char *entity, const char *read_model)
{
    const rj_app_entity_t *e = rj_app_entity(shop, entity);
    cr_assert_not_null(e);
    for (size_t i = 0; i < e->n_projections; i++)
        if (strcmp(e->projections[i]->read_model->name, read_model) == 0)
            return e->projections[i];
    cr_assert_fail("no projection of %s into %s", entity, read_model);
    return NULL;
}

Test(shop, order_read_model_from_orders)
{
    const rj_app_projection_t *proj = projection("Order", "OrderReadModel");
    cr_expect_str_eq(proj->join_field, "id");
    json_t *order = json_pack("{s:s, s:s, s:s, s:i}", "id", "o1", "customerId", "c1",
                              "customerName", "Ann", "amountCents", 250);
    rj_app_project_action_t action;
    json_t *out = NULL;
    rj_error_t err;
    cr_assert_eq(rj_app_project(proj, order, "o1", NULL, &action, &out, &err), RJ_OK, "%s",
                 err.msg);
    cr_expect_eq(action, RJ_APP_PROJECT_WRITE);
    expect_json(out, "{\"id\":\"o1\",\"customerId\":\"c1\",\"amountCents\":250,"
                     "\"customerName\":\"Ann\"}");

    /* A rename already applied to the stored read model wins over the order's name. */
    json_t *current = json_pack("{s:s, s:s}", "id", "o1", "customerName", "Bob");
    cr_assert_eq(rj_app_project(proj, order, "o1", current, &action, &out, &err), RJ_OK);
    cr_expect_str_eq(json_string_value(json_object_get(out, "customerName")), "Bob");
    json_decref(out);
    json_decref(current);
    json_decref(order);
}

Test(shop, order_read_model_from_customers_by_query)
{
    const rj_app_projection_t *proj = projection("Customer", "OrderReadModel");
    cr_expect_null(proj->join_field);
    cr_assert_not_null(proj->join_query);
    rj_error_t err;

    json_t *customer = json_pack("{s:s, s:s}", "id", "c1", "name", "Bob");
    json_t *filter = NULL;
    cr_assert_eq(rj_app_projection_query(proj, customer, &filter, &err), RJ_OK, "%s", err.msg);
    expect_json(filter, "{\"customerId\":{\"eq\":\"c1\"}}");

    json_t *current = json_pack("{s:s, s:s, s:i, s:s}", "id", "o1", "customerId", "c1",
                                "amountCents", 250, "customerName", "Ann");
    rj_app_project_action_t action;
    json_t *out = NULL;
    cr_assert_eq(rj_app_project(proj, customer, "o1", current, &action, &out, &err), RJ_OK);
    cr_expect_eq(action, RJ_APP_PROJECT_WRITE);
    expect_json(out, "{\"id\":\"o1\",\"customerId\":\"c1\",\"amountCents\":250,"
                     "\"customerName\":\"Bob\"}");
    cr_expect_str_eq(json_string_value(json_object_get(current, "customerName")), "Ann",
                     "the current read model is borrowed, not changed");

    /* No match: no id, Nothing. */
    cr_assert_eq(rj_app_project(proj, customer, NULL, NULL, &action, &out, &err), RJ_OK);
    cr_expect_eq(action, RJ_APP_PROJECT_NOTHING);

    /* SKIP: no filter at all. */
    json_object_set_new(customer, "name", json_string("SKIP"));
    filter = NULL;
    cr_assert_eq(rj_app_projection_query(proj, customer, &filter, &err), RJ_OK);
    cr_expect_null(filter);
    json_decref(current);
    json_decref(customer);
}

Test(shop, cart_items_size_is_calculated_and_not_filterable)
{
    root_value = json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}", "id", "c1", "cartItems",
                           "productId", "p1", "quantity", 1, "productId", "p2", "quantity", 3);
    expect_json(run(shop, "{ CartReadModel(id: \"c1\") { id cartItemsSize } }"),
                "{\"data\":{\"CartReadModel\":{\"id\":\"c1\",\"cartItemsSize\":2}}}");
    json_decref(root_value);

    const rj_gql_schema_t *s = rj_app_api_schema(shop);
    cr_expect_not_null(rj_gql_type_find_field(rj_gql_schema_find_type(s, "CartReadModel"),
                                              "cartItemsSize"));
    static const char *const inputs[] = {"CartReadModelFilter", "ListCartReadModelFilter",
                                         "CartReadModelSubscriptionFilter", "CartReadModelSortBy"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        const rj_gql_type_t *t = rj_gql_schema_find_type(s, inputs[i]);
        cr_assert_not_null(t, "%s", inputs[i]);
        cr_expect_not_null(rj_gql_type_find_input_field(t, "cartItems"), "%s", inputs[i]);
        cr_expect_null(rj_gql_type_find_input_field(t, "cartItemsSize"), "%s", inputs[i]);
    }
}
