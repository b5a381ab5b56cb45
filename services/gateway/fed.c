/*
 * fed.c - federated execution (fed.h): request -> cached document -> prepared operation
 * -> cached plan -> requests to the services over pooled libcurl connections -> merged
 * answers completed by the engine against the composed schema.
 *
 * What a service does wrong costs only its fields: a transfer that fails, times out
 * (the per-request timeout), makes the operation's answers pass max_answer_bytes, or
 * answers something that is not a GraphQL JSON answer is delivered to the run as a
 * failure, which nulls its fields with an error and skips what depended on it; the
 * client still gets HTTP 200 with the rest. Every transfer has a timeout and every
 * operation a budget (budget-ms), so every request ends.
 *
 * One executor serves one composition; fedpoll.c replaces it whole when the services'
 * schemas change. Not done here yet: a client that disconnects does not cancel its
 * transfers (their timeouts bound them), and the hooks of DESIGN.md section 7.
 */
#include "fed.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "exec.h"
#include "json/envelope.h"
#include "log/log.h"
#include "proc/proc.h"

#define GW_FED_DOCS 1024        /* parsed documents cached */
#define GW_FED_PLANS 256        /* plans cached (direct-mapped by hash) */
#define GW_FED_BATCH 16         /* requests taken from a run at a time */
#define GW_FED_URL_REST_MS 5000 /* a URL that refused a connection is skipped this long */

/* A cached plan with the document it points into. Reference-counted: an operation in
 * flight keeps its plan when the cache evicts it. */
typedef struct plan_ref {
    int refs;            /* the cache's and each operation's */
    uint64_t hash;       /* of key */
    char *key;           /* query text, NUL, operation name */
    size_t key_len;      /* length of key, both parts */
    rj_gql_doc_t *doc;   /* a reference */
    rj_fed_plan_t *plan; /* the plan */
} plan_ref_t;

/*
 * One service's connections: a libcurl multi handle of its own, so that its
 * `connections` bounds it alone and its idle connections are its own.
 */
typedef struct pool {
    gw_fed_t *f;      /* the executor */
    CURLM *multi;     /* the transfers and the keep-alive connections */
    uv_timer_t timer; /* libcurl's timeouts */
    bool timer_open;  /* timer was initialised */
    bool in_timer;    /* inside on_timer: libcurl is running its timeouts */
    CURL **idle;      /* easy handles of finished transfers, set up for this service */
    size_t nidle;     /* how many (at most the service's connections) */
} pool_t;

/*
 * A socket libcurl asked the loop to watch. A connection's lives as long as the socket,
 * not as long as one transfer on it: libcurl stops watching a kept-alive connection
 * between transfers (CURL_POLL_REMOVE) and watches it again for the next one, and a
 * watcher made anew each time cost a calloc, an ioctl, two epoll_ctl calls and a
 * uv_close per request sent. Only the sockets libcurl opened through on_curl_open are
 * kept so: they are closed through on_curl_close, which closes the watcher first. Others
 * (the threaded resolver's socketpair) are closed with a plain close(), so their watchers
 * go at CURL_POLL_REMOVE, as a uv_poll_t must never outlive its descriptor's number.
 */
typedef struct sock {
    uv_poll_t poll;   /* the watcher */
    curl_socket_t fd; /* the socket */
    pool_t *pool;     /* whose */
    int events;       /* UV_READABLE | UV_WRITABLE being watched; 0: stopped */
    bool conn;        /* a connection's socket, opened by on_curl_open */
    bool idle;        /* a connection's, not watched by libcurl (CURL_POLL_REMOVE): kept
                         alive between transfers */
} sock_t;

struct gw_fed {
    uv_loop_t *loop;                   /* the gateway's loop */
    const rj_fed_conf_t *conf;         /* the configuration */
    rj_fed_graph_t *graph;             /* the composition */
    const rj_fed_service_conf_t **svc; /* per graph service: its configuration */
    struct curl_slist **headers;       /* per graph service: request headers */
    size_t *next_url;                  /* per graph service: round robin over its URLs */
    uint64_t **url_rest;               /* per graph service and URL: skipped until (loop ms) */
    pool_t *pools;                     /* per graph service: its connections */
    sock_t **socks;                    /* by file descriptor: the watchers of curl's sockets */
    size_t nsocks;                     /* length of socks */
    rj_gql_cache_t *docs;              /* parsed, validated documents */
    plan_ref_t *plans[GW_FED_PLANS];   /* the plan cache */
    int timeout_ms;                    /* per transfer */
    int budget_ms;                     /* per operation; 0: none */
    size_t max_answer;                 /* bytes of all answers to one operation */
    size_t busy;                       /* operations in flight */
    uint64_t batched;                  /* graph services with allowBatchedQueries */
    gw_exec_t *local;                  /* the application's executor (service 0), or NULL */
    const rj_auth_t *auth;             /* with local: verifies the client's token */
    struct {
        rj_metric_t *requests; /* GraphQL requests received (shared with the app's) */
        rj_metric_t *plans;    /* plans made (plan cache misses) */
        rj_metric_t *fetches;  /* requests sent to services */
        rj_metric_t *failures; /* of them: failed, timed out, too large, not GraphQL */
        rj_metric_t *local;    /* fetches answered in-process by the application's API */
        rj_metric_t *duration; /* time to answer a federated operation */
    } m;                       /* /metrics */
};

