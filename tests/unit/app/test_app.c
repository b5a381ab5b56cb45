/*
 * test_app.c - the application model: loading examples/shop, its model and bindings,
 * running its command (with both before hooks), reducers and projections, the
 * generated API, and the ways loading and declaring can fail.
 *
 * Needs RAMJET_BUILD_DIR (set by CTest) to find lib/libshop.so and tests/lib.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "app/app_int.h"
#include "auth/auth.h"
#include "core/core.h"
#include "graphql/graphql.h"
#include "log/log.h"

static rj_app_t *shop;

static char *
build_path(const char *rel)
{
    const char *dir = getenv("RAMJET_BUILD_DIR");
    cr_assert_not_null(dir, "set RAMJET_BUILD_DIR to the build directory");
    return rj_xasprintf("%s/%s", dir, rel);
}

static void
load_shop(void)
{
    char *path = build_path("lib/libshop.so");
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

TestSuite(shop, .init = load_shop, .fini = free_shop);

/* ---- the model ---- */

Test(shop, name_and_roles)
{
    cr_expect_str_eq(rj_app_name_get(shop), "shop");
    cr_expect_eq(rj_app_role_count(shop), 3);
    cr_expect(rj_app_role_exists(shop, "Admin"));
    cr_expect(rj_app_role_exists(shop, "UserWithEmail"));
    cr_expect(rj_app_role_exists(shop, "UserWithPhone"));
    cr_expect_not(rj_app_role_exists(shop, "User"));
}

Test(shop, commands)
{
    const rj_app_command_t *c = rj_app_command(shop, "ChangeCartItem");
    cr_assert_not_null(c);
    cr_expect_eq(c->n_fields, 3);
    cr_expect_str_eq(c->fields[0].name, "cartId");
    cr_expect_str_eq(c->fields[0].type, "ID!");
    cr_expect_str_eq(c->fields[2].type, "Float!");
    cr_assert_not_null(c->entity);
    cr_expect_str_eq(c->entity->name, "Cart");
    cr_expect_str_eq(c->key, "cartId");
    cr_expect_eq(c->authorize.kind, RJ_APP_AUTH_ALL);
    cr_expect_str_eq(c->returns, "JSON!");
    cr_expect_not_null(c->handler);
    cr_expect_eq(c->n_hooks, 2);

    const rj_app_command_t *empty = rj_app_command(shop, "EmptyCommand");
    cr_assert_not_null(empty);
    cr_expect_eq(empty->n_fields, 0);
    cr_expect_null(empty->entity);
    cr_expect_null(empty->key);
    cr_expect_str_eq(empty->returns, "String!");

    const rj_app_command_t *ship = rj_app_command(shop, "UpdateShippingAddress");
    cr_assert_not_null(ship);
    cr_expect_str_eq(ship->fields[1].named_type, "Address");
    cr_expect(ship->fields[1].non_null);
    cr_expect_not(ship->fields[1].list);

    cr_expect_null(rj_app_command(shop, "NoSuchCommand"));
    cr_expect_eq(rj_app_command_count(shop), 13);
    cr_expect_str_eq(rj_app_command_at(shop, 0)->name, "ChangeCartItem");
    cr_expect_null(rj_app_command_at(shop, 13));

    const rj_app_command_t *create = rj_app_command(shop, "CreateProduct");
    cr_assert_not_null(create);
    cr_expect_eq(create->authorize.kind, RJ_APP_AUTH_ROLES);
    cr_assert_eq(create->authorize.n_roles, 2);
    cr_expect_str_eq(create->authorize.roles[0], "Admin");
    cr_expect_str_eq(create->authorize.roles[1], "UserWithEmail");
    cr_expect_null(create->entity);
}

Test(shop, events_and_entities)
{
    const rj_app_event_t *ev = rj_app_event(shop, "CartItemChanged");
    cr_assert_not_null(ev);
    cr_expect_str_eq(ev->entity->name, "Cart");
    cr_expect_str_eq(ev->key, "cartId");
    cr_expect_eq(rj_app_event_count(shop), 10);
    cr_expect_eq(rj_app_entity_count(shop), 6);
    const rj_app_entity_t *order = rj_app_entity(shop, "Order");
    cr_assert_not_null(order);
    cr_expect_eq(order->authorize_read_events.kind, RJ_APP_AUTH_ROLES);
    cr_expect_not_null(rj_app_entity_reducer(order, "OrderPlaced"));
    cr_expect_eq(rj_app_entity(shop, "Pack")->authorize_read_events.kind, RJ_APP_AUTH_NOBODY);

    const rj_app_entity_t *cart = rj_app_entity(shop, "Cart");
    cr_assert_not_null(cart);
    cr_expect_eq(cart->authorize_read_events.kind, RJ_APP_AUTH_ALL);
    cr_expect_eq(cart->n_reducers, 2);
    cr_expect_not_null(rj_app_entity_reducer(cart, "CartItemChanged"));
    cr_expect_not_null(rj_app_entity_reducer(cart, "ShippingAddressUpdated"));
    cr_expect_null(rj_app_entity_reducer(cart, "CartPaid"));
    cr_assert_eq(cart->n_projections, 1);
    cr_expect_str_eq(cart->projections[0]->read_model->name, "CartReadModel");
    cr_expect_str_eq(cart->projections[0]->join_field, "id");

    const rj_app_entity_t *payment = rj_app_entity(shop, "Payment");
    cr_assert_not_null(payment);
    cr_expect_eq(payment->authorize_read_events.kind, RJ_APP_AUTH_ROLES);
    cr_assert_eq(payment->authorize_read_events.n_roles, 1);
    cr_expect_str_eq(payment->authorize_read_events.roles[0], "UserWithPhone");
    cr_assert_eq(payment->n_projections, 1);
    cr_expect_str_eq(payment->projections[0]->join_field, "cartId");
}

Test(shop, read_model)
{
    const rj_app_read_model_t *rm = rj_app_read_model(shop, "CartReadModel");
    cr_assert_not_null(rm);
    cr_expect_eq(rm->authorize.kind, RJ_APP_AUTH_ALL);
    cr_expect_null(rm->sequenced_by);
    cr_assert_eq(rm->n_fields, 6);
    const rj_app_field_t *size = &rm->fields[5];
    cr_expect_str_eq(size->name, "cartItemsSize");
    cr_expect(size->calculated);
    cr_assert_eq(size->n_depends_on, 1);
    cr_expect_str_eq(size->depends_on[0], "cartItems");
    cr_expect_not_null(size->calculate, "shop.c binds cartItemsSize");
    cr_expect_str_eq(rm->fields[1].type, "[CartItem!]!");
    cr_expect(rm->fields[1].list);
    cr_expect_str_eq(rm->fields[4].type, "[String]");
    cr_expect_eq(rm->n_projections, 2);
    cr_expect_eq(rj_app_read_model_count(shop), 5); /* ... Customer-, OrderReadModel */
    cr_expect_str_eq(rj_app_read_model(shop, "PriceHistoryReadModel")->sequenced_by,
                     "priceChangedAt");
    cr_expect_eq(rj_app_read_model_at(shop, 0), rm);
}

