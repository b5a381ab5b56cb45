/*
 * test_plan.c - planning and running operations over the demo composition, the services
 * played by canned answers: the documents each service receives, one _entities call per
 * service and path with deduplicated representations, @provides honoured, @requires
 * fields fetched and sent, variables forwarded only where used, answers merged under the
 * client's aliases and completed, errors moved to the client's paths.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "fixtures.h"

enum { ACCOUNTS, PRODUCTS, INVENTORY, REVIEWS };

typedef struct fixture {
    rj_fed_graph_t *g;   /* the demo composition */
    rj_gql_doc_t *doc;   /* the client's document */
    rj_fed_plan_t *plan; /* its plan */
} fixture_t;

/* Composes @p s, parses and validates @p query and plans it. */
static void
setup_with(fixture_t *fx, const rj_fed_sdl_t *s, size_t n, const char *query)
{
    rj_error_t err;
    rj_error_clear(&err);
    fx->g = rj_fed_compose(s, n, &err);
    cr_assert_not_null(fx->g, "%s", err.msg);
    json_t *perr = NULL;
    fx->doc = rj_gql_parse(query, strlen(query), NULL, &perr);
    cr_assert_not_null(fx->doc);
    json_t *verr = rj_gql_validate(rj_fed_graph_schema(fx->g), fx->doc);
    cr_assert_null(verr, "invalid test query");
    fx->plan = rj_fed_plan_new(fx->g, fx->doc, rj_gql_doc_definitions(fx->doc), &err);
    cr_assert_not_null(fx->plan, "%s", err.msg);
}

/* The same over the demo services. */
static void
setup(fixture_t *fx, const char *query)
{
    const rj_fed_sdl_t s[] = DEMO_SERVICES;
    setup_with(fx, s, 4, query);
}

static void
teardown_fx(fixture_t *fx)
{
    rj_fed_plan_free(fx->plan);
    rj_gql_doc_free(fx->doc);
    rj_fed_graph_free(fx->g);
}

static json_t *
js(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    cr_assert_not_null(v, "bad test JSON: %s: %s", e.text, text);
    return v;
}

static void
expect_json(const json_t *v, const char *expected)
{
    char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *e = js(expected);
    char *want = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    cr_expect_str_eq(got, want);
    free(got);
    free(want);
    json_decref(e);
}

/* Takes the only due request, wherever it goes; returns its id. */
static size_t
take_one(rj_fed_run_t *run)
{
    rj_fed_request_t q[2];
    cr_assert_eq(rj_fed_run_next(run, q, 2), 1);
    size_t id = q[0].id;
    rj_fed_request_deinit(&q[0]);
    return id;
}

/* Takes the only due request, checks where it goes and what it sends. */
static size_t
expect_request(rj_fed_run_t *run, int service, const char *query, const char *variables)
{
    rj_fed_request_t q[4];
    size_t n = rj_fed_run_next(run, q, 4);
    cr_assert_eq(n, 1, "expected one request, got %zu", n);
    cr_expect_eq(q[0].service, service);
    cr_expect_str_eq(json_string_value(json_object_get(q[0].body, "query")), query);
    expect_json(json_object_get(q[0].body, "variables"), variables);
    size_t id = q[0].id;
    rj_fed_request_deinit(&q[0]);
    return id;
}

static json_t *
complete(fixture_t *fx, rj_fed_run_t *run, const json_t *variables)
{
    rj_gql_prepared_t *p = NULL;
    json_t *errs = NULL;
    cr_assert_eq(rj_gql_prepare(rj_fed_graph_schema(fx->g), fx->doc, NULL, variables, &p, &errs),
                 RJ_OK);
    rj_gql_prepared_set_keyed(p);
    const json_t *data = rj_fed_run_data_get(run);
    for (size_t i = 0; i < rj_gql_prepared_nroots(p); i++) {
        const rj_gql_root_field_t *f = rj_gql_prepared_root(p, i);
        json_t *v = json_object_get(data, f->response_key);
        rj_gql_prepared_set_result_take(p, i, v != NULL ? json_incref(v) : json_null());
    }
    const json_t *errors = rj_fed_run_errors_get(run);
    for (size_t i = 0; i < json_array_size(errors); i++)
        rj_gql_prepared_add_error_take(p, json_incref(json_array_get(errors, i)));
    const json_t *lost = rj_fed_run_lost_get(run);
    for (size_t i = 0; i < json_array_size(lost); i++)
        rj_gql_prepared_add_lost_take(p, json_incref(json_array_get(lost, i)));
    json_t *resp = rj_gql_complete(p);
    rj_gql_prepared_free(p);
    return resp;
}

