/*
 * test_app.c - a minimal application for the pusher's protocol tests: read models only,
 * one open to all (with before hooks), one restricted to a role, one with a custom
 * authorizer, one sequenced. Loaded with rj_app_load like any application; no command
 * handlers, because the pusher never runs any.
 *
 * It trusts tokens of issuer "ptest" signed by the PEM public key in the environment
 * variable PUSHER_TEST_PUBLIC_KEY, when the test sets it before loading.
 */
#include <stdlib.h>
#include <string.h>

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
    "type ClaimReadModel @readModel(authorize: CUSTOM) { id: ID!  secret: String }\n"
    "type PriceHistoryReadModel @readModel(authorize: ALL) {\n"
    "  id: ID!\n"
    "  at: String @sequencedBy\n"
    "  priceCents: Float\n"
    "}\n";

/* ClaimReadModel: readable with the claim special: true, and only for id "mine". */
static rj_status_t
authorize_claim(const json_t *user, const json_t *request, rj_error_t *err)
{
    json_t *eq = json_object_get(json_object_get(json_object_get(request, "filters"), "id"), "eq");
    if (json_is_true(json_object_get(json_object_get(user, "claims"), "special")) &&
        json_is_string(eq) && strcmp(json_string_value(eq), "mine") == 0)
        return RJ_OK;
    return rj_error_set(err, RJ_EAUTH, "Only special users may read their own claim");
}

/* CartReadModel: an id starting with "throw-" fails; "fn-<x>" is rewritten to "<x>-mod";
   "wide-" turns the filter into one the pusher cannot follow. */
static rj_status_t
cart_hook(const json_t *request, const json_t *user, json_t **out, rj_error_t *err)
{
    const char *id = json_string_value(
        json_object_get(json_object_get(json_object_get(request, "filters"), "id"), "eq"));
    if (id != NULL && strncmp(id, "throw-", 6) == 0)
        return rj_error_set(err, RJ_EHANDLER, "Before hook throwing exception");
    if (id != NULL && strncmp(id, "fn-", 3) == 0) {
        size_t n = strlen(id + 3);
        char buf[128];
        if (n > sizeof buf - 5)
            n = sizeof buf - 5;
        memcpy(buf, id + 3, n);
        memcpy(buf + n, "-mod", 5);
        *out = json_pack("{s:{s:{s:s}}}", "filters", "id", "eq", buf);
        return RJ_OK;
    }
    if (id != NULL && strncmp(id, "wide-", 5) == 0) {
        *out = json_pack("{s:{s:{s:s}}}", "filters", "note", "eq", "x");
        return RJ_OK;
    }
    *out = json_deep_copy(request);
    return RJ_OK;
}

RJ_APP_DEFINE(app)
{
    rj_app_name(app, "ptest");
    rj_app_schema_string(app, sdl);
    rj_app_authorize_read_model(app, "ClaimReadModel", authorize_claim);
    rj_app_before_read_model(app, "CartReadModel", cart_hook);
    const char *pem = getenv("PUSHER_TEST_PUBLIC_KEY");
    if (pem != NULL && pem[0] != '\0')
        rj_app_token_verifier_public_key(app, "ptest", pem, "roles");
}
