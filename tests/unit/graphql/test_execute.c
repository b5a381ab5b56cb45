/*
 * test_execute.c - two-phase execution: operation selection, variable coercion with
 * graphql-js's messages, argument coercion, root fields through fragments and @skip/
 * @include, completion (aliases, fragments, __typename, lists, null propagation, leaf
 * serialization, error paths), repeated completion, and introspection.
 */
#include "gql_test.h"

static json_t *
prepare_errors(rj_gql_schema_t *s, const char *q, const char *op, const char *vars_json)
{
    rj_gql_doc_t *d = parse_ok(q);
    json_t *vars = vars_json != NULL ? json_loads(vars_json, 0, NULL) : NULL;
    rj_gql_prepared_t *p = NULL;
    json_t *errors = NULL;
    rj_status_t st = rj_gql_prepare(s, d, op, vars, &p, &errors);
    cr_expect_eq(st, RJ_EINVAL);
    cr_expect_null(p);
    json_decref(vars);
    rj_gql_doc_free(d);
    return errors;
}

static rj_gql_prepared_t *
prepare_ok(rj_gql_schema_t *s, const char *q, const char *op, const char *vars_json)
{
    rj_gql_doc_t *d = parse_ok(q);
    json_t *verr = rj_gql_validate(s, d);
    if (verr != NULL) {
        char *t = json_dumps(verr, JSON_COMPACT);
        cr_assert_fail("invalid: %s", t);
    }
    json_t *vars = vars_json != NULL ? json_loads(vars_json, 0, NULL) : NULL;
    rj_gql_prepared_t *p = NULL;
    json_t *errors = NULL;
    rj_status_t st = rj_gql_prepare(s, d, op, vars, &p, &errors);
    if (st != RJ_OK) {
        char *t = json_dumps(errors, JSON_COMPACT);
        cr_assert_fail("prepare: %s", t);
    }
    json_decref(vars);
    rj_gql_doc_free(d); /* the prepared operation keeps its own reference */
    return p;
}

/* Resolves every non-internal root to the JSON @p value_json and completes. */
static json_t *
run(rj_gql_schema_t *s, const char *q, const char *vars_json, const char *value_json)
{
    rj_gql_prepared_t *p = prepare_ok(s, q, NULL, vars_json);
    for (size_t i = 0; i < rj_gql_prepared_nroots(p); i++)
        if (!rj_gql_prepared_root(p, i)->internal)
            rj_gql_prepared_set_result_take(p, i, json_loads(value_json, JSON_DECODE_ANY, NULL));
    json_t *r = rj_gql_complete(p);
    rj_gql_prepared_free(p);
    return r;
}

Test(execute, operation_selection)
{
    rj_gql_schema_t *s = shop_schema();
    const char *two = "query A { __typename } query B { __typename }";
    assert_json_take(prepare_errors(s, two, NULL, NULL),
                     "[{\"message\":\"Must provide operation name if query contains multiple "
                     "operations.\"}]");
    assert_json_take(prepare_errors(s, two, "C", NULL),
                     "[{\"message\":\"Unknown operation named \\\"C\\\".\"}]");
    rj_gql_prepared_t *p = prepare_ok(s, two, "B", NULL);
    cr_expect_str_eq(rj_gql_prepared_name(p), "B");
    cr_expect_eq(rj_gql_prepared_op(p), RJ_GQL_OP_QUERY);
    assert_json_take(rj_gql_complete(p), "{\"data\":{\"__typename\":\"Query\"}}");
    rj_gql_prepared_free(p);
    rj_gql_schema_free(s);
}

Test(execute, mutation_root_fields_and_coerced_args)
{
    rj_gql_schema_t *s = shop_schema();
    rj_gql_prepared_t *p =
        prepare_ok(s,
                   "mutation M($input: ChangeCartItemInput!) {\n"
                   "  first: ChangeCartItem(input: $input)\n"
                   "  ... on Mutation { second: ChangeCartItem(input: {cartId: 7, productId: "
                   "\"p\", quantity: 2}) }\n"
                   "  skipped: ChangeCartItem(input: $input) @skip(if: true)\n"
                   "}",
                   NULL, "{\"input\":{\"cartId\":\"c1\",\"productId\":42,\"quantity\":3}}");
    cr_expect_eq(rj_gql_prepared_op(p), RJ_GQL_OP_MUTATION);
    cr_assert_eq(rj_gql_prepared_nroots(p), 2);
    const rj_gql_root_field_t *f = rj_gql_prepared_root(p, 0);
    cr_expect_str_eq(f->response_key, "first");
    cr_expect_str_eq(f->name, "ChangeCartItem");
    cr_expect_str_eq(f->def->name, "ChangeCartItem");
    cr_expect_not(f->internal);
    char *a = json_dumps(f->args, JSON_COMPACT);
    cr_expect_str_eq(a, "{\"input\":{\"cartId\":\"c1\",\"productId\":\"42\",\"quantity\":3}}");
    free(a);
    f = rj_gql_prepared_root(p, 1);
    a = json_dumps(f->args, JSON_COMPACT);
    cr_expect_str_eq(a, "{\"input\":{\"cartId\":\"7\",\"productId\":\"p\",\"quantity\":2}}");
    free(a);
    rj_gql_prepared_set_result_take(p, 0, json_true());
    rj_gql_prepared_set_error(p, 1, "not allowed", "NotAuthorizedError");
    assert_json_take(rj_gql_complete(p),
                     "{\"errors\":[{\"message\":\"not allowed\",\"locations\":[{\"line\":3,"
                     "\"column\":21}],\"path\":[\"second\"],\"extensions\":{\"code\":"
                     "\"NotAuthorizedError\"}}],\"data\":null}");
    rj_gql_prepared_free(p);
    rj_gql_schema_free(s);
}

