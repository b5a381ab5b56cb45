/*
 * processor.c - one batch of commands, end to end (the steps are listed in cmd.h).
 *
 * The unit of work is the polled batch, not the command: one PostgreSQL
 * transaction, one round of produce-and-wait, one pipelined Redis publish per
 * batch, so a busy processor pays those latencies once for hundreds of commands.
 * A batch is all or nothing up to its commit; after the commit it can only be
 * finished (here, or by cmd_recover after a crash), never undone.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "core/core.h"
#include "entity/entity.h"
#include "json/envelope.h"
#include "log/log.h"

/* Namespace of deterministic event ids: uuid5-style of "<requestId>/<index>". */
#define CMD_EVENT_ID_NS "ramjet.event"

/* How long a batch keeps retrying PostgreSQL or Kafka before the daemon gives up and exits. */
#define CMD_RETRY_BUDGET_MS 60000

/** One command of the batch and what it turned into. */
typedef struct cmd_item {
    rd_kafka_message_t *msg;             /* borrowed from the batch */
    rj_env_command_t env;                /* decoded view; env.root is NULL when undecodable */
    char decode_error[RJ_ERROR_MSG_MAX]; /* why it could not be decoded */
    int dup_of;       /* index of an earlier item with the same request id, or -1 */
    bool from_outbox; /* already committed by an earlier delivery */
    bool produced;    /* from_outbox, and its events are on the topic already */
    json_t *events;   /* array of event envelopes (objects) with versions */
    json_t *reply;    /* the reply envelope as an object */
} cmd_item_t;

/** An (entity type, entity id) pair whose head version the batch advances. */
typedef struct cmd_head {
    const char *entity; /* borrowed from an event in the batch */
    const char *id;     /* borrowed from an event in the batch */
    long long count;    /* events of this entity in the batch */
    long long base;     /* version before the batch (head - count) */
    long long used;     /* versions handed out so far */
} cmd_head_t;

static int
head_cmp(const void *a, const void *b)
{
    const cmd_head_t *x = a, *y = b;
    int c = strcmp(x->entity, y->entity);
    return c != 0 ? c : strcmp(x->id, y->id);
}

static cmd_head_t *
head_find(cmd_head_t *heads, size_t n, const char *entity, const char *id)
{
    cmd_head_t key = {.entity = entity, .id = id};
    return bsearch(&key, heads, n, sizeof *heads, head_cmp);
}

static void
item_reset(cmd_item_t *it)
{
    json_decref(it->events);
    json_decref(it->reply);
    it->events = NULL;
    it->reply = NULL;
    it->from_outbox = false;
    it->produced = false;
}

static void
items_free(cmd_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        item_reset(&items[i]);
        rj_env_command_deinit(&items[i].env);
    }
    free(items);
}

/*
 * The reply column of command_outbox holds {"channel": replyTo, "message": reply}
 * so recovery can publish it again without the original command.
 */
static json_t *
outbox_reply(const cmd_item_t *it)
{
    return json_pack("{s:s, s:O}", "channel", it->env.reply_to, "message", it->reply);
}

static json_t *
reply_error(const char *request_id, const rj_error_t *e)
{
    json_t *err = json_pack("{s:s}", "message", e->msg[0] ? e->msg : "command failed");
    const char *code = rj_error_code(e);
    if (code[0] != '\0')
        json_object_set_new(err, "code", json_string(code));
    return json_pack("{s:s, s:b, s:o}", "requestId", request_id, "ok", 0, "error", err);
}

/* Step 1: decode every message; remember within-batch duplicates of a request id. */
static cmd_item_t *
decode_batch(rd_kafka_message_t *const *msgs, size_t n)
{
    cmd_item_t *items = rj_xcalloc(n, sizeof *items);
    for (size_t i = 0; i < n; i++) {
        cmd_item_t *it = &items[i];
        rj_error_t e = {0};
        it->msg = msgs[i];
        it->dup_of = -1;
        if (rj_env_command_decode(msgs[i]->payload, msgs[i]->len, &it->env, &e) != RJ_OK) {
            snprintf(it->decode_error, sizeof it->decode_error, "%s", e.msg);
            continue;
        }
        /* Batches are small (hundreds); a linear scan beats a hash table here. */
        for (size_t j = 0; j < i; j++) {
            if (items[j].env.root != NULL && items[j].dup_of < 0 &&
                strcmp(items[j].env.request_id, it->env.request_id) == 0) {
                it->dup_of = (int)j;
                break;
            }
        }
    }
    return items;
}

/* Step 2: commands whose outbox row exists were committed by an earlier delivery. */
static rj_status_t
load_committed(cmd_processor_t *p, cmd_item_t *items, size_t n, rj_error_t *err)
{
    const char **ids = rj_xcalloc(n, sizeof *ids);
    size_t nids = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].env.root != NULL && items[i].dup_of < 0)
            ids[nids++] = items[i].env.request_id;
    if (nids == 0) {
        free(ids);
        return RJ_OK;
    }
    char *arr = rj_pg_array_literal(ids, nids);
    free(ids);
    const char *params[] = {arr};
    PGresult *res = NULL;
    rj_status_t st =
        rj_pg_exec_prepared(p->pg, "cmd_outbox_lookup",
                            "SELECT request_id, events::text, (reply->'message')::text, produced "
                            "FROM command_outbox WHERE request_id = ANY($1::text[])",
                            1, params, &res, err);
    free(arr);
    if (st != RJ_OK)
        return st;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *rid = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < n; i++) {
            cmd_item_t *it = &items[i];
            if (it->env.root == NULL || it->dup_of >= 0 || strcmp(it->env.request_id, rid) != 0)
                continue;
            it->events = rj_json_loads(PQgetvalue(res, r, 1), 0, NULL);
            it->reply = rj_json_loads(PQgetvalue(res, r, 2), 0, NULL);
            if (!json_is_array(it->events) || !json_is_object(it->reply)) {
                PQclear(res);
                /* jsonb can hold what jansson cannot read back (a number beyond its
                   integers): blamed on the data, so this command alone is given up on. */
                return rj_error_set(err, RJ_EINVAL,
                                    "could not read outbox row: malformed JSON request=%s", rid);
            }
            it->from_outbox = true;
            it->produced = strcmp(PQgetvalue(res, r, 3), "t") == 0;
        }
    }
    PQclear(res);
    return RJ_OK;
}

