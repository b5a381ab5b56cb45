/*
 * test_api_sdl.c - the read side of the generated API (booster-surface.md §3-§5, §7) for
 * examples/shop: plural, List and subscription fields with Booster's names and types, the
 * filter and sort inputs, and the events API, checked both as printed SDL and through the
 * schema the engine parsed from it.
 *
 * Needs RAMJET_BUILD_DIR (set by CTest) to find lib/libshop.so.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/core.h"
#include "graphql/graphql.h"

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
    cr_assert_not_null(shop, "%s", err.msg);
    free(path);
}

static void
free_shop(void)
{
    rj_app_free(shop);
    shop = NULL;
}

TestSuite(api, .init = load_shop, .fini = free_shop);

static void
expect_in_sdl(const char *text)
{
    const char *sdl = rj_app_api_sdl(shop);
    cr_expect(strstr(sdl, text) != NULL, "missing:\n%s\nin:\n%s", text, sdl);
}

/* The argument and result types of a root field, printed "(a: T, b: U): R". */
static char *
signature(rj_gql_op_type_t op, const char *field)
{
    const rj_gql_type_t *root = rj_gql_schema_root_type(rj_app_api_schema(shop), op);
    cr_assert_not_null(root);
    const rj_gql_field_def_t *f = rj_gql_type_find_field(root, field);
    cr_assert_not_null(f, "no root field %s", field);
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_putc(&b, '(');
    for (size_t i = 0; i < f->nargs; i++)
        rj_buf_printf(&b, "%s%s: %s", i ? ", " : "", f->args[i].name, f->args[i].type_str);
    rj_buf_printf(&b, "): %s", f->type_str);
    return rj_buf_steal(&b);
}

/* The fields of an input type, printed "a: T, b: U". */
static char *
input_fields(const char *type)
{
    const rj_gql_type_t *t = rj_gql_schema_find_type(rj_app_api_schema(shop), type);
    cr_assert_not_null(t, "no type %s", type);
    cr_assert_eq(t->kind, RJ_GQL_KIND_INPUT_OBJECT, "%s is not an input", type);
    rj_buf_t b;
    rj_buf_init(&b);
    for (size_t i = 0; i < t->ninput_fields; i++)
        rj_buf_printf(&b, "%s%s: %s", i ? ", " : "", t->input_fields[i].name,
                      t->input_fields[i].type_str);
    return rj_buf_steal(&b);
}

static void
expect_signature(rj_gql_op_type_t op, const char *field, const char *want)
{
    char *got = signature(op, field);
    cr_expect_str_eq(got, want, "%s", field);
    free(got);
}

static void
expect_input(const char *type, const char *want)
{
    char *got = input_fields(type);
    cr_expect_str_eq(got, want, "%s", type);
    free(got);
}

Test(api, list_and_plural_queries)
{
    expect_signature(RJ_GQL_OP_QUERY, "ListCartReadModels",
                     "(filter: ListCartReadModelFilter, limit: Int, sortBy: CartReadModelSortBy, "
                     "afterCursor: JSON): CartReadModelConnection!");
    expect_signature(RJ_GQL_OP_QUERY, "CartReadModels",
                     "(filter: CartReadModelFilter): [CartReadModel!]!");
    expect_signature(RJ_GQL_OP_QUERY, "ListPriceHistoryReadModels",
                     "(filter: ListPriceHistoryReadModelFilter, limit: Int, sortBy: "
                     "PriceHistoryReadModelSortBy, afterCursor: JSON): "
                     "PriceHistoryReadModelConnection!");
    expect_signature(RJ_GQL_OP_SUBSCRIPTION, "CartReadModels",
                     "(filter: CartReadModelSubscriptionFilter): CartReadModel");
    expect_signature(RJ_GQL_OP_SUBSCRIPTION, "CartReadModel", "(id: ID!): CartReadModel");

    const rj_gql_type_t *query = rj_gql_schema_root_type(rj_app_api_schema(shop), RJ_GQL_OP_QUERY);
    const rj_gql_field_def_t *plural = rj_gql_type_find_field(query, "ProductReadModels");
    cr_assert_not_null(plural);
    cr_expect(plural->deprecated);
    cr_expect_str_eq(plural->deprecation_reason, "Method is deprecated. Use List* methods");
    cr_expect_not(rj_gql_type_find_field(query, "ListProductReadModels")->deprecated);

    expect_in_sdl("type CartReadModelConnection {\n  items: [CartReadModel!]!\n  count: Int!\n"
                  "  cursor: JSON\n}\n");
}