Test(shop, value_types_and_verifier)
{
    cr_expect_eq(rj_app_type_count(shop), 3);
    cr_assert_not_null(rj_app_type(shop, "Money"));
    cr_expect(rj_app_type(shop, "Address")->used_in_input);
    cr_expect_not(rj_app_type(shop, "CartItem")->used_in_input);

    cr_assert_eq(rj_app_verifier_count(shop), 1);
    const rj_app_verifier_t *v = rj_app_verifier_at(shop, 0);
    cr_expect_str_eq(v->issuer, "booster");
    cr_expect_str_eq(v->roles_claim, "booster:role");
    cr_expect(strncmp(v->pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
}

Test(shop, authorization)
{
    json_t *admin = json_pack("{s:s, s:[s]}", "id", "a", "roles", "Admin");
    json_t *phone = json_pack("{s:s, s:[s]}", "id", "p", "roles", "UserWithPhone");
    const rj_app_auth_t *all = &rj_app_command(shop, "ChangeCartItem")->authorize;
    const rj_app_auth_t *pay = &rj_app_entity(shop, "Payment")->authorize_read_events;
    cr_expect(rj_app_auth_allows(all, NULL));
    cr_expect_not(rj_app_auth_allows(pay, NULL));
    cr_expect_not(rj_app_auth_allows(pay, admin));
    cr_expect(rj_app_auth_allows(pay, phone));
    rj_app_auth_t nobody = {.kind = RJ_APP_AUTH_NOBODY};
    cr_expect_not(rj_app_auth_allows(&nobody, admin));
    json_decref(admin);
    json_decref(phone);
}

/* ---- running commands ---- */

Test(shop, change_cart_item)
{
    json_t *input = json_pack("{s:s, s:s, s:i}", "cartId", "c1", "productId", "p1", "quantity", 2);
    json_t *result = NULL, *events = NULL;
    rj_error_t err;
    cr_assert_eq(rj_app_run_command(shop, "ChangeCartItem", input, NULL, "req-1", &result, &events,
                                    &err),
                 RJ_OK, "%s", err.msg);
    cr_expect(json_is_true(result));
    cr_assert_eq(json_array_size(events), 1);
    json_t *expected = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:i}}", "type", "CartItemChanged",
                                 "entity", "Cart", "entityId", "c1", "value", "cartId", "c1",
                                 "productId", "p1", "quantity", 2);
    cr_expect(json_equal(json_array_get(events, 0), expected));
    char *key = NULL;
    cr_expect_eq(rj_app_command_key(rj_app_command(shop, "ChangeCartItem"), input, &key, NULL),
                 RJ_OK);
    cr_expect_str_eq(key, "c1");
    free(key);
    cr_expect_eq(input->refcount, 1);
    json_decref(expected);
    json_decref(result);
    json_decref(events);
    json_decref(input);
}

Test(shop, before_hook_throws)
{
    json_t *input = json_pack("{s:s, s:s, s:i}", "cartId", "before-throw-1", "productId", "p1",
                              "quantity", 2);
    json_t *result = NULL, *events = NULL;
    rj_error_t err;
    cr_expect_eq(rj_app_run_command(shop, "ChangeCartItem", input, NULL, "req-2", &result, &events,
                                    &err),
                 RJ_EHANDLER);
    cr_expect_str_eq(err.msg, "Before hook throwing exception");
    cr_expect_null(result);
    cr_expect_null(events);
    cr_expect_eq(input->refcount, 1);
    json_decref(input);
}

Test(shop, before_hooks_change_input_in_order)
{
    json_t *input = json_pack("{s:s, s:s, s:i}", "cartId", "before-change-7", "productId", "p1",
                              "quantity", 2);
    json_t *result = NULL, *events = NULL;
    rj_error_t err;
    cr_assert_eq(rj_app_run_command(shop, "ChangeCartItem", input, NULL, "req-3", &result, &events,
                                    &err),
                 RJ_OK, "%s", err.msg);
    json_t *ev = json_array_get(events, 0);
    cr_expect_str_eq(json_string_value(json_object_get(ev, "entityId")),
                     "before-change-7-modified");
    json_t *value = json_object_get(ev, "value");
    cr_expect_str_eq(json_string_value(json_object_get(value, "cartId")),
                     "before-change-7-modified");
    cr_expect_eq(json_integer_value(json_object_get(value, "quantity")), 21);
    /* The caller's input is untouched. */
    cr_expect_str_eq(json_string_value(json_object_get(input, "cartId")), "before-change-7");
    json_decref(result);
    json_decref(events);
    json_decref(input);
}

Test(shop, empty_command_and_unknown_command)
{
    json_t *result = NULL, *events = NULL;
    rj_error_t err;
    cr_assert_eq(rj_app_run_command(shop, "EmptyCommand", NULL, NULL, "req-4", &result, &events,
                                    &err),
                 RJ_OK, "%s", err.msg);
    cr_expect_str_eq(json_string_value(result), "Empty command executed");
    cr_expect_eq(json_array_size(events), 0);
    json_decref(result);
    json_decref(events);

    cr_expect_eq(rj_app_run_command(shop, "Nope", NULL, NULL, "req-5", &result, &events, &err),
                 RJ_ENOTFOUND);
    cr_expect_str_eq(err.msg, "command Nope is not declared");
}

Test(shop, command_key_missing)
{
    json_t *input = json_pack("{s:s, s:i}", "productId", "p1", "quantity", 1);
    char *key = NULL;
    rj_error_t err;
    cr_expect_eq(rj_app_command_key(rj_app_command(shop, "ChangeCartItem"), input, &key, &err),
                 RJ_ESCHEMA);
    cr_expect_null(key);
    cr_expect_str_eq(err.msg, "command ChangeCartItem: input field cartId must hold the Cart id "
                              "as a non-empty string or a number");
    /* The handler's event has no key either: the command fails with the registration error. */
    json_t *result = NULL, *events = NULL;
    json_object_set_new(input, "cartId", json_integer(42));
    cr_assert_eq(rj_app_run_command(shop, "ChangeCartItem", input, NULL, "r", &result, &events,
                                    &err),
                 RJ_OK, "%s", err.msg);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(events, 0), "entityId")),
                     "42");
    json_decref(result);
    json_decref(events);
    json_decref(input);
}

/* ---- reducers and projections ---- */

