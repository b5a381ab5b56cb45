/*
 * exec.c - GraphQL request handling in the gateway (see exec.h).
 *
 * Three objects, each freed at one well-defined point:
 *
 *   gw_op_t   one GraphQL operation: its responder and prepared operation. Freed when
 *             its last root field has been resolved and the response sent. Answered
 *             early (op_abort) when its time budget or the answer size runs out; it then
 *             lives on, answered, until what it started has resolved.
 *   gw_cmd_t  one command produced to Kafka. It waits for two things that can happen in
 *             either order: its reply (or timeout, or delivery failure), which resolves
 *             the root field, and librdkafka's delivery report, whose callback holds a
 *             pointer to it. It is freed when both have happened.
 *   gw_rmq_t  one by-id read-model query on the PostgreSQL pool; freed in its callback.
 *   gw_rsq_t  one plural, List or events query on the pool; likewise.
 *   gw_qhq_t  one query handler run on the pool; freed in its done callback.
 *
 *   gw_front_t  one request before its token is checked; a large one (a body of 64 kB or
 *             more) is parsed, validated and prepared on the thread pool in it, and freed
 *             when it comes back.
 *
 * A client that disconnects does not cancel anything: its operation runs to completion
 * and the responder drops the answer. Commands already sent cannot be recalled anyway.
 *
 * Threads (issue 9: no request may hold the loop for long): the loop runs everything but
 * the parts that grow with a request's size, which run on libuv's thread pool with data
 * that is theirs alone meanwhile: large requests (gw_front_t), rows parsed as JSON
 * (gw_pgpool_query_json), large answers shaped and serialised (complete_work), and
 * malloc_trim (trim_soon).
 */
#include "exec.h"

#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/core.h"
#include "entities.h"
#include "entity/entity.h"
#include "json/envelope.h"
#include "log/log.h"
#include "pending.h"
#include "proc/proc.h"
#include "readside/pluralize.h"

#define GW_DOC_CACHE_SIZE 1024

/* Booster's messages, word for word (booster-graphql-dispatcher.ts, booster-authorizer.ts). */
#define MSG_EMPTY_QUERY "Received an empty GraphQL query"
#define MSG_NO_OPERATION                                                                           \
    "Could not extract GraphQL operation. Be sure to either send only one query, mutation, or "    \
    "subscription, or, in case you send several operations, include the \"operationName\" field"
#define MSG_BAD_VARIABLES                                                                          \
    "Variables must be provided as an Object where each property is a variable value. Perhaps "  \
    "look to see if an unparsed JSON string was provided."

/* Ours, for GET (express-graphql's wording for the mutation). */
#define MSG_GET_NO_QUERY                                                                           \
    "GET /graphql needs a query parameter, e.g. /graphql?query=%7B__typename%7D; or POST the "     \
    "request as JSON"

/* One read model's by-id statement, and its batched one for federation's _entities. */
typedef struct gw_rm_stmt {
    const rj_app_read_model_t *rm; /* the read model */
    char name[32];                 /* prepared statement name, "gw_rm_<index>" */
    char *sql;                     /* the statement */
    char ent_name[32];             /* prepared statement name, "gw_ent_<index>" */
    char *ent_sql;                 /* gw_entity_batch_sql() of its table */
} gw_rm_stmt_t;

/* What a Query root field of the generated schema resolves. */
typedef enum gw_query_kind {
    GW_QUERY_BY_ID,            /* <X>(id[, seq]): the by-id statement */
    GW_QUERY_PLURAL,           /* pluralize(X)(filter): deprecated, every matching row */
    GW_QUERY_LIST,             /* List<pluralize(X)>(filter, limit, sortBy, afterCursor) */
    GW_QUERY_EVENTS_BY_ENTITY, /* eventsByEntity(entity, entityID, from, to, limit) */
    GW_QUERY_EVENTS_BY_TYPE,   /* eventsByType(type, from, to, limit) */
} gw_query_kind_t;

/* One Query root field the gateway serves, named as api_sdl.c names it. */
typedef struct gw_query_field {
    char *name;                    /* the root field name; owned */
    gw_query_kind_t kind;          /* what it resolves */
    const rj_app_read_model_t *rm; /* its read model; NULL for the events API */
    const gw_rm_stmt_t *stmt;      /* for GW_QUERY_BY_ID, the read model's statement */
} gw_query_field_t;

/* One reply waiting in the inbox. */
typedef struct gw_inbox_msg {
    struct gw_inbox_msg *next; /* next message, in arrival order */
    size_t len;                /* payload length */
    char data[];               /* payload, NUL-terminated */
} gw_inbox_msg_t;

struct gw_exec {
    uv_loop_t *loop;               /* the gateway's loop */
    const rj_app_t *app;           /* the application */
    rj_kafka_producer_t *producer; /* command producer */
    gw_pgpool_t *pg;               /* read-model reads */
    int timeout_ms;                /* reply timeout */
    size_t max_id_bytes;           /* lim.max_id_bytes, or RJ_ID_MAX_BYTES when 0 */
    gw_limits_t lim;               /* per-request bounds */
    uv_work_t trim;                /* malloc_trim on the thread pool */
    bool trimming;                 /* trim is queued or running */
    bool trim_again;               /* another trim was asked for meanwhile */
    char *topic;                   /* `<app>.commands` */
    char *reply_channel;           /* `<app>:reply:<instance>` */
    rj_gql_schema_t *schema;       /* the API schema */
    rj_gql_cache_t *cache;         /* parsed and validated documents */
    gw_rm_stmt_t *rm_stmts;        /* one per read model, in declaration order */
    size_t n_rm_stmts;             /* their number */
    gw_query_field_t *queries;     /* the Query root fields served */
    size_t n_queries;              /* their number */
    gw_pending_t pending;          /* commands waiting for a reply */
    uv_timer_t timer;              /* fires at the earliest reply deadline */
    uv_async_t inbox_wakeup;       /* signalled by gw_exec_post_reply */
    pthread_mutex_t inbox_lock;    /* guards inbox_head/inbox_tail */
    gw_inbox_msg_t *inbox_head;    /* replies not yet processed */
    gw_inbox_msg_t *inbox_tail;    /* last of them */
    size_t n_ops;                  /* operations alive */
    size_t n_fronts;               /* large requests being parsed on the thread pool */
    size_t n_cmds;                 /* commands alive */
    gw_cons_t *cons;               /* requests waiting for their consistency token */
    bool mutation_projected;       /* --mutation-consistency projected */
    struct {
        rj_metric_t *requests;     /* POST /graphql handled */
        rj_metric_t *latency;      /* request latency histogram */
        rj_metric_t *commands;     /* commands produced */
        rj_metric_t *timeouts;     /* commands that got no reply in time */
        rj_metric_t *late_replies; /* replies for unknown request ids */
        rj_metric_t *waiting;      /* commands waiting for a reply (gauge) */
        rj_metric_t *rm_reads;     /* read-model reads */
        rj_metric_t *rs_queries;   /* plural, List and events queries */
        rj_metric_t *handler_queries; /* query handlers run */
    } m;
};

typedef struct gw_op {
    gw_exec_t *x;            /* the executor */
    gw_responder_t *r;       /* the way back to the client */
    json_t *user;            /* the verified user envelope, or NULL when anonymous; owned */
    rj_gql_prepared_t *prep; /* the prepared operation; root results accumulate here */
    bool serial;             /* mutation: one root field at a time */
    bool stepping;           /* inside op_step's loop (guards re-entry) */
    size_t next_root;        /* next root field to start */
    size_t outstanding;      /* root fields started and not yet resolved */
    int64_t started_us;      /* for the latency histogram */
    char *idempotency_key;   /* the request's idempotency key, or NULL; owned */
    uv_timer_t *budget;      /* fires when the time budget is spent; NULL without one */
    bool answered;           /* the client got its answer (the budget ran out); the op
                                lives on until what it started has resolved */
    size_t bytes;            /* stored rows read so far, in bytes */
    bool completing;         /* the answer is being built on the thread pool */
    uv_work_t complete;      /* that work */
    char *body;              /* the answer built there, until it is sent */
    rj_ryw_t *ryw;           /* a query: the writes it waits for; a mutation: the writes its
                                answer's token names (the request's and its own); or NULL */
    bool cons_done;          /* a mutation: its projected wait (--mutation-consistency
                                projected) is over or was not needed */
    char *cons_error;        /* a mutation whose projected wait failed: why; owned */
    const char *cons_code;   /* and its extensions.code; static */
} gw_op_t;

typedef struct gw_cmd {
    gw_pending_entry_t entry;       /* in x->pending while waiting for the reply */
    gw_exec_t *x;                   /* the executor */
    gw_op_t *op;                    /* the operation, or NULL once the root field resolved */
    size_t root;                    /* index of its root field */
    const rj_app_command_t *cmd;    /* the command (borrowed from the app) */
    bool awaiting_delivery;         /* the delivery report has not been served yet */
} gw_cmd_t;

typedef struct gw_rmq {
    gw_op_t *op;                   /* the operation */
    size_t root;                   /* index of its root field */
    const rj_app_read_model_t *rm; /* the read model read */
} gw_rmq_t;

/* One `_entities` root field: its batches run on the pool at once, one statement each. */
typedef struct gw_entq gw_entq_t;

/* One batch of an `_entities` field on the pool; freed with its field. */
typedef struct gw_entb {
    gw_entq_t *q; /* the field */
    size_t batch; /* index into q->plan.batches */
} gw_entb_t;

struct gw_entq {
    gw_op_t *op;           /* the operation */
    size_t root;           /* index of its root field */
    gw_entity_plan_t plan; /* what is read, and what was refused before reading */
    gw_entb_t *reads;      /* one per batch */
    size_t outstanding;    /* batches not yet answered */
    json_t *result;        /* one slot per representation, null until placed; owned */
};

typedef struct gw_rsq {
    gw_op_t *op;       /* the operation */
    size_t root;       /* index of its root field */
    const char *what;  /* what is read, for messages: "read model", "events of entity",
                          "events of type"; static */
    const char *name;  /* the read model, entity or event type name; borrowed from the app
                          or from the root field's arguments (alive until op completes) */
    bool connection;   /* List: the rows become {items, count, cursor} */
    rj_rs_page_t page; /* List: the page read, for the cursor */
} gw_rsq_t;

static void op_step(gw_op_t *op);

/* ---- request parsing (pure) ---------------------------------------------------------- */

static json_t *
request_error(const char *message, const char *code)
{
    return gw_error_body(message, code);
}

/* An error without extensions.code, the way Booster shows plain Errors: "extensions": {}. */
static json_t *
plain_error(const char *message)
{
    return gw_error_body(message, NULL);
}

void
gw_errors_decorate(json_t *errors)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) {
        if (json_is_object(e) && json_object_get(e, "extensions") == NULL)
            json_object_set_new(e, "extensions", json_object());
    }
}

static json_t *
errors_response_take(json_t *errors)
{
    if (!json_is_array(errors)) {
        json_decref(errors);
        errors = json_pack("[{s:s}]", "message", "could not execute the operation");
    }
    gw_errors_decorate(errors);
    return json_pack("{s:o}", "errors", errors);
}

