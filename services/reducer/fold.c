/*
 * reducer/fold.c - grouping a batch by entity and folding it (see fold.h).
 */
#include "fold.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

red_verdict_t
red_verdict(int64_t current, int64_t version)
{
    if (version <= current)
        return RED_DUPLICATE;
    if (version == current + 1)
        return RED_APPLY;
    return RED_GAP;
}

void
red_batch_init(red_batch_t *b)
{
    memset(b, 0, sizeof *b);
    wk_index_init(&b->index);
}

void
red_batch_deinit(red_batch_t *b)
{
    for (size_t i = 0; i < b->n_events; i++) {
        rj_env_event_deinit(&b->events[i].env);
        free(b->events[i].error);
    }
    for (size_t i = 0; i < b->n_entities; i++) {
        free(b->entities[i].events);
        json_decref(b->entities[i].value);
    }
    free(b->events);
    free(b->entities);
    wk_index_deinit(&b->index);
    red_batch_init(b);
}

rj_status_t
red_batch_add(red_batch_t *b, const char *payload, size_t len, size_t msg, rj_error_t *err)
{
    rj_env_event_t env;
    rj_status_t st = rj_env_event_decode(payload != NULL ? payload : "", len, &env, err);
    if (st != RJ_OK)
        return st;

    if (b->n_events == b->cap_events) {
        b->cap_events = b->cap_events ? b->cap_events * 2 : 256;
        b->events = rj_xrealloc(b->events, b->cap_events * sizeof *b->events);
    }
    size_t ev = b->n_events++;
    b->events[ev] = (red_event_t){.env = env, .msg = msg, .outcome = RED_PENDING};

    const char *key[] = {env.entity, env.entity_id};
    size_t ent = b->n_entities;
    if (!wk_index_upsert(&b->index, key, 2, &ent)) {
        if (b->n_entities == b->cap_entities) {
            b->cap_entities = b->cap_entities ? b->cap_entities * 2 : 64;
            b->entities = rj_xrealloc(b->entities, b->cap_entities * sizeof *b->entities);
        }
        /* The strings are borrowed from the first event's document, which lives as long
         * as the batch; events are never removed. */
        b->entities[b->n_entities++] = (red_entity_t){
            .entity = b->events[ev].env.entity,
            .entity_id = b->events[ev].env.entity_id,
        };
    }
    red_entity_t *e = &b->entities[ent];
    if (e->n_events == e->cap_events) {
        e->cap_events = e->cap_events ? e->cap_events * 2 : 4;
        e->events = rj_xrealloc(e->events, e->cap_events * sizeof *e->events);
    }
    e->events[e->n_events++] = ev;
    return RJ_OK;
}

void
red_batch_reset(red_batch_t *b)
{
    for (size_t i = 0; i < b->n_events; i++) {
        b->events[i].outcome = RED_PENDING;
        free(b->events[i].error);
        b->events[i].error = NULL;
    }
    for (size_t i = 0; i < b->n_entities; i++) {
        red_entity_t *e = &b->entities[i];
        json_decref(e->value);
        e->value = NULL;
        e->stored_version = 0;
        e->version = 0;
        e->last_event = 0;
    }
}

red_entity_t *
red_batch_find(red_batch_t *b, const char *entity, const char *id)
{
    const char *key[] = {entity, id};
    size_t ent;
    return wk_index_find(&b->index, key, 2, &ent) ? &b->entities[ent] : NULL;
}

void
red_entity_set_stored(red_entity_t *e, int64_t version, json_t *value)
{
    if (value != NULL && json_is_null(value)) {
        json_decref(value);
        value = NULL;
    }
    json_decref(e->value);
    e->value = value;
    e->stored_version = version;
    e->version = version;
}

bool
red_entity_changed(const red_entity_t *e)
{
    return e->version > e->stored_version;
}

static void
fold_entity(red_batch_t *b, red_entity_t *e, red_reduce_fn reduce, void *opaque,
            red_fold_stats_t *stats)
{
    for (size_t k = 0; k < e->n_events; k++) {
        size_t i = e->events[k];
        red_event_t *ev = &b->events[i];
        switch (red_verdict(e->version, ev->env.version)) {
        case RED_DUPLICATE:
            ev->outcome = RED_SKIPPED;
            stats->duplicates++;
            continue;
        case RED_GAP:
            ev->outcome = RED_GAPPED;
            ev->error = rj_xasprintf("could not reduce event: version gap, expected version "
                                     "%" PRId64 " but got %" PRId64 " entity=%s/%s event=%s",
                                     e->version + 1, ev->env.version, e->entity, e->entity_id,
                                     ev->env.event_id);
            stats->gaps++;
            continue;
        case RED_APPLY:
            break;
        }

        json_t *out = NULL;
        rj_error_t err;
        rj_error_clear(&err);
        rj_status_t st = reduce(opaque, &ev->env, e->value, &out, &err);
        if (st == RJ_OK && out == NULL && e->value == NULL) {
            /* The application's global error handler swallowed the reducer's failure on
               an entity without state: the event is skipped and the state stays none. */
            ev->outcome = RED_APPLIED;
            stats->applied++;
            e->version = ev->env.version;
            e->last_event = i;
            continue;
        }
        if (st == RJ_OK && !json_is_object(out)) {
            st = rj_error_set(&err, RJ_ESCHEMA, "reducer returned %s, not an object",
                              out == NULL ? "nothing" : "a non-object");
            json_decref(out);
            out = NULL;
        }
        if (st == RJ_OK) {
            json_decref(e->value);
            e->value = out;
            ev->outcome = RED_APPLIED;
            stats->applied++;
        } else {
            /* Booster's rule: a failing reducer skips the event, not the entity. */
            ev->outcome = RED_FAILED;
            ev->error = rj_xasprintf("could not reduce event %s into %s: %s entity=%s/%s "
                                     "version=%" PRId64 " event=%s",
                                     ev->env.type, e->entity, err.msg, e->entity, e->entity_id,
                                     ev->env.version, ev->env.event_id);
            stats->failed++;
        }
        e->version = ev->env.version;
        e->last_event = i;
    }
}

void
red_batch_fold(red_batch_t *b, red_reduce_fn reduce, void *opaque, red_fold_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    for (size_t i = 0; i < b->n_entities; i++)
        fold_entity(b, &b->entities[i], reduce, opaque, stats);
}
