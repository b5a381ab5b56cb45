/*
 * protocol.c - graphql-ws (subscriptions-transport-ws) message handling (see protocol.h).
 *
 * Booster's behaviour (booster-surface.md §1.2, §10) is the reference, message texts
 * included. Where Ramjet deliberately differs:
 *
 *   - A query or mutation sent with `start` is answered with an InvalidProtocolError
 *     (data with errors, then complete): in this version queries and mutations are served
 *     by the gateway over HTTP, and running them here would mean a second Kafka producer
 *     and reply channel per pusher.
 *   - `start` without a query answers `error` with a real message; Booster serialises a
 *     JavaScript Error there and sends `{}`.
 *   - An unknown message type names the type; Booster's text prints "[object Object]".
 *   - `connection_terminate` also closes the socket (1000), as the subscriptions-transport-
 *     ws reference server does; Booster leaves it open until the client closes.
 *   - Operation ids must be non-empty strings, as the protocol defines them; anything else
 *     is treated as a missing id.
 *
 * Frames are serialised once into a scratch buffer owned by the context (everything runs
 * on the loop thread) and copied into a frame with headroom for the WebSocket header.
 * Keys are written in the order Booster's frames show on the wire: id, payload, type.
 *
 * Authentication follows Booster: connection_init's payload.Authorization is verified
 * once, with the app's token verifiers; a failure is a connection_error carrying the
 * reasons as a plain string (the socket stays open, and later operations run as
 * anonymous), a success stores the user envelope on the session, and the raw token is
 * not kept. Every `start` authorizes its read model for that user and runs the read
 * model's before hooks on the request, a by-id subscription being the filter
 * {id: {eq: id}}; the id the hooks leave is the row the subscription follows.
 *
 * What this file deliberately does not do: evaluate subscription filters
 * (`<ReadModel>s(filter:)`, and a before hook that turns a by-id request into another
 * filter, are refused with a clear error rather than delivering everything or nothing),
 * or re-check a token's expiry after connection_init (Booster does not either: the
 * connection keeps the user it was opened with).
 */
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "log/log.h"
#include "json/envelope.h"

#define MSG_QUERY_OVER_WS                                                                          \
    "Queries and mutations over WebSocket are served by the gateway at POST /graphql"
#define MSG_BAD_PAYLOAD "Message payload is invalid it must contain at least the \"query\" property"
#define MSG_TOKEN_NOT_STRING "JsonWebTokenError: jwt must be a string"

struct push_proto {
    const rj_app_t *app;      /* borrowed from main */
    rj_gql_schema_t *schema;  /* a reference */
    rj_gql_cache_t *cache;    /* parsed and validated documents by query text */
    push_subs_t *subs;        /* every subscription of every session */
    size_t queue_max;         /* frames a session may hold */
    size_t max_subs;          /* subscriptions per session, 0 = no limit */
    push_wake_fn wake;        /* the transport's hook, or NULL */
    void *wake_ud;            /* its argument */
    rj_buf_t scratch;         /* serialisation buffer, reused for every frame */
    push_proto_stats_t stats; /* counters */
};

push_proto_t *
push_proto_new(const push_proto_opts_t *opts)
{
    push_proto_t *p = rj_xcalloc(1, sizeof *p);
    p->app = opts->app;
    p->schema = rj_gql_schema_ref(opts->schema);
    p->cache = rj_gql_cache_new(p->schema, opts->doc_cache_size ? opts->doc_cache_size : 256, NULL);
    p->subs = push_subs_new();
    p->queue_max = opts->send_queue_max ? opts->send_queue_max : 1;
    p->max_subs = opts->max_subscriptions;
    p->wake = opts->wake;
    p->wake_ud = opts->wake_ud;
    rj_buf_init(&p->scratch);
    return p;
}

void
push_proto_free(push_proto_t *p)
{
    if (p == NULL)
        return;
    push_subs_free(p->subs);
    rj_gql_cache_free(p->cache);
    rj_gql_schema_free(p->schema);
    rj_buf_deinit(&p->scratch);
    free(p);
}

push_subs_t *
push_proto_subs_get(push_proto_t *p)
{
    return p->subs;
}

const push_proto_stats_t *
push_proto_stats_get(const push_proto_t *p)
{
    return &p->stats;
}

/* ---- sessions and their queues ------------------------------------------------------- */

