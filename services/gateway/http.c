/*
 * http.c - the gateway's HTTP server on h2o 2.2 with libuv (see http.h).
 *
 * One host, one catch-all path handler that routes by itself: h2o's path registration
 * matches prefixes ("/graphql" would also take "/graphqlfoo"), and the routes here are
 * few and exact. Responses are small JSON documents sent in one piece with
 * h2o_send_inline(), so no generator state outlives a call.
 *
 * Body limit. h2o 2.2 buffers the whole request body before it calls a handler and answers
 * bodies above globalconf.max_request_entity_size itself, with a plain-text 413. To give
 * clients the JSON 413 they can parse, h2o's own limit is set to twice ours: bodies
 * between the two get our JSON answer, bodies beyond still get h2o's (and never reach
 * memory beyond that bound).
 *
 * Lifetimes. h2o frees a request's pool when the response is done *or* when the client
 * goes away, whichever comes first. A responder (heap, ours) and its anchor (in the pool,
 * h2o's) point at each other; whichever dies first clears the other's pointer. Client
 * connections are tracked (their uv_tcp_t is ours) so a drain can end idle keep-alive
 * connections, which h2o 2.2 would otherwise keep until their idle timeout.
 *
 * What this file deliberately does not do: TLS, HTTP/2 prior knowledge tuning, access
 * logs (one line per request would drown the useful ones; /metrics counts them instead).
 */
#include "http.h"

#include <h2o.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/core.h"
#include "graphiql.h"
#include "json/envelope.h"
#include "log/log.h"
#include "proc/proc.h"

/* One accepted client connection. */
typedef struct gw_conn {
    uv_tcp_t tcp;         /* first member: h2o's close callback hands us this handle */
    gw_http_t *http;      /* the server it belongs to */
    struct gw_conn *prev; /* previous in gw_http.conns, or NULL */
    struct gw_conn *next; /* next in gw_http.conns, or NULL */
} gw_conn_t;

/* h2o's handler object, extended with our server. */
typedef struct gw_handler {
    h2o_handler_t super; /* first member: h2o passes &super to on_req */
    gw_http_t *http;     /* the server */
} gw_handler_t;

/* Lives in the request's pool; disposed by h2o when the pool is freed. */
typedef struct gw_anchor {
    gw_responder_t *r; /* the responder, or NULL once it was consumed */
} gw_anchor_t;

struct gw_responder {
    gw_http_t *http;     /* for the in-flight count and the drain flag; NULL: local */
    h2o_req_t *req;      /* the request, or NULL once the client is gone */
    gw_anchor_t *anchor; /* our anchor in req->pool, or NULL once the pool was freed */
    gw_local_answer_cb local; /* local: where the answer goes */
    void *local_data;         /* local: its argument */
    json_t *user;             /* local: the verified user envelope, or NULL (anonymous) */
    char *idempotency_key;    /* local: the client's Idempotency-Key header, or NULL */
    gw_operation_t operation; /* what the request turned out to be, for the metrics */
};

/* How a client's request ended, for ramjet_gateway_responses_total. */
typedef enum gw_outcome {
    GW_OUTCOME_OK,           /* data and no errors */
    GW_OUTCOME_CLIENT_ERROR, /* the request was wrong: syntax, validation, parameters */
    GW_OUTCOME_UNAUTHORIZED, /* a token missing, invalid or not enough */
    GW_OUTCOME_SERVER_ERROR, /* ours: internal errors, timeouts, dependencies away */
    GW_NOUTCOMES
} gw_outcome_t;

struct gw_http {
    uv_loop_t *loop;                /* the gateway's loop */
    h2o_globalconf_t config;        /* h2o's configuration (one host, one path) */
    h2o_context_t ctx;              /* h2o's per-loop context */
    h2o_accept_ctx_t accept_ctx;    /* what h2o_accept() needs */
    bool stopped;                   /* gw_http_stop() disposed the context */
    uv_tcp_t *listener;             /* the listening socket, or NULL once closed */
    int port;                       /* bound port */
    bool draining;                  /* gw_http_stop_accepting() was called */
    size_t max_body_bytes;          /* our body limit (h2o's is twice this) */
    gw_http_graphql_cb on_graphql;  /* the GraphQL callback */
    gw_graphiql_t *graphiql;        /* GET /graphiql and its assets */
    void *opaque;                   /* its argument */
    size_t inflight;                /* responders alive */
    size_t nconns;                  /* entries in conns */
    gw_conn_t *conns;               /* open client connections */
    rj_metric_t *m_responses[GW_NOPERATIONS][GW_NOUTCOMES]; /* by operation and outcome */
};

