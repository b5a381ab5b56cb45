/*
 * protocol.c - graphql-ws (subscriptions-transport-ws) and graphql-transport-ws message
 * handling (see protocol.h).
 *
 * graphql-ws: Booster's behaviour (booster-surface.md §1.2, §10) is the reference,
 * message texts included. Where Ramjet deliberately differs:
 *
 *   - A query or mutation sent with `start` is forwarded to the gateway over HTTP (see
 *     "Queries and mutations" below) rather than executed here: running them in the pusher
 *     would mean a second PostgreSQL pool, Kafka producer and reply channel per replica,
 *     and two implementations of what HTTP clients get. Without a gateway URL they are
 *     answered with an InvalidProtocolError (data with errors, then complete).
 *   - A `start` that reuses the id of a live operation replaces it once the new operation
 *     starts (a subscription is registered, a query or mutation forwarded), whatever kind
 *     either is; a `start` that fails leaves the live one alone, as Booster does.
 *   - `start` without a query answers `error` with a real message; Booster serialises a
 *     JavaScript Error there and sends `{}`.
 *   - An unknown message type names the type; Booster's text prints "[object Object]".
 *   - A token that does not verify is a `connection_error`, then the socket closes with
 *     4403; Booster leaves it open and anonymous. A `start` before an acknowledged
 *     `connection_init` is an `error`, then the socket closes with 4401; Booster serves it
 *     anonymously. The token is read from the payload's `Authorization`, `authorization`,
 *     `authToken` or `token`, else from the upgrade request's Authorization header;
 *     Booster reads `Authorization` only.
 *   - `connection_terminate` also closes the socket (1000), as the subscriptions-transport-
 *     ws reference server does; Booster leaves it open until the client closes.
 *   - Operation ids must be non-empty strings, as the protocol defines them; anything else
 *     is treated as a missing id.
 *   - Filters are evaluated in full (and/or/not, isDefined, nested objects), with the
 *     semantics of the SQL side (rj_rs_filter_match); Booster's local evaluator reads only
 *     the first key of a filter.
 *
 * graphql-transport-ws: the graphql-ws library's PROTOCOL.md and its reference server are
 * the reference, close codes and reasons included. Authentication is the same as on
 * graphql-ws (the token at connection_init), and a token that does not verify closes the
 * socket with 4403, as a graphql-ws server whose onConnect refuses does. Request errors (syntax,
 * validation, variables) are an `error` message; errors of the subscription's root field
 * (authorization, before hooks) are a `next` with {errors}, then `complete`, as graphql-js's
 * subscribe() reports them.
 *
 * Queries and mutations: an operation our schema validates is classified by its type; one
 * it does not is parsed again without validation and forwarded all the same unless it is a
 * subscription, because the gateway's schema is the authority (it may compose other
 * services) and its errors are the ones HTTP clients get, decorations included. A document
 * that does not parse cannot be classified and goes to the gateway too, for the same
 * reason. The gateway's answer is relayed byte for byte (spliced
 * into the frame, not re-serialised): on graphql-ws as `data` then `complete`; on
 * graphql-transport-ws as `next` then `complete` when it has a `data` entry (an execution
 * result, errors or not), and as `error` when it has only `errors` (a request error, which
 * PROTOCOL.md reserves `error` for). A gateway that cannot be reached, times out or does
 * not answer with a GraphQL result fails that operation alone, the same way (graphql-ws
 * `data` + `complete`, graphql-transport-ws `error`), as do the in-flight limits. Stopping
 * an operation (stop, complete, a reused id, closing) detaches it from the session; its
 * slot stays taken until the answer arrives, which is then dropped, so the total bound
 * counts requests the gateway is really serving (forward.c does not abort them: a mutation
 * already sent cannot be taken back).
 *
 * Frames are serialised once into a scratch buffer owned by the context (everything runs
 * on the loop thread) and copied into a frame with headroom for the WebSocket header.
 * Keys are written in the order Booster's frames show on the wire: id, payload, type.
 * A change's payload is rendered once per by-id subscription or per filter group and
 * spliced as text into each member's frame, so a popular filter costs one evaluation
 * and one rendering per change, not one per client.
 *
 * Every subscription authorizes its read model for the connection's user and runs the
 * read model's before hooks on the request, a by-id subscription being the filter
 * {id: {eq: id}} and a filter subscription {filters: <filter>}. When the hooks leave a
 * by-id request as {id: {eq: <id>}} the subscription follows that row through the by-id
 * index; any other filter they leave is evaluated on every change of the read model.
 *
 * What this file deliberately does not do: re-check a token's expiry after
 * connection_init (Booster does not either: the connection keeps the user it was opened
 * with), or re-run before hooks on every change (they ran once, when the subscription
 * started: a hook that depends on the changed value cannot be expressed as a filter).
 */
#include "protocol.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "json/envelope.h"
#include "log/log.h"
#include "readside/readside.h"

#define MSG_QUERY_OVER_WS                                                                          \
    "Queries and mutations over WebSocket are served by the gateway at POST /graphql"
#define MSG_BAD_PAYLOAD "Message payload is invalid it must contain at least the \"query\" property"
#define MSG_TOKEN_NOT_STRING "JsonWebTokenError: jwt must be a string"
#define MSG_NOT_INITIALIZED "Operations must follow a connection_init that was acknowledged"

struct push_proto {
    const rj_app_t *app;      /* borrowed from main */
    rj_gql_schema_t *schema;  /* a reference */
    rj_gql_cache_t *cache;    /* parsed and validated documents by query text */
    push_subs_t *subs;        /* every subscription of every session */
    size_t queue_max;         /* bytes a session may hold beyond its grace period */
    int64_t queue_grace_us;   /* how long a session may stay over queue_max; 0 = not at all */
    size_t coalesce_after;    /* queued bytes from which changes coalesce */
    size_t max_subs;          /* subscriptions per session, 0 = no limit */
    push_wake_fn wake;        /* the transport's hook, or NULL */
    void *wake_ud;            /* its argument */
    int64_t init_timeout_us;  /* graphql-transport-ws connection_init deadline; 0 = none */
    rj_buf_t scratch;         /* serialisation buffer, reused for every frame */
    rj_buf_t payload;         /* a change's rendered payload, spliced into frames */
    push_proto_stats_t stats; /* counters */
    push_forward_fn forward;  /* the gateway hook, or NULL: queries and mutations refused */
    void *forward_ud;         /* its argument */
    size_t max_ops;           /* forwarded operations in flight per session */
    push_op_t *ops;           /* the slot table of forwarded operations, nslots entries */
    size_t nslots;            /* its size: the bound on requests in flight */
    push_op_t *free_ops;      /* free slots, linked through `next` */
    bool gateway_failing;     /* the last answer was a gateway failure (one warning each) */
};

/*
 * A query or mutation forwarded to the gateway: one slot of the context's table. Its
 * request id is (generation << 32 | slot index): the index finds the slot in O(1) when the
 * answer comes back, the generation tells that answer from one for an earlier use of the
 * slot. The id is all that crosses to the forwarding thread.
 */
struct push_op {
    uint64_t req_id;         /* the request on this slot; 0 while the slot is free */
    uint32_t generation;     /* bumped each time the slot is taken; never 0 once taken */
    push_session_t *session; /* the session that asked, or NULL once it stopped the
                                operation or closed: its answer will be dropped */
    char *op_id;             /* the client's operation id while session != NULL; owned */
    push_op_t *prev;         /* neighbours in the session's list */
    push_op_t *next;         /* ... and, while the slot is free, the next free slot */
};

static void sub_release(push_sub_t *sub, void *ud);