/* A POST body with Content-Type: application/json: Booster's express.json(). */
static json_t *
root_from_json_body(const char *body, size_t len, json_t **response)
{
    json_error_t jerr;
    json_t *root = rj_json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (root == NULL) {
        /*
         * A number beyond the double range (1e309) is the one valid JSON that cannot be
         * parsed: say so in the words a Float variable would get, not only jansson's.
         */
        const char *why = json_error_code(&jerr) == json_error_numeric_overflow
                              ? "; Float cannot represent non numeric value: numbers must be "
                                "finite doubles"
                              : "";
        char msg[400];
        snprintf(msg, sizeof msg, "could not parse request body as JSON: %s (line %d, column %d)%s",
                 jerr.text, jerr.line, jerr.column, why);
        *response = request_error(msg, "InvalidParameterError");
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *response = request_error("could not parse request body: expected a JSON object",
                                  "InvalidParameterError");
        return NULL;
    }
    return root;
}

/*
 * Reads one GET parameter into @p root under @p name: as a string, or for "variables" as the
 * JSON it encodes. Returns false with @p response set when the request must be refused.
 */
static bool
get_param(const char *qs, size_t qs_len, const char *name, json_t *root, json_t **response)
{
    char *value = NULL;
    size_t value_len = 0;
    char msg[300];

    switch (gw_query_param(qs, qs_len, name, &value, &value_len)) {
    case GW_PARAM_ABSENT:
        return true;
    case GW_PARAM_FOUND:
        break;
    case GW_PARAM_MALFORMED:
        *response = request_error("could not decode the query string: a '%' must be followed by "
                                  "two hexadecimal digits",
                                  "InvalidParameterError");
        return false;
    case GW_PARAM_DUPLICATE:
        snprintf(msg, sizeof msg, "the query string has the parameter %s more than once", name);
        *response = request_error(msg, "InvalidParameterError");
        return false;
    }

    json_t *v;
    if (strcmp(name, "variables") == 0) {
        json_error_t jerr;
        v = rj_json_loadb(value, value_len, JSON_DECODE_ANY, &jerr);
        if (v == NULL)
            snprintf(msg, sizeof msg,
                     "could not parse the variables parameter as JSON: %s (column %d)", jerr.text,
                     jerr.column);
    } else {
        v = json_stringn(value, value_len);
        if (v == NULL)
            snprintf(msg, sizeof msg, "the %s parameter is not valid UTF-8", name);
    }
    free(value);
    if (v == NULL) {
        *response = request_error(msg, "InvalidParameterError");
        return false;
    }
    json_object_set_new(root, name, v);
    return true;
}

/* A GET: the query string's parameters become the object a POST body would have held. */
static json_t *
root_from_query_string(const char *qs, size_t qs_len, json_t **response)
{
    json_t *root = json_object();
    static const char *const names[] = {"query", "variables", "operationName"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!get_param(qs, qs_len, names[i], root, response)) {
            json_decref(root);
            return NULL;
        }
    }
    if (json_object_get(root, "query") == NULL) {
        json_decref(root);
        *response = request_error(MSG_GET_NO_QUERY, "InvalidParameterError");
        return NULL;
    }
    return root;
}

int
gw_request_parse(const gw_http_request_t *in, gw_gql_request_t *out, json_t **response)
{
    *out = (gw_gql_request_t){0};
    *response = NULL;

    json_t *root = NULL;
    if (in->method == GW_HTTP_GET) {
        root = root_from_query_string(in->query_string, in->query_string_len, response);
        if (root == NULL)
            return 400;
    } else if (in->content == GW_CONTENT_GRAPHQL) {
        /* Not valid UTF-8: the parser would refuse it anyway, with a less useful message. */
        json_t *query = json_stringn(in->body, in->body_len);
        if (query == NULL) {
            *response = request_error("could not read request body: not valid UTF-8",
                                      "InvalidParameterError");
            return 400;
        }
        root = json_pack("{s:o}", "query", query);
    } else if (in->content == GW_CONTENT_OTHER || in->body_len == 0) {
        /* express.json() leaves {} behind for empty and non-JSON bodies. */
        *response = request_error(MSG_EMPTY_QUERY, "InvalidParameterError");
        return 200;
    } else {
        root = root_from_json_body(in->body, in->body_len, response);
        if (root == NULL)
            return 400;
    }

    json_t *query = json_object_get(root, "query");
    if (query == NULL || json_is_null(query) || json_is_false(query) ||
        (json_is_string(query) && json_string_length(query) == 0)) {
        json_decref(root);
        *response = request_error(MSG_EMPTY_QUERY, "InvalidParameterError");
        return 200;
    }
    if (!json_is_string(query)) {
        /* graphql-js's parse() assertion, surfaced by Booster as a plain error. */
        char *shown = rj_json_dumps(query);
        char *msg = rj_xasprintf("Must provide Source. Received: %.200s.", shown);
        *response = plain_error(msg);
        free(msg);
        free(shown);
        json_decref(root);
        return 200;
    }

    /*
     * GraphQL over HTTP leaves `extensions` to the implementations; ours carries the
     * idempotency key for clients that cannot set a header (and for the pusher, which
     * forwards a WebSocket operation's payload as it came).
     */
    json_t *extensions = json_object_get(root, "extensions");
    json_t *idem = json_is_object(extensions) ? json_object_get(extensions, "idempotencyKey")
                                              : NULL;
    if (idem != NULL && !json_is_null(idem) && !json_is_string(idem)) {
        json_decref(root);
        *response = request_error("extensions.idempotencyKey must be a string",
                                  "InvalidParameterError");
        return 200;
    }
    json_t *token = json_is_object(extensions) ? json_object_get(extensions, "consistencyToken")
                                               : NULL;
    if (token != NULL && !json_is_null(token) && !json_is_string(token)) {
        json_decref(root);
        *response = request_error("extensions.consistencyToken must be a string",
                                  "InvalidConsistencyTokenError");
        return 200;
    }

    json_t *variables = json_object_get(root, "variables");
    json_t *op_name = json_object_get(root, "operationName");
    out->root = root;
    out->idempotency_key = json_is_string(idem) ? json_string_value(idem) : NULL;
    out->consistency_token = json_is_string(token) ? json_string_value(token) : NULL;
    out->get = in->method == GW_HTTP_GET;
    out->query = json_string_value(query);
    out->query_len = json_string_length(query);
    out->variables = json_is_null(variables) ? NULL : variables;
    out->operation_name = json_is_string(op_name) ? json_string_value(op_name) : NULL;
    return 0;
}

const char *
gw_idempotency_key_check(const char *key, size_t len)
{
    if (len == 0 || len > GW_IDEMPOTENCY_KEY_MAX)
        return "the idempotency key must be 1 to 255 characters long";
    for (size_t i = 0; i < len; i++) {
        if (key[i] < 0x21 || key[i] > 0x7e)
            return "the idempotency key may hold only visible ASCII characters";
    }
    return NULL;
}

void
gw_idempotent_request_id(const json_t *user, const char *key, const char *command, size_t root,
                         const json_t *args, char out[RJ_UUID_STRLEN])
{
    /*
     * Who: the token's issuer and subject, which together name one user across every
     * verifier; an anonymous request is nobody in particular. The parts are separated by
     * NUL-free framing (lengths), so no choice of key can make two tuples collide.
     */
    const json_t *claims = json_object_get(user, "claims");
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *sub = json_string_value(json_object_get(user, "id"));
    char *input = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *name = rj_xasprintf("%zu:%s%zu:%s%zu:%s%zu:%s%zu:%s", strlen(iss ? iss : ""),
                              iss ? iss : "", strlen(sub ? sub : ""), sub ? sub : "", strlen(key),
                              key, strlen(command), command, root, input ? input : "null");
    rj_uuid_derive(out, "ramjet-idempotency-key", name);
    free(name);
    free(input);
}

void
gw_request_deinit(gw_gql_request_t *req)
{
    json_decref(req->root);
    *req = (gw_gql_request_t){0};
}

const rj_gql_ast_definition_t *
gw_select_operation(const rj_gql_ast_definition_t *defs, const char *op_name)
{
    const rj_gql_ast_definition_t *found = NULL;

    for (const rj_gql_ast_definition_t *d = defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_OPERATION)
            continue;
        if (op_name == NULL) {
            if (found != NULL)
                return NULL; /* several operations and no name to choose by */
            found = d;
        } else if (d->name != NULL && strcmp(d->name, op_name) == 0) {
            return d;
        }
    }
    return found;
}

/* The extensions.code of an error, or NULL for none (Booster's "extensions": {}). */
static const char *
code_or_null(const rj_error_t *err)
{
    const char *code = rj_error_code(err);
    return code[0] != '\0' ? code : NULL;
}

int
gw_request_user(const rj_auth_t *auth, const char *authorization, size_t len, int64_t now_s,
                json_t **user, json_t **response)
{
    rj_error_t err;
    rj_error_clear(&err);
    *user = NULL;
    *response = NULL;
    if (rj_auth_verify_authorization(auth, authorization, len, now_s, user, &err) == RJ_OK)
        return 0;
    /* The reason only: it names no claim and no part of the token. */
    rj_info("exec", "refusing request: token not accepted code=%s reason=\"%s\"",
            rj_error_code(&err), err.msg);
    *response = request_error(err.msg, rj_error_code(&err));
    return 200;
}

rj_status_t
gw_read_model_key(const rj_app_read_model_t *rm, const json_t *args, const json_t *user,
                  char **id, char **seq, rj_error_t *err)
{
    *id = *seq = NULL;
    json_t *key = json_object();
    json_t *v = json_object_get(args, "id");
    if (v != NULL)
        json_object_set(key, "id", v);
    /* The sequence key argument is named after the @sequencedBy field (Booster's). */
    json_t *sv = rm->sequenced_by != NULL ? json_object_get(args, rm->sequenced_by) : NULL;
    if (sv != NULL && !json_is_null(sv))
        json_object_set_new(key, "sequenceKey",
                            json_pack("{s:s, s:O}", "name", rm->sequenced_by, "value", sv));
    json_t *request = json_pack("{s:o}", "key", key);

    /* Booster's order: the authorizer sees the request as the client sent it, then the
       before hooks may rewrite it. */
    rj_status_t st = rj_app_authorize(&rm->authorize, user, request, err);
    json_t *out = NULL;
    if (st == RJ_OK)
        st = rj_app_run_read_model_hooks(rm, request, user, &out, err);
    json_decref(request);
    if (st != RJ_OK)
        return st;

    json_t *k = json_object_get(out, "key");
    *id = rj_app_id_string(json_object_get(k, "id"));
    if (*id == NULL) {
        json_decref(out);
        return rj_error_set(err, RJ_EINVAL, "the read model id must be a string or a number");
    }
    if (rm->sequenced_by != NULL)
        *seq = rj_app_id_string(json_object_get(json_object_get(k, "sequenceKey"), "value"));
    json_decref(out);
    return RJ_OK;
}

/* Copies args[name] into @p request when the client gave it (non-null). */
static void
request_copy_arg(json_t *request, const json_t *args, const char *name, const char *as)
{
    json_t *v = json_object_get(args, name);
    if (v != NULL && !json_is_null(v))
        json_object_set(request, as, v);
}