/* One GraphQL request being answered. */
typedef struct fed_op {
    gw_fed_t *f;             /* the executor */
    gw_responder_t *r;       /* the way back */
    rj_gql_prepared_t *prep; /* the prepared operation */
    plan_ref_t *plan;        /* its plan (a reference) */
    rj_fed_run_t *run;       /* the run */
    size_t transfers;        /* transfers in flight */
    size_t answer_bytes;     /* bytes the services answered so far, all transfers */
    int64_t started_us;      /* when it was accepted */
    uv_timer_t budget;       /* budget-ms: answers with what there is when it fires */
    bool budget_open;        /* budget was initialised (closed before the op is freed) */
    bool answered;           /* the client has its answer; transfers may still finish */
    json_t *user;            /* with an application: the client's verified user, or NULL */
    char *idempotency_key;   /* with an application: the client's Idempotency-Key, or NULL */
} fed_op_t;

/* One fetch asked of the application's API in-process. */
typedef struct local_call {
    fed_op_t *op;  /* whose */
    size_t id;     /* the run's request it answers */
    bool starting; /* inside gw_exec_handle_local(): an answer must not pump yet */
    bool done;     /* answered while starting */
} local_call_t;

/* One HTTP request to a service. */
typedef struct transfer {
    fed_op_t *op;                /* whose */
    size_t id;                   /* the run's request it answers */
    int service;                 /* graph service index */
    CURL *easy;                  /* the transfer */
    char *payload;               /* the request body */
    size_t payload_len;          /* its length */
    rj_buf_t answer;             /* the answer so far */
    bool too_large;              /* the answer passed max_answer */
    char error[CURL_ERROR_SIZE]; /* libcurl's message */
    size_t url;                  /* index of the URL it went to */
    size_t attempts;             /* URLs tried */
} transfer_t;

static void pump(fed_op_t *op);
static void transfer_send(transfer_t *t);

/* ---- plan cache ------------------------------------------------------------------------- */

static void
plan_unref(plan_ref_t *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    rj_fed_plan_free(p->plan);
    rj_gql_doc_free(p->doc);
    free(p->key);
    free(p);
}

/* The plan of (@p query, @p op_name), planned on a miss. A new reference, or NULL. */
static plan_ref_t *
plan_get(gw_fed_t *f, const char *query, const char *op_name, rj_gql_doc_t *doc,
         const rj_gql_ast_definition_t *op, rj_error_t *err)
{
    rj_buf_t key;
    rj_buf_init(&key);
    rj_buf_puts(&key, query);
    rj_buf_putc(&key, '\0');
    rj_buf_puts(&key, op_name != NULL ? op_name : "");
    uint64_t h = rj_hash(key.data, key.len);
    plan_ref_t **slot = &f->plans[h % GW_FED_PLANS];
    if (*slot != NULL && (*slot)->hash == h && (*slot)->key_len == key.len &&
        memcmp((*slot)->key, key.data, key.len) == 0) {
        rj_buf_deinit(&key);
        (*slot)->refs++;
        return *slot;
    }
    rj_fed_plan_t *plan = rj_fed_plan_new(f->graph, doc, op, err);
    rj_metric_add(f->m.plans, 1);
    if (plan == NULL) {
        rj_buf_deinit(&key);
        return NULL;
    }
    if (rj_log_enabled(RJ_LOG_DEBUG, "federation"))
        for (size_t i = 0; i < plan->nall; i++) {
            const rj_fed_fetch_t *ft = plan->all[i];
            char *path = NULL;
            rj_buf_t b;
            rj_buf_init(&b);
            for (size_t k = 0; k < ft->npath; k++)
                rj_buf_printf(&b, "%s%s", k > 0 ? "." : "", ft->path[k]);
            path = rj_buf_steal(&b);
            rj_debug("federation", "plan fetch=%zu service=%s depth=%zu path=%s query=%s", ft->id,
                     rj_fed_graph_service_name(f->graph, (size_t)ft->service), ft->depth, path,
                     ft->query);
            free(path);
        }
    plan_ref_t *p = rj_xcalloc(1, sizeof(*p));
    p->refs = 2; /* the cache's and the caller's */
    p->hash = h;
    p->key_len = key.len;
    p->key = rj_buf_steal(&key);
    p->doc = rj_gql_doc_ref(doc);
    p->plan = plan;
    plan_unref(*slot);
    *slot = p;
    return p;
}

