/*
 * subs.c - the subscription registry (see subs.h).
 *
 * Two chained hash tables with the same shape: topics keyed by (read model, id) for
 * by-id subscriptions, and filter groups keyed by (read model, group key). Each entry
 * holds the doubly linked list of its subscriptions and is freed as soon as the list
 * empties, so the tables only ever hold what somebody is watching; a busy projector
 * touching millions of rows costs one hash lookup per change for the by-id side.
 *
 * Groups are also linked into a list per read model, because a change must visit every
 * group of its read model (a filter cannot be looked up by row). The per-read-model
 * heads live in a plain list: there are as many as the application declares read models,
 * a few dozen at most, and they are kept once created.
 *
 * The tables double when they average more than one entry per bucket and never shrink:
 * a pusher that once held many subscriptions keeps its buckets, which costs a few
 * pointers each and avoids rehashing back and forth under churn.
 *
 * This file deliberately does not know what a connection, a frame or a filter's meaning
 * is: owners are opaque lists, filters are opaque JSON, and delivery is the caller's
 * business (protocol.c).
 */
#include "subs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define SUBS_INITIAL_BUCKETS 64

typedef struct push_rm_groups push_rm_groups_t;

/*
 * One watched row (by id: every subscription on (read_model, id)) or one filter group
 * (every subscription with the same read model and group key; `key` is the group key).
 */
struct push_topic {
    char *read_model;      /* read model name, owned */
    char *key;             /* row id, or group key; owned */
    uint64_t hash;         /* topic_hash(read_model, key) */
    push_sub_t *subs;      /* first subscription; never NULL while the entry exists */
    size_t count;          /* number of subscriptions */
    push_topic_t *next;    /* next entry in the same bucket */
    json_t *filter;        /* groups: the filter (a reference), or NULL for all rows */
    push_rm_groups_t *rm;  /* groups: the read model's group list */
    push_topic_t *rm_prev; /* groups: neighbours in that list */
    push_topic_t *rm_next;
};

/* The filter groups of one read model. */
struct push_rm_groups {
    char *read_model;       /* owned */
    push_topic_t *groups;   /* first group, or NULL */
    push_rm_groups_t *next; /* next read model */
};

/* A chained hash table of topics or groups. */
typedef struct push_table {
    push_topic_t **buckets; /* nbuckets chains */
    size_t nbuckets;        /* a power of two */
    size_t n;               /* entries */
} push_table_t;

struct push_subs {
    push_table_t topics;         /* by-id topics */
    push_table_t groups;         /* filter groups */
    push_rm_groups_t *by_rm;     /* filter groups per read model */
    size_t nsubs;                /* subscriptions, by id and by filter */
    push_sub_release_fn release; /* called for a removed subscription with pending set */
    void *release_ud;            /* its argument */
};

/*
 * Hashes the pair with a NUL between the parts, so ("ab", "c") and ("a", "bc") differ.
 * Computed by folding both strings through FNV-1a in one pass rather than building a
 * temporary key, because this runs once per Redis notification.
 */