Test(fed_plan, three_levels_batched_and_provides)
{
    fixture_t fx;
    setup(&fx, "{ topProducts { name reviews { body author { name username } } } }");
    cr_expect_eq(fx.plan->nroots, 1);
    cr_expect_eq(fx.plan->nall, 3);
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);

    size_t id = expect_request(
        run, PRODUCTS, "query { topProducts { __typename name __typename _rj_upc: upc } }", "{}");
    cr_expect_not(rj_fed_run_done(run));
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"topProducts\":[{\"__typename\":\"Product\",\"name\":\"Table\","
           "\"_rj_upc\":\"1\"},{\"__typename\":\"Product\",\"name\":\"Couch\",\"_rj_upc\":\"2\"},"
           "{\"__typename\":\"Product\",\"name\":\"Table again\",\"_rj_upc\":\"1\"}]}}"),
        NULL);

    /* One call for the three products, two distinct representations. */
    id = expect_request(run, REVIEWS,
                        "query($representations: [_Any!]!) { _entities(representations: "
                        "$representations) { ... on Product { reviews { __typename body author "
                        "{ __typename __typename _rj_id: id username } } } } }",
                        "{\"representations\":[{\"__typename\":\"Product\",\"upc\":\"1\"},"
                        "{\"__typename\":\"Product\",\"upc\":\"2\"}]}");
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"_entities\":["
           "{\"reviews\":[{\"__typename\":\"Review\",\"body\":\"Love it\",\"author\":"
           "{\"__typename\":\"User\",\"_rj_id\":\"u1\",\"username\":\"@ada\"}},"
           "{\"__typename\":\"Review\",\"body\":\"Meh\",\"author\":"
           "{\"__typename\":\"User\",\"_rj_id\":\"u2\",\"username\":\"@alan\"}}]},"
           "{\"reviews\":[{\"__typename\":\"Review\",\"body\":\"Soft\",\"author\":"
           "{\"__typename\":\"User\",\"_rj_id\":\"u1\",\"username\":\"@ada\"}}]}]}}"),
        NULL);

    /* Five authors over three products, two distinct users, one call; username provided. */
    id = expect_request(run, ACCOUNTS,
                        "query($representations: [_Any!]!) { _entities(representations: "
                        "$representations) { ... on User { name } } }",
                        "{\"representations\":[{\"__typename\":\"User\",\"id\":\"u1\"},"
                        "{\"__typename\":\"User\",\"id\":\"u2\"}]}");
    rj_fed_run_deliver_take(
        run, id, js("{\"data\":{\"_entities\":[{\"name\":\"Ada\"},{\"name\":\"Alan\"}]}}"), NULL);
    cr_expect(rj_fed_run_done(run));
    rj_fed_request_t none[1];
    cr_expect_eq(rj_fed_run_next(run, none, 1), 0);

    json_t *resp = complete(&fx, run, NULL);
    expect_json(resp,
                "{\"data\":{\"topProducts\":["
                "{\"name\":\"Table\",\"reviews\":[{\"body\":\"Love it\",\"author\":{\"name\":"
                "\"Ada\",\"username\":\"@ada\"}},{\"body\":\"Meh\",\"author\":{\"name\":\"Alan\","
                "\"username\":\"@alan\"}}]},"
                "{\"name\":\"Couch\",\"reviews\":[{\"body\":\"Soft\",\"author\":{\"name\":\"Ada\","
                "\"username\":\"@ada\"}}]},"
                "{\"name\":\"Table again\",\"reviews\":[{\"body\":\"Love it\",\"author\":{\"name\":"
                "\"Ada\",\"username\":\"@ada\"}},{\"body\":\"Meh\",\"author\":{\"name\":\"Alan\","
                "\"username\":\"@alan\"}}]}]}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/*
 * Root fields of two services in parallel, aliases, fragments, @skip with a variable that
 * only the service evaluating it receives, __typename, and @requires fields fetched from
 * the parent and sent in the representation.
 */
Test(fed_plan, parallel_roots_variables_requires)
{
    fixture_t fx;
    setup(&fx, "query Q($n: Int = 2, $noName: Boolean!) {"
               "  me { ...U }"
               "  top: topProducts(first: $n) { __typename title: name @skip(if: $noName)"
               "    ... on Product { shippingEstimate inStock } } }"
               "fragment U on User { id first: name }");
    json_t *vars = js("{\"n\": 1, \"noName\": false}");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, vars);
    rj_fed_request_t q[4];
    cr_assert_eq(rj_fed_run_next(run, q, 4), 2);
    cr_expect_eq(q[0].service, ACCOUNTS);
    cr_expect_str_eq(json_string_value(json_object_get(q[0].body, "query")),
                     "query { me { __typename ... on User { id first: name } } }");
    expect_json(json_object_get(q[0].body, "variables"), "{}");
    cr_expect_eq(q[1].service, PRODUCTS);
    cr_expect_str_eq(json_string_value(json_object_get(q[1].body, "query")),
                     "query($n: Int = 2, $noName: Boolean!) { top: topProducts(first: $n) { "
                     "__typename __typename title: name @skip(if: $noName) ... on Product { "
                     "__typename _rj_upc: upc _rj_price: price _rj_weight: weight __typename "
                     "_rj_upc: upc } } }");
    expect_json(json_object_get(q[1].body, "variables"), "{\"n\": 1, \"noName\": false}");
    size_t me = q[0].id, top = q[1].id;
    rj_fed_request_deinit(&q[0]);
    rj_fed_request_deinit(&q[1]);
    rj_fed_run_deliver_take(run, top,
                            js("{\"data\":{\"top\":[{\"__typename\":\"Product\",\"title\":\"T\","
                               "\"_rj_upc\":\"1\",\"_rj_price\":10,\"_rj_weight\":5}]}}"),
                            NULL);
    /* Level by level: nothing of depth 1 leaves while accounts is still answering. */
    rj_fed_request_t none[1];
    cr_expect_eq(rj_fed_run_next(run, none, 1), 0);
    rj_fed_run_deliver_take(run, me, js("{\"data\":{\"me\":{\"id\":\"u1\",\"first\":\"Ada\"}}}"),
                            NULL);
    size_t inv = expect_request(
        run, INVENTORY,
        "query($representations: [_Any!]!) { _entities(representations: $representations) { "
        "... on Product { shippingEstimate inStock } } }",
        "{\"representations\":[{\"__typename\":\"Product\",\"upc\":\"1\",\"price\":10,"
        "\"weight\":5}]}");
    rj_fed_run_deliver_take(
        run, inv, js("{\"data\":{\"_entities\":[{\"shippingEstimate\":3,\"inStock\":true}]}}"),
        NULL);
    cr_expect(rj_fed_run_done(run));
    json_t *resp = complete(&fx, run, vars);
    expect_json(resp, "{\"data\":{\"me\":{\"id\":\"u1\",\"first\":\"Ada\"},\"top\":[{"
                      "\"__typename\":\"Product\",\"title\":\"T\",\"shippingEstimate\":3,"
                      "\"inStock\":true}]}}");
    json_decref(resp);
    json_decref(vars);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/*
 * A failing service costs only its fields: the entity fetch's errors come back with the
 * client's path and serviceName, a service that cannot be reached gives one error, and
 * the fetches below a failed one are never sent.
 */
Test(fed_plan, failures_cost_only_their_fields)
{
    fixture_t fx;
    setup(&fx, "{ topProducts { name inStock reviews { author { name } } } }");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);
    size_t id = take_one(run);
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"topProducts\":[{\"__typename\":\"Product\",\"name\":\"A\",\"_rj_upc\":"
           "\"1\"},{\"__typename\":\"Product\",\"name\":\"B\",\"_rj_upc\":\"2\"}]}}"),
        NULL);
    rj_fed_request_t q[4];
    cr_assert_eq(rj_fed_run_next(run, q, 4), 2);
    cr_expect_eq(q[0].service, INVENTORY);
    cr_expect_eq(q[1].service, REVIEWS);
    size_t inv = q[0].id, rev = q[1].id;
    rj_fed_request_deinit(&q[0]);
    rj_fed_request_deinit(&q[1]);
    rj_fed_run_deliver_take(
        run, inv,
        js("{\"data\":{\"_entities\":[{\"inStock\":true},{\"inStock\":null}]},\"errors\":[{"
           "\"message\":"
           "\"no stock\",\"path\":[\"_entities\",1,\"inStock\"],\"locations\":[{\"line\":1,"
           "\"column\":2}]}]}"),
        NULL);
    rj_fed_run_deliver_take(run, rev, NULL, "could not reach service reviews: timeout");
    cr_expect(rj_fed_run_done(run));
    cr_expect_eq(rj_fed_run_next(run, q, 4), 0); /* accounts is never asked */
    json_t *resp = complete(&fx, run, NULL);
    expect_json(resp,
                "{\"errors\":[{\"message\":\"no stock\",\"path\":[\"topProducts\",1,\"inStock\"],"
                "\"extensions\":{\"serviceName\":\"inventory\"}},"
                "{\"message\":\"could not reach service reviews: timeout\",\"path\":["
                "\"topProducts\",0],\"extensions\":{\"code\":\"DOWNSTREAM_SERVICE_ERROR\","
                "\"serviceName\":\"reviews\"}}],"
                "\"data\":{\"topProducts\":[{\"name\":\"A\",\"inStock\":true,\"reviews\":null},"
                "{\"name\":\"B\",\"inStock\":null,\"reviews\":null}]}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/* Mutations run one after another, in document order. */
Test(fed_plan, mutations_are_serial)
{
    static const char a[] = "type Query { a: Int }\ntype Mutation { setA(v: Int!): Int }\n";
    static const char b[] = "type Query { b: Int }\ntype Mutation { setB(v: Int!): Int }\n";
    const rj_fed_sdl_t s[] = {{"a", a, sizeof a - 1}, {"b", b, sizeof b - 1}};
    rj_error_t err;
    rj_error_clear(&err);
    rj_fed_graph_t *g = rj_fed_compose(s, 2, &err);
    cr_assert_not_null(g, "%s", err.msg);
    static const char query[] = "mutation ($no: Boolean!) { x: setB(v: 1) ...M @skip(if: $no) "
                                "y: setB(v: 3) }\nfragment M on Mutation { setA(v: 2) }";
    rj_gql_doc_t *doc = rj_gql_parse(query, sizeof query - 1, NULL, NULL);
    rj_fed_plan_t *plan = rj_fed_plan_new(g, doc, rj_gql_doc_definitions(doc), &err);
    cr_assert_not_null(plan, "%s", err.msg);
    cr_expect(plan->serial);
    json_t *vars = json_pack("{s:b}", "no", 0);
    rj_fed_run_t *run = rj_fed_run_new(plan, g, vars);
    json_decref(vars);
    static const char *const expect[][2] = {
        {"1", "mutation { x: setB(v: 1) }"},
        {"0", "mutation($no: Boolean!) { ... @skip(if: $no) { setA(v: 2) } }"},
        {"1", "mutation { y: setB(v: 3) }"}};
    for (size_t i = 0; i < 3; i++) {
        rj_fed_request_t q[4];
        cr_assert_eq(rj_fed_run_next(run, q, 4), 1, "step %zu", i);
        cr_expect_eq(q[0].service, atoi(expect[i][0]));
        cr_expect_str_eq(json_string_value(json_object_get(q[0].body, "query")), expect[i][1]);
        size_t id = q[0].id;
        rj_fed_request_deinit(&q[0]);
        rj_fed_run_deliver_take(run, id, js("{\"data\":{}}"), NULL);
    }
    cr_expect(rj_fed_run_done(run));
    rj_fed_run_free(run);
    rj_fed_plan_free(plan);
    rj_gql_doc_free(doc);
    rj_fed_graph_free(g);
}

/*
 * @requires fields the parent's service cannot give (reviews knows a product by its upc
 * only) come first from their owner, and the requiring fetch follows that one.
 */
Test(fed_plan, requires_from_a_third_service)
{
    fixture_t fx;
    setup(&fx, "{ me { reviews { product { name shippingEstimate } } } }");
    cr_assert_eq(fx.plan->nall, 4);
    const rj_fed_fetch_t *me = fx.plan->roots[0], *rev = me->children[0];
    cr_expect_eq(me->service, ACCOUNTS);
    cr_expect_eq(rev->service, REVIEWS);
    cr_assert_eq(rev->nchildren, 1);
    const rj_fed_fetch_t *prod = rev->children[0];
    cr_expect_eq(prod->service, PRODUCTS);
    cr_expect_str_eq(prod->query, "query($representations: [_Any!]!) { _entities(representations: "
                                  "$representations) { ... on Product { name _rj_price: price "
                                  "_rj_weight: weight } } }");
    cr_assert_eq(prod->nchildren, 1);
    const rj_fed_fetch_t *inv = prod->children[0];
    cr_expect_eq(inv->service, INVENTORY);
    cr_expect_eq(inv->npath, 3);
    cr_expect_str_eq(inv->path[2], "product");
    cr_expect_eq(inv->nreps, 2); /* the key, then the @requires field set */
    teardown_fx(&fx);
}

/*
 * Checks the answer to "{ me { reviews { body } } topProducts(first: 1) { reviews { body }
 * } }" when reviews failed the product's reviews, then frees the run and the fixture.
 */
static void
expect_two_paths_answer(fixture_t *fx, rj_fed_run_t *run)
{
    cr_expect(rj_fed_run_done(run));
    json_t *resp = complete(fx, run, NULL);
    expect_json(resp, "{\"errors\":[{\"message\":\"no reviews\",\"path\":[\"topProducts\",0,"
                      "\"reviews\"],\"extensions\":{\"serviceName\":\"reviews\"}}],"
                      "\"data\":{\"me\":{\"reviews\":[{\"body\":\"mine\"}]},"
                      "\"topProducts\":[{\"reviews\":null}]}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(fx);
}

/*
 * Two paths lead to reviews at the same level: one request, each path under its own
 * alias of _entities, the answer split back and errors moved to their own paths.
 */
Test(fed_plan, one_request_per_service_and_level)
{
    fixture_t fx;
    setup(&fx, "{ me { reviews { body } } topProducts(first: 1) { reviews { body } } }");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);
    rj_fed_request_t q[4];
    cr_assert_eq(rj_fed_run_next(run, q, 4), 2);
    size_t me = q[0].id, top = q[1].id;
    rj_fed_request_deinit(&q[0]);
    rj_fed_request_deinit(&q[1]);
    rj_fed_run_deliver_take(
        run, top,
        js("{\"data\":{\"topProducts\":[{\"__typename\":\"Product\",\"_rj_upc\":\"1\"}]}}"), NULL);
    cr_expect_eq(rj_fed_run_next(run, q, 4), 0);
    rj_fed_run_deliver_take(
        run, me, js("{\"data\":{\"me\":{\"__typename\":\"User\",\"_rj_id\":\"u1\"}}}"), NULL);
    size_t id = expect_request(
        run, REVIEWS,
        "query($r0: [_Any!]!, $r1: [_Any!]!) { e0: _entities(representations: $r0) { ... on "
        "User { reviews { __typename body } } } e1: _entities(representations: $r1) { ... on "
        "Product { reviews { __typename body } } } }",
        "{\"r0\":[{\"__typename\":\"User\",\"id\":\"u1\"}],"
        "\"r1\":[{\"__typename\":\"Product\",\"upc\":\"1\"}]}");
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"e0\":[{\"reviews\":[{\"body\":\"mine\"}]}],\"e1\":[{\"reviews\":null}]},"
           "\"errors\":[{\"message\":\"no reviews\",\"path\":[\"e1\",0,\"reviews\"]}]}"),
        NULL);
    expect_two_paths_answer(&fx, run);
}