/*
 * The entity reads of the batch's handlers (rj_entity_get; rj_read_models_search below). They run
 * on the batch's connection, inside its transaction, so they see what was committed before it began
 * to read; and the batch's own effects are not in PostgreSQL yet (versions are claimed
 * after every handler ran), so the events registered by the batch's earlier commands
 * are folded on top, in batch order. A later command's handler thereby sees its
 * predecessors in the batch exactly as if each had been committed on its own.
 */
typedef struct cmd_reader {
    cmd_processor_t *p;       /* the processor */
    const cmd_item_t *items;  /* the batch */
    size_t current;           /* the command whose handler is running */
    rj_status_t storage;      /* first failed statement: RJ_OK while there is none */
    rj_error_t storage_err;   /* its message */
} cmd_reader_t;

static rj_status_t
read_entity(void *opaque, const char *entity, const char *id, json_t **state, rj_error_t *err)
{
    cmd_reader_t *r = opaque;
    rj_entity_rows_t rows;
    rj_status_t st = rj_entity_query(r->p->pg, entity, id, &rows, err);
    if (st != RJ_OK) {
        /*
         * A failed statement aborted the batch transaction: nothing else in this batch
         * can commit. Whatever the handler makes of the error, the batch is redone
         * (commit_batch reports this status instead of committing). Rows that were read
         * but cannot be decoded (RJ_EINTERNAL: jsonb holds numbers jansson refuses) are
         * this entity's data: reported as such, so the batch is split down to the
         * commands that read it and those get an error reply, instead of the whole
         * partition retrying them forever.
         */
        if (r->storage == RJ_OK) {
            r->storage = st == RJ_EINTERNAL ? RJ_EINVAL : st;
            r->storage_err = err != NULL ? *err : (rj_error_t){.status = st};
            r->storage_err.status = r->storage;
        }
        return st;
    }
    long long version = 0;
    st = rj_entity_fold_rows(r->p->app, entity, id, &rows, state, &version, err);
    rj_entity_rows_deinit(&rows);
    if (st != RJ_OK)
        return st;
    size_t pending = 0;
    for (size_t j = 0; j < r->current; j++) {
        const cmd_item_t *it = &r->items[j];
        if (it->env.root != NULL && it->dup_of < 0 && !it->from_outbox)
            pending += rj_entity_fold_pending(r->p->app, entity, id, it->events, state);
    }
    rj_debug("command", "read entity=%s/%s version=%lld batch_events=%zu", entity, id, version,
             pending);
    return RJ_OK;
}

/*
 * A handler's read-model search. Its filter is the handler's, and PostgreSQL can refuse
 * one (an invalid regular expression): under a savepoint, that fails the search, not the
 * batch's transaction. Only a lost connection loses the batch.
 */
static rj_status_t
search_read_models(void *opaque, const rj_app_read_model_t *rm, const json_t *filter,
                   size_t limit, json_t **items, rj_error_t *err)
{
    cmd_reader_t *r = opaque;
    rj_pg_t *pg = r->p->pg;
    rj_status_t st = rj_pg_exec(pg, "SAVEPOINT rj_search", 0, NULL, NULL, err);
    if (st == RJ_OK) {
        st = rj_entity_search_read_models(pg, rm, filter, limit, items, err);
        rj_error_t e = {0};
        rj_status_t end = rj_pg_exec(pg, st == RJ_OK ? "RELEASE SAVEPOINT rj_search"
                                                     : "ROLLBACK TO SAVEPOINT rj_search",
                                     0, NULL, NULL, &e);
        if (end != RJ_OK && st == RJ_OK) {
            json_decref(*items);
            *items = NULL;
            st = end;
            if (err != NULL)
                *err = e;
        }
        if (end == RJ_OK && st != RJ_ERETRY)
            return st; /* the transaction is intact, whatever the search made of it */
    }
    if (r->storage == RJ_OK) {
        r->storage = st;
        r->storage_err = err != NULL ? *err : (rj_error_t){.status = st};
    }
    return st;
}

/*
 * Fails a command whose handler registered an event for an id PostgreSQL could not index
 * (RJ_ID_MAX_BYTES): claiming its version would fail the whole batch's transaction, at
 * every retry. The gateway refuses such ids first; this is for producers that bypass it.
 */
static rj_status_t
check_event_ids(const json_t *events, rj_error_t *err)
{
    size_t k;
    const json_t *ev;
    json_array_foreach (events, k, ev) {
        size_t len = json_string_length(json_object_get(ev, "entityId"));
        if (len > RJ_ID_MAX_BYTES)
            return rj_error_set(err, RJ_ETOOBIG,
                                "an id must not be longer than %d bytes; got one of %zu bytes",
                                RJ_ID_MAX_BYTES, len);
    }
    return RJ_OK;
}

/*
 * Step 3: run the handlers of the commands not committed yet. Returns the first storage
 * failure of their reads (the transaction is lost then), else RJ_OK.
 */