Test(api, filter_inputs)
{
    /* No top-level isDefined on the List filter; the calculated cartItemsSize is absent. */
    expect_input("ListCartReadModelFilter",
                 "id: UUIDPropertyFilter, cartItems: CartItemArrayPropertyFilter, "
                 "shippingAddress: AddressPropertyFilter, payment: PaymentPropertyFilter, "
                 "cartItemsIds: StringArrayPropertyFilter, and: [ListCartReadModelFilter], "
                 "or: [ListCartReadModelFilter], not: ListCartReadModelFilter");
    expect_input("CartReadModelFilter",
                 "id: UUIDPropertyFilter, cartItems: CartItemArrayPropertyFilter, "
                 "shippingAddress: AddressPropertyFilter, payment: PaymentPropertyFilter, "
                 "cartItemsIds: StringArrayPropertyFilter, and: [CartReadModelFilter], "
                 "or: [CartReadModelFilter], not: CartReadModelFilter, isDefined: Boolean");
    expect_input("CartReadModelSubscriptionFilter",
                 "id: UUIDPropertyFilter, cartItems: CartItemArrayPropertyFilter, "
                 "shippingAddress: AddressPropertyFilter, payment: PaymentPropertyFilter, "
                 "cartItemsIds: StringArrayPropertyFilter, and: [CartReadModelSubscriptionFilter], "
                 "or: [CartReadModelSubscriptionFilter], not: CartReadModelSubscriptionFilter, "
                 "isDefined: Boolean");
    expect_input("StringPropertyFilter",
                 "eq: String, ne: String, lte: String, lt: String, gte: String, gt: String, "
                 "in: [String], beginsWith: String, contains: String, regex: String, "
                 "iRegex: String, isDefined: Boolean");
    expect_input("NumberPropertyFilter", "eq: Float, ne: Float, lte: Float, lt: Float, gte: "
                                         "Float, gt: Float, in: [Float], isDefined: Boolean");
    expect_input("BooleanPropertyFilter", "eq: Boolean, ne: Boolean, isDefined: Boolean");
    expect_input("UUIDPropertyFilter", "eq: ID, ne: ID, in: [ID], beginsWith: String, "
                                       "contains: String, isDefined: Boolean");
    expect_input("StringArrayPropertyFilter", "includes: String, isDefined: Boolean");
    expect_input("CartItemArrayPropertyFilter", "includes: JSON, isDefined: Boolean");
    expect_input("PackArrayPropertyFilter", "includes: JSON, isDefined: Boolean");
    /* Class filters recurse, with the combinators inside. */
    expect_input("MoneyPropertyFilter",
                 "cents: NumberPropertyFilter, currency: StringPropertyFilter, "
                 "and: [MoneyPropertyFilter], or: [MoneyPropertyFilter], "
                 "not: MoneyPropertyFilter, isDefined: Boolean");
    expect_input("ListProductReadModelFilter",
                 "id: UUIDPropertyFilter, sku: StringPropertyFilter, displayName: "
                 "StringPropertyFilter, description: StringPropertyFilter, price: "
                 "MoneyPropertyFilter, featured: BooleanPropertyFilter, packs: "
                 "PackArrayPropertyFilter, and: [ListProductReadModelFilter], or: "
                 "[ListProductReadModelFilter], not: ListProductReadModelFilter");
    /* Shared types are printed once. */
    const char *sdl = rj_app_api_sdl(shop);
    const char *first = strstr(sdl, "input StringPropertyFilter {");
    cr_assert_not_null(first);
    cr_expect_null(strstr(first + 1, "input StringPropertyFilter {"));
}

Test(api, sort_inputs)
{
    expect_in_sdl("enum orderProperty {\n  ASC\n  DESC\n}\n");
    expect_input("CartReadModelSortBy",
                 "id: orderProperty, cartItems: orderProperty, shippingAddress: "
                 "AddressPropertySortBy, payment: PaymentPropertySortBy, cartItemsIds: "
                 "orderProperty");
    expect_input("ProductReadModelSortBy",
                 "id: orderProperty, sku: orderProperty, displayName: orderProperty, "
                 "description: orderProperty, price: MoneyPropertySortBy, featured: "
                 "orderProperty, packs: orderProperty");
    expect_input("MoneyPropertySortBy", "cents: orderProperty, currency: orderProperty");
}