static json_t *
fold(json_t *state, const char *type, json_t *event_take)
{
    json_t *out = NULL;
    rj_error_t err;
    cr_assert_eq(rj_app_reduce(shop, "Cart", type, event_take, state, &out, &err), RJ_OK, "%s",
                 err.msg);
    json_decref(event_take);
    json_decref(state);
    return out;
}

Test(shop, cart_reducers_accumulate_in_order)
{
    json_t *cart = NULL;
    cart = fold(cart, "CartItemChanged",
                json_pack("{s:s, s:s, s:i}", "cartId", "c1", "productId", "p1", "quantity", 2));
    cart = fold(cart, "CartItemChanged",
                json_pack("{s:s, s:s, s:i}", "cartId", "c1", "productId", "p2", "quantity", 1));
    cart = fold(cart, "CartItemChanged",
                json_pack("{s:s, s:s, s:i}", "cartId", "c1", "productId", "p1", "quantity", 3));
    cart = fold(cart, "ShippingAddressUpdated",
                json_pack("{s:s, s:{s:s}}", "cartId", "c1", "address", "firstName", "Ada"));
    json_t *expected = json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}], s:{s:s}}", "id", "c1",
                                 "cartItems", "productId", "p1", "quantity", 5, "productId", "p2",
                                 "quantity", 1, "shippingAddress", "firstName", "Ada");
    cr_expect(json_equal(cart, expected), "%s", json_dumps(cart, JSON_COMPACT));
    json_decref(expected);

    json_t *out = NULL;
    rj_error_t err;
    cr_expect_eq(rj_app_reduce(shop, "Cart", "CartPaid", cart, NULL, &out, &err), RJ_ENOTFOUND);
    cr_expect_str_eq(err.msg, "no reducer for event CartPaid on entity Cart");
    json_decref(cart);
}

Test(shop, cart_projection)
{
    const rj_app_projection_t *proj = rj_app_entity(shop, "Cart")->projections[0];
    json_t *cart = json_pack("{s:s, s:[{s:s, s:i}, {s:s, s:i}]}", "id", "c1", "cartItems",
                             "productId", "p1", "quantity", 5, "productId", "p2", "quantity", 1);
    char *id = rj_app_projection_id(proj, cart);
    cr_assert_str_eq(id, "c1");
    json_t *current = json_pack("{s:s, s:{s:s}}", "id", "c1", "payment", "id", "pay1");
    rj_app_project_action_t action;
    json_t *rm = NULL;
    rj_error_t err;
    cr_assert_eq(rj_app_project(proj, cart, id, current, &action, &rm, &err), RJ_OK, "%s", err.msg);
    cr_expect_eq(action, RJ_APP_PROJECT_WRITE);
    json_t *expected = json_pack("{s:s, s:O, s:O, s:[s, s]}", "id", "c1", "cartItems",
                                 json_object_get(cart, "cartItems"), "payment",
                                 json_object_get(current, "payment"), "cartItemsIds", "p1", "p2");
    cr_expect(json_equal(rm, expected), "%s", json_dumps(rm, JSON_COMPACT));
    json_decref(expected);
    json_decref(rm);
    free(id);

    json_t *no_id = json_pack("{s:s}", "id", "");
    cr_expect_null(rj_app_projection_id(proj, no_id));
    json_decref(no_id);
    json_decref(current);
    json_decref(cart);
}

Test(shop, payment_projection_creates_read_model)
{
    const rj_app_projection_t *proj = rj_app_entity(shop, "Payment")->projections[0];
    json_t *payment = json_pack("{s:s, s:s, s:s}", "id", "pay1", "cartId", "c9",
                                "confirmationToken", "tok");
    char *id = rj_app_projection_id(proj, payment);
    cr_assert_str_eq(id, "c9");
    rj_app_project_action_t action;
    json_t *rm = NULL;
    cr_assert_eq(rj_app_project(proj, payment, id, NULL, &action, &rm, NULL), RJ_OK);
    json_t *expected = json_pack("{s:s, s:[], s:O, s:[]}", "id", "c9", "cartItems", "payment",
                                 payment, "cartItemsIds");
    cr_expect(json_equal(rm, expected));
    json_decref(expected);
    json_decref(rm);
    free(id);
    json_decref(payment);
}

