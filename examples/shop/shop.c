/*
 * shop.c - the handlers of the shop example (shop.graphql is its schema).
 *
 * Built as libshop.so against ramjet.h and jansson's headers only: it does not link
 * libramjet. Its rj_* symbols resolve from the daemon that dlopen()s it, the way a
 * redis module's RedisModule_* calls resolve from the server.
 *
 * The domain is examples/shop-domain.md §1: carts, payments, products, packs and
 * customers, with their read models, LogSomething's custom authorizer and the
 * CartReadModel before hooks, and two optional token policies (a revocation check
 * and API keys, see below). PlaceOrder and InspectCart read entities (rj_entity_get),
 * and so does the CartTotalQuantity query handler. OrderReadModel is projected from
 * Order by id and from Customer by a read-model-query join key; CartReadModel's
 * cartItemsSize is a calculated field. Tokens of issuer "booster" are verified with the
 * key of SHOP_BOOSTER_PUBLIC_KEY_FILE and/or the JWKS of SHOP_JWKS_URI (shop-domain.md,
 * "Tokens the example app must trust"); with neither the app refuses to load, since the
 * committed development key must never be trusted by default. A global error handler is
 * installed when SHOP_ERROR_HANDLER=1 (off by default, as shop-domain.md asks).
 *
 * Every handler follows ramjet.h's ownership rules: inputs are borrowed, outputs are
 * new references, and rj_command_register_take consumes its value. Errors a client
 * should read are set with rj_error_set; the message travels unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ramjet.h"

/* ---- small helpers ---- */