Test(execute, item_errors_carry_the_item_path)
{
    /* A federation `_entities` list: some entries failed, the rest are data. */
    rj_gql_schema_t *s = shop_schema();
    rj_gql_prepared_t *p = prepare_ok(s, "{ carts: CartReadModels { id } }", NULL, NULL);
    rj_gql_prepared_set_result_take(p, 0, json_pack("[{s:s}, n, {s:s}]", "id", "a", "id", "c"));
    rj_gql_prepared_add_item_error(p, 0, 1, "gone", "NotFoundError");
    assert_json_take(rj_gql_complete(p),
                     "{\"errors\":[{\"message\":\"gone\",\"locations\":[{\"line\":1,"
                     "\"column\":3}],\"path\":[\"carts\",1],\"extensions\":{\"code\":"
                     "\"NotFoundError\"}}],\"data\":{\"carts\":[{\"id\":\"a\"},null,{\"id\":"
                     "\"c\"}]}}");
    /* A root field that failed as a whole reports only its own error. */
    rj_gql_prepared_set_error(p, 0, "down", NULL);
    assert_json_take(rj_gql_complete(p),
                     "{\"errors\":[{\"message\":\"down\",\"locations\":[{\"line\":1,"
                     "\"column\":3}],\"path\":[\"carts\"],\"extensions\":{}}],\"data\":"
                     "{\"carts\":null}}");
    rj_gql_prepared_free(p);
    rj_gql_schema_free(s);
}

Test(execute, defaults_enums_lists_and_custom_scalars)
{
    rj_gql_schema_t *s = shop_schema();
    rj_gql_prepared_t *p = prepare_ok(
        s,
        "query($st: Status, $l: [Int!]) { CartReadModels(status: $st) { id }\n"
        "  echo(value: {a: [1, \"x\", $l], b: ENUMLIKE}, list: $l, flag: true) }",
        NULL, "{\"st\":\"OPEN\",\"l\":5}");
    char *a = json_dumps(rj_gql_prepared_root(p, 0)->args, JSON_COMPACT);
    cr_expect_str_eq(a, "{\"limit\":10,\"status\":\"OPEN\"}");
    free(a);
    a = json_dumps(rj_gql_prepared_root(p, 1)->args, JSON_COMPACT);
    cr_expect_str_eq(a, "{\"value\":{\"a\":[1,\"x\",[5]],\"b\":\"ENUMLIKE\"},\"list\":[5],"
                        "\"flag\":true}");
    free(a);
    a = json_dumps(rj_gql_prepared_variables_get(p), JSON_COMPACT);
    cr_expect_str_eq(a, "{\"st\":\"OPEN\",\"l\":[5]}");
    free(a);
    rj_gql_prepared_free(p);
    rj_gql_schema_free(s);
}

Test(execute, variable_errors)
{
    rj_gql_schema_t *s = shop_schema();
    const char *m = "mutation($input: ChangeCartItemInput!) { ChangeCartItem(input: $input) }";
    assert_json_take(prepare_errors(s, m, NULL, NULL),
                     "[{\"message\":\"Variable \\\"$input\\\" of required type "
                     "\\\"ChangeCartItemInput!\\\" was not provided.\",\"locations\":[{\"line\":"
                     "1,\"column\":10}]}]");
    assert_json_take(prepare_errors(s, m, NULL, "{\"input\":null}"),
                     "[{\"message\":\"Variable \\\"$input\\\" of non-null type "
                     "\\\"ChangeCartItemInput!\\\" must not be null.\",\"locations\":[{\"line\":"
                     "1,\"column\":10}]}]");
    assert_json_take(
        prepare_errors(s, m, NULL, "{\"input\":{\"cartId\":\"c\",\"quantity\":\"lots\",\"x\":1}}"),
        "[{\"message\":\"Variable \\\"$input\\\" got invalid value { cartId: \\\"c\\\", "
        "quantity: \\\"lots\\\", x: 1 }; Field \\\"productId\\\" of required type \\\"ID!\\\" was "
        "not provided.\",\"locations\":[{\"line\":1,\"column\":10}]},"
        "{\"message\":\"Variable \\\"$input\\\" got invalid value \\\"lots\\\" at "
        "\\\"input.quantity\\\"; Float cannot represent non numeric value: \\\"lots\\\"\","
        "\"locations\":[{\"line\":1,\"column\":10}]},"
        "{\"message\":\"Variable \\\"$input\\\" got invalid value { cartId: \\\"c\\\", quantity: "
        "\\\"lots\\\", x: 1 }; Field \\\"x\\\" is not defined by type \\\"ChangeCartItemInput\\\".\","
        "\"locations\":[{\"line\":1,\"column\":10}]}]");
    assert_json_take(prepare_errors(s, "query($n: Int) { CartReadModels(limit: $n) { id } }", NULL,
                                    "{\"n\":3000000000}"),
                     "[{\"message\":\"Variable \\\"$n\\\" got invalid value 3000000000; Int "
                     "cannot represent non 32-bit signed integer value: 3000000000\","
                     "\"locations\":[{\"line\":1,\"column\":7}]}]");
    assert_json_take(prepare_errors(s, "query($n: Int) { CartReadModels(limit: $n) { id } }", NULL,
                                    "{\"n\":1.5}"),
                     "[{\"message\":\"Variable \\\"$n\\\" got invalid value 1.5; Int cannot "
                     "represent non-integer value: 1.5\",\"locations\":[{\"line\":1,\"column\":7}"
                     "]}]");
    assert_json_take(prepare_errors(s, "query($s: Status) { CartReadModels(status: $s) { id } }",
                                    NULL, "{\"s\":\"NOPE\"}"),
                     "[{\"message\":\"Variable \\\"$s\\\" got invalid value \\\"NOPE\\\"; Value "
                     "\\\"NOPE\\\" does not exist in \\\"Status\\\" enum. Did you mean the enum "
                     "value \\\"OPEN\\\"?\",\"locations\":[{"
                     "\"line\":1,\"column\":7}]}]");
    assert_json_take(prepare_errors(s, "query($l: [Int!]) { echo(list: $l) }", NULL,
                                    "{\"l\":[1,null]}"),
                     "[{\"message\":\"Variable \\\"$l\\\" got invalid value null at "
                     "\\\"l[1]\\\"; Expected non-nullable type \\\"Int!\\\" not to be null.\","
                     "\"locations\":[{\"line\":1,\"column\":7}]}]");
    rj_gql_schema_free(s);
}