/*
 * Plans and starts "{ me { reviews { body } } topProducts(first: 1) { reviews { body } } }"
 * with reviews taking batched queries, answers the two root fetches and takes the one
 * request to reviews that follows.
 */
static rj_fed_request_t
batched_two_paths_to_reviews(fixture_t *fx, rj_fed_run_t **runp)
{
    setup(fx, "{ me { reviews { body } } topProducts(first: 1) { reviews { body } } }");
    rj_fed_run_t *run = *runp = rj_fed_run_new(fx->plan, fx->g, NULL);
    rj_fed_run_set_batched(run, UINT64_C(1) << REVIEWS);
    rj_fed_request_t q[4];
    cr_assert_eq(rj_fed_run_next(run, q, 4), 2);
    size_t me = q[0].id, top = q[1].id;
    rj_fed_request_deinit(&q[0]);
    rj_fed_request_deinit(&q[1]);
    rj_fed_run_deliver_take(
        run, top,
        js("{\"data\":{\"topProducts\":[{\"__typename\":\"Product\",\"_rj_upc\":\"1\"}]}}"), NULL);
    rj_fed_run_deliver_take(
        run, me, js("{\"data\":{\"me\":{\"__typename\":\"User\",\"_rj_id\":\"u1\"}}}"), NULL);
    cr_assert_eq(rj_fed_run_next(run, q, 4), 1);
    cr_expect_eq(q[0].service, REVIEWS);
    return q[0];
}

