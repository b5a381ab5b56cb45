/*
 * test_schema.c - schemas built from SDL: types in declaration order, fields, arguments,
 * defaults, printed type references, undeclared directives kept as data, extensions,
 * root types by convention and by a schema block, and the builder's error messages.
 */
#include "gql_test.h"

Test(schema, types_fields_and_type_refs)
{
    rj_gql_schema_t *s = shop_schema();
    cr_expect_str_eq(rj_gql_schema_type_at(s, 0)->name, "JSON");
    cr_expect_str_eq(rj_gql_schema_type_at(s, 1)->name, "CartItem");
    cr_expect_str_eq(rj_gql_schema_type_at(s, 1)->description, "An item in a cart");
    const rj_gql_type_t *cart = rj_gql_schema_find_type(s, "CartReadModel");
    cr_assert_not_null(cart);
    cr_expect_eq(cart->kind, RJ_GQL_KIND_OBJECT);
    const rj_gql_field_def_t *items = rj_gql_type_find_field(cart, "cartItems");
    cr_assert_not_null(items);
    cr_expect_str_eq(items->type_str, "[CartItem!]!");
    cr_expect_str_eq(items->named->name, "CartItem");
    cr_expect_eq(items->type->kind, RJ_GQL_TYPE_NON_NULL);
    cr_expect_eq(items->type->of_type->kind, RJ_GQL_TYPE_LIST);
    cr_expect_eq(items->parent, cart);
    const rj_gql_field_def_t *old = rj_gql_type_find_field(cart, "old");
    cr_expect(old->deprecated);
    cr_expect_str_eq(old->deprecation_reason, "use note");

    const rj_gql_type_t *q = rj_gql_schema_root_type(s, RJ_GQL_OP_QUERY);
    cr_expect_str_eq(q->name, "Query");
    cr_expect_str_eq(rj_gql_schema_root_type(s, RJ_GQL_OP_MUTATION)->name, "Mutation");
    cr_expect_str_eq(rj_gql_schema_root_type(s, RJ_GQL_OP_SUBSCRIPTION)->name, "Subscription");
    const rj_gql_field_def_t *list = rj_gql_type_find_field(q, "CartReadModels");
    const rj_gql_input_value_t *limit = rj_gql_field_find_arg(list, "limit");
    cr_assert_not_null(limit);
    cr_expect_str_eq(limit->type_str, "Int");
    cr_expect_str_eq(limit->default_value->str, "10");
    cr_expect_null(rj_gql_field_find_arg(list, "nope"));

    const rj_gql_type_t *in = rj_gql_schema_find_type(s, "ChangeCartItemInput");
    cr_expect_eq(in->kind, RJ_GQL_KIND_INPUT_OBJECT);
    cr_expect_eq(in->ninput_fields, 3);
    cr_expect_str_eq(rj_gql_type_find_input_field(in, "quantity")->type_str, "Float!");

    const rj_gql_type_t *node = rj_gql_schema_find_type(s, "Node");
    cr_expect_eq(node->npossible_types, 2);
    cr_expect(rj_gql_type_is_possible(node, rj_gql_schema_find_type(s, "Shipment")));
    const rj_gql_type_t *u = rj_gql_schema_find_type(s, "SearchResult");
    cr_expect_eq(u->npossible_types, 2);
    cr_expect_not_null(rj_gql_schema_find_type(s, "String"));
    cr_expect_not_null(rj_gql_schema_find_type(s, "__Type"));
    cr_expect_null(rj_gql_schema_find_type(s, "__Meta"));
    cr_expect_not_null(rj_gql_schema_find_directive(s, "skip"));
    cr_expect_eq(rj_gql_schema_ref(s), s);
    rj_gql_schema_free(s);
    rj_gql_schema_free(s);
}

