/*
 * redis/redis.h - Ramjet's layer over hiredis: a blocking publisher for replies
 * and read-model notifications, and a subscriber that runs on its own thread and
 * keeps itself subscribed across connection losses.
 *
 * Redis carries nothing that must survive a restart (docs/architecture.md):
 * replies whose gateway is gone and notifications nobody listens to are simply
 * dropped, and a subscriber that was disconnected misses what was published
 * meanwhile. So the publisher retries once on a broken connection and no more,
 * and the subscriber reconnects with backoff without trying to recover gaps.
 *
 * Conventions of this header: pointer parameters are borrowed for the call
 * and copied when kept; a publisher is used by one thread at a time; a
 * subscriber's callbacks run on its own thread.
 *
 * Deliberately not here: a general command interface, async hiredis with an
 * event loop, Sentinel/Cluster, and AUTH beyond the URL's password.
 */
#ifndef RJ_REDIS_H
#define RJ_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include "rj/status.h"

/** A parsed redis://[:password@]host[:port][/db] URL. */
typedef struct rj_redis_url {
    char host[256];     /* host name or address; default "127.0.0.1" */
    int port;           /* default 6379 */
    int db;             /* database index; default 0 */
    char password[256]; /* "" when none */
} rj_redis_url_t;

/** Parses @p url into @p out. @return RJ_OK or RJ_EINVAL with a message. Thread-safe. */
rj_status_t rj_redis_url_parse(const char *url, rj_redis_url_t *out, rj_error_t *err);

/* ------------------------------------------------------------------------ */
/* Publisher                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct rj_redis rj_redis_t;

/**
 * Connects (2 s connect and I/O timeouts), authenticates and selects the URL's db.
 * @return the connection, or NULL with @p err set (RJ_ERETRY when unreachable,
 *         RJ_EINVAL on a bad URL)
 * Ownership: the caller frees it with rj_redis_free. One thread at a time.
 */
rj_redis_t *rj_redis_connect(const char *url, rj_error_t *err);

/** Closes the connection. NULL is a no-op. Ownership: consumes @p r. */
void rj_redis_free(rj_redis_t *r);

/**
 * PUBLISH @p channel @p msg. On a broken connection reconnects once and retries.
 * @param receivers  when not NULL, set to the number of subscribers that got it
 * @return RJ_OK, RJ_ERETRY when Redis is unreachable, RJ_EIO on a Redis error
 */
rj_status_t rj_redis_publish(rj_redis_t *r, const char *channel, const void *msg, size_t len,
                             long long *receivers, rj_error_t *err);

/** One message for rj_redis_publish_many. All fields borrowed. */
typedef struct rj_redis_msg {
    const char *channel; /* channel name */
    const void *msg;     /* payload bytes */
    size_t len;          /* payload length */
} rj_redis_msg_t;

/**
 * Publishes @p n messages pipelined (one round trip). On a broken connection
 * reconnects once and sends the whole pipeline again (pub/sub is at most once
 * anyway, and a broken connection means the first attempt's fate is unknown).
 */
rj_status_t rj_redis_publish_many(rj_redis_t *r, const rj_redis_msg_t *msgs, size_t n,
                                  rj_error_t *err);

/* ------------------------------------------------------------------------ */
/* Subscriber                                                                */
/* ------------------------------------------------------------------------ */

typedef struct rj_redis_sub rj_redis_sub_t;

/**
 * Called for each message. @p channel is the concrete channel (also for pattern
 * subscriptions), @p msg the payload: @p len bytes, NUL-terminated after them but
 * possibly holding NULs. Both borrowed for the call. Runs on the subscriber's
 * thread; must not call rj_redis_sub_stop on its own subscriber.
 */
typedef void (*rj_redis_message_cb)(void *opaque, const char *channel, const char *msg,
                                    size_t len);

/**
 * Called after every successful (re)subscribe, before any message of that
 * connection. Runs on the subscriber's thread.
 */
typedef void (*rj_redis_connect_cb)(void *opaque);

/** Everything a subscriber needs; borrowed by rj_redis_sub_start_ex (copied). */
typedef struct rj_redis_sub_opts {
    const char *url;                 /* redis:// URL */
    const char *const *channels;     /* channel names, or patterns when patterns=true */
    size_t nchannels;                /* number of channels */
    bool patterns;                   /* PSUBSCRIBE instead of SUBSCRIBE */
    rj_redis_message_cb on_message;  /* required */
    rj_redis_connect_cb on_connect;  /* may be NULL */
    void *opaque;                    /* passed to the callbacks */
} rj_redis_sub_opts_t;

/**
 * Starts a subscriber thread that connects, SUBSCRIBEs (or PSUBSCRIBEs) and
 * calls the callbacks; on any connection loss it logs, reconnects with backoff
 * (100 ms doubling to 2 s) and subscribes again by itself. Returns at once:
 * use rj_redis_sub_wait_connected when the first subscription must be in place.
 *
 * @return the subscriber, or NULL with @p err set (RJ_EINVAL: bad URL, no channels)
 * Ownership: the caller stops and frees it with rj_redis_sub_stop. Any thread.
 */
rj_redis_sub_t *rj_redis_sub_start_ex(const rj_redis_sub_opts_t *opts, rj_error_t *err);

/** rj_redis_sub_start_ex with SUBSCRIBE to @p channels and no on_connect. */
rj_redis_sub_t *rj_redis_sub_start(const char *url, const char *const *channels, size_t n,
                                   rj_redis_message_cb cb, void *opaque, rj_error_t *err);

/** rj_redis_sub_start_ex with PSUBSCRIBE to @p patterns (e.g. "shop:rm:*"). */
rj_redis_sub_t *rj_redis_psub_start(const char *url, const char *const *patterns, size_t n,
                                    rj_redis_message_cb cb, void *opaque, rj_error_t *err);

/** True while subscribed (between a confirmed subscribe and a connection loss). Thread-safe. */
bool rj_redis_sub_is_connected(rj_redis_sub_t *sub);

/** Waits up to @p timeout_ms for the subscriber to be subscribed. Thread-safe. */
bool rj_redis_sub_wait_connected(rj_redis_sub_t *sub, int timeout_ms);

/**
 * Stops the thread (within 100 ms; up to 1 s while a connect attempt is in
 * flight), joins it and frees everything. NULL is a no-op. Ownership: consumes @p sub.
 * Must not be called from the subscriber's own callbacks.
 */
void rj_redis_sub_stop(rj_redis_sub_t *sub);

#endif