Test(execute, argument_errors_are_field_errors)
{
    rj_gql_schema_t *s = shop_schema();
    /* not validated on purpose: execution must cope with what validation would reject */
    rj_gql_doc_t *d = parse_ok("query($id: ID) { a: CartReadModel(id: $id) { id } b: __typename }");
    rj_gql_prepared_t *p;
    cr_assert_eq(rj_gql_prepare(s, d, NULL, NULL, &p, NULL), RJ_OK);
    cr_expect(rj_gql_prepared_root(p, 0)->internal);
    assert_json_take(rj_gql_complete(p),
                     "{\"errors\":[{\"message\":\"Argument \\\"id\\\" of required type \\\"ID!\\\" "
                     "was provided the variable \\\"$id\\\" which was not provided a runtime "
                     "value.\",\"locations\":[{\"line\":1,\"column\":39}],\"path\":["
                     "\"a\"]}],\"data\":{\"a\":null,\"b\":\"Query\"}}");
    rj_gql_prepared_free(p);
    rj_gql_doc_free(d);
    rj_gql_schema_free(s);
}

Test(execute, completion_aliases_fragments_typename)
{
    rj_gql_schema_t *s = shop_schema();
    assert_json_take(
        run(s,
            "query { cart: CartReadModel(id: \"1\") { __typename ...F\n"
            "  items: cartItems { q: quantity productId } ... on CartReadModel { id note } } }\n"
            "fragment F on CartReadModel { id count }",
            NULL,
            "{\"id\":1,\"count\":2.0,\"note\":null,\"extra\":true,\"cartItems\":["
            "{\"productId\":\"p1\",\"quantity\":2.0},{\"productId\":5,\"quantity\":0.5}]}"),
        "{\"data\":{\"cart\":{\"__typename\":\"CartReadModel\",\"id\":\"1\",\"count\":2,"
        "\"items\":[{\"q\":2,\"productId\":\"p1\"},{\"q\":0.5,\"productId\":\"5\"}],\"note\":null}}}");
    rj_gql_schema_free(s);
}

Test(execute, skip_and_include_with_variables)
{
    rj_gql_schema_t *s = shop_schema();
    assert_json_take(run(s,
                         "query($yes: Boolean!) { CartReadModel(id: 1) { id @skip(if: $yes) "
                         "note @include(if: $yes) ... @include(if: false) { count } } }",
                         "{\"yes\":true}", "{\"id\":\"x\",\"note\":\"n\",\"count\":1}"),
                     "{\"data\":{\"CartReadModel\":{\"note\":\"n\"}}}");
    rj_gql_schema_free(s);
}

