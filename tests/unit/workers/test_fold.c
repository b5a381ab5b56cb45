/*
 * test_fold.c - the reducer's grouping and folding decisions (services/reducer/fold.c),
 * with a fake reducer instead of an application library.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "reducer/fold.h"
#include "json/envelope.h"

/* Encodes an event envelope for entity Cart/<id> at @p version; "fail" in @p op makes the
 * fake reducer fail, "scalar" makes it return a non-object, "swallowed" makes it answer as
 * rj_app_reduce does for a failure the global error handler swallowed. */
static char *
event_json(const char *entity_id, int64_t version, const char *op)
{
    char name[64], id[RJ_UUID_STRLEN];
    snprintf(name, sizeof name, "%s/%lld", entity_id, (long long)version);
    rj_uuid_derive(id, "test", name);
    json_t *value = json_pack("{s:s}", "op", op);
    const rj_env_event_t env = {
        .event_id = id,
        .type = "CartItemChanged",
        .entity = "Cart",
        .entity_id = entity_id,
        .version = version,
        .request_id = "req-1",
        .created_at = "2026-11-22T10:00:00.130Z",
        .value = value,
    };
    char *s = rj_env_event_encode(&env);
    json_decref(value);
    return s;
}

static void
add(red_batch_t *b, const char *entity_id, int64_t version, const char *op)
{
    char *s = event_json(entity_id, version, op);
    rj_error_t err;
    cr_assert_eq(red_batch_add(b, s, strlen(s), b->n_events, &err), RJ_OK, "%s", err.msg);
    free(s);
}

/* The fake reducer: the state counts folds in "n" and records the last version seen. */
static rj_status_t
fake_reduce(void *opaque, const rj_env_event_t *ev, const json_t *current, json_t **out,
            rj_error_t *err)
{
    int *calls = opaque;
    (*calls)++;
    const char *op = json_string_value(json_object_get(ev->value, "op"));
    if (strcmp(op, "fail") == 0)
        return rj_error_set(err, RJ_EHANDLER, "cart is closed");
    if (strcmp(op, "scalar") == 0) {
        *out = json_integer(1);
        return RJ_OK;
    }
    if (strcmp(op, "swallowed") == 0) {
        /* What rj_app_reduce returns when the global error handler swallowed a failure:
           the state unchanged, NULL when there is none. */
        *out = current != NULL ? json_incref((json_t *)current) : NULL;
        return RJ_OK;
    }
    json_int_t n = json_integer_value(json_object_get(current, "n"));
    *out = json_pack("{s:I, s:I}", "n", n + 1, "last", (json_int_t)ev->version);
    return RJ_OK;
}

Test(fold, verdicts)
{
    cr_assert_eq(red_verdict(0, 1), RED_APPLY);
    cr_assert_eq(red_verdict(3, 4), RED_APPLY);
    cr_assert_eq(red_verdict(3, 3), RED_DUPLICATE);
    cr_assert_eq(red_verdict(3, 1), RED_DUPLICATE);
    cr_assert_eq(red_verdict(3, 5), RED_GAP);
    cr_assert_eq(red_verdict(0, 2), RED_GAP);
}

Test(fold, groups_by_entity_keeping_log_order)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 1, "add");
    add(&b, "c2", 1, "add");
    add(&b, "c1", 2, "add");
    add(&b, "c2", 2, "add");
    add(&b, "c1", 3, "add");
    cr_assert_eq(b.n_entities, 2);
    cr_assert_str_eq(b.entities[0].entity_id, "c1");
    cr_assert_eq(b.entities[0].n_events, 3);
    cr_assert_eq(b.entities[0].events[0], 0);
    cr_assert_eq(b.entities[0].events[1], 2);
    cr_assert_eq(b.entities[0].events[2], 4);
    cr_assert_eq(b.entities[1].n_events, 2);
    cr_assert_eq(red_batch_find(&b, "Cart", "c2"), &b.entities[1]);
    cr_assert_null(red_batch_find(&b, "Cart", "c3"));
    cr_assert_null(red_batch_find(&b, "Order", "c1"));
    red_batch_deinit(&b);
}

Test(fold, malformed_message_leaves_batch_unchanged)
{
    red_batch_t b;
    red_batch_init(&b);
    rj_error_t err;
    cr_assert_eq(red_batch_add(&b, "{\"eventId\":", 11, 0, &err), RJ_EPROTO);
    cr_assert(strstr(err.msg, "could not decode event envelope") != NULL, "%s", err.msg);
    cr_assert_eq(red_batch_add(&b, NULL, 0, 1, &err), RJ_EPROTO);
    cr_assert_eq(b.n_events, 0);
    cr_assert_eq(b.n_entities, 0);
    red_batch_deinit(&b);
}

