/*
 * redis.c - the publisher and the self-healing subscriber declared in redis.h.
 *
 * The subscriber thread owns one blocking hiredis connection. It does not use
 * hiredis's socket timeout to notice rj_redis_sub_stop: in hiredis 0.14 a read
 * timeout marks the context failed for good. Instead it poll()s the socket with
 * a short timeout, and only calls redisBufferRead when data is there, then
 * takes complete replies out of the reader. A stop is therefore noticed within
 * one poll interval, and a quiet connection is never mistaken for a broken one.
 *
 * Not here: a general command API (Ramjet only publishes and subscribes), and
 * gap recovery after a reconnect (pub/sub is at most once by design).
 */
#include "redis/redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/core.h"
#include "log/log.h"

#define REDIS_LOG "redis"
#define REDIS_TIMEOUT_MS 2000   /* connect and I/O timeout of the publisher */
#define SUB_POLL_MS 100         /* how often the subscriber checks for a stop */
#define SUB_CONNECT_MS 1000     /* subscriber connect timeout: bounds stop latency too */
#define SUB_BACKOFF_MIN_MS 100  /* first reconnect delay */
#define SUB_BACKOFF_MAX_MS 2000 /* reconnect delay cap */

/* ------------------------------------------------------------------------ */
/* URLs and connections                                                      */
/* ------------------------------------------------------------------------ */

rj_status_t
rj_redis_url_parse(const char *url, rj_redis_url_t *out, rj_error_t *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->host, sizeof out->host, "127.0.0.1");
    out->port = 6379;
    if (url == NULL || *url == '\0')
        return rj_error_set(err, RJ_EINVAL, "could not parse Redis URL: empty");

    const char *s = url;
    if (strncmp(s, "redis://", 8) == 0)
        s += 8;
    else if (strstr(s, "://") != NULL)
        return rj_error_set(err, RJ_EINVAL, "could not parse Redis URL: unsupported scheme url=%s",
                            url);

    /* [user][:password]@ */
    const char *at = strrchr(s, '@');
    if (at != NULL) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (colon != NULL) {
            size_t plen = (size_t)(at - colon - 1);
            if (plen >= sizeof out->password)
                return rj_error_set(err, RJ_EINVAL, "could not parse Redis URL: password too long");
            memcpy(out->password, colon + 1, plen);
            out->password[plen] = '\0';
        }
        s = at + 1;
    }

    size_t hlen = strcspn(s, ":/");
    if (hlen >= sizeof out->host)
        return rj_error_set(err, RJ_EINVAL, "could not parse Redis URL: host too long url=%s", url);
    if (hlen > 0) {
        memcpy(out->host, s, hlen);
        out->host[hlen] = '\0';
    }
    s += hlen;
    if (*s == ':') {
        char *end;
        long port = strtol(s + 1, &end, 10);
        if (end == s + 1 || port <= 0 || port > 65535 || (*end != '\0' && *end != '/'))
            return rj_error_set(err, RJ_EINVAL, "could not parse Redis URL: bad port url=%s", url);
        out->port = (int)port;
        s = end;
    }
    if (*s == '/' && s[1] != '\0') {
        char *end;
        long db = strtol(s + 1, &end, 10);
        if (end == s + 1 || db < 0 || *end != '\0')
            return rj_error_set(err, RJ_EINVAL, "could not parse Redis URL: bad database url=%s",
                                url);
        out->db = (int)db;
    } else if (*s != '\0' && strcmp(s, "/") != 0) {
        return rj_error_set(err, RJ_EINVAL, "could not parse Redis URL: trailing text url=%s", url);
    }
    return RJ_OK;
}

/*
 * Connects, authenticates, and (when @p select_db) selects the URL's database.
 * Returns NULL with @p err set (RJ_ERETRY: unreachable; RJ_EIO: refused AUTH).
 */