void
push_session_init(push_session_t *s, void *transport)
{
    memset(s, 0, sizeof *s);
    rj_uuid_v4(s->id);
    push_sub_owner_init(&s->subs, s);
    s->transport = transport;
}

void
push_session_deinit(push_proto_t *p, push_session_t *s)
{
    push_subs_remove_owner(p->subs, &s->subs);
    for (push_frame_t *f = push_session_pop(s); f != NULL; f = push_session_pop(s))
        free(f);
    json_decref(s->user);
    s->user = NULL;
}

push_frame_t *
push_session_pop(push_session_t *s)
{
    push_frame_t *f = s->out_head;
    if (f == NULL)
        return NULL;
    s->out_head = f->next;
    if (s->out_head == NULL)
        s->out_tail = NULL;
    s->out_count--;
    f->next = NULL;
    return f;
}

void
push_session_close(push_proto_t *p, push_session_t *s, int code, const char *reason)
{
    if (s->close_code != 0)
        return; /* the first reason wins: it is the cause, later ones are consequences */
    s->close_code = code;
    s->close_reason = reason;
    if (p->wake != NULL)
        p->wake(s, p->wake_ud);
}

static int
scratch_append(const char *buf, size_t size, void *data)
{
    rj_buf_append(data, buf, size);
    return 0;
}

/*
 * Queues @p msg (borrowed) on @p s. A session that is closing takes nothing more; a full
 * queue means the client reads slower than we produce, and buffering without bound would
 * let one slow reader exhaust the process, so the session is closed instead.
 */
static void
session_send(push_proto_t *p, push_session_t *s, const json_t *msg)
{
    if (s->close_code != 0)
        return;
    if (s->out_count >= p->queue_max) {
        p->stats.overflows++;
        rj_warn("proto", "closing slow client: send queue full conn=%s queued=%zu", s->id,
                s->out_count);
        push_session_close(p, s, PUSH_CLOSE_POLICY, "send queue full: client too slow");
        return;
    }
    rj_buf_reset(&p->scratch);
    int rc = json_dump_callback(msg, scratch_append, &p->scratch, JSON_COMPACT);
    RJ_ASSERT(rc == 0);

    push_frame_t *f = rj_xmalloc(sizeof *f + PUSH_FRAME_HEADROOM + p->scratch.len + 1);
    f->next = NULL;
    f->len = p->scratch.len;
    memset(f->buf, 0, PUSH_FRAME_HEADROOM);
    memcpy(push_frame_data(f), p->scratch.data, p->scratch.len);
    push_frame_data(f)[f->len] = '\0';

    if (s->out_tail != NULL)
        s->out_tail->next = f;
    else
        s->out_head = f;
    s->out_tail = f;
    s->out_count++;
    p->stats.frames_out++;
    if (s->out_count == 1 && p->wake != NULL)
        p->wake(s, p->wake_ud);
}

/*
 * Sends {"id": id, "payload": payload, "type": type}; @p id and @p payload may be NULL
 * (omitted). Takes @p payload.
 */
static void
send_take(push_proto_t *p, push_session_t *s, const char *type, const char *id, json_t *payload)
{
    json_t *m = json_object();
    if (id != NULL)
        json_object_set_new(m, "id", json_string(id));
    if (payload != NULL)
        json_object_set_new(m, "payload", payload);
    json_object_set_new(m, "type", json_string(type));
    session_send(p, s, m);
    json_decref(m);
}

static void
send_connection_error(push_proto_t *p, push_session_t *s, const char *message)
{
    send_take(p, s, "connection_error", NULL, json_string(message));
}

/* `data` with {"errors": errors} (taken), then `complete`: a failed operation. */
static void
send_errors_complete_take(push_proto_t *p, push_session_t *s, const char *id, json_t *errors)
{
    p->stats.start_errors++;
    send_take(p, s, "data", id, json_pack("{s:o}", "errors", errors));
    send_take(p, s, "complete", id, NULL);
}

/* A one-element errors array for a root field: {message, locations, path}, no extensions. */
static json_t *
field_error(const rj_gql_root_field_t *root, const char *message)
{
    json_t *e = json_pack("{s:s}", "message", message);
    if (root != NULL && root->node != NULL)
        json_object_set_new(e, "locations",
                            json_pack("[{s:I,s:I}]", "line", (json_int_t)root->node->loc.line,
                                      "column", (json_int_t)root->node->loc.column));
    if (root != NULL)
        json_object_set_new(e, "path", json_pack("[s]", root->response_key));
    return json_pack("[o]", e);
}