push_proto_t *
push_proto_new(const push_proto_opts_t *opts)
{
    push_proto_t *p = rj_xcalloc(1, sizeof *p);
    p->app = opts->app;
    p->schema = rj_gql_schema_ref(opts->schema);
    p->cache = rj_gql_cache_new(p->schema, opts->doc_cache_size ? opts->doc_cache_size : 256, NULL);
    p->subs = push_subs_new();
    push_subs_set_release(p->subs, sub_release, p);
    p->queue_max = opts->send_queue_max_bytes ? opts->send_queue_max_bytes : 1;
    p->queue_grace_us = (int64_t)opts->send_queue_grace_ms * 1000;
    p->coalesce_after = opts->coalesce_after_bytes;
    p->max_subs = opts->max_subscriptions;
    p->wake = opts->wake;
    p->wake_ud = opts->wake_ud;
    p->init_timeout_us = (int64_t)opts->init_timeout_ms * 1000;
    rj_buf_init(&p->scratch);
    rj_buf_init(&p->payload);
    p->forward = opts->forward;
    p->forward_ud = opts->forward_ud;
    if (p->forward != NULL) {
        p->max_ops = opts->max_operations ? opts->max_operations : 1;
        p->nslots = opts->max_forwarded ? opts->max_forwarded : 1;
        RJ_ASSERT(p->nslots <= UINT32_MAX);
        p->ops = rj_xcalloc(p->nslots, sizeof *p->ops);
        for (size_t i = p->nslots; i-- > 0;) {
            p->ops[i].next = p->free_ops;
            p->free_ops = &p->ops[i];
        }
    }
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
    rj_buf_deinit(&p->payload);
    /* Sessions were deinitialised first: slots still taken are orphans, owning nothing. */
    free(p->ops);
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

/*
 * A change's rendered payload, shared by every queued entry that carries it: a popular row
 * watched by thousands of subscriptions is held once, however many of them wait.
 */
struct push_payload {
    size_t refs; /* holders: queued entries, and the delivery that rendered it */
    size_t len;  /* bytes of data */
    char data[]; /* the JSON text, not NUL-terminated */
};

/* Wire overhead counted per frame: a WebSocket header, and a change's closing text. */
#define FRAME_OVERHEAD 16
#define CHANGE_TAIL_WS ",\"type\":\"data\"}"
#define CHANGE_TAIL_TWS ",\"type\":\"next\"}"

static push_payload_t *
payload_new(const char *data, size_t len)
{
    push_payload_t *pl = rj_xmalloc(sizeof *pl + len);
    pl->refs = 1;
    pl->len = len;
    if (len > 0)
        memcpy(pl->data, data, len);
    return pl;
}

static push_payload_t *
payload_ref(push_payload_t *pl)
{
    pl->refs++;
    return pl;
}

static void
payload_unref(push_payload_t *pl)
{
    if (pl != NULL && --pl->refs == 0)
        free(pl);
}

void
push_session_init_proto(push_session_t *s, void *transport, push_subproto_t subprotocol)
{
    memset(s, 0, sizeof *s);
    rj_uuid_v4(s->id);
    push_sub_owner_init(&s->subs, s);
    s->transport = transport;
    s->subprotocol = subprotocol;
    s->opened_us = rj_mono_us();
}

void
push_session_init(push_session_t *s, void *transport)
{
    push_session_init_proto(s, transport, PUSH_SUBPROTO_GRAPHQL_WS);
}

void
push_session_set_upgrade_authorization(push_session_t *s, const char *value, size_t len)
{
    free(s->upgrade_authorization);
    s->upgrade_authorization = value != NULL && len > 0 ? rj_xstrndup(value, len) : NULL;
}

push_subproto_t
push_subproto_from_name(const char *name)
{
    if (name != NULL && strcmp(name, PUSH_SUBPROTO_TRANSPORT_WS_NAME) == 0)
        return PUSH_SUBPROTO_TRANSPORT_WS;
    return PUSH_SUBPROTO_GRAPHQL_WS;
}

static void ops_detach_all(push_session_t *s);
static bool op_stop(push_session_t *s, const char *op_id);

/* Appends @p f to @p s's queue and counts its bytes; wakes the transport on the first. */
static void
queue_link(push_proto_t *p, push_session_t *s, push_frame_t *f)
{
    f->next = NULL;
    f->prev = s->out_tail;
    if (s->out_tail != NULL)
        s->out_tail->next = f;
    else
        s->out_head = f;
    s->out_tail = f;
    s->out_count++;
    s->out_bytes += f->cost;
    if (f->row == NULL)
        s->out_frame_bytes += f->cost;
    p->stats.frames_out++;
    if (s->out_count == 1 && p->wake != NULL)
        p->wake(s, p->wake_ud);
}

/* Takes @p f out of @p s's queue, wherever it is, and uncounts its bytes. */
static void
queue_unlink(push_session_t *s, push_frame_t *f)
{
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        s->out_head = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    else
        s->out_tail = f->prev;
    f->next = f->prev = NULL;
    s->out_count--;
    s->out_bytes -= f->cost;
    if (f->row == NULL)
        s->out_frame_bytes -= f->cost;
    /* An emptied queue ends an episode over the bound; push_session_tick ends the others. */
    if (s->out_head == NULL)
        s->over_since_us = 0;
}

/* Detaches change entry @p f from its subscription's list of waiting entries. */
static void
change_detach(push_frame_t *f)
{
    push_sub_t *sub = f->sub;
    if (f->sub_newer != NULL)
        f->sub_newer->sub_older = f->sub_older;
    else
        sub->pending = f->sub_older;
    if (f->sub_older != NULL)
        f->sub_older->sub_newer = f->sub_newer;
    f->sub = NULL;
    f->sub_older = f->sub_newer = NULL;
}

static void
change_free(push_frame_t *f)
{
    payload_unref(f->payload);
    free(f->row);
    free(f);
}

/*
 * The registry's release hook: a subscription with changes still waiting is going
 * (stop, complete, a reused id, its connection closing). Its waiting changes go too: the
 * client ended the subscription, and the entries point at it.
 */
static void
sub_release(push_sub_t *sub, void *ud)
{
    (void)ud;
    push_session_t *s = sub->owner->data;
    while (sub->pending != NULL) {
        push_frame_t *f = sub->pending;
        change_detach(f);
        queue_unlink(s, f);
        change_free(f);
    }
}

void
push_session_deinit(push_proto_t *p, push_session_t *s)
{
    /* Subscriptions first: their release drops their waiting changes from the queue. */
    push_subs_remove_owner(p->subs, &s->subs);
    ops_detach_all(s);
    for (push_frame_t *f = push_session_pop(s); f != NULL; f = push_session_pop(s))
        free(f);
    json_decref(s->user);
    s->user = NULL;
    free(s->authorization);
    s->authorization = NULL;
    free(s->upgrade_authorization);
    s->upgrade_authorization = NULL;
    if (s->writes != NULL) {
        rj_ryw_deinit(s->writes);
        free(s->writes);
        s->writes = NULL;
    }
}

/* A ready frame rendered from change entry @p f: opening text, latest payload, tail. */
static push_frame_t *
change_render(const push_session_t *s, const push_frame_t *f)
{
    bool tws = s->subprotocol == PUSH_SUBPROTO_TRANSPORT_WS;
    const char *tail = tws ? CHANGE_TAIL_TWS : CHANGE_TAIL_WS;
    size_t tlen = strlen(tail);
    size_t len = f->len + f->payload->len + tlen;
    push_frame_t *r = rj_xmalloc(sizeof *r + PUSH_FRAME_HEADROOM + len + 1);
    memset(r, 0, sizeof *r + PUSH_FRAME_HEADROOM);
    r->len = len;
    char *d = push_frame_data(r);
    memcpy(d, f->buf, f->len);
    memcpy(d + f->len, f->payload->data, f->payload->len);
    memcpy(d + f->len + f->payload->len, tail, tlen);
    d[len] = '\0';
    return r;
}

push_frame_t *
push_session_pop(push_session_t *s)
{
    push_frame_t *f = s->out_head;
    if (f == NULL)
        return NULL;
    queue_unlink(s, f);
    if (f->sub == NULL)
        return f;
    push_frame_t *r = change_render(s, f);
    change_detach(f);
    change_free(f);
    return r;
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

/*
 * Asks for @p s to be closed once the frames already queued are written: the message that
 * says why (graphql-ws's connection_error or error) must reach the client before the close.
 */
static void
close_after_queued(push_proto_t *p, push_session_t *s, int code, const char *reason)
{
    if (s->close_code == 0)
        s->close_flush = true;
    push_session_close(p, s, code, reason);
}

/*
 * Closes a graphql-transport-ws session for a protocol error with a reason built here,
 * cut to what a close frame holds (at a UTF-8 character boundary).
 */
static void
close_protocol_error(push_proto_t *p, push_session_t *s, int code, const char *reason)
{
    if (s->close_code != 0)
        return;
    size_t n = strlen(reason);
    if (n > PUSH_CLOSE_REASON_MAX) {
        n = PUSH_CLOSE_REASON_MAX;
        while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(s->close_reason_buf, reason, n);
    s->close_reason_buf[n] = '\0';
    p->stats.protocol_closes++;
    rj_debug("proto", "closing conn=%s code=%d reason=\"%s\"", s->id, code, s->close_reason_buf);
    push_session_close(p, s, code, s->close_reason_buf);
}

static int
scratch_append(const char *buf, size_t size, void *data)
{
    rj_buf_append(data, buf, size);
    return 0;
}

/* Closes @p s because its queue stayed over the bound; the client reads too slowly. */
static void
close_slow(push_proto_t *p, push_session_t *s)
{
    p->stats.overflows++;
    rj_warn("proto",
            "closing slow client: send queue over its bound conn=%s queued_bytes=%zu "
            "entries=%zu max_bytes=%zu",
            s->id, s->out_bytes, s->out_count, p->queue_max);
    push_session_close(p, s, PUSH_CLOSE_POLICY, "send queue over its limit: client too slow");
}

/*
 * Checks @p s's queue against the bound after it grew. Over the bound starts the grace
 * period (push_session_tick closes the session when it runs out): a client that reads
 * promptly may fall behind for a moment in a burst, as when a thousand subscriptions of
 * a large row all get a change at once. Changes need no harder limit: however long the
 * grace, they coalesce, and their values are shared. Ready frames (operation answers,
 * protocol messages) do not coalesce: with over twice the bound of them the client is
 * closed at once, so that the grace period cannot be used to queue without limit.
 */
static void
session_check_bound(push_proto_t *p, push_session_t *s)
{
    if (s->out_bytes <= p->queue_max || s->close_code != 0)
        return;
    if (s->over_since_us == 0)
        s->over_since_us = rj_mono_us();
    if (p->queue_grace_us == 0 || s->out_frame_bytes > 2 * p->queue_max)
        close_slow(p, s);
}

/* Queues the scratch buffer's contents as one ready frame on @p s, unless it is closing. */
static void
queue_scratch(push_proto_t *p, push_session_t *s)
{
    if (s->close_code != 0)
        return; /* closing: nothing more goes out but the close frame */
    push_frame_t *f = rj_xmalloc(sizeof *f + PUSH_FRAME_HEADROOM + p->scratch.len + 1);
    memset(f, 0, sizeof *f + PUSH_FRAME_HEADROOM);
    f->len = p->scratch.len;
    f->cost = f->len + FRAME_OVERHEAD;
    if (p->scratch.len > 0)
        memcpy(push_frame_data(f), p->scratch.data, p->scratch.len);
    push_frame_data(f)[f->len] = '\0';
    queue_link(p, s, f);
    session_check_bound(p, s);
}

/* Queues @p msg (borrowed) on @p s. */
static void
session_send(push_proto_t *p, push_session_t *s, const json_t *msg)
{
    if (s->close_code != 0)
        return;
    rj_buf_reset(&p->scratch);
    int rc = json_dump_callback(msg, scratch_append, &p->scratch, JSON_COMPACT);
    RJ_ASSERT(rc == 0);
    queue_scratch(p, s);
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

/* Writes {"id":<op_id>,"payload": into the scratch buffer. */
static void
scratch_frame_head(push_proto_t *p, const char *op_id)
{
    rj_buf_reset(&p->scratch);
    rj_buf_puts(&p->scratch, "{\"id\":");
    json_t *id = json_string(op_id);
    int rc = json_dump_callback(id, scratch_append, &p->scratch, JSON_ENCODE_ANY);
    RJ_ASSERT(rc == 0);
    json_decref(id);
    rj_buf_puts(&p->scratch, ",\"payload\":");
}

/*
 * Sends an operation's result: {"id": op_id, "payload": <p->payload>, "type": "data"} (or
 * "next"), the payload spliced in as already-serialised text. Never coalesced: every
 * answer reaches the client.
 */
static void
send_result(push_proto_t *p, push_session_t *s, const char *op_id)
{
    if (s->close_code != 0)
        return;
    scratch_frame_head(p, op_id);
    rj_buf_append(&p->scratch, p->payload.data, p->payload.len);
    rj_buf_puts(&p->scratch,
                s->subprotocol == PUSH_SUBPROTO_TRANSPORT_WS ? CHANGE_TAIL_TWS : CHANGE_TAIL_WS);
    queue_scratch(p, s);
}

/*
 * Queues change @p pl (borrowed; a reference is kept) of row @p row for subscription
 * @p sub. A client that keeps up gets every state. One that has fallen behind (its queue
 * holds coalesce_after bytes) does not need the states it has not read yet, only the
 * latest: when the subscription's newest waiting entry is for the same row, that entry
 * takes the new value in place: it keeps its place in the queue, so the subscription's
 * changes still arrive in order, and nothing newer of that subscription is behind it, so
 * the row's latest state is what the client gets. An entry for another row is not
 * touched (each row's last state is delivered), and nothing else is ever replaced.
 * Returns whether the session took the change.
 */
static bool
send_change(push_proto_t *p, push_session_t *s, push_sub_t *sub, push_payload_t *pl,
            const char *row)
{
    if (s->close_code != 0)
        return false;
    push_frame_t *w = sub->pending;
    if (w != NULL && s->out_bytes >= p->coalesce_after && strcmp(w->row, row) == 0) {
        payload_unref(w->payload);
        w->payload = payload_ref(pl);
        s->out_bytes -= w->cost;
        w->cost = w->len + pl->len + FRAME_OVERHEAD + sizeof CHANGE_TAIL_WS;
        s->out_bytes += w->cost;
        p->stats.coalesced++;
        session_check_bound(p, s);
        return true;
    }
    scratch_frame_head(p, sub->op_id);
    push_frame_t *f = rj_xcalloc(1, sizeof *f + p->scratch.len);
    memcpy(f->buf, p->scratch.data, p->scratch.len);
    f->len = p->scratch.len;
    f->sub = sub;
    f->payload = payload_ref(pl);
    f->row = rj_xstrdup(row);
    f->cost = f->len + pl->len + FRAME_OVERHEAD + sizeof CHANGE_TAIL_WS;
    push_frame_t *older = sub->pending;
    f->sub_older = older;
    if (older != NULL)
        older->sub_newer = f;
    sub->pending = f;
    queue_link(p, s, f);
    session_check_bound(p, s);
    return true;
}

static void
send_connection_error(push_proto_t *p, push_session_t *s, const char *message)
{
    send_take(p, s, "connection_error", NULL, json_string(message));
}

/*
 * An operation that failed in its root field (authorization, before hooks, refusals):
 * graphql-ws `data` with {"errors": errors} (taken), then `complete`; graphql-transport-ws
 * `next` with the same payload, then `complete`.
 */
static void
send_field_errors_take(push_proto_t *p, push_session_t *s, const char *id, json_t *errors)
{
    p->stats.start_errors++;
    bool tws = s->subprotocol == PUSH_SUBPROTO_TRANSPORT_WS;
    send_take(p, s, tws ? "next" : "data", id, json_pack("{s:o}", "errors", errors));
    send_take(p, s, "complete", id, NULL);
}

/*
 * A request that could not become an operation (syntax, validation, variables): on
 * graphql-ws as a field error (Booster's `data` + `complete`); on graphql-transport-ws an
 * `error` message whose payload is the errors array (taken), which ends the operation.
 */
static void
send_request_errors_take(push_proto_t *p, push_session_t *s, const char *id, json_t *errors)
{
    if (s->subprotocol != PUSH_SUBPROTO_TRANSPORT_WS) {
        send_field_errors_take(p, s, id, errors);
        return;
    }
    p->stats.start_errors++;
    send_take(p, s, "error", id, errors);
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

/*
 * Where clients put the token in connection_init's payload: Booster's and Apollo's
 * examples use `Authorization` (as the HTTP header); graphql-ws and Apollo users commonly
 * send `authorization`, `authToken` or `token` from connectionParams. The first present
 * one counts, in this order.
 */
static const char *const token_keys[] = {"Authorization", "authorization", "authToken", "token"};

/*
 * Verifies the connection's token and replaces the session's user: connection_init's
 * payload token when there is one (token_keys), else the upgrade request's Authorization
 * header (browsers cannot set it, but server-side clients do). Returns false with @p err
 * set when a token was given and does not verify (the session is then anonymous).
 */
static bool
authenticate(push_proto_t *p, push_session_t *s, const json_t *m, rj_error_t *err)
{
    const json_t *payload = json_object_get(m, "payload");
    const json_t *auth = NULL;
    for (size_t i = 0; i < sizeof token_keys / sizeof token_keys[0] && !truthy(auth); i++)
        auth = json_object_get(payload, token_keys[i]);
    json_t *header = NULL;
    if (!truthy(auth) && s->upgrade_authorization != NULL)
        auth = header = json_string(s->upgrade_authorization);
    /* A new connection_init starts over: the previous user does not survive a refusal. */
    json_decref(s->user);
    s->user = NULL;
    free(s->authorization);
    s->authorization = NULL;
    if (!truthy(auth)) {
        json_decref(header);
        return true;
    }
    json_t *user = NULL;
    rj_status_t st = RJ_EAUTH;
    if (json_is_string(auth))
        st = rj_auth_verify_authorization(rj_app_token_auth(p->app), json_string_value(auth),
                                          json_string_length(auth), rj_now_ms() / 1000, &user, err);
    else
        rj_error_set(err, RJ_EAUTH, MSG_TOKEN_NOT_STRING);
    if (st != RJ_OK) {
        /* The reasons only: they quote no part of the token. */
        rj_info("proto", "connection_init refused conn=%s code=%s reason=\"%s\" from=%s", s->id,
                rj_error_code(err), err->msg, header != NULL ? "header" : "payload");
        json_decref(header);
        return false;
    }
    s->user = user;
    /* Kept as presented, so the gateway verifies the very same credential for every
       query and mutation of this connection, as it would over HTTP. */
    s->authorization = rj_xstrndup(json_string_value(auth), json_string_length(auth));
    json_decref(header);
    return true;
}

/*
 * graphql-ws connection_init. A token that does not verify is a connection_error (what
 * Booster's clients show), and then the socket is closed with 4403: Booster left it open
 * and anonymous, so a client whose credentials were refused went on as a guest without
 * noticing. The reference subscriptions-transport-ws server closes too (with 1011).
 */
static void
on_connection_init(push_proto_t *p, push_session_t *s, const json_t *m)
{
    rj_error_t err;
    rj_error_clear(&err);
    s->init_received = true;
    if (!authenticate(p, s, m, &err)) {
        s->initialized = false;
        send_connection_error(p, s, err.msg);
        close_after_queued(p, s, PUSH_CLOSE_FORBIDDEN, "Forbidden");
        return;
    }
    s->initialized = true;
    rj_debug("proto", "connection_init conn=%s user=%s", s->id,
             s->user != NULL ? "verified" : "anonymous");
    send_take(p, s, "connection_ack", NULL, NULL);
}

/* The operation id of a message, or NULL when missing or not a non-empty string. */
static const char *
message_id(const json_t *m)
{
    const json_t *id = json_object_get(m, "id");
    if (!json_is_string(id) || json_string_length(id) == 0)
        return NULL;
    return json_string_value(id);
}

/*
 * Answers a subscription that cannot be served: one error located at @p root (may be
 * NULL), as a field error. Frees @p prep, which @p root is borrowed from.
 */
static void
refuse_take(push_proto_t *p, push_session_t *s, const char *op_id, rj_gql_prepared_t *prep,
            const rj_gql_root_field_t *root, const char *message)
{
    send_field_errors_take(p, s, op_id, field_error(root, message));
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

/* The operation as the client sent it: what makes two subscriptions render alike. */
typedef struct op_text {
    const char *query;       /* the document text */
    size_t query_len;        /* its length */
    const char *op_name;     /* operationName, or NULL */
    const json_t *variables; /* the variables object, or NULL */
    const json_t *extensions; /* the extensions object, or NULL (queries and mutations: the
                                 gateway reads extensions.idempotencyKey from it) */
} op_text_t;

/*
 * The group key of a filter subscription: the filter the hooks left and the operation
 * text (document, operation name, variables), serialised canonically (sorted keys), so
 * two subscriptions with equal keys evaluate the same filter and render the same payload.
 * The read model is not in it: the registry keys groups by (read model, key).
 */
static char *
group_key(const json_t *filter, const op_text_t *op)
{
    rj_buf_t b;
    rj_buf_init(&b);
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;
    if (filter != NULL)
        json_dump_callback(filter, scratch_append, &b, flags);
    rj_buf_putc(&b, '\x1f');
    if (op->variables != NULL)
        json_dump_callback(op->variables, scratch_append, &b, flags);
    rj_buf_putc(&b, '\x1f');
    if (op->op_name != NULL)
        rj_buf_puts(&b, op->op_name);
    rj_buf_putc(&b, '\x1f');
    rj_buf_append(&b, op->query, op->query_len);
    return rj_buf_steal(&b);
}

/*
 * Registers a prepared subscription (taken): `X(id:)` by id, `Xs(filter:)` by filter.
 * Anything else is answered with an error and the operation is completed.
 */
static void
subscribe_take(push_proto_t *p, push_session_t *s, const char *op_id, rj_gql_prepared_t *prep,
               const op_text_t *text)
{
    if (rj_gql_prepared_nroots(prep) != 1) {
        refuse_take(p, s, op_id, prep, NULL,
                    "A subscription must select exactly one top-level field");
        return;
    }
    const rj_gql_root_field_t *root = rj_gql_prepared_root(prep, 0);
    const rj_app_read_model_t *rm = root->internal ? NULL : rj_app_read_model(p->app, root->name);
    bool by_id = rm != NULL;
    if (rm == NULL && !root->internal && root->def != NULL && root->def->named != NULL)
        rm = rj_app_read_model(p->app, root->def->named->name); /* Xs(filter:) returns X */
    if (rm == NULL) {
        refuse_take(p, s, op_id, prep, root, "Only subscriptions to read models are supported");
        return;
    }

    /* Booster stores a by-id subscription as the filter {id: {eq: id}}: that is what the
       authorizer and the before hooks see, and the hooks may rewrite it. A filter
       subscription's request is its filter, {} when none was given. */
    json_t *request;
    if (by_id) {
        const json_t *arg_id = json_object_get(root->args, "id");
        if (arg_id == NULL || json_is_null(arg_id)) {
            refuse_take(p, s, op_id, prep, root, "Argument \"id\" of type \"ID!\" is required");
            return;
        }
        request = json_pack("{s:{s:{s:O}}}", "filters", "id", "eq", arg_id);
    } else {
        const json_t *filter = json_object_get(root->args, "filter");
        request = json_is_object(filter) ? json_pack("{s:O}", "filters", filter)
                                         : json_pack("{s:{}}", "filters");
    }
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
    const json_t *filters = json_object_get(filtered, "filters");
    if (filters != NULL && !json_is_null(filters) && !json_is_object(filters)) {
        json_decref(filtered);
        refuse_take(p, s, op_id, prep, root,
                    "The read model's before hooks must leave the filters an object");
        return;
    }

    /* Each subscription holds a prepared operation; a cap keeps one socket from holding
       the process's memory. Reusing an op id replaces, so it does not count. */
    if (p->max_subs > 0 && s->subs.count >= p->max_subs &&
        push_subs_find_op(&s->subs, op_id) == NULL) {
        json_decref(filtered);
        refuse_take(p, s, op_id, prep, root, "Too many subscriptions on this connection");
        return;
    }

    /* A by-id request the hooks left by id follows that row through the by-id index;
       whatever else they left (and every filter subscription) is a filter to evaluate. */
    char *id = by_id ? push_filter_id(filtered) : NULL;
    char *seq = NULL;
    char *key = NULL;
    /* A query or mutation still awaiting the gateway under this id is replaced too. */
    op_stop(s, op_id);
    push_sub_spec_t spec = {
        .op_id = op_id,
        .read_model = rm->name,
        .op = prep,
        .root = 0,
    };
    if (id != NULL) {
        /* A by-id subscription to a sequenced read model follows every row of that id.
           When the field also takes the sequence key (the generated Subscription root
           takes only `id` today; Query takes both), a given key narrows it to that row. */
        if (rm->sequenced_by != NULL)
            seq = rj_app_id_string(json_object_get(root->args, rm->sequenced_by));
        spec.id = id;
        spec.sequence_key = seq;
        /* What shapes the rendering: the filter is the row, the same for all of them. */
        key = group_key(NULL, text);
        spec.render_key = key;
    } else {
        key = group_key(filters, text);
        spec.filter = filters;
        spec.group_key = key;
    }
    push_subs_add(p->subs, &s->subs, &spec);
    p->stats.subscribes++;
    if (id != NULL)
        rj_debug("proto", "subscribed conn=%s op=%s read_model=%s id=%s%s%s", s->id, op_id,
                 rm->name, id, seq != NULL ? " seq=" : "", seq != NULL ? seq : "");
    else
        rj_debug("proto", "subscribed conn=%s op=%s read_model=%s by=filter groups=%zu", s->id,
                 op_id, rm->name, push_subs_group_count(p->subs));
    json_decref(filtered);
    free(id);
    free(seq);
    free(key);
}

/* ---- forwarded queries and mutations ------------------------------------------------ */

/* The session's forwarded operation with id @p op_id, or NULL. */
static push_op_t *
op_find(const push_session_t *s, const char *op_id)
{
    for (push_op_t *o = s->ops; o != NULL; o = o->next)
        if (strcmp(o->op_id, op_id) == 0)
            return o;
    return NULL;
}

/*
 * Detaches @p o from its session: the operation is over for the client, and its answer
 * will be dropped when it arrives. The slot stays taken until then.
 */
static void
op_detach(push_op_t *o)
{
    push_session_t *s = o->session;
    if (o->prev != NULL)
        o->prev->next = o->next;
    else
        s->ops = o->next;
    if (o->next != NULL)
        o->next->prev = o->prev;
    s->nops--;
    o->session = NULL;
    o->prev = o->next = NULL;
    free(o->op_id);
    o->op_id = NULL;
}

/* Stops the session's forwarded operation @p op_id; returns whether there was one. */
static bool
op_stop(push_session_t *s, const char *op_id)
{
    push_op_t *o = op_find(s, op_id);
    if (o == NULL)
        return false;
    rj_debug("proto", "stopped before the gateway answered conn=%s op=%s req=%llx", s->id, op_id,
             (unsigned long long)o->req_id);
    op_detach(o);
    return true;
}

static void
ops_detach_all(push_session_t *s)
{
    while (s->ops != NULL)
        op_detach(s->ops);
}

/* Takes a free slot for @p s's operation @p op_id (one is free: the caller checked). */
static push_op_t *
op_take(push_proto_t *p, push_session_t *s, const char *op_id)
{
    push_op_t *o = p->free_ops;
    RJ_ASSERT(o != NULL && o->req_id == 0);
    p->free_ops = o->next;
    if (++o->generation == 0)
        o->generation = 1; /* so that no request id is ever 0 */
    o->req_id = (uint64_t)o->generation << 32 | (uint64_t)(o - p->ops);
    o->session = s;
    o->op_id = rj_xstrdup(op_id);
    o->prev = NULL;
    o->next = s->ops;
    if (s->ops != NULL)
        s->ops->prev = o;
    s->ops = o;
    s->nops++;
    p->stats.forward_in_flight++;
    return o;
}

/* Returns a slot whose answer arrived (or was given up on) to the free list. */
static void
op_release(push_proto_t *p, push_op_t *o)
{
    RJ_ASSERT(o->session == NULL && o->op_id == NULL);
    o->req_id = 0;
    o->next = p->free_ops;
    p->free_ops = o;
    p->stats.forward_in_flight--;
}

/* A one-element errors array {message, extensions: {code}}. */
static json_t *
coded_error(const char *message, const char *code)
{
    return json_pack("[{s:s,s:{s:s}}]", "message", message, "extensions", "code", code);
}

/*
 * The type of the operation @p op_name selects in @p doc (its only operation when NULL);
 * false when there is no such operation, or no name and several operations.
 */
static bool
operation_type(const rj_gql_doc_t *doc, const char *op_name, rj_gql_op_type_t *type)
{
    const rj_gql_ast_definition_t *found = NULL;
    for (const rj_gql_ast_definition_t *d = rj_gql_doc_definitions(doc); d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_OPERATION)
            continue;
        if (op_name == NULL) {
            if (found != NULL)
                return false;
            found = d;
        } else if (d->name != NULL && strcmp(d->name, op_name) == 0) {
            found = d;
            break;
        }
    }
    if (found == NULL)
        return false;
    *type = found->op;
    return true;
}

/*
 * Whether the gateway must answer a document our schema rejected: a query or mutation
 * (the gateway is the authority on those), or a document that does not even parse (it
 * could be anything; the gateway's parser is this one, but the error it answers is the
 * one HTTP clients get, exactly). Only a recognisable subscription is answered here.
 */
static bool
forwards_invalid(push_proto_t *p, const op_text_t *text)
{
    if (p->forward == NULL)
        return false;
    rj_gql_doc_t *doc = rj_gql_parse(text->query, text->query_len, NULL, NULL);
    if (doc == NULL)
        return true;
    rj_gql_op_type_t type;
    bool fwd = !operation_type(doc, text->op_name, &type) || type != RJ_GQL_OP_SUBSCRIPTION;
    rj_gql_doc_free(doc);
    return fwd;
}

/* The HTTP request body: {"query", "variables", "operationName", "extensions"}, as a new
   string. */
static char *
request_body(const op_text_t *text)
{
    json_t *req = json_pack("{s:s%}", "query", text->query, text->query_len);
    RJ_ASSERT(req != NULL); /* the text came out of a JSON string: valid UTF-8 */
    if (text->variables != NULL)
        json_object_set(req, "variables", (json_t *)(uintptr_t)text->variables);
    if (text->op_name != NULL)
        json_object_set_new(req, "operationName", json_string(text->op_name));
    if (text->extensions != NULL)
        json_object_set(req, "extensions", (json_t *)(uintptr_t)text->extensions);
    char *body = json_dumps(req, JSON_COMPACT);
    RJ_ASSERT(body != NULL);
    json_decref(req);
    return body;
}

/*
 * Sends a query or mutation to the gateway, or refuses it when the session or the process
 * has too many in flight (each holds a request, a slot and, at the gateway, a request of
 * its own: the bounds keep one client, and all of them, from queueing work without limit).
 */
static void
forward_operation(push_proto_t *p, push_session_t *s, const char *op_id, const op_text_t *text)
{
    /* On graphql-ws an operation with this id may be live (on graphql-transport-ws that
       closed the socket with 4409): the new one replaces it, so it does not count. */
    bool replaces = op_find(s, op_id) != NULL;
    const char *refusal = NULL;
    if (s->nops - replaces >= p->max_ops)
        refusal = "Too many queries and mutations in flight on this connection";
    else if (p->free_ops == NULL)
        refusal = "Too many queries and mutations in flight on this server";
    if (refusal != NULL) {
        p->stats.forward_refused++;
        rj_debug("proto", "refusing operation conn=%s op=%s in_flight=%zu total=%zu", s->id, op_id,
                 s->nops, p->stats.forward_in_flight);
        send_request_errors_take(p, s, op_id, coded_error(refusal, "RetriableError"));
        return;
    }
    push_subs_remove_op(p->subs, &s->subs, op_id);
    op_stop(s, op_id);
    push_op_t *o = op_take(p, s, op_id);
    p->stats.forwarded++;
    rj_debug("proto", "forwarding to the gateway conn=%s op=%s req=%llx user=%s", s->id, op_id,
             (unsigned long long)o->req_id, s->authorization != NULL ? "token" : "anonymous");
    char *body = request_body(text);
    char *token = s->writes != NULL ? rj_ryw_encode(s->writes) : NULL;
    p->forward(p->forward_ud, o->req_id, s->authorization, token, body, strlen(body));
    free(token);
}

/*
 * Session consistency: the writes a mutation's answer names (extensions.consistencyToken,
 * which the gateway builds from the request's token and the mutation's own writes) join
 * the session's, so every later operation of the connection waits for them. Merged rather
 * than replaced: two mutations in flight at once may answer in either order.
 */
static void
note_writes(push_session_t *s, const json_t *result)
{
    const json_t *token = json_object_get(json_object_get(result, "extensions"),
                                          "consistencyToken");
    if (!json_is_string(token))
        return;
    if (s->writes == NULL) {
        s->writes = rj_xmalloc(sizeof *s->writes);
        rj_ryw_init(s->writes);
    }
    rj_error_t err = {0};
    if (rj_ryw_note_token(s->writes, json_string_value(token), json_string_length(token), &err) !=
        RJ_OK)
        rj_warn("proto", "ignoring the gateway's consistency token: %s conn=%s", err.msg, s->id);
}

/* The errors a client gets when the gateway gave no GraphQL result; logs the cause. */
static json_t *
gateway_failure(push_proto_t *p, const push_session_t *s, const char *op_id,
                const push_fwd_result_t *r)
{
    p->stats.forward_failed++;
    char detail[256];
    const char *message, *code;
    if (r->status == PUSH_FWD_TIMEOUT) {
        message = "The GraphQL gateway did not answer in time";
        code = "TimeoutError";
        snprintf(detail, sizeof detail, "%s", r->error);
    } else if (r->status == PUSH_FWD_FAILED) {
        message = "The GraphQL gateway could not be reached";
        code = "RetriableError";
        snprintf(detail, sizeof detail, "%s", r->error);
    } else {
        message = "The GraphQL gateway did not answer with a GraphQL result";
        code = r->http_status >= 500 ? "RetriableError" : "InternalError";
        snprintf(detail, sizeof detail, "HTTP status %ld, %zu bytes", r->http_status, r->len);
    }
    /* One warning when the gateway starts failing, not one per operation while it is down. */
    if (!p->gateway_failing)
        rj_warn("proto", "could not run operation through the gateway: %s conn=%s op=%s", detail,
                s->id, op_id);
    else
        rj_debug("proto", "could not run operation through the gateway: %s conn=%s op=%s", detail,
                 s->id, op_id);
    p->gateway_failing = true;
    return coded_error(message, code);
}

/* Relays the gateway's answer @p r to operation @p op_id of @p s. */
static void
relay_answer(push_proto_t *p, push_session_t *s, const char *op_id, const push_fwd_result_t *r)
{
    json_t *result = NULL;
    if (r->status == PUSH_FWD_OK) {
        result = rj_json_loadb(r->body, r->len, JSON_ALLOW_NUL, NULL);
        /* A GraphQL result has data, or errors, or both (GraphQL over HTTP, whatever the
           status: the gateway's own refusals, 413 and the like, are shaped so too). */
        if (!json_is_object(result) || (json_object_get(result, "data") == NULL &&
                                        !json_is_array(json_object_get(result, "errors")))) {
            json_decref(result);
            result = NULL;
        }
    }
    if (result == NULL) {
        send_request_errors_take(p, s, op_id, gateway_failure(p, s, op_id, r));
        return;
    }
    if (p->gateway_failing) {
        rj_info("proto", "the gateway answers again");
        p->gateway_failing = false;
    }
    note_writes(s, result);
    bool tws = s->subprotocol == PUSH_SUBPROTO_TRANSPORT_WS;
    if (tws && json_object_get(result, "data") == NULL) {
        /* No data: the request failed before execution (syntax, validation, variables,
           a token the gateway refused): graphql-transport-ws's `error`, which ends the
           operation without a `complete`. */
        send_take(p, s, "error", op_id, json_incref(json_object_get(result, "errors")));
        p->stats.start_errors++;
    } else {
        /* The gateway's bytes, spliced: what HTTP clients get, key order and numbers
           included, without a second serialisation of a possibly large result. */
        rj_buf_reset(&p->payload);
        rj_buf_append(&p->payload, r->body, r->len);
        send_result(p, s, op_id);
        send_take(p, s, "complete", op_id, NULL);
    }
    json_decref(result);
}

void
push_proto_forward_done(push_proto_t *p, const push_fwd_result_t *r)
{
    uint64_t slot = r->req_id & UINT32_MAX;
    push_op_t *o = r->req_id != 0 && slot < p->nslots ? &p->ops[slot] : NULL;
    if (o == NULL || o->req_id != r->req_id) {
        /* Every request holds its slot until answered: this is a bug, not a race. */
        rj_warn("proto", "dropping a gateway answer for an unknown request req=%llx",
                (unsigned long long)r->req_id);
        return;
    }
    push_session_t *s = o->session;
    if (s == NULL) {
        p->stats.forward_dropped++;
        rj_debug("proto", "dropping the gateway's answer to a stopped operation req=%llx",
                 (unsigned long long)r->req_id);
        op_release(p, o);
        return;
    }
    char *op_id = rj_xstrdup(o->op_id);
    op_detach(o);
    op_release(p, o);
    rj_debug("proto", "gateway answered conn=%s op=%s req=%llx status=%ld", s->id, op_id,
             (unsigned long long)r->req_id, r->http_status);
    relay_answer(p, s, op_id, r);
    free(op_id);
}

/* ---- starting operations ------------------------------------------------------------- */

/*
 * Runs a start/subscribe whose message was validated: forwards a query or mutation to the
 * gateway, or parses (through the cache), prepares and registers a subscription, or
 * answers with errors.
 */
static void
start_operation(push_proto_t *p, push_session_t *s, const char *op_id, const op_text_t *text)
{
    json_t *errors = NULL;
    rj_gql_doc_t *doc = rj_gql_cache_get(p->cache, text->query, text->query_len, &errors);
    if (doc == NULL) {
        if (forwards_invalid(p, text)) {
            json_decref(errors);
            forward_operation(p, s, op_id, text);
            return;
        }
        send_request_errors_take(p, s, op_id, errors != NULL ? errors : json_array());
        return;
    }
    /* No operation to run (none by that name, or several and no name) is the gateway's to
       answer as well: only what is recognisably a subscription stays here. */
    rj_gql_op_type_t type;
    if (p->forward != NULL &&
        (!operation_type(doc, text->op_name, &type) || type != RJ_GQL_OP_SUBSCRIPTION)) {
        rj_gql_doc_free(doc);
        forward_operation(p, s, op_id, text);
        return;
    }
    rj_gql_prepared_t *prep = NULL;
    rj_status_t st = rj_gql_prepare(p->schema, doc, text->op_name, text->variables, &prep, &errors);
    rj_gql_doc_free(doc);
    if (st != RJ_OK) {
        send_request_errors_take(p, s, op_id, errors != NULL ? errors : json_array());
        return;
    }
    if (rj_gql_prepared_op(prep) != RJ_GQL_OP_SUBSCRIPTION) {
        rj_gql_prepared_free(prep);
        send_field_errors_take(p, s, op_id,
                               json_pack("[{s:s,s:{s:s}}]", "message", MSG_QUERY_OVER_WS,
                                         "extensions", "code", "InvalidProtocolError"));
        return;
    }
    subscribe_take(p, s, op_id, prep, text);
}

static void
on_start(push_proto_t *p, push_session_t *s, const json_t *m)
{
    const char *op_id = message_id(m);
    if (op_id == NULL) {
        send_connection_error(p, s, "Missing \"id\" in start message");
        return;
    }
    /* Booster served a start before connection_init anonymously, so a client whose init
       was lost or not yet sent ran as a guest; graphql-transport-ws closes with 4401 for
       the same mistake, and so does this. */
    if (!s->initialized) {
        send_take(p, s, "error", op_id,
                  json_pack("{s:[{s:s,s:{s:s}}]}", "errors", "message", MSG_NOT_INITIALIZED,
                            "extensions", "code", "NotAuthorizedError"));
        p->stats.start_errors++;
        close_after_queued(p, s, PUSH_CLOSE_UNAUTHORIZED, "Unauthorized");
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
        send_field_errors_take(
            p, s, op_id,
            json_pack("[{s:s}]", "message",
                      "Variables must be provided as an Object where each property is a "
                      "variable value. Perhaps look to see if an unparsed JSON string was "
                      "provided."));
        return;
    }
    const json_t *op_name = json_object_get(payload, "operationName");
    const json_t *extensions = json_object_get(payload, "extensions");
    const op_text_t text = {
        .query = json_string_value(query),
        .query_len = json_string_length(query),
        .op_name = json_is_string(op_name) ? json_string_value(op_name) : NULL,
        .variables = json_is_object(variables) ? variables : NULL,
        .extensions = json_is_object(extensions) ? extensions : NULL,
    };
    start_operation(p, s, op_id, &text);
}

static void
on_stop(push_proto_t *p, push_session_t *s, const json_t *m)
{
    const char *op_id = message_id(m);
    if (op_id == NULL) {
        send_connection_error(p, s, "Missing \"id\" in stop message");
        return;
    }
    bool found = push_subs_remove_op(p->subs, &s->subs, op_id) || op_stop(s, op_id);
    rj_debug("proto", "stop conn=%s op=%s found=%s", s->id, op_id, found ? "yes" : "no");
    /* The answer to the stop itself; nothing of the operation follows it. */
    send_take(p, s, "complete", op_id, NULL);
}

static void
on_terminate(push_proto_t *p, push_session_t *s)
{
    size_t n = push_subs_remove_owner(p->subs, &s->subs) + s->nops;
    ops_detach_all(s);
    rj_debug("proto", "connection_terminate conn=%s dropped=%zu", s->id, n);
    push_session_close(p, s, PUSH_CLOSE_NORMAL, "connection_terminate");
}

static void
handle_graphql_ws(push_proto_t *p, push_session_t *s, const char *msg, size_t len)
{
    json_error_t jerr;
    json_t *m = rj_json_loadb(msg, len, 0, &jerr);
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

/* ---- graphql-transport-ws ------------------------------------------------------------ */

/* Closes with 4400 and a formatted reason. */
static void bad_request(push_proto_t *p, push_session_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
bad_request(push_proto_t *p, push_session_t *s, const char *fmt, ...)
{
    char reason[PUSH_CLOSE_REASON_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    close_protocol_error(p, s, PUSH_CLOSE_BAD_REQUEST, reason);
}

/* graphql-ws's rule for optional object fields: absent, null, or an object. */
static bool
nullish_or_object(const json_t *v)
{
    return v == NULL || json_is_null(v) || json_is_object(v);
}

static void
on_tws_connection_init(push_proto_t *p, push_session_t *s, const json_t *m)
{
    if (s->init_received) {
        close_protocol_error(p, s, PUSH_CLOSE_TOO_MANY_INITS, "Too many initialisation requests");
        return;
    }
    s->init_received = true;
    rj_error_t err;
    rj_error_clear(&err);
    if (!authenticate(p, s, m, &err)) {
        close_protocol_error(p, s, PUSH_CLOSE_FORBIDDEN, "Forbidden");
        return;
    }
    s->initialized = true;
    rj_debug("proto", "connection_init conn=%s protocol=graphql-transport-ws user=%s", s->id,
             s->user != NULL ? "verified" : "anonymous");
    send_take(p, s, "connection_ack", NULL, NULL);
}

static void
on_tws_subscribe(push_proto_t *p, push_session_t *s, const json_t *m)
{
    const char *op_id = message_id(m);
    if (op_id == NULL) {
        bad_request(p, s, "\"subscribe\" message requires a non-empty 'id' property");
        return;
    }
    const json_t *payload = json_object_get(m, "payload");
    if (!json_is_object(payload)) {
        bad_request(p, s, "\"subscribe\" message expects the 'payload' property to be an object");
        return;
    }
    const json_t *query = json_object_get(payload, "query");
    const json_t *variables = json_object_get(payload, "variables");
    const json_t *op_name = json_object_get(payload, "operationName");
    if (!json_is_string(query)) {
        bad_request(p, s,
                    "\"subscribe\" message payload expects the 'query' property to be a "
                    "string");
        return;
    }
    if (!nullish_or_object(variables)) {
        bad_request(p, s,
                    "\"subscribe\" message payload expects the 'variables' property to be "
                    "an object or nullish or missing");
        return;
    }
    if (op_name != NULL && !json_is_null(op_name) && !json_is_string(op_name)) {
        bad_request(p, s,
                    "\"subscribe\" message payload expects the 'operationName' property to "
                    "be a string or nullish or missing");
        return;
    }
    const json_t *extensions = json_object_get(payload, "extensions");
    if (!nullish_or_object(extensions)) {
        bad_request(p, s,
                    "\"subscribe\" message payload expects the 'extensions' property to "
                    "be an object or nullish or missing");
        return;
    }
    if (!s->initialized) {
        close_protocol_error(p, s, PUSH_CLOSE_UNAUTHORIZED, "Unauthorized");
        return;
    }
    /* Ids of operations that ended (completed, refused, answered) may be reused; live ones,
       subscriptions and queries or mutations awaiting the gateway alike, not. */
    if (push_subs_find_op(&s->subs, op_id) != NULL || op_find(s, op_id) != NULL) {
        char reason[PUSH_CLOSE_REASON_MAX * 2];
        snprintf(reason, sizeof reason, "Subscriber for %s already exists", op_id);
        close_protocol_error(p, s, PUSH_CLOSE_SUBSCRIBER_EXISTS, reason);
        return;
    }
    const op_text_t text = {
        .query = json_string_value(query),
        .query_len = json_string_length(query),
        .op_name = json_is_string(op_name) ? json_string_value(op_name) : NULL,
        .variables = json_is_object(variables) ? variables : NULL,
        .extensions = json_is_object(extensions) ? extensions : NULL,
    };
    start_operation(p, s, op_id, &text);
}

static void
handle_transport_ws(push_proto_t *p, push_session_t *s, const char *msg, size_t len)
{
    json_error_t jerr;
    json_t *m = rj_json_loadb(msg, len, 0, &jerr);
    if (m == NULL) {
        p->stats.frames_ignored++;
        bad_request(p, s, "Invalid message received: %s", jerr.text);
        return;
    }
    if (!json_is_object(m)) {
        bad_request(p, s, "Message is expected to be an object");
        json_decref(m);
        return;
    }
    const json_t *jtype = json_object_get(m, "type");
    const char *type = json_string_value(jtype);
    if (jtype == NULL) {
        bad_request(p, s, "Message is missing the 'type' property");
    } else if (type == NULL) {
        bad_request(p, s, "Message is expects the 'type' property to be a string");
    } else if (strcmp(type, "connection_init") == 0 || strcmp(type, "ping") == 0 ||
               strcmp(type, "pong") == 0) {
        const json_t *payload = json_object_get(m, "payload");
        if (!nullish_or_object(payload))
            bad_request(p, s,
                        "\"%s\" message expects the 'payload' property to be an object or "
                        "nullish or missing",
                        type);
        else if (type[0] == 'c')
            on_tws_connection_init(p, s, m);
        else if (strcmp(type, "ping") == 0)
            /* Pong at once, echoing the payload, before or after the ack alike. */
            send_take(p, s, "pong", NULL,
                      json_is_object(payload) ? json_incref((json_t *)payload) : NULL);
        /* a pong answers a ping we never send, or is a client's unidirectional heartbeat */
    } else if (strcmp(type, "subscribe") == 0) {
        on_tws_subscribe(p, s, m);
    } else if (strcmp(type, "complete") == 0) {
        const char *op_id = message_id(m);
        if (op_id == NULL) {
            bad_request(p, s, "\"complete\" message requires a non-empty 'id' property");
        } else {
            /* The client ends its operation: nothing is sent back (PROTOCOL.md). */
            bool found = push_subs_remove_op(p->subs, &s->subs, op_id) || op_stop(s, op_id);
            rj_debug("proto", "complete conn=%s op=%s found=%s", s->id, op_id,
                     found ? "yes" : "no");
        }
    } else if (strcmp(type, "connection_ack") == 0 || strcmp(type, "next") == 0 ||
               strcmp(type, "error") == 0) {
        bad_request(p, s, "Unexpected message of type %s received", type);
    } else {
        bad_request(p, s, "Invalid message 'type' property \"%s\"", type);
    }
    json_decref(m);
}

void
push_proto_handle(push_proto_t *p, push_session_t *s, const char *msg, size_t len)
{
    p->stats.frames_in++;
    if (s->close_code != 0)
        return; /* closing: the client's late messages have no one to answer them */
    if (s->subprotocol == PUSH_SUBPROTO_TRANSPORT_WS)
        handle_transport_ws(p, s, msg, len);
    else
        handle_graphql_ws(p, s, msg, len);
}

void
push_session_keepalive(push_proto_t *p, push_session_t *s)
{
    if (s->subprotocol == PUSH_SUBPROTO_GRAPHQL_WS)
        send_take(p, s, "ka", NULL, NULL);
}

void
push_session_tick(push_proto_t *p, push_session_t *s, int64_t now_us)
{
    if (s->subprotocol == PUSH_SUBPROTO_TRANSPORT_WS && !s->init_received &&
        p->init_timeout_us > 0 && now_us - s->opened_us >= p->init_timeout_us)
        close_protocol_error(p, s, PUSH_CLOSE_INIT_TIMEOUT, "Connection initialisation timeout");
    if (s->out_bytes <= p->queue_max)
        s->over_since_us = 0; /* back under the bound: a later excess starts a new grace */
    else if (s->over_since_us != 0 && now_us - s->over_since_us >= p->queue_grace_us &&
             s->close_code == 0)
        close_slow(p, s);
}

/* ---- read-model changes -------------------------------------------------------------- */

typedef struct deliver_ctx {
    push_proto_t *p;               /* the context */
    const rj_env_readmodel_t *env; /* the change */
    char *row;                     /* the changed row: id, then sequence key; owned */
    push_payload_t *shared;        /* the last rendering, or NULL; a reference */
    const char *shared_key;        /* the render key it was made for, or NULL: not shareable */
    size_t queued;                 /* changes queued (coalesced ones included) */
} deliver_ctx_t;

/* Renders root @p root of @p op for the change into a new shared payload in c->shared. */
static void
render(deliver_ctx_t *c, const rj_gql_prepared_t *op, size_t root, const char *key)
{
    push_proto_t *p = c->p;
    json_t *payload = rj_gql_complete_with(op, root, c->env->value);
    rj_buf_reset(&p->payload);
    int rc = json_dump_callback(payload, scratch_append, &p->payload, JSON_COMPACT);
    RJ_ASSERT(rc == 0);
    json_decref(payload);
    payload_unref(c->shared);
    c->shared = payload_new(p->payload.data, p->payload.len);
    c->shared_key = key;
    p->stats.renders++;
}

/*
 * By-id subscriptions of a row that share a render key (same operation text, name and
 * variables) get the same payload: one rendering serves a run of them. Ten thousand
 * subscriptions of a large row then cost one rendering per change, not ten thousand.
 */
static void
deliver_one(push_sub_t *sub, void *ud)
{
    deliver_ctx_t *c = ud;
    push_session_t *s = sub->owner->data;
    if (s->close_code != 0 || sub->op == NULL)
        return;
    if (c->shared == NULL || sub->render_key == NULL || c->shared_key == NULL ||
        strcmp(sub->render_key, c->shared_key) != 0)
        render(c, sub->op, sub->root, sub->render_key);
    if (send_change(c->p, s, sub, c->shared, c->row))
        c->queued++;
}

static void
deliver_group(const json_t *filter, push_sub_t *subs, void *ud)
{
    deliver_ctx_t *c = ud;
    c->p->stats.filter_evals++;
    if (!rj_rs_filter_match(filter, c->env->value))
        return;
    bool rendered = false;
    for (push_sub_t *sub = subs; sub != NULL; sub = sub->topic_next) {
        push_session_t *s = sub->owner->data;
        if (s->close_code != 0 || sub->op == NULL)
            continue;
        /* Members share the operation text, so the first live one renders for all. */
        if (!rendered) {
            render(c, sub->op, sub->root, NULL);
            rendered = true;
        }
        if (send_change(c->p, s, sub, c->shared, c->row))
            c->queued++;
    }
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
    deliver_ctx_t c = {.p = p, .env = &env};
    c.row = rj_xasprintf("%s\x1f%s", env.id, env.sequence_key != NULL ? env.sequence_key : "");
    /* Booster notifies on stores only: a deletion reaches nobody (booster-surface.md §10). */
    if (!env.deleted && env.value != NULL) {
        push_subs_match(p->subs, env.type, env.id, env.sequence_key, deliver_one, &c);
        push_subs_each_group(p->subs, env.type, deliver_group, &c);
    }
    rj_debug("notify", "change read_model=%s id=%s version=%lld deleted=%s queued=%zu", env.type,
             env.id, (long long)env.version, env.deleted ? "yes" : "no", c.queued);
    p->stats.deliveries += c.queued;
    payload_unref(c.shared);
    free(c.row);
    rj_env_readmodel_deinit(&env);
    return c.queued;
}