static redisContext *
redis_open(const rj_redis_url_t *u, int timeout_ms, bool select_db, rj_error_t *err)
{
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    redisContext *ctx = redisConnectWithTimeout(u->host, u->port, tv);
    if (ctx == NULL || ctx->err) {
        rj_error_set(err, RJ_ERETRY, "could not connect to Redis: %s host=%s port=%d",
                     ctx != NULL ? ctx->errstr : "out of memory", u->host, u->port);
        if (ctx != NULL)
            redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    redisEnableKeepAlive(ctx);

    redisReply *r = NULL;
    if (u->password[0] != '\0') {
        r = redisCommand(ctx, "AUTH %s", u->password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            rj_error_set(err, r == NULL ? RJ_ERETRY : RJ_EIO,
                         "could not authenticate to Redis: %s",
                         r == NULL ? ctx->errstr : r->str);
            goto fail;
        }
        freeReplyObject(r);
    }
    if (select_db && u->db != 0) {
        r = redisCommand(ctx, "SELECT %d", u->db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            rj_error_set(err, r == NULL ? RJ_ERETRY : RJ_EIO,
                         "could not select Redis database: %s db=%d",
                         r == NULL ? ctx->errstr : r->str, u->db);
            goto fail;
        }
        freeReplyObject(r);
    }
    return ctx;

fail:
    if (r != NULL)
        freeReplyObject(r);
    redisFree(ctx);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Publisher                                                                 */
/* ------------------------------------------------------------------------ */

struct rj_redis {
    rj_redis_url_t url; /* where to (re)connect */
    redisContext *ctx;  /* current connection; NULL after a failed reconnect */
};

rj_redis_t *
rj_redis_connect(const char *url, rj_error_t *err)
{
    rj_redis_url_t u;
    if (rj_redis_url_parse(url, &u, err) != RJ_OK)
        return NULL;
    redisContext *ctx = redis_open(&u, REDIS_TIMEOUT_MS, true, err);
    if (ctx == NULL)
        return NULL;
    rj_redis_t *r = rj_xcalloc(1, sizeof *r);
    r->url = u;
    r->ctx = ctx;
    rj_debug(REDIS_LOG, "connected host=%s port=%d", u.host, u.port);
    return r;
}

void
rj_redis_free(rj_redis_t *r)
{
    if (r == NULL)
        return;
    if (r->ctx != NULL)
        redisFree(r->ctx);
    free(r);
}

/* Replaces a broken connection. */
static rj_status_t
redis_reconnect(rj_redis_t *r, rj_error_t *err)
{
    if (r->ctx != NULL)
        redisFree(r->ctx);
    r->ctx = redis_open(&r->url, REDIS_TIMEOUT_MS, true, err);
    return r->ctx != NULL ? RJ_OK : RJ_ERETRY;
}

/*
 * Sends @p n PUBLISH commands pipelined and reads their replies. Returns
 * RJ_ERETRY when the connection broke (the caller may reconnect and resend).
 */
static rj_status_t
redis_publish_once(rj_redis_t *r, const rj_redis_msg_t *msgs, size_t n, long long *receivers,
                   rj_error_t *err)
{
    if (r->ctx == NULL)
        return rj_error_set(err, RJ_ERETRY, "could not publish to Redis: not connected");
    for (size_t i = 0; i < n; i++) {
        const char *argv[] = {"PUBLISH", msgs[i].channel, msgs[i].msg};
        size_t lens[] = {7, strlen(msgs[i].channel), msgs[i].len};
        if (redisAppendCommandArgv(r->ctx, 3, argv, lens) != REDIS_OK)
            return rj_error_set(err, RJ_ERETRY, "could not publish to Redis: %s", r->ctx->errstr);
    }
    rj_status_t st = RJ_OK;
    for (size_t i = 0; i < n; i++) {
        redisReply *reply = NULL;
        if (redisGetReply(r->ctx, (void **)&reply) != REDIS_OK || reply == NULL)
            return rj_error_set(err, RJ_ERETRY, "could not publish to Redis: %s", r->ctx->errstr);
        if (reply->type == REDIS_REPLY_ERROR && st == RJ_OK)
            st = rj_error_set(err, RJ_EIO, "could not publish to Redis: %s channel=%s", reply->str,
                              msgs[i].channel);
        else if (reply->type == REDIS_REPLY_INTEGER && receivers != NULL)
            *receivers = reply->integer;
        freeReplyObject(reply);
    }
    return st;
}

rj_status_t
rj_redis_publish_many(rj_redis_t *r, const rj_redis_msg_t *msgs, size_t n, rj_error_t *err)
{
    if (n == 0)
        return RJ_OK;
    rj_status_t st = redis_publish_once(r, msgs, n, NULL, err);
    if (st != RJ_ERETRY)
        return st;
    rj_warn(REDIS_LOG, "publisher connection broken, reconnecting: %s",
            err != NULL ? err->msg : "");
    if ((st = redis_reconnect(r, err)) != RJ_OK)
        return st;
    return redis_publish_once(r, msgs, n, NULL, err);
}

rj_status_t
rj_redis_publish(rj_redis_t *r, const char *channel, const void *msg, size_t len,
                 long long *receivers, rj_error_t *err)
{
    rj_redis_msg_t m = {.channel = channel, .msg = msg, .len = len};
    rj_status_t st = redis_publish_once(r, &m, 1, receivers, err);
    if (st != RJ_ERETRY)
        return st;
    rj_warn(REDIS_LOG, "publisher connection broken, reconnecting: %s",
            err != NULL ? err->msg : "");
    if ((st = redis_reconnect(r, err)) != RJ_OK)
        return st;
    return redis_publish_once(r, &m, 1, receivers, err);
}

/* ------------------------------------------------------------------------ */
/* Subscriber                                                                */
/* ------------------------------------------------------------------------ */

struct rj_redis_sub {
    rj_redis_url_t url;             /* where to (re)connect */
    char **channels;                /* channel names or patterns (owned) */
    size_t nchannels;               /* how many */
    bool patterns;                  /* PSUBSCRIBE */
    rj_redis_message_cb on_message; /* per message */
    rj_redis_connect_cb on_connect; /* after each (re)subscribe; may be NULL */
    void *opaque;                   /* callback argument */
    pthread_t thread;               /* the subscriber thread */
    atomic_bool stop;               /* set by rj_redis_sub_stop */
    pthread_mutex_t lock;           /* guards connected, for the condition */
    pthread_cond_t cond;            /* signalled when connected turns true */
    bool connected;                 /* subscriptions confirmed on the live connection */
};

static void
sub_set_connected(rj_redis_sub_t *sub, bool connected)
{
    pthread_mutex_lock(&sub->lock);
    sub->connected = connected;
    pthread_cond_broadcast(&sub->cond);
    pthread_mutex_unlock(&sub->lock);
}

/* Sleeps @p ms in slices, returning early when stopped. */
static void
sub_sleep(rj_redis_sub_t *sub, int ms)
{
    while (ms > 0 && !atomic_load(&sub->stop)) {
        int slice = ms < SUB_POLL_MS ? ms : SUB_POLL_MS;
        poll(NULL, 0, slice);
        ms -= slice;
    }
}

/* Handles one reply in subscribed mode; returns how many subscriptions it confirmed. */
static size_t
sub_handle_reply(rj_redis_sub_t *sub, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "message") == 0 && r->elements == 3) {
        sub->on_message(sub->opaque, r->element[1]->str, r->element[2]->str,
                        r->element[2]->len);
    } else if (strcmp(kind, "pmessage") == 0 && r->elements == 4) {
        sub->on_message(sub->opaque, r->element[2]->str, r->element[3]->str,
                        r->element[3]->len);
    } else if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "psubscribe") == 0) {
        return 1;
    }
    return 0;
}