static rj_status_t
run_handlers(cmd_processor_t *p, cmd_item_t *items, size_t n, rj_error_t *err)
{
    cmd_reader_t reader = {.p = p, .items = items};
    const rj_app_reader_t store = {
        .entity = read_entity, .read_models = search_read_models, .opaque = &reader};
    for (size_t i = 0; i < n && reader.storage == RJ_OK; i++) {
        cmd_item_t *it = &items[i];
        if (it->env.root == NULL || it->dup_of >= 0 || it->from_outbox)
            continue;
        reader.current = i;
        rj_error_t e = {0};
        json_t *result = NULL, *events = NULL;
        rj_status_t st = rj_app_run_command_reading(p->app, &store, it->env.command, it->env.input,
                                                    it->env.current_user, it->env.request_id,
                                                    &result, &events, &e);
        if (st == RJ_OK && (st = check_event_ids(events, &e)) != RJ_OK) {
            json_decref(result);
            json_decref(events);
        }
        rj_metric_add(p->m_commands, 1);
        if (st != RJ_OK) {
            rj_metric_add(p->m_failed, 1);
            rj_debug("command", "command failed: %s command=%s req=%s", e.msg, it->env.command,
                     it->env.request_id);
            it->events = json_array();
            it->reply = reply_error(it->env.request_id, &e);
            continue;
        }
        /* Until versions are claimed, events hold the handler's raw registrations. */
        it->events = events;
        it->reply =
            json_pack("{s:s, s:b, s:o, s:o}", "requestId", it->env.request_id, "ok", 1, "result",
                      result != NULL ? result : json_true(), "events", json_array());
    }
    if (reader.storage != RJ_OK && err != NULL)
        *err = reader.storage_err;
    return reader.storage;
}

/*
 * Step 4a: claim versions for every registered event with one statement, and
 * turn the raw registrations into event envelopes. Rows are locked in sorted
 * order, so two processors touching the same entities cannot deadlock.
 */
static rj_status_t
claim_versions(cmd_processor_t *p, cmd_item_t *items, size_t n, rj_error_t *err)
{
    size_t nev = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].env.root != NULL && items[i].dup_of < 0 && !items[i].from_outbox)
            nev += json_array_size(items[i].events);
    if (nev == 0)
        return RJ_OK;

    cmd_head_t *heads = rj_xcalloc(nev, sizeof *heads);
    size_t nheads = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].env.root == NULL || items[i].dup_of >= 0 || items[i].from_outbox)
            continue;
        size_t k;
        json_t *ev;
        json_array_foreach (items[i].events, k, ev) {
            heads[nheads].entity = json_string_value(json_object_get(ev, "entity"));
            heads[nheads].id = json_string_value(json_object_get(ev, "entityId"));
            RJ_ASSERT(heads[nheads].entity != NULL && heads[nheads].id != NULL);
            heads[nheads].count = 1;
            nheads++;
        }
    }
    qsort(heads, nheads, sizeof *heads, head_cmp);
    size_t u = 0;
    for (size_t i = 0; i < nheads; i++) {
        if (u > 0 && head_cmp(&heads[u - 1], &heads[i]) == 0)
            heads[u - 1].count++;
        else
            heads[u++] = heads[i];
    }
    nheads = u;

    const char **types = rj_xcalloc(nheads, sizeof *types);
    const char **ids = rj_xcalloc(nheads, sizeof *ids);
    char **counts = rj_xcalloc(nheads, sizeof *counts);
    for (size_t i = 0; i < nheads; i++) {
        types[i] = heads[i].entity;
        ids[i] = heads[i].id;
        counts[i] = rj_xasprintf("%lld", heads[i].count);
    }
    char *a_types = rj_pg_array_literal(types, nheads);
    char *a_ids = rj_pg_array_literal(ids, nheads);
    char *a_counts = rj_pg_array_literal((const char *const *)counts, nheads);
    for (size_t i = 0; i < nheads; i++)
        free(counts[i]);
    free(counts);
    free(types);
    free(ids);

    const char *params[] = {a_types, a_ids, a_counts};
    PGresult *res = NULL;
    rj_status_t st = rj_pg_exec_prepared(
        p->pg, "cmd_claim_versions",
        "INSERT INTO entity_heads AS h (entity_type, entity_id, version) "
        "SELECT t, i, c FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(t, i, c) "
        "ON CONFLICT (entity_type, entity_id) DO UPDATE SET version = h.version + EXCLUDED.version "
        "RETURNING entity_type, entity_id, version",
        3, params, &res, err);
    free(a_types);
    free(a_ids);
    free(a_counts);
    if (st != RJ_OK) {
        free(heads);
        return st;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        cmd_head_t *h = head_find(heads, nheads, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
        RJ_ASSERT(h != NULL);
        h->base = strtoll(PQgetvalue(res, r, 2), NULL, 10) - h->count;
    }
    PQclear(res);

    char now[32];
    rj_iso8601_ms(rj_now_ms(), now);
    json_t *raw = json_array(); /* the registrations, kept alive while heads points into them */
    for (size_t i = 0; i < n; i++) {
        cmd_item_t *it = &items[i];
        if (it->env.root == NULL || it->dup_of >= 0 || it->from_outbox)
            continue;
        json_t *envs = json_array();
        json_t *versions = json_array();
        size_t k;
        json_t *ev;
        json_array_foreach (it->events, k, ev) {
            const char *entity = json_string_value(json_object_get(ev, "entity"));
            const char *id = json_string_value(json_object_get(ev, "entityId"));
            cmd_head_t *h = head_find(heads, nheads, entity, id);
            RJ_ASSERT(h != NULL && h->used < h->count);
            long long version = h->base + ++h->used;
            char name[512], event_id[RJ_UUID_STRLEN];
            snprintf(name, sizeof name, "%s/%zu", it->env.request_id, k);
            rj_uuid_derive(event_id, CMD_EVENT_ID_NS, name);
            rj_env_event_t env = {
                .event_id = event_id,
                .type = json_string_value(json_object_get(ev, "type")),
                .entity = entity,
                .entity_id = id,
                .version = version,
                .request_id = it->env.request_id,
                .created_at = now,
                .value = json_object_get(ev, "value"),
                .current_user = it->env.current_user,
            };
            json_array_append_new(envs, rj_env_event_to_json(&env));
            json_array_append_new(versions,
                                  json_pack("{s:s, s:s, s:I}", "entity", entity, "entityId", id,
                                            "version", (json_int_t)version));
        }
        /*
         * The head table borrows its strings from the raw registrations, so they
         * are swapped for the envelopes only after every item is done.
         */
        json_array_append_new(raw, it->events);
        it->events = envs;
        json_object_set_new(it->reply, "events", versions);
    }
    json_decref(raw);
    free(heads);
    return RJ_OK;
}