Test(execute, null_propagation)
{
    rj_gql_schema_t *s = shop_schema();
    /* a non-null item field fails: the list item is non-null, the list is non-null, so the
     * nearest nullable ancestor is the root field itself */
    assert_json_take(
        run(s, "{ CartReadModel(id: 1) { id cartItems { productId quantity } } }", NULL,
            "{\"id\":\"c\",\"cartItems\":[{\"productId\":\"p\",\"quantity\":1},{\"productId\":"
            "\"q\"}]}"),
        "{\"errors\":[{\"message\":\"Cannot return null for non-nullable field "
        "CartItem.quantity.\",\"locations\":[{\"line\":1,\"column\":51}],\"path\":["
        "\"CartReadModel\",\"cartItems\",1,\"quantity\"]}],\"data\":{\"CartReadModel\":null}}");
    /* the root field is non-null: data becomes null */
    assert_json_take(run(s, "{ requiredCart(id: 1) { id } }", NULL, "{\"id\":null}"),
                     "{\"errors\":[{\"message\":\"Cannot return null for non-nullable field "
                     "CartReadModel.id.\",\"locations\":[{\"line\":1,\"column\":25}],\"path\":["
                     "\"requiredCart\",\"id\"]}],\"data\":null}");
    assert_json_take(run(s, "{ requiredCart(id: 1) { id } }", NULL, "null"),
                     "{\"errors\":[{\"message\":\"Cannot return null for non-nullable field "
                     "Query.requiredCart.\",\"locations\":[{\"line\":1,\"column\":3}],\"path\":["
                     "\"requiredCart\"]}],\"data\":null}");
    /* nullable list items absorb their errors */
    assert_json_take(run(s, "{ CartReadModels { id } }", NULL, "[{\"id\":\"a\"},{},null]"),
                     "{\"errors\":[{\"message\":\"Cannot return null for non-nullable field "
                     "CartReadModel.id.\",\"locations\":[{\"line\":1,\"column\":20}],\"path\":["
                     "\"CartReadModels\",1,\"id\"]}],\"data\":{\"CartReadModels\":[{\"id\":\"a\"},"
                     "null,null]}}");
    rj_gql_schema_free(s);
}

Test(execute, leaf_serialization_errors)
{
    rj_gql_schema_t *s = shop_schema();
    assert_json_take(run(s, "{ CartReadModel(id: 1) { count note cartItemsSize } }", NULL,
                         "{\"count\":1.5,\"note\":{\"a\":1},\"cartItemsSize\":\"3\"}"),
                     "{\"errors\":[{\"message\":\"Int cannot represent non-integer value: 1.5\","
                     "\"locations\":[{\"line\":1,\"column\":26}],\"path\":[\"CartReadModel\","
                     "\"count\"]},{\"message\":\"String cannot represent value: { a: 1 }\","
                     "\"locations\":[{\"line\":1,\"column\":32}],\"path\":[\"CartReadModel\","
                     "\"note\"]}],\"data\":{\"CartReadModel\":{\"count\":null,\"note\":null,"
                     "\"cartItemsSize\":3}}}");
    assert_json_take(run(s, "{ CartReadModels { cartItems { quantity } } }", NULL,
                         "[{\"cartItems\":{}}]"),
                     "{\"errors\":[{\"message\":\"Expected Iterable, but did not find one for "
                     "field \\\"CartReadModel.cartItems\\\".\",\"locations\":[{\"line\":1,"
                     "\"column\":20}],\"path\":[\"CartReadModels\",0,\"cartItems\"]}],\"data\":{"
                     "\"CartReadModels\":[null]}}");
    rj_gql_schema_free(s);
}

Test(execute, abstract_types)
{
    rj_gql_schema_t *s = shop_schema();
    assert_json_take(
        run(s,
            "{ search(text: \"x\") { __typename ... on Product { name } ... on Shipment { "
            "carrier } ... on Node { id } } }",
            NULL,
            "[{\"__typename\":\"Product\",\"id\":\"1\",\"name\":\"pen\"},"
            "{\"__typename\":\"Shipment\",\"id\":\"2\",\"carrier\":\"dhl\"}]"),
        "{\"data\":{\"search\":[{\"__typename\":\"Product\",\"name\":\"pen\",\"id\":\"1\"},"
        "{\"__typename\":\"Shipment\",\"carrier\":\"dhl\",\"id\":\"2\"}]}}");
    /* without __typename: graphql-js's field error, never the interface standing in */
    assert_json_take(run(s, "{ node(id: 1) { __typename id ... on Product { name } } }", NULL,
                         "{\"id\":\"9\",\"name\":\"x\"}"),
                     "{\"errors\":[{\"message\":\"Abstract type \\\"Node\\\" must resolve to an "
                     "Object type at runtime for field \\\"Query.node\\\". Either the \\\"Node\\\" "
                     "type should provide a \\\"resolveType\\\" function or each possible type "
                     "should provide an \\\"isTypeOf\\\" function.\",\"locations\":[{\"line\":1,"
                     "\"column\":3}],\"path\":[\"node\"]}],\"data\":{\"node\":null}}");
    /* __typename naming an abstract type is no better */
    assert_json_take(run(s, "{ node(id: 1) { id } }", NULL, "{\"__typename\":\"Node\"}"),
                     "{\"errors\":[{\"message\":\"Abstract type \\\"Node\\\" was resolved to a "
                     "non-object type \\\"Node\\\".\",\"locations\":[{\"line\":1,\"column\":3}],"
                     "\"path\":[\"node\"]}],\"data\":{\"node\":null}}");
    assert_json_take(run(s, "{ node(id: 1) { id } }", NULL, "{\"__typename\":\"CartItem\"}"),
                     "{\"errors\":[{\"message\":\"Runtime Object type \\\"CartItem\\\" is not a "
                     "possible type for \\\"Node\\\".\",\"locations\":[{\"line\":1,\"column\":3}],"
                     "\"path\":[\"node\"]}],\"data\":{\"node\":null}}");
    rj_gql_schema_free(s);
}

