/*
 * test_index.c - the composite-key hash index of worker_common.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "core/core.h"
#include "worker_common/index.h"

Test(index, inserts_finds_and_grows)
{
    wk_index_t ix;
    wk_index_init(&ix);
    char a[32], b[32];
    for (size_t i = 0; i < 5000; i++) {
        snprintf(a, sizeof a, "Cart%zu", i % 7);
        snprintf(b, sizeof b, "id-%zu", i);
        const char *k[] = {a, b};
        size_t v = i;
        cr_assert_not(wk_index_upsert(&ix, k, 2, &v));
    }
    cr_assert_eq(ix.len, 5000);
    for (size_t i = 0; i < 5000; i++) {
        snprintf(a, sizeof a, "Cart%zu", i % 7);
        snprintf(b, sizeof b, "id-%zu", i);
        const char *k[] = {a, b};
        size_t v = 99999;
        cr_assert(wk_index_find(&ix, k, 2, &v));
        cr_assert_eq(v, i);
        v = 12345;
        cr_assert(wk_index_upsert(&ix, k, 2, &v), "a second upsert finds the key");
        cr_assert_eq(v, i, "and returns the stored value, not the one passed in");
    }
    const char *missing[] = {"Cart1", "id-5000"};
    size_t v = 7;
    cr_assert_not(wk_index_find(&ix, missing, 2, &v));
    cr_assert_eq(v, 7, "a miss leaves the value untouched");
    wk_index_deinit(&ix);
}

Test(index, parts_do_not_run_into_each_other)
{
    wk_index_t ix;
    wk_index_init(&ix);
    const char *k1[] = {"ab", "c"};
    const char *k2[] = {"a", "bc"};
    const char *k3[] = {"a", "b", "c"};
    const char *k4[] = {"a", "b", ""};
    size_t v = 1;
    cr_assert_not(wk_index_upsert(&ix, k1, 2, &v));
    v = 2;
    cr_assert_not(wk_index_upsert(&ix, k2, 2, &v));
    v = 3;
    cr_assert_not(wk_index_upsert(&ix, k3, 3, &v));
    v = 4;
    cr_assert_not(wk_index_upsert(&ix, k4, 3, &v));
    cr_assert(wk_index_find(&ix, k1, 2, &v) && v == 1);
    cr_assert(wk_index_find(&ix, k2, 2, &v) && v == 2);
    cr_assert(wk_index_find(&ix, k3, 3, &v) && v == 3);
    cr_assert(wk_index_find(&ix, k4, 3, &v) && v == 4);
    wk_index_deinit(&ix);
}

Test(index, long_keys_and_reset)
{
    wk_index_t ix;
    wk_index_init(&ix);
    char *big = rj_xmalloc(1001);
    memset(big, 'x', 1000);
    big[1000] = '\0';
    const char *k[] = {"Product", big};
    size_t v = 42;
    cr_assert_not(wk_index_upsert(&ix, k, 2, &v));
    cr_assert(wk_index_find(&ix, k, 2, &v) && v == 42);

    wk_index_reset(&ix);
    cr_assert_eq(ix.len, 0);
    cr_assert_not(wk_index_find(&ix, k, 2, &v));
    v = 43;
    cr_assert_not(wk_index_upsert(&ix, k, 2, &v), "a reset index takes keys again");
    cr_assert(wk_index_find(&ix, k, 2, &v) && v == 43);
    free(big);
    wk_index_deinit(&ix);
}
