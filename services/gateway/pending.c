/*
 * pending.c - the table of commands waiting for their reply (see pending.h).
 *
 * A chained hash table over intrusive entries plus a doubly linked list in deadline order.
 * The table grows (doubling, at a load factor of 1) and never shrinks: its size follows
 * the peak number of requests in flight, which is bounded by the HTTP server anyway.
 */
#include "pending.h"

#include <stdlib.h>
#include <string.h>

#define GW_PENDING_MIN_BUCKETS 64

void
gw_pending_init(gw_pending_t *t, int64_t timeout_ms)
{
    RJ_ASSERT(timeout_ms > 0);
    *t = (gw_pending_t){
        .buckets = rj_xcalloc(GW_PENDING_MIN_BUCKETS, sizeof(gw_pending_entry_t *)),
        .nbuckets = GW_PENDING_MIN_BUCKETS,
        .timeout_ms = timeout_ms,
    };
}

void
gw_pending_deinit(gw_pending_t *t)
{
    while (t->oldest != NULL)
        gw_pending_remove(t, t->oldest);
    free(t->buckets);
    *t = (gw_pending_t){0};
}

static gw_pending_entry_t **
bucket_of(const gw_pending_t *t, uint64_t hash)
{
    return &t->buckets[hash & (t->nbuckets - 1)];
}

/* Doubles the bucket array; entries keep their cached hash, so nothing is rehashed. */
static void
grow(gw_pending_t *t)
{
    size_t old_n = t->nbuckets;
    gw_pending_entry_t **old = t->buckets;

    t->nbuckets = old_n * 2;
    t->buckets = rj_xcalloc(t->nbuckets, sizeof(gw_pending_entry_t *));
    for (size_t i = 0; i < old_n; i++) {
        gw_pending_entry_t *e = old[i];
        while (e != NULL) {
            gw_pending_entry_t *next = e->chain;
            gw_pending_entry_t **b = bucket_of(t, e->hash);
            e->chain = *b;
            *b = e;
            e = next;
        }
    }
    free(old);
}

/* The slot that points at the entry for @p request_id, or at the NULL ending its chain. */
static gw_pending_entry_t **
find_slot(const gw_pending_t *t, const char *request_id, uint64_t hash)
{
    gw_pending_entry_t **slot = bucket_of(t, hash);
    while (*slot != NULL && ((*slot)->hash != hash || strcmp((*slot)->request_id, request_id) != 0))
        slot = &(*slot)->chain;
    return slot;
}

void
gw_pending_add(gw_pending_t *t, gw_pending_entry_t *e, const char *request_id, int64_t now_ms)
{
    size_t len = strlen(request_id);
    RJ_ASSERT(!e->linked);
    RJ_ASSERT(len < sizeof e->request_id);

    if (t->count >= t->nbuckets)
        grow(t);

    memcpy(e->request_id, request_id, len + 1);
    e->hash = rj_hash(request_id, len);
    e->deadline_ms = now_ms + t->timeout_ms;

    gw_pending_entry_t **slot = find_slot(t, request_id, e->hash);
    RJ_ASSERT(*slot == NULL); /* fresh v4 UUIDs, or checked with gw_pending_contains */
    e->chain = NULL;
    *slot = e;

    /* Same timeout for everyone: the newest entry always expires last. */
    e->next = NULL;
    e->prev = t->newest;
    if (t->newest != NULL)
        t->newest->next = e;
    else
        t->oldest = e;
    t->newest = e;

    e->linked = true;
    t->count++;
}

void
gw_pending_remove(gw_pending_t *t, gw_pending_entry_t *e)
{
    if (!e->linked)
        return;

    gw_pending_entry_t **slot = find_slot(t, e->request_id, e->hash);
    RJ_ASSERT(*slot == e);
    *slot = e->chain;

    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        t->oldest = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        t->newest = e->prev;

    e->chain = e->prev = e->next = NULL;
    e->linked = false;
    t->count--;
}

gw_pending_entry_t *
gw_pending_take(gw_pending_t *t, const char *request_id)
{
    gw_pending_entry_t *e = *find_slot(t, request_id, rj_hash(request_id, strlen(request_id)));
    if (e != NULL)
        gw_pending_remove(t, e);
    return e;
}

bool
gw_pending_contains(const gw_pending_t *t, const char *request_id)
{
    return *find_slot(t, request_id, rj_hash(request_id, strlen(request_id))) != NULL;
}

gw_pending_entry_t *
gw_pending_take_expired(gw_pending_t *t, int64_t now_ms)
{
    gw_pending_entry_t *e = t->oldest;
    if (e == NULL || e->deadline_ms > now_ms)
        return NULL;
    gw_pending_remove(t, e);
    return e;
}

int64_t
gw_pending_next_deadline(const gw_pending_t *t)
{
    return t->oldest != NULL ? t->oldest->deadline_ms : -1;
}

size_t
gw_pending_count(const gw_pending_t *t)
{
    return t->count;
}