/* ---- responses ------------------------------------------------------------------------ */

static const char *const operation_names[GW_NOPERATIONS] = {"none", "query", "mutation",
                                                            "subscription"};
static const char *const outcome_names[GW_NOUTCOMES] = {"ok", "client_error", "unauthorized",
                                                        "server_error"};

static void
responses_init(gw_http_t *h)
{
    for (int o = 0; o < GW_NOPERATIONS; o++) {
        for (int c = 0; c < GW_NOUTCOMES; c++) {
            char *name =
                rj_xasprintf("ramjet_gateway_responses_total{operation=\"%s\",outcome=\"%s\"}",
                             operation_names[o], outcome_names[c]);
            h->m_responses[o][c] = rj_metric_counter(
                name, "answers to clients by operation and outcome: ok, client_error (syntax, "
                      "validation, parameters), unauthorized, server_error (ours)");
            free(name);
        }
    }
}

/*
 * The outcome of an answer: by the HTTP status outside 200, else by the errors' codes:
 * one of ours (internal, timeouts, a dependency away) makes it a server error, then an
 * authorization error unauthorized, and any other error a client error.
 */
static gw_outcome_t
outcome_of(int status, const json_t *body)
{
    if (status >= 500)
        return GW_OUTCOME_SERVER_ERROR;
    if (status == 401 || status == 403)
        return GW_OUTCOME_UNAUTHORIZED;
    if (status >= 400)
        return GW_OUTCOME_CLIENT_ERROR;
    const json_t *errors = json_object_get(body, "errors");
    if (json_array_size(errors) == 0)
        return GW_OUTCOME_OK;
    static const char *const ours[] = {"InternalError", "TimeoutError", "RetriableError",
                                       "ConsistencyTimeoutError", "NotImplementedError"};
    bool unauthorized = false;
    size_t i;
    const json_t *e;
    json_array_foreach (errors, i, e) {
        const char *code =
            json_string_value(json_object_get(json_object_get(e, "extensions"), "code"));
        if (code == NULL)
            continue;
        for (size_t k = 0; k < sizeof ours / sizeof ours[0]; k++)
            if (strcmp(code, ours[k]) == 0)
                return GW_OUTCOME_SERVER_ERROR;
        unauthorized = unauthorized || strcmp(code, "NotAuthorizedError") == 0 ||
                       strncmp(code, "BoosterToken", 12) == 0; /* expired, not yet valid */
    }
    return unauthorized ? GW_OUTCOME_UNAUTHORIZED : GW_OUTCOME_CLIENT_ERROR;
}

static void
count_response(gw_http_t *h, gw_operation_t op, int status, const json_t *body)
{
    rj_metric_add(h->m_responses[op][outcome_of(status, body)], 1);
}

static const char *
reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/*
 * Sends a complete response. Every response carries `Access-Control-Allow-Origin: *`, as
 * Booster's Express server does with cors(). During a drain HTTP/1 connections are closed
 * after the response, so clients move to another replica.
 */
static void
send_response(gw_http_t *h, h2o_req_t *req, int status, const char *content_type,
              const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL,
                   H2O_STRLIT("*"));
    if (h->draining)
        req->http1_is_persistent = 0;
    h2o_send_inline(req, body, len);
}

static void
send_json_take(gw_http_t *h, h2o_req_t *req, int status, json_t *body)
{
    char *text = rj_json_dumps(body);
    send_response(h, req, status, "application/json", text, strlen(text));
    free(text);
    json_decref(body);
}

/*
 * A JSON string of @p s. Messages may quote client input (a JSON parser's "near '...'"),
 * which need not be valid UTF-8; such bytes become '?' rather than failing the response.
 */
