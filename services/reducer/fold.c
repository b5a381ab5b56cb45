/*
 * reducer/fold.c - grouping a batch by entity and folding it, filling gaps from events
 * read beforehand (see fold.h).
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

/* Frees an entity's filled events; it has none afterwards. */
static void
fill_free(red_entity_t *e)
{
    for (size_t i = 0; i < e->n_fill; i++) {
        rj_env_event_deinit(&e->fill[i].env);
        free(e->fill[i].error);
    }
    free(e->fill);
    e->fill = NULL;
    e->n_fill = 0;
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
        fill_free(&b->entities[i]);
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
        e->last = NULL;
        fill_free(e);
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

bool
red_entity_missing(const red_batch_t *b, const red_entity_t *e, int64_t *from, int64_t *to)
{
    /* The fold's walk, assuming every gap gets filled: that is when the most versions
       are needed, and a fill that falls short needs only versions inside the range. */
    int64_t at = e->stored_version, first = 0, last = 0;
    for (size_t k = 0; k < e->n_events; k++) {
        int64_t v = b->events[e->events[k]].env.version;
        if (red_verdict(at, v) == RED_GAP) {
            if (first == 0)
                first = at + 1;
            last = v - 1;
        }
        if (v > at)
            at = v;
    }
    if (first == 0)
        return false;
    *from = first;
    *to = last;
    return true;
}

void
red_entity_take_fill(red_entity_t *e, rj_env_event_t *evs, size_t n)
{
    fill_free(e);
    if (n == 0) {
        free(evs);
        return;
    }
    e->fill = rj_xcalloc(n, sizeof *e->fill);
    for (size_t i = 0; i < n; i++) {
        RJ_ASSERT(i == 0 || evs[i].version > evs[i - 1].version);
        e->fill[i] = (red_event_t){.env = evs[i], .outcome = RED_PENDING};
    }
    e->n_fill = n;
    free(evs);
}

/*
 * Folds one event whose version is e->version + 1 into the entity: the application's
 * reducer, then Booster's rules for a failure. Returns true when the event was reported
 * as failed.
 */
static bool
apply_one(red_entity_t *e, red_event_t *ev, red_reduce_fn reduce, void *opaque)
{
    json_t *out = NULL;
    rj_error_t err;
    rj_error_clear(&err);
    rj_status_t st = reduce(opaque, &ev->env, e->value, &out, &err);
    e->version = ev->env.version;
    e->last = ev;
    if (st == RJ_OK && out == NULL && e->value == NULL) {
        /* The application's global error handler swallowed the reducer's failure on
           an entity without state: the event is skipped and the state stays none. */
        ev->outcome = RED_APPLIED;
        return false;
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
        return false;
    }
    /* Booster's rule: a failing reducer skips the event, not the entity. */
    ev->outcome = RED_FAILED;
    ev->error = rj_xasprintf("could not reduce event %s into %s: %s entity=%s/%s "
                             "version=%" PRId64 " event=%s",
                             ev->env.type, e->entity, err.msg, e->entity, e->entity_id,
                             ev->env.version, ev->env.event_id);
    return true;
}

/*
 * Folds the filled events of versions e->version + 1 .. @p version - 1 in order, from
 * the cursor *next into e->fill (which only moves forward: versions only grow). Returns
 * true when the entity reached @p version - 1; false when a version is missing, with
 * the missing versions of that range written to @p missing as "5, 7-9".
 */
static bool
fill_gap(red_entity_t *e, int64_t version, size_t msg, size_t *next, red_reduce_fn reduce,
         void *opaque, red_fold_stats_t *stats, char *missing, size_t missing_len)
{
    missing[0] = '\0';
    while (*next < e->n_fill && e->fill[*next].env.version <= e->version)
        (*next)++; /* versions the batch has folded already */
    while (*next < e->n_fill && e->fill[*next].env.version == e->version + 1 &&
           e->fill[*next].env.version < version) {
        red_event_t *f = &e->fill[(*next)++];
        f->msg = msg;
        stats->filled++;
        stats->failed += apply_one(e, f, reduce, opaque);
    }
    if (e->version == version - 1)
        return true;

    /* Name every missing version of the range as ranges, so the log says exactly what
       PostgreSQL lacks. Truncated (with "...") only beyond the buffer. */
    size_t used = 0;
    int64_t lo = e->version + 1;
    for (size_t j = *next; lo < version; j++) {
        int64_t hi = version - 1; /* the missing run ends before the next found version */
        if (j < e->n_fill && e->fill[j].env.version < version)
            hi = e->fill[j].env.version - 1;
        if (hi >= lo && used < missing_len) {
            int n = hi == lo ? snprintf(missing + used, missing_len - used, "%s%" PRId64,
                                        used ? ", " : "", lo)
                             : snprintf(missing + used, missing_len - used,
                                        "%s%" PRId64 "-%" PRId64, used ? ", " : "", lo, hi);
            used += (size_t)n;
        }
        if (j >= e->n_fill || e->fill[j].env.version >= version)
            break;
        lo = e->fill[j].env.version + 1;
    }
    if (used >= missing_len && missing_len > 4)
        memcpy(missing + missing_len - 4, "...", 4);
    return false;
}

static void
fold_entity(red_batch_t *b, red_entity_t *e, red_reduce_fn reduce, void *opaque,
            red_fold_stats_t *stats)
{
    size_t next = 0; /* cursor into e->fill */
    for (size_t k = 0; k < e->n_events; k++) {
        size_t i = e->events[k];
        red_event_t *ev = &b->events[i];
        char missing[256];
        switch (red_verdict(e->version, ev->env.version)) {
        case RED_DUPLICATE:
            ev->outcome = RED_SKIPPED;
            stats->duplicates++;
            continue;
        case RED_GAP:
            if (fill_gap(e, ev->env.version, ev->msg, &next, reduce, opaque, stats, missing,
                         sizeof missing))
                break;
            ev->outcome = RED_GAPPED;
            ev->error = rj_xasprintf("could not reduce event: version gap, expected version "
                                     "%" PRId64 " but got %" PRId64 "; version(s) %s in neither "
                                     "the event store nor the command outbox entity=%s/%s "
                                     "event=%s",
                                     e->version + 1, ev->env.version, missing, e->entity,
                                     e->entity_id, ev->env.event_id);
            stats->gaps++;
            continue;
        case RED_APPLY:
            break;
        }
        if (apply_one(e, ev, reduce, opaque))
            stats->failed++;
        else
            stats->applied++;
    }
}

void
red_batch_fold(red_batch_t *b, red_reduce_fn reduce, void *opaque, red_fold_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    for (size_t i = 0; i < b->n_entities; i++)
        fold_entity(b, &b->entities[i], reduce, opaque, stats);
}
