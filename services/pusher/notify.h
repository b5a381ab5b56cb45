/*
 * notify.h - the hand-off of read-model changes from the Redis subscriber thread to the
 * WebSocket loop.
 *
 * The Redis subscriber (redis/redis.h) calls back on its own thread; the connections and
 * the subscription registry live on the libwebsockets thread and are not locked. So the
 * callback only copies the message onto a mutex-protected queue and calls the wake hook
 * (ws.c: lws_cancel_service); the loop later swaps the whole queue out under the lock and
 * delivers the messages with the lock released, a time slice at a time: one change may
 * fan out to many thousands of subscriptions, and the loop must go back to its sockets
 * between slices rather than deliver a whole burst first.
 *
 * The queue is bounded (PUSH_NOTIFY_QUEUE_MAX messages): if the loop stalls, new changes
 * are dropped and counted rather than growing memory without limit. That matches what
 * Redis pub/sub promises anyway: at most once.
 */
#ifndef PUSH_NOTIFY_H
#define PUSH_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rj/status.h"

/* Most changes waiting for the loop before new ones are dropped. */
#define PUSH_NOTIFY_QUEUE_MAX 100000

typedef struct push_notify push_notify_t;

/** Called on the subscriber thread after a message was queued. Must only wake the loop. */
typedef void (*push_notify_wake_fn)(void *ud);

/** Called on the loop thread for each drained message; @p msg is borrowed for the call. */
typedef void (*push_notify_msg_fn)(void *ud, const char *channel, const char *msg, size_t len);

/**
 * Starts a pattern subscription to @p pattern (e.g. "shop:rm:*") on @p redis_url. Returns
 * at once; the subscriber connects, reconnects and resubscribes by itself.
 *
 * @param wake  called on the subscriber thread after each queued message; required
 * @return the notifier, or NULL with @p err set (RJ_EINVAL for a bad URL)
 *
 * Ownership: release with push_notify_free(). Call from the loop thread.
 */
push_notify_t *push_notify_start(const char *redis_url, const char *pattern,
                                 push_notify_wake_fn wake, void *ud, rj_error_t *err);

/** Stops the subscriber thread, then frees the queue. NULL is a no-op. */
void push_notify_free(push_notify_t *n);

/** True while the subscription is in place. Any thread. */
bool push_notify_connected(push_notify_t *n);

/**
 * Calls @p fn for queued messages, in arrival order, without holding the lock, until none
 * is left or @p budget_us has passed (at least one is delivered). Loop thread only.
 *
 * @param budget_us  time slice in microseconds; 0 = no limit
 * @return true when messages are left: call again once the loop has served its sockets
 */
bool push_notify_drain(push_notify_t *n, int64_t budget_us, push_notify_msg_fn fn, void *ud);

/** Messages received from Redis and messages dropped because the queue was full. */
uint64_t push_notify_received(push_notify_t *n);
uint64_t push_notify_dropped(push_notify_t *n);

#endif
