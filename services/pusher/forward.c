/*
 * forward.c - the gateway forwarder: a libcurl multi handle on a thread of its own (see
 * forward.h).
 *
 * Why a thread rather than curl's sockets inside the libwebsockets loop: lws 4.1 can adopt
 * foreign descriptors, but driving curl's socket and timer callbacks through it means a
 * raw-file role per curl socket, re-adoption whenever curl swaps a connection, and a
 * sorted-usec timer mirroring curl's, all on the thread every client depends on. And a
 * libcurl built without the threaded resolver resolves names synchronously, which would
 * stall every connection while the gateway's name is looked up. A thread running
 * curl_multi_poll() needs none of that, and the hand-back is the one the Redis subscriber
 * already uses (notify.c): a mutex-protected queue and lws_cancel_service().
 *
 * The queues: the loop appends submissions under the lock and calls curl_multi_wakeup();
 * the thread detaches them, starts their transfers, and appends finished requests to the
 * result queue, waking the loop once per batch. Each request is one allocation that moves
 * from the submission queue to the thread's active list to the result queue, so its body
 * (which libcurl reads in place) and its reply live exactly as long as the request.
 *
 * What this file deliberately does not do: abort a request whose operation the client
 * stopped, or whose connection closed. A mutation already sent cannot be taken back by
 * hanging up, and letting the request finish keeps the protocol's bound on requests in
 * flight a bound on what the gateway is really doing (protocol.c frees an operation's slot
 * when its answer arrives, not when the client loses interest). Nor does it retry: a
 * mutation must not run twice because an answer was lost; the client decides.
 */
#include "forward.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/core.h"
#include "log/log.h"

/* The longest curl_multi_poll() wait: wakeups end it early, so this only bounds a missed one. */
#define POLL_MS 1000

typedef struct fwd_req {
    struct fwd_req *next;        /* next in the queue or active list it is on */
    struct fwd_req *prev;        /* previous in the thread's active list */
    uint64_t id;                 /* the loop's request id */
    char *body;                  /* the JSON request; owned */
    size_t len;                  /* its length */
    struct curl_slist *headers;  /* request headers; owned */
    CURL *easy;                  /* the transfer, once the thread started it */
    rj_buf_t reply;              /* the answer received so far */
    bool too_big;                /* the answer passed PUSH_FWD_MAX_REPLY_BYTES */
    push_fwd_status_t status;    /* once finished */
    long http_status;            /* once finished with PUSH_FWD_OK */
    char error[CURL_ERROR_SIZE]; /* once failed: the reason; curl's error buffer meanwhile */
} fwd_req_t;

struct push_fwd {
    char *url;             /* the gateway endpoint */
    long timeout_ms;       /* per request */
    push_fwd_wake_fn wake; /* wakes the loop */
    void *wake_ud;         /* its argument */
    CURLM *multi;          /* the thread's transfers; curl_multi_wakeup() from any thread */
    pthread_t thread;      /* the forwarding thread */
    pthread_mutex_t lock;  /* guards the fields below */
    bool stopping;         /* push_fwd_free() asked the thread to end */
    fwd_req_t *in_head;    /* submitted, not yet picked up by the thread */
    fwd_req_t *in_tail;
    fwd_req_t *out_head; /* finished, not yet drained by the loop */
    fwd_req_t *out_tail;
    /* The thread's own, unlocked: */
    fwd_req_t *active; /* transfers in the multi handle */
};

/* ---- requests -------------------------------------------------------------------------- */

static void
req_free(fwd_req_t *r)
{
    if (r->easy != NULL)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    rj_buf_deinit(&r->reply);
    free(r);
}

static void
list_free(fwd_req_t *r)
{
    while (r != NULL) {
        fwd_req_t *next = r->next;
        req_free(r);
        r = next;
    }
}