Test(shop, products_and_packs)
{
    /* CreateProduct: a new UUID when productID is absent, featured defaults to false. */
    json_t *input = json_pack("{s:s, s:s, s:s, s:i, s:s}", "sku", "S1", "displayName", "Thing",
                              "description", "d", "priceInCents", 1000, "currency", "EUR");
    json_t *result = NULL, *events = NULL;
    rj_error_t err;
    cr_assert_eq(rj_app_run_command(shop, "CreateProduct", input, NULL, "r", &result, &events,
                                    &err),
                 RJ_OK, "%s", err.msg);
    json_t *ev = json_array_get(events, 0);
    const char *pid = json_string_value(json_object_get(ev, "entityId"));
    cr_assert_not_null(pid);
    cr_expect_eq(strlen(pid), 36);
    json_t *value = json_object_get(ev, "value");
    cr_expect(json_is_false(json_object_get(value, "featured")));
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(value, "price"), "cents")),
                 1000);

    /* Reduce it, project it, change its price, delete it. */
    json_t *product = NULL;
    cr_assert_eq(rj_app_reduce(shop, "Product", "ProductCreated", value, NULL, &product, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect(json_is_false(json_object_get(product, "deleted")));
    const rj_app_read_model_t *prm = rj_app_read_model(shop, "ProductReadModel");
    const rj_app_projection_t *by_product = &prm->projections[0];
    const rj_app_projection_t *by_pack = &prm->projections[1];
    cr_expect_not(by_product->join_is_array);
    cr_expect(by_pack->join_is_array);
    rj_app_project_action_t action;
    json_t *rm = NULL;
    cr_assert_eq(rj_app_project(by_product, product, pid, NULL, &action, &rm, &err), RJ_OK);
    cr_expect_eq(action, RJ_APP_PROJECT_WRITE);
    cr_expect_eq(json_array_size(json_object_get(rm, "packs")), 0);

    const rj_app_projection_t *history =
        &rj_app_read_model(shop, "PriceHistoryReadModel")->projections[0];
    json_t *row = NULL;
    cr_assert_eq(rj_app_project(history, product, pid, NULL, &action, &row, &err), RJ_OK);
    cr_expect_eq(action, RJ_APP_PROJECT_NOTHING);
    json_t *change = json_pack("{s:s, s:i, s:s}", "productId", pid, "priceCents", 500,
                               "changedAt", "2026-01-01");
    json_t *changed = NULL;
    cr_assert_eq(rj_app_reduce(shop, "Product", "ProductPriceChanged", change, product, &changed,
                               &err),
                 RJ_OK);
    cr_assert_eq(rj_app_project(history, changed, pid, NULL, &action, &row, &err), RJ_OK);
    cr_expect_eq(action, RJ_APP_PROJECT_WRITE);
    cr_expect_eq(json_integer_value(json_object_get(row, "priceCents")), 500);
    cr_expect_str_eq(json_string_value(json_object_get(row, "priceChangedAt")), "2026-01-01");
    json_decref(row);

    /* A pack naming the product twice and an unknown one: ids once each, in order. */
    json_t *pack = json_pack("{s:s, s:s, s:[s, s, s]}", "id", "pk1", "name", "Pack", "products",
                             pid, "ghost", pid);
    json_t *ids = rj_app_projection_ids(by_pack, pack);
    cr_assert_eq(json_array_size(ids), 2);
    cr_expect_str_eq(json_string_value(json_array_get(ids, 0)), pid);
    json_decref(ids);
    json_t *with_pack = NULL;
    cr_assert_eq(rj_app_project(by_pack, pack, pid, rm, &action, &with_pack, &err), RJ_OK);
    cr_expect_eq(action, RJ_APP_PROJECT_WRITE);
    cr_expect_eq(json_array_size(json_object_get(with_pack, "packs")), 1);
    json_t *again = NULL;
    cr_assert_eq(rj_app_project(by_pack, pack, pid, with_pack, &action, &again, &err), RJ_OK);
    cr_expect_eq(json_array_size(json_object_get(again, "packs")), 1); /* replaced, not added */
    json_t *ghost = NULL;
    cr_assert_eq(rj_app_project(by_pack, pack, "ghost", NULL, &action, &ghost, &err), RJ_OK);
    cr_expect_eq(action, RJ_APP_PROJECT_NOTHING);
    cr_expect_null(ghost);

    json_t *del = json_pack("{s:s}", "productId", pid);
    json_t *deleted = NULL;
    cr_assert_eq(rj_app_reduce(shop, "Product", "ProductDeleted", del, changed, &deleted, &err),
                 RJ_OK);
    json_t *none = NULL;
    cr_assert_eq(rj_app_project(by_product, deleted, pid, again, &action, &none, &err), RJ_OK);
    cr_expect_eq(action, RJ_APP_PROJECT_DELETE);
    cr_expect_null(none);

    json_decref(deleted);
    json_decref(del);
    json_decref(again);
    json_decref(with_pack);
    json_decref(pack);
    json_decref(changed);
    json_decref(change);
    json_decref(rm);
    json_decref(product);
    json_decref(result);
    json_decref(events);
    json_decref(input);
}

/* ---- the generated API ---- */

Test(shop, api_sdl)
{
    const char *sdl = rj_app_api_sdl(shop);
    cr_assert_not_null(sdl);
    static const char *const expected[] = {
        "scalar JSON\n",
        "type CartItem {\n  productId: ID!\n  quantity: Float!\n}\n",
        "type Payment {\n  id: ID!\n  cartId: ID!\n  confirmationToken: String!\n}\n",
        "type CartReadModel {\n  id: ID!\n  cartItems: [CartItem!]!\n  shippingAddress: Address\n"
        "  payment: Payment\n  cartItemsIds: [String]\n  cartItemsSize: Float\n}\n",
        "input AddressInput {\n  firstName: String!\n",
        "input ChangeCartItemInput {\n  cartId: ID!\n  productId: ID!\n  quantity: Float!\n}\n",
        "input UpdateShippingAddressInput {\n  cartId: ID!\n  address: AddressInput!\n}\n",
        "type Query {\n  CartReadModel(id: ID!): CartReadModel\n",
        "type Mutation {\n  ChangeCartItem(input: ChangeCartItemInput!): JSON!\n"
        "  UpdateShippingAddress(input: UpdateShippingAddressInput!): JSON!\n"
        "  ConfirmPayment(input: ConfirmPaymentInput!): JSON!\n"
        "  CreateProduct(input: CreateProductInput!): JSON!\n",
        "  EmptyCommand: String!\n  LogSomething: JSON!\n"
        "  PlaceOrder(input: PlaceOrderInput!): JSON!\n  InspectCart(input: InspectCartInput!): Cart\n}\n",
        /* An entity a command returns is an object type of the API. */
        "type Cart {\n  id: ID!\n  cartItems: [CartItem!]!\n  shippingAddress: Address\n}\n",
        "  PriceHistoryReadModel(id: ID!, priceChangedAt: ID): [PriceHistoryReadModel]\n",
        "type ProductReadModel {\n  id: ID!\n  sku: String!\n  displayName: String!\n"
        "  description: String!\n  price: Money!\n  featured: Boolean!\n  packs: [Pack]\n}\n",
        "type Pack {\n  id: ID!\n  name: String!\n  products: [ID!]!\n}\n",
        "type Subscription {\n  CartReadModel(id: ID!): CartReadModel\n",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        cr_expect(strstr(sdl, expected[i]) != NULL, "missing:\n%s\nin:\n%s", expected[i], sdl);
    /* Not in the API: roles, events, entities no output reaches, unused input types. */
    cr_expect_null(strstr(sdl, "Role"));
    /* Events are not object types (their names are values of enum EventType). */
    cr_expect_null(strstr(sdl, "type CartItemChanged"));
    cr_expect_null(strstr(sdl, "type Customer {"));
    cr_expect_null(strstr(sdl, "input CartItemInput"));
    /* The only directive printed is @deprecated, on the plural read-model queries. */
    for (const char *at = strchr(sdl, '@'); at != NULL; at = strchr(at + 1, '@'))
        cr_expect(strncmp(at, "@deprecated(", 12) == 0, "unexpected directive: %.40s", at);
}

Test(shop, api_schema_parses)
{
    const rj_gql_schema_t *s = rj_app_api_schema(shop);
    cr_assert_not_null(s);
    const rj_gql_type_t *mutation = rj_gql_schema_root_type(s, RJ_GQL_OP_MUTATION);
    cr_assert_not_null(mutation);
    const rj_gql_field_def_t *f = rj_gql_type_find_field(mutation, "ChangeCartItem");
    cr_assert_not_null(f);
    cr_expect_str_eq(f->type_str, "JSON!");
    const rj_gql_input_value_t *arg = rj_gql_field_find_arg(f, "input");
    cr_assert_not_null(arg);
    cr_expect_str_eq(arg->type_str, "ChangeCartItemInput!");
    const rj_gql_field_def_t *empty = rj_gql_type_find_field(mutation, "EmptyCommand");
    cr_assert_not_null(empty);
    cr_expect_eq(empty->nargs, 0);
    cr_expect_str_eq(empty->type_str, "String!");
    const rj_gql_type_t *query = rj_gql_schema_root_type(s, RJ_GQL_OP_QUERY);
    cr_assert_not_null(query);
    cr_expect_not_null(rj_gql_type_find_field(query, "CartReadModel"));
    cr_expect_not_null(rj_gql_schema_root_type(s, RJ_GQL_OP_SUBSCRIPTION));
    const rj_gql_type_t *rm = rj_gql_schema_find_type(s, "CartReadModel");
    cr_assert_not_null(rm);
    cr_expect_not_null(rj_gql_type_find_field(rm, "cartItemsSize"));
}

/* ---- load failures ---- */

Test(load, missing_library)
{
    rj_error_t err;
    rj_app_t *app = rj_app_load("/nonexistent/libnope.so", &err);
    cr_expect_null(app);
    cr_expect_eq(err.status, RJ_ENOTFOUND);
    cr_expect(strncmp(err.msg, "could not load app /nonexistent/libnope.so: ", 44) == 0, "%s",
              err.msg);
}

Test(load, wrong_api_version)
{
    char *path = build_path("tests/lib/libbadversion.so");
    rj_error_t err;
    rj_app_t *app = rj_app_load(path, &err);
    cr_expect_null(app);
    cr_expect_eq(err.status, RJ_EINVAL);
    char *expected = rj_xasprintf("could not load app %s: built for API version %d, this is %d",
                                  path, RJ_APP_API_VERSION + 1, RJ_APP_API_VERSION);
    cr_expect_str_eq(err.msg, expected);
    free(expected);
    free(path);
}

Test(load, public_key_file_from_environment)
{
    char *path = build_path("lib/libshop.so");
    char *key = build_path("lib/shop-keys/public.pem");
    rj_error_t err;
    setenv("SHOP_BOOSTER_PUBLIC_KEY_FILE", key, 1);
    rj_app_t *app = rj_app_load(path, &err);
    cr_assert_not_null(app, "%s", err.msg);
    cr_expect(strncmp(rj_app_verifier_at(app, 0)->pem, "-----BEGIN PUBLIC KEY-----", 26) == 0);
    rj_app_free(app);

    /* A named key that cannot be read fails the load instead of trusting the dev key. */
    setenv("SHOP_BOOSTER_PUBLIC_KEY_FILE", "/nonexistent/key.pem", 1);
    app = rj_app_load(path, &err);
    cr_expect_null(app);
    char *expected = rj_xasprintf("could not load app %s: invalid app declaration: "
                                  "rj_app_token_verifier_public_key: the PEM key must be a "
                                  "non-empty string", path);
    cr_expect_str_eq(err.msg, expected);

    /* So does a file that holds no PEM key: the placeholder of deploy/base's Secret. */
    char placeholder[] = "/tmp/rj-test-key-XXXXXX";
    int fd = mkstemp(placeholder);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "REPLACE-ME\n", 11), 11);
    close(fd);
    setenv("SHOP_BOOSTER_PUBLIC_KEY_FILE", placeholder, 1);
    app = rj_app_load(path, &err);
    cr_expect_null(app);
    cr_expect_str_eq(err.msg, expected);
    unlink(placeholder);

    /* And no key at all: the committed development key is never trusted by default. */
    unsetenv("SHOP_BOOSTER_PUBLIC_KEY_FILE");
    unsetenv("SHOP_JWKS_URI");
    app = rj_app_load(path, &err);
    cr_expect_null(app);
    cr_expect_str_eq(err.msg, expected);
    free(expected);
    free(key);
    free(path);
}