static bool
starts_with(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The object field @p key of @p o as a string, or NULL. */
static const char *
str_field(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The field @p key of @p o if present and not null, else NULL (JS's `x ?? fallback`). */
static json_t *
present(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

/* A random (v4) UUID, as Booster's UUID.generate(). */
static json_t *
new_uuid(void)
{
    unsigned char u[16];
    size_t got = 0;
    while (got < sizeof u) {
        ssize_t n = getrandom(u + got, sizeof u - got, 0);
        if (n <= 0)
            abort(); /* the kernel's CSPRNG does not fail once initialised */
        got += (size_t)n;
    }
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    char s[37];
    snprintf(s, sizeof s,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
             u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
    return json_string(s);
}

/* A deep copy of @p current, or a new empty cart {id, cartItems: []} when it is NULL. */
static json_t *
cart_or_empty(const json_t *current, const char *cart_id)
{
    if (current != NULL)
        return json_deep_copy(current);
    return json_pack("{s:s, s:[]}", "id", cart_id, "cartItems");
}

/* ---- ChangeCartItem ---- */

/*
 * H1: a cart id starting with "before-throw-" fails the command with the hook's own
 * message; one starting with "before-change-" sets the quantity to 21.
 */
static rj_status_t
change_cart_item_hook_quantity(const json_t *input, const json_t *user, json_t **out,
                               rj_error_t *err)
{
    const char *cart_id = str_field(input, "cartId");
    if (starts_with(cart_id, "before-throw-"))
        return rj_error_set(err, RJ_EHANDLER, "Before hook throwing exception");
    json_t *next = json_deep_copy(input);
    if (starts_with(cart_id, "before-change-"))
        json_object_set_new(next, "quantity", json_integer(21));
    *out = next;
    return RJ_OK;
}

/* H2: a cart id starting with "before-change-" gets "-modified" appended. */
static rj_status_t
change_cart_item_hook_cart_id(const json_t *input, const json_t *user, json_t **out,
                              rj_error_t *err)
{
    const char *cart_id = str_field(input, "cartId");
    json_t *next = json_deep_copy(input);
    if (starts_with(cart_id, "before-change-")) {
        size_t n = strlen(cart_id) + sizeof "-modified";
        char *id = malloc(n);
        if (id == NULL)
            abort();
        snprintf(id, n, "%s-modified", cart_id);
        json_object_set_new(next, "cartId", json_string(id));
        free(id);
    }
    *out = next;
    return RJ_OK;
}

static rj_status_t
change_cart_item(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    json_t *event = json_pack("{s:O, s:O, s:O}", "cartId", json_object_get(input, "cartId"),
                              "productId", json_object_get(input, "productId"), "quantity",
                              json_object_get(input, "quantity"));
    if (event == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "ChangeCartItem needs cartId, productId and quantity");
    return rj_command_register_take(ctx, "CartItemChanged", event, err);
}

/* ---- UpdateShippingAddress ---- */

static rj_status_t
update_shipping_address(rj_command_ctx_t *ctx, const json_t *input, json_t **result,
                        rj_error_t *err)
{
    json_t *event = json_pack("{s:O, s:O}", "cartId", json_object_get(input, "cartId"),
                              "address", json_object_get(input, "address"));
    if (event == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "UpdateShippingAddress needs cartId and address");
    return rj_command_register_take(ctx, "ShippingAddressUpdated", event, err);
}

/* ---- ConfirmPayment ---- */

static rj_status_t
confirm_payment(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    json_t *event = json_pack("{s:O, s:O, s:O}", "paymentId", json_object_get(input, "paymentId"),
                              "cartId", json_object_get(input, "cartId"), "confirmationToken",
                              json_object_get(input, "confirmationToken"));
    if (event == NULL)
        return rj_error_set(err, RJ_ESCHEMA,
                            "ConfirmPayment needs paymentId, cartId and confirmationToken");
    return rj_command_register_take(ctx, "CartPaid", event, err);
}

/* ---- products, packs, customers ---- */

static rj_status_t
create_product(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    json_t *id = present(input, "productID");
    json_t *featured = present(input, "featured");
    json_t *event = json_pack(
        "{s:o, s:O, s:O, s:O, s:{s:O, s:O}, s:O}", "productId",
        id != NULL ? json_incref(id) : new_uuid(), "sku", json_object_get(input, "sku"),
        "displayName", json_object_get(input, "displayName"), "description",
        json_object_get(input, "description"), "price", "cents",
        json_object_get(input, "priceInCents"), "currency", json_object_get(input, "currency"),
        "featured", featured != NULL ? featured : json_false());
    if (event == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "CreateProduct needs sku, displayName, description, "
                                             "priceInCents and currency");
    return rj_command_register_take(ctx, "ProductCreated", event, err);
}

static rj_status_t
delete_product(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    json_t *event = json_pack("{s:O}", "productId", json_object_get(input, "productId"));
    if (event == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "DeleteProduct needs productId");
    return rj_command_register_take(ctx, "ProductDeleted", event, err);
}

static rj_status_t
change_product_price(rj_command_ctx_t *ctx, const json_t *input, json_t **result,
                     rj_error_t *err)
{
    json_t *event = json_pack("{s:O, s:O, s:O}", "productId", json_object_get(input, "productId"),
                              "priceCents", json_object_get(input, "priceCents"), "changedAt",
                              json_object_get(input, "changedAt"));
    if (event == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "ChangeProductPrice needs productId, priceCents and "
                                             "changedAt");
    return rj_command_register_take(ctx, "ProductPriceChanged", event, err);
}

static rj_status_t
create_pack(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    json_t *id = present(input, "packID");
    json_t *event = json_pack("{s:o, s:O, s:O}", "packID",
                              id != NULL ? json_incref(id) : new_uuid(), "name",
                              json_object_get(input, "name"), "products",
                              json_object_get(input, "products"));
    if (event == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "CreatePack needs name and products");
    return rj_command_register_take(ctx, "PackCreated", event, err);
}

/* RegisterCustomer and RenameCustomer carry their input as the event. */
static rj_status_t
register_customer(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    json_t *event = json_pack("{s:O, s:O}", "customerId", json_object_get(input, "customerId"),
                              "name", json_object_get(input, "name"));
    if (event == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "RegisterCustomer needs customerId and name");
    return rj_command_register_take(ctx, "CustomerRegistered", event, err);
}

static rj_status_t
rename_customer(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    json_t *event = json_pack("{s:O, s:O}", "customerId", json_object_get(input, "customerId"),
                              "name", json_object_get(input, "name"));
    if (event == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "RenameCustomer needs customerId and name");
    return rj_command_register_take(ctx, "CustomerRenamed", event, err);
}

/* ---- EmptyCommand ---- */

static rj_status_t
empty_command(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    *result = json_string("Empty command executed");
    return RJ_OK;
}

/* ---- LogSomething ---- */

/* Allowed iff the token carries the claim canLogSomething, as JSON true (not "true"). */
static rj_status_t
authorize_log_something(const json_t *user, const json_t *input, rj_error_t *err)
{
    json_t *claims = json_object_get(user, "claims");
    if (json_is_true(json_object_get(claims, "canLogSomething")))
        return RJ_OK;
    return rj_error_set(err, RJ_EAUTH, "You are not allowed to log something");
}

/* Registers nothing and returns nothing: the client sees `true`. */
static rj_status_t
log_something(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    return RJ_OK;
}

/* ---- PlaceOrder, InspectCart and CartTotalQuantity: handlers that read entities ---- */

/*
 * Loads the current Customer (snapshot plus pending events, so a rename acknowledged a
 * moment ago is already there) and records the order with the customer's name as of now.
 */
static rj_status_t
place_order(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    const char *customer_id = str_field(input, "customerId");
    if (customer_id == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "PlaceOrder needs customerId");
    const json_t *customer = NULL;
    rj_status_t st = rj_entity_get(ctx, "Customer", customer_id, &customer, err);
    if (st != RJ_OK)
        return st;
    if (customer == NULL)
        return rj_error_set(err, RJ_ENOTFOUND, "Customer %s not found", customer_id);
    json_t *event = json_pack("{s:O, s:s, s:O, s:O}", "orderId", json_object_get(input, "orderId"),
                              "customerId", customer_id, "customerName",
                              json_object_get(customer, "name"), "amountCents",
                              json_object_get(input, "amountCents"));
    if (event == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "PlaceOrder needs orderId and amountCents, and "
                                             "customer %s a name", customer_id);
    return rj_command_register_take(ctx, "OrderPlaced", event, err);
}

/* The current Cart, or GraphQL null (json_null(), not "no result", which would be true). */
static rj_status_t
inspect_cart(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    const json_t *cart = NULL;
    rj_status_t st = rj_entity_get(ctx, "Cart", str_field(input, "cartId"), &cart, err);
    if (st != RJ_OK)
        return st;
    /* The state is the context's; the result must be a reference of our own. */
    *result = cart != NULL ? json_incref((json_t *)cart) : json_null();
    return RJ_OK;
}

static rj_status_t
cart_total_quantity(rj_query_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    const json_t *cart = NULL;
    rj_status_t st = rj_entity_get(ctx, "Cart", str_field(input, "cartId"), &cart, err);
    if (st != RJ_OK)
        return st;
    double total = 0;
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get(cart, "cartItems"), i, item)
        total += json_number_value(json_object_get(item, "quantity"));
    *result = json_real(total);
    return RJ_OK;
}

/* ---- Cart reducers ---- */

/* Adds the quantity to the item with the same productId, or appends a new item; the
 * items keep their insertion order. */
static rj_status_t
reduce_cart_item_changed(const json_t *event, const json_t *current, json_t **out,
                         rj_error_t *err)
{
    const char *product_id = str_field(event, "productId");
    json_t *quantity = json_object_get(event, "quantity");
    if (product_id == NULL || !json_is_number(quantity))
        return rj_error_set(err, RJ_ESCHEMA, "CartItemChanged needs productId and quantity");

    json_t *cart = cart_or_empty(current, str_field(event, "cartId"));
    json_t *items = json_object_get(cart, "cartItems");
    if (!json_is_array(items)) {
        items = json_array();
        json_object_set_new(cart, "cartItems", items);
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        const char *id = str_field(item, "productId");
        if (id != NULL && strcmp(id, product_id) == 0) {
            json_t *had = json_object_get(item, "quantity");
            /* Integers stay integers, so a quantity reads 3, not 3.0, after 1 + 2. */
            json_t *sum = json_is_integer(had) && json_is_integer(quantity)
                              ? json_integer(json_integer_value(had) + json_integer_value(quantity))
                              : json_real(json_number_value(had) + json_number_value(quantity));
            json_object_set_new(item, "quantity", sum);
            *out = cart;
            return RJ_OK;
        }
    }
    json_array_append_new(items, json_pack("{s:s, s:O}", "productId", product_id, "quantity",
                                           quantity));
    *out = cart;
    return RJ_OK;
}

static rj_status_t
reduce_shipping_address_updated(const json_t *event, const json_t *current, json_t **out,
                                rj_error_t *err)
{
    json_t *cart = cart_or_empty(current, str_field(event, "cartId"));
    json_object_set(cart, "shippingAddress", json_object_get(event, "address"));
    *out = cart;
    return RJ_OK;
}

/* ---- Payment reducer ---- */

static rj_status_t
reduce_cart_paid(const json_t *event, const json_t *current, json_t **out, rj_error_t *err)
{
    *out = json_pack("{s:O, s:O, s:O}", "id", json_object_get(event, "paymentId"), "cartId",
                     json_object_get(event, "cartId"), "confirmationToken",
                     json_object_get(event, "confirmationToken"));
    if (*out == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "CartPaid needs paymentId, cartId and "
                                             "confirmationToken");
    return RJ_OK;
}

/* ---- Product, Pack and Customer reducers ---- */

static rj_status_t
reduce_product_created(const json_t *event, const json_t *current, json_t **out,
                       rj_error_t *err)
{
    *out = json_pack("{s:O, s:O, s:O, s:O, s:O, s:b, s:O}", "id",
                     json_object_get(event, "productId"), "sku", json_object_get(event, "sku"),
                     "displayName", json_object_get(event, "displayName"), "description",
                     json_object_get(event, "description"), "price",
                     json_object_get(event, "price"), "deleted", 0, "featured",
                     json_object_get(event, "featured"));
    if (*out == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "ProductCreated is missing product fields");
    return RJ_OK;
}

static rj_status_t
reduce_product_deleted(const json_t *event, const json_t *current, json_t **out,
                       rj_error_t *err)
{
    json_t *product = current != NULL
                          ? json_deep_copy(current)
                          : json_pack("{s:O}", "id", json_object_get(event, "productId"));
    if (product == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "ProductDeleted needs productId");
    json_object_set_new(product, "deleted", json_true());
    *out = product;
    return RJ_OK;
}

static rj_status_t
reduce_product_price_changed(const json_t *event, const json_t *current, json_t **out,
                             rj_error_t *err)
{
    if (current == NULL)
        return rj_error_set(err, RJ_ENOTFOUND, "ProductPriceChanged for product %s, which does "
                                               "not exist", str_field(event, "productId"));
    json_t *product = json_deep_copy(current);
    json_t *price = json_object_get(product, "price");
    if (!json_is_object(price)) {
        price = json_object();
        json_object_set_new(product, "price", price);
    }
    json_object_set(price, "cents", json_object_get(event, "priceCents"));
    json_object_set(product, "priceChangedAt", json_object_get(event, "changedAt"));
    *out = product;
    return RJ_OK;
}

static rj_status_t
reduce_pack_created(const json_t *event, const json_t *current, json_t **out, rj_error_t *err)
{
    *out = json_pack("{s:O, s:O, s:O}", "id", json_object_get(event, "packID"), "name",
                     json_object_get(event, "name"), "products",
                     json_object_get(event, "products"));
    if (*out == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "PackCreated needs packID, name and products");
    return RJ_OK;
}

/* Registered creates the customer; Renamed replaces the name (creating it if needed). */
static rj_status_t
reduce_customer_named(const json_t *event, const json_t *current, json_t **out, rj_error_t *err)
{
    json_t *customer = current != NULL
                           ? json_deep_copy(current)
                           : json_pack("{s:O}", "id", json_object_get(event, "customerId"));
    if (customer == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "customer events need customerId");
    json_object_set(customer, "name", json_object_get(event, "name"));
    *out = customer;
    return RJ_OK;
}

/* ---- Order reducer ---- */

/* OrderPlaced creates the order: {id, customerId, customerName, amountCents}. */
static rj_status_t
reduce_order_placed(const json_t *event, const json_t *current, json_t **out, rj_error_t *err)
{
    (void)current;
    json_t *order = json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(event, "orderId"),
                              "customerId", json_object_get(event, "customerId"), "customerName",
                              json_object_get(event, "customerName"), "amountCents",
                              json_object_get(event, "amountCents"));
    if (order == NULL)
        return rj_error_set(err, RJ_ESCHEMA,
                            "OrderPlaced needs orderId, customerId, customerName and amountCents");
    *out = order;
    return RJ_OK;
}

/* ---- CartReadModel projections ---- */

/* Cart by id: {id, cartItems, shippingAddress, payment: current?.payment, cartItemsIds}.
 * Absent optional members stay absent, as JSON.stringify leaves undefined ones out. */
static rj_status_t
project_cart(const json_t *cart, const char *id, const json_t *current, json_t **out,
             rj_error_t *err)
{
    json_t *items = json_object_get(cart, "cartItems");
    json_t *rm = json_object();
    json_object_set_new(rm, "id", json_string(id));
    json_object_set(rm, "cartItems", json_is_array(items) ? items : json_array());
    json_t *address = json_object_get(cart, "shippingAddress");
    if (address != NULL)
        json_object_set(rm, "shippingAddress", address);
    json_t *payment = json_object_get(current, "payment");
    if (payment != NULL)
        json_object_set(rm, "payment", payment);
    json_t *ids = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
        json_array_append(ids, json_object_get(item, "productId"));
    json_object_set_new(rm, "cartItemsIds", ids);
    *out = rm;
    return RJ_OK;
}

/* Payment by cartId: a new cart read model holding just the payment, or the current
 * one with its payment replaced. */
static rj_status_t
project_payment(const json_t *payment, const char *id, const json_t *current, json_t **out,
                rj_error_t *err)
{
    json_t *rm;
    if (current == NULL)
        rm = json_pack("{s:s, s:[], s:O, s:[]}", "id", id, "cartItems", "payment", payment,
                       "cartItemsIds");
    else {
        rm = json_deep_copy(current);
        /* jansson is not const-correct: setting only adds a reference. */
        json_object_set(rm, "payment", (json_t *)payment);
    }
    *out = rm;
    return RJ_OK;
}

/* ---- CartReadModel before hooks ---- */

/* B1: a by-id request for an id starting with "throw-" fails with the hook's message. */
static rj_status_t
cart_read_model_hook_throw(const json_t *request, const json_t *user, json_t **out,
                           rj_error_t *err)
{
    const char *id = str_field(json_object_get(request, "key"), "id");
    if (starts_with(id, "throw-"))
        return rj_error_set(err, RJ_EHANDLER, "Before hook throwing exception");
    *out = json_deep_copy(request);
    return RJ_OK;
}

/*
 * B2: the id (the key's, or else filters.id.eq) gets "-modified" appended when it starts
 * with "before-fn-" and does not end with "-modified" already; a filter request has its
 * whole filter replaced by {id: {eq: newId}}.
 */
static rj_status_t
cart_read_model_hook_rename(const json_t *request, const json_t *user, json_t **out,
                            rj_error_t *err)
{
    json_t *key = json_object_get(request, "key");
    json_t *id_filter = json_object_get(json_object_get(request, "filters"), "id");
    const char *id = key != NULL ? str_field(key, "id") : str_field(id_filter, "eq");
    json_t *next = json_deep_copy(request);
    static const char suffix[] = "-modified";
    size_t n = id != NULL ? strlen(id) : 0;
    if (starts_with(id, "before-fn-") &&
        !(n >= sizeof suffix - 1 && strcmp(id + n - (sizeof suffix - 1), suffix) == 0)) {
        char *renamed = malloc(n + sizeof suffix);
        if (renamed == NULL)
            abort();
        snprintf(renamed, n + sizeof suffix, "%s%s", id, suffix);
        if (key != NULL)
            json_object_set_new(json_object_get(next, "key"), "id", json_string(renamed));
        else
            json_object_set_new(next, "filters",
                                json_pack("{s:{s:s}}", "id", "eq", renamed));
        free(renamed);
    }
    *out = next;
    return RJ_OK;
}

/* ---- ProductReadModel, PriceHistoryReadModel, CustomerReadModel projections ---- */

/* Product by id: deleted products are deleted; else the product with the packs kept. */
static rj_status_t
project_product(const json_t *product, const char *id, const json_t *current, json_t **out,
                rj_error_t *err)
{
    if (json_is_true(json_object_get(product, "deleted"))) {
        *out = RJ_DELETE;
        return RJ_OK;
    }
    json_t *packs = present(current, "packs");
    json_t *rm = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:o}", "id", id, "sku",
                           json_object_get(product, "sku"), "displayName",
                           json_object_get(product, "displayName"), "description",
                           json_object_get(product, "description"), "price",
                           json_object_get(product, "price"), "featured",
                           json_object_get(product, "featured"), "packs",
                           packs != NULL ? json_incref(packs) : json_array());
    if (rm == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "could not project product %s", id);
    *out = rm;
    return RJ_OK;
}

/* Pack by its products (an array join key): runs once per product id; puts the pack
 * into that product's packs, replacing an older copy, unless the product has no read
 * model (then nothing changes). */
static rj_status_t
project_pack(const json_t *pack, const char *id, const json_t *current, json_t **out,
             rj_error_t *err)
{
    if (current == NULL) {
        *out = RJ_NOTHING;
        return RJ_OK;
    }
    json_t *rm = json_deep_copy(current);
    json_t *packs = json_object_get(rm, "packs");
    if (!json_is_array(packs)) {
        packs = json_array();
        json_object_set_new(rm, "packs", packs);
    }
    const char *pack_id = str_field(pack, "id");
    size_t i;
    json_t *p;
    json_array_foreach(packs, i, p) {
        const char *pid = str_field(p, "id");
        if (pid != NULL && pack_id != NULL && strcmp(pid, pack_id) == 0) {
            json_array_set(packs, i, (json_t *)pack);
            *out = rm;
            return RJ_OK;
        }
    }
    json_array_append(packs, (json_t *)pack);
    *out = rm;
    return RJ_OK;
}

/* Product by id into the price history: one row per priceChangedAt (the sequence key). */
static rj_status_t
project_price_history(const json_t *product, const char *id, const json_t *current,
                      json_t **out, rj_error_t *err)
{
    json_t *changed_at = present(product, "priceChangedAt");
    if (changed_at == NULL) {
        *out = RJ_NOTHING;
        return RJ_OK;
    }
    json_t *cents = json_object_get(json_object_get(product, "price"), "cents");
    *out = json_pack("{s:s, s:O, s:O}", "id", id, "priceChangedAt", changed_at, "priceCents",
                     cents != NULL ? cents : json_null());
    return RJ_OK;
}

static rj_status_t
project_customer(const json_t *customer, const char *id, const json_t *current, json_t **out,
                 rj_error_t *err)
{
    *out = json_pack("{s:s, s:O?}", "id", id, "name", json_object_get(customer, "name"));
    return RJ_OK;
}

/* ---- CartReadModel calculated field ---- */

/* cartItemsSize: the number of cartItems (Booster's getter; computed when selected). */
static rj_status_t
cart_items_size(const json_t *cart, json_t **out, rj_error_t *err)
{
    (void)err;
    *out = json_real((double)json_array_size(json_object_get(cart, "cartItems")));
    return RJ_OK;
}

/* ---- OrderReadModel projections ---- */

/* Order by id: a rename applied to the stored read model survives re-projection. */
static rj_status_t
project_order(const json_t *order, const char *id, const json_t *current, json_t **out,
              rj_error_t *err)
{
    json_t *name = json_object_get(current, "customerName");
    if (name == NULL || json_is_null(name))
        name = json_object_get(order, "customerName");
    *out = json_pack("{s:s, s:O?, s:O?, s:O?}", "id", id, "customerId",
                     json_object_get(order, "customerId"), "amountCents",
                     json_object_get(order, "amountCents"), "customerName", name);
    if (*out == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "could not build OrderReadModel %s", id);
    return RJ_OK;
}

/* The read-model-query join key of Customer: the customer's orders, unless the name is
 * "SKIP", which skips the projection (shop-domain.md §1.6). */
static rj_status_t
customer_orders(const json_t *customer, json_t **filter, rj_error_t *err)
{
    const char *name = json_string_value(json_object_get(customer, "name"));
    if (name != NULL && strcmp(name, "SKIP") == 0)
        return RJ_OK; /* *filter stays NULL: skip */
    json_t *cid = json_object_get(customer, "id");
    if (cid == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "Customer entity without id");
    *filter = json_pack("{s:{s:O}}", "customerId", "eq", cid);
    return RJ_OK;
}

/* Customer into each of its orders: a copy with the current name; no order, nothing. */
static rj_status_t
project_customer_order(const json_t *customer, const char *id, const json_t *current,
                       json_t **out, rj_error_t *err)
{
    (void)err;
    if (id == NULL || current == NULL) {
        *out = RJ_NOTHING;
        return RJ_OK;
    }
    json_t *rm = json_deep_copy(current);
    json_object_set(rm, "customerName", json_object_get(customer, "name"));
    *out = rm;
    return RJ_OK;
}

/* ---- token verifier ---- */

/*
 * The PEM of issuer "booster", read from the file named by SHOP_BOOSTER_PUBLIC_KEY_FILE.
 * There is no built-in key: a shop that trusted the committed development key by default
 * would accept tokens anyone with the repository can mint. `ramjet dev` names that key's
 * file itself (tools/ramjet/devkey.c); everywhere else the operator names one.
 *
 * Returns the PEM (malloc'd), or NULL with @p why set when the file cannot be read or
 * holds no PEM block: the caller refuses to start rather than trust nothing or anything.
 */
static char *
booster_public_key(const char *path, const char **why)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *why = strerror(errno);
        return NULL;
    }
    char *pem = calloc(1, 64 * 1024);
    if (pem == NULL)
        abort();
    size_t n = fread(pem, 1, 64 * 1024 - 1, f);
    fclose(f);
    if (n == 0 || strstr(pem, "-----BEGIN ") == NULL) {
        *why = "the file holds no PEM key (a placeholder left in place?)";
        free(pem);
        return NULL;
    }
    return pem;
}