/* Appends the chain @p head..@p tail to the result queue and wakes the loop. Any thread. */
static void
finish_chain(push_fwd_t *f, fwd_req_t *head, fwd_req_t *tail)
{
    if (head == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    if (f->out_tail != NULL)
        f->out_tail->next = head;
    else
        f->out_head = head;
    f->out_tail = tail;
    pthread_mutex_unlock(&f->lock);
    f->wake(f->wake_ud);
}

static size_t
on_reply(char *data, size_t size, size_t nmemb, void *ud)
{
    fwd_req_t *r = ud;
    size_t n = size * nmemb;
    if (r->reply.len + n > PUSH_FWD_MAX_REPLY_BYTES) {
        r->too_big = true;
        return 0; /* anything but n aborts the transfer with CURLE_WRITE_ERROR */
    }
    rj_buf_append(&r->reply, data, n);
    return n;
}

/* A header value may not carry a line break (or any control byte): it would add headers. */
static bool
header_safe(const char *v)
{
    for (const unsigned char *c = (const unsigned char *)v; *c != '\0'; c++)
        if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
            return false;
    return true;
}

/* ---- the thread ------------------------------------------------------------------------- */

static void
active_unlink(push_fwd_t *f, fwd_req_t *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        f->active = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* Starts @p r's transfer; returns false (with r->error set) when libcurl refuses it. */
static bool
transfer_start(push_fwd_t *f, fwd_req_t *r)
{
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        snprintf(r->error, sizeof r->error, "curl_easy_init failed");
        return false;
    }
    CURL *c = r->easy;
    curl_easy_setopt(c, CURLOPT_URL, f->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* The gateway's URL is configuration; a redirect would let it be someone else's. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, f->timeout_ms);
    /* Signals are how libcurl times out DNS without a threaded resolver; not in a
       multi-threaded daemon. */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)PUSH_FWD_MAX_REPLY_BYTES);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_reply);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(c, CURLOPT_PRIVATE, r);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ramjet-pusher/1");
    r->error[0] = '\0';
    if (curl_multi_add_handle(f->multi, c) != CURLM_OK) {
        snprintf(r->error, sizeof r->error, "curl_multi_add_handle failed");
        return false;
    }
    r->prev = NULL;
    r->next = f->active;
    if (f->active != NULL)
        f->active->prev = r;
    f->active = r;
    return true;
}

/* Classifies a finished transfer into r->status (and r->error). */
static void
transfer_outcome(fwd_req_t *r, CURLcode rc)
{
    if (rc == CURLE_OK) {
        r->status = PUSH_FWD_OK;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
        return;
    }
    if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        r->status = PUSH_FWD_FAILED;
        snprintf(r->error, sizeof r->error, "the answer is larger than %u bytes",
                 PUSH_FWD_MAX_REPLY_BYTES);
        return;
    }
    r->status = rc == CURLE_OPERATION_TIMEDOUT ? PUSH_FWD_TIMEOUT : PUSH_FWD_FAILED;
    if (r->error[0] == '\0')
        snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
}

/* Moves every finished transfer to the result queue. */
static void
collect_finished(push_fwd_t *f)
{
    fwd_req_t *head = NULL, *tail = NULL;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        /* msg does not survive curl_multi_remove_handle(): copy what we need first. */
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        fwd_req_t *r = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
        RJ_ASSERT(r != NULL && r->easy == easy);
        transfer_outcome(r, rc);
        curl_multi_remove_handle(f->multi, easy);
        curl_easy_cleanup(easy);
        r->easy = NULL;
        curl_slist_free_all(r->headers);
        r->headers = NULL;
        active_unlink(f, r);
        if (tail != NULL)
            tail->next = r;
        else
            head = r;
        tail = r;
    }
    finish_chain(f, head, tail);
}

static void *
fwd_main(void *arg)
{
    push_fwd_t *f = arg;
    for (;;) {
        pthread_mutex_lock(&f->lock);
        bool stop = f->stopping;
        fwd_req_t *in = f->in_head;
        f->in_head = f->in_tail = NULL;
        pthread_mutex_unlock(&f->lock);
        if (stop) {
            list_free(in);
            break;
        }

        fwd_req_t *refused = NULL, *refused_tail = NULL;
        while (in != NULL) {
            fwd_req_t *next = in->next;
            in->next = NULL;
            if (!transfer_start(f, in)) {
                in->status = PUSH_FWD_FAILED;
                if (refused_tail != NULL)
                    refused_tail->next = in;
                else
                    refused = in;
                refused_tail = in;
            }
            in = next;
        }
        finish_chain(f, refused, refused_tail);

        int running = 0;
        CURLMcode mc = curl_multi_perform(f->multi, &running);
        if (mc != CURLM_OK)
            rj_error("forward", "curl_multi_perform failed: %s", curl_multi_strerror(mc));
        collect_finished(f);
        /* Returns on socket activity, curl's next timeout, a wakeup, or POLL_MS. */
        curl_multi_poll(f->multi, NULL, 0, POLL_MS, NULL);
    }

    /* Stopping: abandon the transfers in flight; nobody will drain their results. */
    while (f->active != NULL) {
        fwd_req_t *r = f->active;
        active_unlink(f, r);
        curl_multi_remove_handle(f->multi, r->easy);
        req_free(r);
    }
    return NULL;
}

/* ---- the loop's side -------------------------------------------------------------------- */