/*
 * A service taking batched queries (allowBatchedQueries) gets the same two fetches as
 * one request whose body is an array of their own documents; the array it answers is
 * split back, each item's errors moved to its own paths.
 */
Test(fed_plan, batched_queries_one_array_per_service_and_level)
{
    fixture_t fx;
    rj_fed_run_t *run;
    rj_fed_request_t q = batched_two_paths_to_reviews(&fx, &run);
    expect_json(q.body, "[{\"query\":\"query($representations: [_Any!]!) { _entities("
                        "representations: $representations) { ... on User { reviews { "
                        "__typename body } } } }\",\"variables\":{\"representations\":["
                        "{\"__typename\":\"User\",\"id\":\"u1\"}]}},"
                        "{\"query\":\"query($representations: [_Any!]!) { _entities("
                        "representations: $representations) { ... on Product { reviews { "
                        "__typename body } } } }\",\"variables\":{\"representations\":["
                        "{\"__typename\":\"Product\",\"upc\":\"1\"}]}}]");
    rj_fed_run_deliver_take(
        run, q.id,
        js("[{\"data\":{\"_entities\":[{\"reviews\":[{\"body\":\"mine\"}]}]}},"
           "{\"data\":{\"_entities\":[{\"reviews\":null}]},"
           "\"errors\":[{\"message\":\"no reviews\",\"path\":[\"_entities\",0,\"reviews\"]}]}]"),
        NULL);
    rj_fed_request_deinit(&q);
    expect_two_paths_answer(&fx, run);
}

