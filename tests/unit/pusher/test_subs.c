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

/* ---- filter groups ---- */

typedef struct groups_seen {
    const json_t *filters[16]; /* filter per call */
    size_t members[16];        /* subscriptions in the group per call */
    size_t n;                  /* calls */
} groups_seen_t;

static void
record_group(const json_t *filter, push_sub_t *subs, void *ud)
{
    groups_seen_t *g = ud;
    cr_assert_lt(g->n, 16);
    size_t m = 0;
    for (push_sub_t *s = subs; s != NULL; s = s->topic_next) {
        cr_assert_null(s->id, "only filter subscriptions are in groups");
        m++;
    }
    g->filters[g->n] = filter;
    g->members[g->n] = m;
    g->n++;
}

static push_sub_t *
add_filtered(push_subs_t *r, push_sub_owner_t *o, const char *op, const char *rm,
             const json_t *filter, const char *key)
{
    push_sub_spec_t spec = {
        .op_id = op, .read_model = rm, .filter = filter, .group_key = key, .op = NULL, .root = 0};
    return push_subs_add(r, o, &spec);
}

Test(pusher_subs, equal_group_keys_share_a_group_per_read_model)
{
    push_subs_t *r = push_subs_new();
    push_sub_owner_t a, b;
    push_sub_owner_init(&a, NULL);
    push_sub_owner_init(&b, NULL);
    json_t *f1 = json_pack("{s:{s:s}}", "note", "eq", "x");
    json_t *f2 = json_pack("{s:{s:s}}", "note", "eq", "y");

    add_filtered(r, &a, "1", "CartReadModel", f1, "k1");
    add_filtered(r, &b, "1", "CartReadModel", f1, "k1");
    add_filtered(r, &b, "2", "CartReadModel", f2, "k2");
    add_filtered(r, &b, "3", "OrderReadModel", f1, "k1"); /* same key, other read model */
    add(r, &a, "4", "CartReadModel", "c1", NULL);         /* by id: not a group */
    cr_assert_eq(push_subs_count(r), 5);
    cr_assert_eq(push_subs_group_count(r), 3);
    cr_assert_eq(push_subs_topic_count(r), 1);
    cr_assert_eq(f1->refcount, 3, "each group keeps one reference to its filter");

    groups_seen_t g = {0};
    cr_assert_eq(push_subs_each_group(r, "CartReadModel", record_group, &g), 2);
    size_t total = 0;
    for (size_t i = 0; i < g.n; i++) {
        total += g.members[i];
        cr_assert(g.filters[i] == f1 ? g.members[i] == 2 : g.members[i] == 1);
    }
    cr_assert_eq(total, 3);
    cr_assert_eq(push_subs_each_group(r, "NoSuchReadModel", record_group, &g), 0);

    /* A by-id change never reaches the groups' subscriptions through the row index. */
    seen_t seen = {0};
    cr_assert_eq(push_subs_match(r, "CartReadModel", "c1", NULL, record, &seen), 1);
    cr_assert(seen_op(&seen, "4"));

    /* Leaving members shrink the group; the last one frees it and its filter reference. */
    cr_assert(push_subs_remove_op(r, &a, "1"));
    cr_assert_eq(push_subs_group_count(r), 3);
    cr_assert(push_subs_remove_op(r, &b, "1"));
    cr_assert_eq(push_subs_group_count(r), 2);
    cr_assert_eq(f1->refcount, 2);
    g.n = 0;
    cr_assert_eq(push_subs_each_group(r, "CartReadModel", record_group, &g), 1);
    cr_assert(g.filters[0] == f2);

    cr_assert_eq(push_subs_remove_owner(r, &b), 2);
    cr_assert_eq(push_subs_group_count(r), 0);
    cr_assert_eq(f1->refcount, 1);
    cr_assert_eq(f2->refcount, 1);
    cr_assert_eq(push_subs_count(r), 1);
    push_subs_free(r);
    json_decref(f1);
    json_decref(f2);
}

typedef struct group_count {
    size_t n;     /* groups visited */
    size_t nulls; /* of which without a filter */
} group_count_t;

static void
count_groups(const json_t *filter, push_sub_t *subs, void *ud)
{
    group_count_t *c = ud;
    cr_assert_not_null(subs);
    c->n++;
    if (filter == NULL)
        c->nulls++;
}

Test(pusher_subs, null_filters_and_many_groups)
{
    push_subs_t *r = push_subs_new();
    push_sub_owner_t o;
    push_sub_owner_init(&o, NULL);
    json_t *null = json_null();
    add_filtered(r, &o, "all", "CartReadModel", null, "all");
    add_filtered(r, &o, "none", "CartReadModel", NULL, "none");
    for (int i = 0; i < 300; i++) {
        char op[16], key[16];
        snprintf(op, sizeof op, "op%d", i);
        snprintf(key, sizeof key, "key%d", i);
        json_t *f = json_pack("{s:{s:i}}", "n", "eq", i);
        add_filtered(r, &o, op, "CartReadModel", f, key);
        json_decref(f);
    }
    cr_assert_eq(push_subs_group_count(r), 302);
    group_count_t c = {0, 0};
    cr_assert_eq(push_subs_each_group(r, "CartReadModel", count_groups, &c), 302);
    cr_assert_eq(c.n, 302);
    cr_assert_eq(c.nulls, 2, "null and JSON null filters are both stored as NULL");
    /* Reusing an op id moves the subscription to its new group. */
    add_filtered(r, &o, "op0", "CartReadModel", NULL, "none");
    cr_assert_eq(push_subs_group_count(r), 301);
    cr_assert_eq(push_subs_count(r), 302);
    cr_assert_eq(push_subs_remove_owner(r, &o), 302);
    cr_assert_eq(push_subs_group_count(r), 0);
    push_subs_free(r);
}