static json_t *
message_string(const char *s)
{
    json_t *v = json_string(s);
    if (v != NULL)
        return v;
    char *copy = rj_xstrdup(s);
    for (char *p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    RJ_ASSERT(v != NULL);
    return v;
}

json_t *
gw_error_body(const char *message, const char *code)
{
    json_t *ext = json_object();
    if (code != NULL)
        json_object_set_new(ext, "code", json_string(code));
    json_t *error = json_object();
    json_object_set_new(error, "message", message_string(message));
    json_object_set_new(error, "extensions", ext);
    json_t *errors = json_array();
    json_array_append_new(errors, error);
    json_t *body = json_object();
    json_object_set_new(body, "errors", errors);
    return body;
}

/*
 * CORS preflight, answered for any path the way the `cors` package does by default:
 * 204, every method, and the requested headers reflected back.
 */
static void
send_preflight(gw_http_t *h, h2o_req_t *req)
{
    static const char requested[] = "access-control-request-headers";
    ssize_t i = h2o_find_header_by_str(&req->headers, requested, sizeof requested - 1, -1);

    h2o_add_header_by_str(&req->pool, &req->res.headers,
                          H2O_STRLIT("access-control-allow-methods"), 0, NULL,
                          H2O_STRLIT("GET,HEAD,PUT,PATCH,POST,DELETE"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL,
                   H2O_STRLIT("Access-Control-Request-Headers"));
    if (i != -1) {
        h2o_iovec_t v = req->headers.entries[i].value;
        h2o_add_header_by_str(&req->pool, &req->res.headers,
                              H2O_STRLIT("access-control-allow-headers"), 0, NULL, v.base, v.len);
    }
    send_response(h, req, 204, NULL, "", 0);
}

/* ---- responders ----------------------------------------------------------------------- */

/* The request pool is being freed: the client is gone or the response is complete. */
static void
anchor_dispose(void *p)
{
    gw_anchor_t *a = p;
    if (a->r != NULL) {
        a->r->req = NULL;
        a->r->anchor = NULL;
    }
}

static gw_responder_t *
responder_new(gw_http_t *h, h2o_req_t *req)
{
    gw_responder_t *r = rj_xmalloc(sizeof *r);
    gw_anchor_t *a = h2o_mem_alloc_shared(&req->pool, sizeof *a, anchor_dispose);

    a->r = r;
    *r = (gw_responder_t){.http = h, .req = req, .anchor = a};
    h->inflight++;
    return r;
}

gw_responder_t *
gw_responder_new_local(const json_t *user, const char *idempotency_key, gw_local_answer_cb cb,
                       void *data)
{
    gw_responder_t *r = rj_xmalloc(sizeof *r);
    *r = (gw_responder_t){
        .local = cb,
        .local_data = data,
        .user = user != NULL ? json_incref((json_t *)user) : NULL,
        .idempotency_key = idempotency_key != NULL ? rj_xstrdup(idempotency_key) : NULL,
    };
    return r;
}

void
gw_responder_set_operation(gw_responder_t *r, gw_operation_t op)
{
    r->operation = op;
}

bool
gw_responder_user(const gw_responder_t *r, json_t **user)
{
    if (r->local == NULL)
        return false;
    *user = r->user != NULL ? json_incref(r->user) : NULL;
    return true;
}

/* A local responder's end: the answer to its caller, then the responder's memory. */
static void
local_answer_take(gw_responder_t *r, int status, json_t *body)
{
    r->local(r->local_data, status, body);
    json_decref(r->user);
    free(r->idempotency_key);
    free(r);
}

bool
gw_responder_connected(const gw_responder_t *r)
{
    return r->req != NULL || r->local != NULL;
}

const char *
gw_responder_header(const gw_responder_t *r, const char *name, size_t *len)
{
    /* A local request carries no headers but these; its user is verified already. */
    if (r->local != NULL && r->idempotency_key != NULL &&
        strcasecmp(name, "idempotency-key") == 0) {
        *len = strlen(r->idempotency_key);
        return r->idempotency_key;
    }
    if (r->req == NULL)
        return NULL;
    ssize_t i = h2o_find_header_by_str(&r->req->headers, name, strlen(name), -1);
    if (i == -1)
        return NULL;
    *len = r->req->headers.entries[i].value.len;
    return r->req->headers.entries[i].value.base;
}

void
gw_responder_add_header(gw_responder_t *r, const char *name, const char *value)
{
    h2o_req_t *req = r->req;
    if (req == NULL)
        return;
    /* Copied into the request's pool: the response is sent later, after the caller returns. */
    h2o_iovec_t n = h2o_strdup(&req->pool, name, strlen(name));
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 1, NULL, v.base, v.len);
}

void
gw_responder_send_json_take(gw_responder_t *r, int status, json_t *body)
{
    h2o_req_t *req = r->req;

    if (r->local != NULL) {
        local_answer_take(r, status, body);
        return;
    }
    /*
     * Detach before sending: h2o may complete the response, and free the pool holding the
     * anchor, inside h2o_send_inline().
     */
    if (r->anchor != NULL)
        r->anchor->r = NULL;
    count_response(r->http, r->operation, status, body);
    if (req != NULL)
        send_json_take(r->http, req, status, body);
    else
        json_decref(body);

    RJ_ASSERT(r->http->inflight > 0);
    r->http->inflight--;
    free(r);
}

void
gw_responder_send_text_take(gw_responder_t *r, int status, char *text)
{
    h2o_req_t *req = r->req;

    if (r->local != NULL) {
        /* Built off the loop as text (a large answer): decoded once more, as a service's. */
        json_t *body = rj_json_loadb(text, strlen(text), 0, NULL);
        free(text);
        local_answer_take(r, status, body);
        return;
    }
    /* As gw_responder_send_json_take: detach before sending. */
    if (r->anchor != NULL)
        r->anchor->r = NULL;
    /* Built off the loop because it is large; read again only when it has errors. */
    json_t *errors = strstr(text, "\"errors\"") != NULL ? rj_json_loadb(text, strlen(text), 0, NULL)
                                                         : NULL;
    count_response(r->http, r->operation, status, errors);
    json_decref(errors);
    if (req != NULL)
        send_response(r->http, req, status, "application/json", text, strlen(text));
    free(text);

    RJ_ASSERT(r->http->inflight > 0);
    r->http->inflight--;
    free(r);
}

/* ---- routing -------------------------------------------------------------------------- */

static bool
method_is(const h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static bool
path_is(h2o_iovec_t path, const char *p)
{
    size_t n = strlen(p);
    /* A trailing slash names the same resource, as in Express's default routing. */
    if (path.len == n + 1 && path.base[n] == '/')
        path.len = n;
    return h2o_memis(path.base, path.len, p, n);
}

/*
 * Booster parses bodies with express.json(), which reads only application/json (and
 * *+json); any other body leaves an empty object behind. A missing content type is read as
 * JSON too: that is what `curl --data-binary` users expect and nothing else could be meant.
 * application/graphql (the query text as the body) is the older convention that
 * express-graphql and Apollo Server 2 accepted and some tools still send.
 */
static gw_http_content_t
body_content(const h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i == -1)
        return GW_CONTENT_JSON;

    h2o_iovec_t v = req->headers.entries[i].value;
    size_t n = 0;
    while (n < v.len && v.base[n] != ';' && v.base[n] != ' ')
        n++;
    static const char json[] = "application/json";
    static const char graphql[] = "application/graphql";
    static const char suffix[] = "+json";
    if (n == sizeof json - 1 && strncasecmp(v.base, json, n) == 0)
        return GW_CONTENT_JSON;
    if (n == sizeof graphql - 1 && strncasecmp(v.base, graphql, n) == 0)
        return GW_CONTENT_GRAPHQL;
    if (n > sizeof suffix - 1 &&
        strncasecmp(v.base + n - (sizeof suffix - 1), suffix, sizeof suffix - 1) == 0)
        return GW_CONTENT_JSON;
    return GW_CONTENT_OTHER;
}

/* ---- query strings -------------------------------------------------------------------- */

/*
 * Decodes @p len bytes of form encoding into @p out (room for @p len bytes: decoding never
 * grows the text). Returns the decoded length, or -1 on a '%' not followed by two hex
 * digits: browsers and URLSearchParams pass such a '%' through literally, but a client that
 * sends one has a bug, and guessing would run a different query than it meant.
 */
static ssize_t
form_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '+') {
            out[o++] = ' ';
        } else if (in[i] == '%') {
            if (len - i < 3)
                return -1;
            int hi = rj_hex_digit(in[i + 1]);
            int lo = rj_hex_digit(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    return (ssize_t)o;
}

gw_param_status_t
gw_query_param(const char *qs, size_t len, const char *name, char **value, size_t *value_len)
{
    size_t name_len = strlen(name);
    gw_param_status_t found = GW_PARAM_ABSENT;
    char *key = rj_xmalloc(len + 1);
    char *result = NULL;
    size_t result_len = 0;

    for (size_t start = 0; start < len;) {
        const char *pair = qs + start;
        const char *amp = memchr(pair, '&', len - start);
        size_t pair_len = amp != NULL ? (size_t)(amp - pair) : len - start;
        start += pair_len + 1;
        if (pair_len == 0)
            continue; /* "a=1&&b=2" */

        const char *eq = memchr(pair, '=', pair_len);
        size_t key_len = eq != NULL ? (size_t)(eq - pair) : pair_len;
        ssize_t k = form_decode(pair, key_len, key);
        if (k < 0) {
            found = GW_PARAM_MALFORMED;
            break;
        }
        if ((size_t)k != name_len || memcmp(key, name, name_len) != 0)
            continue;
        if (found == GW_PARAM_FOUND) {
            found = GW_PARAM_DUPLICATE;
            break;
        }

        const char *val = eq != NULL ? eq + 1 : pair + pair_len;
        size_t val_len = pair_len - (size_t)(val - pair);
        result = rj_xmalloc(val_len + 1);
        ssize_t v = form_decode(val, val_len, result);
        if (v < 0) {
            found = GW_PARAM_MALFORMED;
            break;
        }
        result[v] = '\0';
        result_len = (size_t)v;
        found = GW_PARAM_FOUND;
    }
    free(key);

    if (found != GW_PARAM_FOUND || value == NULL) {
        free(result);
        return found;
    }
    *value = result;
    if (value_len != NULL)
        *value_len = result_len;
    return found;
}

static void
send_error(gw_http_t *h, h2o_req_t *req, int status, const char *message, const char *code)
{
    json_t *body = gw_error_body(message, code);
    count_response(h, GW_OPERATION_NONE, status, body);
    send_json_take(h, req, status, body);
}

/* /healthz, /readyz and /metrics, answered exactly as the health port answers them. */
static bool
try_probe(gw_http_t *h, h2o_req_t *req)
{
    static const char *const paths[] = {"/healthz", "/readyz", "/metrics"};
    const char *path = NULL;

    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (path_is(req->path_normalized, paths[i]))
            path = paths[i];
    if (path == NULL)
        return false;

    int status = 0;
    char *body = NULL;
    rj_health_render(path, &status, &body);
    send_response(h, req, status, RJ_HEALTH_CONTENT_TYPE, body, strlen(body));
    free(body);
    return true;
}

/*
 * GET /graphql. A browser navigating here (Accept: text/html) gets the IDE, as Booster's and
 * Apollo's servers do, unless the URL carries a query: then it asked for a result, and a
 * link to a query result works in a browser too. Everything else goes to the executor,
 * which answers a GET without a query with a JSON error.
 */
static void
graphql_get(gw_http_t *h, h2o_req_t *req)
{
    const char *qs = NULL;
    size_t qs_len = 0;
    if (req->query_at != SIZE_MAX) {
        qs = req->path.base + req->query_at + 1;
        qs_len = req->path.len - req->query_at - 1;
    }

    size_t limit =
        h->max_body_bytes < GW_HTTP_MAX_QUERY_STRING ? h->max_body_bytes : GW_HTTP_MAX_QUERY_STRING;
    if (qs_len > limit) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "query string too long: %zu bytes, the limit is %zu; send long queries with "
                 "POST",
                 qs_len, limit);
        send_error(h, req, 414, msg, "InvalidParameterError");
        return;
    }

    ssize_t accept = h2o_find_header(&req->headers, H2O_TOKEN_ACCEPT, -1);
    if (accept != -1 &&
        gw_graphiql_wants_html(req->headers.entries[accept].value.base,
                               req->headers.entries[accept].value.len) &&
        gw_query_param(qs, qs_len, "query", NULL, NULL) == GW_PARAM_ABSENT) {
        gw_graphiql_response_t ide;
        gw_graphiql_page(h->graphiql, &ide);
        send_response(h, req, ide.status, ide.content_type, ide.body, ide.len);
        return;
    }

    gw_http_request_t in = {
        .method = GW_HTTP_GET,
        .query_string = qs,
        .query_string_len = qs_len,
        .body = "",
        .content = GW_CONTENT_OTHER,
    };
    h->on_graphql(h->opaque, responder_new(h, req), &in);
}