/* ---- in-process apps: declaration and schema errors, sentinels ---- */

static rj_status_t
noop_command(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    return RJ_OK;
}

static rj_status_t
silent_failure(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    return RJ_EHANDLER;
}

static rj_status_t
register_undeclared(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    /* Ignores the status on purpose: the runner must still fail the command. */
    rj_command_register_take(ctx, "Nope", json_object(), NULL);
    return RJ_OK;
}

static rj_status_t
reduce_copy(const json_t *event, const json_t *current, json_t **out, rj_error_t *err)
{
    *out = json_deep_copy(event);
    return RJ_OK;
}

static rj_status_t
project_by_flag(const json_t *entity, const char *id, const json_t *current, json_t **out,
                rj_error_t *err)
{
    const char *what = json_string_value(json_object_get(entity, "what"));
    if (strcmp(what, "delete") == 0)
        *out = RJ_DELETE;
    else if (strcmp(what, "nothing") == 0)
        *out = RJ_NOTHING;
    else if (strcmp(what, "fail") == 0)
        return rj_error_set(err, RJ_EHANDLER, "projection says no");
    else if (strcmp(what, "bad") == 0)
        *out = json_integer(3);
    else
        *out = json_pack("{s:s}", "id", id);
    return RJ_OK;
}

/* The authorizer of mini_sdl's Fail (authorize: CUSTOM): allows users named "ok". */
static rj_status_t
authorize_fail(const json_t *user, const json_t *input, rj_error_t *err)
{
    const char *id = json_string_value(json_object_get(user, "id"));
    if (id != NULL && strcmp(id, "ok") == 0)
        return RJ_OK;
    return RJ_EAUTH; /* no message: the usual denial */
}

static const char *const mini_sdl =
    "enum Role @roles { Admin }\n"
    "type Thing @entity(authorizeReadEvents: [Admin]) { id: ID!  what: String }\n"
    "type ThingSet @event(entity: \"Thing\", key: \"id\") { id: ID!  what: String }\n"
    "input SetThing @command(authorize: [Admin], entity: \"Thing\", key: \"id\") { id: ID! }\n"
    "input Fail @command(authorize: CUSTOM)\n"
    "input Bad @command(authorize: ALL)\n"
    "type ThingView @readModel(authorize: ALL) { id: ID!  at: String @sequencedBy }\n";