Test(execute, complete_with_repeatedly)
{
    rj_gql_schema_t *s = shop_schema();
    rj_gql_prepared_t *p =
        prepare_ok(s, "subscription S($id: ID!) { CartReadModel(id: $id) { id cartItems { "
                      "quantity } } }",
                   NULL, "{\"id\":\"c1\"}");
    cr_expect_eq(rj_gql_prepared_op(p), RJ_GQL_OP_SUBSCRIPTION);
    for (int i = 1; i <= 3; i++) {
        json_t *v = json_pack("{s:s,s:[{s:i}]}", "id", "c1", "cartItems", "quantity", i);
        char want[200];
        snprintf(want, sizeof(want),
                 "{\"data\":{\"CartReadModel\":{\"id\":\"c1\",\"cartItems\":[{\"quantity\":%d}]}}}",
                 i);
        assert_json_take(rj_gql_complete_with(p, 0, v), want);
        cr_expect_eq(v->refcount, 1);
        json_decref(v);
    }
    rj_gql_prepared_free(p);
    rj_gql_schema_free(s);
}

static rj_status_t
resolver(void *ud, const rj_gql_root_field_t *f, json_t **value, rj_error_t *err)
{
    (*(int *)ud)++;
    if (strcmp(f->name, "requiredCart") == 0) {
        rj_error_set(err, RJ_EAUTH, "Access denied for this resource");
        rj_error_set_code(err, "NotAuthorizedError");
        return RJ_EAUTH;
    }
    *value = json_pack("{s:O}", "id", json_object_get(f->args, "id"));
    return RJ_OK;
}

Test(execute, execute_sync)
{
    rj_gql_schema_t *s = shop_schema();
    int calls = 0;
    rj_gql_doc_t *d = parse_ok("{ __typename CartReadModel(id: 5) { id } }");
    assert_json_take(rj_gql_execute_sync(s, d, NULL, NULL, resolver, &calls),
                     "{\"data\":{\"__typename\":\"Query\",\"CartReadModel\":{\"id\":\"5\"}}}");
    cr_expect_eq(calls, 1);
    rj_gql_doc_free(d);
    d = parse_ok("{ CartReadModel(id: 5) { id } requiredCart(id: 1) { id } }");
    assert_json_take(rj_gql_execute_sync(s, d, NULL, NULL, resolver, &calls),
                     "{\"errors\":[{\"message\":\"Access denied for this resource\",\"locations\""
                     ":[{\"line\":1,\"column\":31}],\"path\":[\"requiredCart\"],\"extensions\":{"
                     "\"code\":\"NotAuthorizedError\"}}],\"data\":null}");
    rj_gql_doc_free(d);
    d = parse_ok("{ nope }");
    assert_json_take(rj_gql_execute_sync(s, d, NULL, NULL, resolver, &calls),
                     "{\"errors\":[{\"message\":\"Cannot query field \\\"nope\\\" on type "
                     "\\\"Query\\\". Did you mean \\\"node\\\"?\",\"locations\":[{\"line\":1,\"column\":3}]}]}");
    rj_gql_doc_free(d);
    rj_gql_schema_free(s);
}

Test(execute, introspection)
{
    rj_gql_schema_t *s = shop_schema();
    int calls = 0;
    rj_gql_doc_t *d = parse_ok(
        "{ __type(name: \"CartReadModel\") { kind name fields { name type { kind name ofType { "
        "kind name ofType { kind name ofType { name } } } } } }\n"
        "  __schema { queryType { name } subscriptionType { name } } }");
    assert_json_take(
        rj_gql_execute_sync(s, d, NULL, NULL, resolver, &calls),
        "{\"data\":{\"__type\":{\"kind\":\"OBJECT\",\"name\":\"CartReadModel\",\"fields\":["
        "{\"name\":\"id\",\"type\":{\"kind\":\"NON_NULL\",\"name\":null,\"ofType\":{\"kind\":"
        "\"SCALAR\",\"name\":\"ID\",\"ofType\":null}}},"
        "{\"name\":\"cartItems\",\"type\":{\"kind\":\"NON_NULL\",\"name\":null,\"ofType\":{"
        "\"kind\":\"LIST\",\"name\":null,\"ofType\":{\"kind\":\"NON_NULL\",\"name\":null,"
        "\"ofType\":{\"name\":\"CartItem\"}}}}},"
        "{\"name\":\"cartItemsSize\",\"type\":{\"kind\":\"SCALAR\",\"name\":\"Float\",\"ofType\":"
        "null}},{\"name\":\"note\",\"type\":{\"kind\":\"SCALAR\",\"name\":\"String\",\"ofType\":"
        "null}},{\"name\":\"count\",\"type\":{\"kind\":\"SCALAR\",\"name\":\"Int\",\"ofType\":"
        "null}}]},\"__schema\":{\"queryType\":{\"name\":\"Query\"},\"subscriptionType\":{"
        "\"name\":\"Subscription\"}}}}");
    cr_expect_eq(calls, 0);
    rj_gql_doc_free(d);
    d = parse_ok("{ __type(name: \"Status\") { enumValues { name } inputFields { name } }\n"
                 "  t: __type(name: \"ChangeCartItemInput\") { inputFields { name defaultValue "
                 "type { name } } }\n"
                 "  n: __type(name: \"Nope\") { name }\n"
                 "  d: __type(name: \"CartReadModel\") { fields(includeDeprecated: true) { name "
                 "isDeprecated deprecationReason } } }");
    json_t *r = rj_gql_execute_sync(s, d, NULL, NULL, resolver, &calls);
    assert_json_take(json_incref(json_object_get(json_object_get(r, "data"), "__type")),
                     "{\"enumValues\":[{\"name\":\"OPEN\"},{\"name\":\"CLOSED\"}],"
                     "\"inputFields\":null}");
    assert_json_take(json_incref(json_object_get(json_object_get(r, "data"), "n")), "null");
    json_t *fields = json_object_get(json_object_get(json_object_get(r, "data"), "d"), "fields");
    cr_expect_eq(json_array_size(fields), 6);
    assert_json_take(json_incref(json_array_get(fields, 5)),
                     "{\"name\":\"old\",\"isDeprecated\":true,\"deprecationReason\":\"use note\"}");
    json_decref(r);
    rj_gql_doc_free(d);
    rj_gql_schema_free(s);
}

