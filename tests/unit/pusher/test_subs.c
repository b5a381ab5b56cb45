/*
 * test_subs.c - the pusher's subscription registry: indexing by row, matching, removal
 * by operation and by owner, sequence keys, and growth. Subscriptions carry no prepared
 * operation here (the registry never looks inside one).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "pusher/subs.h"

typedef struct seen {
    const char *ops[64]; /* op ids seen, in call order */
    void *owners[64];    /* owner data seen */
    size_t n;            /* calls */
} seen_t;

static void
record(push_sub_t *sub, void *ud)
{
    seen_t *s = ud;
    cr_assert_lt(s->n, 64);
    s->ops[s->n] = sub->op_id;
    s->owners[s->n] = sub->owner->data;
    s->n++;
}

static push_sub_t *
add(push_subs_t *r, push_sub_owner_t *o, const char *op, const char *rm, const char *id,
    const char *seq)
{
    push_sub_spec_t spec = {
        .op_id = op, .read_model = rm, .id = id, .sequence_key = seq, .op = NULL, .root = 0};
    return push_subs_add(r, o, &spec);
}

static bool
seen_op(const seen_t *s, const char *op)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ops[i], op) == 0)
            return true;
    return false;
}

Test(pusher_subs, matches_only_the_watched_row)
{
    push_subs_t *r = push_subs_new();
    int a_data, b_data;
    push_sub_owner_t a, b;
    push_sub_owner_init(&a, &a_data);
    push_sub_owner_init(&b, &b_data);

    add(r, &a, "1", "CartReadModel", "c1", NULL);
    add(r, &a, "2", "CartReadModel", "c2", NULL);
    add(r, &b, "1", "CartReadModel", "c1", NULL);
    add(r, &b, "9", "OrderReadModel", "c1", NULL);
    cr_assert_eq(push_subs_count(r), 4);
    cr_assert_eq(push_subs_topic_count(r), 3);
    cr_assert_eq(a.count, 2);
    cr_assert_eq(b.count, 2);

    seen_t s = {0};
    cr_assert_eq(push_subs_match(r, "CartReadModel", "c1", NULL, record, &s), 2);
    cr_assert_eq(s.n, 2);
    cr_assert((s.owners[0] == &a_data && s.owners[1] == &b_data) ||
              (s.owners[0] == &b_data && s.owners[1] == &a_data));

    seen_t none = {0};
    cr_assert_eq(push_subs_match(r, "CartReadModel", "c3", NULL, record, &none), 0);
    cr_assert_eq(push_subs_match(r, "Nope", "c1", NULL, record, &none), 0);
    cr_assert_eq(none.n, 0);

    push_subs_free(r);
}

Test(pusher_subs, key_parts_do_not_run_together)
{
    push_subs_t *r = push_subs_new();
    push_sub_owner_t o;
    push_sub_owner_init(&o, NULL);
    add(r, &o, "1", "ab", "c", NULL);
    seen_t s = {0};
    cr_assert_eq(push_subs_match(r, "a", "bc", NULL, record, &s), 0);
    cr_assert_eq(push_subs_match(r, "ab", "c", NULL, record, &s), 1);
    push_subs_free(r);
}

Test(pusher_subs, stop_removes_one_operation_and_its_empty_topic)
{
    push_subs_t *r = push_subs_new();
    push_sub_owner_t o;
    push_sub_owner_init(&o, NULL);
    add(r, &o, "1", "CartReadModel", "c1", NULL);
    add(r, &o, "2", "CartReadModel", "c1", NULL);
    add(r, &o, "3", "CartReadModel", "c2", NULL);

    cr_assert(push_subs_remove_op(r, &o, "2"));
    cr_assert_not(push_subs_remove_op(r, &o, "2"));
    cr_assert_null(push_subs_find_op(&o, "2"));
    cr_assert_not_null(push_subs_find_op(&o, "1"));
    cr_assert_eq(o.count, 2);
    cr_assert_eq(push_subs_topic_count(r), 2);

    seen_t s = {0};
    cr_assert_eq(push_subs_match(r, "CartReadModel", "c1", NULL, record, &s), 1);
    cr_assert_str_eq(s.ops[0], "1");

    cr_assert(push_subs_remove_op(r, &o, "3"));
    cr_assert_eq(push_subs_topic_count(r), 1);
    push_subs_free(r);
}