/*
 * Issuer "booster"'s verifiers: the PEM key of SHOP_BOOSTER_PUBLIC_KEY_FILE and/or the
 * JWKS at SHOP_JWKS_URI (Booster's tokenVerifiers: a token is accepted when any verifier
 * accepts it; the JWKS is tried second). False, after logging why, when neither is
 * configured or the key cannot be read: the caller then makes the loader refuse the app.
 */
static bool
declare_booster_verifiers(rj_app_t *app)
{
    const char *path = getenv("SHOP_BOOSTER_PUBLIC_KEY_FILE");
    const char *jwks_uri = getenv("SHOP_JWKS_URI");
    bool has_path = path != NULL && path[0] != '\0';
    bool has_jwks = jwks_uri != NULL && jwks_uri[0] != '\0';

    if (!has_path && !has_jwks) {
        rj_log_write(RJ_APP_LOG_ERROR, "app",
                     "no token key configured: set SHOP_BOOSTER_PUBLIC_KEY_FILE (a PEM public "
                     "key file) or SHOP_JWKS_URI (a JWKS URL); refusing to start. Only `ramjet "
                     "dev` trusts the development key of examples/shop/keys by itself");
        return false;
    }
    if (has_path) {
        const char *why = NULL;
        char *pem = booster_public_key(path, &why);
        if (pem == NULL) {
            rj_log_write(RJ_APP_LOG_ERROR, "app",
                         "could not read SHOP_BOOSTER_PUBLIC_KEY_FILE=%s: %s; refusing to start",
                         path, why);
            return false;
        }
        rj_app_token_verifier_public_key(app, "booster", pem, "booster:role");
        free(pem);
    }
    if (has_jwks)
        rj_app_token_verifier_jwks(app, "booster", jwks_uri, "booster:role");
    return true;
}