/* Step 4b: one outbox row per command handled in this batch. */
static rj_status_t
write_outbox(cmd_processor_t *p, cmd_item_t *items, size_t n, rj_error_t *err)
{
    char **rids = rj_xcalloc(n, sizeof *rids);
    char **parts = rj_xcalloc(n, sizeof *parts);
    char **offsets = rj_xcalloc(n, sizeof *offsets);
    char **events = rj_xcalloc(n, sizeof *events);
    char **replies = rj_xcalloc(n, sizeof *replies);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        cmd_item_t *it = &items[i];
        if (it->env.root == NULL || it->dup_of >= 0 || it->from_outbox)
            continue;
        json_t *reply = outbox_reply(it);
        rids[m] = (char *)it->env.request_id;
        parts[m] = rj_xasprintf("%d", (int)it->msg->partition);
        offsets[m] = rj_xasprintf("%lld", (long long)it->msg->offset);
        events[m] = rj_json_dumps(it->events);
        replies[m] = rj_json_dumps(reply);
        json_decref(reply);
        m++;
    }
    rj_status_t st = RJ_OK;
    if (m > 0) {
        char *a_rids = rj_pg_array_literal((const char *const *)rids, m);
        char *a_parts = rj_pg_array_literal((const char *const *)parts, m);
        char *a_offsets = rj_pg_array_literal((const char *const *)offsets, m);
        char *a_events = rj_pg_array_literal((const char *const *)events, m);
        char *a_replies = rj_pg_array_literal((const char *const *)replies, m);
        const char *params[] = {a_rids, a_parts, a_events, a_replies, a_offsets};
        st = rj_pg_exec_prepared(
            p->pg, "cmd_outbox_insert",
            "INSERT INTO command_outbox (request_id, partition, produced, events, reply, "
            "created_at, command_offset) "
            "SELECT r, pt, false, e::jsonb, y::jsonb, now(), o "
            "FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[]) "
            "AS u(r, pt, e, y, o) "
            "ON CONFLICT (request_id) DO NOTHING",
            5, params, NULL, err);
        free(a_rids);
        free(a_parts);
        free(a_offsets);
        free(a_events);
        free(a_replies);
    }
    for (size_t i = 0; i < m; i++) {
        free(parts[i]);
        free(offsets[i]);
        free(events[i]);
        free(replies[i]);
    }
    free(rids);
    free(parts);
    free(offsets);
    free(events);
    free(replies);
    return st;
}

/* The dead-letter envelope of @p m. A new string. */
static char *
deadletter_envelope(const rd_kafka_message_t *m, const char *error)
{
    char at[32];
    rj_iso8601_ms(rj_now_ms(), at);
    char *key = m->key != NULL ? rj_xstrndup(m->key, m->key_len) : NULL;
    char *value = rj_xstrndup(m->payload != NULL ? m->payload : "", m->len);
    rj_env_deadletter_t dl = {
        .topic = rd_kafka_topic_name(m->rkt),
        .partition = m->partition,
        .offset = m->offset,
        .key = key,
        .value = value,
        .error = error,
        .daemon = "ramjet-commands",
        .at = at,
    };
    char *text = rj_env_deadletter_encode(&dl);
    free(key);
    free(value);
    return text;
}

/*
 * The dead_letters row of @p m, in the transaction that stores the offsets past it.
 * Commands park nothing: a command given up on registered no event, so its entity has
 * no hole, and the next command of it reads exactly the state it would have read.
 */
static rj_status_t
record_deadletter(cmd_processor_t *p, const rd_kafka_message_t *m, const char *reason,
                  const char *error, rj_error_t *err)
{
    char *envelope = deadletter_envelope(m, error);
    const rj_pg_deadletter_t row = {
        .daemon = "ramjet-commands",
        .topic = rd_kafka_topic_name(m->rkt),
        .partition = m->partition,
        .offset = m->offset,
        .reason = reason,
        .envelope = envelope,
    };
    rj_status_t st = rj_pg_deadletter_insert(p->pg, &row, err);
    free(envelope);
    return st;
}

/* Steps 2-4 in one transaction. */
static rj_status_t
commit_batch(cmd_processor_t *p, cmd_item_t *items, rd_kafka_message_t *const *msgs, size_t n,
             rj_error_t *err)
{
    rj_kafka_offset_t *offs = NULL;
    size_t noffs = rj_kafka_offsets_from_batch(msgs, n, &offs);
    rj_status_t st = rj_pg_begin(p->pg, err);
    if (st == RJ_OK)
        st = load_committed(p, items, n, err);
    if (st == RJ_OK)
        st = run_handlers(p, items, n, err);
    if (st == RJ_OK)
        st = claim_versions(p, items, n, err);
    if (st == RJ_OK)
        st = write_outbox(p, items, n, err);
    for (size_t i = 0; i < n && st == RJ_OK; i++)
        if (items[i].env.root == NULL)
            st = record_deadletter(p, items[i].msg, "undecodable", items[i].decode_error, err);
    if (st == RJ_OK)
        st = rj_pg_offsets_store(p->pg, p->group, offs, noffs, err);
    if (st == RJ_OK)
        st = rj_pg_commit(p->pg, err);
    else
        rj_pg_rollback(p->pg);
    rj_kafka_offsets_free(offs, noffs);
    return st;
}