/* ---- libcurl on the loop ---------------------------------------------------------------- */

static void check_done(pool_t *pl);
static void easy_put(pool_t *pl, CURL *c);

static void
on_poll(uv_poll_t *h, int status, int events)
{
    sock_t *s = h->data;
    if (s->idle) {
        /* An idle connection spoke (the server closed it, most likely): libcurl finds out
           when it next considers reusing it; until then it is not watched. */
        uv_poll_stop(&s->poll);
        s->events = 0;
        return;
    }
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    pool_t *pl = s->pool;
    curl_multi_socket_action(pl->multi, s->fd, flags, &running);
    check_done(pl);
}

static void
sock_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Closes the watcher of @p fd, if there is one. */
static void
sock_drop(gw_fed_t *f, curl_socket_t fd)
{
    if ((size_t)fd < f->nsocks && f->socks[fd] != NULL) {
        uv_close((uv_handle_t *)&f->socks[fd]->poll, sock_closed);
        f->socks[fd] = NULL;
    }
}

/* The watcher of libcurl's socket @p fd, made on first use. */
static sock_t *
sock_get(pool_t *pl, curl_socket_t fd)
{
    gw_fed_t *f = pl->f;
    size_t i = (size_t)fd;
    if (i >= f->nsocks) {
        size_t n = i + 1 > 2 * f->nsocks ? i + 1 : 2 * f->nsocks;
        f->socks = rj_xrealloc(f->socks, n * sizeof(*f->socks));
        memset(f->socks + f->nsocks, 0, (n - f->nsocks) * sizeof(*f->socks));
        f->nsocks = n;
    }
    sock_t *s = f->socks[i];
    if (s == NULL || s->pool != pl) {
        /* Not expected: another pool's socket of that number closed without us. */
        sock_drop(f, fd);
        s = f->socks[i] = rj_xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->pool = pl;
        uv_poll_init_socket(f->loop, &s->poll, fd);
        s->poll.data = s;
    }
    return s;
}

/*
 * libcurl opens a connection's socket (CURLOPT_OPENSOCKETFUNCTION), as it would itself;
 * its watcher is made now and marked, so that it is kept between transfers.
 */
static curl_socket_t
on_curl_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)purpose;
    pool_t *pl = clientp;
    curl_socket_t fd = socket(addr->family, addr->socktype, addr->protocol);
    if (fd == CURL_SOCKET_BAD)
        return CURL_SOCKET_BAD;
    sock_drop(pl->f, fd); /* a stale watcher of that number would be a bug: never reuse it */
    sock_get(pl, fd)->conn = true;
    return fd;
}

/*
 * libcurl closes a socket it opened with on_curl_open (CURLOPT_CLOSESOCKETFUNCTION): its
 * watcher goes first. libcurl has said CURL_POLL_REMOVE before: no transfer uses it.
 */
static int
on_curl_close(void *clientp, curl_socket_t fd)
{
    pool_t *pl = clientp;
    sock_drop(pl->f, fd);
    return close(fd);
}

static int
on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    pool_t *pl = userp;
    sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        /*
         * A connection is idle or about to close. Its watcher is kept as it is until
         * on_curl_close: the next transfer on it asks for the same events, mostly, and an
         * unchanged watcher costs no system call. Should the socket become readable
         * meanwhile, on_poll stops watching it. Any other socket's watcher goes now.
         */
        if (s != NULL && s->conn) {
            s->idle = true;
        } else if (s != NULL) {
            sock_drop(pl->f, fd);
            curl_multi_assign(pl->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = sock_get(pl, fd);
        curl_multi_assign(pl->multi, fd, s);
    }
    s->idle = false;
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    /* libuv re-registers the descriptor on every start, even with the same events. */
    if (events != s->events) {
        uv_poll_start(&s->poll, events, on_poll);
        s->events = events;
    }
    return 0;
}