/*
 * Optional token policies, off unless their environment variable is set; they show the
 * two ways an application extends token verification (ramjet.h):
 *
 *   SHOP_REVOKED_TOKEN_IDS=jti1,jti2   a check on top of the "booster" verifiers that
 *                                      refuses the tokens whose jti is listed
 *   SHOP_API_KEYS=key=Role,key2=Role2  a custom verifier for machine clients that send
 *                                      an API key instead of a JWT
 *
 * Both lists are copied when the application is defined, never read again.
 */
static char shop_revoked[4096];  /* ",jti1,jti2," */
static char shop_api_keys[4096]; /* ",key=Role,key2=Role2," */

/* Copies the comma-separated list in @p env into @p dst as ",a,b,"; false when too long. */
static bool
copy_list(char *dst, size_t size, const char *env)
{
    const char *v = getenv(env);
    dst[0] = '\0';
    if (v == NULL || v[0] == '\0')
        return true;
    int n = snprintf(dst, size, ",%s,", v);
    if (n < 0 || (size_t)n >= size) {
        dst[0] = '\0';
        return false;
    }
    return true;
}

static rj_status_t
check_token_not_revoked(const json_t *header, const json_t *claims, rj_error_t *err)
{
    (void)header;
    const char *jti = str_field(claims, "jti");
    if (jti == NULL || jti[0] == '\0' || strchr(jti, ',') != NULL)
        return RJ_OK;
    char needle[300];
    int n = snprintf(needle, sizeof needle, ",%s,", jti);
    if (n > 0 && (size_t)n < sizeof needle && strstr(shop_revoked, needle) != NULL)
        return rj_error_set(err, RJ_EAUTH, "Token %s has been revoked", jti);
    return RJ_OK;
}

