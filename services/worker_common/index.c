/*
 * worker_common/index.c - the composite-key hash index (see index.h).
 *
 * A key is stored as its parts joined with NUL bytes, which no part can contain, so
 * comparing the joined bytes (and their total length) compares the parts one by one.
 */
#include "index.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"

struct wk_index_slot {
    char *key;     /* the parts, each followed by its NUL; NULL for an empty slot */
    size_t len;    /* bytes of key, NULs included */
    uint64_t hash; /* hash of key, kept so growing never rehashes strings */
    size_t val;    /* the caller's value */
};

/* A key being looked up: the joined form, built on the stack when it is small. */
typedef struct lookup {
    char small[256]; /* storage for short keys */
    char *bytes;     /* small or heap */
    size_t len;      /* bytes, NULs included */
    uint64_t hash;   /* rj_hash of bytes */
} lookup_t;

static void
lookup_init(lookup_t *k, const char *const *parts, size_t nparts)
{
    RJ_ASSERT(nparts >= 1 && nparts <= WK_INDEX_MAX_PARTS);
    size_t lens[WK_INDEX_MAX_PARTS];
    k->len = 0;
    for (size_t i = 0; i < nparts; i++) {
        RJ_ASSERT(parts[i] != NULL);
        lens[i] = strlen(parts[i]) + 1;
        k->len += lens[i];
    }
    k->bytes = k->len <= sizeof k->small ? k->small : rj_xmalloc(k->len);
    size_t o = 0;
    for (size_t i = 0; i < nparts; i++) {
        memcpy(k->bytes + o, parts[i], lens[i]);
        o += lens[i];
    }
    k->hash = rj_hash(k->bytes, k->len);
}

static void
lookup_deinit(lookup_t *k)
{
    if (k->bytes != k->small)
        free(k->bytes);
}

void
wk_index_init(wk_index_t *ix)
{
    ix->slots = NULL;
    ix->cap = 0;
    ix->len = 0;
}

void
wk_index_reset(wk_index_t *ix)
{
    for (size_t i = 0; i < ix->cap; i++) {
        free(ix->slots[i].key);
        ix->slots[i].key = NULL;
    }
    ix->len = 0;
}

void
wk_index_deinit(wk_index_t *ix)
{
    wk_index_reset(ix);
    free(ix->slots);
    wk_index_init(ix);
}

/* Returns the slot holding the key, or the empty slot where it belongs. */
static wk_index_slot_t *
probe(wk_index_slot_t *slots, size_t cap, const lookup_t *k)
{
    size_t mask = cap - 1;
    for (size_t i = (size_t)k->hash & mask;; i = (i + 1) & mask) {
        wk_index_slot_t *s = &slots[i];
        if (s->key == NULL ||
            (s->hash == k->hash && s->len == k->len && memcmp(s->key, k->bytes, k->len) == 0))
            return s;
    }
}

static void
grow(wk_index_t *ix)
{
    size_t cap = ix->cap ? ix->cap * 2 : 64;
    wk_index_slot_t *slots = rj_xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < ix->cap; i++) {
        wk_index_slot_t *old = &ix->slots[i];
        if (old->key == NULL)
            continue;
        /* Keys are unique, so the first empty slot along the probe sequence is the place. */
        size_t mask = cap - 1, j = (size_t)old->hash & mask;
        while (slots[j].key != NULL)
            j = (j + 1) & mask;
        slots[j] = *old;
    }
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
}

bool
wk_index_upsert(wk_index_t *ix, const char *const *parts, size_t nparts, size_t *val)
{
    if ((ix->len + 1) * 2 > ix->cap)
        grow(ix);
    lookup_t k;
    lookup_init(&k, parts, nparts);
    wk_index_slot_t *s = probe(ix->slots, ix->cap, &k);
    bool found = s->key != NULL;
    if (found) {
        *val = s->val;
    } else {
        s->key = k.bytes == k.small ? memcpy(rj_xmalloc(k.len), k.small, k.len) : k.bytes;
        k.bytes = k.small; /* ownership moved into the slot */
        s->len = k.len;
        s->hash = k.hash;
        s->val = *val;
        ix->len++;
    }
    lookup_deinit(&k);
    return found;
}

bool
wk_index_find(const wk_index_t *ix, const char *const *parts, size_t nparts, size_t *val)
{
    if (ix->len == 0)
        return false;
    lookup_t k;
    lookup_init(&k, parts, nparts);
    const wk_index_slot_t *s = probe(ix->slots, ix->cap, &k);
    bool found = s->key != NULL;
    if (found)
        *val = s->val;
    lookup_deinit(&k);
    return found;
}