static void
on_timer(uv_timer_t *t)
{
    pool_t *pl = t->data;
    int running;
    pl->in_timer = true;
    curl_multi_socket_action(pl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    pl->in_timer = false;
    check_done(pl);
}

static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    pool_t *pl = userp;
    /*
     * Never act from inside libcurl: the timer calls back later. Not at 0 from the timer's
     * own callback, though: libuv 1.44 (Debian 12) runs a timer re-armed at 0 there again
     * in the same pass, without turning the loop, so a libcurl that kept asking for 0 would
     * spin it while the sockets it waits for are never polled.
     */
    if (timeout_ms < 0)
        uv_timer_stop(&pl->timer);
    else
        uv_timer_start(&pl->timer, on_timer,
                       timeout_ms == 0 && pl->in_timer ? 1 : (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t
on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    transfer_t *t = userdata;
    size_t n = size * nmemb;
    /* The bound is on the operation: the merged tree holds every answer at once. */
    if (t->op->answer_bytes + n > t->op->f->max_answer) {
        t->too_large = true;
        return 0; /* aborts the transfer */
    }
    t->op->answer_bytes += n;
    rj_buf_append(&t->answer, data, n);
    return n;
}

/* A finished transfer's answer, or NULL with @p why set. */
static json_t *
transfer_answer(gw_fed_t *f, transfer_t *t, CURLcode rc, long status, char *why, size_t n)
{
    const char *name = rj_fed_graph_service_name(f->graph, (size_t)t->service);
    if (t->too_large) {
        snprintf(why, n, "service %s: the services' answers to this operation passed %zu bytes",
                 name, f->max_answer);
        return NULL;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(why, n, "service %s did not answer within %d ms", name, f->timeout_ms);
        return NULL;
    }
    if (rc != CURLE_OK) {
        snprintf(why, n, "could not reach service %.64s: %.256s", name,
                 t->error[0] != '\0' ? t->error : curl_easy_strerror(rc));
        return NULL;
    }
    /* rj_json_loadb()'s verdict and numbers, faster; a bad answer's message is ours. */
    json_t *answer = rj_json_parse(t->answer.data != NULL ? t->answer.data : "", t->answer.len);
    /* An array answers a batched request (allowBatchedQueries); the run checks its items. */
    if (json_is_array(answer) && f->svc[t->service]->allow_batched_queries)
        return answer;
    if (!json_is_object(answer) ||
        (json_object_get(answer, "data") == NULL && json_object_get(answer, "errors") == NULL)) {
        json_decref(answer);
        snprintf(why, n, "service %s answered HTTP %ld without a GraphQL answer", name, status);
        return NULL;
    }
    return answer;
}

static void
transfer_free(transfer_t *t)
{
    free(t->payload);
    rj_buf_deinit(&t->answer);
    free(t);
}

static void
check_done(pool_t *pl)
{
    gw_fed_t *f = pl->f;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(pl->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        transfer_t *t = NULL;
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(pl->multi, easy);
        easy_put(pl, easy);
        t->easy = NULL;
        /*
         * A URL that refuses connections rests a while, and the request goes to the next
         * URL of the service: nothing was sent, so even a mutation may be sent again.
         */
        if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
            const rj_fed_service_conf_t *svc = f->svc[t->service];
            f->url_rest[t->service][t->url] = uv_now(f->loop) + GW_FED_URL_REST_MS;
            if (t->attempts < svc->nurls) {
                rj_warn("federation", "service %s url=%s: %s; trying its next URL",
                        rj_fed_graph_service_name(f->graph, (size_t)t->service), svc->urls[t->url],
                        t->error);
                t->error[0] = '\0';
                fed_op_t *op = t->op;
                op->transfers--;
                transfer_send(t); /* may fail and deliver at once: pump either way */
                pump(op);
                continue;
            }
        }
        char why[RJ_ERROR_MSG_MAX] = "";
        json_t *answer = transfer_answer(f, t, rc, status, why, sizeof why);
        if (answer == NULL) {
            rj_metric_add(f->m.failures, 1);
            rj_warn("federation", "%s", why);
        }
        fed_op_t *op = t->op;
        rj_fed_run_deliver_take(op->run, t->id, answer, why);
        op->transfers--;
        transfer_free(t);
        pump(op);
    }
}

/* The next URL of a service, round robin, skipping resting ones while others are not. */
static size_t
pick_url(gw_fed_t *f, int service)
{
    const rj_fed_service_conf_t *svc = f->svc[service];
    uint64_t now = uv_now(f->loop);
    size_t first = f->next_url[service]++ % svc->nurls;
    for (size_t k = 0; k < svc->nurls; k++) {
        size_t i = (first + k) % svc->nurls;
        if (f->url_rest[service][i] <= now) {
            f->next_url[service] = i + 1;
            return i;
        }
    }
    return first;
}

/*
 * An easy handle for a request to @p service: a finished transfer's, whose options for
 * the service are set already, or a new one set up so. Reusing them saves setting up
 * libcurl's per-handle state (and its allocations) for every request.
 */
static CURL *
easy_get(gw_fed_t *f, int service)
{
    pool_t *pl = &f->pools[service];
    if (pl->nidle > 0)
        return pl->idle[--pl->nidle];
    const rj_fed_service_conf_t *svc = f->svc[service];
    CURL *c = curl_easy_init();
    RJ_ASSERT(c != NULL);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)f->timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, f->headers[service]);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ramjet-gateway/1");
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_curl_open);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, pl);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_curl_close);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, pl);
    /* An idle pooled connection older than keepAlive is not reused (closed instead). */
    int idle_ms = svc->keep_alive_ms > svc->keep_alive_timeout_ms ? svc->keep_alive_ms
                                                                  : svc->keep_alive_timeout_ms;
    curl_easy_setopt(c, CURLOPT_MAXAGE_CONN, (long)(idle_ms + 999) / 1000);
    if (idle_ms == 0)
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    return c;
}