Test(schema, undeclared_directives_are_data)
{
    const char *sdl =
        "type Cart @entity(authorizeReadEvents: ALL) { id: ID! }\n"
        "input ChangeCartItem @command(authorize: ALL, entity: \"Cart\", key: \"cartId\") {\n"
        "  cartId: ID! }\n"
        "type CartReadModel @readModel(authorize: [\"Admin\", \"User\"]) {\n"
        "  id: ID!\n"
        "  size: Float @calculated(dependsOn: [\"cartItems\"])\n"
        "}\n"
        "extend type Cart @extra(n: 1, o: {a: [true, null]})\n"
        "type Query { cart: Cart }\n";
    rj_error_t err;
    rj_gql_schema_t *s = rj_gql_schema_from_sdl(sdl, strlen(sdl), &err);
    cr_assert_not_null(s, "%s", err.msg);
    const rj_gql_type_t *cart = rj_gql_schema_find_type(s, "Cart");
    const rj_gql_ast_directive_t *d = rj_gql_type_find_directive(cart, "entity");
    cr_assert_not_null(d);
    assert_json_take(rj_gql_directive_arg_json(d, "authorizeReadEvents"), "\"ALL\"");
    cr_expect_null(rj_gql_directive_arg_json(d, "nope"));
    d = rj_gql_type_find_directive(cart, "extra");
    cr_assert_not_null(d);
    assert_json_take(rj_gql_directive_arg_json(d, "o"), "{\"a\":[true,null]}");
    const rj_gql_type_t *cmd = rj_gql_schema_find_type(s, "ChangeCartItem");
    d = rj_gql_type_find_directive(cmd, "command");
    assert_json_take(rj_gql_directive_arg_json(d, "entity"), "\"Cart\"");
    assert_json_take(rj_gql_directive_arg_json(d, "key"), "\"cartId\"");
    const rj_gql_type_t *rm = rj_gql_schema_find_type(s, "CartReadModel");
    assert_json_take(rj_gql_directive_arg_json(rj_gql_type_find_directive(rm, "readModel"),
                                               "authorize"),
                     "[\"Admin\",\"User\"]");
    const rj_gql_field_def_t *size = rj_gql_type_find_field(rm, "size");
    assert_json_take(rj_gql_directive_arg_json(rj_gql_field_find_directive(size, "calculated"),
                                               "dependsOn"),
                     "[\"cartItems\"]");
    rj_gql_schema_free(s);
}

Test(schema, extensions_and_schema_block)
{
    const char *sdl = "schema { query: Root mutation: Mut }\n"
                      "type Root { a: Int }\n"
                      "type Mut { b: Int }\n"
                      "type Query { unused: Int }\n"
                      "extend type Root { c: [String] }\n"
                      "enum E { A }\n"
                      "extend enum E { B }\n";
    rj_error_t err;
    rj_gql_schema_t *s = rj_gql_schema_from_sdl(sdl, strlen(sdl), &err);
    cr_assert_not_null(s, "%s", err.msg);
    const rj_gql_type_t *root = rj_gql_schema_root_type(s, RJ_GQL_OP_QUERY);
    cr_expect_str_eq(root->name, "Root");
    cr_expect_eq(root->nfields, 2);
    cr_expect_str_eq(root->fields[1].type_str, "[String]");
    cr_expect_str_eq(rj_gql_schema_root_type(s, RJ_GQL_OP_MUTATION)->name, "Mut");
    cr_expect_null(rj_gql_schema_root_type(s, RJ_GQL_OP_SUBSCRIPTION));
    cr_expect_eq(rj_gql_schema_find_type(s, "E")->nenum_values, 2);
    rj_gql_schema_free(s);
}

static void
expect_schema_error(const char *sdl, const char *msg)
{
    rj_error_t err;
    rj_error_clear(&err);
    rj_gql_schema_t *s = rj_gql_schema_from_sdl(sdl, strlen(sdl), &err);
    cr_expect_null(s, "built: %s", sdl);
    rj_gql_schema_free(s);
    cr_expect_eq(err.status, RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, msg);
}

Test(schema, errors)
{
    expect_schema_error("type Query { a: Nope }",
                        "invalid schema: Unknown type \"Nope\". (line 1, column 17)");
    expect_schema_error("type Query { a: Int }\ntype Query { b: Int }",
                        "invalid schema: There can be only one type named \"Query\". (line 2, "
                        "column 1)");
    expect_schema_error("type Query { a: Int a: String }",
                        "invalid schema: Field \"Query.a\" can only be defined once. (line 1, "
                        "column 21)");
    expect_schema_error("extend type Nope { a: Int }",
                        "invalid schema: Cannot extend type \"Nope\" because it is not defined. "
                        "(line 1, column 1)");
    expect_schema_error("input I { a: Int } type Query { a: I }",
                        "invalid schema: The type of Query.a must be Output Type but got: I. "
                        "(line 1, column 33)");
    expect_schema_error("type T { a: Int } type Query { a(x: T): Int }",
                        "invalid schema: The type of Query.a(x:) must be Input Type but got: T. "
                        "(line 1, column 34)");
    expect_schema_error("type Query { a: Int",
                        "could not parse schema: Syntax Error: Expected Name, found <EOF>. (line "
                        "1, column 20)");
    expect_schema_error("{ a }", "invalid schema: a schema document must not contain operations "
                                 "or fragments (line 1, column 1)");
}