/* ---- client messages ----------------------------------------------------------------- */

/* JavaScript truthiness, for Booster's `if (payload.Authorization)`. */
static bool
truthy(const json_t *v)
{
    if (v == NULL || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_number(v))
        return json_number_value(v) != 0;
    return true;
}

static void
on_connection_init(push_proto_t *p, push_session_t *s, const json_t *m)
{
    const json_t *auth = json_object_get(json_object_get(m, "payload"), "Authorization");
    /* A new connection_init starts over: the previous user does not survive a refusal. */
    json_decref(s->user);
    s->user = NULL;
    if (truthy(auth)) {
        rj_error_t err;
        rj_error_clear(&err);
        json_t *user = NULL;
        rj_status_t st = RJ_EAUTH;
        if (json_is_string(auth))
            st = rj_auth_verify_authorization(rj_app_token_auth(p->app), json_string_value(auth),
                                              json_string_length(auth), rj_now_ms() / 1000, &user,
                                              &err);
        else
            rj_error_set(&err, RJ_EAUTH, MSG_TOKEN_NOT_STRING);
        if (st != RJ_OK) {
            /* The reasons only: they quote no part of the token. */
            rj_info("proto", "connection_init refused conn=%s code=%s reason=\"%s\"", s->id,
                    rj_error_code(&err), err.msg);
            send_connection_error(p, s, err.msg);
            return;
        }
        s->user = user;
    }
    s->initialized = true;
    rj_debug("proto", "connection_init conn=%s user=%s", s->id,
             s->user != NULL ? "verified" : "anonymous");
    send_take(p, s, "connection_ack", NULL, NULL);
}

/* The operation id of a start/stop message, or NULL when missing or not a non-empty string. */
static const char *
message_id(const json_t *m)
{
    const json_t *id = json_object_get(m, "id");
    if (!json_is_string(id) || json_string_length(id) == 0)
        return NULL;
    return json_string_value(id);
}

/*
 * Answers a `start` that cannot be served: `data` with one error located at @p root (may
 * be NULL), then `complete`. Frees @p prep, which @p root is borrowed from.
 */
static void
refuse_take(push_proto_t *p, push_session_t *s, const char *op_id, rj_gql_prepared_t *prep,
            const rj_gql_root_field_t *root, const char *message)
{
    send_errors_complete_take(p, s, op_id, field_error(root, message));
    rj_gql_prepared_free(prep);
}

char *
push_filter_id(const json_t *request)
{
    const json_t *filters = json_object_get(request, "filters");
    const json_t *id = json_object_get(filters, "id");
    if (json_object_size(filters) != 1 || json_object_size(id) != 1)
        return NULL;
    return rj_app_id_string(json_object_get(id, "eq"));
}

/*
 * Registers a prepared subscription (taken). Only `<ReadModel>(id: ...)` subscriptions are
 * served; anything else is answered with an error and the operation is completed.
 */
