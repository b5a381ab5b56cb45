/*
 * subs.c - the subscription registry (see subs.h).
 *
 * The topic index is a chained hash table keyed by (read model, id). Each topic holds
 * the doubly linked list of its subscriptions and is freed as soon as the list empties,
 * so the table only ever holds rows somebody is watching; a busy projector touching
 * millions of rows costs one hash lookup per change and nothing else.
 *
 * The table doubles when it averages more than one topic per bucket and never shrinks:
 * a pusher that once held many subscriptions keeps its buckets, which costs a few
 * pointers each and avoids rehashing back and forth under churn.
 *
 * This file deliberately does not know what a connection or a frame is: owners are
 * opaque lists, and delivery is the caller's business (protocol.c).
 */
#include "subs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define SUBS_INITIAL_BUCKETS 64

/* One watched row: every subscription on (read_model, id). */
struct push_topic {
    char *read_model;   /* read model name, owned */
    char *id;           /* row id, owned */
    uint64_t hash;      /* topic_hash(read_model, id) */
    push_sub_t *subs;   /* first subscription; never NULL while the topic exists */
    size_t count;       /* number of subscriptions */
    push_topic_t *next; /* next topic in the same bucket */
};

struct push_subs {
    push_topic_t **buckets; /* nbuckets chains */
    size_t nbuckets;        /* a power of two */
    size_t ntopics;         /* topics in the table */
    size_t nsubs;           /* subscriptions across all topics */
};

/*
 * Hashes the pair with a NUL between the parts, so ("ab", "c") and ("a", "bc") differ.
 * Computed by folding both strings through FNV-1a in one pass rather than building a
 * temporary key, because this runs once per Redis notification.
 */