/* Compares without stopping at the first difference, so timing does not leak a key. */
static bool
secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;
    for (size_t i = 0; i < alen && i < blen; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static rj_status_t
verify_api_key(const char *token, json_t **header, json_t **claims, rj_error_t *err)
{
    (void)header;
    size_t tlen = strlen(token);
    int index = 0;
    for (const char *e = shop_api_keys + 1; *e != '\0'; index++) {
        const char *eq = strchr(e, '='), *end = strchr(e, ',');
        if (end == NULL)
            break;
        if (eq != NULL && eq < end &&
            secret_equal(token, tlen, e, (size_t)(eq - e))) {
            char sub[32];
            snprintf(sub, sizeof sub, "api-key-%d", index + 1);
            *claims = json_pack("{s:s, s:s#}", "sub", sub, "booster:role", eq + 1,
                                (int)(end - eq - 1));
            return RJ_OK;
        }
        e = end + 1;
    }
    return rj_error_set(err, RJ_EAUTH, "Unknown API key");
}

/*
 * SHOP_LOG_FILE=path: every log line of the daemon running the shop goes to that file as
 * one JSON object per line instead of stderr (rj_app_logger), with the prefix "shop".
 */
static int shop_log_fd = -1;

static void
log_json_line(rj_app_log_level_t level, const char *prefix, const char *module,
              const char *message)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "fatal"};
    json_t *line = json_pack("{s:s, s:s, s:s, s:s}", "level",
                             names[(unsigned)level < 5 ? (unsigned)level : 3], "prefix", prefix,
                             "module", module, "message", message);
    char *text = line != NULL ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (text == NULL)
        return; /* not valid UTF-8, or out of memory: nothing sensible to write */
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL: one write(2) per line keeps lines whole */
    ssize_t w = write(shop_log_fd, text, n + 1);
    (void)w;
    free(text);
}

