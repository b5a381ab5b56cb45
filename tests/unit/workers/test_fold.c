/*
 * test_fold.c - the reducer's grouping and folding decisions (services/reducer/fold.c),
 * with a fake reducer instead of an application library, and gaps filled from events
 * made up here (the daemon reads them from PostgreSQL: tests/unit/entity, entity_pg).
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
    cr_assert_eq(e->last, &b.events[3]);
    cr_assert_eq(json_integer_value(json_object_get(e->value, "n")), 4);
    red_batch_deinit(&b);
}

Test(fold, gap_without_fill_is_reported_and_never_folded)
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
    cr_assert(strstr(b.events[0].error, "expected version 2 but got 3; version(s) 2 in neither "
                                        "the event store nor the command outbox") != NULL,
              "%s", b.events[0].error);
    cr_assert(strstr(b.events[1].error, "expected version 2 but got 4; version(s) 2-3 in") != NULL,
              "%s", b.events[1].error);
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
    cr_assert_eq(e->last, &b.events[2]);
    cr_assert_eq(json_integer_value(json_object_get(e->value, "n")), 1);
    cr_assert_eq(json_integer_value(json_object_get(e->value, "last")), 2);
    red_batch_deinit(&b);
}

/* ---- gaps filled from events read beforehand ---- */

/* Decoded envelopes of Cart/<id> at the versions in @p versions (0-terminated), as
 * rj_entity_query_events returns them; @p ops gives each one's op (NULL: all "add"). */
static rj_env_event_t *
fill_events(const char *entity_id, const int64_t *versions, const char *const *ops, size_t *n)
{
    size_t count = 0;
    while (versions[count] != 0)
        count++;
    rj_env_event_t *evs = rj_xcalloc(count > 0 ? count : 1, sizeof *evs);
    for (size_t i = 0; i < count; i++) {
        char *s = event_json(entity_id, versions[i], ops != NULL ? ops[i] : "add");
        rj_error_t err;
        cr_assert_eq(rj_env_event_decode(s, strlen(s), &evs[i], &err), RJ_OK, "%s", err.msg);
        free(s);
    }
    *n = count;
    return evs;
}

static void
give_fill(red_entity_t *e, const int64_t *versions, const char *const *ops)
{
    size_t n;
    rj_env_event_t *evs = fill_events(e->entity_id, versions, ops, &n);
    red_entity_take_fill(e, evs, n);
}

Test(fold, missing_versions_are_one_range_from_first_to_last_hole)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "in-order", 3, "add");
    add(&b, "in-order", 4, "add");
    add(&b, "in-order", 2, "add"); /* a redelivery is no gap */
    add(&b, "holes", 1, "add");
    add(&b, "holes", 2, "add");
    add(&b, "holes", 5, "add"); /* needs 3-4 */
    add(&b, "holes", 6, "add");
    add(&b, "holes", 9, "add"); /* needs 7-8 */
    add(&b, "fresh", 3, "add"); /* no snapshot at all: needs 1-2 */
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 2, json_object());

    int64_t from = -1, to = -1;
    cr_assert_not(red_entity_missing(&b, &b.entities[0], &from, &to));
    cr_assert_eq(from, -1, "untouched without a gap");
    cr_assert(red_entity_missing(&b, &b.entities[1], &from, &to));
    cr_assert_eq(from, 3);
    cr_assert_eq(to, 8);
    cr_assert(red_entity_missing(&b, &b.entities[2], &from, &to));
    cr_assert_eq(from, 1);
    cr_assert_eq(to, 2);
    red_batch_deinit(&b);
}

Test(fold, gap_is_filled_from_supplied_events_in_version_order)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 7, "add"); /* v5 and v6 were produced late, by other processors */
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 4, json_pack("{s:i, s:i}", "n", 4, "last", 4));
    give_fill(&b.entities[0], (const int64_t[]){5, 6, 0}, NULL);

    int calls = 0;
    red_fold_stats_t st;
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(calls, 3);
    cr_assert_eq(st.filled, 2);
    cr_assert_eq(st.applied, 1);
    cr_assert_eq(st.gaps, 0);
    const red_entity_t *e = &b.entities[0];
    cr_assert_eq(e->fill[0].outcome, RED_APPLIED);
    cr_assert_eq(e->fill[1].outcome, RED_APPLIED);
    cr_assert_eq(b.events[0].outcome, RED_APPLIED);
    cr_assert_null(b.events[0].error);
    cr_assert_eq(e->version, 7);
    cr_assert_eq(e->last, &b.events[0]);
    cr_assert_eq(json_integer_value(json_object_get(e->value, "n")), 7, "5, 6 and 7 all folded");
    cr_assert_eq(json_integer_value(json_object_get(e->value, "last")), 7);

    /* The same snapshot as if the log had delivered 5, 6, 7 in order. */
    red_batch_t in_order;
    red_batch_init(&in_order);
    add(&in_order, "c1", 5, "add");
    add(&in_order, "c1", 6, "add");
    add(&in_order, "c1", 7, "add");
    red_batch_reset(&in_order);
    red_entity_set_stored(&in_order.entities[0], 4, json_pack("{s:i, s:i}", "n", 4, "last", 4));
    red_batch_fold(&in_order, fake_reduce, &calls, &st);
    cr_assert(json_equal(in_order.entities[0].value, e->value));
    cr_assert_str_eq(in_order.entities[0].last->env.event_id, e->last->env.event_id);
    red_batch_deinit(&in_order);
    red_batch_deinit(&b);
}