rj_status_t
gw_read_model_search(const rj_app_read_model_t *rm, const json_t *args, bool list,
                     const json_t *user, rj_buf_t *sql, rj_rs_params_t *params, rj_rs_page_t *page,
                     rj_error_t *err)
{
    rj_buf_reset(sql);
    rj_rs_params_deinit(params);

    /* Booster's read-model request envelope: filters always present ({} for none), so a
       hook can read filters.id.eq without checking for the object first. */
    json_t *filter = json_object_get(args, "filter");
    json_t *request = json_object();
    json_object_set_new(request, "filters",
                        json_is_object(filter) ? json_incref(filter) : json_object());
    if (list) {
        request_copy_arg(request, args, "sortBy", "sortBy");
        request_copy_arg(request, args, "limit", "limit");
        request_copy_arg(request, args, "afterCursor", "afterCursor");
    }

    /* As for by-id reads: the authorizer sees the request as the client sent it, the
       hooks may then rewrite it. */
    rj_status_t st = rj_app_authorize(&rm->authorize, user, request, err);
    json_t *out = NULL;
    if (st == RJ_OK)
        st = rj_app_run_read_model_hooks(rm, request, user, &out, err);
    json_decref(request);
    if (st != RJ_OK)
        return st;

    json_t *filters = json_object_get(out, "filters");
    if (list) {
        rj_rs_page_t p;
        st = rj_rs_page_from_args(json_object_get(out, "limit"),
                                  json_object_get(out, "afterCursor"), &p, err);
        if (st == RJ_OK)
            st = rj_rs_query_build(rm, filters, json_object_get(out, "sortBy"), &p, sql, params,
                                   err);
        if (st == RJ_OK)
            *page = p;
    } else {
        st = rj_rs_query_build(rm, filters, NULL, NULL, sql, params, err);
    }
    json_decref(out);
    if (st != RJ_OK) {
        /* The partial statement must not be run by mistake. */
        rj_buf_reset(sql);
        rj_rs_params_deinit(params);
    }
    return st;
}

/* A string argument, or NULL when absent, null or not a string. */
static const char *
string_arg(const json_t *args, const char *name)
{
    return json_string_value(json_object_get(args, name));
}

rj_status_t
gw_events_search(const rj_app_t *app, bool by_type, const json_t *args, const json_t *user,
                 rj_buf_t *sql, rj_rs_params_t *params, rj_error_t *err)
{
    rj_buf_reset(sql);
    rj_rs_params_deinit(params);

    const char *name = string_arg(args, by_type ? "type" : "entity");
    if (name == NULL)
        return rj_error_set(err, RJ_EINVAL, "could not query events: no %s given",
                            by_type ? "event type" : "entity");

    /* The enums of the schema only admit declared names; this guards the model anyway. */
    const rj_app_entity_t *entity = NULL;
    if (by_type) {
        const rj_app_event_t *event = rj_app_event(app, name);
        if (event == NULL)
            return rj_error_set(err, RJ_ENOTFOUND, "could not find event type %s", name);
        entity = event->entity;
    } else {
        entity = rj_app_entity(app, name);
        if (entity == NULL)
            return rj_error_set(err, RJ_ENOTFOUND, "could not find entity %s", name);
    }
    rj_status_t st = rj_app_authorize(&entity->authorize_read_events, user, args, err);
    if (st != RJ_OK)
        return st;

    /* Booster's `if (limit)`: absent, null and 0 all mean every event. */
    long limit = 0;
    json_t *l = json_object_get(args, "limit");
    if (json_is_integer(l)) {
        json_int_t n = json_integer_value(l);
        limit = n > LONG_MAX ? LONG_MAX : n < 0 ? 0 : (long)n;
    }
    /* An ID may arrive as a number when the client wrote one; its string form is the id. */
    char *entity_id = by_type ? NULL : rj_app_id_string(json_object_get(args, "entityID"));
    st = rj_rs_events_query_build(by_type ? NULL : name, entity_id, by_type ? name : NULL,
                                  string_arg(args, "from"), string_arg(args, "to"), limit, sql,
                                  params, err);
    free(entity_id);
    if (st != RJ_OK) {
        rj_buf_reset(sql);
        rj_rs_params_deinit(params);
    }
    return st;
}

rj_status_t
gw_command_message(const rj_app_command_t *cmd, const json_t *args, const json_t *user,
                   const char *request_id, const char *reply_to, int64_t now_ms, char **key,
                   char **value, rj_error_t *err)
{
    json_t *input = json_object_get(args, "input");
    json_t *empty = NULL;
    if (!json_is_object(input))
        input = empty = json_object();

    char *entity_key = NULL;
    rj_status_t st = rj_app_command_key(cmd, input, &entity_key, err);
    if (st != RJ_OK) {
        json_decref(empty);
        return st;
    }

    char issued_at[32];
    rj_iso8601_ms(now_ms, issued_at);
    rj_env_command_t env = {
        .request_id = request_id,
        .command = cmd->name,
        .input = input,
        .current_user = json_is_object(user) ? user : NULL, /* NULL: anonymous */
        .reply_to = reply_to,
        .issued_at = issued_at,
    };
    *value = rj_env_command_encode(&env);
    *key = entity_key != NULL ? entity_key : rj_xstrdup(request_id);
    json_decref(empty);
    return RJ_OK;
}

/* ---- operations ---------------------------------------------------------------------- */

/* Answers above this many bytes of rows give their memory back to the system at once. */
#define GW_TRIM_BYTES (1024 * 1024)
/* Request bodies this large give their memory back to the system once handled. */
#define GW_TRIM_BODY_BYTES (256 * 1024)
/* Request bodies this large are parsed, validated and prepared off the loop thread. */
#define GW_OFFLOAD_BODY_BYTES (64 * 1024)
/* Answers from this many bytes of rows are shaped and serialised off the loop thread. */
#define GW_OFFLOAD_BYTES (64 * 1024)

static void
budget_closed(uv_handle_t *h)
{
    free(h);
}

static void trim_soon(gw_exec_t *x);

/* Thread pool: malloc_trim walks every arena; on a large heap that takes 50 to 130 ms. */
static void
trim_work(uv_work_t *w)
{
    (void)w;
    malloc_trim(0);
}

static void
trim_done(uv_work_t *w, int status)
{
    gw_exec_t *x = w->data;
    (void)status;
    x->trimming = false;
    if (x->trim_again) {
        x->trim_again = false;
        trim_soon(x);
    }
}

/*
 * Gives freed heap memory back to the system (glibc keeps it in its arenas: the gateway
 * kept 4.5 GB after one 132 MB answer, issue 9), on the thread pool, so the loop does not
 * wait for it; one trim at a time, and one more if asked meanwhile.
 */
static void
trim_soon(gw_exec_t *x)
{
    if (x->trimming) {
        x->trim_again = true;
        return;
    }
    x->trimming = true;
    x->trim.data = x;
    int rc = uv_queue_work(x->loop, &x->trim, trim_work, trim_done);
    RJ_ASSERT(rc == 0);
}

/* Releases what the op holds, once it was answered and nothing it started runs. */
static void
op_free(gw_op_t *op)
{
    gw_exec_t *x = op->x;
    if (op->budget != NULL) {
        /* The handle is freed by libuv's close callback, on a later turn of the loop. */
        op->budget->data = NULL;
        uv_close((uv_handle_t *)op->budget, budget_closed);
    }
    rj_gql_prepared_free(op->prep);
    json_decref(op->user);
    free(op->idempotency_key);
    if (op->ryw != NULL) {
        rj_ryw_deinit(op->ryw);
        free(op->ryw);
    }
    free(op->cons_error);
    x->n_ops--;
    if (op->bytes >= GW_TRIM_BYTES)
        trim_soon(x);
    free(op);
}

/*
 * What a mutation's answer carries besides its data: extensions.consistencyToken (every
 * mutation answer, so a client can always send it back), and the error of a projected
 * wait that failed (the mutation itself succeeded: its data stays). Any thread: it reads
 * only the op, which is the caller's alone.
 */
static void
op_decorate(const gw_op_t *op, json_t *response)
{
    if (rj_gql_prepared_op(op->prep) != RJ_GQL_OP_MUTATION || !json_is_object(response))
        return;
    rj_ryw_t none;
    rj_ryw_init(&none);
    char *token = rj_ryw_encode(op->ryw != NULL ? op->ryw : &none);
    json_t *ext = json_object_get(response, "extensions");
    if (!json_is_object(ext)) {
        ext = json_object();
        json_object_set_new(response, "extensions", ext);
    }
    json_object_set_new(ext, "consistencyToken", json_string(token));
    free(token);
    if (op->cons_error != NULL) {
        json_t *errors = json_object_get(response, "errors");
        if (!json_is_array(errors)) {
            errors = json_array();
            json_object_set_new(response, "errors", errors);
        }
        json_array_append_new(errors, json_pack("{s:s, s:{s:s}}", "message", op->cons_error,
                                                "extensions", "code", op->cons_code));
    }
}

/* Thread pool: shape and serialise a large answer; the op is this work's alone now. */
static void
complete_work(uv_work_t *w)
{
    gw_op_t *op = w->data;
    json_t *response = rj_gql_complete(op->prep);
    op_decorate(op, response);
    op->body = rj_json_dumps(response);
    json_decref(response);
}

static void
complete_done(uv_work_t *w, int status)
{
    gw_op_t *op = w->data;
    RJ_ASSERT(status == 0); /* never cancelled */
    gw_responder_send_text_take(op->r, 200, op->body);
    op->body = NULL;
    rj_metric_observe_us(op->x->m.latency, rj_mono_us() - op->started_us);
    op_free(op);
}

static void op_wait_projected(gw_op_t *op);

static void
op_complete(gw_op_t *op)
{
    gw_exec_t *x = op->x;

    if (!op->cons_done && !op->answered) {
        op->cons_done = true;
        if (x->mutation_projected && rj_gql_prepared_op(op->prep) == RJ_GQL_OP_MUTATION &&
            op->ryw != NULL && op->ryw->n > 0) {
            op_wait_projected(op);
            return;
        }
    }
    if (!op->answered && op->bytes >= GW_OFFLOAD_BYTES && gw_responder_connected(op->r)) {
        /*
         * Shaping and serialising an answer costs the loop about a millisecond per 10 kB
         * on a busy machine; a large one is built on the thread pool instead, so other
         * requests are not held up behind it. The budget no longer applies: the answer is
         * on its way.
         */
        op->completing = true;
        op->complete.data = op;
        int rc = uv_queue_work(x->loop, &op->complete, complete_work, complete_done);
        RJ_ASSERT(rc == 0);
        return;
    }
    if (!op->answered) {
        json_t *response = gw_responder_connected(op->r) ? rj_gql_complete(op->prep) : json_null();
        op_decorate(op, response);
        gw_responder_send_json_take(op->r, 200, response);
        rj_metric_observe_us(x->m.latency, rj_mono_us() - op->started_us);
    }
    op_free(op);
}

/*
 * Answers the operation with one error now, instead of its data: nothing further starts,
 * and what still runs resolves into the op, which is freed when the last of it is done
 * (op_complete). The caller must still account for the root it is resolving, if any.
 */
static void
op_abort(gw_op_t *op, const char *msg, const char *code)
{
    gw_exec_t *x = op->x;
    gw_responder_send_json_take(
        op->r, 200,
        json_pack("{s:[{s:s,s:{s:s}}]}", "errors", "message", msg, "extensions", "code", code));
    rj_metric_observe_us(x->m.latency, rj_mono_us() - op->started_us);
    op->answered = true;
    op->r = NULL;
    op->next_root = rj_gql_prepared_nroots(op->prep);
}

/* The time budget is spent: answer now; what is still running resolves into nothing. */
static void
on_budget(uv_timer_t *t)
{
    gw_op_t *op = t->data;
    if (op == NULL || op->answered || op->completing)
        return;
    int ms = op->x->lim.budget_ms;
    rj_warn("exec", "operation cancelled: its budget of %d ms is spent", ms);
    char *msg = rj_xasprintf("the operation did not finish within its budget of %d ms", ms);
    op_abort(op, msg, "TimeoutError");
    free(msg);
    if (op->outstanding == 0 && !op->stepping)
        op_complete(op);
}