/* Keeps a finished transfer's handle (removed from its multi) for the next request. */
static void
easy_put(pool_t *pl, CURL *c)
{
    size_t keep = (size_t)pl->f->svc[pl - pl->f->pools]->connections;
    if (pl->nidle >= keep) {
        curl_easy_cleanup(c);
        return;
    }
    if (pl->idle == NULL)
        pl->idle = rj_xcalloc(keep, sizeof(*pl->idle));
    pl->idle[pl->nidle++] = c;
}

/* Sends (or sends again) a transfer to its service's next URL. */
static void
transfer_send(transfer_t *t)
{
    fed_op_t *op = t->op;
    gw_fed_t *f = op->f;
    const rj_fed_service_conf_t *svc = f->svc[t->service];
    t->url = pick_url(f, t->service);
    t->attempts++;
    CURL *c = t->easy = easy_get(f, t->service);
    /* What differs per request; a reused handle's previous values are all replaced. */
    curl_easy_setopt(c, CURLOPT_URL, svc->urls[t->url]);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)t->payload_len);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, t->payload);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(c, CURLOPT_PRIVATE, t);
    op->transfers++;
    rj_metric_add(f->m.fetches, 1);
    if (curl_multi_add_handle(f->pools[t->service].multi, c) != CURLM_OK) {
        curl_easy_cleanup(c);
        op->transfers--;
        rj_fed_run_deliver_take(op->run, t->id, NULL, "could not start a request");
        transfer_free(t);
    }
}

/* The application's answer to a local fetch (gw_local_answer_cb). */
static void
on_local_answer(void *data, int status, json_t *body)
{
    local_call_t *lc = data;
    fed_op_t *op = lc->op;
    char why[RJ_ERROR_MSG_MAX] = "";
    if (!json_is_object(body) ||
        (json_object_get(body, "data") == NULL && json_object_get(body, "errors") == NULL)) {
        /* Not expected of our own executor; treated as any service's broken answer. */
        json_decref(body);
        body = NULL;
        snprintf(why, sizeof why, "service %s answered HTTP %d without a GraphQL answer",
                 rj_fed_graph_service_name(op->f->graph, 0), status);
        rj_metric_add(op->f->m.failures, 1);
        rj_warn("federation", "%s", why);
    }
    rj_fed_run_deliver_take(op->run, lc->id, body, why);
    op->transfers--;
    if (lc->starting) {
        /* Answered before gw_exec_handle_local() returned: pump() is on the stack already
           and takes what this answer made due. */
        lc->done = true;
        return;
    }
    free(lc);
    pump(op);
}

/*
 * Hands a fetch of service 0 to the application's executor. The body is what an HTTP
 * request would carry, so the executor's one front door (parsing, the document cache,
 * limits) serves it; only the token is not verified again.
 */
static void
local_start(fed_op_t *op, rj_fed_request_t *q)
{
    gw_fed_t *f = op->f;
    local_call_t *lc = rj_xmalloc(sizeof(*lc));
    *lc = (local_call_t){.op = op, .id = q->id, .starting = true};
    char *payload = rj_json_dumps(q->body);
    const gw_http_request_t in = {
        .method = GW_HTTP_POST,
        .body = payload,
        .body_len = strlen(payload),
        .content = GW_CONTENT_JSON,
    };
    op->transfers++;
    rj_metric_add(f->m.local, 1);
    gw_exec_handle_local(
        f->local, gw_responder_new_local(op->user, op->idempotency_key, on_local_answer, lc), &in);
    free(payload);
    if (lc->done)
        free(lc);
    else
        lc->starting = false;
}

static void
transfer_start(fed_op_t *op, rj_fed_request_t *q)
{
    if (op->f->local != NULL && q->service == 0) {
        local_start(op, q);
        return;
    }
    transfer_t *t = rj_xcalloc(1, sizeof(*t));
    t->op = op;
    t->id = q->id;
    t->service = q->service;
    t->payload = rj_json_dumps(q->body);
    t->payload_len = strlen(t->payload);
    rj_buf_init(&t->answer);
    transfer_send(t);
}

/* ---- operations ------------------------------------------------------------------------- */

