/*
 * test_http.c - the gateway's HTTP layer (services/gateway/http.c) against real sockets:
 * routing (POST and GET /graphql, GraphiQL for browsers), content types, the JSON 413 and 414
 * limits, CORS, a responder that outlives its client, query-string decoding, and local
 * responders (the federation executor's in-process requests).
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
    uv_async_t done;                /* the client thread's "I have my answer" */
    uv_timer_t later;               /* answers a held responder after the client left */
    gw_responder_t *held;           /* a responder kept past its client */
    bool hold;                      /* on_graphql holds instead of answering */
    size_t calls;                   /* on_graphql calls */
    size_t last_len;                /* body length seen */
    gw_http_content_t last_content; /* content type seen */
    gw_http_method_t last_method;   /* method seen */
    char last_qs[256];              /* query string seen (GET) */
    const char *request;            /* what the client sends */
    size_t request_len;             /* its length */
    bool client_closes_early;       /* the client hangs up without reading */
    char response[8192];            /* what the client read */
} fixture_t;

static void
on_graphql(void *opaque, gw_responder_t *r, const gw_http_request_t *in)
{
    fixture_t *f = opaque;
    f->calls++;
    f->last_len = in->body_len;
    f->last_content = in->content;
    f->last_method = in->method;
    snprintf(f->last_qs, sizeof f->last_qs, "%.*s", (int)in->query_string_len,
             in->query_string != NULL ? in->query_string : "");
    if (f->hold) {
        f->held = r;
        return;
    }
    gw_responder_add_header(r, "x-test", "yes");
    gw_responder_send_json_take(r, 200, json_pack("{s:i}", "len", (int)in->body_len));
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
    cr_assert_not_null(strcasestr(res, "x-test: yes"), "%s", res);
    cr_assert_eq(f.calls, 1);
    cr_assert_eq(f.last_method, GW_HTTP_POST);
    cr_assert_eq(f.last_content, GW_CONTENT_JSON);

    post(&f, "text/plain", "{}", 2);
    cr_assert_eq(f.last_content, GW_CONTENT_OTHER);
    post(&f, "application/graphql; charset=utf-8", "{a}", 3);
    cr_assert_eq(f.last_content, GW_CONTENT_GRAPHQL);
    cr_assert_eq(f.last_len, 3);
    post(&f, "application/vnd.api+json", "{}", 2);
    cr_assert_eq(f.last_content, GW_CONTENT_JSON);
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

    static const char put[] = "PUT /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                              "Content-Length: 0\r\n\r\n";
    res = exchange(&f, put, sizeof put - 1);
    cr_assert(strncmp(res, "HTTP/1.1 405", 12) == 0, "%s", res);
    cr_assert_not_null(strcasestr(res, "allow: GET, POST, OPTIONS"), "%s", res);
    cr_assert_not_null(strstr(res, "\"code\":\"InvalidProtocolError\""), "%s", res);

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

/* A GET with the given target and Accept header (NULL: none). */
static const char *
get(fixture_t *f, const char *target, const char *accept)
{
    static char req[4096];
    int n =
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s%s%s\r\n",
                 target, accept != NULL ? "Accept: " : "", accept != NULL ? accept : "",
                 accept != NULL ? "\r\n" : "");
    cr_assert(n > 0 && (size_t)n < sizeof req);
    return exchange(f, req, (size_t)n);
}

Test(gw_http, get_graphql_reaches_the_callback_with_its_query_string)
{
    fixture_t f;
    setup(&f);
    const char *res = get(&f, "/graphql?query=%7Ba%7D&x=1", "application/json");
    cr_assert(strncmp(res, "HTTP/1.1 200", 12) == 0, "%s", res);
    cr_assert_eq(f.calls, 1);
    cr_assert_eq(f.last_method, GW_HTTP_GET);
    cr_assert_str_eq(f.last_qs, "query=%7Ba%7D&x=1");

    /* No query string at all: still the executor's to answer (with a JSON error). */
    get(&f, "/graphql", NULL);
    cr_assert_eq(f.calls, 2);
    cr_assert_str_eq(f.last_qs, "");
    teardown(&f);
}