/*
 * Counts @p len bytes of rows toward the answer; false once the answer would pass
 * max_response_bytes: the operation is then answered with that error alone, and the rows
 * read so far are dropped, so building a huge answer stops at the limit.
 */
static bool
op_take_bytes(gw_op_t *op, size_t len)
{
    int max = op->x->lim.max_response_bytes;
    op->bytes += len;
    if (op->answered)
        return false;
    if (max <= 0 || op->bytes <= (size_t)max)
        return true;
    char *msg = rj_xasprintf("the answer would exceed %d bytes of rows (max-response-bytes); "
                             "select fewer rows",
                             max);
    op_abort(op, msg, "InvalidParameterError");
    free(msg);
    return false;
}

/* The longest value a read may still return (0: no limit), so a longer one is not parsed. */
static size_t
op_bytes_left(const gw_op_t *op)
{
    int max = op->x->lim.max_response_bytes;
    if (max <= 0)
        return 0;
    /* at least one byte: 0 would mean no limit */
    return op->bytes < (size_t)max ? (size_t)max - op->bytes : 1;
}

/* A root field was resolved (value or error recorded in op->prep). */
static void
root_done(gw_op_t *op)
{
    RJ_ASSERT(op->outstanding > 0);
    op->outstanding--;
    op_step(op);
}

static void
root_fail(gw_op_t *op, size_t root, const char *message, const char *code)
{
    rj_gql_prepared_set_error(op->prep, root, message, code);
    root_done(op);
}

/* ---- read-your-writes ------------------------------------------------------------------ */

/* The op's write set, made on first use. */
static rj_ryw_t *
op_ryw(gw_op_t *op)
{
    if (op->ryw == NULL) {
        op->ryw = rj_xmalloc(sizeof *op->ryw);
        rj_ryw_init(op->ryw);
    }
    return op->ryw;
}

/*
 * Waits until @p writes (taken) are projected, then calls @p cb; the wait counts as an
 * outstanding part of the op, so a spent budget answers it but does not free it.
 */
static void
op_wait(gw_op_t *op, rj_ryw_t *writes, gw_cons_cb cb)
{
    rj_error_t err = {0};
    op->outstanding++;
    if (gw_cons_wait(op->x->cons, writes, cb, op, &err) != RJ_OK) {
        rj_ryw_deinit(writes);
        cb(op, err.status, err.msg, rj_error_code(&err));
    }
}

/* A query's wait ended: run it, or answer with the error alone. */
static void
on_query_consistent(void *opaque, rj_status_t status, const char *message, const char *code)
{
    gw_op_t *op = opaque;
    RJ_ASSERT(op->outstanding > 0);
    op->outstanding--;
    if (status != RJ_OK && !op->answered)
        op_abort(op, message, code);
    op_step(op);
}

/* A projected mutation's wait ended: answer it, with the error if the wait failed. */
static void
on_mutation_projected(void *opaque, rj_status_t status, const char *message, const char *code)
{
    gw_op_t *op = opaque;
    RJ_ASSERT(op->outstanding > 0);
    op->outstanding--;
    if (status != RJ_OK) {
        op->cons_error = rj_xasprintf("the mutation was applied, but: %s", message);
        op->cons_code = code;
    }
    op_step(op);
}

/* --mutation-consistency projected: the answer waits for the mutation's writes. */
static void
op_wait_projected(gw_op_t *op)
{
    rj_ryw_t writes; /* a copy: the answer's token still names them */
    rj_ryw_init(&writes);
    for (size_t i = 0; i < op->ryw->n; i++)
        rj_ryw_note(&writes, op->ryw->w[i].entity, op->ryw->w[i].id, op->ryw->w[i].version);
    op_wait(op, &writes, on_mutation_projected);
}

/* ---- read models --------------------------------------------------------------------- */

static void
rm_done(void *opaque, rj_status_t status, json_t *value, size_t bytes, const rj_error_t *err)
{
    gw_rmq_t *q = opaque;
    gw_op_t *op = q->op;
    size_t root = q->root;
    const rj_app_read_model_t *rm = q->rm;
    free(q);

    /* a value over what the answer may still take was refused unparsed (bytes > 0) */
    if ((status == RJ_OK || (status == RJ_ETOOBIG && bytes > 0)) && !op_take_bytes(op, bytes)) {
        json_decref(value);
        root_done(op);
        return;
    }
    if (status != RJ_OK) {
        rj_error("exec", "could not read read model %s: %s", rm->name, err->msg);
        char *msg = rj_xasprintf("could not read read model %s", rm->name);
        root_fail(op, root, msg, rj_error_code(err));
        free(msg);
        return;
    }
    rj_gql_prepared_set_result_take(op->prep, root, value != NULL ? value : json_null());
    root_done(op);
}

static void
rm_start(gw_op_t *op, size_t root, const rj_gql_root_field_t *f, const gw_rm_stmt_t *stmt)
{
    gw_exec_t *x = op->x;

    char *id = NULL, *seq = NULL;
    rj_error_t err;
    rj_error_clear(&err);
    if (gw_read_model_key(stmt->rm, f->args, op->user, &id, &seq, &err) != RJ_OK) {
        root_fail(op, root, err.msg, code_or_null(&err));
        return;
    }
    const char *params[2] = {id, seq};

    gw_rmq_t *q = rj_xmalloc(sizeof *q);
    *q = (gw_rmq_t){.op = op, .root = root, .rm = stmt->rm};
    rj_metric_add(x->m.rm_reads, 1);
    gw_pgpool_query_json(x->pg, stmt->name, stmt->sql, stmt->rm->sequenced_by != NULL ? 2 : 1,
                         params, op_bytes_left(op), rm_done, q);
    free(seq);
    free(id);
}

/* ---- the read side: plural and List queries, the events API ------------------------ */

static void
rsq_done(void *opaque, rj_status_t status, json_t *items, size_t bytes, const rj_error_t *err)
{
    gw_rsq_t *q = opaque;
    gw_op_t *op = q->op;

    /* rows over what the answer may still take were refused unparsed (bytes > 0) */
    if ((status == RJ_OK || (status == RJ_ETOOBIG && bytes > 0)) && !op_take_bytes(op, bytes)) {
        json_decref(items);
        free(q);
        root_done(op);
        return;
    }
    if (status != RJ_OK) {
        /* The client learns that the read failed, not PostgreSQL's words about it, unless
           a value it sent was refused (RJ_EINVAL carries only that value's problem). */
        bool refused = status == RJ_EINVAL || status == RJ_ETOOBIG;
        if (refused)
            rj_debug("exec", "refused filter for %s %s: %s", q->what, q->name, err->msg);
        else
            rj_error("exec", "could not read %s %s: %s", q->what, q->name, err->msg);
        char *msg = refused
                        ? rj_xasprintf("invalid filter for %s %s: %s", q->what, q->name, err->msg)
                        : rj_xasprintf("could not read %s %s", q->what, q->name);
        root_fail(op, q->root, msg, rj_error_code(err));
        free(msg);
        free(q);
        return;
    }
    if (!json_is_array(items)) {
        rj_error("exec", "could not parse the rows of %s %s: %s", q->what, q->name,
                 "not a JSON array");
        json_decref(items);
        char *msg = rj_xasprintf("could not read %s %s", q->what, q->name);
        root_fail(op, q->root, msg, "InternalError");
        free(msg);
        free(q);
        return;
    }
    rj_gql_prepared_set_result_take(op->prep, q->root,
                                    q->connection ? rj_rs_connection_take(items, &q->page) : items);
    free(q);
    root_done(op);
}

/* Queues a built read-side statement; @p q is freed by rsq_done. */
static void
rsq_run(gw_exec_t *x, gw_rsq_t *q, const rj_buf_t *sql, const rj_rs_params_t *params)
{
    rj_metric_add(x->m.rs_queries, 1);
    gw_pgpool_query_json(x->pg, NULL, sql->data, (int)params->n, rj_rs_params_values(params),
                         op_bytes_left(q->op), rsq_done, q);
}

static void
rs_start(gw_op_t *op, size_t root, const rj_gql_root_field_t *f, const gw_query_field_t *qf)
{
    gw_exec_t *x = op->x;
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);

    gw_rsq_t *q = rj_xcalloc(1, sizeof *q);
    q->op = op;
    q->root = root;
    rj_error_t err;
    rj_error_clear(&err);
    rj_status_t st;
    if (qf->kind == GW_QUERY_EVENTS_BY_ENTITY || qf->kind == GW_QUERY_EVENTS_BY_TYPE) {
        bool by_type = qf->kind == GW_QUERY_EVENTS_BY_TYPE;
        const char *name = json_string_value(json_object_get(f->args, by_type ? "type" : "entity"));
        q->what = by_type ? "events of type" : "events of entity";
        q->name = name != NULL ? name : "?";
        st = gw_events_search(x->app, by_type, f->args, op->user, &sql, &params, &err);
    } else {
        q->what = "read model";
        q->name = qf->rm->name;
        q->connection = qf->kind == GW_QUERY_LIST;
        st = gw_filter_check(json_object_get(f->args, "filter"), x->lim.max_filter_values, &err);
        if (st == RJ_OK)
            st = gw_read_model_search(qf->rm, f->args, q->connection, op->user, &sql, &params,
                                      &q->page, &err);
    }

    if (st == RJ_OK) {
        rsq_run(x, q, &sql, &params);
    } else {
        free(q);
        root_fail(op, root, err.msg, code_or_null(&err));
    }
    rj_rs_params_deinit(&params);
    rj_buf_deinit(&sql);
}

/* ---- federation: Ramjet as a subgraph ----------------------------------------------- */

/* The last batch answered: report the refused representations and resolve the field. */
static void
entq_finish(gw_entq_t *q)
{
    gw_op_t *op = q->op;
    size_t i;
    const json_t *e;
    json_array_foreach (q->plan.errors, i, e) {
        const char *code = json_string_value(json_object_get(e, "code"));
        rj_gql_prepared_add_item_error(op->prep, q->root,
                                       (size_t)json_integer_value(json_object_get(e, "index")),
                                       json_string_value(json_object_get(e, "message")),
                                       code != NULL && code[0] != '\0' ? code : NULL);
    }
    rj_gql_prepared_set_result_take(op->prep, q->root, q->result);
    gw_entity_plan_deinit(&q->plan);
    free(q->reads);
    free(q);
    root_done(op);
}

/* A failed batch costs its own representations only: each is null with an error. */
static void
entb_refuse(gw_entq_t *q, const gw_entity_batch_t *b, const char *code)
{
    char *msg = rj_xasprintf("could not read read model %s", b->rm->name);
    for (size_t i = 0; i < b->n; i++)
        gw_entity_plan_refuse(&q->plan, b->slots[i], msg, code);
    free(msg);
}