Test(api, events_api)
{
    expect_signature(RJ_GQL_OP_QUERY, "eventsByEntity",
                     "(entity: EntityType!, entityID: ID, from: String, to: String, limit: "
                     "Int): [EventQueryResponse]");
    expect_signature(RJ_GQL_OP_QUERY, "eventsByType",
                     "(type: EventType!, from: String, to: String, limit: Int): "
                     "[EventQueryResponse]");
    /* Every entity and every reduced event, in declaration order, then Booster's internal
     * data-migration names (the shop grows, so the lists come from the model). */
    rj_buf_t want;
    rj_buf_init(&want);
    rj_buf_puts(&want, "enum EntityType {\n");
    for (size_t i = 0; i < rj_app_entity_count(shop); i++)
        rj_buf_printf(&want, "  %s\n", rj_app_entity_at(shop, i)->name);
    rj_buf_puts(&want, "  BoosterDataMigrationEntity\n}\n");
    expect_in_sdl(want.data);
    rj_buf_reset(&want);
    rj_buf_puts(&want, "enum EventType {\n");
    for (size_t i = 0; i < rj_app_event_count(shop); i++)
        rj_buf_printf(&want, "  %s\n", rj_app_event_at(shop, i)->name);
    rj_buf_puts(&want, "  BoosterDataMigrationStarted\n  BoosterDataMigrationFinished\n}\n");
    expect_in_sdl(want.data);
    rj_buf_deinit(&want);
    const rj_gql_type_t *et = rj_gql_schema_find_type(rj_app_api_schema(shop), "EntityType");
    cr_assert_not_null(et);
    cr_expect_not_null(rj_gql_type_find_enum_value(et, "Cart"));
    cr_expect_not_null(rj_gql_type_find_enum_value(et, "Customer"));
    const rj_gql_type_t *evt = rj_gql_schema_find_type(rj_app_api_schema(shop), "EventType");
    cr_assert_not_null(evt);
    cr_expect_not_null(rj_gql_type_find_enum_value(evt, "CartItemChanged"));
    cr_expect_not_null(rj_gql_type_find_enum_value(evt, "BoosterDataMigrationFinished"));
    expect_in_sdl("type EventQueryResponse {\n  type: String!\n  entity: String!\n"
                  "  entityID: ID!\n  requestID: ID!\n  user: User\n  createdAt: String!\n"
                  "  value: JSON!\n  deletedAt: String\n}\n");
    expect_in_sdl("type User {\n  id: String\n  username: String!\n  roles: [String!]\n}\n");
}

Test(api, printed_schema_round_trips)
{
    /* What the engine prints back parses again into a schema with the same List field: the
     * generated SDL is valid GraphQL, not merely accepted by a lenient parser. */
    char *printed = rj_gql_schema_print(rj_app_api_schema(shop));
    rj_error_t err;
    rj_error_clear(&err);
    rj_gql_schema_t *again = rj_gql_schema_from_sdl(printed, strlen(printed), &err);
    cr_assert_not_null(again, "%s", err.msg);
    const rj_gql_type_t *q = rj_gql_schema_root_type(again, RJ_GQL_OP_QUERY);
    cr_expect_not_null(rj_gql_type_find_field(q, "ListCartReadModels"));
    rj_gql_schema_free(again);
    free(printed);
}

Test(api, list_query_validates)
{
    /* A client's List query with nested filters, sort and cursor passes validation. */
    static const char q[] =
        "query { ListCartReadModels(filter: {and: [{id: {beginsWith: \"c\"}}, "
        "{shippingAddress: {firstName: {eq: \"A\"}, or: [{country: {in: [\"ES\"]}}]}}], "
        "cartItems: {includes: {productId: \"p\"}}, not: {cartItemsIds: {isDefined: false}}}, "
        "limit: 5, sortBy: {shippingAddress: {lastName: DESC}, id: ASC}, afterCursor: {id: "
        "\"5\"}) { items { id cartItemsSize } count cursor } "
        "eventsByEntity(entity: Cart, entityID: \"c1\", from: \"2021\", limit: 3) "
        "{ type entity entityID requestID createdAt value user { id username roles } } }";
    json_t *perr = NULL;
    rj_gql_doc_t *doc = rj_gql_parse(q, strlen(q), NULL, &perr);
    cr_assert_not_null(doc);
    json_t *errors = rj_gql_validate(rj_app_api_schema(shop), doc);
    char *text = errors ? json_dumps(errors, 0) : NULL;
    cr_expect_null(errors, "%s", text ? text : "");
    free(text);
    json_decref(errors);
    /* A filter on the calculated field is rejected. */
    static const char bad[] =
        "query { ListCartReadModels(filter: {cartItemsSize: {eq: 1}}) { count } }";
    rj_gql_doc_t *bad_doc = rj_gql_parse(bad, strlen(bad), NULL, &perr);
    cr_assert_not_null(bad_doc);
    errors = rj_gql_validate(rj_app_api_schema(shop), bad_doc);
    cr_expect_not_null(errors);
    json_decref(errors);
    rj_gql_doc_free(bad_doc);
    rj_gql_doc_free(doc);
}

