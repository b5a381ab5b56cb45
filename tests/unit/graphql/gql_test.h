/*
 * gql_test.h - helpers shared by the GraphQL engine's unit tests: the shop-cart schema
 * and assertions on JSON values by their compact serialisation.
 */
#ifndef RJ_GQL_TEST_H
#define RJ_GQL_TEST_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "graphql/graphql.h"

static const char shop_sdl[] =
    "scalar JSON\n"
    "\"An item in a cart\"\n"
    "type CartItem { productId: ID!  quantity: Float! }\n"
    "type CartReadModel @readModel(authorize: ALL) {\n"
    "  id: ID!\n"
    "  cartItems: [CartItem!]!\n"
    "  cartItemsSize: Float @calculated(dependsOn: [\"cartItems\"])\n"
    "  note: String\n"
    "  count: Int\n"
    "  old: String @deprecated(reason: \"use note\")\n"
    "}\n"
    "input ChangeCartItemInput { cartId: ID!  productId: ID!  quantity: Float! }\n"
    "enum Status { OPEN CLOSED }\n"
    "interface Node { id: ID! }\n"
    "type Product implements Node { id: ID! name: String }\n"
    "type Shipment implements Node { id: ID! carrier: String! }\n"
    "union SearchResult = Product | Shipment\n"
    "type Query {\n"
    "  CartReadModel(id: ID!): CartReadModel\n"
    "  CartReadModels(limit: Int = 10, status: Status): [CartReadModel]\n"
    "  node(id: ID!): Node\n"
    "  search(text: String!): [SearchResult!]\n"
    "  requiredCart(id: ID!): CartReadModel!\n"
    "  echo(value: JSON, list: [Int!], flag: Boolean): JSON\n"
    "}\n"
    "type Mutation { ChangeCartItem(input: ChangeCartItemInput!): JSON! }\n"
    "type Subscription { CartReadModel(id: ID!): CartReadModel  other: String }\n";

static inline rj_gql_schema_t *
shop_schema(void)
{
    rj_error_t err;
    rj_error_clear(&err);
    rj_gql_schema_t *s = rj_gql_schema_from_sdl(shop_sdl, strlen(shop_sdl), &err);
    cr_assert_not_null(s, "schema: %s", err.msg);
    return s;
}

static inline rj_gql_doc_t *
parse_ok(const char *q)
{
    json_t *e = NULL;
    rj_gql_doc_t *d = rj_gql_parse(q, strlen(q), NULL, &e);
    if (d == NULL) {
        char *s = json_dumps(e, JSON_COMPACT);
        cr_assert_fail("parse failed: %s", s);
    }
    return d;
}

/* Asserts the compact JSON of @p v equals @p expected, then drops @p v. */
#define assert_json_take(v, expected)                                                             \
    do {                                                                                           \
        json_t *v_ = (v);                                                                          \
        char *s_ = json_dumps(v_, JSON_COMPACT | JSON_ENCODE_ANY);                                 \
        cr_expect_str_eq(s_, expected);                                                            \
        free(s_);                                                                                  \
        json_decref(v_);                                                                           \
    } while (0)

#endif
