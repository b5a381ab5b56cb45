/*
 * fuzz_validate.c - libFuzzer target for validation and execution against a fixed,
 * shop-like schema: Booster's read-model queries, filters and connections, commands as
 * mutations, subscriptions, plus an interface, a union and custom scalars so that every
 * validation rule has something to check.
 *
 * Each input is parsed and validated; a valid document is then executed with every root
 * field resolved from a fixed data set, under a few variable sets (none, and ones with
 * values of each JSON type), so variable coercion, @skip/@include, fragments, abstract
 * types and null propagation all run. The invariants checked besides memory safety: a
 * response is always an object, and validation errors and request errors are never empty
 * arrays.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "graphql/graphql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char schema_sdl[] =
    "scalar JSON\n"
    "scalar DateTime\n"
    "directive @tag(name: String!) repeatable on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n"
    "enum orderProperty { ASC DESC }\n"
    "enum Status { OPEN PAID SHIPPED @deprecated(reason: \"gone\") }\n"
    "interface Node { id: ID! }\n"
    "type CartItem { productId: ID! quantity: Float! }\n"
    "type Address { firstName: String! country: String! }\n"
    "type CartReadModel implements Node { id: ID! cartItems: [CartItem!]! shippingAddress: "
    "Address status: Status total: Int createdAt: DateTime extra: JSON }\n"
    "type ProductReadModel implements Node { id: ID! sku: String! price: Float tags: [String] "
    "related: [[ProductReadModel]] }\n"
    "union SearchResult = CartReadModel | ProductReadModel\n"
    "type CartReadModelConnection { items: [CartReadModel!]! count: Int! cursor: JSON }\n"
    "input UUIDPropertyFilter { eq: ID ne: ID in: [ID] beginsWith: String isDefined: Boolean }\n"
    "input StringPropertyFilter { eq: String ne: String in: [String] contains: String }\n"
    "input CartReadModelFilter { id: UUIDPropertyFilter status: StringPropertyFilter "
    "and: [CartReadModelFilter] or: [CartReadModelFilter] not: CartReadModelFilter }\n"
    "input CartReadModelSortBy { id: orderProperty createdAt: orderProperty }\n"
    "input ChangeCartItemInput { cartId: ID! productId: ID! quantity: Float! = 1 }\n"
    "type Query {\n"
    "  CartReadModel(id: ID!): CartReadModel\n"
    "  CartReadModels(filter: CartReadModelFilter, limit: Int = 10): [CartReadModel]\n"
    "  ListCartReadModels(filter: CartReadModelFilter, limit: Int, afterCursor: JSON, "
    "sortBy: CartReadModelSortBy): CartReadModelConnection!\n"
    "  ProductReadModel(id: ID!): ProductReadModel\n"
    "  node(id: ID!): Node\n"
    "  search(text: String!, status: [Status!]): [SearchResult]\n"
    "  total: Int!\n"
    "}\n"
    "type Mutation { ChangeCartItem(input: ChangeCartItemInput!): JSON! }\n"
    "type Subscription { CartReadModel(id: ID!): CartReadModel "
    "CartReadModels(filter: CartReadModelFilter): CartReadModel }\n";

static const char data_json[] =
    "{\"CartReadModel\": {\"id\": \"c1\", \"cartItems\": [{\"productId\": \"p1\", "
    "\"quantity\": 2}, {\"productId\": null, \"quantity\": 1.5}], \"shippingAddress\": null, "
    "\"status\": \"LOST\", \"total\": 3000000000, \"extra\": {\"a\": [1, null]}},"
    " \"CartReadModels\": [{\"id\": \"c2\", \"cartItems\": []}, null, 7],"
    " \"ListCartReadModels\": {\"items\": [{\"id\": 1, \"cartItems\": [], \"status\": \"PAID\"}],"
    " \"count\": 1, \"cursor\": {\"id\": \"c1\"}},"
    " \"ProductReadModel\": {\"id\": \"p1\", \"sku\": \"S\", \"price\": \"12\", \"tags\": "
    "[\"a\", 1], \"related\": [[{\"id\": \"p2\", \"sku\": null}], null]},"
    " \"node\": {\"__typename\": \"ProductReadModel\", \"id\": \"p1\", \"sku\": \"S\"},"
    " \"search\": [{\"__typename\": \"CartReadModel\", \"id\": \"c1\", \"cartItems\": []}, "
    "{\"id\": \"x\"}, {\"__typename\": \"Nope\"}, {\"__typename\": \"CartItem\"}],"
    " \"total\": null, \"ChangeCartItem\": true}";

static const char *const variable_sets[] = {
    NULL,
    "{\"id\": \"c1\", \"limit\": 2, \"filter\": {\"id\": {\"eq\": \"c1\"}}, \"b\": true}",
    "{\"id\": 5, \"limit\": \"x\", \"filter\": [1], \"b\": \"no\", \"input\": {\"cartId\": "
    "\"c\", \"productId\": \"p\"}, \"s\": [\"OPEN\", null]}",
};

static rj_status_t
resolve(void *ud, const rj_gql_root_field_t *field, json_t **value, rj_error_t *err)
{
    if (strcmp(field->name, "total") == 0 && json_object_size(field->args) > 0)
        return rj_error_set(err, RJ_EINVAL, "could not resolve total");
    json_t *v = json_object_get(ud, field->name);
    *value = v != NULL ? json_incref(v) : NULL;
    return RJ_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static rj_gql_schema_t *schema;
    static json_t *root;
    static json_t *vars[sizeof variable_sets / sizeof variable_sets[0]];
    if (schema == NULL) {
        rj_core_init();
        rj_error_t err = {0};
        schema = rj_gql_schema_from_sdl(schema_sdl, strlen(schema_sdl), &err);
        root = json_loads(data_json, 0, NULL);
        if (schema == NULL || root == NULL)
            abort();
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
            vars[i] = variable_sets[i] != NULL ? json_loads(variable_sets[i], 0, NULL) : NULL;
    }

    rj_gql_doc_t *doc = rj_gql_parse((const char *)data, size, NULL, NULL);
    if (doc == NULL)
        return 0;
    json_t *errors = rj_gql_validate(schema, doc);
    if (errors != NULL) {
        if (!json_is_array(errors) || json_array_size(errors) == 0)
            abort();
        json_decref(errors);
    } else {
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
            json_t *resp = rj_gql_execute_sync(schema, doc, NULL, vars[i], resolve, root);
            if (!json_is_object(resp))
                abort();
            json_t *errs = json_object_get(resp, "errors");
            if (errs != NULL && json_array_size(errs) == 0)
                abort();
            char *text = json_dumps(resp, JSON_COMPACT);
            if (text == NULL)
                abort(); /* every response must serialise */
            free(text);
            json_decref(resp);
        }
    }
    rj_gql_doc_free(doc);
    return 0;
}