static rj_status_t
produce_events(cmd_processor_t *p, const json_t *events, rj_error_t *err)
{
    size_t k;
    json_t *ev;
    json_array_foreach (events, k, ev) {
        char key[1024];
        snprintf(key, sizeof key, "%s/%s", json_string_value(json_object_get(ev, "entity")),
                 json_string_value(json_object_get(ev, "entityId")));
        char *value = rj_json_dumps(ev);
        rj_status_t st = rj_kafka_produce(p->producer, p->events_topic, key, strlen(key), value,
                                          strlen(value), NULL, NULL, err);
        free(value);
        if (st != RJ_OK)
            return st;
        rj_metric_add(p->m_events, 1);
    }
    return RJ_OK;
}

static rj_status_t
produce_deadletter(cmd_processor_t *p, const rd_kafka_message_t *m, const char *error,
                   rj_error_t *err)
{
    char *text = deadletter_envelope(m, error);
    rj_status_t st =
        rj_kafka_produce(p->producer, p->deadletters_topic, m->key, m->key != NULL ? m->key_len : 0,
                         text, strlen(text), NULL, NULL, err);
    free(text);
    return st;
}

/* Produces one attempt's messages: called again, from the start, for every attempt. */
typedef rj_status_t (*deliver_fill_fn)(cmd_processor_t *p, void *ctx, rj_error_t *err);

/*
 * Test-only fault injection (RAMJET_TEST_TXN_PAUSE_FILE, cmd.h): while the file
 * exists, every transaction waits the milliseconds it holds between its last
 * produce and its commit, with its messages already on the broker, so a test can
 * SIGKILL the processor or fence it there (without transactions: between the
 * acknowledgement and the outbox mark). One stat per transaction when set,
 * nothing when not.
 */
static void
test_pause(cmd_processor_t *p)
{
    if (p->test_pause_file == NULL)
        return;
    FILE *f = fopen(p->test_pause_file, "r");
    if (f == NULL)
        return;
    int ms = 0;
    if (fscanf(f, "%d", &ms) != 1)
        ms = 0;
    fclose(f);
    if (ms <= 0)
        return;
    rj_error_t e = {0};
    if (rj_kafka_producer_flush(p->producer, p->produce_timeout_ms, &e) != RJ_OK)
        rj_warn("kafka", "test pause: could not flush: %s", e.msg);
    rj_info("command", "test pause: transaction open ms=%d", ms);
    rj_proc_sleep(ms);
}

/*
 * One Kafka transaction: the messages and the commands' offsets @p offs become
 * visible to read_committed consumers together, or not at all. Anything short of
 * a fatal error aborts it, so a retry starts from a clean slate.
 */
static rj_status_t
deliver_txn(cmd_processor_t *p, deliver_fill_fn fill, void *ctx, const rj_kafka_offset_t *offs,
            size_t noffs, rj_error_t *err)
{
    rj_status_t st = rj_kafka_txn_begin(p->producer, err);
    if (st != RJ_OK)
        return st;
    st = fill(p, ctx, err);
    if (st == RJ_OK) {
        test_pause(p);
        st = rj_kafka_txn_commit(p->producer, p->consumer, offs, noffs, p->produce_timeout_ms, err);
        if (st == RJ_OK) {
            rj_metric_add(p->m_txn_committed, 1);
            return RJ_OK;
        }
        if (st == RJ_EIO) /* fenced or fatal: there is nothing left to abort with */
            return st;
    }
    rj_error_t e = {0};
    if (rj_kafka_txn_abort(p->producer, p->produce_timeout_ms, &e) != RJ_OK) {
        if (err != NULL)
            *err = e;
        return RJ_EIO;
    }
    rj_metric_add(p->m_txn_aborted, 1);
    return RJ_ERETRY;
}

/* Without transactions: produce idempotently and wait until every message is acknowledged. */
static rj_status_t
deliver_plain(cmd_processor_t *p, deliver_fill_fn fill, void *ctx, rj_error_t *err)
{
    rj_status_t st = fill(p, ctx, err);
    if (st == RJ_OK)
        st = rj_kafka_producer_flush(p->producer, p->produce_timeout_ms, err);
    if (st == RJ_OK)
        test_pause(p); /* the same window: on the broker, the outbox rows not marked */
    return st;
}

/*
 * Step 5: makes what @p fill produces durable on Kafka, retried within the retry
 * budget. With transactions, the commands' offsets @p offs commit with it, and an
 * attempt that fails is aborted, so read_committed consumers see its messages once.
 * Without, a failed attempt sends the whole set again: the copies are identical
 * and downstream consumers drop them by (entity, id, version).
 */
static rj_status_t
deliver(cmd_processor_t *p, deliver_fill_fn fill, void *ctx, const rj_kafka_offset_t *offs,
        size_t noffs, rj_error_t *err)
{
    rj_backoff_t bo;
    rj_backoff_init(&bo, CMD_RETRY_BUDGET_MS);
    for (int attempt = 1;; attempt++) {
        rj_status_t st = p->transactional ? deliver_txn(p, fill, ctx, offs, noffs, err)
                                          : deliver_plain(p, fill, ctx, err);
        if (st == RJ_OK || (p->transactional && st == RJ_EIO))
            return st;
        rj_warn("kafka", "could not produce events, retrying: %s attempt=%d", err ? err->msg : "",
                attempt);
        if (!rj_backoff_wait(&bo))
            return st;
    }
}

/* The batch's messages: dead letters, and the events not on the topic yet. */
typedef struct batch_fill {
    const cmd_item_t *items; /* the batch */
    size_t n;                /* its length */
} batch_fill_t;

static rj_status_t
fill_batch(cmd_processor_t *p, void *ctx, rj_error_t *err)
{
    const batch_fill_t *b = ctx;
    rj_status_t st = RJ_OK;
    for (size_t i = 0; i < b->n && st == RJ_OK; i++) {
        const cmd_item_t *it = &b->items[i];
        if (it->env.root == NULL)
            st = produce_deadletter(p, it->msg, it->decode_error, err);
        else if (it->dup_of < 0 && !it->produced)
            st = produce_events(p, it->events, err);
    }
    return st;
}