static void
graphql_post(gw_http_t *h, h2o_req_t *req)
{
    if (req->entity.len > h->max_body_bytes) {
        char msg[160];
        snprintf(msg, sizeof msg, "request body too large: %zu bytes, the limit is %zu",
                 req->entity.len, h->max_body_bytes);
        send_error(h, req, 413, msg, "InvalidParameterError");
        return;
    }
    gw_http_request_t in = {
        .method = GW_HTTP_POST,
        .body = req->entity.base != NULL ? req->entity.base : "",
        .body_len = req->entity.len,
        .content = body_content(req),
    };
    h->on_graphql(h->opaque, responder_new(h, req), &in);
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
    gw_http_t *h = ((gw_handler_t *)self)->http;

    if (method_is(req, "OPTIONS")) {
        send_preflight(h, req);
        return 0;
    }

    bool get = method_is(req, "GET") || method_is(req, "HEAD");
    gw_graphiql_response_t ide;
    if (path_is(req->path_normalized, "/graphql")) {
        if (get)
            graphql_get(h, req);
        else if (method_is(req, "POST"))
            graphql_post(h, req);
        else {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                           H2O_STRLIT("GET, POST, OPTIONS"));
            send_error(h, req, 405, "only GET and POST are supported on /graphql",
                       "InvalidProtocolError");
        }
        return 0;
    }

    if (get && try_probe(h, req))
        return 0;
    if (get &&
        gw_graphiql_route(h->graphiql, req->path_normalized.base, req->path_normalized.len, &ide)) {
        send_response(h, req, ide.status, ide.content_type, ide.body, ide.len);
        return 0;
    }

    send_error(h, req, 404, "not found", "NotFoundError");
    return 0;
}