Test(fold, snapshot_can_end_on_a_filled_event)
{
    /* Events after the gap that are in the batch are folded from the batch; versions the
       batch lacks entirely, below its events, come from the fill; last points at the
       newest folded, whichever side it is on. */
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 3, "add");
    add(&b, "c1", 2, "add"); /* arrives after 3 in the log: a copy once filled */
    red_batch_reset(&b);
    give_fill(&b.entities[0], (const int64_t[]){1, 2, 0}, NULL);
    int calls = 0;
    red_fold_stats_t st;
    red_batch_fold(&b, fake_reduce, &calls, &st);
    const red_entity_t *e = &b.entities[0];
    cr_assert_eq(st.filled, 2);
    cr_assert_eq(st.applied, 1);
    cr_assert_eq(st.duplicates, 1);
    cr_assert_eq(b.events[1].outcome, RED_SKIPPED);
    cr_assert_eq(e->version, 3);
    cr_assert_eq(e->fill[0].msg, 0, "a filled event points at the event whose gap it filled");
    red_batch_deinit(&b);

    red_batch_init(&b);
    add(&b, "c2", 1, "add");
    add(&b, "c2", 4, "add");
    red_batch_reset(&b);
    give_fill(&b.entities[0], (const int64_t[]){2, 3, 0}, NULL);
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(b.entities[0].version, 4);
    cr_assert_eq(b.entities[0].fill[1].msg, 1);
    cr_assert_eq(b.entities[0].last, &b.events[1]);
    red_batch_deinit(&b);
}

Test(fold, a_version_found_nowhere_is_named_and_never_folded_across)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 8, "add");
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 4, json_pack("{s:i}", "n", 4));
    give_fill(&b.entities[0], (const int64_t[]){5, 7, 0}, NULL); /* 6 is nowhere */

    int calls = 0;
    red_fold_stats_t st;
    red_batch_fold(&b, fake_reduce, &calls, &st);
    const red_entity_t *e = &b.entities[0];
    cr_assert_eq(calls, 1, "only 5, before the hole, is folded");
    cr_assert_eq(st.filled, 1);
    cr_assert_eq(st.gaps, 1);
    cr_assert_eq(e->fill[0].outcome, RED_APPLIED);
    cr_assert_eq(e->fill[1].outcome, RED_PENDING, "7 is beyond the hole");
    cr_assert_eq(b.events[0].outcome, RED_GAPPED);
    cr_assert(strstr(b.events[0].error, "expected version 6 but got 8; version(s) 6 in neither "
                                        "the event store nor the command outbox "
                                        "entity=Cart/c1") != NULL,
              "%s", b.events[0].error);
    cr_assert_eq(e->version, 5, "the snapshot stops where the events stop");
    cr_assert_eq(e->last, &e->fill[0]);
    cr_assert(red_entity_changed(e), "5 is real and in order: its snapshot is written");
    red_batch_deinit(&b);

    /* Several holes, none fillable from the stored version: every one is named. */
    red_batch_init(&b);
    add(&b, "c2", 9, "add");
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 1, json_pack("{s:i}", "n", 1));
    give_fill(&b.entities[0], (const int64_t[]){3, 6, 0}, NULL);
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(st.filled, 0);
    cr_assert(strstr(b.events[0].error, "version(s) 2, 4-5, 7-8 in neither") != NULL, "%s",
              b.events[0].error);
    cr_assert_not(red_entity_changed(&b.entities[0]));
    red_batch_deinit(&b);

    /* No fill at all, then the hole's own message arrives in a later batch: the entity
       recovers (the old reducer stayed stuck: every later event was a gap too). */
    red_batch_init(&b);
    add(&b, "c3", 6, "add");
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 4, json_pack("{s:i}", "n", 4));
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(st.gaps, 1);
    cr_assert_eq(b.entities[0].version, 4);
    red_batch_deinit(&b);
    red_batch_init(&b);
    add(&b, "c3", 5, "add");
    add(&b, "c3", 7, "add");
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 4, json_pack("{s:i}", "n", 4));
    int64_t from, to;
    cr_assert(red_entity_missing(&b, &b.entities[0], &from, &to));
    cr_assert_eq(from, 6);
    cr_assert_eq(to, 6);
    give_fill(&b.entities[0], (const int64_t[]){6, 0}, NULL); /* stored by now */
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(st.applied, 2);
    cr_assert_eq(st.filled, 1);
    cr_assert_eq(b.entities[0].version, 7);
    red_batch_deinit(&b);
}