/* One dead letter, the message of give_up. */
typedef struct deadletter_fill {
    const rd_kafka_message_t *msg; /* the command given up on */
    const char *reason;            /* why */
} deadletter_fill_t;

static rj_status_t
fill_deadletter(cmd_processor_t *p, void *ctx, rj_error_t *err)
{
    const deadletter_fill_t *d = ctx;
    return produce_deadletter(p, d->msg, d->reason, err);
}

/* Step 6: replies are best effort: a lost one makes the gateway time out, nothing more. */
static void
publish_replies(cmd_processor_t *p, cmd_item_t *items, size_t n)
{
    rj_redis_msg_t *msgs = rj_xcalloc(n, sizeof *msgs);
    char **texts = rj_xcalloc(n, sizeof *texts);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        cmd_item_t *it = &items[i];
        if (it->env.root == NULL)
            continue;
        const cmd_item_t *src = it->dup_of >= 0 ? &items[it->dup_of] : it;
        texts[m] = rj_json_dumps(src->reply);
        msgs[m].channel = it->env.reply_to;
        msgs[m].msg = texts[m];
        msgs[m].len = strlen(texts[m]);
        m++;
    }
    rj_error_t e = {0};
    if (m > 0 && rj_redis_publish_many(p->redis, msgs, m, &e) != RJ_OK)
        rj_warn("redis", "could not publish %zu replies: %s", m, e.msg);
    for (size_t i = 0; i < m; i++)
        free(texts[i]);
    free(texts);
    free(msgs);
}

/* Step 7: a row left unmarked is only produced again after a crash, identically. */
static void
mark_produced(cmd_processor_t *p, const char *const *rids, size_t n)
{
    if (n == 0)
        return;
    char *arr = rj_pg_array_literal(rids, n);
    const char *params[] = {arr};
    rj_error_t e = {0};
    if (rj_pg_exec_prepared(p->pg, "cmd_outbox_mark",
                            "UPDATE command_outbox SET produced = true "
                            "WHERE request_id = ANY($1::text[]) AND NOT produced",
                            1, params, NULL, &e) != RJ_OK)
        rj_warn("pg", "could not mark %zu outbox rows produced: %s", n, e.msg);
    free(arr);
}

/*
 * Gives up on @p m, a command that fails alone because of its data (@p why): commits
 * its dead letter with its offset, produces the dead letter, and answers the waiting
 * client with the error, so it learns at once instead of timing out. Retried like a
 * batch while the infrastructure fails.
 */
static rj_status_t
give_up(cmd_processor_t *p, rd_kafka_message_t *m, const rj_error_t *why, rj_error_t *err)
{
    rj_error_t cause = *why;
    rj_env_command_t env;
    rj_error_t derr = {0};
    bool decoded = rj_env_command_decode(m->payload, m->len, &env, &derr) == RJ_OK;
    char reason[RJ_ERROR_MSG_MAX + 32];
    snprintf(reason, sizeof reason, "%s (status=%s)", cause.msg, rj_status_name(cause.status));
    char *key = m->key != NULL ? rj_xstrndup(m->key, m->key_len) : NULL;
    rj_error("command",
             "giving up on a command that cannot be written: %s req=%s command=%s key=%s "
             "partition=%d offset=%lld",
             reason, decoded ? env.request_id : "", decoded ? env.command : "",
             key != NULL ? key : "", (int)m->partition, (long long)m->offset);
    free(key);

    rj_kafka_offset_t *offs = NULL;
    size_t noffs = rj_kafka_offsets_from_batch(&m, 1, &offs);
    rj_backoff_t bo;
    rj_backoff_init(&bo, CMD_RETRY_BUDGET_MS);
    rj_status_t st;
    for (int attempt = 1;; attempt++) {
        st = rj_pg_begin(p->pg, err);
        if (st == RJ_OK)
            st = record_deadletter(p, m, "unwritable", reason, err);
        if (st == RJ_OK)
            st = rj_pg_offsets_store(p->pg, p->group, offs, noffs, err);
        if (st == RJ_OK)
            st = rj_pg_commit(p->pg, err);
        else
            rj_pg_rollback(p->pg);
        if (st == RJ_OK)
            break;
        rj_warn("command", "could not dead-letter a command, retrying: %s attempt=%d",
                err != NULL ? err->msg : "", attempt);
        if (!rj_backoff_wait(&bo))
            break;
    }
    if (st == RJ_OK) {
        deadletter_fill_t d = {.msg = m, .reason = reason};
        st = deliver(p, fill_deadletter, &d, offs, noffs, err);
    }
    rj_kafka_offsets_free(offs, noffs);
    if (st == RJ_OK) {
        rj_metric_add(p->m_dl_unwritable, 1);
        if (decoded && env.reply_to != NULL) {
            json_t *reply = reply_error(env.request_id, &cause);
            char *text = rj_json_dumps(reply);
            json_decref(reply);
            rj_redis_msg_t msg = {.channel = env.reply_to, .msg = text, .len = strlen(text)};
            rj_error_t e = {0};
            if (rj_redis_publish_many(p->redis, &msg, 1, &e) != RJ_OK)
                rj_warn("redis", "could not publish an error reply: %s req=%s", e.msg,
                        env.request_id);
            free(text);
        }
    }
    if (decoded)
        rj_env_command_deinit(&env);
    return st;
}