static void
subscribe_take(push_proto_t *p, push_session_t *s, const char *op_id, rj_gql_prepared_t *prep)
{
    if (rj_gql_prepared_nroots(prep) != 1) {
        refuse_take(p, s, op_id, prep, NULL,
                    "A subscription must select exactly one top-level field");
        return;
    }
    const rj_gql_root_field_t *root = rj_gql_prepared_root(prep, 0);
    const rj_app_read_model_t *rm = root->internal ? NULL : rj_app_read_model(p->app, root->name);
    if (rm == NULL) {
        bool of_read_model = !root->internal && root->def != NULL && root->def->named != NULL &&
                             rj_app_read_model(p->app, root->def->named->name) != NULL;
        refuse_take(p, s, op_id, prep, root,
                    of_read_model
                        ? "Subscriptions with a filter are not supported yet; subscribe by id"
                        : "Only subscriptions to a read model by id are supported");
        return;
    }

    /* Booster stores a by-id subscription as the filter {id: {eq: id}}: that is what the
       authorizer and the before hooks see, and the hooks may rewrite the id. */
    const json_t *arg_id = json_object_get(root->args, "id");
    if (arg_id == NULL || json_is_null(arg_id)) {
        refuse_take(p, s, op_id, prep, root, "Argument \"id\" of type \"ID!\" is required");
        return;
    }
    json_t *request = json_pack("{s:{s:{s:O}}}", "filters", "id", "eq", arg_id);
    rj_error_t err;
    rj_error_clear(&err);
    json_t *filtered = NULL;
    rj_status_t st = rj_app_authorize(&rm->authorize, s->user, request, &err);
    if (st == RJ_OK)
        st = rj_app_run_read_model_hooks(rm, request, s->user, &filtered, &err);
    json_decref(request);
    if (st != RJ_OK) {
        refuse_take(p, s, op_id, prep, root, err.msg);
        return;
    }
    char *id = push_filter_id(filtered);
    json_decref(filtered);
    if (id == NULL) {
        refuse_take(p, s, op_id, prep, root,
                    "Subscriptions with a filter are not supported yet; the read model's before "
                    "hooks must leave a filter of the form {id: {eq: <id>}}");
        return;
    }

    /* Each subscription holds a prepared operation; a cap keeps one socket from holding
       the process's memory. Reusing an op id replaces, so it does not count. */
    if (p->max_subs > 0 && s->subs.count >= p->max_subs &&
        push_subs_find_op(&s->subs, op_id) == NULL) {
        free(id);
        refuse_take(p, s, op_id, prep, root, "Too many subscriptions on this connection");
        return;
    }
    /* A by-id subscription to a sequenced read model follows every row of that id. When
       the field also takes the sequence key (the generated Subscription root takes only
       `id` today; Query takes both), a given key narrows it to that one row. */
    char *seq = NULL;
    if (rm->sequenced_by != NULL)
        seq = rj_app_id_string(json_object_get(root->args, rm->sequenced_by));

    push_sub_spec_t spec = {
        .op_id = op_id,
        .read_model = rm->name,
        .id = id,
        .sequence_key = seq,
        .op = prep,
        .root = 0,
    };
    push_subs_add(p->subs, &s->subs, &spec);
    p->stats.subscribes++;
    rj_debug("proto", "subscribed conn=%s op=%s read_model=%s id=%s%s%s", s->id, op_id, rm->name,
             id, seq != NULL ? " seq=" : "", seq != NULL ? seq : "");
    free(id);
    free(seq);
}

static void
on_start(push_proto_t *p, push_session_t *s, const json_t *m)
{
    const char *op_id = message_id(m);
    if (op_id == NULL) {
        send_connection_error(p, s, "Missing \"id\" in start message");
        return;
    }
    const json_t *payload = json_object_get(m, "payload");
    const json_t *query = json_object_get(payload, "query");
    if (!json_is_string(query) || json_string_length(query) == 0) {
        send_take(p, s, "error", op_id,
                  json_pack("{s:[{s:s}]}", "errors", "message", MSG_BAD_PAYLOAD));
        p->stats.start_errors++;
        return;
    }
    const json_t *variables = json_object_get(payload, "variables");
    if (variables != NULL && !json_is_null(variables) && !json_is_object(variables)) {
        send_errors_complete_take(
            p, s, op_id,
            json_pack("[{s:s}]", "message",
                      "Variables must be provided as an Object where each property is a "
                      "variable value. Perhaps look to see if an unparsed JSON string was "
                      "provided."));
        return;
    }
    const json_t *op_name = json_object_get(payload, "operationName");

    json_t *errors = NULL;
    rj_gql_doc_t *doc =
        rj_gql_cache_get(p->cache, json_string_value(query), json_string_length(query), &errors);
    if (doc == NULL) {
        send_errors_complete_take(p, s, op_id, errors != NULL ? errors : json_array());
        return;
    }
    rj_gql_prepared_t *prep = NULL;
    rj_status_t st =
        rj_gql_prepare(p->schema, doc, json_is_string(op_name) ? json_string_value(op_name) : NULL,
                       json_is_object(variables) ? variables : NULL, &prep, &errors);
    rj_gql_doc_free(doc);
    if (st != RJ_OK) {
        send_errors_complete_take(p, s, op_id, errors != NULL ? errors : json_array());
        return;
    }
    if (rj_gql_prepared_op(prep) != RJ_GQL_OP_SUBSCRIPTION) {
        rj_gql_prepared_free(prep);
        send_errors_complete_take(p, s, op_id,
                                  json_pack("[{s:s,s:{s:s}}]", "message", MSG_QUERY_OVER_WS,
                                            "extensions", "code", "InvalidProtocolError"));
        return;
    }
    subscribe_take(p, s, op_id, prep);
}