static void
op_release(fed_op_t *op)
{
    op->f->busy--;
    rj_fed_run_free(op->run);
    plan_unref(op->plan);
    rj_gql_prepared_free(op->prep);
    json_decref(op->user);
    free(op->idempotency_key);
    free(op);
}

static void
op_closed(uv_handle_t *h)
{
    op_release(h->data);
}

/* Frees the operation once it is answered and no transfer of it is left. */
static void
op_maybe_free(fed_op_t *op)
{
    if (!op->answered || op->transfers != 0)
        return;
    if (op->budget_open) {
        op->budget_open = false;
        uv_close((uv_handle_t *)&op->budget, op_closed);
    } else {
        op_release(op);
    }
}

/* Answers the client with what the run has merged so far (once). */
static void
op_answer(fed_op_t *op)
{
    if (op->answered)
        return;
    op->answered = true;
    if (op->budget_open)
        uv_timer_stop(&op->budget);
    rj_gql_prepared_set_keyed(op->prep);
    const json_t *data = rj_fed_run_data_get(op->run);
    for (size_t i = 0; i < rj_gql_prepared_nroots(op->prep); i++) {
        const rj_gql_root_field_t *rf = rj_gql_prepared_root(op->prep, i);
        if (rf->internal)
            continue;
        json_t *v = json_object_get(data, rf->response_key);
        rj_gql_prepared_set_result_take(op->prep, i, v != NULL ? json_incref(v) : json_null());
    }
    const json_t *errors = rj_fed_run_errors_get(op->run);
    for (size_t i = 0; i < json_array_size(errors); i++)
        rj_gql_prepared_add_error_take(op->prep, json_incref(json_array_get(errors, i)));
    const json_t *lost = rj_fed_run_lost_get(op->run);
    for (size_t i = 0; i < json_array_size(lost); i++)
        rj_gql_prepared_add_lost_take(op->prep, json_incref(json_array_get(lost, i)));
    json_t *resp = rj_gql_complete(op->prep);
    gw_errors_decorate(json_object_get(resp, "errors"));
    gw_responder_send_json_take(op->r, 200, resp);
    op->r = NULL;
    rj_metric_observe_us(op->f->m.duration, rj_mono_us() - op->started_us);
}

/*
 * The operation's budget (budget-ms) ran out: the client gets what there is with a
 * TimeoutError now; transfers in flight finish under their own timeouts, unseen.
 */
static void
on_budget(uv_timer_t *t)
{
    fed_op_t *op = t->data;
    rj_gql_prepared_add_error_take(op->prep,
                                   json_pack("{s:s, s:{s:s}}", "message",
                                             "the operation did not finish within its time budget",
                                             "extensions", "code", "TimeoutError"));
    op_answer(op);
    op_maybe_free(op);
}

static void
pump(fed_op_t *op)
{
    rj_fed_request_t q[GW_FED_BATCH];
    size_t n;
    /* Once answered (budget spent), nothing new is asked. */
    while (!op->answered && (n = rj_fed_run_next(op->run, q, GW_FED_BATCH)) > 0)
        for (size_t i = 0; i < n; i++) {
            transfer_start(op, &q[i]);
            rj_fed_request_deinit(&q[i]);
        }
    if (op->transfers != 0)
        return;
    /*
     * Nothing in flight and nothing due: the run is done - or it is stuck, which is a bug
     * in the run's scheduling; then the client gets what there is and an error, never a
     * request that hangs.
     */
    if (!op->answered && !rj_fed_run_done(op->run)) {
        rj_error("federation", "a plan's run stopped before its end; answering what it has");
        rj_gql_prepared_add_error_take(
            op->prep, json_pack("{s:s, s:{s:s}}", "message",
                                "the gateway could not finish the operation's plan", "extensions",
                                "code", "InternalError"));
    }
    op_answer(op);
    op_maybe_free(op);
}

static void
send_errors(gw_responder_t *r, json_t *errors)
{
    gw_errors_decorate(errors);
    gw_responder_send_json_take(r, 200, json_pack("{s:o}", "errors", errors));
}

/*
 * With an application: the client's token, verified once per operation where the app's
 * own endpoint verifies it (the operation known, nothing run yet). A token that is
 * present and invalid fails the whole request, the services' fields included, exactly as
 * it fails a request of the app's own API; no token is anonymous. False when answered.
 */
static bool
verify_user(gw_fed_t *f, gw_responder_t *r, json_t **user)
{
    size_t len = 0;
    const char *authorization = gw_responder_header(r, "authorization", &len);
    json_t *response = NULL;
    int status = gw_request_user(f->auth, authorization, len, rj_now_ms() / 1000, user, &response);
    if (status == 0)
        return true;
    gw_responder_send_json_take(r, status, response);
    return false;
}