rj_status_t
cmd_process_batch(cmd_processor_t *p, rd_kafka_message_t *const *msgs, size_t n, rj_error_t *err)
{
    int64_t t0 = rj_mono_us();
    cmd_item_t *items = decode_batch(msgs, n);
    rj_backoff_t bo;
    rj_backoff_init(&bo, CMD_RETRY_BUDGET_MS);
    rj_status_t st;
    for (int attempt = 0;; attempt++) {
        st = commit_batch(p, items, msgs, n, err);
        if (st != RJ_ERETRY)
            break;
        /* The transaction was rolled back: forget everything but the decode and retry. */
        for (size_t i = 0; i < n; i++)
            item_reset(&items[i]);
        rj_warn("pg", "could not commit command batch, retrying: %s attempt=%d",
                err ? err->msg : "", attempt + 1);
        if (!rj_backoff_wait(&bo))
            break;
    }
    if (st != RJ_OK) {
        items_free(items, n);
        if (!rj_status_is_data(st))
            return st;
        /*
         * The batch failed because of what one of its commands carries (an entity id
         * longer than an index entry may be, a constraint, stored rows that cannot be
         * decoded): retrying it as it is would fail forever, and so would the
         * partition behind it. Split it down to the command that fails alone, which
         * is answered with an error and dead-lettered. Bisecting keeps the common path
         * one transaction per batch (a savepoint per command would cost a round trip
         * each) and costs about 2 log2(n) transactions when a batch does fail.
         */
        if (n == 1)
            return give_up(p, msgs[0], err, err);
        rj_metric_add(p->m_splits, 1);
        rj_warn("command",
                "command batch failed because of its data, splitting it: %s "
                "status=%s commands=%zu",
                err->msg, rj_status_name(st), n);
        size_t half = n / 2;
        st = cmd_process_batch(p, msgs, half, err);
        if (st == RJ_OK)
            st = cmd_process_batch(p, msgs + half, n - half, err);
        return st;
    }

    /* Committed: from here on the batch is only ever finished, never undone. */
    int64_t t_commit = rj_mono_us();
    rj_kafka_offset_t *offs = NULL;
    size_t noffs = rj_kafka_offsets_from_batch(msgs, n, &offs);
    batch_fill_t fill = {.items = items, .n = n};
    st = deliver(p, fill_batch, &fill, offs, noffs, err);
    rj_kafka_offsets_free(offs, noffs);
    int64_t t_produce = rj_mono_us();
    if (st == RJ_OK) {
        publish_replies(p, items, n);
        for (size_t i = 0; i < n; i++) {
            if (items[i].env.root != NULL)
                continue;
            rj_warn("command", "dead-lettered undecodable command: %s partition=%d offset=%lld",
                    items[i].decode_error, (int)msgs[i]->partition, (long long)msgs[i]->offset);
            rj_metric_add(p->m_dl_undecodable, 1);
        }
        const char **rids = rj_xcalloc(n, sizeof *rids);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (items[i].env.root != NULL && items[i].dup_of < 0) {
                rids[m++] = items[i].env.request_id;
                if (items[i].from_outbox)
                    rj_metric_add(p->m_duplicates, 1);
            }
        }
        mark_produced(p, rids, m);
        free(rids);
    }
    rj_debug("command", "batch commands=%zu commit_us=%lld produce_us=%lld finish_us=%lld", n,
             (long long)(t_commit - t0), (long long)(t_produce - t_commit),
             (long long)(rj_mono_us() - t_produce));
    items_free(items, n);
    rj_metric_observe_us(p->m_batch_us, rj_mono_us() - t0);
    return st;
}

/* One outbox row recovery found unproduced. */
typedef struct recover_row {
    const char *rid; /* request id, borrowed from the result; NULL: leave the row alone */
    json_t *events;  /* envelopes to produce again; NULL when the row is settled */
    json_t *reply;   /* {"channel", "message"} as stored, or NULL */
} recover_row_t;

/* The rows' events to produce again, in commit order. */
typedef struct recover_fill {
    const recover_row_t *rows; /* the rows */
    size_t n;                  /* their number */
} recover_fill_t;

static rj_status_t
fill_recovered(cmd_processor_t *p, void *ctx, rj_error_t *err)
{
    const recover_fill_t *f = ctx;
    rj_status_t st = RJ_OK;
    for (size_t i = 0; i < f->n && st == RJ_OK; i++)
        if (f->rows[i].events != NULL)
            st = produce_events(p, f->rows[i].events, err);
    return st;
}

/* The unproduced outbox rows of @p parts, in commit order (seq). */
static rj_status_t
outbox_unproduced(cmd_processor_t *p, const rd_kafka_topic_partition_list_t *parts, PGresult **res,
                  rj_error_t *err)
{
    char **nums = rj_xcalloc((size_t)parts->cnt, sizeof *nums);
    for (int i = 0; i < parts->cnt; i++)
        nums[i] = rj_xasprintf("%d", (int)parts->elems[i].partition);
    char *arr = rj_pg_array_literal((const char *const *)nums, (size_t)parts->cnt);
    for (int i = 0; i < parts->cnt; i++)
        free(nums[i]);
    free(nums);
    const char *params[] = {arr};
    rj_status_t st = rj_pg_exec(p->pg,
                                "SELECT request_id, partition, command_offset, events::text, "
                                "reply::text FROM command_outbox "
                                "WHERE NOT produced AND partition = ANY($1::int[]) ORDER BY seq",
                                1, params, res, err);
    free(arr);
    return st;
}

/*
 * Whether the row of @p partition and @p offset (text, "" when NULL) had its events
 * committed: its command lies below the group's committed offset, which moves only
 * in the transactions that carry the events. Without transactions nothing is known.
 */
static bool
row_settled(const rd_kafka_topic_partition_list_t *committed, const char *partition,
            const char *offset)
{
    if (committed == NULL || offset[0] == '\0')
        return false;
    int32_t part = (int32_t)strtol(partition, NULL, 10);
    for (int i = 0; i < committed->cnt; i++)
        if (committed->elems[i].partition == part)
            return committed->elems[i].offset >= 0 &&
                   strtoll(offset, NULL, 10) < committed->elems[i].offset;
    return false;
}