/* The query GraphiQL sends (graphql-js getIntrospectionQuery, all options on). */
static const char introspection_query[] =
    "query IntrospectionQuery { __schema { description queryType { name } mutationType { name }"
    " subscriptionType { name } types { ...FullType } directives { name description "
    "isRepeatable locations args(includeDeprecated: true) { ...InputValue } } } }\n"
    "fragment FullType on __Type { kind name description specifiedByURL "
    "fields(includeDeprecated: true) { name description args(includeDeprecated: true) { "
    "...InputValue } type { ...TypeRef } isDeprecated deprecationReason } "
    "inputFields(includeDeprecated: true) { ...InputValue } interfaces { ...TypeRef } "
    "enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } "
    "possibleTypes { ...TypeRef } }\n"
    "fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue "
    "isDeprecated deprecationReason }\n"
    "fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind "
    "name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } "
    "} } }";

Test(execute, graphiql_introspection_query)
{
    rj_gql_schema_t *s = shop_schema();
    int calls = 0;
    rj_gql_doc_t *d = parse_ok(introspection_query);
    json_t *r = rj_gql_execute_sync(s, d, "IntrospectionQuery", NULL, resolver, &calls);
    cr_assert_null(json_object_get(r, "errors"));
    json_t *schema = json_object_get(json_object_get(r, "data"), "__schema");
    json_t *types = json_object_get(schema, "types");
    cr_expect_eq(json_array_size(types), rj_gql_schema_ntypes(s));
    json_t *cart = NULL;
    size_t i;
    json_t *t;
    json_array_foreach(types, i, t)
    if (strcmp(json_string_value(json_object_get(t, "name")), "ChangeCartItemInput") == 0)
        cart = t;
    cr_assert_not_null(cart);
    cr_expect_str_eq(json_string_value(json_object_get(cart, "kind")), "INPUT_OBJECT");
    cr_expect_eq(json_array_size(json_object_get(cart, "inputFields")), 3);
    json_t *dirs = json_object_get(schema, "directives");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(dirs, 0), "name")),
                     "include");
    json_decref(r);
    rj_gql_doc_free(d);
    rj_gql_schema_free(s);
}

/* ---- custom scalars with parsers (Date, DateTime, JSONObject) ---- */

static const char scalars_sdl[] = "scalar Date\nscalar DateTime\nscalar JSONObject\nscalar JSON\n"
                                  "type Query { at(d: Date, t: DateTime, o: JSONObject, j: JSON):"
                                  " JSON }\n";

static rj_gql_schema_t *
scalars_schema(void)
{
    rj_error_t err;
    rj_error_clear(&err);
    rj_gql_schema_t *s = rj_gql_schema_from_sdl(scalars_sdl, strlen(scalars_sdl), &err);
    cr_assert_not_null(s, "schema: %s", err.msg);
    return s;
}

/* The coerced arguments of `at` for @p q with @p vars_json, compact. */
static char *
at_args(rj_gql_schema_t *s, const char *q, const char *vars_json)
{
    rj_gql_prepared_t *p = prepare_ok(s, q, NULL, vars_json);
    char *a = json_dumps(rj_gql_prepared_root(p, 0)->args, JSON_COMPACT);
    rj_gql_prepared_free(p);
    return a;
}