Test(pusher_subs, reusing_an_operation_id_replaces_the_subscription)
{
    push_subs_t *r = push_subs_new();
    push_sub_owner_t o;
    push_sub_owner_init(&o, NULL);
    add(r, &o, "1", "CartReadModel", "c1", NULL);
    add(r, &o, "1", "CartReadModel", "c2", NULL);
    cr_assert_eq(o.count, 1);
    cr_assert_eq(push_subs_count(r), 1);
    cr_assert_eq(push_subs_topic_count(r), 1);
    seen_t s = {0};
    cr_assert_eq(push_subs_match(r, "CartReadModel", "c1", NULL, record, &s), 0);
    cr_assert_eq(push_subs_match(r, "CartReadModel", "c2", NULL, record, &s), 1);
    push_subs_free(r);
}

Test(pusher_subs, owner_removal_leaves_other_owners_alone)
{
    push_subs_t *r = push_subs_new();
    push_sub_owner_t a, b;
    push_sub_owner_init(&a, NULL);
    push_sub_owner_init(&b, NULL);
    add(r, &a, "1", "CartReadModel", "c1", NULL);
    add(r, &a, "2", "CartReadModel", "c2", NULL);
    add(r, &b, "1", "CartReadModel", "c1", NULL);

    cr_assert_eq(push_subs_remove_owner(r, &a), 2);
    cr_assert_eq(a.count, 0);
    cr_assert_null(a.head);
    cr_assert_eq(push_subs_count(r), 1);
    cr_assert_eq(push_subs_topic_count(r), 1);
    seen_t s = {0};
    cr_assert_eq(push_subs_match(r, "CartReadModel", "c1", NULL, record, &s), 1);
    cr_assert_eq(push_subs_remove_owner(r, &a), 0);
    push_subs_free(r);
}

Test(pusher_subs, sequence_key_narrows_a_subscription_to_one_row)
{
    push_subs_t *r = push_subs_new();
    push_sub_owner_t o;
    push_sub_owner_init(&o, NULL);
    add(r, &o, "all", "PriceHistoryReadModel", "p1", NULL);
    add(r, &o, "one", "PriceHistoryReadModel", "p1", "2024-01-01");

    seen_t s1 = {0};
    cr_assert_eq(push_subs_match(r, "PriceHistoryReadModel", "p1", "2024-01-01", record, &s1), 2);
    seen_t s2 = {0};
    cr_assert_eq(push_subs_match(r, "PriceHistoryReadModel", "p1", "2024-02-01", record, &s2), 1);
    cr_assert(seen_op(&s2, "all"));
    seen_t s3 = {0};
    cr_assert_eq(push_subs_match(r, "PriceHistoryReadModel", "p1", NULL, record, &s3), 1);
    cr_assert(seen_op(&s3, "all"));
    push_subs_free(r);
}

Test(pusher_subs, many_rows_survive_table_growth)
{
    push_subs_t *r = push_subs_new();
    enum { N = 5000 };
    static push_sub_owner_t owners[N];
    char id[32], op[32];
    for (int i = 0; i < N; i++) {
        push_sub_owner_init(&owners[i], NULL);
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(op, sizeof op, "%d", i);
        add(r, &owners[i], op, "CartReadModel", id, NULL);
    }
    cr_assert_eq(push_subs_topic_count(r), N);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "id-%d", i);
        seen_t s = {0};
        cr_assert_eq(push_subs_match(r, "CartReadModel", id, NULL, record, &s), 1, "row %d", i);
    }
    for (int i = 0; i < N; i += 2)
        push_subs_remove_owner(r, &owners[i]);
    cr_assert_eq(push_subs_count(r), N / 2);
    cr_assert_eq(push_subs_topic_count(r), N / 2);
    /* The rest is freed with the registry, which empties the owners it touches. */
    push_subs_free(r);
    for (int i = 1; i < N; i += 2)
        cr_assert_eq(owners[i].count, 0);
}
