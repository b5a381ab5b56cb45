/*
 * fixtures.h - subgraph SDL shared by the federation unit tests: the classic Apollo demo
 * (accounts, products, inventory, reviews), written as @apollo/subgraph prints it.
 */
#ifndef RJ_FED_FIXTURES_H
#define RJ_FED_FIXTURES_H

#include "federation/federation.h"

static const char accounts_sdl[] =
    "extend type Query { me: User  users: [User] }\n"
    "\"A person\"\n"
    "type User @key(fields: \"id\") {\n"
    "  id: ID!\n"
    "  name: String\n"
    "  username: String\n"
    "  birthDate(locale: String = \"en\"): String @deprecated(reason: \"private\")\n"
    "}\n";

static const char products_sdl[] =
    "extend type Query { topProducts(first: Int = 5): [Product] }\n"
    "type Product @key(fields: \"upc\") { upc: String!  name: String  price: Int  weight: Int }\n";

static const char inventory_sdl[] = "extend type Product @key(fields: \"upc\") {\n"
                                    "  upc: String! @external\n"
                                    "  weight: Int @external\n"
                                    "  price: Int @external\n"
                                    "  inStock: Boolean\n"
                                    "  shippingEstimate: Int @requires(fields: \"price weight\")\n"
                                    "}\n";

static const char reviews_sdl[] =
    "type Review @key(fields: \"id\") {\n"
    "  id: ID!\n"
    "  body: String\n"
    "  author: User @provides(fields: \"username\")\n"
    "  product: Product\n"
    "}\n"
    "extend type User @key(fields: \"id\") {\n"
    "  id: ID! @external\n"
    "  username: String @external\n"
    "  reviews: [Review]\n"
    "}\n"
    "extend type Product @key(fields: \"upc\") { upc: String! @external  reviews: [Review] }\n";

#define DEMO_SERVICES                                                                              \
    {                                                                                              \
        {"accounts", accounts_sdl, sizeof accounts_sdl - 1},                                       \
            {"products", products_sdl, sizeof products_sdl - 1},                                   \
            {"inventory", inventory_sdl, sizeof inventory_sdl - 1},                                \
            {"reviews", reviews_sdl, sizeof reviews_sdl - 1},                                      \
    }

#endif