static void
entb_done(void *opaque, rj_status_t status, json_t *rows, size_t bytes, const rj_error_t *err)
{
    gw_entb_t *r = opaque;
    gw_entq_t *q = r->q;
    const gw_entity_batch_t *b = &q->plan.batches[r->batch];

    /* rows over what the answer may still take were refused unparsed (bytes > 0) */
    if ((status == RJ_OK || (status == RJ_ETOOBIG && bytes > 0)) && !op_take_bytes(q->op, bytes)) {
        /* the operation is answered with that error alone; the rows are dropped */
    } else if (status != RJ_OK || !json_is_array(rows)) {
        rj_error("exec", "could not read read model %s for _entities: %s", b->rm->name,
                 status != RJ_OK ? err->msg : "not a JSON array");
        entb_refuse(q, b, status != RJ_OK ? rj_error_code(err) : "InternalError");
    } else {
        gw_entity_batch_place(b, rows, q->result);
    }
    json_decref(rows);
    if (--q->outstanding == 0)
        entq_finish(q);
}

/* The statements of @p rm (every read model has them once the executor is built). */
static const gw_rm_stmt_t *
rm_stmt_of(const gw_exec_t *x, const rj_app_read_model_t *rm)
{
    for (size_t i = 0; i < x->n_rm_stmts; i++)
        if (x->rm_stmts[i].rm == rm)
            return &x->rm_stmts[i];
    RJ_ASSERT(!"a read model without statements");
    return NULL;
}

/*
 * _entities(representations:): the plan decides every representation as T(id:) would,
 * then each read model's batch is read with one statement, all batches at once.
 */
static void
entities_start(gw_op_t *op, size_t root, const rj_gql_root_field_t *f)
{
    gw_exec_t *x = op->x;
    const json_t *reps = json_object_get(f->args, "representations");
    gw_entq_t *q = rj_xcalloc(1, sizeof *q);
    q->op = op;
    q->root = root;
    q->result = json_array();
    for (size_t i = 0; i < json_array_size(reps); i++)
        json_array_append_new(q->result, json_null());
    gw_entity_plan_build(x->app, reps, op->user, x->max_id_bytes, &q->plan);
    if (q->plan.n_batches == 0) {
        entq_finish(q);
        return;
    }

    q->reads = rj_xcalloc(q->plan.n_batches, sizeof *q->reads);
    q->outstanding = q->plan.n_batches;
    for (size_t i = 0; i < q->plan.n_batches; i++) {
        const gw_entity_batch_t *b = &q->plan.batches[i];
        const gw_rm_stmt_t *stmt = rm_stmt_of(x, b->rm);
        char *params[2];
        gw_entity_batch_params(b, &params[0], &params[1]);
        q->reads[i] = (gw_entb_t){.q = q, .batch = i};
        rj_metric_add(x->m.rm_reads, 1);
        gw_pgpool_query_json(x->pg, stmt->ent_name, stmt->ent_sql, 2, (const char *const *)params,
                             op_bytes_left(op), entb_done, &q->reads[i]);
        free(params[0]);
        free(params[1]);
    }
}

/* ---- query handlers (Booster's @Query) ------------------------------------------------ */

/*
 * A query handler runs on the PostgreSQL pool, on a worker thread with the job's
 * connection, because its entity reads (rj_entity_get) block; the loop authorizes it and
 * hands it over. Between gw_pgpool_call and qh_done the job belongs to the worker.
 */
typedef struct gw_qhq {
    gw_op_t *op;                     /* the operation */
    size_t root;                     /* index of its root field */
    const rj_app_t *app;             /* the application */
    const rj_app_query_t *query;     /* the query run */
    json_t *input;                   /* its input object; owned */
    const json_t *user;              /* op->user; borrowed (the op outlives the job) */
    char request_id[RJ_UUID_STRLEN]; /* what rj_command_request_id shows the handler */
    rj_pg_t *pg;                     /* the worker's connection, during qh_work only */
    rj_status_t storage;             /* RJ_ERETRY once an entity read lost the connection */
    rj_status_t status;              /* the handler's outcome */
    json_t *result;                  /* on RJ_OK its value; owned */
    rj_error_t err;                  /* on failure its message */
} gw_qhq_t;

/* Worker thread: a handler's rj_entity_get, on the job's connection. */
static rj_status_t
qh_read_entity(void *opaque, const char *entity, const char *id, json_t **state, rj_error_t *err)
{
    gw_qhq_t *q = opaque;
    rj_status_t st = rj_entity_read(q->pg, q->app, entity, id, state, NULL, err);
    if (st == RJ_ERETRY)
        q->storage = st;
    return st;
}

/* Worker thread: a handler's rj_read_models_search, on the job's connection. */
static rj_status_t
qh_search_read_models(void *opaque, const rj_app_read_model_t *rm, const json_t *filter,
                      size_t limit, json_t **items, rj_error_t *err)
{
    gw_qhq_t *q = opaque;
    rj_status_t st = rj_entity_search_read_models(q->pg, rm, filter, limit, items, err);
    if (st == RJ_ERETRY)
        q->storage = st;
    return st;
}

/* Worker thread: hooks and handler (rj_app_run_query). */
static rj_status_t
qh_work(void *opaque, rj_pg_t *pg, rj_error_t *err)
{
    gw_qhq_t *q = opaque;
    const rj_app_reader_t reader = {
        .entity = qh_read_entity, .read_models = qh_search_read_models, .opaque = q};
    q->pg = pg;
    q->storage = RJ_OK;
    json_decref(q->result);
    q->result = NULL;
    q->status = rj_app_run_query(q->app, &reader, q->query->name, q->input, q->user,
                                 q->request_id, &q->result, &q->err);
    q->pg = NULL;
    /* The connection broke under a read: whatever the handler made of it, the pool runs
       it again on the reopened connection (a query handler is a read, safe to repeat). */
    if (q->storage == RJ_ERETRY)
        return rj_error_set(err, RJ_ERETRY, "%s", q->err.msg);
    return RJ_OK;
}

/* Loop thread: the handler's value or error becomes the root field's. */
static void
qh_done(void *opaque, rj_status_t status, const rj_error_t *err)
{
    gw_qhq_t *q = opaque;
    gw_op_t *op = q->op;
    size_t root = q->root;
    json_t *result = q->result;
    rj_error_t e = status != RJ_OK ? *err : q->err;
    if (status != RJ_OK)
        rj_error("exec", "could not run query %s: %s", q->query->name, err->msg);
    else
        status = q->status;
    json_decref(q->input);
    free(q);

    if (status != RJ_OK) {
        json_decref(result);
        root_fail(op, root, e.msg, code_or_null(&e));
        return;
    }
    rj_gql_prepared_set_result_take(op->prep, root, result);
    root_done(op);
}

static void
qh_start(gw_op_t *op, size_t root, const rj_gql_root_field_t *f, const rj_app_query_t *query)
{
    gw_exec_t *x = op->x;

    /* As for commands: the authorizer sees the input as the client sent it; the before
       hooks run afterwards, with the handler. */
    rj_error_t err = {0};
    json_t *input = json_object_get(f->args, "input");
    if (rj_app_authorize(&query->authorize, op->user, json_is_object(input) ? input : NULL,
                         &err) != RJ_OK) {
        root_fail(op, root, err.msg, code_or_null(&err));
        return;
    }

    gw_qhq_t *q = rj_xcalloc(1, sizeof *q);
    q->op = op;
    q->root = root;
    q->app = x->app;
    q->query = query;
    q->input = json_is_object(input) ? json_incref(input) : json_object();
    q->user = op->user;
    rj_uuid_v4(q->request_id);
    rj_metric_add(x->m.handler_queries, 1);
    gw_pgpool_call(x->pg, qh_work, qh_done, q);
}

/* ---- commands ------------------------------------------------------------------------ */

static void
cmd_release(gw_cmd_t *c)
{
    if (c->op == NULL && !c->awaiting_delivery) {
        c->x->n_cmds--;
        free(c);
    }
}

static void
update_waiting(gw_exec_t *x)
{
    rj_metric_set(x->m.waiting, (int64_t)gw_pending_count(&x->pending));
}

static void on_timer(uv_timer_t *t);

/* Arms the timer for the earliest deadline, or stops it when nothing waits. */
static void
arm_timer(gw_exec_t *x)
{
    int64_t deadline = gw_pending_next_deadline(&x->pending);
    if (deadline < 0) {
        uv_timer_stop(&x->timer);
        return;
    }
    int64_t now = (int64_t)uv_now(x->loop);
    uv_timer_start(&x->timer, on_timer, deadline > now ? (uint64_t)(deadline - now) : 0, 0);
}

/* Resolves a command's root field with a result; the command stays until its report. */
static void
cmd_resolve_take(gw_cmd_t *c, json_t *result)
{
    gw_op_t *op = c->op;
    c->op = NULL;
    rj_gql_prepared_set_result_take(op->prep, c->root, result);
    root_done(op);
    cmd_release(c);
}

static void
cmd_fail(gw_cmd_t *c, const char *message, const char *code)
{
    gw_op_t *op = c->op;
    c->op = NULL;
    root_fail(op, c->root, message, code);
    cmd_release(c);
}

/* librdkafka's delivery report; served on the loop thread by rj_kafka_producer_poll. */
static void
on_delivery(void *opaque, rj_status_t status, const char *errstr)
{
    gw_cmd_t *c = opaque;
    gw_exec_t *x = c->x;

    c->awaiting_delivery = false;
    if (status != RJ_OK && c->op != NULL) {
        rj_error("exec", "could not deliver command %s: %s req=%s", c->cmd->name, errstr,
                 c->entry.request_id);
        gw_pending_remove(&x->pending, &c->entry);
        update_waiting(x);
        arm_timer(x);
        char *msg = rj_xasprintf("could not send command %s: %s", c->cmd->name, errstr);
        cmd_fail(c, msg, rj_error_code(&(rj_error_t){.status = status}));
        free(msg);
        return;
    }
    cmd_release(c);
}

static void
cmd_start(gw_op_t *op, size_t root, const rj_gql_root_field_t *f, const rj_app_command_t *cmd)
{
    gw_exec_t *x = op->x;

    /* Authorized here, before anything is produced: a denied command never reaches Kafka,
       so the command processor only ever sees commands the gateway let through. */
    rj_error_t err = {0};
    json_t *input = json_object_get(f->args, "input");
    if (rj_app_authorize(&cmd->authorize, op->user, json_is_object(input) ? input : NULL,
                         &err) != RJ_OK) {
        root_fail(op, root, err.msg, code_or_null(&err));
        return;
    }

    char request_id[RJ_UUID_STRLEN];
    if (op->idempotency_key != NULL) {
        gw_idempotent_request_id(op->user, op->idempotency_key, cmd->name, root, f->args,
                                 request_id);
        /*
         * The first attempt still waits on this replica (its client gave up early and
         * retried): two waiters cannot share one reply, and the outcome is not known yet.
         */
        if (gw_pending_contains(&x->pending, request_id)) {
            root_fail(op, root,
                      "a request with this idempotency key is still in progress: retry it "
                      "once that one has been answered",
                      "IdempotencyKeyInUseError");
            return;
        }
    } else {
        rj_uuid_v4(request_id);
    }

    char *key = NULL, *value = NULL;
    if (gw_command_message(cmd, f->args, op->user, request_id, x->reply_channel, rj_now_ms(),
                           &key, &value, &err) != RJ_OK) {
        root_fail(op, root, err.msg, rj_error_code(&err));
        return;
    }

    gw_cmd_t *c = rj_xcalloc(1, sizeof *c);
    *c = (gw_cmd_t){.x = x, .op = op, .root = root, .cmd = cmd, .awaiting_delivery = true};
    x->n_cmds++;

    /*
     * Replies are matched on this thread, so no reply can be looked up before we return;
     * adding before producing just makes a failed produce a plain removal.
     */
    gw_pending_add(&x->pending, &c->entry, request_id, (int64_t)uv_now(x->loop));
    rj_status_t st = rj_kafka_produce(x->producer, x->topic, key, strlen(key), value,
                                      strlen(value), on_delivery, c, &err);
    free(key);
    free(value);
    if (st != RJ_OK) {
        rj_error("exec", "could not produce command %s: %s req=%s", cmd->name, err.msg,
                 request_id);
        gw_pending_remove(&x->pending, &c->entry);
        c->awaiting_delivery = false;
        char *msg = rj_xasprintf("could not send command %s: %s", cmd->name, err.msg);
        cmd_fail(c, msg, rj_error_code(&err));
        free(msg);
        return;
    }

    rj_debug("exec", "command %s sent req=%s", cmd->name, request_id);
    rj_metric_add(x->m.commands, 1);
    update_waiting(x);
    if (gw_pending_count(&x->pending) == 1)
        arm_timer(x);
}