/* A batched request answered by anything but an array of as many answers fails each fetch. */
Test(fed_plan, batched_queries_answer_must_be_an_array_of_each)
{
    fixture_t fx;
    rj_fed_run_t *run;
    rj_fed_request_t q = batched_two_paths_to_reviews(&fx, &run);
    rj_fed_run_deliver_take(run, q.id, js("[{\"data\":{\"_entities\":[{\"reviews\":[]}]}}]"), NULL);
    rj_fed_request_deinit(&q);
    cr_expect(rj_fed_run_done(run));
    json_t *resp = complete(&fx, run, NULL);
    const char *msg = "the service's answer to a batch of 2 operations is not an array of 2 "
                      "answers";
    json_t *errors = json_object_get(resp, "errors");
    cr_assert_eq(json_array_size(errors), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(errors, i);
        cr_expect_str_eq(json_string_value(json_object_get(e, "message")), msg);
        cr_expect_str_eq(
            json_string_value(json_object_get(json_object_get(e, "extensions"), "serviceName")),
            "reviews");
    }
    expect_json(json_object_get(resp, "data"),
                "{\"me\":{\"reviews\":null},\"topProducts\":[{\"reviews\":null}]}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/* Root fetches never go as arrays; one entity fetch to a batched service does. */
Test(fed_plan, batched_queries_only_for_entity_fetches)
{
    fixture_t fx;
    setup(&fx, "{ topProducts { name inStock } }");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);
    rj_fed_run_set_batched(run, UINT64_C(1) << PRODUCTS | UINT64_C(1) << INVENTORY);
    size_t id = expect_request(
        run, PRODUCTS, "query { topProducts { __typename name __typename _rj_upc: upc } }", "{}");
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"topProducts\":[{\"__typename\":\"Product\",\"name\":\"A\",\"_rj_upc\":"
           "\"1\"}]}}"),
        NULL);
    rj_fed_request_t q[2];
    cr_assert_eq(rj_fed_run_next(run, q, 2), 1);
    cr_assert(json_is_array(q[0].body));
    cr_expect_eq(json_array_size(q[0].body), 1);
    rj_fed_run_deliver_take(run, q[0].id, js("[{\"data\":{\"_entities\":[{\"inStock\":true}]}}]"),
                            NULL);
    rj_fed_request_deinit(&q[0]);
    json_t *resp = complete(&fx, run, NULL);
    expect_json(resp, "{\"data\":{\"topProducts\":[{\"name\":\"A\",\"inStock\":true}]}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/* A union whose members live in different services: only the Book is represented. */
Test(fed_plan, union_members_across_services)
{
    static const char a[] = "type Query { search: [Result] }\nunion Result = Book | Film\n"
                            "type Book @key(fields: \"id\") { id: ID!  title: String }\n"
                            "type Film { id: ID!  name: String }\n";
    static const char b[] = "extend type Book @key(fields: \"id\") { id: ID! @external  "
                            "stock: Int }\n";
    const rj_fed_sdl_t s[] = {{"catalog", a, sizeof a - 1}, {"stock", b, sizeof b - 1}};
    fixture_t fx;
    setup_with(&fx, s, 2,
               "{ search { __typename ... on Book { title stock } ... on Film { name } } }");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);
    size_t id = expect_request(run, 0,
                               "query { search { __typename __typename ... on Book { title "
                               "__typename _rj_id: id } ... on Film { name } } }",
                               "{}");
    rj_fed_run_deliver_take(run, id,
                            js("{\"data\":{\"search\":[{\"__typename\":\"Film\",\"name\":\"F\"},"
                               "{\"__typename\":\"Book\",\"title\":\"B\",\"_rj_id\":\"b1\"}]}}"),
                            NULL);
    id = expect_request(run, 1,
                        "query($representations: [_Any!]!) { _entities(representations: "
                        "$representations) { ... on Book { stock } } }",
                        "{\"representations\":[{\"__typename\":\"Book\",\"id\":\"b1\"}]}");
    rj_fed_run_deliver_take(run, id, js("{\"data\":{\"_entities\":[{\"stock\":3}]}}"), NULL);
    json_t *resp = complete(&fx, run, NULL);
    expect_json(resp, "{\"data\":{\"search\":[{\"__typename\":\"Film\",\"name\":\"F\"},"
                      "{\"__typename\":\"Book\",\"title\":\"B\",\"stock\":3}]}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

Test(fed_plan, gateway_aliases_are_reserved)
{
    const rj_fed_sdl_t s[] = DEMO_SERVICES;
    rj_error_t err;
    rj_error_clear(&err);
    rj_fed_graph_t *g = rj_fed_compose(s, 4, &err);
    cr_assert_not_null(g);
    static const char query[] = "{ topProducts { _rj_upc: name } }";
    rj_gql_doc_t *doc = rj_gql_parse(query, sizeof query - 1, NULL, NULL);
    cr_expect_null(rj_fed_plan_new(g, doc, rj_gql_doc_definitions(doc), &err));
    cr_expect_eq(err.status, RJ_EINVAL);
    cr_expect_str_eq(err.msg, "could not plan the operation: aliases beginning with _rj_ are the "
                              "gateway's own (alias _rj_upc)");
    rj_gql_doc_free(doc);
    rj_fed_graph_free(g);
}

/*
 * Several keys: the parent's service gives the first key of the owner it can (budget:
 * D's second key, id); when it can give none (staff: B knows Org by slug only), the
 * type's origin is asked for the owner's key first, and the owner's fetch follows.
 */
Test(fed_plan, several_keys_and_keys_from_the_origin)
{
    static const char a[] = "type Query { orgs: [Org] }\n"
                            "type Org @key(fields: \"id\") @key(fields: \"slug\") {\n"
                            "  id: ID!  slug: String!  name: String }\n";
    static const char b[] = "extend type Org @key(fields: \"slug\") { slug: String! @external  "
                            "staff: Int }\n";
    static const char c[] = "type Query { myOrg: Org }\n"
                            "extend type Org @key(fields: \"id\") { id: ID! @external }\n";
    static const char d[] = "extend type Org @key(fields: \"slug\") @key(fields: \"id\") {\n"
                            "  id: ID! @external  slug: String! @external  budget: Int }\n";
    const rj_fed_sdl_t s[] = {{"a", a, sizeof a - 1},
                              {"b", b, sizeof b - 1},
                              {"c", c, sizeof c - 1},
                              {"d", d, sizeof d - 1}};
    fixture_t fx;
    setup_with(&fx, s, 4, "{ myOrg { name staff budget } }");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);
    size_t id = expect_request(run, 2,
                               "query { myOrg { __typename __typename _rj_id: id __typename "
                               "_rj_id: id __typename _rj_id: id } }",
                               "{}");
    rj_fed_run_deliver_take(
        run, id, js("{\"data\":{\"myOrg\":{\"__typename\":\"Org\",\"_rj_id\":\"o1\"}}}"), NULL);
    rj_fed_request_t q[4];
    cr_assert_eq(rj_fed_run_next(run, q, 4), 2);
    cr_expect_eq(q[0].service, 0);
    cr_expect_str_eq(json_string_value(json_object_get(q[0].body, "query")),
                     "query($representations: [_Any!]!) { _entities(representations: "
                     "$representations) { ... on Org { name _rj_slug: slug } } }");
    cr_expect_eq(q[1].service, 3);
    cr_expect_str_eq(json_string_value(json_object_get(q[1].body, "query")),
                     "query($representations: [_Any!]!) { _entities(representations: "
                     "$representations) { ... on Org { budget } } }");
    expect_json(json_object_get(q[1].body, "variables"),
                "{\"representations\":[{\"__typename\":\"Org\",\"id\":\"o1\"}]}");
    size_t ida = q[0].id, idd = q[1].id;
    rj_fed_request_deinit(&q[0]);
    rj_fed_request_deinit(&q[1]);
    rj_fed_run_deliver_take(
        run, ida, js("{\"data\":{\"_entities\":[{\"name\":\"Org 1\",\"_rj_slug\":\"s1\"}]}}"),
        NULL);
    rj_fed_run_deliver_take(run, idd, js("{\"data\":{\"_entities\":[{\"budget\":7}]}}"), NULL);
    id = expect_request(run, 1,
                        "query($representations: [_Any!]!) { _entities(representations: "
                        "$representations) { ... on Org { staff } } }",
                        "{\"representations\":[{\"__typename\":\"Org\",\"slug\":\"s1\"}]}");
    rj_fed_run_deliver_take(run, id, js("{\"data\":{\"_entities\":[{\"staff\":3}]}}"), NULL);
    json_t *resp = complete(&fx, run, NULL);
    expect_json(resp, "{\"data\":{\"myOrg\":{\"name\":\"Org 1\",\"staff\":3,\"budget\":7}}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/*
 * An entity its service answers null for (unknown there) keeps its object; the fields it
 * would have given are null, and a non-null one nulls the object without an error.
 */
Test(fed_plan, null_entity_loses_its_fields)
{
    fixture_t fx;
    setup(&fx, "{ topProducts { name inStock } }");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);
    size_t id = take_one(run);
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"topProducts\":[{\"__typename\":\"Product\",\"name\":\"A\",\"_rj_upc\":"
           "\"1\"},{\"__typename\":\"Product\",\"name\":\"B\",\"_rj_upc\":\"9\"}]}}"),
        NULL);
    id = take_one(run);
    rj_fed_run_deliver_take(run, id, js("{\"data\":{\"_entities\":[{\"inStock\":true},null]}}"),
                            NULL);
    json_t *resp = complete(&fx, run, NULL);
    expect_json(resp, "{\"data\":{\"topProducts\":[{\"name\":\"A\",\"inStock\":true},"
                      "{\"name\":\"B\",\"inStock\":null}]}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/*
 * A mutation whose answer leaves its entity fetches nothing to ask must not hold the next
 * mutation back: the later root's own children are not pending before it starts.
 */
Test(fed_plan, serial_roots_after_skipped_children)
{
    static const char a[] = "type Query { a: Int }\ntype Mutation { m1: T  m2: T }\n"
                            "type T @key(fields: \"id\") { id: ID! }\n";
    static const char b[] = "extend type T @key(fields: \"id\") { id: ID! @external  x: Int }\n";
    const rj_fed_sdl_t s[] = {{"a", a, sizeof a - 1}, {"b", b, sizeof b - 1}};
    fixture_t fx;
    setup_with(&fx, s, 2, "mutation { m1 { x } m2 { x } }");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);
    size_t id =
        expect_request(run, 0, "mutation { m1 { __typename __typename _rj_id: id } }", "{}");
    rj_fed_run_deliver_take(run, id, js("{\"data\":{\"m1\":null}}"), NULL);
    id = expect_request(run, 0, "mutation { m2 { __typename __typename _rj_id: id } }", "{}");
    rj_fed_run_deliver_take(
        run, id, js("{\"data\":{\"m2\":{\"__typename\":\"T\",\"_rj_id\":\"1\"}}}"), NULL);
    id = expect_request(run, 1,
                        "query($representations: [_Any!]!) { _entities(representations: "
                        "$representations) { ... on T { x } } }",
                        "{\"representations\":[{\"__typename\":\"T\",\"id\":\"1\"}]}");
    rj_fed_run_deliver_take(run, id, js("{\"data\":{\"_entities\":[{\"x\":5}]}}"), NULL);
    cr_expect(rj_fed_run_done(run));
    json_t *resp = complete(&fx, run, NULL);
    expect_json(resp, "{\"data\":{\"m1\":null,\"m2\":{\"x\":5}}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/* A deduplicated representation's error is every object's that gave it. */
Test(fed_plan, deduplicated_errors_reach_every_object)
{
    fixture_t fx;
    setup(&fx, "{ topProducts { reviews { author { name } } } }");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);
    size_t id = take_one(run);
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"topProducts\":[{\"__typename\":\"Product\",\"_rj_upc\":\"1\"}]}}"), NULL);
    id = take_one(run);
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"_entities\":[{\"reviews\":["
           "{\"__typename\":\"Review\",\"author\":{\"__typename\":\"User\",\"_rj_id\":\"u1\"}},"
           "{\"__typename\":\"Review\",\"author\":{\"__typename\":\"User\",\"_rj_id\":\"u1\"}}]}]}"
           "}"),
        NULL);
    id = expect_request(run, ACCOUNTS,
                        "query($representations: [_Any!]!) { _entities(representations: "
                        "$representations) { ... on User { name } } }",
                        "{\"representations\":[{\"__typename\":\"User\",\"id\":\"u1\"}]}");
    rj_fed_run_deliver_take(run, id,
                            js("{\"data\":{\"_entities\":[{\"name\":null}]},\"errors\":[{"
                               "\"message\":\"hidden\",\"path\":[\"_entities\",\"0\",\"name\"]}]}"),
                            NULL);
    json_t *resp = complete(&fx, run, NULL);
    expect_json(resp,
                "{\"errors\":[{\"message\":\"hidden\",\"path\":[\"topProducts\",0,\"reviews\",0,"
                "\"author\",\"name\"],\"extensions\":{\"serviceName\":\"accounts\"}},"
                "{\"message\":\"hidden\",\"path\":[\"topProducts\",0,\"reviews\",1,\"author\","
                "\"name\"],\"extensions\":{\"serviceName\":\"accounts\"}}],"
                "\"data\":{\"topProducts\":[{\"reviews\":[{\"author\":{\"name\":null}},"
                "{\"author\":{\"name\":null}}]}]}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/* A fragment's @skip applies to its fields that another service resolves, there too. */
Test(fed_plan, fragment_directives_follow_fields_to_other_services)
{
    fixture_t fx;
    setup(&fx, "query ($s: Boolean!) { me { name ...F @skip(if: $s) } }\n"
               "fragment F on User { reviews { body } }");
    cr_assert_eq(fx.plan->nall, 2);
    const rj_fed_fetch_t *me = fx.plan->roots[0], *rev = me->children[0];
    cr_expect_str_eq(me->query,
                     "query($s: Boolean!) { me { __typename name ... on User @skip(if: $s) { "
                     "__typename _rj_id: id } } }");
    cr_expect_str_eq(rev->query, "query($representations: [_Any!]!, $s: Boolean!) { _entities("
                                 "representations: $representations) { ... on User { ... "
                                 "@skip(if: $s) { reviews { __typename body } } } } }");
    teardown_fx(&fx);
}

/*
 * @requires fields asked inside a fragment the client skipped are missing from the
 * parent's answer: the representation goes without them, and the service still gives
 * the fields that did not require them.
 */
Test(fed_plan, skipped_requires_leave_the_key)
{
    fixture_t fx;
    setup(&fx, "query ($x: Boolean!) { topProducts { ... @include(if: $x) { shippingEstimate } "
               "inStock } }");
    json_t *vars = js("{\"x\": false}");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, vars);
    size_t id = expect_request(run, PRODUCTS,
                               "query($x: Boolean!) { topProducts { __typename ... @include(if: "
                               "$x) { __typename _rj_upc: upc _rj_price: price _rj_weight: weight "
                               "} __typename _rj_upc: upc } }",
                               "{\"x\": false}");
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"topProducts\":[{\"__typename\":\"Product\",\"_rj_upc\":\"1\"}]}}"), NULL);
    id = expect_request(run, INVENTORY,
                        "query($representations: [_Any!]!, $x: Boolean!) { _entities("
                        "representations: $representations) { ... on Product { ... @include(if: "
                        "$x) { shippingEstimate } inStock } } }",
                        "{\"x\": false, \"representations\":[{\"__typename\":\"Product\","
                        "\"upc\":\"1\"}]}");
    rj_fed_run_deliver_take(run, id, js("{\"data\":{\"_entities\":[{\"inStock\":true}]}}"), NULL);
    json_t *resp = complete(&fx, run, vars);
    expect_json(resp, "{\"data\":{\"topProducts\":[{\"inStock\":true}]}}");
    json_decref(resp);
    json_decref(vars);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/*
 * One response key asked twice under different conditions: what the conditioned
 * occurrence asks of another service is asked there under its condition.
 */