/* ---- the API as a federation v1 subgraph ---- */

/* Replaces the first @p from in @p s (a heap string) by @p to; fails the test without one. */
static char *
replace_once(char *s, const char *from, const char *to)
{
    char *at = strstr(s, from);
    cr_assert_not_null(at, "missing %s", from);
    char *out = rj_xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    free(s);
    return out;
}

Test(api, subgraph_sdl_is_the_api_with_keys_and_extended_roots)
{
    /* Built by hand from the plain API, so that any other difference fails: read models
     * gain their @key, the roots are extended, and print() leaves no final new line. */
    char *want = rj_xstrdup(rj_app_api_sdl(shop));
    for (size_t i = 0; i < rj_app_read_model_count(shop); i++) {
        const rj_app_read_model_t *rm = rj_app_read_model_at(shop, i);
        char *from = rj_xasprintf("\ntype %s {\n", rm->name);
        char *to =
            rm->sequenced_by != NULL
                ? rj_xasprintf("\ntype %s @key(fields: \"id %s\") {\n", rm->name, rm->sequenced_by)
                : rj_xasprintf("\ntype %s @key(fields: \"id\") {\n", rm->name);
        want = replace_once(want, from, to);
        free(from);
        free(to);
    }
    want = replace_once(want, "\ntype Query {\n", "\nextend type Query {\n");
    want = replace_once(want, "\ntype Mutation {\n", "\nextend type Mutation {\n");
    want = replace_once(want, "\ntype Subscription {\n", "\nextend type Subscription {\n");
    want[strlen(want) - 1] = '\0';
    cr_expect_str_eq(rj_app_subgraph_sdl(shop), want);
    free(want);

    const char *sdl = rj_app_subgraph_sdl(shop);
    cr_expect(strstr(sdl, "type PriceHistoryReadModel @key(fields: \"id priceChangedAt\") {") !=
              NULL);
    static const char *const internals[] = {"_service", "_entities", "_Any",
                                            "_Entity",  "_Service",  "_FieldSet"};
    for (size_t i = 0; i < sizeof internals / sizeof internals[0]; i++) {
        cr_expect_null(strstr(sdl, internals[i]), "the subgraph SDL mentions %s", internals[i]);
        /* `ramjet schema print` shows the API clients use, without federation. */
        cr_expect_null(strstr(rj_app_api_sdl(shop), internals[i]));
    }
    cr_expect_null(strstr(rj_app_api_sdl(shop), "@key"));
}

Test(api, served_schema_has_the_subgraph_fields)
{
    const char *sdl = rj_app_served_sdl(shop);
    rj_error_t err;
    rj_error_clear(&err);
    rj_gql_schema_t *s = rj_gql_schema_from_sdl(sdl, strlen(sdl), &err);
    cr_assert_not_null(s, "%s", err.msg);

    const rj_gql_type_t *q = rj_gql_schema_root_type(s, RJ_GQL_OP_QUERY);
    const rj_gql_field_def_t *ent = rj_gql_type_find_field(q, "_entities");
    cr_assert_not_null(ent);
    cr_expect_str_eq(ent->type_str, "[_Entity]!");
    cr_assert_eq(ent->nargs, 1);
    cr_expect_str_eq(ent->args[0].name, "representations");
    cr_expect_str_eq(ent->args[0].type_str, "[_Any!]!");
    const rj_gql_field_def_t *svc = rj_gql_type_find_field(q, "_service");
    cr_assert_not_null(svc);
    cr_expect_str_eq(svc->type_str, "_Service!");
    cr_expect_not_null(rj_gql_type_find_field(q, "ListCartReadModels"));
    cr_expect_not_null(rj_gql_schema_find_directive(s, "key"));

    /* _Entity: every read model, sorted by name as @apollo/subgraph sorts them. */
    const rj_gql_type_t *u = rj_gql_schema_find_type(s, "_Entity");
    cr_assert_not_null(u);
    cr_assert_eq(u->npossible_types, rj_app_read_model_count(shop));
    for (size_t i = 1; i < u->npossible_types; i++)
        cr_expect_lt(strcmp(u->possible_types[i - 1]->name, u->possible_types[i]->name), 0);
    for (size_t i = 0; i < rj_app_read_model_count(shop); i++)
        cr_expect(rj_gql_type_is_possible(
            u, rj_gql_schema_find_type(s, rj_app_read_model_at(shop, i)->name)));
    rj_gql_schema_free(s);
}