Test(fold, redeliveries_after_a_fill_are_skipped)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "c1", 6, "add");
    add(&b, "c1", 5, "add"); /* the late event, in the same batch */
    add(&b, "c1", 6, "add");
    add(&b, "c1", 7, "add");
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 4, json_pack("{s:i}", "n", 4));
    give_fill(&b.entities[0], (const int64_t[]){5, 0}, NULL);
    int calls = 0;
    red_fold_stats_t st;
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(calls, 3);
    cr_assert_eq(st.filled, 1);
    cr_assert_eq(st.applied, 2);
    cr_assert_eq(st.duplicates, 2);
    cr_assert_eq(b.events[1].outcome, RED_SKIPPED);
    cr_assert_eq(b.events[2].outcome, RED_SKIPPED);
    cr_assert_eq(json_integer_value(json_object_get(b.entities[0].value, "n")), 7);
    red_batch_deinit(&b);

    /* The late event in a later batch, on the snapshot the fill wrote. */
    red_batch_init(&b);
    add(&b, "c1", 5, "add");
    red_batch_reset(&b);
    red_entity_set_stored(&b.entities[0], 7, json_pack("{s:i}", "n", 7));
    int64_t from, to;
    cr_assert_not(red_entity_missing(&b, &b.entities[0], &from, &to));
    red_batch_fold(&b, fake_reduce, &calls, &st);
    cr_assert_eq(st.duplicates, 1);
    cr_assert_not(red_entity_changed(&b.entities[0]));
    red_batch_deinit(&b);
}

Test(fold, several_entities_in_one_batch)
{
    red_batch_t b;
    red_batch_init(&b);
    add(&b, "filled", 3, "add");
    add(&b, "plain", 1, "add");
    add(&b, "hole", 4, "add");
    add(&b, "failing", 2, "add");
    add(&b, "plain", 2, "add");
    add(&b, "filled", 4, "add");
    red_batch_reset(&b);
    red_entity_t *filled = red_batch_find(&b, "Cart", "filled");
    red_entity_t *plain = red_batch_find(&b, "Cart", "plain");
    red_entity_t *hole = red_batch_find(&b, "Cart", "hole");
    red_entity_t *failing = red_batch_find(&b, "Cart", "failing");
    red_entity_set_stored(filled, 1, json_pack("{s:i}", "n", 1));
    red_entity_set_stored(hole, 2, json_pack("{s:i}", "n", 2));
    int64_t from, to;
    cr_assert(red_entity_missing(&b, filled, &from, &to));
    cr_assert_not(red_entity_missing(&b, plain, &from, &to));
    cr_assert(red_entity_missing(&b, hole, &from, &to));
    cr_assert(red_entity_missing(&b, failing, &from, &to));
    give_fill(filled, (const int64_t[]){2, 0}, NULL);
    give_fill(hole, (const int64_t[]){0}, NULL); /* PostgreSQL has nothing */
    give_fill(failing, (const int64_t[]){1, 0}, (const char *const[]){"fail"});

    for (int attempt = 0; attempt < 2; attempt++) {
        int calls = 0;
        red_fold_stats_t st;
        red_batch_fold(&b, fake_reduce, &calls, &st);
        cr_assert_eq(st.filled, 2, "attempt %d", attempt);
        cr_assert_eq(st.applied, 5);
        cr_assert_eq(st.gaps, 1);
        cr_assert_eq(st.failed, 1, "the filled event whose reducer failed");
        cr_assert_eq(filled->version, 4);
        cr_assert_eq(json_integer_value(json_object_get(filled->value, "n")), 4);
        cr_assert_eq(plain->version, 2);
        cr_assert_eq(hole->version, 2);
        cr_assert_eq(b.events[2].outcome, RED_GAPPED);
        cr_assert(strstr(b.events[2].error, "version(s) 3 in neither") != NULL, "%s",
                  b.events[2].error);
        cr_assert_eq(failing->version, 2);
        cr_assert_eq(failing->fill[0].outcome, RED_FAILED);
        cr_assert_eq(failing->fill[0].msg, 3);
        cr_assert(strstr(failing->fill[0].error, "cart is closed") != NULL, "%s",
                  failing->fill[0].error);
        cr_assert_eq(json_integer_value(json_object_get(failing->value, "n")), 1,
                     "a failed first event leaves no state; the next one starts it");

        /* A retried attempt starts over: the fill is forgotten and read again. */
        red_batch_reset(&b);
        cr_assert_eq(filled->n_fill, 0);
        cr_assert_null(filled->last);
        red_entity_set_stored(filled, 1, json_pack("{s:i}", "n", 1));
        red_entity_set_stored(hole, 2, json_pack("{s:i}", "n", 2));
        give_fill(filled, (const int64_t[]){2, 0}, NULL);
        give_fill(hole, (const int64_t[]){0}, NULL);
        give_fill(failing, (const int64_t[]){1, 0}, (const char *const[]){"fail"});
    }
    red_batch_deinit(&b);
}