/* ---- connections ---------------------------------------------------------------------- */

static void
free_handle(uv_handle_t *handle)
{
    free(handle);
}

static void
conn_unlink(gw_conn_t *c)
{
    gw_http_t *h = c->http;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    h->nconns--;
}

/* h2o closed the socket of a connection (client gone, error, or our shutdown). */
static void
on_conn_closed(uv_handle_t *handle)
{
    gw_conn_t *c = (gw_conn_t *)(void *)handle;
    conn_unlink(c);
    free(c);
}

static void
on_accept(uv_stream_t *listener, int status)
{
    gw_http_t *h = listener->data;

    if (status != 0) {
        rj_warn("http", "could not accept connection: %s", uv_strerror(status));
        return;
    }

    gw_conn_t *c = rj_xcalloc(1, sizeof *c);
    uv_tcp_init(h->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, free_handle);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);

    c->http = h;
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    h->conns = c;
    h->nconns++;

    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
    h2o_accept(&h->accept_ctx, sock);
}

void
gw_http_close_connections(gw_http_t *h)
{
    for (gw_conn_t *c = h->conns; c != NULL; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            shutdown(fd, SHUT_RDWR);
    }
}

/* ---- server --------------------------------------------------------------------------- */

static rj_status_t
resolve(const char *host, int port, struct sockaddr_storage *out, rj_error_t *err)
{
    char service[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;

    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0)
        return rj_error_set(err, RJ_EINVAL, "could not resolve http-host %s: %s", host,
                            gai_strerror(rc));
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return RJ_OK;
}

