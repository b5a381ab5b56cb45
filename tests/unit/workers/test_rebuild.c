/*
 * test_rebuild.c - the pure half of `ramjet replay` (services/projector/rebuild.c): the
 * advisory-lock key every projector and replay must agree on, and folding and projecting
 * the shop's events in history order, including the orderings where projecting only final
 * states would go wrong. Needs RAMJET_BUILD_DIR (set by CTest) to find lib/libshop.so.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/core.h"
#include "log/log.h"
#include "projector/rebuild.h"

Test(rebuild, lock_key_is_stable_and_distinct)
{
    /* FNV-1a 64 of "ramjet.rm.shop.CartReadModel": changing it breaks mixed versions. */
    cr_expect_eq(proj_rm_lock_key("shop", "CartReadModel"), INT64_C(-1134020954044717332));
    cr_expect_neq(proj_rm_lock_key("shop", "CartReadModel"),
                  proj_rm_lock_key("shop", "ProductReadModel"));
    cr_expect_neq(proj_rm_lock_key("shop", "CartReadModel"),
                  proj_rm_lock_key("shop2", "CartReadModel"));
}

static rj_app_t *shop;

static void
load_shop(void)
{
    rj_core_init();
    rj_log_init("test");
    const char *dir = getenv("RAMJET_BUILD_DIR");
    cr_assert_not_null(dir, "set RAMJET_BUILD_DIR to the build directory");
    char *path = rj_xasprintf("%s/lib/libshop.so", dir);
    rj_error_t err;
    rj_error_clear(&err);
    shop = rj_app_load(path, &err);
    free(path);
    cr_assert_not_null(shop, "%s", err.msg);
}

static void
free_shop(void)
{
    rj_app_free(shop);
    shop = NULL;
}

static proj_rb_outcome_t
event(proj_rebuild_t *rb, const char *entity, const char *id, int64_t v, const char *type,
      const char *json)
{
    json_t *value = json_loads(json, 0, NULL);
    cr_assert_not_null(value, "%s", json);
    proj_rb_outcome_t out = proj_rebuild_event(rb, entity, id, v, type, value);
    json_decref(value);
    return out;
}

static const json_t *
row(proj_rebuild_t *rb, const char *id)
{
    for (size_t r = 0; r < rb->rows.n_rows; r++)
        if (strcmp(rb->rows.rows[r].id, id) == 0)
            return rb->rows.rows[r].value;
    return NULL;
}

#define PRODUCT(id)                                                                                \
    "{\"productId\":\"" id "\",\"sku\":\"s\",\"displayName\":\"d\",\"description\":\"x\","         \
    "\"price\":{\"cents\":100,\"currency\":\"EUR\"},\"featured\":false}"

Test(rebuild, history_order_keeps_a_pack_on_a_product_changed_after_it, .init = load_shop,
     .fini = free_shop)
{
    proj_rebuild_t rb;
    proj_rebuild_init(&rb, shop, rj_app_read_model(shop, "ProductReadModel"), 10);
    cr_expect_eq(event(&rb, "Product", "p1", 1, "ProductCreated", PRODUCT("p1")), PROJ_RB_FOLDED);
    cr_expect_eq(event(&rb, "Product", "p2", 1, "ProductCreated", PRODUCT("p2")), PROJ_RB_FOLDED);
    cr_expect_eq(event(&rb, "Pack", "k1", 1, "PackCreated",
                       "{\"packID\":\"k1\",\"name\":\"n\",\"products\":[\"p1\",\"p2\",\"p9\"]}"),
                 PROJ_RB_FOLDED);
    /* After the pack: folding p1 to its last state and projecting it first would lose it. */
    cr_expect_eq(event(&rb, "Product", "p1", 2, "ProductPriceChanged",
                       "{\"productId\":\"p1\",\"priceCents\":250,\"changedAt\":\"t\"}"),
                 PROJ_RB_FOLDED);
    cr_expect_eq(event(&rb, "Product", "p2", 2, "ProductDeleted", "{\"productId\":\"p2\"}"),
                 PROJ_RB_FOLDED);

    const json_t *p1 = row(&rb, "p1");
    cr_assert_not_null(p1);
    cr_expect_eq(json_array_size(json_object_get(p1, "packs")), 1);
    cr_expect_eq(json_number_value(json_object_get(json_object_get(p1, "price"), "cents")), 250.0);
    cr_expect_null(row(&rb, "p2"), "a deleted product has no read model");
    cr_expect_null(row(&rb, "p9"), "a pack never creates a product's read model");
    cr_expect_eq(rb.n_events, 5);
    cr_expect_eq(rb.n_projection_errors, 0);
    proj_rebuild_deinit(&rb);
}

Test(rebuild, versions_fold_once_in_order_and_other_types_are_ignored, .init = load_shop,
     .fini = free_shop)
{
    proj_rebuild_t rb;
    proj_rebuild_init(&rb, shop, rj_app_read_model(shop, "CartReadModel"), 10);
    const char *item = "{\"cartId\":\"c1\",\"productId\":\"a\",\"quantity\":2}";
    cr_expect_eq(event(&rb, "Cart", "c1", 2, "CartItemChanged", item), PROJ_RB_GAP);
    cr_expect_eq(event(&rb, "Cart", "c1", 1, "CartItemChanged", item), PROJ_RB_FOLDED);
    cr_expect_eq(event(&rb, "Cart", "c1", 1, "CartItemChanged", item), PROJ_RB_ALREADY);
    cr_expect_eq(event(&rb, "Cart", "c1", 2, "CartItemChanged", item), PROJ_RB_FOLDED);
    cr_expect_eq(event(&rb, "Product", "p1", 1, "ProductCreated", PRODUCT("p1")), PROJ_RB_UNKNOWN);
    /* A payment for a cart that exists keeps its items; the cart keeps the payment. */
    cr_expect_eq(event(&rb, "Payment", "pay1", 1, "CartPaid",
                       "{\"paymentId\":\"pay1\",\"cartId\":\"c1\",\"confirmationToken\":\"t\"}"),
                 PROJ_RB_FOLDED);
    cr_expect_eq(event(&rb, "Cart", "c1", 3, "CartItemChanged", item), PROJ_RB_FOLDED);

    const json_t *c1 = row(&rb, "c1");
    cr_assert_not_null(c1);
    const json_t *items = json_object_get(c1, "cartItems");
    cr_assert_eq(json_array_size(items), 1);
    cr_expect_eq(json_number_value(json_object_get(json_array_get(items, 0), "quantity")), 6.0);
    cr_expect_not_null(json_object_get(c1, "payment"));
    const proj_rb_entity_t *e = proj_rebuild_entity(&rb, "Cart", "c1");
    cr_assert_not_null(e);
    cr_expect_eq(e->version, 3);
    cr_expect_eq(rb.n_events, 4);
    proj_rebuild_deinit(&rb);
}