Test(gw_http, browsers_get_graphiql_unless_they_ask_for_a_query)
{
    fixture_t f;
    setup(&f);
    const char *html = "text/html,application/xhtml+xml";
    const char *res = get(&f, "/graphql", html);
    cr_assert(strncmp(res, "HTTP/1.1 ", 9) == 0, "%s", res);
    cr_assert_not_null(strcasestr(res, "content-type: text/html"), "%s", res);
    /* Other parameters (GraphiQL keeps its state in the URL) still mean the IDE. */
    get(&f, "/graphql?operationName=x", html);
    cr_assert_eq(f.calls, 0);

    res = get(&f, "/graphql?query=%7Ba%7D", html);
    cr_assert_not_null(strcasestr(res, "content-type: application/json"), "%s", res);
    cr_assert_eq(f.calls, 1);
    /* An encoded key is the same key. */
    get(&f, "/graphql?q%75ery=%7Ba%7D", html);
    cr_assert_eq(f.calls, 2);
    teardown(&f);
}

Test(gw_http, over_the_limit_query_string_is_a_json_414)
{
    fixture_t f;
    setup(&f);
    /* LIMIT (1024) is below GW_HTTP_MAX_QUERY_STRING, so it is the limit here. */
    char target[2048] = "/graphql?query=";
    size_t prefix = strlen(target);
    memset(target + prefix, 'a', LIMIT + 1 - (prefix - strlen("/graphql?")));
    const char *res = get(&f, target, NULL);
    cr_assert(strncmp(res, "HTTP/1.1 414", 12) == 0, "%s", res);
    cr_assert_not_null(strstr(res, "query string too long: 1025 bytes, the limit is 1024"), "%s",
                       res);
    cr_assert_not_null(strstr(res, "\"code\":\"InvalidParameterError\""), "%s", res);
    cr_assert_eq(f.calls, 0);

    /* Exactly at the limit is fine. */
    target[strlen(target) - 1] = '\0';
    res = get(&f, target, NULL);
    cr_assert(strncmp(res, "HTTP/1.1 200", 12) == 0, "%s", res);
    cr_assert_eq(f.calls, 1);
    teardown(&f);
}

/* gw_query_param() of a NUL-terminated query string; returns the value or NULL. */
static char *
param(const char *qs, const char *name, gw_param_status_t *st, size_t *len)
{
    char *value = NULL;
    *st = gw_query_param(qs, strlen(qs), name, &value, len);
    return value;
}

Test(gw_query_param, decodes_percent_escapes_and_plus)
{
    gw_param_status_t st;
    size_t len;
    char *v = param("a=1&query=%7B+a%20%7D&b", "query", &st, &len);
    cr_assert_eq(st, GW_PARAM_FOUND);
    cr_assert_str_eq(v, "{ a }");
    cr_assert_eq(len, 5);
    free(v);

    /* An encoded '+', '&' and '=' are data; UTF-8 passes through byte for byte. */
    v = param("query=1%2B1%26x%3Dy%C3%A9", "query", &st, &len);
    cr_assert_str_eq(v, "1+1&x=y\xc3\xa9");
    free(v);

    /* A NUL byte is data too: the length says where the value ends. */
    v = param("query=a%00b", "query", &st, &len);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(v, "a\0b", 3), 0);
    free(v);

    /* Keys are decoded; empty pairs are skipped; a bare key has the empty value. */
    v = param("&&q%75ery&x=1", "query", &st, &len);
    cr_assert_eq(st, GW_PARAM_FOUND);
    cr_assert_str_eq(v, "");
    free(v);

    /* Only the first '=' splits. */
    v = param("query=a=b", "query", &st, &len);
    cr_assert_str_eq(v, "a=b");
    free(v);
}