/* The earliest deadline passed: fail every command whose time is up. */
static void
on_timer(uv_timer_t *t)
{
    gw_exec_t *x = t->data;
    int64_t now = (int64_t)uv_now(x->loop);
    gw_pending_entry_t *e;

    while ((e = gw_pending_take_expired(&x->pending, now)) != NULL) {
        gw_cmd_t *c = (gw_cmd_t *)(void *)e; /* entry is the first member */
        rj_warn("exec", "no reply for command %s within %d ms req=%s", c->cmd->name,
                x->timeout_ms, e->request_id);
        rj_metric_add(x->m.timeouts, 1);
        /* The command is on the commands topic: it may well be applied after this. */
        char *msg = rj_xasprintf("could not get a reply for command %s within %d ms: its "
                                 "outcome is unknown (it may still be applied); retry it with "
                                 "the same Idempotency-Key to learn the outcome without "
                                 "applying it twice",
                                 c->cmd->name, x->timeout_ms);
        cmd_fail(c, msg, "TimeoutError");
        free(msg);
    }
    update_waiting(x);
    arm_timer(x);
}

/* ---- replies ------------------------------------------------------------------------- */

static void
handle_reply(gw_exec_t *x, const char *msg, size_t len)
{
    rj_env_reply_t reply;
    rj_error_t err = {0};

    if (rj_env_reply_decode(msg, len, &reply, &err) != RJ_OK) {
        rj_warn("exec", "dropping reply: %s", err.msg);
        return;
    }

    gw_pending_entry_t *e = gw_pending_take(&x->pending, reply.request_id);
    if (e == NULL) {
        rj_debug("exec", "dropping reply for an unknown request req=%s", reply.request_id);
        rj_metric_add(x->m.late_replies, 1);
        rj_env_reply_deinit(&reply);
        return;
    }
    update_waiting(x);

    gw_cmd_t *c = (gw_cmd_t *)(void *)e;
    if (reply.ok) {
        rj_ryw_note_events(op_ryw(c->op), reply.events);
        /* Booster's `result ?? true` was applied by the processor to a handler that set no
           result; a JSON null here is one the handler chose (InspectCart's missing cart,
           for a nullable type such as "Cart"), so it stays null. */
        const json_t *result = reply.result;
        cmd_resolve_take(c, result == NULL ? json_true() : json_deep_copy(result));
    } else {
        cmd_fail(c, reply.error_message, reply.error_code);
    }
    rj_env_reply_deinit(&reply);
}

static void
on_inbox(uv_async_t *a)
{
    gw_exec_t *x = a->data;

    pthread_mutex_lock(&x->inbox_lock);
    gw_inbox_msg_t *m = x->inbox_head;
    x->inbox_head = x->inbox_tail = NULL;
    pthread_mutex_unlock(&x->inbox_lock);

    while (m != NULL) {
        gw_inbox_msg_t *next = m->next;
        handle_reply(x, m->data, m->len);
        free(m);
        m = next;
    }
    arm_timer(x);
}

void
gw_exec_post_reply(gw_exec_t *x, const char *msg, size_t len)
{
    gw_inbox_msg_t *m = rj_xmalloc(sizeof *m + len + 1);
    m->next = NULL;
    m->len = len;
    memcpy(m->data, msg, len);
    m->data[len] = '\0';

    pthread_mutex_lock(&x->inbox_lock);
    if (x->inbox_tail != NULL)
        x->inbox_tail->next = m;
    else
        x->inbox_head = m;
    x->inbox_tail = m;
    pthread_mutex_unlock(&x->inbox_lock);
    uv_async_send(&x->inbox_wakeup);
}

/* ---- the operation loop -------------------------------------------------------------- */

static const gw_query_field_t *
find_query(const gw_exec_t *x, const char *name)
{
    for (size_t i = 0; i < x->n_queries; i++)
        if (strcmp(x->queries[i].name, name) == 0)
            return &x->queries[i];
    return NULL;
}

/*
 * The first string of @p v, a coerced value of @p type, that is an ID longer than @p max
 * bytes, or NULL. Walks input objects and lists by their declared types, so an ID nested
 * in an input (a command's cartId, a filter's `in` list) is found as well as an argument.
 */
static const json_t *
find_long_id(const rj_gql_schema_t *s, const rj_gql_type_ref_t *type, const json_t *v, size_t max)
{
    if (v == NULL || json_is_null(v))
        return NULL;
    if (type->kind == RJ_GQL_TYPE_NON_NULL)
        return find_long_id(s, type->of_type, v, max);
    if (type->kind == RJ_GQL_TYPE_LIST) {
        size_t i;
        const json_t *item;
        json_array_foreach (v, i, item) {
            const json_t *hit = find_long_id(s, type->of_type, item, max);
            if (hit != NULL)
                return hit;
        }
        return NULL;
    }
    const rj_gql_type_t *t = rj_gql_schema_find_type(s, type->name);
    if (t == NULL)
        return NULL;
    if (t->kind == RJ_GQL_KIND_SCALAR && strcmp(t->name, "ID") == 0)
        return json_is_string(v) && json_string_length(v) > max ? v : NULL;
    if (t->kind != RJ_GQL_KIND_INPUT_OBJECT)
        return NULL;
    for (size_t i = 0; i < t->ninput_fields; i++) {
        const rj_gql_input_value_t *iv = &t->input_fields[i];
        const json_t *hit = find_long_id(s, iv->type, json_object_get(v, iv->name), max);
        if (hit != NULL)
            return hit;
    }
    return NULL;
}

/*
 * Refuses a root field whose arguments hold an ID longer than max-id-bytes, or whose
 * command key (which may be declared as a String) is: such an id cannot be stored, and
 * nothing would match it. Returns false after failing the field.
 */
static bool
ids_within_limit(gw_op_t *op, size_t i, const rj_gql_root_field_t *f, const rj_app_command_t *cmd)
{
    gw_exec_t *x = op->x;
    const json_t *hit = NULL;
    for (size_t a = 0; f->def != NULL && a < f->def->nargs && hit == NULL; a++) {
        const rj_gql_input_value_t *arg = &f->def->args[a];
        hit = find_long_id(x->schema, arg->type, json_object_get(f->args, arg->name),
                           x->max_id_bytes);
    }
    if (hit == NULL && cmd != NULL && cmd->key != NULL) {
        const json_t *key = json_object_get(json_object_get(f->args, "input"), cmd->key);
        if (json_is_string(key) && json_string_length(key) > x->max_id_bytes)
            hit = key;
    }
    if (hit == NULL)
        return true;
    char *msg = rj_xasprintf("an id must not be longer than %zu bytes; got one of %zu bytes",
                             x->max_id_bytes, json_string_length(hit));
    root_fail(op, i, msg, "InvalidParameterError");
    free(msg);
    return false;
}

static void
root_start(gw_op_t *op, size_t i, const rj_gql_root_field_t *f)
{
    gw_exec_t *x = op->x;

    /*
     * A GraphQL string literal may carry U+0000 ("\u0000"; JSON variables with it are
     * refused when the body is parsed). Nothing downstream can store it, and a command
     * holding one would be dead-lettered while its client waits for the timeout.
     */
    if (rj_json_has_nul(f->args)) {
        root_fail(op, i, "string arguments must not contain U+0000", "InvalidParameterError");
        return;
    }

    if (rj_gql_prepared_op(op->prep) == RJ_GQL_OP_MUTATION) {
        const rj_app_command_t *cmd = rj_app_command(x->app, f->name);
        if (cmd != NULL) {
            if (ids_within_limit(op, i, f, cmd))
                cmd_start(op, i, f, cmd);
            return;
        }
    } else if (!ids_within_limit(op, i, f, NULL)) {
        return;
    } else if (strcmp(f->name, "_service") == 0) {
        /* The subgraph's SDL, for a federation gateway composing this API. */
        rj_gql_prepared_set_result_take(op->prep, i,
                                        json_pack("{s:s}", "sdl", rj_app_subgraph_sdl(x->app)));
        root_done(op);
        return;
    } else if (strcmp(f->name, "_entities") == 0) {
        entities_start(op, i, f);
        return;
    } else {
        const gw_query_field_t *qf = find_query(x, f->name);
        if (qf != NULL && qf->kind == GW_QUERY_BY_ID) {
            rm_start(op, i, f, qf->stmt);
            return;
        }
        if (qf != NULL) {
            rs_start(op, i, f, qf);
            return;
        }
        const rj_app_query_t *query = rj_app_query(x->app, f->name);
        if (query != NULL) {
            qh_start(op, i, f, query);
            return;
        }
    }
    char *msg = rj_xasprintf("the field %s is not served by this gateway yet", f->name);
    root_fail(op, i, msg, "NotImplementedError");
    free(msg);
}

/*
 * Starts root fields while it may (all of them for a query, the next one for a mutation
 * once the previous one resolved) and completes the operation when none is left. A root
 * field that resolves synchronously calls back in here; the `stepping` guard turns that
 * call into a no-op and the loop below carries on, so the stack never grows per field.
 */
static void
op_step(gw_op_t *op)
{
    if (op->stepping)
        return;
    op->stepping = true;

    size_t n = rj_gql_prepared_nroots(op->prep);
    while (op->next_root < n && (!op->serial || op->outstanding == 0)) {
        size_t i = op->next_root++;
        const rj_gql_root_field_t *f = rj_gql_prepared_root(op->prep, i);
        if (f->internal)
            continue; /* introspection: rj_gql_complete answers it */
        op->outstanding++;
        root_start(op, i, f);
    }

    op->stepping = false;
    if (op->next_root == n && op->outstanding == 0)
        op_complete(op);
}

/*
 * The mutation's idempotency key: the Idempotency-Key header or extensions.idempotencyKey
 * (both may be sent if they agree). False with @p response set when it is malformed.
 */
static bool
idempotency_key_take(gw_responder_t *r, const char *ext, char **out, json_t **response)
{
    size_t hlen = 0;
    const char *header = gw_responder_header(r, "idempotency-key", &hlen);
    const char *key = header != NULL ? header : ext;
    size_t len = header != NULL ? hlen : ext != NULL ? strlen(ext) : 0;

    *out = NULL;
    if (key == NULL)
        return true;
    const char *why = gw_idempotency_key_check(key, len);
    if (why == NULL && header != NULL && ext != NULL &&
        (strlen(ext) != hlen || memcmp(ext, header, hlen) != 0))
        why = "the Idempotency-Key header and extensions.idempotencyKey differ";
    if (why != NULL) {
        *response = request_error(why, "InvalidParameterError");
        return false;
    }
    *out = rj_xstrndup(key, len);
    return true;
}