/*
 * One connection's life: subscribe, then deliver messages until the connection
 * breaks or a stop is requested. Returns true when it got as far as subscribed
 * (so the caller resets its backoff).
 */
static bool
sub_session(rj_redis_sub_t *sub, rj_error_t *err)
{
    redisContext *ctx = redis_open(&sub->url, SUB_CONNECT_MS, false, err);
    if (ctx == NULL)
        return false;

    size_t argc = sub->nchannels + 1;
    const char **argv = rj_xcalloc(argc, sizeof *argv);
    size_t *lens = rj_xcalloc(argc, sizeof *lens);
    argv[0] = sub->patterns ? "PSUBSCRIBE" : "SUBSCRIBE";
    lens[0] = strlen(argv[0]);
    for (size_t i = 0; i < sub->nchannels; i++) {
        argv[i + 1] = sub->channels[i];
        lens[i + 1] = strlen(sub->channels[i]);
    }
    int rc = redisAppendCommandArgv(ctx, (int)argc, argv, lens);
    free(argv);
    free(lens);

    /* Push the command out now; replies are read below, with poll. */
    int done = 0;
    while (rc == REDIS_OK && !done)
        rc = redisBufferWrite(ctx, &done);
    if (rc != REDIS_OK) {
        rj_error_set(err, RJ_ERETRY, "could not subscribe to Redis: %s", ctx->errstr);
        redisFree(ctx);
        return false;
    }

    size_t confirmed = 0;
    bool subscribed = false;
    while (!atomic_load(&sub->stop)) {
        void *reply = NULL;
        if (redisReaderGetReply(ctx->reader, &reply) != REDIS_OK) {
            rj_error_set(err, RJ_EPROTO, "could not read from Redis: protocol error");
            break;
        }
        if (reply != NULL) {
            const redisReply *r = reply;
            if (r->type == REDIS_REPLY_ERROR) {
                rj_error_set(err, RJ_EIO, "could not subscribe to Redis: %s", r->str);
                freeReplyObject(reply);
                break;
            }
            confirmed += sub_handle_reply(sub, r);
            freeReplyObject(reply);
            if (!subscribed && confirmed >= sub->nchannels) {
                subscribed = true;
                /* on_connect first: whoever sees "connected" may rely on it having run */
                if (sub->on_connect != NULL)
                    sub->on_connect(sub->opaque);
                sub_set_connected(sub, true);
            }
            continue;
        }
        struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, SUB_POLL_MS);
        if (pr == 0 || (pr < 0 && errno == EINTR))
            continue;
        if (pr < 0 || redisBufferRead(ctx) != REDIS_OK) {
            rj_error_set(err, RJ_ERETRY, "lost connection to Redis: %s",
                         pr < 0 ? strerror(errno) : ctx->errstr);
            break;
        }
    }
    sub_set_connected(sub, false);
    redisFree(ctx);
    return subscribed;
}

