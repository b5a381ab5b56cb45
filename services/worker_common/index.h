/*
 * worker_common/index.h - a hash index from a composite string key to a slot number.
 *
 * The consumer daemons group a batch by entity ((entity type, id) for the reducer and
 * the projector's snapshots) and by read-model row ((read model, id, sequence key) for
 * the projector). Keys are therefore a few strings, taken as parts instead of making
 * every caller build "a/b" strings that could collide ("a/b" + "c" and "a" + "b/c").
 * Values are indices into the caller's own arrays: the index stores no pointers into
 * them, so the caller may grow its arrays freely.
 *
 * Open addressing with linear probing over a power-of-two table, grown at 1/2 load.
 * Deliberately no deletion: a batch's index only grows and is reset between batches.
 * Not thread-safe; each worker owns its indexes.
 */
#ifndef WK_INDEX_H
#define WK_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most parts a key may have. */
#define WK_INDEX_MAX_PARTS 4

typedef struct wk_index_slot wk_index_slot_t;

/** An index; caller-owned storage: wk_index_init / wk_index_deinit. */
typedef struct wk_index {
    wk_index_slot_t *slots; /* cap slots; NULL until the first insert */
    size_t cap;             /* power of two, or 0 */
    size_t len;             /* keys stored */
} wk_index_t;

/** Prepares an empty index. Allocates nothing. */
void wk_index_init(wk_index_t *ix);
/** Frees the keys and the table; @p ix may be initialised again afterwards. */
void wk_index_deinit(wk_index_t *ix);
/** Forgets every key but keeps the table for reuse by the next batch. */
void wk_index_reset(wk_index_t *ix);

/**
 * Finds a key or inserts it.
 *
 * @param parts   @p nparts NUL-terminated strings, none NULL; borrowed (the index keeps
 *                its own copy)
 * @param nparts  1 .. WK_INDEX_MAX_PARTS; every key of one index should use the same count
 * @param val     in: the value to store when the key is new; out: the key's value
 * @return true when the key was already present (*val is its stored value), false
 *         when it was inserted with the value passed in
 */
bool wk_index_upsert(wk_index_t *ix, const char *const *parts, size_t nparts, size_t *val);

/**
 * Looks a key up.
 *
 * @param val  on success the key's value; untouched otherwise
 * @return true when present
 */
bool wk_index_find(const wk_index_t *ix, const char *const *parts, size_t nparts, size_t *val);

#endif