void
gw_fed_handle(void *opaque, gw_responder_t *r, const gw_http_request_t *in)
{
    gw_fed_t *f = opaque;
    rj_metric_add(f->m.requests, 1);
    gw_gql_request_t req;
    json_t *resp = NULL;
    int status = gw_request_parse(in, &req, &resp);
    if (status != 0) {
        gw_responder_send_json_take(r, status, resp);
        return;
    }
    json_t *errors = NULL, *user = NULL;
    rj_gql_doc_t *doc = rj_gql_cache_get(f->docs, req.query, strlen(req.query), &errors);
    if (doc == NULL) {
        send_errors(r, errors);
        gw_request_deinit(&req);
        return;
    }
    rj_gql_prepared_t *prep = NULL;
    if (rj_gql_prepare(rj_fed_graph_schema(f->graph), doc, req.operation_name, req.variables, &prep,
                       &errors) != RJ_OK) {
        send_errors(r, errors);
    } else if (rj_gql_prepared_op(prep) == RJ_GQL_OP_SUBSCRIPTION) {
        rj_gql_prepared_free(prep);
        gw_responder_send_json_take(r, 200,
                                    gw_error_body(GW_MSG_SUBSCRIPTION, "InvalidProtocolError"));
    } else if (rj_gql_prepared_op(prep) == RJ_GQL_OP_MUTATION && req.get) {
        /* GET must not change anything (caches and crawlers follow links): 405. */
        rj_gql_prepared_free(prep);
        gw_responder_add_header(r, "Allow", "POST");
        gw_responder_send_json_take(r, 405,
                                    gw_error_body(GW_MSG_GET_MUTATION, "InvalidProtocolError"));
    } else if (f->local != NULL && !verify_user(f, r, &user)) {
        rj_gql_prepared_free(prep); /* answered */
    } else {
        rj_error_t err;
        rj_error_clear(&err);
        const rj_gql_ast_definition_t *def =
            gw_select_operation(rj_gql_doc_definitions(doc), req.operation_name);
        plan_ref_t *plan = plan_get(f, req.query, req.operation_name, doc, def, &err);
        if (plan == NULL) {
            rj_gql_prepared_free(prep);
            json_decref(user);
            gw_responder_send_json_take(r, 200, gw_error_body(err.msg, rj_error_code(&err)));
        } else {
            fed_op_t *op = rj_xcalloc(1, sizeof(*op));
            op->f = f;
            op->r = r;
            op->prep = prep;
            op->plan = plan;
            op->started_us = rj_mono_us();
            op->user = user;
            if (f->local != NULL) {
                size_t len = 0;
                const char *key = gw_responder_header(r, "idempotency-key", &len);
                if (key != NULL)
                    op->idempotency_key = rj_xstrndup(key, len);
            }
            op->run = rj_fed_run_new(plan->plan, f->graph, rj_gql_prepared_variables_get(prep));
            rj_fed_run_set_batched(op->run, f->batched);
            f->busy++;
            if (f->budget_ms > 0) {
                uv_timer_init(f->loop, &op->budget);
                op->budget.data = op;
                op->budget_open = true;
                uv_timer_start(&op->budget, on_budget, (uint64_t)f->budget_ms, 0);
            }
            pump(op);
        }
    }
    rj_gql_doc_free(doc);
    gw_request_deinit(&req);
}

/* ---- life ------------------------------------------------------------------------------- */