static void
on_stop(push_proto_t *p, push_session_t *s, const json_t *m)
{
    const char *op_id = message_id(m);
    if (op_id == NULL) {
        send_connection_error(p, s, "Missing \"id\" in stop message");
        return;
    }
    bool found = push_subs_remove_op(p->subs, &s->subs, op_id);
    rj_debug("proto", "stop conn=%s op=%s found=%s", s->id, op_id, found ? "yes" : "no");
    send_take(p, s, "complete", op_id, NULL);
}

static void
on_terminate(push_proto_t *p, push_session_t *s)
{
    size_t n = push_subs_remove_owner(p->subs, &s->subs);
    rj_debug("proto", "connection_terminate conn=%s dropped=%zu", s->id, n);
    push_session_close(p, s, PUSH_CLOSE_NORMAL, "connection_terminate");
}

void
push_proto_handle(push_proto_t *p, push_session_t *s, const char *msg, size_t len)
{
    p->stats.frames_in++;
    if (s->close_code != 0)
        return; /* closing: the client's late messages have no one to answer them */

    json_error_t jerr;
    json_t *m = json_loadb(msg, len, 0, &jerr);
    if (!json_is_object(m)) {
        p->stats.frames_ignored++;
        rj_warn("proto", "ignoring message that is not a JSON object conn=%s: %s", s->id,
                m == NULL ? jerr.text : "wrong type");
        json_decref(m);
        return;
    }

    const char *type = json_string_value(json_object_get(m, "type"));
    if (type == NULL) {
        send_connection_error(p, s, "Unknown message type: the message has no \"type\"");
    } else if (strcmp(type, "connection_init") == 0) {
        on_connection_init(p, s, m);
    } else if (strcmp(type, "start") == 0) {
        on_start(p, s, m);
    } else if (strcmp(type, "stop") == 0) {
        on_stop(p, s, m);
    } else if (strcmp(type, "connection_terminate") == 0) {
        on_terminate(p, s);
    } else {
        char *text = rj_xasprintf("Unknown message type \"%s\"", type);
        send_connection_error(p, s, text);
        free(text);
    }
    json_decref(m);
}

void
push_session_keepalive(push_proto_t *p, push_session_t *s)
{
    send_take(p, s, "ka", NULL, NULL);
}

/* ---- read-model changes -------------------------------------------------------------- */

typedef struct deliver_ctx {
    push_proto_t *p;               /* the context */
    const rj_env_readmodel_t *env; /* the change */
    size_t queued;                 /* data frames queued */
} deliver_ctx_t;

static void
deliver_one(push_sub_t *sub, void *ud)
{
    deliver_ctx_t *c = ud;
    push_session_t *s = sub->owner->data;
    if (s->close_code != 0 || sub->op == NULL)
        return;
    json_t *payload = rj_gql_complete_with(sub->op, sub->root, c->env->value);
    size_t before = c->p->stats.frames_out;
    send_take(c->p, s, "data", sub->op_id, payload);
    if (c->p->stats.frames_out != before)
        c->queued++;
}

size_t
push_proto_deliver(push_proto_t *p, const char *msg, size_t len)
{
    p->stats.changes++;
    rj_env_readmodel_t env;
    rj_error_t err;
    if (rj_env_readmodel_decode(msg, len, &env, &err) != RJ_OK) {
        p->stats.changes_bad++;
        rj_warn("notify", "dropping read-model change: %s", err.msg);
        return 0;
    }
    deliver_ctx_t c = {.p = p, .env = &env, .queued = 0};
    /* Booster notifies on stores only: a deletion reaches nobody (booster-surface.md §10). */
    if (!env.deleted && env.value != NULL)
        push_subs_match(p->subs, env.type, env.id, env.sequence_key, deliver_one, &c);
    rj_debug("notify", "change read_model=%s id=%s version=%lld deleted=%s queued=%zu", env.type,
             env.id, (long long)env.version, env.deleted ? "yes" : "no", c.queued);
    p->stats.deliveries += c.queued;
    rj_env_readmodel_deinit(&env);
    return c.queued;
}