static rj_status_t
start_listening(gw_http_t *h, const char *host, int port, rj_error_t *err)
{
    struct sockaddr_storage addr;
    rj_status_t st = resolve(host, port, &addr, err);
    if (st != RJ_OK)
        return st;

    h->listener = rj_xmalloc(sizeof *h->listener);
    uv_tcp_init(h->loop, h->listener);
    h->listener->data = h;

    int rc = uv_tcp_bind(h->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)h->listener, 1024, on_accept);
    if (rc != 0)
        return rj_error_set(err, RJ_EIO, "could not listen on %s:%d: %s", host, port,
                            uv_strerror(rc));

    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(h->listener, (struct sockaddr *)&bound, &len);
    h->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return RJ_OK;
}

gw_http_t *
gw_http_new(const gw_http_opts_t *opts, rj_error_t *err)
{
    RJ_ASSERT(opts->on_graphql != NULL && opts->max_body_bytes > 0);

    gw_http_t *h = rj_xcalloc(1, sizeof *h);
    h->loop = opts->loop;
    h->max_body_bytes = opts->max_body_bytes;
    responses_init(h);
    h->on_graphql = opts->on_graphql;
    h->opaque = opts->opaque;

    h2o_config_init(&h->config);
    h->config.server_name = h2o_iovec_init(H2O_STRLIT("ramjet-gateway"));
    h->config.max_request_entity_size =
        opts->max_body_bytes > SIZE_MAX / 2 ? SIZE_MAX : opts->max_body_bytes * 2;

    h2o_hostconf_t *host =
        h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    gw_handler_t *handler = (gw_handler_t *)h2o_create_handler(path, sizeof *handler);
    handler->super.on_req = on_req;
    handler->http = h;

    /* Listen before the context exists, so a failure has only the listener to undo. */
    if (start_listening(h, opts->host, opts->port, err) != RJ_OK) {
        if (h->listener != NULL)
            uv_close((uv_handle_t *)h->listener, free_handle);
        h2o_config_dispose(&h->config);
        free(h);
        return NULL;
    }

    h2o_context_init(&h->ctx, h->loop, &h->config);
    h->graphiql = gw_graphiql_new(opts->graphiql_assets_dir, opts->graphiql_ws_url);
    h->accept_ctx.ctx = &h->ctx;
    h->accept_ctx.hosts = h->config.hosts;
    return h;
}

