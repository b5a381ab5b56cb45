/*
 * notify.c - Redis subscriber thread → WebSocket loop hand-off (see notify.h).
 *
 * Each message is copied into one allocation (channel and payload behind a small header)
 * and appended to a singly linked FIFO under a mutex. The loop drains by detaching the
 * whole list in O(1) under the lock and walking it unlocked, so the subscriber thread
 * never waits for deliveries and the loop holds the lock for a few instructions.
 *
 * The wake hook is called on every message rather than only on the empty→non-empty edge:
 * lws_cancel_service coalesces (it writes to an eventfd), and tracking the edge correctly
 * would need the loop to report when it has started draining, for no measurable gain.
 */
#include "notify.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "log/log.h"
#include "redis/redis.h"

typedef struct notify_msg {
    struct notify_msg *next; /* next message, arrival order */
    size_t channel_len;      /* bytes of the channel name */
    size_t len;              /* bytes of the payload */
    char data[];             /* channel, NUL, payload, NUL */
} notify_msg_t;

struct push_notify {
    rj_redis_sub_t *sub;      /* the subscriber thread */
    push_notify_wake_fn wake; /* wakes the loop */
    void *ud;                 /* its argument */
    pthread_mutex_t lock;     /* guards the fields below */
    notify_msg_t *head;       /* oldest queued message */
    notify_msg_t *tail;       /* newest queued message */
    size_t count;             /* queued messages */
    notify_msg_t *backlog;    /* taken from the queue, not delivered yet; loop thread only,
                                 not under the lock, not counted against the bound */
    uint64_t received;        /* messages from Redis */
    uint64_t dropped;         /* messages dropped on a full queue */
    bool warned_full;         /* one warning per overflow episode */
};

static void
on_message(void *opaque, const char *channel, const char *msg, size_t len)
{
    push_notify_t *n = opaque;
    size_t clen = strlen(channel);

    pthread_mutex_lock(&n->lock);
    n->received++;
    bool full = n->count >= PUSH_NOTIFY_QUEUE_MAX;
    bool warn = full && !n->warned_full;
    if (full) {
        n->dropped++;
        n->warned_full = true;
    }
    pthread_mutex_unlock(&n->lock);
    if (full) {
        if (warn)
            rj_warn("notify", "dropping read-model changes: the loop is %d changes behind",
                    PUSH_NOTIFY_QUEUE_MAX);
        return;
    }

    /* Allocate outside the lock; the queue may have moved on meanwhile, which is fine. */
    notify_msg_t *m = rj_xmalloc(sizeof *m + clen + 1 + len + 1);
    m->next = NULL;
    m->channel_len = clen;
    m->len = len;
    memcpy(m->data, channel, clen + 1);
    memcpy(m->data + clen + 1, msg, len);
    m->data[clen + 1 + len] = '\0';

    pthread_mutex_lock(&n->lock);
    if (n->tail != NULL)
        n->tail->next = m;
    else
        n->head = m;
    n->tail = m;
    n->count++;
    pthread_mutex_unlock(&n->lock);

    n->wake(n->ud);
}

static void
on_connect(void *opaque)
{
    push_notify_t *n = opaque;
    rj_info("notify", "subscribed to read-model changes");
    n->wake(n->ud); /* lets the loop re-evaluate readiness at once */
}

push_notify_t *
push_notify_start(const char *redis_url, const char *pattern, push_notify_wake_fn wake, void *ud,
                  rj_error_t *err)
{
    RJ_ASSERT(wake != NULL);
    push_notify_t *n = rj_xcalloc(1, sizeof *n);
    n->wake = wake;
    n->ud = ud;
    pthread_mutex_init(&n->lock, NULL);

    const char *const patterns[] = {pattern};
    rj_redis_sub_opts_t opts = {
        .url = redis_url,
        .channels = patterns,
        .nchannels = 1,
        .patterns = true,
        .on_message = on_message,
        .on_connect = on_connect,
        .opaque = n,
    };
    n->sub = rj_redis_sub_start_ex(&opts, err);
    if (n->sub == NULL) {
        pthread_mutex_destroy(&n->lock);
        free(n);
        return NULL;
    }
    return n;
}

void
push_notify_free(push_notify_t *n)
{
    if (n == NULL)
        return;
    /* Join the thread first: after this no callback can touch the queue. */
    rj_redis_sub_stop(n->sub);
    for (notify_msg_t *m = n->head; m != NULL;) {
        notify_msg_t *next = m->next;
        free(m);
        m = next;
    }
    for (notify_msg_t *m = n->backlog; m != NULL;) {
        notify_msg_t *next = m->next;
        free(m);
        m = next;
    }
    pthread_mutex_destroy(&n->lock);
    free(n);
}

bool
push_notify_connected(push_notify_t *n)
{
    return rj_redis_sub_is_connected(n->sub);
}

bool
push_notify_drain(push_notify_t *n, int64_t budget_us, push_notify_msg_fn fn, void *ud)
{
    if (n->backlog == NULL) {
        pthread_mutex_lock(&n->lock);
        n->backlog = n->head;
        n->head = n->tail = NULL;
        n->count = 0;
        n->warned_full = false;
        pthread_mutex_unlock(&n->lock);
    }
    int64_t deadline = budget_us > 0 ? rj_mono_us() + budget_us : INT64_MAX;
    while (n->backlog != NULL) {
        notify_msg_t *m = n->backlog;
        n->backlog = m->next;
        fn(ud, m->data, m->data + m->channel_len + 1, m->len);
        free(m);
        if (n->backlog != NULL && rj_mono_us() >= deadline)
            break;
    }
    return n->backlog != NULL;
}

uint64_t
push_notify_received(push_notify_t *n)
{
    pthread_mutex_lock(&n->lock);
    uint64_t v = n->received;
    pthread_mutex_unlock(&n->lock);
    return v;
}

uint64_t
push_notify_dropped(push_notify_t *n)
{
    pthread_mutex_lock(&n->lock);
    uint64_t v = n->dropped;
    pthread_mutex_unlock(&n->lock);
    return v;
}