gw_fed_t *
gw_fed_new(const gw_fed_opts_t *o)
{
    gw_fed_t *f = rj_xcalloc(1, sizeof(*f));
    f->loop = o->loop;
    f->conf = o->conf;
    f->graph = o->graph;
    f->timeout_ms = o->timeout_ms;
    f->budget_ms = o->budget_ms;
    f->max_answer = o->max_answer_bytes;
    f->local = o->local;
    f->auth = o->auth;
    size_t n = rj_fed_graph_nservices(f->graph);
    f->svc = rj_xcalloc(n, sizeof(*f->svc));
    f->headers = rj_xcalloc(n, sizeof(*f->headers));
    f->next_url = rj_xcalloc(n, sizeof(*f->next_url));
    f->url_rest = rj_xcalloc(n, sizeof(*f->url_rest));
    f->pools = rj_xcalloc(n, sizeof(*f->pools));
    /* Service 0 of an application's composition has no configuration and no pool. */
    for (size_t i = 0, gi = o->local != NULL; i < o->conf->nservices; i++) {
        const rj_fed_service_conf_t *s = &o->conf->services[i];
        if (!o->present[i])
            continue;
        f->svc[gi] = s;
        if (s->allow_batched_queries)
            f->batched |= UINT64_C(1) << gi;
        f->url_rest[gi] = rj_xcalloc(s->nurls, sizeof(uint64_t));
        f->headers[gi] = rj_fed_service_headers(s);
        pool_t *pl = &f->pools[gi++];
        pl->f = f;
        /* NULL only when memory is exhausted: abort, as every allocation in Ramjet does. */
        pl->multi = curl_multi_init();
        RJ_ASSERT(pl->multi != NULL);
        curl_multi_setopt(pl->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
        curl_multi_setopt(pl->multi, CURLMOPT_SOCKETDATA, pl);
        curl_multi_setopt(pl->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
        curl_multi_setopt(pl->multi, CURLMOPT_TIMERDATA, pl);
        /* `connections` bounds the service's hosts (one, or its url array's); further
           requests queue. Idle connections are kept for each of them. */
        curl_multi_setopt(pl->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)s->connections);
        curl_multi_setopt(pl->multi, CURLMOPT_MAXCONNECTS, (long)s->connections * (long)s->nurls);
        uv_timer_init(f->loop, &pl->timer);
        pl->timer.data = pl;
        pl->timer_open = true;
    }
    rj_gql_limits_t lim = rj_gql_default_limits;
    lim.max_fields = o->max_fields;
    lim.max_aliases = o->max_aliases;
    f->docs = rj_gql_cache_new(rj_fed_graph_schema(f->graph), GW_FED_DOCS, &lim);
    f->m.requests =
        rj_metric_counter("ramjet_gateway_requests_total", "GraphQL requests received over HTTP");
    f->m.plans = rj_metric_counter("ramjet_federation_plans_total",
                                   "federated query plans made (plan cache misses)");
    f->m.fetches =
        rj_metric_counter("ramjet_federation_fetches_total", "requests sent to federated services");
    f->m.failures = rj_metric_counter("ramjet_federation_fetch_failures_total",
                                      "requests to federated services that failed, timed out, "
                                      "answered too much or answered no GraphQL");
    f->m.local = rj_metric_counter("ramjet_federation_local_fetches_total",
                                   "fetches answered in-process by the application's own API "
                                   "(never sent over HTTP)");
    f->m.duration = rj_metric_histogram("ramjet_federation_operation_seconds",
                                        "time to answer a federated operation");
    return f;
}

const rj_fed_graph_t *
gw_fed_graph(const gw_fed_t *f)
{
    return f->graph;
}

size_t
gw_fed_busy(const gw_fed_t *f)
{
    return f != NULL ? f->busy : 0;
}

static void
pool_idle_free(pool_t *pl)
{
    for (size_t i = 0; i < pl->nidle; i++)
        curl_easy_cleanup(pl->idle[i]);
    free(pl->idle);
    pl->idle = NULL;
    pl->nidle = 0;
}

/*
 * The watchers left after the pools' connections closed: none, unless libcurl closed a
 * socket without on_curl_close. Closed all the same, since a handle must not be freed
 * while the loop knows it.
 */
static void
socks_close(gw_fed_t *f)
{
    for (size_t i = 0; i < f->nsocks; i++)
        if (f->socks[i] != NULL)
            uv_close((uv_handle_t *)&f->socks[i]->poll, sock_closed);
    free(f->socks);
    f->socks = NULL;
    f->nsocks = 0;
}

void
gw_fed_stop(gw_fed_t *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; f->pools != NULL && i < rj_fed_graph_nservices(f->graph); i++) {
        pool_t *pl = &f->pools[i];
        if (pl->multi != NULL) {
            /* Closes the pooled connections, which closes their watchers (on_curl_close). */
            curl_multi_cleanup(pl->multi);
            pl->multi = NULL;
        }
        pool_idle_free(pl);
        if (pl->timer_open) {
            uv_close((uv_handle_t *)&pl->timer, NULL);
            pl->timer_open = false;
        }
    }
    socks_close(f);
}

void
gw_fed_free(gw_fed_t *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; f->pools != NULL && i < rj_fed_graph_nservices(f->graph); i++) {
        if (f->pools[i].multi != NULL)
            curl_multi_cleanup(f->pools[i].multi);
        pool_idle_free(&f->pools[i]);
    }
    free(f->pools);
    socks_close(f);
    for (size_t i = 0; i < GW_FED_PLANS; i++)
        plan_unref(f->plans[i]);
    rj_gql_cache_free(f->docs);
    for (size_t i = 0; f->graph != NULL && i < rj_fed_graph_nservices(f->graph); i++)
        curl_slist_free_all(f->headers[i]);
    free(f->headers);
    free(f->svc);
    free(f->next_url);
    for (size_t i = 0; f->url_rest != NULL && i < rj_fed_graph_nservices(f->graph); i++)
        free(f->url_rest[i]);
    free(f->url_rest);
    rj_fed_graph_free(f->graph);
    free(f);
}