/* Notes the writes of one token; false with @p why set when it is refused. */
static bool
consistency_note(const gw_exec_t *x, rj_ryw_t *t, const char *token, size_t len, char **why)
{
    rj_error_t err = {0};
    size_t before = t->n;
    if (rj_ryw_note_token(t, token, len, &err) != RJ_OK) {
        *why = rj_xstrdup(err.msg);
        return false;
    }
    /* Only the newly noted can be foreign; a merge keeps every entity's position. */
    for (size_t i = before; i < t->n; i++) {
        if (rj_app_entity(x->app, t->w[i].entity) == NULL) {
            *why = rj_xasprintf("invalid consistency token: this application has no entity %s",
                                t->w[i].entity);
            return false;
        }
    }
    return true;
}

/*
 * The writes a request asks to see: the Consistency-Token header's and
 * extensions.consistencyToken's (both may be sent; the request waits for both). NULL in
 * @p out when there is neither. False with @p response set when one is refused.
 */
static bool
consistency_take(const gw_exec_t *x, gw_responder_t *r, const char *ext, rj_ryw_t **out,
                 json_t **response)
{
    size_t hlen = 0;
    const char *header = gw_responder_header(r, "consistency-token", &hlen);
    *out = NULL;
    if (header == NULL && ext == NULL)
        return true;
    rj_ryw_t *t = rj_xmalloc(sizeof *t);
    rj_ryw_init(t);
    char *why = NULL;
    if ((header == NULL || consistency_note(x, t, header, hlen, &why)) &&
        (ext == NULL || consistency_note(x, t, ext, strlen(ext), &why))) {
        *out = t;
        return true;
    }
    rj_ryw_deinit(t);
    free(t);
    *response = request_error(why, "InvalidConsistencyTokenError");
    free(why);
    return false;
}

/* ---- limits ---------------------------------------------------------------------------- */

rj_status_t
gw_filter_check(const json_t *filter, int max_values, rj_error_t *err)
{
    if (max_values <= 0)
        return RJ_OK;
    const char *key;
    const json_t *v;
    if (json_is_array(filter)) {
        size_t i;
        json_array_foreach (filter, i, v)
            if (gw_filter_check(v, max_values, err) != RJ_OK)
                return err->status;
        return RJ_OK;
    }
    if (!json_is_object(filter))
        return RJ_OK;
    json_object_foreach ((json_t *)filter, key, v) {
        if (strcmp(key, "in") == 0 && json_array_size(v) > (size_t)max_values)
            return rj_error_set(err, RJ_ETOOBIG,
                                "an \"in\" list has %zu values, more than the limit of %d "
                                "(max-filter-values)",
                                json_array_size(v), max_values);
        /* Values are scalars or small objects; the depth is the document's, bounded. */
        if (gw_filter_check(v, max_values, err) != RJ_OK)
            return err->status;
    }
    return RJ_OK;
}

long
gw_list_cost(const json_t *args)
{
    const json_t *limit = json_object_get(args, "limit");
    if (json_is_integer(limit) && json_integer_value(limit) >= 0)
        return json_integer_value(limit) > LONG_MAX ? LONG_MAX : (long)json_integer_value(limit);
    return RJ_RS_PAGE_SIZE;
}

/*
 * The rows an operation may read: for each root field, a List, plural or events query its
 * page (gw_list_cost), a by-id read, a query handler or a mutation one. Lists inside a read
 * model are part of its row, read with it, so the sum over the root fields is the estimate;
 * aliases count once each, which is the point (2,000 aliases of a 1,000-row page).
 */
static long
operation_cost(const gw_exec_t *x, const rj_gql_prepared_t *prep)
{
    long cost = 0;
    bool query = rj_gql_prepared_op(prep) != RJ_GQL_OP_MUTATION;
    for (size_t i = 0; i < rj_gql_prepared_nroots(prep); i++) {
        const rj_gql_root_field_t *f = rj_gql_prepared_root(prep, i);
        const gw_query_field_t *qf = query && !f->internal ? find_query(x, f->name) : NULL;
        long c = qf != NULL && qf->kind != GW_QUERY_BY_ID ? gw_list_cost(f->args) : 1;
        /* _entities reads one row per representation, however few statements it takes. */
        if (query && strcmp(f->name, "_entities") == 0)
            c = (long)json_array_size(json_object_get(f->args, "representations"));
        cost = cost > LONG_MAX - c ? LONG_MAX : cost + c;
    }
    return cost;
}

/*
 * What a request comes to before its token is checked: an answer already, or a prepared
 * operation, or the errors preparing it gave (reported only once the token passed, as
 * Booster checks the token first). A large request gets here on the thread pool.
 */
typedef struct gw_front {
    uv_work_t work;          /* the thread-pool hop of a large request */
    gw_exec_t *x;            /* the executor */
    gw_responder_t *r;       /* the way back to the client */
    int64_t started;         /* when the request arrived */
    gw_http_request_t in;    /* a large request: a copy, its body in `body` */
    char *body;              /* that copy's body; owned */
    int status;              /* the answer's HTTP status, when `response` is set */
    json_t *response;        /* an answer decided before the token, or NULL; owned */
    bool allow_post;         /* that answer is a 405: it names POST in Allow */
    rj_gql_prepared_t *prep; /* the prepared operation, or NULL; owned */
    json_t *prep_errors;     /* when prep is NULL and response too: preparing's errors */
    char *idempotency_key;   /* extensions.idempotencyKey, or NULL; owned */
    char *consistency_token; /* extensions.consistencyToken, or NULL; owned */
} gw_front_t;

/*
 * Parses, validates and prepares a request: on the loop thread with the document cache,
 * or on the thread pool without it (@p cache NULL). Pure otherwise: nothing here may touch
 * the responder or the loop.
 */
static void
front(gw_exec_t *x, const gw_http_request_t *in, rj_gql_cache_t *cache, gw_front_t *f)
{
    gw_gql_request_t req;
    json_t *response = NULL;

    int status = gw_request_parse(in, &req, &response);
    if (status != 0) {
        f->status = status;
        f->response = response;
        return;
    }

    json_t *errors = NULL;
    rj_gql_doc_t *doc = cache != NULL
                            ? rj_gql_cache_get(cache, req.query, req.query_len, &errors)
                            : rj_gql_cache_check(x->cache, req.query, req.query_len, &errors);
    if (doc == NULL) {
        f->status = 200;
        f->response = errors_response_take(errors);
        gw_request_deinit(&req);
        return;
    }

    const rj_gql_ast_definition_t *op_def =
        gw_select_operation(rj_gql_doc_definitions(doc), req.operation_name);
    if (op_def == NULL) {
        response = request_error(MSG_NO_OPERATION, "InvalidParameterError");
    } else if (op_def->op == RJ_GQL_OP_SUBSCRIPTION) {
        response = request_error(GW_MSG_SUBSCRIPTION, "InvalidProtocolError");
    } else if (op_def->op == RJ_GQL_OP_MUTATION && req.get) {
        /*
         * GraphQL over HTTP: GET must not change anything (caches, prefetchers and crawlers
         * follow links), so a mutation over GET is a 405 naming the method that works.
         */
        response = request_error(GW_MSG_GET_MUTATION, "InvalidProtocolError");
        status = 405;
        f->allow_post = true;
    } else if (req.variables != NULL && !json_is_object(req.variables)) {
        response = plain_error(MSG_BAD_VARIABLES);
    }
    if (response != NULL) {
        f->status = status != 0 ? status : 200;
        f->response = response;
    } else if (rj_gql_prepare(x->schema, doc, op_def->name, req.variables, &f->prep,
                              &f->prep_errors) != RJ_OK) {
        f->prep = NULL;
    }
    if (req.idempotency_key != NULL)
        f->idempotency_key = rj_xstrdup(req.idempotency_key);
    if (req.consistency_token != NULL)
        f->consistency_token = rj_xstrdup(req.consistency_token);
    rj_gql_doc_free(doc);
    gw_request_deinit(&req);
}

/* Frees what back() left of @p f. */
static void
front_free(gw_front_t *f)
{
    free(f->idempotency_key);
    free(f->consistency_token);
    free(f->body);
    free(f);
}

/* The rest, on the loop thread: the token, then the operation runs. Consumes @p f's parts. */
static gw_operation_t
operation_of(rj_gql_op_type_t op)
{
    return op == RJ_GQL_OP_MUTATION       ? GW_OPERATION_MUTATION
           : op == RJ_GQL_OP_SUBSCRIPTION ? GW_OPERATION_SUBSCRIPTION
                                          : GW_OPERATION_QUERY;
}

static void
back(gw_exec_t *x, gw_responder_t *r, gw_front_t *f)
{
    if (f->response != NULL) {
        if (f->allow_post)
            gw_responder_add_header(r, "allow", "POST");
        gw_responder_send_json_take(r, f->status, f->response);
        return;
    }
    if (f->prep != NULL)
        gw_responder_set_operation(r, operation_of(rj_gql_prepared_op(f->prep)));

    /*
     * The token, in Booster's place: after the operation is known and before anything
     * runs. A token that is present and invalid fails the whole request, public fields
     * included; no token is an anonymous request.
     */
    json_t *user = NULL, *response = NULL;
    int status = 0;
    if (!gw_responder_user(r, &user)) {
        size_t auth_len = 0;
        const char *authorization = gw_responder_header(r, "authorization", &auth_len);
        status = gw_request_user(rj_app_token_auth(x->app), authorization, auth_len,
                                 rj_now_ms() / 1000, &user, &response);
    }
    if (status != 0) {
        rj_gql_prepared_free(f->prep);
        json_decref(f->prep_errors);
        gw_responder_send_json_take(r, status, response);
        return;
    }

    rj_gql_prepared_t *prep = f->prep;
    if (prep == NULL) {
        json_decref(user);
        gw_responder_send_json_take(r, 200, errors_response_take(f->prep_errors));
        return;
    }

    char *idempotency_key = NULL;
    if (rj_gql_prepared_op(prep) == RJ_GQL_OP_MUTATION &&
        !idempotency_key_take(r, f->idempotency_key, &idempotency_key, &response)) {
        json_decref(user);
        rj_gql_prepared_free(prep);
        gw_responder_send_json_take(r, 400, response);
        return;
    }

    long cost = operation_cost(x, prep);
    if (x->lim.max_cost > 0 && cost > x->lim.max_cost) {
        char *msg = rj_xasprintf("the operation may read %ld rows, more than the limit of %d "
                                 "(max-cost): ask for smaller pages",
                                 cost, x->lim.max_cost);
        json_decref(user);
        free(idempotency_key);
        rj_gql_prepared_free(prep);
        gw_responder_send_json_take(r, 200, request_error(msg, "InvalidParameterError"));
        free(msg);
        return;
    }

    rj_ryw_t *ryw = NULL;
    if (!consistency_take(x, r, f->consistency_token, &ryw, &response)) {
        json_decref(user);
        free(idempotency_key);
        rj_gql_prepared_free(prep);
        gw_responder_send_json_take(r, 200, response);
        return;
    }

    gw_op_t *op = rj_xmalloc(sizeof *op);
    *op = (gw_op_t){
        .x = x,
        .r = r,
        .user = user,
        .prep = prep,
        .serial = rj_gql_prepared_op(prep) == RJ_GQL_OP_MUTATION,
        .started_us = f->started,
        .idempotency_key = idempotency_key,
        .ryw = ryw,
    };
    if (x->lim.budget_ms > 0) {
        op->budget = rj_xmalloc(sizeof *op->budget);
        uv_timer_init(x->loop, op->budget);
        op->budget->data = op;
        uv_timer_start(op->budget, on_budget, (uint64_t)x->lim.budget_ms, 0);
    }
    x->n_ops++;
    /* A query waits for the writes it names; a mutation carries them into its answer's
       token (its command handlers read entities, which are never stale). */
    if (!op->serial && ryw != NULL && ryw->n > 0)
        op_wait(op, ryw, on_query_consistent);
    else
        op_step(op);
}