Test(fed_plan, field_conditions_follow_to_other_services)
{
    fixture_t fx;
    setup(&fx, "query ($b: Boolean!) { topProducts { name } topProducts @include(if: $b) { "
               "inStock } }");
    cr_assert_eq(fx.plan->nall, 2);
    cr_expect_str_eq(fx.plan->all[1]->query,
                     "query($representations: [_Any!]!, $b: Boolean!) { _entities("
                     "representations: $representations) { ... on Product { ... @include(if: "
                     "$b) { inStock } } } }");
    teardown_fx(&fx);
}

/*
 * One response path through two members of a union (Box.items, Crate.items): a fetch
 * per member, each representing only its member's objects, so the @requires of one
 * never goes missing in the other's representations.
 */
Test(fed_plan, union_members_sharing_a_path)
{
    static const char a[] = "type Query { search: [R] }\nunion R = Box | Crate\n"
                            "type Box { items: [P] }\ntype Crate { items: [P] }\n"
                            "type P @key(fields: \"id\") { id: ID!  price: Int }\n";
    static const char b[] = "extend type P @key(fields: \"id\") { id: ID! @external  price: Int "
                            "@external  tax: Int @requires(fields: \"price\")  stock: Int }\n";
    const rj_fed_sdl_t s[] = {{"a", a, sizeof a - 1}, {"b", b, sizeof b - 1}};
    fixture_t fx;
    setup_with(&fx, s, 2,
               "{ search { ... on Box { items { tax } } ... on Crate { items { stock } } } }");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);
    size_t id = take_one(run);
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"search\":[{\"__typename\":\"Box\",\"items\":[{\"__typename\":\"P\","
           "\"_rj_id\":\"1\",\"_rj_price\":5}]},{\"__typename\":\"Crate\",\"items\":[{"
           "\"__typename\":\"P\",\"_rj_id\":\"2\"}]}]}}"),
        NULL);
    id = expect_request(run, 1,
                        "query($r0: [_Any!]!, $r1: [_Any!]!) { e0: _entities(representations: "
                        "$r0) { ... on P { tax } } e1: _entities(representations: $r1) { ... on "
                        "P { stock } } }",
                        "{\"r0\":[{\"__typename\":\"P\",\"id\":\"1\",\"price\":5}],"
                        "\"r1\":[{\"__typename\":\"P\",\"id\":\"2\"}]}");
    rj_fed_run_deliver_take(run, id, js("{\"data\":{\"e0\":[{\"tax\":1}],\"e1\":[{\"stock\":7}]}}"),
                            NULL);
    json_t *resp = complete(&fx, run, NULL);
    expect_json(resp, "{\"data\":{\"search\":[{\"items\":[{\"tax\":1}]},{\"items\":[{\"stock\":"
                      "7}]}]}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}

/*
 * An interface whose implementations are entities of the parent's service, with a field
 * another service adds to the interface (`extend interface`): the parent asks each
 * implementation's __typename and key, the fields it resolves for all of them on the
 * interface itself; the other service is asked once for both types, each object once.
 */
static const char shelf_sdl[] =
    "type Query { items: [Item] }\n"
    "interface Item { id: ID!  title: String }\n"
    "type Book implements Item @key(fields: \"isbn\") { isbn: String!  id: ID!  title: String }\n"
    "type Desk implements Item @key(fields: \"id\") { id: ID!  title: String }\n";
static const char critics_sdl[] =
    "type Review { body: String }\n"
    "extend interface Item { reviews: [Review] }\n"
    "extend type Book implements Item @key(fields: \"isbn\") { isbn: String! @external  "
    "reviews: [Review] }\n"
    "extend type Desk implements Item @key(fields: \"id\") { id: ID! @external  "
    "reviews: [Review] }\n";

Test(fed_plan, interface_field_of_another_service)
{
    const rj_fed_sdl_t s[] = {{"shelf", shelf_sdl, sizeof shelf_sdl - 1},
                              {"critics", critics_sdl, sizeof critics_sdl - 1}};
    fixture_t fx;
    setup_with(&fx, s, 2, "{ items { title reviews { body } } }");
    rj_fed_run_t *run = rj_fed_run_new(fx.plan, fx.g, NULL);
    size_t id = expect_request(run, 0,
                               "query { items { __typename title ... on Book { __typename "
                               "_rj_isbn: isbn } ... on Desk { __typename _rj_id: id } } }",
                               "{}");
    rj_fed_run_deliver_take(
        run, id,
        js("{\"data\":{\"items\":[{\"__typename\":\"Book\",\"title\":\"B\",\"_rj_isbn\":\"i1\"},"
           "{\"__typename\":\"Desk\",\"title\":\"D\",\"_rj_id\":\"d1\"},"
           "{\"__typename\":\"Book\",\"title\":\"B\",\"_rj_isbn\":\"i1\"}]}}"),
        NULL);
    id = expect_request(run, 1,
                        "query($r0: [_Any!]!, $r1: [_Any!]!) { e0: _entities(representations: "
                        "$r0) { ... on Book { reviews { body } } } e1: _entities("
                        "representations: $r1) { ... on Desk { reviews { body } } } }",
                        "{\"r0\":[{\"__typename\":\"Book\",\"isbn\":\"i1\"}],"
                        "\"r1\":[{\"__typename\":\"Desk\",\"id\":\"d1\"}]}");
    rj_fed_run_deliver_take(run, id,
                            js("{\"data\":{\"e0\":[{\"reviews\":[{\"body\":\"good\"}]}],"
                               "\"e1\":[{\"reviews\":[]}]}}"),
                            NULL);
    cr_expect(rj_fed_run_done(run));
    json_t *resp = complete(&fx, run, NULL);
    expect_json(resp, "{\"data\":{\"items\":[{\"title\":\"B\",\"reviews\":[{\"body\":\"good\"}]},"
                      "{\"title\":\"D\",\"reviews\":[]},"
                      "{\"title\":\"B\",\"reviews\":[{\"body\":\"good\"}]}]}}");
    json_decref(resp);
    rj_fed_run_free(run);
    teardown_fx(&fx);
}