Test(execute, date_scalars_parse_iso_8601_into_utc_iso_strings)
{
    rj_gql_schema_t *s = scalars_schema();
    char *a = at_args(s, "query($d: Date, $t: DateTime) { at(d: $d, t: $t) }",
                      "{\"d\":\"2021-03-01\",\"t\":\"2021-03-01T10:30:00.25+01:00\"}");
    cr_expect_str_eq(a, "{\"d\":\"2021-03-01T00:00:00.000Z\",\"t\":\"2021-03-01T09:30:00.250Z\"}");
    free(a);
    /* Literals, a leap day, a zone without a colon, epoch milliseconds (JS new Date(n)). */
    a = at_args(s, "{ at(d: \"2024-02-29T23:59:59Z\", t: \"2020-12-31T23:00:00-0130\") }", NULL);
    cr_expect_str_eq(a, "{\"d\":\"2024-02-29T23:59:59.000Z\",\"t\":\"2021-01-01T00:30:00.000Z\"}");
    free(a);
    a = at_args(s, "query($d: Date) { at(d: $d) }", "{\"d\":1700000000000}");
    cr_expect_str_eq(a, "{\"d\":\"2023-11-14T22:13:20.000Z\"}");
    free(a);
    a = at_args(s, "query($d: Date) { at(d: $d) }", "{\"d\":-86400000}");
    cr_expect_str_eq(a, "{\"d\":\"1969-12-31T00:00:00.000Z\"}");
    free(a);

    /* What is not a date is the client's error, in graphql-js's words for a scalar parser. */
    assert_json_take(prepare_errors(s, "query($d: Date) { at(d: $d) }", NULL, "{\"d\":\"soon\"}"),
                     "[{\"message\":\"Variable \\\"$d\\\" got invalid value \\\"soon\\\"; Expected "
                     "type \\\"Date\\\". Invalid date: soon\",\"locations\":[{\"line\":1,"
                     "\"column\":7}]}]");
    assert_json_take(prepare_errors(s, "query($d: Date) { at(d: $d) }", NULL,
                                    "{\"d\":\"2023-02-29\"}"),
                     "[{\"message\":\"Variable \\\"$d\\\" got invalid value \\\"2023-02-29\\\"; "
                     "Expected type \\\"Date\\\". Invalid date: 2023-02-29\",\"locations\":[{"
                     "\"line\":1,\"column\":7}]}]");
    /* A DateTime needs the time. */
    assert_json_take(prepare_errors(s, "query($t: DateTime) { at(t: $t) }", NULL,
                                    "{\"t\":\"2023-02-28\"}"),
                     "[{\"message\":\"Variable \\\"$t\\\" got invalid value \\\"2023-02-28\\\"; "
                     "Expected type \\\"DateTime\\\". Invalid date: 2023-02-28\",\"locations\":[{"
                     "\"line\":1,\"column\":7}]}]");
    rj_gql_doc_t *d = parse_ok("{ at(d: \"25:00\", o: [1]) }");
    assert_json_take(rj_gql_validate(s, d),
                     "[{\"message\":\"Expected value of type \\\"Date\\\", found \\\"25:00\\\"; "
                     "Invalid date: 25:00\",\"locations\":[{\"line\":1,\"column\":9}]},"
                     "{\"message\":\"Expected value of type \\\"JSONObject\\\", found [1]; "
                     "JSONObject cannot represent non-object value: [1]\",\"locations\":[{"
                     "\"line\":1,\"column\":21}]}]");
    rj_gql_doc_free(d);
    rj_gql_schema_free(s);
}

Test(execute, json_object_takes_objects_and_json_takes_anything)
{
    rj_gql_schema_t *s = scalars_schema();
    char *a = at_args(s, "query($o: JSONObject, $j: JSON) { at(o: $o, j: $j) }",
                      "{\"o\":{\"a\":[1]},\"j\":\"x\"}");
    cr_expect_str_eq(a, "{\"o\":{\"a\":[1]},\"j\":\"x\"}");
    free(a);
    assert_json_take(prepare_errors(s, "query($o: JSONObject) { at(o: $o) }", NULL, "{\"o\":3}"),
                     "[{\"message\":\"Variable \\\"$o\\\" got invalid value 3; Expected type "
                     "\\\"JSONObject\\\". JSONObject cannot represent non-object value: 3\","
                     "\"locations\":[{\"line\":1,\"column\":7}]}]");
    rj_gql_schema_free(s);
}

/* ---- Float: Ramjet's one number encoding, finite doubles only ---- */

/* The coerced `quantity` of ChangeCartItem for the literal @p lit, compact. */
static char *
quantity_of_literal(rj_gql_schema_t *s, const char *lit)
{
    char *q = rj_xasprintf(
        "mutation { ChangeCartItem(input: {cartId: \"c\", productId: \"p\", quantity: %s}) }", lit);
    rj_gql_prepared_t *p = prepare_ok(s, q, NULL, NULL);
    char *a = json_dumps(
        json_object_get(json_object_get(rj_gql_prepared_root(p, 0)->args, "input"), "quantity"),
        JSON_COMPACT | JSON_ENCODE_ANY);
    rj_gql_prepared_free(p);
    free(q);
    return a;
}

/* The coerced `quantity` for the variables text @p json (its "q"), compact. */
static char *
quantity_of_variable(rj_gql_schema_t *s, const char *json)
{
    rj_gql_prepared_t *p = prepare_ok(s,
                                      "mutation($q: Float!) { ChangeCartItem(input: {cartId: "
                                      "\"c\", productId: \"p\", quantity: $q}) }",
                                      NULL, json);
    char *a = json_dumps(
        json_object_get(json_object_get(rj_gql_prepared_root(p, 0)->args, "input"), "quantity"),
        JSON_COMPACT | JSON_ENCODE_ANY);
    rj_gql_prepared_free(p);
    return a;
}

static void
expect_str_take(char *got, const char *expected)
{
    cr_expect_str_eq(got, expected);
    free(got);
}

