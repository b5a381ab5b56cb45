/*
 * fedpoll.h - the federated executor in service, and its replacement when the services'
 * schemas change (pollingInterval).
 *
 * Every pollingInterval milliseconds the services' SDL is read again and composed, off
 * the loop (libuv's pool: reading blocks); when the composed schema differs, a new
 * executor (fed.h) takes the next requests. The old one keeps the operations it has
 * started - their plans point into its composition - and is freed once they are done.
 * Replacing the executor whole, connection pools included, keeps fed.c free of any
 * notion of a schema that changes under it.
 */
#ifndef GW_FEDPOLL_H
#define GW_FEDPOLL_H

#include <stddef.h>
#include <uv.h>

#include "fed.h"
#include "http.h"

typedef struct gw_fedpoll gw_fedpoll_t;

/**
 * Starts serving with @p first and, when @p interval_ms > 0, polling.
 *
 * @param opts   how to build later executors (graph and present unused); copied. Its
 *               conf must outlive the poller.
 * @param first  the executor built at start; taken
 *
 * Loop thread only.
 */
gw_fedpoll_t *gw_fedpoll_new(const gw_fed_opts_t *opts, gw_fed_t *first, int interval_ms);

/** Hands a GraphQL request to the current executor (gw_http_graphql_cb). */
void gw_fedpoll_handle(void *opaque, gw_responder_t *r, const gw_http_request_t *req);

/** Operations in flight, over the current and the replaced executors. */
size_t gw_fedpoll_busy(const gw_fedpoll_t *p);

/** Stops polling and closes every executor's handles; run the loop, then free. */
void gw_fedpoll_stop(gw_fedpoll_t *p);

/** Frees the poller and its executors after gw_fedpoll_stop() and a loop run. */
void gw_fedpoll_free(gw_fedpoll_t *p);

#endif
