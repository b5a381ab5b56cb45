/*
 * consistency.h - read-your-writes in the gateway: requests that wait until the projector
 * has projected given entity versions (a consistency token, readside/ryw.h).
 *
 * The projector records, in the transaction that writes the read models, the newest
 * version of each entity it projected (projected_entities); an entity at version >= v
 * there means every read model projected from it reflects write v. A waiting request is
 * therefore answered once every write of its token is there, or refused at once when a
 * write names a version its entity never reached (entity_heads: the token was forged or
 * belongs to another database), or refused when its bounded wait ends.
 *
 * The check is one statement for every waiting request at once, run on the PostgreSQL
 * pool (never on the loop thread): immediately when a request starts waiting and no check
 * is in flight, then every poll interval while anything waits. So the loop never blocks,
 * the database sees at most one check per interval whatever the number of waiters, and a
 * request whose writes are already projected (the usual case) costs one round trip.
 *
 * What this file deliberately does not do: listen to the projector's Redis notifications.
 * They are at most once and name read-model rows, not entity versions, so polling would be
 * needed anyway; the interval bounds the latency it adds (docs/PERFORMANCE.md).
 */
#ifndef GW_CONSISTENCY_H
#define GW_CONSISTENCY_H

#include <uv.h>

#include "pgpool.h"
#include "readside/ryw.h"
#include "rj/status.h"

typedef struct gw_cons gw_cons_t;

/** The bounds of waiting; see the gateway's options of the same names. */
typedef struct gw_cons_opts {
    int wait_ms;     /* consistency-wait-ms: how long a request may wait; > 0 */
    int poll_ms;     /* consistency-poll-ms: the interval between checks; > 0 */
    int max_waiting; /* consistency-max-waiting: requests waiting at once; > 0 */
} gw_cons_opts_t;

/**
 * The end of one wait, on the loop thread.
 *
 * @param status   RJ_OK: every write is projected; RJ_ETIMEOUT: the wait ran out;
 *                 RJ_EINVAL: the token names a version that was never written
 * @param message  otherwise, what to tell the client; borrowed for the call
 * @param code     otherwise, its extensions.code; static
 */
typedef void (*gw_cons_cb)(void *opaque, rj_status_t status, const char *message, const char *code);

/** Builds the waiter set; end it with gw_cons_stop(), a loop run, then gw_cons_free(). */
gw_cons_t *gw_cons_new(uv_loop_t *loop, gw_pgpool_t *pg, const gw_cons_opts_t *opts);

/**
 * Waits until every write of @p writes is projected, then calls @p cb once (never before
 * this function returns).
 *
 * @param writes  taken: its entries are moved out and @p writes is left empty
 * @return RJ_OK when waiting (or already satisfied: an empty set is answered on the next
 *         check); RJ_ETOOBIG with @p err set when max_waiting requests wait already (then
 *         @p cb is never called)
 *
 * Loop thread.
 */
rj_status_t gw_cons_wait(gw_cons_t *c, rj_ryw_t *writes, gw_cons_cb cb, void *opaque,
                         rj_error_t *err);

/** Ends every wait with RJ_ETIMEOUT ("the gateway is shutting down"). For a drain's end. */
void gw_cons_abort(gw_cons_t *c);

/** Closes the timer; a check in flight still returns to a live set. */
void gw_cons_stop(gw_cons_t *c);

/** Frees the set: nothing may wait and no check be in flight (gw_cons_busy() == 0). */
void gw_cons_free(gw_cons_t *c);

/** Waiting requests plus a check in flight: what a drain waits for. */
size_t gw_cons_busy(const gw_cons_t *c);

#endif