static uint64_t
topic_hash(const char *read_model, const char *id)
{
    uint64_t h = rj_hash(read_model, strlen(read_model) + 1);
    uint64_t h2 = rj_hash(id, strlen(id));
    /* Mix the second hash in (boost::hash_combine's constant, widened to 64 bits). */
    return h ^ (h2 + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

push_subs_t *
push_subs_new(void)
{
    push_subs_t *r = rj_xcalloc(1, sizeof *r);
    r->nbuckets = SUBS_INITIAL_BUCKETS;
    r->buckets = rj_xcalloc(r->nbuckets, sizeof *r->buckets);
    return r;
}

static void
sub_free(push_sub_t *s)
{
    free(s->op_id);
    free(s->read_model);
    free(s->id);
    free(s->sequence_key);
    rj_gql_prepared_free(s->op);
    free(s);
}

void
push_subs_free(push_subs_t *r)
{
    if (r == NULL)
        return;
    for (size_t b = 0; b < r->nbuckets; b++) {
        push_topic_t *t = r->buckets[b];
        while (t != NULL) {
            push_topic_t *tnext = t->next;
            for (push_sub_t *s = t->subs; s != NULL;) {
                push_sub_t *snext = s->topic_next;
                /* Leave the owner's list consistent in case it is inspected later. */
                s->owner->head = NULL;
                s->owner->count = 0;
                sub_free(s);
                s = snext;
            }
            free(t->read_model);
            free(t->id);
            free(t);
            t = tnext;
        }
    }
    free(r->buckets);
    free(r);
}

void
push_sub_owner_init(push_sub_owner_t *owner, void *data)
{
    owner->head = NULL;
    owner->count = 0;
    owner->data = data;
}

static push_topic_t *
topic_find(const push_subs_t *r, const char *read_model, const char *id, uint64_t hash)
{
    for (push_topic_t *t = r->buckets[hash & (r->nbuckets - 1)]; t != NULL; t = t->next)
        if (t->hash == hash && strcmp(t->id, id) == 0 && strcmp(t->read_model, read_model) == 0)
            return t;
    return NULL;
}

static void
table_grow(push_subs_t *r)
{
    size_t n = r->nbuckets * 2;
    push_topic_t **b = rj_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < r->nbuckets; i++) {
        push_topic_t *t = r->buckets[i];
        while (t != NULL) {
            push_topic_t *next = t->next;
            t->next = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
            t = next;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

static push_topic_t *
topic_get_or_create(push_subs_t *r, const char *read_model, const char *id)
{
    uint64_t hash = topic_hash(read_model, id);
    push_topic_t *t = topic_find(r, read_model, id, hash);
    if (t != NULL)
        return t;
    if (r->ntopics >= r->nbuckets)
        table_grow(r);
    t = rj_xcalloc(1, sizeof *t);
    t->read_model = rj_xstrdup(read_model);
    t->id = rj_xstrdup(id);
    t->hash = hash;
    size_t b = hash & (r->nbuckets - 1);
    t->next = r->buckets[b];
    r->buckets[b] = t;
    r->ntopics++;
    return t;
}

static void
topic_unlink_and_free(push_subs_t *r, push_topic_t *t)
{
    push_topic_t **pp = &r->buckets[t->hash & (r->nbuckets - 1)];
    while (*pp != t) {
        RJ_ASSERT(*pp != NULL);
        pp = &(*pp)->next;
    }
    *pp = t->next;
    r->ntopics--;
    free(t->read_model);
    free(t->id);
    free(t);
}

/* Unlinks @p s from its topic and its owner, drops an emptied topic, frees @p s. */
static void
sub_remove(push_subs_t *r, push_sub_t *s)
{
    push_topic_t *t = s->topic;
    if (s->topic_prev != NULL)
        s->topic_prev->topic_next = s->topic_next;
    else
        t->subs = s->topic_next;
    if (s->topic_next != NULL)
        s->topic_next->topic_prev = s->topic_prev;
    t->count--;

    push_sub_owner_t *o = s->owner;
    if (s->owner_prev != NULL)
        s->owner_prev->owner_next = s->owner_next;
    else
        o->head = s->owner_next;
    if (s->owner_next != NULL)
        s->owner_next->owner_prev = s->owner_prev;
    o->count--;

    r->nsubs--;
    if (t->count == 0)
        topic_unlink_and_free(r, t);
    sub_free(s);
}

push_sub_t *
push_subs_find_op(const push_sub_owner_t *owner, const char *op_id)
{
    for (push_sub_t *s = owner->head; s != NULL; s = s->owner_next)
        if (strcmp(s->op_id, op_id) == 0)
            return s;
    return NULL;
}

push_sub_t *
push_subs_add(push_subs_t *r, push_sub_owner_t *owner, const push_sub_spec_t *spec)
{
    RJ_ASSERT(spec->op_id != NULL && spec->read_model != NULL && spec->id != NULL);
    push_sub_t *old = push_subs_find_op(owner, spec->op_id);
    if (old != NULL)
        sub_remove(r, old);

    push_sub_t *s = rj_xcalloc(1, sizeof *s);
    s->op_id = rj_xstrdup(spec->op_id);
    s->read_model = rj_xstrdup(spec->read_model);
    s->id = rj_xstrdup(spec->id);
    s->sequence_key = spec->sequence_key != NULL ? rj_xstrdup(spec->sequence_key) : NULL;
    s->op = spec->op;
    s->root = spec->root;
    s->owner = owner;

    push_topic_t *t = topic_get_or_create(r, spec->read_model, spec->id);
    s->topic = t;
    s->topic_next = t->subs;
    if (t->subs != NULL)
        t->subs->topic_prev = s;
    t->subs = s;
    t->count++;

    s->owner_next = owner->head;
    if (owner->head != NULL)
        owner->head->owner_prev = s;
    owner->head = s;
    owner->count++;

    r->nsubs++;
    return s;
}

bool
push_subs_remove_op(push_subs_t *r, push_sub_owner_t *owner, const char *op_id)
{
    push_sub_t *s = push_subs_find_op(owner, op_id);
    if (s == NULL)
        return false;
    sub_remove(r, s);
    return true;
}

size_t
push_subs_remove_owner(push_subs_t *r, push_sub_owner_t *owner)
{
    size_t n = 0;
    while (owner->head != NULL) {
        sub_remove(r, owner->head);
        n++;
    }
    return n;
}

size_t
push_subs_match(push_subs_t *r, const char *read_model, const char *id, const char *sequence_key,
                push_sub_match_fn fn, void *ud)
{
    push_topic_t *t = topic_find(r, read_model, id, topic_hash(read_model, id));
    if (t == NULL)
        return 0;
    size_t n = 0;
    for (push_sub_t *s = t->subs; s != NULL; s = s->topic_next) {
        if (s->sequence_key != NULL &&
            (sequence_key == NULL || strcmp(s->sequence_key, sequence_key) != 0))
            continue;
        fn(s, ud);
        n++;
    }
    return n;
}

size_t
push_subs_count(const push_subs_t *r)
{
    return r->nsubs;
}

size_t
push_subs_topic_count(const push_subs_t *r)
{
    return r->ntopics;
}