/*
 * SHOP_ERROR_HANDLER=1: a global error handler shaped like the one of Booster's test app
 * (shop-domain.md installs none by default, so messages pass through unchanged).
 * Every error it does not swallow gets "-onError" appended to its message (its status
 * and code are kept); a command failure whose input cartId ends with "-swallow" is
 * swallowed, so the mutation answers true. Stateless, hence safe on every daemon thread.
 */
static rj_status_t
shop_on_command_handler_error(const json_t *context, rj_error_t *err)
{
    const char *cart_id = str_field(json_object_get(context, "input"), "cartId");
    static const char marker[] = "-swallow";
    size_t n = cart_id != NULL ? strlen(cart_id) : 0;
    if (n >= sizeof marker - 1 && strcmp(cart_id + n - (sizeof marker - 1), marker) == 0)
        return RJ_OK;
    return err->status;
}

static rj_status_t
shop_on_error(const json_t *context, rj_error_t *err)
{
    (void)context;
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, "-onError"); /* truncated if it must be */
    return err->status;
}

RJ_APP_DEFINE(app)
{
    rj_app_schema_file(app, "shop.graphql");

    const char *log_file = getenv("SHOP_LOG_FILE");
    if (log_file != NULL && log_file[0] != '\0') {
        shop_log_fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (shop_log_fd < 0)
            rj_log_write(RJ_APP_LOG_ERROR, "app", "could not open SHOP_LOG_FILE=%s: %s", log_file,
                         strerror(errno));
        else
            rj_app_logger(app, log_json_line);
        rj_app_log_prefix(app, "shop");
    }

    rj_app_before_command(app, "ChangeCartItem", change_cart_item_hook_quantity);
    rj_app_before_command(app, "ChangeCartItem", change_cart_item_hook_cart_id);
    rj_app_on_command(app, "ChangeCartItem", change_cart_item);
    rj_app_on_command(app, "UpdateShippingAddress", update_shipping_address);
    rj_app_on_command(app, "ConfirmPayment", confirm_payment);
    rj_app_on_command(app, "CreateProduct", create_product);
    rj_app_on_command(app, "DeleteProduct", delete_product);
    rj_app_on_command(app, "ChangeProductPrice", change_product_price);
    rj_app_on_command(app, "CreatePack", create_pack);
    rj_app_on_command(app, "RegisterCustomer", register_customer);
    rj_app_on_command(app, "RenameCustomer", rename_customer);
    rj_app_on_command(app, "EmptyCommand", empty_command);
    rj_app_on_command(app, "LogSomething", log_something);
    rj_app_authorize_command(app, "LogSomething", authorize_log_something);
    rj_app_on_command(app, "PlaceOrder", place_order);
    rj_app_on_command(app, "InspectCart", inspect_cart);
    rj_app_on_query(app, "CartTotalQuantity", cart_total_quantity);

    const char *error_handler = getenv("SHOP_ERROR_HANDLER");
    if (error_handler != NULL && strcmp(error_handler, "1") == 0)
        rj_app_error_handler(app, &(rj_error_handler_t){
                                      .on_command_handler_error = shop_on_command_handler_error,
                                      .on_error = shop_on_error,
                                  });

    rj_app_on_reduce(app, "Cart", "CartItemChanged", reduce_cart_item_changed);
    rj_app_on_reduce(app, "Cart", "ShippingAddressUpdated", reduce_shipping_address_updated);
    rj_app_on_reduce(app, "Payment", "CartPaid", reduce_cart_paid);
    rj_app_on_reduce(app, "Product", "ProductCreated", reduce_product_created);
    rj_app_on_reduce(app, "Product", "ProductDeleted", reduce_product_deleted);
    rj_app_on_reduce(app, "Product", "ProductPriceChanged", reduce_product_price_changed);
    rj_app_on_reduce(app, "Pack", "PackCreated", reduce_pack_created);
    rj_app_on_reduce(app, "Customer", "CustomerRegistered", reduce_customer_named);
    rj_app_on_reduce(app, "Customer", "CustomerRenamed", reduce_customer_named);
    rj_app_on_reduce(app, "Order", "OrderPlaced", reduce_order_placed);

    rj_app_before_read_model(app, "CartReadModel", cart_read_model_hook_throw);
    rj_app_before_read_model(app, "CartReadModel", cart_read_model_hook_rename);
    rj_app_on_project(app, "CartReadModel", "Cart", "id", project_cart);
    rj_app_on_project(app, "CartReadModel", "Payment", "cartId", project_payment);
    rj_app_on_project(app, "ProductReadModel", "Product", "id", project_product);
    rj_app_on_project(app, "ProductReadModel", "Pack", "products", project_pack);
    rj_app_on_project(app, "PriceHistoryReadModel", "Product", "id", project_price_history);
    rj_app_on_project(app, "CustomerReadModel", "Customer", "id", project_customer);
    rj_app_on_project(app, "OrderReadModel", "Order", "id", project_order);
    rj_app_on_project_query(app, "OrderReadModel", "Customer", customer_orders,
                            project_customer_order);
    rj_app_calculated_field(app, "CartReadModel", "cartItemsSize", cart_items_size);

    if (!declare_booster_verifiers(app)) {
        /* An empty key makes the loader refuse the app, naming the verifier. */
        rj_app_token_verifier_public_key(app, "booster", "", "booster:role");
        return;
    }

    if (!copy_list(shop_revoked, sizeof shop_revoked, "SHOP_REVOKED_TOKEN_IDS") ||
        !copy_list(shop_api_keys, sizeof shop_api_keys, "SHOP_API_KEYS")) {
        /* Refuse to start rather than run without a policy the operator asked for: the
           empty issuer makes the loader refuse the app; say why. */
        rj_log_write(RJ_APP_LOG_ERROR, "app",
                     "SHOP_REVOKED_TOKEN_IDS or SHOP_API_KEYS is longer than %zu bytes",
                     sizeof shop_revoked - 3);
        rj_app_token_verifier_check(app, "", NULL);
        return;
    }
    if (shop_revoked[0] != '\0')
        rj_app_token_verifier_check(app, "booster", check_token_not_revoked);
    if (shop_api_keys[0] != '\0')
        rj_app_token_verifier_custom(app, "shop-api-keys", verify_api_key, "booster:role");
}