Test(schema, print_round_trip)
{
    const char *sdl = "\"\"\"The cart's item\"\"\"\n"
                      "type CartItem {\n"
                      "  productId: ID!\n"
                      "\n"
                      "  \"\"\"How many\"\"\"\n"
                      "  quantity: Float! @deprecated(reason: \"use count\")\n"
                      "  count(round: Boolean = false, mode: Mode = UP): Int @deprecated\n"
                      "}\n"
                      "enum Mode { UP DOWN }\n"
                      "input In { a: String = \"x\" b: [Int!]! }\n"
                      "union U = CartItem\n"
                      "scalar Date @specifiedBy(url: \"https://tools.ietf.org/html/rfc3339\")\n"
                      "directive @entity(authorize: [String] = [\"all\"]) repeatable on OBJECT | "
                      "INPUT_OBJECT\n"
                      "type Query @entity { item(in: In): CartItem }\n";
    rj_error_t err;
    rj_gql_schema_t *s = rj_gql_schema_from_sdl(sdl, strlen(sdl), &err);
    cr_assert_not_null(s, "%s", err.msg);
    char *out = rj_gql_schema_print(s);
    cr_expect_str_eq(out,
                     "directive @entity(authorize: [String] = [\"all\"]) repeatable on OBJECT | "
                     "INPUT_OBJECT\n"
                     "\n"
                     "\"\"\"The cart's item\"\"\"\n"
                     "type CartItem {\n"
                     "  productId: ID!\n"
                     "\n"
                     "  \"\"\"How many\"\"\"\n"
                     "  quantity: Float! @deprecated(reason: \"use count\")\n"
                     "  count(round: Boolean = false, mode: Mode = UP): Int @deprecated\n"
                     "}\n"
                     "\n"
                     "enum Mode {\n"
                     "  UP\n"
                     "  DOWN\n"
                     "}\n"
                     "\n"
                     "input In {\n"
                     "  a: String = \"x\"\n"
                     "  b: [Int!]!\n"
                     "}\n"
                     "\n"
                     "union U = CartItem\n"
                     "\n"
                     "scalar Date @specifiedBy(url: \"https://tools.ietf.org/html/rfc3339\")\n"
                     "\n"
                     "type Query {\n"
                     "  item(in: In): CartItem\n"
                     "}");
    /* what we print builds the same schema again */
    rj_gql_schema_t *again = rj_gql_schema_from_sdl(out, strlen(out), &err);
    cr_assert_not_null(again, "%s", err.msg);
    char *out2 = rj_gql_schema_print(again);
    cr_expect_str_eq(out2, out);
    free(out2);
    free(out);
    rj_gql_schema_free(again);
    rj_gql_schema_free(s);
}

Test(schema, print_schema_block_and_multiline_description)
{
    const char *sdl = "schema { query: Root }\n"
                      "\"\"\"\nFirst line\n  indented\n\"\"\"\n"
                      "type Root { a(\"the x\" x: Int): Int }\n";
    rj_error_t err;
    rj_gql_schema_t *s = rj_gql_schema_from_sdl(sdl, strlen(sdl), &err);
    cr_assert_not_null(s, "%s", err.msg);
    char *out = rj_gql_schema_print(s);
    cr_expect_str_eq(out, "schema {\n"
                          "  query: Root\n"
                          "}\n"
                          "\n"
                          "\"\"\"\nFirst line\n  indented\n\"\"\"\n"
                          "type Root {\n"
                          "  a(\n"
                          "    \"\"\"the x\"\"\"\n"
                          "    x: Int\n"
                          "  ): Int\n"
                          "}");
    free(out);
    rj_gql_schema_free(s);
}