static rj_app_t *
mini_app(const char *sdl, rj_error_t *err)
{
    rj_app_t *app = rj__app_new();
    rj_app_schema_string(app, sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    rj_app_authorize_command(app, "Fail", authorize_fail);
    rj_app_on_reduce(app, "Thing", "ThingSet", reduce_copy);
    rj_app_on_project(app, "ThingView", "Thing", "id", project_by_flag);
    if (rj__app_finish(app, err) != RJ_OK) {
        rj_app_free(app);
        return NULL;
    }
    return app;
}

Test(inprocess, sentinels_and_projection_errors)
{
    rj_error_t err;
    rj_app_t *app = mini_app(mini_sdl, &err);
    cr_assert_not_null(app, "%s", err.msg);
    cr_expect_str_eq(rj_app_read_model(app, "ThingView")->sequenced_by, "at");
    cr_expect(strstr(rj_app_api_sdl(app), "ThingView(id: ID!, at: ID): [ThingView]") != NULL,
              "%s", rj_app_api_sdl(app));
    const rj_app_projection_t *proj = rj_app_entity(app, "Thing")->projections[0];
    static const struct {
        const char *what;
        rj_status_t status;
        rj_app_project_action_t action;
    } cases[] = {
        {"delete", RJ_OK, RJ_APP_PROJECT_DELETE},
        {"nothing", RJ_OK, RJ_APP_PROJECT_NOTHING},
        {"write", RJ_OK, RJ_APP_PROJECT_WRITE},
        {"fail", RJ_EHANDLER, 0},
        {"bad", RJ_ESCHEMA, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *entity = json_pack("{s:s, s:s}", "id", "t1", "what", cases[i].what);
        rj_app_project_action_t action = 99;
        json_t *out = NULL;
        rj_status_t st = rj_app_project(proj, entity, "t1", NULL, &action, &out, &err);
        cr_expect_eq(st, cases[i].status, "%s: %s", cases[i].what, err.msg);
        if (st == RJ_OK) {
            cr_expect_eq(action, cases[i].action, "%s", cases[i].what);
            cr_expect_eq(out != NULL, action == RJ_APP_PROJECT_WRITE);
        }
        json_decref(out);
        json_decref(entity);
    }
    /* The sentinels are immortal. */
    cr_expect_eq(RJ_DELETE->refcount, (size_t)-1);
    json_decref(RJ_DELETE);
    cr_expect_eq(RJ_DELETE->refcount, (size_t)-1);
    rj_app_free(app);
}

Test(inprocess, handler_errors)
{
    rj_error_t err;
    rj_app_t *app = mini_app(mini_sdl, &err);
    cr_assert_not_null(app, "%s", err.msg);
    json_t *result = NULL, *events = NULL;
    cr_expect_eq(rj_app_run_command(app, "Fail", NULL, NULL, "r", &result, &events, &err),
                 RJ_EHANDLER);
    cr_expect_str_eq(err.msg, "command handler Fail failed");
    cr_expect_eq(rj_app_run_command(app, "Bad", NULL, NULL, "r", &result, &events, &err),
                 RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, "could not register event Nope: it is not declared with @event");
    cr_expect_null(result);
    cr_expect_null(events);
    cr_expect_eq(rj_app_command(app, "Fail")->authorize.kind, RJ_APP_AUTH_CUSTOM);
    rj_app_free(app);
}

Test(inprocess, schema_errors_name_the_culprit)
{
    static const struct {
        const char *sdl;
        const char *message;
    } cases[] = {
        {"type Thing @entity { id: ID! }\n"
         "type ThingSet @event(entity: \"Thing\", key: \"nope\") { id: ID! }\n",
         "invalid app schema: event ThingSet: key \"nope\" is not a field of the event"},
        {"type Thing @entity(authorizeReadEvents: [Boss]) { id: ID! }\n",
         "invalid app schema: Thing: @entity(authorizeReadEvents:) names undeclared role Boss "
         "(declare roles with enum Role @roles { ... })"},
        {"type Thing @entity { id: ID!  x: Widget }\n",
         "invalid app schema: Thing.x: unknown type Widget"},
        {"type Thing @entitty { id: ID! }\n", "invalid app schema: Thing: unknown directive @entitty"},
        {"input Go @command(authorise: ALL) { id: ID! }\n",
         "invalid app schema: Go: @command takes no argument authorise"},
        {"type ThingSet @event(entity: \"Ghost\", key: \"id\") { id: ID! }\n",
         "invalid app schema: event ThingSet: @event(entity: \"Ghost\") is not a declared @entity"},
        {"type A { x: Int }\ntype A { y: Int }\n", "invalid app schema: A is declared twice"},
        {"type V @readModel(authorize: ALL) { id: ID!  n: Int @calculated(dependsOn: [\"m\"]) }\n",
         "invalid app schema: V.n: @calculated depends on unknown field m"},
        {"type A { x: Int \n", "invalid app schema: Syntax Error: Expected Name, found <EOF>. "
                                "(line 2, column 1)"},
        {"input Go @command(authorize: ALL, returns: \"Nope!\")\n",
         "invalid app schema: command Go: @command(returns: \"Nope!\") is not a known output type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rj_app_t *app = rj__app_new();
        rj_app_schema_string(app, cases[i].sdl);
        rj_error_t err;
        rj_error_clear(&err);
        cr_expect_neq(rj__app_finish(app, &err), RJ_OK, "case %zu", i);
        cr_expect_str_eq(err.msg, cases[i].message, "case %zu", i);
        rj_app_free(app);
    }
}

Test(inprocess, binding_errors_name_the_culprit)
{
    rj_error_t err;
    rj_app_t *app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    rj_app_on_reduce(app, "Thing", "ThingSet", reduce_copy);
    rj_app_on_project(app, "ThingView", "Thing", "nope", project_by_flag);
    cr_expect_eq(rj__app_finish(app, &err), RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, "rj_app_on_project: join field nope is not a field of entity Thing");
    rj_app_free(app);

    app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    cr_expect_eq(rj__app_finish(app, &err), RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, "command Bad has no handler (bind one with rj_app_on_command)");
    rj_app_free(app);

    app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "SetThing", noop_command);
    cr_expect_eq(rj__app_finish(app, &err), RJ_EINVAL);
    cr_expect_str_eq(err.msg, "invalid app declaration: rj_app_on_command: command SetThing "
                              "already has a handler");
    rj_app_free(app);

    app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_on_reduce(app, "Ghost", "ThingSet", reduce_copy);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    cr_expect_eq(rj__app_finish(app, &err), RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, "rj_app_on_reduce: entity Ghost is not declared (type Ghost @entity "
                              "in the schema)");
    rj_app_free(app);
}

/* ---- authorization, read-model before hooks, token verifiers ---- */

Test(shop, log_something_is_authorized_by_its_claim)
{
    const rj_app_command_t *cmd = rj_app_command(shop, "LogSomething");
    cr_assert_not_null(cmd);
    cr_expect_eq(cmd->authorize.kind, RJ_APP_AUTH_CUSTOM);
    json_t *with = json_pack("{s:s, s:[], s:{s:b}}", "id", "u", "roles", "claims",
                             "canLogSomething", 1);
    json_t *string_true = json_pack("{s:s, s:[], s:{s:s}}", "id", "u", "roles", "claims",
                                    "canLogSomething", "true");
    json_t *without = json_pack("{s:s, s:[], s:{}}", "id", "u", "roles", "claims");
    rj_error_t err;
    cr_expect_eq(rj_app_authorize(&cmd->authorize, with, NULL, &err), RJ_OK);
    const json_t *denied[] = {string_true, without, NULL};
    for (size_t i = 0; i < 3; i++) {
        rj_error_clear(&err);
        cr_expect_eq(rj_app_authorize(&cmd->authorize, denied[i], NULL, &err), RJ_EAUTH);
        cr_expect_str_eq(err.msg, "You are not allowed to log something");
        cr_expect_str_eq(rj_error_code(&err), "NotAuthorizedError");
    }
    cr_expect(rj_app_auth_allows(&cmd->authorize, with));
    cr_expect_not(rj_app_auth_allows(&cmd->authorize, json_null()));
    json_decref(with);
    json_decref(string_true);
    json_decref(without);
}

Test(shop, role_denials_say_access_denied)
{
    const rj_app_command_t *cmd = rj_app_command(shop, "CreateProduct");
    json_t *user = json_pack("{s:s, s:[s]}", "id", "u", "roles", "User");
    json_t *admin = json_pack("{s:s, s:[s]}", "id", "a", "roles", "Admin");
    rj_error_t err;
    cr_expect_eq(rj_app_authorize(&cmd->authorize, user, NULL, &err), RJ_EAUTH);
    cr_expect_str_eq(err.msg, "Access denied for this resource");
    cr_expect_str_eq(rj_error_code(&err), "NotAuthorizedError");
    cr_expect_eq(rj_app_authorize(&cmd->authorize, NULL, NULL, &err), RJ_EAUTH);
    cr_expect_eq(rj_app_authorize(&cmd->authorize, admin, NULL, &err), RJ_OK);
    rj_app_auth_t nobody = {.kind = RJ_APP_AUTH_NOBODY};
    cr_expect_eq(rj_app_authorize(&nobody, admin, NULL, &err), RJ_EAUTH);
    cr_expect_str_eq(err.msg, "Access denied for this resource");
    json_decref(user);
    json_decref(admin);
}

/* Runs CartReadModel's hooks on @p request_text; returns the result as compact text. */
static char *
cart_hooks(const char *request_text, rj_error_t *err)
{
    const rj_app_read_model_t *rm = rj_app_read_model(shop, "CartReadModel");
    json_t *request = json_loads(request_text, 0, NULL);
    cr_assert_not_null(request);
    size_t refs = request->refcount;
    json_t *out = NULL;
    rj_status_t st = rj_app_run_read_model_hooks(rm, request, NULL, &out, err);
    cr_expect_eq(request->refcount, refs, "the request is borrowed");
    json_decref(request);
    if (st != RJ_OK)
        return NULL;
    char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(out);
    return text;
}

Test(shop, cart_read_model_before_hooks)
{
    cr_assert_eq(rj_app_read_model(shop, "CartReadModel")->n_hooks, 2);
    static const struct {
        const char *in;
        const char *out; /* NULL: the hook throws */
    } cases[] = {
        {"{\"key\":{\"id\":\"c1\"}}", "{\"key\":{\"id\":\"c1\"}}"},
        {"{\"key\":{\"id\":\"before-fn-x\"}}", "{\"key\":{\"id\":\"before-fn-x-modified\"}}"},
        {"{\"key\":{\"id\":\"before-fn-x-modified\"}}",
         "{\"key\":{\"id\":\"before-fn-x-modified\"}}"},
        {"{\"key\":{\"id\":\"throw-exception-id\"}}", NULL},
        {"{\"filters\":{\"id\":{\"eq\":\"before-fn-y\"},\"cartItems\":{\"isDefined\":true}}}",
         "{\"filters\":{\"id\":{\"eq\":\"before-fn-y-modified\"}}}"},
        {"{\"filters\":{\"id\":{\"eq\":\"throw-1\"}}}", "{\"filters\":{\"id\":{\"eq\":\"throw-1\"}}}"},
        {"{\"filters\":{\"id\":{\"eq\":\"c2\"}}}", "{\"filters\":{\"id\":{\"eq\":\"c2\"}}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rj_error_t err;
        rj_error_clear(&err);
        char *out = cart_hooks(cases[i].in, &err);
        if (cases[i].out == NULL) {
            cr_expect_null(out, "case %zu", i);
            cr_expect_str_eq(err.msg, "Before hook throwing exception");
            cr_expect_str_eq(rj_error_code(&err), "", "a plain error: no code");
        } else {
            cr_expect_str_eq(out, cases[i].out, "case %zu", i);
        }
        free(out);
    }
}

Test(shop, token_verifiers_are_built_at_load)
{
    const rj_auth_t *auth = rj_app_token_auth(shop);
    cr_assert_not_null(auth);
    cr_expect_eq(rj_auth_verifier_count(auth), 1);
    cr_expect_str_eq(rj_auth_verifier_alg(auth, 0), "RS256");
}

Test(inprocess, custom_authorizer_bindings_must_match_the_schema)
{
    rj_error_t err;
    rj_app_t *app = mini_app(mini_sdl, &err);
    cr_assert_not_null(app, "%s", err.msg);
    const rj_app_auth_t *fail = &rj_app_command(app, "Fail")->authorize;
    json_t *ok = json_pack("{s:s}", "id", "ok");
    cr_expect_eq(rj_app_authorize(fail, ok, NULL, &err), RJ_OK);
    cr_expect_eq(rj_app_authorize(fail, NULL, NULL, &err), RJ_EAUTH);
    cr_expect_str_eq(err.msg, "Access denied for this resource", "silence: the usual denial");
    json_decref(ok);
    rj_app_free(app);

    /* CUSTOM without an authorizer. */
    app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    cr_expect_eq(rj__app_finish(app, &err), RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, "command Fail is declared with authorize: CUSTOM but has no "
                              "authorizer (bind one with rj_app_authorize_command)");
    rj_app_free(app);

    /* An authorizer on a command that is not CUSTOM would never run. */
    app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    rj_app_authorize_command(app, "Fail", authorize_fail);
    rj_app_authorize_command(app, "SetThing", authorize_fail);
    cr_expect_eq(rj__app_finish(app, &err), RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, "rj_app_authorize_command: SetThing is not declared with "
                              "@command(authorize: CUSTOM), so its authorizer would never run");
    rj_app_free(app);

    /* Hooks and authorizers of undeclared read models. */
    app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    rj_app_authorize_command(app, "Fail", authorize_fail);
    rj_app_authorize_read_model(app, "Ghost", authorize_fail);
    cr_expect_eq(rj__app_finish(app, &err), RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, "rj_app_authorize_read_model: read model Ghost is not declared");
    rj_app_free(app);

    /* A key that is not a usable public key fails the load. */
    app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    rj_app_authorize_command(app, "Fail", authorize_fail);
    rj_app_token_verifier_public_key(app, "booster",
                                     "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                     NULL);
    cr_expect_eq(rj__app_finish(app, &err), RJ_EINVAL);
    cr_expect_str_eq(err.msg, "could not configure token verifier issuer=booster: the key is not "
                              "a PEM public key or certificate");
    rj_app_free(app);
}

/* ---- application token policies ---- */

static rj_status_t
accept_nothing(const json_t *header, const json_t *claims, rj_error_t *err)
{
    (void)header;
    (void)claims;
    return rj_error_set(err, RJ_EAUTH, "no");
}

Test(load, shop_token_policies_from_environment)
{
    char *path = build_path("lib/libshop.so");
    rj_error_t err;
    setenv("SHOP_REVOKED_TOKEN_IDS", "r1,r2", 1);
    setenv("SHOP_API_KEYS", "k1=Admin", 1);
    rj_app_t *app = rj_app_load(path, &err);
    unsetenv("SHOP_REVOKED_TOKEN_IDS");
    unsetenv("SHOP_API_KEYS");
    cr_assert_not_null(app, "%s", err.msg);
    cr_assert_eq(rj_app_verifier_count(app), 2);
    cr_expect_not_null(rj_app_verifier_at(app, 0)->check);
    cr_expect_null(rj_app_verifier_at(app, 0)->custom);
    cr_expect_not_null(rj_app_verifier_at(app, 1)->custom);
    cr_expect_str_eq(rj_app_verifier_at(app, 1)->issuer, "shop-api-keys");
    rj_app_free(app);
    free(path);
}

Test(inprocess, token_checks_need_a_verifier_of_their_issuer)
{
    rj_error_t err;
    rj_app_t *app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    rj_app_authorize_command(app, "Fail", authorize_fail);
    rj_app_token_verifier_check(app, "booster", accept_nothing);
    cr_expect_eq(rj__app_finish(app, &err), RJ_EINVAL);
    cr_expect_str_eq(err.msg, "invalid app declaration: rj_app_token_verifier_check: no "
                              "public-key or JWKS verifier of issuer booster is declared before it");
    rj_app_free(app);
}

/* ---- application logging ---- */

static char logged[8][512]; /* "<level> <prefix> <module> <message>" */
static int n_logged;

static void
capture_logger(rj_app_log_level_t level, const char *prefix, const char *module,
               const char *message)
{
    if (n_logged < 8)
        snprintf(logged[n_logged++], sizeof logged[0], "%d %s %s %s", (int)level, prefix, module,
                 message);
}

Test(inprocess, an_app_logger_receives_every_line_with_its_prefix_and_level)
{
    rj_error_t err;
    rj_log_init("test_app");
    rj_app_t *app = mini_app(mini_sdl, &err);
    cr_assert_not_null(app, "%s", err.msg);
    rj_app_logger(app, capture_logger);
    rj_app_log_prefix(app, "shop");
    rj_app_log_level(app, RJ_APP_LOG_WARN);
    cr_assert_null(app->decl_error);
    n_logged = 0;
    rj__app_apply_logging(app);

    rj_info("kafka", "not logged: below the app's level");
    rj_warn("kafka", "broker %s down", "b1");
    rj_log_write(RJ_APP_LOG_ERROR, "payments", "charge %d failed", 42);
    rj_log_write(RJ_APP_LOG_INFO, NULL, "below the level too");

    rj_log_set_sink(NULL);
    rj_log_set_app_prefix(NULL);
    rj_log_set_level(RJ_LOG_ERROR);
    cr_assert_eq(n_logged, 2);
    cr_expect_str_eq(logged[0], "2 shop:test_app kafka broker b1 down");
    cr_expect_str_eq(logged[1], "3 shop:test_app payments charge 42 failed");
    rj_app_free(app);

    /* Bad declarations name the call. */
    app = rj__app_new();
    rj_app_log_prefix(app, "a|b");
    cr_expect_str_eq(app->decl_error, "rj_app_log_prefix: the prefix must be a non-empty string "
                                      "without brackets, bars or newlines");
    rj_app_free(app);
}

/* ---- authorizeReadEvents: CUSTOM ---- */

/* Allows only eventsByEntity requests for entity id "mine". */
static rj_status_t
authorize_own_events(const json_t *user, const json_t *input, rj_error_t *err)
{
    (void)user;
    const char *id = json_string_value(json_object_get(input, "entityID"));
    if (id != NULL && strcmp(id, "mine") == 0)
        return RJ_OK;
    return rj_error_set(err, RJ_EAUTH, "only your own things");
}

Test(inprocess, custom_read_events_authorizer)
{
    /* mini_sdl with the entity's events behind a CUSTOM authorizer. */
    char *sdl = rj_xstrdup(mini_sdl);
    char *at = strstr(sdl, "authorizeReadEvents: [Admin]");
    cr_assert_not_null(at);
    memcpy(at, "authorizeReadEvents: CUSTOM ", 28);
    rj_error_t err;

    rj_app_t *app = rj__app_new();
    rj_app_schema_string(app, sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    rj_app_authorize_command(app, "Fail", authorize_fail);
    cr_expect_eq(rj__app_finish(app, &err), RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, "entity Thing is declared with authorizeReadEvents: CUSTOM but has "
                              "no authorizer (bind one with rj_app_authorize_read_events)");
    rj_app_free(app);

    app = rj__app_new();
    rj_app_schema_string(app, sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    rj_app_authorize_command(app, "Fail", authorize_fail);
    rj_app_authorize_read_events(app, "Thing", authorize_own_events);
    cr_assert_eq(rj__app_finish(app, &err), RJ_OK, "%s", err.msg);
    const rj_app_auth_t *auth = &rj_app_entity(app, "Thing")->authorize_read_events;
    json_t *mine = json_pack("{s:s, s:s}", "entity", "Thing", "entityID", "mine");
    json_t *theirs = json_pack("{s:s, s:s}", "entity", "Thing", "entityID", "theirs");
    cr_expect_eq(rj_app_authorize(auth, NULL, mine, &err), RJ_OK);
    cr_expect_eq(rj_app_authorize(auth, NULL, theirs, &err), RJ_EAUTH);
    cr_expect_str_eq(err.msg, "only your own things");
    cr_expect_str_eq(rj_error_code(&err), "NotAuthorizedError");
    json_decref(mine);
    json_decref(theirs);
    rj_app_free(app);

    /* Bound to an entity whose events are not CUSTOM, or to no entity at all. */
    app = mini_app(mini_sdl, &err);
    cr_assert_not_null(app, "%s", err.msg);
    rj_app_free(app);
    app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_on_command(app, "SetThing", noop_command);
    rj_app_on_command(app, "Fail", silent_failure);
    rj_app_on_command(app, "Bad", register_undeclared);
    rj_app_authorize_command(app, "Fail", authorize_fail);
    rj_app_authorize_read_events(app, "Thing", authorize_own_events);
    cr_expect_eq(rj__app_finish(app, &err), RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, "rj_app_authorize_read_events: Thing is not declared with "
                              "@entity(authorizeReadEvents: CUSTOM), so its authorizer would "
                              "never run");
    rj_app_free(app);
    app = rj__app_new();
    rj_app_schema_string(app, mini_sdl);
    rj_app_authorize_read_events(app, "Ghost", authorize_own_events);
    cr_expect_eq(rj__app_finish(app, &err), RJ_ESCHEMA);
    rj_app_free(app);
    free(sdl);
}