static void *
sub_main(void *arg)
{
    rj_redis_sub_t *sub = arg;
    int backoff = SUB_BACKOFF_MIN_MS;
    unsigned failures = 0;
    while (!atomic_load(&sub->stop)) {
        rj_error_t err = {0};
        bool was_subscribed = sub_session(sub, &err);
        if (atomic_load(&sub->stop))
            break;
        if (was_subscribed) {
            rj_warn(REDIS_LOG, "subscriber disconnected, resubscribing: %s", err.msg);
            backoff = SUB_BACKOFF_MIN_MS;
            failures = 0;
            continue;
        }
        /* Say it on the first failure and then now and then, not on every attempt. */
        if (failures++ % 20 == 0)
            rj_warn(REDIS_LOG, "subscriber cannot connect, retrying: %s attempts=%u", err.msg,
                    failures);
        sub_sleep(sub, backoff);
        backoff = backoff * 2 > SUB_BACKOFF_MAX_MS ? SUB_BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

rj_redis_sub_t *
rj_redis_sub_start_ex(const rj_redis_sub_opts_t *opts, rj_error_t *err)
{
    rj_redis_url_t u;
    if (rj_redis_url_parse(opts->url, &u, err) != RJ_OK)
        return NULL;
    if (opts->nchannels == 0 || opts->on_message == NULL) {
        rj_error_set(err, RJ_EINVAL, "could not start Redis subscriber: %s",
                     opts->nchannels == 0 ? "no channels" : "no message callback");
        return NULL;
    }
    rj_redis_sub_t *sub = rj_xcalloc(1, sizeof *sub);
    sub->url = u;
    sub->nchannels = opts->nchannels;
    sub->channels = rj_xcalloc(opts->nchannels, sizeof *sub->channels);
    for (size_t i = 0; i < opts->nchannels; i++)
        sub->channels[i] = rj_xstrdup(opts->channels[i]);
    sub->patterns = opts->patterns;
    sub->on_message = opts->on_message;
    sub->on_connect = opts->on_connect;
    sub->opaque = opts->opaque;
    pthread_mutex_init(&sub->lock, NULL);
    pthread_cond_init(&sub->cond, NULL);
    int rc = pthread_create(&sub->thread, NULL, sub_main, sub);
    if (rc != 0) {
        rj_error_set(err, RJ_EIO, "could not start Redis subscriber: %s", strerror(rc));
        for (size_t i = 0; i < sub->nchannels; i++)
            free(sub->channels[i]);
        free(sub->channels);
        pthread_mutex_destroy(&sub->lock);
        pthread_cond_destroy(&sub->cond);
        free(sub);
        return NULL;
    }
    return sub;
}

rj_redis_sub_t *
rj_redis_sub_start(const char *url, const char *const *channels, size_t n,
                   rj_redis_message_cb cb, void *opaque, rj_error_t *err)
{
    rj_redis_sub_opts_t o = {
        .url = url, .channels = channels, .nchannels = n, .on_message = cb, .opaque = opaque};
    return rj_redis_sub_start_ex(&o, err);
}

rj_redis_sub_t *
rj_redis_psub_start(const char *url, const char *const *patterns, size_t n,
                    rj_redis_message_cb cb, void *opaque, rj_error_t *err)
{
    rj_redis_sub_opts_t o = {.url = url,
                             .channels = patterns,
                             .nchannels = n,
                             .patterns = true,
                             .on_message = cb,
                             .opaque = opaque};
    return rj_redis_sub_start_ex(&o, err);
}

bool
rj_redis_sub_is_connected(rj_redis_sub_t *sub)
{
    pthread_mutex_lock(&sub->lock);
    bool c = sub->connected;
    pthread_mutex_unlock(&sub->lock);
    return c;
}

bool
rj_redis_sub_wait_connected(rj_redis_sub_t *sub, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sub->lock);
    while (!sub->connected) {
        if (pthread_cond_timedwait(&sub->cond, &sub->lock, &deadline) == ETIMEDOUT)
            break;
    }
    bool c = sub->connected;
    pthread_mutex_unlock(&sub->lock);
    return c;
}

void
rj_redis_sub_stop(rj_redis_sub_t *sub)
{
    if (sub == NULL)
        return;
    atomic_store(&sub->stop, true);
    pthread_join(sub->thread, NULL);
    for (size_t i = 0; i < sub->nchannels; i++)
        free(sub->channels[i]);
    free(sub->channels);
    pthread_mutex_destroy(&sub->lock);
    pthread_cond_destroy(&sub->cond);
    free(sub);
}