static void
front_work(uv_work_t *w)
{
    gw_front_t *f = w->data;
    front(f->x, &f->in, NULL, f);
}

static void
front_done(uv_work_t *w, int status)
{
    gw_front_t *f = w->data;
    gw_exec_t *x = f->x;
    RJ_ASSERT(status == 0); /* never cancelled */
    back(x, f->r, f);
    if (f->in.body_len >= GW_TRIM_BODY_BYTES)
        trim_soon(x);
    x->n_fronts--;
    front_free(f);
}

static void
handle(gw_exec_t *x, gw_responder_t *r, const gw_http_request_t *in)
{
    gw_front_t *f = rj_xcalloc(1, sizeof *f);
    f->x = x;
    f->r = r;
    f->started = rj_mono_us();

    if (in->body_len < GW_OFFLOAD_BODY_BYTES) {
        front(x, in, x->cache, f);
        back(x, r, f);
        front_free(f);
        return;
    }
    /*
     * A large body (a big document, a long list in its variables) costs the loop tens to
     * hundreds of milliseconds to parse, validate and coerce: that happens on the thread
     * pool, without the document cache, and the request comes back for its token. The
     * body is the caller's only during this call: copied.
     */
    f->in = *in;
    f->body = rj_xmalloc(in->body_len + 1);
    memcpy(f->body, in->body, in->body_len);
    f->body[in->body_len] = '\0';
    f->in.body = f->body;
    f->work.data = f;
    x->n_fronts++;
    int rc = uv_queue_work(x->loop, &f->work, front_work, front_done);
    RJ_ASSERT(rc == 0);
}

void
gw_exec_handle(void *opaque, gw_responder_t *r, const gw_http_request_t *in)
{
    gw_exec_t *x = opaque;
    rj_metric_add(x->m.requests, 1);
    handle(x, r, in);
}

void
gw_exec_handle_local(gw_exec_t *x, gw_responder_t *r, const gw_http_request_t *in)
{
    /* Not counted as a request: the federated operation that asks it was counted. */
    handle(x, r, in);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

/* Start-up, on a pooled connection: tables, then one by-id statement per read model. */
static rj_status_t
prepare_read_models(void *opaque, rj_pg_t *pg, rj_error_t *err)
{
    gw_exec_t *x = opaque;
    rj_status_t st = rj_pg_migrate(pg, err);

    size_t n = rj_app_read_model_count(x->app);
    x->rm_stmts = rj_xcalloc(n > 0 ? n : 1, sizeof *x->rm_stmts);
    for (size_t i = 0; st == RJ_OK && i < n; i++) {
        const rj_app_read_model_t *rm = rj_app_read_model_at(x->app, i);
        st = rj_pg_ensure_read_model_table(pg, rm->name, err);
        if (st != RJ_OK)
            break;

        gw_rm_stmt_t *s = &x->rm_stmts[x->n_rm_stmts++];
        char *table = rj_pg_read_model_table(pg, rm->name);
        s->rm = rm;
        snprintf(s->name, sizeof s->name, "gw_rm_%zu", i);
        if (rm->sequenced_by == NULL)
            s->sql = rj_xasprintf("SELECT value::text FROM %s WHERE id = $1 AND seq = ''", table);
        else
            /* Booster's sequenced read model by id: every sequence, or the one asked for. */
            s->sql = rj_xasprintf("SELECT coalesce(json_agg(value ORDER BY seq), '[]')::text "
                                  "FROM %s WHERE id = $1 AND ($2::text IS NULL OR seq = $2)",
                                  table);
        snprintf(s->ent_name, sizeof s->ent_name, "gw_ent_%zu", i);
        s->ent_sql = gw_entity_batch_sql(table);
        free(table);
    }
    return st;
}

static void
add_query(gw_exec_t *x, char *name_take, gw_query_kind_t kind, const rj_app_read_model_t *rm,
          const gw_rm_stmt_t *stmt)
{
    x->queries = rj_xrealloc(x->queries, (x->n_queries + 1) * sizeof *x->queries);
    x->queries[x->n_queries++] =
        (gw_query_field_t){.name = name_take, .kind = kind, .rm = rm, .stmt = stmt};
}

/*
 * The Query root fields, named exactly as app/api_sdl.c generates them: by id, the
 * deprecated plural (left out when the plural is itself a read model's name, as the
 * generator leaves it out), List, and the events API.
 */
static void
build_queries(gw_exec_t *x)
{
    for (size_t i = 0; i < x->n_rm_stmts; i++) {
        const gw_rm_stmt_t *stmt = &x->rm_stmts[i];
        add_query(x, rj_xstrdup(stmt->rm->name), GW_QUERY_BY_ID, stmt->rm, stmt);
    }
    for (size_t i = 0; i < x->n_rm_stmts; i++) {
        const rj_app_read_model_t *rm = x->rm_stmts[i].rm;
        char *plural = rj_rs_pluralize(rm->name);
        add_query(x, rj_xasprintf("List%s", plural), GW_QUERY_LIST, rm, NULL);
        if (rj_app_read_model(x->app, plural) == NULL)
            add_query(x, plural, GW_QUERY_PLURAL, rm, NULL);
        else
            free(plural);
    }
    add_query(x, rj_xstrdup("eventsByEntity"), GW_QUERY_EVENTS_BY_ENTITY, NULL, NULL);
    add_query(x, rj_xstrdup("eventsByType"), GW_QUERY_EVENTS_BY_TYPE, NULL, NULL);
}

gw_exec_t *
gw_exec_new(const gw_exec_opts_t *opts, rj_error_t *err)
{
    /* The API with what makes it a federation subgraph (_service, _entities). */
    const char *sdl = rj_app_served_sdl(opts->app);
    rj_gql_schema_t *schema = rj_gql_schema_from_sdl(sdl, strlen(sdl), err);
    if (schema == NULL)
        return NULL;
    /* Calculated read-model fields are computed during completion, when selected. */
    if (rj_app_install_calculated(opts->app, schema, err) != RJ_OK) {
        rj_gql_schema_free(schema);
        return NULL;
    }

    gw_exec_t *x = rj_xcalloc(1, sizeof *x);
    x->loop = opts->loop;
    x->app = opts->app;
    x->producer = opts->producer;
    x->pg = opts->pg;
    x->timeout_ms = opts->timeout_ms;
    x->lim = opts->limits;
    x->mutation_projected = opts->mutation_projected;
    x->max_id_bytes = x->lim.max_id_bytes > 0 ? (size_t)x->lim.max_id_bytes : RJ_ID_MAX_BYTES;
    x->topic = rj_xasprintf("%s.commands", opts->app_name);
    x->reply_channel = rj_xasprintf("%s:reply:%s", opts->app_name, opts->instance_id);
    x->schema = schema;
    rj_gql_limits_t doc_limits = rj_gql_default_limits;
    doc_limits.max_fields = x->lim.max_fields > 0 ? (size_t)x->lim.max_fields : 0;
    doc_limits.max_aliases = x->lim.max_aliases > 0 ? (size_t)x->lim.max_aliases : 0;
    x->cache = rj_gql_cache_new(schema, GW_DOC_CACHE_SIZE, &doc_limits);
    gw_pending_init(&x->pending, opts->timeout_ms);
    pthread_mutex_init(&x->inbox_lock, NULL);

    if (gw_pgpool_run_sync(x->pg, prepare_read_models, x, err) != RJ_OK) {
        gw_exec_free(x);
        return NULL;
    }
    build_queries(x);
    x->cons = gw_cons_new(x->loop, x->pg, &opts->consistency);

    x->m.requests =
        rj_metric_counter("ramjet_gateway_requests_total", "GraphQL requests received over HTTP");
    x->m.latency = rj_metric_histogram("ramjet_gateway_request_seconds",
                                       "time from request to GraphQL response");
    x->m.commands = rj_metric_counter("ramjet_gateway_commands_total", "commands produced");
    x->m.timeouts = rj_metric_counter("ramjet_gateway_command_timeouts_total",
                                      "commands that got no reply within the request timeout");
    x->m.late_replies = rj_metric_counter("ramjet_gateway_late_replies_total",
                                          "replies that arrived for no waiting request");
    x->m.waiting =
        rj_metric_gauge("ramjet_gateway_commands_waiting", "commands waiting for their reply");
    x->m.rm_reads =
        rj_metric_counter("ramjet_gateway_read_model_reads_total", "read-model reads by id");
    x->m.handler_queries = rj_metric_counter("ramjet_gateway_query_handlers_total",
                                             "query handlers (@query) run");
    x->m.rs_queries = rj_metric_counter("ramjet_gateway_read_side_queries_total",
                                        "plural, List and events API queries run");

    uv_timer_init(x->loop, &x->timer);
    x->timer.data = x;
    uv_async_init(x->loop, &x->inbox_wakeup, on_inbox);
    x->inbox_wakeup.data = x;
    return x;
}

const char *
gw_exec_reply_channel(const gw_exec_t *x)
{
    return x->reply_channel;
}

size_t
gw_exec_busy(const gw_exec_t *x)
{
    return x->n_ops + x->n_cmds + x->n_fronts + (x->cons != NULL ? gw_cons_busy(x->cons) : 0);
}

void
gw_exec_abort_waiting(gw_exec_t *x)
{
    gw_pending_entry_t *e;
    while ((e = gw_pending_take_expired(&x->pending, INT64_MAX)) != NULL) {
        gw_cmd_t *c = (gw_cmd_t *)(void *)e;
        char *msg = rj_xasprintf("could not get a reply for command %s: the gateway is "
                                 "shutting down", c->cmd->name);
        cmd_fail(c, msg, "TimeoutError");
        free(msg);
    }
    update_waiting(x);
    arm_timer(x);
    if (x->cons != NULL)
        gw_cons_abort(x->cons);
}

void
gw_exec_stop(gw_exec_t *x)
{
    if (x->cons != NULL)
        gw_cons_stop(x->cons);
    uv_close((uv_handle_t *)&x->timer, NULL);
    uv_close((uv_handle_t *)&x->inbox_wakeup, NULL);
}

void
gw_exec_free(gw_exec_t *x)
{
    if (x == NULL)
        return;
    RJ_ASSERT(gw_exec_busy(x) == 0);

    gw_inbox_msg_t *m = x->inbox_head;
    while (m != NULL) {
        gw_inbox_msg_t *next = m->next;
        free(m);
        m = next;
    }
    for (size_t i = 0; i < x->n_rm_stmts; i++) {
        free(x->rm_stmts[i].sql);
        free(x->rm_stmts[i].ent_sql);
    }
    free(x->rm_stmts);
    for (size_t i = 0; i < x->n_queries; i++)
        free(x->queries[i].name);
    free(x->queries);
    gw_cons_free(x->cons);
    gw_pending_deinit(&x->pending);
    pthread_mutex_destroy(&x->inbox_lock);
    rj_gql_cache_free(x->cache);
    rj_gql_schema_free(x->schema);
    free(x->reply_channel);
    free(x->topic);
    free(x);
}