push_fwd_t *
push_fwd_start(const push_fwd_opts_t *opts, rj_error_t *err)
{
    RJ_ASSERT(opts->wake != NULL && opts->timeout_ms > 0);
    if (opts->url == NULL ||
        (strncasecmp(opts->url, "http://", 7) != 0 && strncasecmp(opts->url, "https://", 8) != 0)) {
        rj_error_set(err, RJ_EINVAL, "invalid gateway-url=%s: expected an http:// or https:// URL",
                     opts->url != NULL ? opts->url : "");
        return NULL;
    }
    /* Reference-counted, and thread-safe in the libcurl this builds against (>= 7.84). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rj_error_set(err, RJ_EIO, "could not initialise libcurl");
        return NULL;
    }
    push_fwd_t *f = rj_xcalloc(1, sizeof *f);
    f->url = rj_xstrdup(opts->url);
    f->timeout_ms = opts->timeout_ms;
    f->wake = opts->wake;
    f->wake_ud = opts->wake_ud;
    pthread_mutex_init(&f->lock, NULL);
    f->multi = curl_multi_init();
    if (f->multi == NULL) {
        rj_error_set(err, RJ_EIO, "could not create a libcurl multi handle");
        goto fail;
    }
    int rc = pthread_create(&f->thread, NULL, fwd_main, f);
    if (rc != 0) {
        rj_error_set(err, RJ_EIO, "could not start the forwarding thread: %s", strerror(rc));
        goto fail;
    }
    return f;

fail:
    if (f->multi != NULL)
        curl_multi_cleanup(f->multi);
    pthread_mutex_destroy(&f->lock);
    free(f->url);
    free(f);
    curl_global_cleanup();
    return NULL;
}

void
push_fwd_free(push_fwd_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    f->stopping = true;
    pthread_mutex_unlock(&f->lock);
    curl_multi_wakeup(f->multi);
    /* Join first: after this no one touches the queues or calls the wake hook. */
    pthread_join(f->thread, NULL);
    list_free(f->in_head);
    list_free(f->out_head);
    curl_multi_cleanup(f->multi);
    pthread_mutex_destroy(&f->lock);
    free(f->url);
    free(f);
    curl_global_cleanup();
}

void
push_fwd_submit(push_fwd_t *f, uint64_t req_id, const char *authorization,
                const char *consistency, char *body, size_t len)
{
    fwd_req_t *r = rj_xcalloc(1, sizeof *r);
    r->id = req_id;
    r->body = body;
    r->len = len;
    rj_buf_init(&r->reply);

    if (authorization != NULL && !header_safe(authorization)) {
        /* Never sent, never logged: the request fails without reaching the gateway. */
        r->status = PUSH_FWD_FAILED;
        snprintf(r->error, sizeof r->error,
                 "the connection's Authorization is not a valid "
                 "HTTP header value");
        finish_chain(f, r, r);
        return;
    }
    r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, "Accept: application/json");
    /* No "Expect: 100-continue" round trip before bodies over 1 KiB. */
    r->headers = curl_slist_append(r->headers, "Expect:");
    if (authorization != NULL) {
        char *h = rj_xasprintf("Authorization: %s", authorization);
        r->headers = curl_slist_append(r->headers, h);
        free(h);
    }
    if (consistency != NULL) {
        char *h = rj_xasprintf("Consistency-Token: %s", consistency);
        r->headers = curl_slist_append(r->headers, h);
        free(h);
    }
    RJ_ASSERT(r->headers != NULL); /* curl_slist_append returns NULL only without memory */

    pthread_mutex_lock(&f->lock);
    if (f->in_tail != NULL)
        f->in_tail->next = r;
    else
        f->in_head = r;
    f->in_tail = r;
    pthread_mutex_unlock(&f->lock);
    curl_multi_wakeup(f->multi);
}

size_t
push_fwd_drain(push_fwd_t *f, push_fwd_result_fn fn, void *ud)
{
    pthread_mutex_lock(&f->lock);
    fwd_req_t *r = f->out_head;
    f->out_head = f->out_tail = NULL;
    pthread_mutex_unlock(&f->lock);

    size_t n = 0;
    while (r != NULL) {
        fwd_req_t *next = r->next;
        bool ok = r->status == PUSH_FWD_OK;
        push_fwd_result_t res = {
            .req_id = r->id,
            .status = r->status,
            .http_status = ok ? r->http_status : 0,
            .body = ok && r->reply.data != NULL ? r->reply.data : "",
            .len = ok ? r->reply.len : 0,
            .error = ok ? NULL : (r->error[0] != '\0' ? r->error : "unknown failure"),
        };
        fn(ud, &res);
        req_free(r);
        n++;
        r = next;
    }
    return n;
}
