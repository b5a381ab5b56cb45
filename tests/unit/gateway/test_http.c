/*
 * test_http.c - the gateway's HTTP layer (services/gateway/http.c) against real sockets:
 * routing, the JSON 413 body limit, CORS, and a responder that outlives its client.
 *
 * The server runs on the test's thread in its own uv loop; each request is made by a
 * client thread with blocking sockets, which stops the loop when it has its answer.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/core.h"
#include "gateway/http.h"

#define LIMIT 1024

typedef struct fixture {
    uv_loop_t loop;
    gw_http_t *http;
    uv_async_t done;          /* the client thread's "I have my answer" */
    uv_timer_t later;         /* answers a held responder after the client left */
    gw_responder_t *held;     /* a responder kept past its client */
    bool hold;                /* on_graphql holds instead of answering */
    size_t calls;             /* on_graphql calls */
    size_t last_len;          /* body length seen */
    bool last_is_json;        /* content type seen */
    const char *request;      /* what the client sends */
    size_t request_len;       /* its length */
    bool client_closes_early; /* the client hangs up without reading */
    char response[8192];      /* what the client read */
} fixture_t;

static void
on_graphql(void *opaque, gw_responder_t *r, const char *body, size_t len, bool is_json)
{
    fixture_t *f = opaque;
    f->calls++;
    f->last_len = len;
    f->last_is_json = is_json;
    if (f->hold) {
        f->held = r;
        return;
    }
    gw_responder_send_json_take(r, 200, json_pack("{s:i}", "len", (int)len));
}

static void
on_done(uv_async_t *a)
{
    uv_stop(a->loop);
}