static uint64_t
topic_hash(const char *read_model, const char *key)
{
    uint64_t h = rj_hash(read_model, strlen(read_model) + 1);
    uint64_t h2 = rj_hash(key, strlen(key));
    /* Mix the second hash in (boost::hash_combine's constant, widened to 64 bits). */
    return h ^ (h2 + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

static void
table_init(push_table_t *t)
{
    t->nbuckets = SUBS_INITIAL_BUCKETS;
    t->buckets = rj_xcalloc(t->nbuckets, sizeof *t->buckets);
    t->n = 0;
}

push_subs_t *
push_subs_new(void)
{
    push_subs_t *r = rj_xcalloc(1, sizeof *r);
    table_init(&r->topics);
    table_init(&r->groups);
    return r;
}

void
push_subs_set_release(push_subs_t *r, push_sub_release_fn fn, void *ud)
{
    r->release = fn;
    r->release_ud = ud;
}

static void
sub_free(push_sub_t *s)
{
    free(s->render_key);
    free(s->op_id);
    free(s->read_model);
    free(s->id);
    free(s->sequence_key);
    rj_gql_prepared_free(s->op);
    free(s);
}

static void
entry_free(push_topic_t *t)
{
    free(t->read_model);
    free(t->key);
    json_decref(t->filter);
    free(t);
}

/* Frees every entry of @p t and their subscriptions, then the buckets. */
static void
table_free_all(push_table_t *t)
{
    for (size_t b = 0; b < t->nbuckets; b++) {
        push_topic_t *e = t->buckets[b];
        while (e != NULL) {
            push_topic_t *enext = e->next;
            for (push_sub_t *s = e->subs; s != NULL;) {
                push_sub_t *snext = s->topic_next;
                /* Leave the owner's list consistent in case it is inspected later. */
                s->owner->head = NULL;
                s->owner->count = 0;
                sub_free(s);
                s = snext;
            }
            entry_free(e);
            e = enext;
        }
    }
    free(t->buckets);
}

void
push_subs_free(push_subs_t *r)
{
    if (r == NULL)
        return;
    table_free_all(&r->topics);
    table_free_all(&r->groups);
    for (push_rm_groups_t *g = r->by_rm; g != NULL;) {
        push_rm_groups_t *next = g->next;
        free(g->read_model);
        free(g);
        g = next;
    }
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
table_find(const push_table_t *t, const char *read_model, const char *key, uint64_t hash)
{
    for (push_topic_t *e = t->buckets[hash & (t->nbuckets - 1)]; e != NULL; e = e->next)
        if (e->hash == hash && strcmp(e->key, key) == 0 && strcmp(e->read_model, read_model) == 0)
            return e;
    return NULL;
}

static void
table_grow(push_table_t *t)
{
    size_t n = t->nbuckets * 2;
    push_topic_t **b = rj_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < t->nbuckets; i++) {
        push_topic_t *e = t->buckets[i];
        while (e != NULL) {
            push_topic_t *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
}

/* The entry (read_model, key) of @p t; *created tells whether it was just made. */
static push_topic_t *
table_get_or_create(push_table_t *t, const char *read_model, const char *key, bool *created)
{
    uint64_t hash = topic_hash(read_model, key);
    push_topic_t *e = table_find(t, read_model, key, hash);
    *created = e == NULL;
    if (e != NULL)
        return e;
    if (t->n >= t->nbuckets)
        table_grow(t);
    e = rj_xcalloc(1, sizeof *e);
    e->read_model = rj_xstrdup(read_model);
    e->key = rj_xstrdup(key);
    e->hash = hash;
    size_t b = hash & (t->nbuckets - 1);
    e->next = t->buckets[b];
    t->buckets[b] = e;
    t->n++;
    return e;
}

static void
table_unlink(push_table_t *t, push_topic_t *e)
{
    push_topic_t **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
    while (*pp != e) {
        RJ_ASSERT(*pp != NULL);
        pp = &(*pp)->next;
    }
    *pp = e->next;
    t->n--;
}

/* The group list of @p read_model, created on first use. */
static push_rm_groups_t *
rm_groups_get_or_create(push_subs_t *r, const char *read_model)
{
    for (push_rm_groups_t *g = r->by_rm; g != NULL; g = g->next)
        if (strcmp(g->read_model, read_model) == 0)
            return g;
    push_rm_groups_t *g = rj_xcalloc(1, sizeof *g);
    g->read_model = rj_xstrdup(read_model);
    g->next = r->by_rm;
    r->by_rm = g;
    return g;
}

/* Unlinks an emptied group from its read model's list and the group table; frees it. */
static void
group_remove(push_subs_t *r, push_topic_t *g)
{
    if (g->rm_prev != NULL)
        g->rm_prev->rm_next = g->rm_next;
    else
        g->rm->groups = g->rm_next;
    if (g->rm_next != NULL)
        g->rm_next->rm_prev = g->rm_prev;
    table_unlink(&r->groups, g);
    entry_free(g);
}

/* Unlinks @p s from its topic or group and its owner, drops an emptied entry, frees @p s. */
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
    if (s->pending != NULL && r->release != NULL)
        r->release(s, r->release_ud);
    if (t->count == 0) {
        if (s->id == NULL) {
            group_remove(r, t);
        } else {
            table_unlink(&r->topics, t);
            entry_free(t);
        }
    }
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
    RJ_ASSERT(spec->op_id != NULL && spec->read_model != NULL);
    RJ_ASSERT(spec->id != NULL || spec->group_key != NULL);
    push_sub_t *old = push_subs_find_op(owner, spec->op_id);
    if (old != NULL)
        sub_remove(r, old);

    push_sub_t *s = rj_xcalloc(1, sizeof *s);
    s->op_id = rj_xstrdup(spec->op_id);
    s->read_model = rj_xstrdup(spec->read_model);
    s->id = spec->id != NULL ? rj_xstrdup(spec->id) : NULL;
    s->sequence_key =
        spec->id != NULL && spec->sequence_key != NULL ? rj_xstrdup(spec->sequence_key) : NULL;
    s->op = spec->op;
    s->root = spec->root;
    s->render_key = spec->render_key != NULL ? rj_xstrdup(spec->render_key) : NULL;
    s->owner = owner;

    bool created;
    push_topic_t *t;
    if (spec->id != NULL) {
        t = table_get_or_create(&r->topics, spec->read_model, spec->id, &created);
    } else {
        t = table_get_or_create(&r->groups, spec->read_model, spec->group_key, &created);
        if (created) {
            /* The first member's filter stands for the group: equal keys mean equal filters. */
            if (spec->filter != NULL && !json_is_null(spec->filter))
                t->filter = json_incref((json_t *)(uintptr_t)spec->filter);
            t->rm = rm_groups_get_or_create(r, spec->read_model);
            t->rm_next = t->rm->groups;
            if (t->rm->groups != NULL)
                t->rm->groups->rm_prev = t;
            t->rm->groups = t;
        }
    }
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
    push_topic_t *t = table_find(&r->topics, read_model, id, topic_hash(read_model, id));
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
push_subs_each_group(push_subs_t *r, const char *read_model, push_group_fn fn, void *ud)
{
    push_rm_groups_t *g = r->by_rm;
    while (g != NULL && strcmp(g->read_model, read_model) != 0)
        g = g->next;
    if (g == NULL)
        return 0;
    size_t n = 0;
    for (push_topic_t *t = g->groups; t != NULL; t = t->rm_next) {
        fn(t->filter, t->subs, ud);
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
    return r->topics.n;
}

size_t
push_subs_group_count(const push_subs_t *r)
{
    return r->groups.n;
}
