/*
 * test_pending.c - the gateway's pending-command table (services/gateway/pending.c), driven
 * with a fake clock: lookup by request id, deadline order, removal, growth.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "gateway/pending.h"

Test(gw_pending, take_by_request_id)
{
    gw_pending_t t;
    gw_pending_entry_t a = {0}, b = {0};

    gw_pending_init(&t, 1000);
    gw_pending_add(&t, &a, "req-a", 0);
    gw_pending_add(&t, &b, "req-b", 5);
    cr_assert_eq(gw_pending_count(&t), 2);
    cr_assert(gw_pending_contains(&t, "req-b"));
    cr_assert_not(gw_pending_contains(&t, "req-c"));

    cr_assert_eq(gw_pending_take(&t, "req-b"), &b);
    cr_assert_not(gw_pending_contains(&t, "req-b"));
    cr_assert_null(gw_pending_take(&t, "req-b"), "a second reply finds nothing");
    cr_assert_null(gw_pending_take(&t, "req-zzz"), "an unknown reply finds nothing");
    cr_assert_eq(gw_pending_count(&t), 1);
    cr_assert_eq(gw_pending_next_deadline(&t), 1000);

    cr_assert_eq(gw_pending_take(&t, "req-a"), &a);
    cr_assert_eq(gw_pending_next_deadline(&t), -1);
    gw_pending_deinit(&t);
}

Test(gw_pending, expires_in_deadline_order)
{
    gw_pending_t t;
    gw_pending_entry_t e[3];
    memset(e, 0, sizeof e);

    gw_pending_init(&t, 100);
    gw_pending_add(&t, &e[0], "r0", 10);
    gw_pending_add(&t, &e[1], "r1", 20);
    gw_pending_add(&t, &e[2], "r2", 30);

    cr_assert_eq(gw_pending_next_deadline(&t), 110);
    cr_assert_null(gw_pending_take_expired(&t, 109));
    cr_assert_eq(gw_pending_take_expired(&t, 125), &e[0]);
    cr_assert_eq(gw_pending_take_expired(&t, 125), &e[1]);
    cr_assert_null(gw_pending_take_expired(&t, 125));
    cr_assert_eq(gw_pending_next_deadline(&t), 130);
    cr_assert_eq(gw_pending_take_expired(&t, 130), &e[2]);
    cr_assert_eq(gw_pending_count(&t), 0);
    gw_pending_deinit(&t);
}

Test(gw_pending, remove_from_the_middle_keeps_order_and_is_idempotent)
{
    gw_pending_t t;
    gw_pending_entry_t e[3];
    memset(e, 0, sizeof e);

    gw_pending_init(&t, 100);
    gw_pending_add(&t, &e[0], "r0", 0);
    gw_pending_add(&t, &e[1], "r1", 1);
    gw_pending_add(&t, &e[2], "r2", 2);

    gw_pending_remove(&t, &e[1]);
    gw_pending_remove(&t, &e[1]);
    cr_assert_eq(gw_pending_count(&t), 2);
    cr_assert_null(gw_pending_take(&t, "r1"));
    cr_assert_eq(gw_pending_take_expired(&t, 1000), &e[0]);
    cr_assert_eq(gw_pending_take_expired(&t, 1000), &e[2]);

    /* A removed entry can be added again (the table keeps nothing of it). */
    gw_pending_add(&t, &e[1], "r1-again", 5);
    cr_assert_eq(gw_pending_take(&t, "r1-again"), &e[1]);
    gw_pending_deinit(&t);
}

Test(gw_pending, grows_past_its_initial_buckets)
{
    enum { N = 5000 };
    gw_pending_t t;
    gw_pending_entry_t *e = rj_xcalloc(N, sizeof *e);
    char id[RJ_UUID_STRLEN];

    gw_pending_init(&t, 10);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "request-%d", i);
        gw_pending_add(&t, &e[i], id, i);
    }
    cr_assert_eq(gw_pending_count(&t), N);
    for (int i = N - 1; i >= 0; i -= 2) {
        snprintf(id, sizeof id, "request-%d", i);
        cr_assert_eq(gw_pending_take(&t, id), &e[i], "entry %d", i);
    }
    /* The even ones are left, still in deadline order. */
    for (int i = 0; i < N; i += 2)
        cr_assert_eq(gw_pending_take_expired(&t, INT64_MAX), &e[i], "entry %d", i);
    cr_assert_eq(gw_pending_count(&t), 0);
    gw_pending_deinit(&t);
    free(e);
}

Test(gw_pending, deinit_unlinks_what_is_left)
{
    gw_pending_t t;
    gw_pending_entry_t a = {0};

    gw_pending_init(&t, 10);
    gw_pending_add(&t, &a, "left-behind", 0);
    gw_pending_deinit(&t);
    cr_assert(!a.linked);
}
