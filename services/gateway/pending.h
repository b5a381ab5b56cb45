/*
 * pending.h - the gateway's table of commands waiting for their reply.
 *
 * A mutation produces a command to Kafka and then waits for the command processor's reply
 * on Redis, correlated by request id. This table holds the waiting commands: found by
 * request id when a reply arrives, and in deadline order so the timeout sweep is O(1) per
 * expired entry. Every entry gets the same timeout, so insertion order *is* deadline order
 * and a plain FIFO list replaces a heap.
 *
 * Entries are intrusive (h2o's timeout entries and the Linux kernel's lists do the same):
 * the caller embeds a gw_pending_entry_t in its own request object, so adding and removing
 * never allocate and a request leaves the table in O(1) whatever the reason it ends.
 *
 * What this file deliberately does not do: it owns no timer and knows no event loop (the
 * caller asks for the next deadline and arms its own timer), and it never frees an entry
 * (it does not know what the entry is embedded in). That keeps it testable with a fake
 * clock. Not thread-safe: use it from the gateway's loop thread only.
 */
#ifndef GW_PENDING_H
#define GW_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/** One waiting command; embed it in the request object. Fields are private to pending.c. */
typedef struct gw_pending_entry {
    char request_id[RJ_UUID_STRLEN]; /* the correlation key (a v4 UUID string) */
    int64_t deadline_ms;             /* when the entry expires, on the caller's clock */
    uint64_t hash;                   /* rj_hash of request_id, kept to grow without rehashing */
    struct gw_pending_entry *chain;  /* next entry in the same hash bucket */
    struct gw_pending_entry *prev;   /* previous entry in deadline order, or NULL */
    struct gw_pending_entry *next;   /* next entry in deadline order, or NULL */
    bool linked;                     /* true while the entry is in a table */
} gw_pending_entry_t;

/** The table. Caller-owned storage: gw_pending_init/gw_pending_deinit. */
typedef struct gw_pending {
    gw_pending_entry_t **buckets; /* hash buckets, a power of two of them */
    size_t nbuckets;              /* number of buckets */
    size_t count;                 /* entries in the table */
    int64_t timeout_ms;           /* added to the add-time clock to get a deadline */
    gw_pending_entry_t *oldest;   /* head of the deadline list: expires first */
    gw_pending_entry_t *newest;   /* tail of the deadline list */
} gw_pending_t;

/**
 * Initialises an empty table whose entries expire @p timeout_ms after they are added.
 *
 * @param t           caller-owned storage
 * @param timeout_ms  > 0
 */
void gw_pending_init(gw_pending_t *t, int64_t timeout_ms);

/**
 * Releases the table's own memory. Entries still in it are unlinked (their owners are
 * not told: drain the table first when they must be). Ownership: entries stay the caller's.
 */
void gw_pending_deinit(gw_pending_t *t);

/**
 * Adds @p e under @p request_id with the deadline @p now_ms + timeout.
 *
 * @param e           an entry not in any table; borrowed until it leaves the table
 * @param request_id  NUL-terminated, shorter than RJ_UUID_STRLEN; copied
 * @param now_ms      the current time on the clock the caller expires with
 *
 * Adding a request id that is already present is a broken invariant and aborts: ids are
 * fresh v4 UUIDs, or derived from an idempotency key, and then the caller checks
 * gw_pending_contains() first.
 */
void gw_pending_add(gw_pending_t *t, gw_pending_entry_t *e, const char *request_id,
                    int64_t now_ms);

/**
 * Removes and returns the entry for @p request_id, or NULL when there is none (a reply
 * that arrived after its request timed out, or one meant for a previous process).
 * Ownership: the entry goes back to the caller.
 */
gw_pending_entry_t *gw_pending_take(gw_pending_t *t, const char *request_id);

/** True when an entry for @p request_id is in the table. */
bool gw_pending_contains(const gw_pending_t *t, const char *request_id);

/** Removes @p e if it is in the table (a request that ended another way). Idempotent. */
void gw_pending_remove(gw_pending_t *t, gw_pending_entry_t *e);

/**
 * Removes and returns the entry with the earliest deadline when that deadline is at or
 * before @p now_ms, else NULL. Call it in a loop to collect everything that expired.
 */
gw_pending_entry_t *gw_pending_take_expired(gw_pending_t *t, int64_t now_ms);

/** The earliest deadline in the table, or -1 when it is empty. */
int64_t gw_pending_next_deadline(const gw_pending_t *t);

/** Number of entries in the table. */
size_t gw_pending_count(const gw_pending_t *t);

#endif