Test(execute, float_extremes_are_finite_doubles_in_one_encoding)
{
    rj_gql_schema_t *s = shop_schema();
    /* The extremes a double has, as literals and as variables. */
    expect_str_take(quantity_of_literal(s, "1.7976931348623157e308"), "1.7976931348623157e308");
    expect_str_take(quantity_of_literal(s, "-1.7976931348623157e308"), "-1.7976931348623157e308");
    expect_str_take(quantity_of_literal(s, "5e-324"), "4.9406564584124654e-324");
    expect_str_take(quantity_of_variable(s, "{\"q\":1.7976931348623157e308}"),
                    "1.7976931348623157e308");
    expect_str_take(quantity_of_variable(s, "{\"q\":5e-324}"), "4.9406564584124654e-324");
    /* -0 is 0: jsonb's numeric has no negative zero, so Ramjet never stores one. */
    expect_str_take(quantity_of_literal(s, "-0.0"), "0");
    expect_str_take(quantity_of_variable(s, "{\"q\":-0.0}"), "0");
    /* A Float is a double: 2^53+1 is 2^53; integral values within ±2^53 are integers. */
    expect_str_take(quantity_of_literal(s, "9007199254740993"), "9007199254740992");
    expect_str_take(quantity_of_variable(s, "{\"q\":9007199254740993}"), "9007199254740992");
    expect_str_take(quantity_of_literal(s, "2e3"), "2000");
    expect_str_take(quantity_of_variable(s, "{\"q\":3.0}"), "3");
    expect_str_take(quantity_of_literal(s, "1e308"), "1e308");

    /* Beyond the double range: graphql-js's words, never an infinity into jansson. */
    rj_gql_doc_t *d = parse_ok("mutation { ChangeCartItem(input: {cartId: \"c\", productId: "
                               "\"p\", quantity: 1e309}) b: ChangeCartItem(input: {cartId: \"c\", "
                               "productId: \"p\", quantity: -1e400}) }");
    assert_json_take(rj_gql_validate(s, d),
                     "[{\"message\":\"Float cannot represent non numeric value: 1e309\","
                     "\"locations\":[{\"line\":1,\"column\":74}]},{\"message\":\"Float cannot "
                     "represent non numeric value: -1e400\",\"locations\":[{\"line\":1,"
                     "\"column\":147}]}]");
    rj_gql_doc_free(d);
    rj_gql_schema_free(s);
}

/*
 * A federation gateway's completion: values below the root keyed by response key, so two
 * aliases of one field hold their own values, and errors given beforehand listed first.
 */
Test(execute, keyed_values_and_errors_before)
{
    rj_gql_schema_t *s = shop_schema();
    rj_gql_prepared_t *p =
        prepare_ok(s, "{ c: CartReadModel(id: \"1\") { a: note b: note id count } }", NULL, NULL);
    rj_gql_prepared_set_keyed(p);
    rj_gql_prepared_set_result_take(
        p, 0, json_loads("{\"a\":\"x\",\"b\":\"y\",\"id\":\"1\",\"note\":\"z\"}", 0, NULL));
    rj_gql_prepared_add_error_take(p, json_pack("{s:s}", "message", "from a service"));
    assert_json_take(rj_gql_complete(p),
                     "{\"errors\":[{\"message\":\"from a service\"}],"
                     "\"data\":{\"c\":{\"a\":\"x\",\"b\":\"y\",\"id\":\"1\",\"count\":null}}}");
    rj_gql_prepared_free(p);
    rj_gql_schema_free(s);
}

/* A null a service already reported an error for propagates without a second error. */
Test(execute, null_reported_before_propagates_silently)
{
    rj_gql_schema_t *s = shop_schema();
    rj_gql_prepared_t *p = prepare_ok(s, "{ c: CartReadModel(id: \"1\") { id } }", NULL, NULL);
    rj_gql_prepared_set_keyed(p);
    rj_gql_prepared_set_result_take(p, 0, json_object());
    rj_gql_prepared_add_error_take(
        p, json_pack("{s:s, s:[s,s]}", "message", "no id", "path", "c", "id"));
    assert_json_take(rj_gql_complete(p),
                     "{\"errors\":[{\"message\":\"no id\",\"path\":[\"c\",\"id\"]}],"
                     "\"data\":{\"c\":null}}");
    rj_gql_prepared_free(p);
    rj_gql_schema_free(s);
}

/* Below a value lost upstream, a missing non-null field nulls its parent without error. */
Test(execute, lost_values_propagate_silently)
{
    rj_gql_schema_t *s = shop_schema();
    rj_gql_prepared_t *p = prepare_ok(
        s, "{ c: CartReadModel(id: \"1\") { note id } d: CartReadModel(id: \"2\") { id } }", NULL,
        NULL);
    rj_gql_prepared_set_keyed(p);
    rj_gql_prepared_set_result_take(p, 0, json_object());
    rj_gql_prepared_set_result_take(p, 1, json_object());
    rj_gql_prepared_add_lost_take(p, json_pack("[s]", "c"));
    assert_json_take(rj_gql_complete(p),
                     "{\"errors\":[{\"message\":\"Cannot return null for non-nullable field "
                     "CartReadModel.id.\",\"locations\":[{\"line\":1,\"column\":69}],\"path\":"
                     "[\"d\",\"id\"]}],\"data\":{\"c\":null,\"d\":null}}");
    rj_gql_prepared_free(p);
    rj_gql_schema_free(s);
}
