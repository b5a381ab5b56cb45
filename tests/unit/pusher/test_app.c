/*
 * test_app.c - a minimal application for the pusher's protocol tests: read models only,
 * one open to all, one restricted to a role, one sequenced. Loaded with rj_app_load like
 * any application; no handlers, because the pusher never runs any.
 */
#include "ramjet.h"

static const char sdl[] =
    "enum Role @roles { Admin }\n"
    "type CartItem { productId: ID!  quantity: Float! }\n"
    "type CartReadModel @readModel(authorize: ALL) {\n"
    "  id: ID!\n"
    "  cartItems: [CartItem!]!\n"
    "  note: String\n"
    "}\n"
    "type SecretReadModel @readModel(authorize: [Admin]) { id: ID!  secret: String }\n"
    "type PriceHistoryReadModel @readModel(authorize: ALL) {\n"
    "  id: ID!\n"
    "  at: String @sequencedBy\n"
    "  priceCents: Float\n"
    "}\n";

RJ_APP_DEFINE(app)
{
    rj_app_name(app, "ptest");
    rj_app_schema_string(app, sdl);
}