/* Reads the rows of @p res into @p rows; returns how many need producing again. */
static size_t
recover_rows(PGresult *res, const rd_kafka_topic_partition_list_t *committed, recover_row_t *rows)
{
    size_t nproduce = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *rid = PQgetvalue(res, r, 0);
        rows[r].reply = rj_json_loads(PQgetvalue(res, r, 4), 0, NULL);
        if (row_settled(committed, PQgetvalue(res, r, 1), PQgetvalue(res, r, 2))) {
            rows[r].rid = rid;
            continue;
        }
        json_t *events = rj_json_loads(PQgetvalue(res, r, 3), 0, NULL);
        if (!json_is_array(events)) {
            /* One row this build cannot read must not keep every partition of this
               processor unassigned (an error here fails the assignment, and the
               daemon, again after every restart). It is left unproduced and unmarked,
               so it is reported at every assignment and kept for an operator; the
               reducer reports the versions it lacks. */
            json_decref(events);
            rj_error("command",
                     "could not produce a committed outbox row again: malformed events; "
                     "left in command_outbox req=%s",
                     rid);
            continue;
        }
        rows[r].rid = rid;
        rows[r].events = events;
        nproduce++;
    }
    return nproduce;
}

/* The offsets stored in PostgreSQL for @p parts, to commit with the recovered events. */
static size_t
recover_offsets(const rd_kafka_topic_partition_list_t *parts, rj_kafka_offset_t **out)
{
    rj_kafka_offset_t *offs = rj_xcalloc((size_t)parts->cnt + 1, sizeof *offs);
    size_t n = 0;
    for (int i = 0; i < parts->cnt; i++) {
        if (parts->elems[i].offset < 0)
            continue;
        offs[n].topic = rj_xstrdup(parts->elems[i].topic);
        offs[n].partition = parts->elems[i].partition;
        offs[n].next_offset = parts->elems[i].offset;
        n++;
    }
    *out = offs;
    return n;
}

/* The gateway may still be waiting for these if the crash was short. */
static void
recover_replies(cmd_processor_t *p, const recover_row_t *rows, size_t n)
{
    rj_redis_msg_t *replies = rj_xcalloc(n, sizeof *replies);
    char **texts = rj_xcalloc(n, sizeof *texts);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const char *channel = json_string_value(json_object_get(rows[i].reply, "channel"));
        json_t *message = json_object_get(rows[i].reply, "message");
        if (rows[i].rid == NULL || channel == NULL || !json_is_object(message))
            continue;
        texts[m] = rj_json_dumps(message);
        replies[m] = (rj_redis_msg_t){.channel = channel, .msg = texts[m], .len = strlen(texts[m])};
        m++;
    }
    rj_error_t e = {0};
    if (m > 0 && rj_redis_publish_many(p->redis, replies, m, &e) != RJ_OK)
        rj_warn("redis", "could not publish recovered replies: %s", e.msg);
    for (size_t i = 0; i < m; i++)
        free(texts[i]);
    free(texts);
    free(replies);
}

rj_status_t
cmd_recover(cmd_processor_t *p, const rd_kafka_topic_partition_list_t *parts, rj_error_t *err)
{
    if (parts->cnt == 0)
        return RJ_OK;
    PGresult *res = NULL;
    rj_status_t st = outbox_unproduced(p, parts, &res, err);
    if (st != RJ_OK)
        return st;
    size_t rows = (size_t)PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        return RJ_OK;
    }
    /* Waits while a transaction that sends offsets of these partitions is still open. */
    rd_kafka_topic_partition_list_t *committed = NULL;
    if (p->transactional) {
        committed = rd_kafka_topic_partition_list_copy(parts);
        st = rj_kafka_consumer_committed(p->consumer, committed, CMD_RETRY_BUDGET_MS, err);
    }
    recover_row_t *rr = rj_xcalloc(rows, sizeof *rr);
    size_t nproduce = st == RJ_OK ? recover_rows(res, committed, rr) : 0;
    if (st == RJ_OK)
        rj_info("command",
                "recovering committed but unmarked outbox rows: rows=%zu produce_again=%zu", rows,
                nproduce);
    if (st == RJ_OK && nproduce > 0) {
        rj_kafka_offset_t *offs = NULL;
        size_t noffs = recover_offsets(parts, &offs);
        recover_fill_t fill = {.rows = rr, .n = rows};
        st = deliver(p, fill_recovered, &fill, offs, noffs, err);
        rj_kafka_offsets_free(offs, noffs);
    }
    if (st == RJ_OK) {
        rj_metric_add(p->m_recovered, (int64_t)nproduce);
        recover_replies(p, rr, rows);
        const char **rids = rj_xcalloc(rows, sizeof *rids);
        size_t nrids = 0, nsettled = 0;
        for (size_t i = 0; i < rows; i++) {
            if (rr[i].rid != NULL)
                rids[nrids++] = rr[i].rid;
            nsettled += rr[i].rid != NULL && rr[i].events == NULL;
        }
        rj_metric_add(p->m_settled, (int64_t)nsettled);
        mark_produced(p, rids, nrids);
        free(rids);
    }
    for (size_t i = 0; i < rows; i++) {
        json_decref(rr[i].events);
        json_decref(rr[i].reply);
    }
    free(rr);
    if (committed != NULL)
        rd_kafka_topic_partition_list_destroy(committed);
    PQclear(res);
    return st;
}

rj_status_t
cmd_prune(cmd_processor_t *p, int retention_s, rj_error_t *err)
{
    char secs[32];
    snprintf(secs, sizeof secs, "%d", retention_s);
    const char *params[] = {secs};
    return rj_pg_exec_prepared(p->pg, "cmd_outbox_prune",
                               "DELETE FROM command_outbox WHERE produced "
                               "AND created_at < now() - make_interval(secs => $1::int)",
                               1, params, NULL, err);
}