static void *
client_main(void *arg)
{
    fixture_t *f = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(gw_http_port(f->http))};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);

    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0) {
        size_t off = 0;
        while (off < f->request_len) {
            ssize_t n = write(fd, f->request + off, f->request_len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        if (f->client_closes_early) {
            /* Let the server take the request before we go. */
            usleep(100 * 1000);
        } else {
            size_t got = 0;
            ssize_t n;
            while (got < sizeof f->response - 1 &&
                   (n = read(fd, f->response + got, sizeof f->response - 1 - got)) > 0)
                got += (size_t)n;
            f->response[got] = '\0';
        }
    }
    close(fd);
    uv_async_send(&f->done);
    return NULL;
}

static void
setup(fixture_t *f)
{
    memset(f, 0, sizeof *f);
    uv_loop_init(&f->loop);
    uv_async_init(&f->loop, &f->done, on_done);
    uv_timer_init(&f->loop, &f->later);
    rj_error_t err = {0};
    gw_http_opts_t opts = {.loop = &f->loop,
                           .host = "127.0.0.1",
                           .port = 0,
                           .max_body_bytes = LIMIT,
                           .on_graphql = on_graphql,
                           .opaque = f};
    f->http = gw_http_new(&opts, &err);
    cr_assert_not_null(f->http, "%s", err.msg);
}

static void
teardown(fixture_t *f)
{
    /* Let h2o notice closed clients, then dispose everything. */
    gw_http_close_connections(f->http);
    for (int i = 0; i < 100 && gw_http_connections(f->http) > 0; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    cr_assert_eq(gw_http_connections(f->http), 0);
    gw_http_stop(f->http);
    uv_close((uv_handle_t *)&f->done, NULL);
    uv_close((uv_handle_t *)&f->later, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    gw_http_free(f->http);
    cr_assert_eq(uv_loop_close(&f->loop), 0);
}

/* Sends @p request and runs the server until the client has the whole answer. */
static const char *
exchange(fixture_t *f, const char *request, size_t len)
{
    pthread_t t;
    f->request = request;
    f->request_len = len;
    pthread_create(&t, NULL, client_main, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    return f->response;
}

static const char *
post(fixture_t *f, const char *content_type, const char *body, size_t len)
{
    static char req[4096];
    int n = snprintf(req, sizeof req,
                     "POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                     content_type, len);
    cr_assert(len < sizeof req - (size_t)n);
    memcpy(req + n, body, len);
    return exchange(f, req, (size_t)n + len);
}

Test(gw_http, graphql_body_reaches_the_callback)
{
    fixture_t f;
    setup(&f);
    const char *res = post(&f, "application/json; charset=utf-8", "{\"query\":\"{a}\"}", 15);
    cr_assert(strncmp(res, "HTTP/1.1 200", 12) == 0, "%s", res);
    cr_assert_not_null(strcasestr(res, "content-type: application/json"), "%s", res);
    cr_assert_not_null(strcasestr(res, "access-control-allow-origin: *"), "%s", res);
    cr_assert_not_null(strstr(res, "{\"len\":15}"), "%s", res);
    cr_assert_eq(f.calls, 1);
    cr_assert(f.last_is_json);

    post(&f, "text/plain", "{}", 2);
    cr_assert(!f.last_is_json);
    teardown(&f);
}

Test(gw_http, over_the_limit_is_a_json_413)
{
    fixture_t f;
    setup(&f);
    char *body = rj_xmalloc(LIMIT + 1);
    memset(body, ' ', LIMIT + 1);
    const char *res = post(&f, "application/json", body, LIMIT + 1);
    cr_assert(strncmp(res, "HTTP/1.1 413", 12) == 0, "%s", res);
    cr_assert_not_null(strstr(res, "\"code\":\"InvalidParameterError\""), "%s", res);
    cr_assert_not_null(strstr(res, "request body too large"), "%s", res);
    cr_assert_eq(f.calls, 0);
    free(body);

    /* Exactly at the limit is fine. */
    body = rj_xmalloc(LIMIT);
    memset(body, ' ', LIMIT);
    res = post(&f, "application/json", body, LIMIT);
    cr_assert(strncmp(res, "HTTP/1.1 200", 12) == 0, "%s", res);
    free(body);
    teardown(&f);
}

Test(gw_http, preflight_and_unknown_paths)
{
    fixture_t f;
    setup(&f);
    static const char preflight[] =
        "OPTIONS /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Origin: http://example.com\r\nAccess-Control-Request-Method: POST\r\n"
        "Access-Control-Request-Headers: content-type,authorization\r\n\r\n";
    const char *res = exchange(&f, preflight, sizeof preflight - 1);
    cr_assert(strncmp(res, "HTTP/1.1 204", 12) == 0, "%s", res);
    cr_assert_not_null(strcasestr(res, "access-control-allow-headers: content-type,authorization"),
                       "%s", res);
    cr_assert_not_null(strcasestr(res, "access-control-allow-methods: GET,HEAD,PUT,PATCH,POST"),
                       "%s", res);

    static const char get[] = "GET /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    res = exchange(&f, get, sizeof get - 1);
    cr_assert(strncmp(res, "HTTP/1.1 405", 12) == 0, "%s", res);

    static const char nowhere[] = "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    res = exchange(&f, nowhere, sizeof nowhere - 1);
    cr_assert(strncmp(res, "HTTP/1.1 404", 12) == 0, "%s", res);
    cr_assert_eq(f.calls, 0);
    teardown(&f);
}

static void
answer_later(uv_timer_t *t)
{
    fixture_t *f = t->data;
    gw_responder_send_json_take(f->held, 200, json_pack("{s:b}", "late", 1));
    f->held = NULL;
    uv_stop(t->loop);
}

Test(gw_http, a_responder_outlives_its_client)
{
    fixture_t f;
    setup(&f);
    f.hold = true;
    f.client_closes_early = true;
    post(&f, "application/json", "{}", 2);
    cr_assert_not_null(f.held);
    cr_assert_eq(gw_http_inflight(f.http), 1);

    /* The client is gone; answering must be harmless (ASan watches). */
    f.later.data = &f;
    uv_timer_start(&f.later, answer_later, 50, 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    cr_assert_null(f.held);
    cr_assert_eq(gw_http_inflight(f.http), 0);
    teardown(&f);
}