Test(gw_query_param, absent_malformed_and_duplicate)
{
    gw_param_status_t st;
    size_t len;
    cr_assert_null(param("queryx=1&xquery=2", "query", &st, &len));
    cr_assert_eq(st, GW_PARAM_ABSENT);
    cr_assert_eq(gw_query_param(NULL, 0, "query", NULL, NULL), GW_PARAM_ABSENT);

    static const char *const malformed[] = {"query=%7", "query=%", "query=%zz", "q%=1&query=1",
                                            "query=%7G"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        cr_assert_null(param(malformed[i], "query", &st, &len));
        cr_assert_eq(st, GW_PARAM_MALFORMED, "%s", malformed[i]);
    }

    cr_assert_null(param("query=a&x=1&query=b", "query", &st, &len));
    cr_assert_eq(st, GW_PARAM_DUPLICATE);
    /* A malformed escape in a value not asked for does not matter. */
    char *v = param("x=%zz&query=a", "query", &st, &len);
    cr_assert_eq(st, GW_PARAM_FOUND);
    cr_assert_str_eq(v, "a");
    free(v);
    /* Presence only. */
    cr_assert_eq(gw_query_param("query=%7B", 9, "query", NULL, NULL), GW_PARAM_FOUND);
}

/* What a local responder's callback received. */
typedef struct local_seen {
    int calls;    /* callback calls */
    int status;   /* the status given */
    json_t *body; /* the body given (a reference) */
} local_seen_t;

static void
on_local_answer(void *data, int status, json_t *body)
{
    local_seen_t *s = data;
    s->calls++;
    s->status = status;
    s->body = body;
}

Test(gw_http, a_local_responder_answers_its_callback_with_its_user)
{
    json_t *user = json_pack("{s:s}", "id", "ada@example.com");
    local_seen_t seen = {0};
    gw_responder_t *r = gw_responder_new_local(user, "key-1", on_local_answer, &seen);
    cr_assert_eq(user->refcount, 2); /* kept by the responder */

    /* Its user is given; no Authorization header is looked at. */
    json_t *u = NULL;
    cr_assert(gw_responder_user(r, &u));
    cr_assert_eq(u, user);
    json_decref(u);
    size_t len = 0;
    cr_assert_null(gw_responder_header(r, "authorization", &len));
    const char *key = gw_responder_header(r, "Idempotency-Key", &len);
    cr_assert_not_null(key);
    cr_assert_eq(len, 5);
    cr_assert(memcmp(key, "key-1", 5) == 0);
    cr_assert(gw_responder_connected(r));
    gw_responder_add_header(r, "allow", "POST"); /* a no-op */

    gw_responder_send_json_take(r, 200, json_pack("{s:{s:b}}", "data", "ok", 1));
    cr_assert_eq(seen.calls, 1);
    cr_assert_eq(seen.status, 200);
    cr_assert(json_is_true(json_object_get(json_object_get(seen.body, "data"), "ok")));
    json_decref(seen.body);
    cr_assert_eq(user->refcount, 1); /* released with the responder */
    json_decref(user);

    /* An answer built as text is decoded for the callback; anonymous has no user. */
    seen = (local_seen_t){0};
    r = gw_responder_new_local(NULL, NULL, on_local_answer, &seen);
    cr_assert(gw_responder_user(r, &u));
    cr_assert_null(u);
    cr_assert_null(gw_responder_header(r, "idempotency-key", &len));
    gw_responder_send_text_take(r, 400, rj_xstrdup("{\"errors\":[{\"message\":\"no\"}]}"));
    cr_assert_eq(seen.calls, 1);
    cr_assert_eq(seen.status, 400);
    cr_assert_eq(json_array_size(json_object_get(seen.body, "errors")), 1);
    json_decref(seen.body);
}