Test(fold, skips_duplicates_and_folds_in_order)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 2, "add"); /* already in the stored snapshot */
    add(&b, "c1", 3, "add");
    add(&b, "c1", 3, "add"); /* redelivered inside the batch */
    add(&b, "c1", 4, "add");
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 2, json_pack("{s:i}", "n", 2));

    int calls = 0;
    red_fold_stats_t st;
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(calls, 2);
    cr_assert_eq(st.applied, 2);
    cr_assert_eq(st.duplicates, 2);
    cr_assert_eq(b.events[0].outcome, RED_SKIPPED);
    cr_assert_eq(b.events[1].outcome, RED_APPLIED);
    cr_assert_eq(b.events[2].outcome, RED_SKIPPED);
    cr_assert_eq(b.events[3].outcome, RED_APPLIED);
    const red_entity_t *e = &b.entities[0];
    cr_assert(red_entity_changed(e));
    cr_assert_eq(e->version, 4);
    cr_assert_eq(e->last_event, 3);
    cr_assert_eq(json_integer_value(json_object_get(e->value, "n")), 4);
    red_batch_deinit(&b);
}

Test(fold, gap_is_reported_and_never_folded)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 3, "add");
    add(&b, "c1", 4, "add");
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 1, json_pack("{s:i}", "n", 1));

    int calls = 0;
    red_fold_stats_t st;
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(calls, 0, "nothing after a hole is folded");
    cr_assert_eq(st.gaps, 2);
    cr_assert_eq(b.events[0].outcome, RED_GAPPED);
    cr_assert_eq(b.events[1].outcome, RED_GAPPED);
    cr_assert(strstr(b.events[0].error, "expected version 2 but got 3") != NULL, "%s",
              b.events[0].error);
    cr_assert_not(red_entity_changed(&b.entities[0]), "the stored snapshot stays as it is");
    cr_assert_eq(b.entities[0].version, 1);
    red_batch_deinit(&b);
}

Test(fold, failing_reducer_skips_event_but_advances_version)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 1, "add");
    add(&b, "c1", 2, "fail");
    add(&b, "c1", 3, "scalar");
    add(&b, "c1", 4, "add");
    red_batch_reset(&b);

    int calls = 0;
    red_fold_stats_t st;
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(st.applied, 2);
    cr_assert_eq(st.failed, 2);
    cr_assert_eq(b.events[1].outcome, RED_FAILED);
    cr_assert(strstr(b.events[1].error, "cart is closed") != NULL, "%s", b.events[1].error);
    cr_assert_eq(b.events[2].outcome, RED_FAILED, "a non-object state is a failure");
    const red_entity_t *e = &b.entities[0];
    cr_assert_eq(e->version, 4);
    cr_assert_eq(json_integer_value(json_object_get(e->value, "n")), 2,
                 "the failed events left the state as it was");
    cr_assert_eq(json_integer_value(json_object_get(e->value, "last")), 4);
    red_batch_deinit(&b);
}

Test(fold, failing_first_event_advances_an_entity_without_state)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 1, "fail");
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 0, json_null()); /* JSON null reads as none */
    int calls = 0;
    red_fold_stats_t st;
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert(red_entity_changed(&b.entities[0]));
    cr_assert_eq(b.entities[0].version, 1);
    cr_assert_null(b.entities[0].value);
    red_batch_deinit(&b);
}

Test(fold, retried_attempt_folds_the_same)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 1, "add");
    add(&b, "c1", 2, "fail");
    add(&b, "c2", 5, "add");
    int calls = 0;
    red_fold_stats_t st;
    for (int attempt = 0; attempt < 2; attempt++) {
        red_batch_reset(&b);
        red_entity_set_stored(&b.entities[1], 4, json_pack("{s:i}", "n", 4));
        red_batch_fold(&b, fake_reduce, &calls, &st);
        cr_assert_eq(st.applied, 2);
        cr_assert_eq(st.failed, 1);
        cr_assert_eq(b.entities[0].version, 2);
        cr_assert_eq(b.entities[1].version, 5);
        cr_assert_eq(json_integer_value(json_object_get(b.entities[1].value, "n")), 5);
    }
    red_batch_deinit(&b);
}

Test(fold, swallowed_failure_is_a_silent_no_op)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 1, "swallowed"); /* first event: the entity stays without state */
    add(&b, "c1", 2, "add");
    add(&b, "c1", 3, "swallowed"); /* later event: the state stays as it was */
    red_batch_reset(&b);
    int calls = 0;
    red_fold_stats_t st;
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(st.failed, 0, "a swallowed failure is not reported");
    cr_assert_eq(st.applied, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(b.events[i].outcome, RED_APPLIED);
        cr_assert_null(b.events[i].error, "nothing to dead-letter");
    }
    const red_entity_t *e = &b.entities[0];
    cr_assert_eq(e->version, 3);
    cr_assert_eq(e->last_event, 2);
    cr_assert_eq(json_integer_value(json_object_get(e->value, "n")), 1);
    cr_assert_eq(json_integer_value(json_object_get(e->value, "last")), 2);
    red_batch_deinit(&b);
}