int
gw_http_port(const gw_http_t *h)
{
    return h->port;
}

void
gw_http_stop_accepting(gw_http_t *h)
{
    if (h->draining)
        return;
    h->draining = true;
    if (h->listener != NULL) {
        uv_close((uv_handle_t *)h->listener, free_handle);
        h->listener = NULL;
    }
    h2o_context_request_shutdown(&h->ctx);
}

size_t
gw_http_inflight(const gw_http_t *h)
{
    return h->inflight;
}

size_t
gw_http_connections(const gw_http_t *h)
{
    return h->nconns;
}

void
gw_http_stop(gw_http_t *h)
{
    RJ_ASSERT(h->inflight == 0 && h->nconns == 0);
    if (h->stopped)
        return;
    if (h->listener != NULL) {
        uv_close((uv_handle_t *)h->listener, free_handle);
        h->listener = NULL;
    }
    /*
     * h2o_context_request_shutdown() left HTTP/2's "resend GOAWAY" timer linked (it runs
     * a second later), and h2o_context_dispose() insists on empty timeouts. With no
     * connection left there is nobody to send GOAWAY to.
     */
    if (h2o_timeout_is_linked(&h->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&h->ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&h->ctx);
    h->stopped = true;
}

void
gw_http_free(gw_http_t *h)
{
    if (h == NULL)
        return;
    RJ_ASSERT(h->stopped);
    gw_graphiql_free(h->graphiql);
    h2o_config_dispose(&h->config);
    free(h);
}
