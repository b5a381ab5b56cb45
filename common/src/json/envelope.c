/*
 * envelope.c - encoding and validating decoding of the inter-daemon envelopes.
 *
 * Every decoder follows one shape: parse the bytes with jansson (duplicate keys
 * rejected, NUL in strings rejected), then read each field through a small
 * decoder context that records the first violation and turns every later read
 * into a no-op. The envelope code therefore reads like the schema it checks, and
 * the message always names the first offending field.
 *
 * Encoders build the object key by key, in the order docs/architecture.md shows,
 * and dump it compactly. They assert their required inputs rather than report
 * errors: an encoder given NULL for a required field is a bug in the daemon, and
 * an envelope with a hole in it must never reach a topic.
 *
 * Not here: the meaning of names (the app model checks commands and events) and
 * the shape of application payloads (they are the application's business).
 */
#include "json/envelope.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* ---- decoding ---- */

typedef enum field_flags {
    F_REQUIRED = 0,      /* present and of the stated type */
    F_NULLABLE = 1 << 0, /* JSON null (or absent) reads as NULL */
    F_EMPTY_OK = 1 << 1, /* a string may be "" */
} field_flags_t;

typedef enum string_format {
    FMT_ANY,       /* any string */
    FMT_UUID,      /* 8-4-4-4-12 hex digits */
    FMT_TIMESTAMP, /* YYYY-MM-DDTHH:MM:SS[.fff...]Z */
    FMT_ID,        /* a key PostgreSQL indexes: at most RJ_ID_MAX_BYTES bytes */
} string_format_t;

#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct decoder {
    const char *kind;   /* "event", "command", ... for messages */
    json_t *root;       /* the document being read; borrowed */
    rj_error_t *err;    /* where the first violation goes; may be NULL */
    rj_status_t status; /* RJ_OK until the first violation */
} decoder_t;

static void
dec_fail(decoder_t *d, const char *key, const char *what)
{
    if (d->status != RJ_OK)
        return;
    d->status = rj_error_set(d->err, RJ_EPROTO, "could not decode %s envelope: field \"%s\" %s",
                             d->kind, key, what);
}

static bool
is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* Checks the shape only (digits where digits go); calendar validity is the producer's. */
static bool
is_timestamp(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t n = sizeof shape - 1;
    if (strlen(s) < n + 1)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return false;
    }
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return p[0] == 'Z' && p[1] == '\0';
}

static const char *
dec_string(decoder_t *d, const char *key, unsigned flags, string_format_t fmt)
{
    json_t *v = json_object_get(d->root, key);
    if (v == NULL || json_is_null(v)) {
        if (!(flags & F_NULLABLE))
            dec_fail(d, key, v == NULL ? "is required" : "must be a string");
        return NULL;
    }
    if (!json_is_string(v)) {
        dec_fail(d, key, (flags & F_NULLABLE) ? "must be a string or null" : "must be a string");
        return NULL;
    }
    const char *s = json_string_value(v);
    if (s[0] == '\0' && !(flags & F_EMPTY_OK)) {
        dec_fail(d, key, "must be a non-empty string");
        return NULL;
    }
    if (fmt == FMT_UUID && !is_uuid(s)) {
        dec_fail(d, key, "must be a UUID");
        return NULL;
    }
    if (fmt == FMT_TIMESTAMP && !is_timestamp(s)) {
        dec_fail(d, key, "must be an ISO-8601 UTC timestamp");
        return NULL;
    }
    if (fmt == FMT_ID && json_string_length(v) > RJ_ID_MAX_BYTES) {
        dec_fail(d, key, "must not be longer than " STR(RJ_ID_MAX_BYTES) " bytes");
        return NULL;
    }
    return s;
}

static int64_t
dec_integer(decoder_t *d, const char *key, int64_t min, int64_t max)
{
    json_t *v = json_object_get(d->root, key);
    const char *what = min >= 1 ? "must be a positive integer" : "must be a non-negative integer";
    if (v == NULL) {
        dec_fail(d, key, "is required");
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        dec_fail(d, key, what);
        return 0;
    }
    return json_integer_value(v);
}

static bool
dec_bool(decoder_t *d, const char *key)
{
    json_t *v = json_object_get(d->root, key);
    if (v == NULL) {
        dec_fail(d, key, "is required");
        return false;
    }
    if (!json_is_boolean(v)) {
        dec_fail(d, key, "must be a boolean");
        return false;
    }
    return json_is_true(v);
}

static const json_t *
dec_object(decoder_t *d, const char *key, unsigned flags)
{
    json_t *v = json_object_get(d->root, key);
    if (v == NULL || json_is_null(v)) {
        if (!(flags & F_NULLABLE))
            dec_fail(d, key, v == NULL ? "is required" : "must be an object");
        return NULL;
    }
    if (!json_is_object(v)) {
        dec_fail(d, key, (flags & F_NULLABLE) ? "must be an object or null" : "must be an object");
        return NULL;
    }
    return v;
}

/* The user envelope {id, username, roles, claims}: an object whose roles, when present,
 * are strings. Deeper checks would only duplicate the gateway, which built it. */
static const json_t *
dec_user(decoder_t *d, const char *key)
{
    const json_t *user = dec_object(d, key, F_NULLABLE);
    if (user == NULL)
        return NULL;
    json_t *roles = json_object_get(user, "roles");
    if (roles != NULL && !json_is_null(roles)) {
        bool ok = json_is_array(roles);
        for (size_t i = 0; ok && i < json_array_size(roles); i++)
            ok = json_is_string(json_array_get(roles, i));
        if (!ok)
            dec_fail(d, key, "must have \"roles\" as an array of strings");
    }
    return user;
}

static rj_status_t
dec_start(decoder_t *d, const char *kind, const char *buf, size_t len, rj_error_t *err)
{
    d->kind = kind;
    d->root = NULL;
    d->err = err;
    d->status = RJ_OK;
    if (len > RJ_ENV_MAX_BYTES)
        return d->status = rj_error_set(err, RJ_ETOOBIG,
                                         "could not decode %s envelope: %zu bytes exceed the "
                                         "limit of %zu",
                                         kind, len, RJ_ENV_MAX_BYTES);
    json_error_t jerr;
    d->root = rj_json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (d->root == NULL)
        return d->status = rj_error_set(err, RJ_EPROTO,
                                         "could not decode %s envelope: invalid JSON at line %d "
                                         "column %d: %s",
                                         kind, jerr.line, jerr.column, jerr.text);
    if (!json_is_object(d->root)) {
        json_decref(d->root);
        d->root = NULL;
        return d->status = rj_error_set(err, RJ_EPROTO,
                                         "could not decode %s envelope: not a JSON object", kind);
    }
    return RJ_OK;
}

/* Ends a decode: on failure drops the document and zeroes the envelope of @p size bytes. */
static rj_status_t
dec_finish(decoder_t *d, void *out, size_t size)
{
    if (d->status != RJ_OK) {
        json_decref(d->root);
        memset(out, 0, size);
    }
    return d->status;
}

rj_status_t
rj_env_command_decode(const char *buf, size_t len, rj_env_command_t *out, rj_error_t *err)
{
    decoder_t d;
    memset(out, 0, sizeof *out);
    if (dec_start(&d, "command", buf, len, err) != RJ_OK)
        return d.status;
    out->root = d.root;
    out->request_id = dec_string(&d, "requestId", F_REQUIRED, FMT_ID);
    out->command = dec_string(&d, "command", F_REQUIRED, FMT_ANY);
    out->input = dec_object(&d, "input", F_REQUIRED);
    out->current_user = dec_user(&d, "currentUser");
    out->reply_to = dec_string(&d, "replyTo", F_REQUIRED, FMT_ANY);
    out->issued_at = dec_string(&d, "issuedAt", F_REQUIRED, FMT_TIMESTAMP);
    return dec_finish(&d, out, sizeof *out);
}

rj_status_t
rj_env_event_decode(const char *buf, size_t len, rj_env_event_t *out, rj_error_t *err)
{
    decoder_t d;
    memset(out, 0, sizeof *out);
    if (dec_start(&d, "event", buf, len, err) != RJ_OK)
        return d.status;
    out->root = d.root;
    out->event_id = dec_string(&d, "eventId", F_REQUIRED, FMT_UUID);
    out->type = dec_string(&d, "type", F_REQUIRED, FMT_ANY);
    out->entity = dec_string(&d, "entity", F_REQUIRED, FMT_ANY);
    out->entity_id = dec_string(&d, "entityId", F_REQUIRED, FMT_ID);
    out->version = dec_integer(&d, "version", 1, INT64_MAX);
    out->request_id = dec_string(&d, "requestId", F_REQUIRED, FMT_ANY);
    out->created_at = dec_string(&d, "createdAt", F_REQUIRED, FMT_TIMESTAMP);
    out->value = dec_object(&d, "value", F_REQUIRED);
    out->current_user = dec_user(&d, "currentUser");
    return dec_finish(&d, out, sizeof *out);
}

rj_status_t
rj_env_snapshot_decode(const char *buf, size_t len, rj_env_snapshot_t *out, rj_error_t *err)
{
    decoder_t d;
    memset(out, 0, sizeof *out);
    if (dec_start(&d, "snapshot", buf, len, err) != RJ_OK)
        return d.status;
    out->root = d.root;
    out->entity = dec_string(&d, "entity", F_REQUIRED, FMT_ANY);
    out->entity_id = dec_string(&d, "entityId", F_REQUIRED, FMT_ID);
    out->version = dec_integer(&d, "version", 1, INT64_MAX);
    out->value = dec_object(&d, "value", F_REQUIRED);
    out->last_event_id = dec_string(&d, "lastEventId", F_REQUIRED, FMT_UUID);
    out->created_at = dec_string(&d, "createdAt", F_REQUIRED, FMT_TIMESTAMP);
    return dec_finish(&d, out, sizeof *out);
}

rj_status_t
rj_env_readmodel_decode(const char *buf, size_t len, rj_env_readmodel_t *out, rj_error_t *err)
{
    decoder_t d;
    memset(out, 0, sizeof *out);
    if (dec_start(&d, "read-model", buf, len, err) != RJ_OK)
        return d.status;
    out->root = d.root;
    out->type = dec_string(&d, "type", F_REQUIRED, FMT_ANY);
    out->id = dec_string(&d, "id", F_REQUIRED, FMT_ANY);
    out->sequence_key = dec_string(&d, "sequenceKey", F_NULLABLE | F_EMPTY_OK, FMT_ANY);
    out->version = dec_integer(&d, "version", 1, INT64_MAX);
    out->deleted = dec_bool(&d, "deleted");
    out->value = dec_object(&d, "value", F_NULLABLE);
    /* The pusher pushes value and the projector deletes on deleted; a message where
     * the two disagree would make them disagree, so it is malformed. */
    if (d.status == RJ_OK && out->deleted && out->value != NULL)
        dec_fail(&d, "value", "must be null when \"deleted\" is true");
    if (d.status == RJ_OK && !out->deleted && out->value == NULL)
        dec_fail(&d, "value", "must be an object when \"deleted\" is false");
    return dec_finish(&d, out, sizeof *out);
}

rj_status_t
rj_env_reply_decode(const char *buf, size_t len, rj_env_reply_t *out, rj_error_t *err)
{
    decoder_t d;
    memset(out, 0, sizeof *out);
    if (dec_start(&d, "reply", buf, len, err) != RJ_OK)
        return d.status;
    out->root = d.root;
    out->request_id = dec_string(&d, "requestId", F_REQUIRED, FMT_ANY);
    out->ok = dec_bool(&d, "ok");
    if (d.status == RJ_OK && out->ok) {
        out->result = json_object_get(d.root, "result");
        if (out->result == NULL)
            dec_fail(&d, "result", "is required when \"ok\" is true");
        json_t *events = json_object_get(d.root, "events");
        if (events == NULL) {
            dec_fail(&d, "events", "is required when \"ok\" is true");
        } else if (!json_is_array(events)) {
            dec_fail(&d, "events", "must be an array");
        } else {
            size_t i;
            json_t *ev;
            json_array_foreach(events, i, ev) {
                json_t *version = json_object_get(ev, "version");
                if (!json_is_object(ev) || !json_is_string(json_object_get(ev, "entity")) ||
                    !json_is_string(json_object_get(ev, "entityId")) ||
                    !json_is_integer(version) || json_integer_value(version) < 1) {
                    dec_fail(&d, "events",
                             "must hold objects with string \"entity\" and \"entityId\" and a "
                             "positive integer \"version\"");
                    break;
                }
            }
            out->events = events;
        }
    } else if (d.status == RJ_OK) {
        json_t *error = json_object_get(d.root, "error");
        if (!json_is_object(error)) {
            dec_fail(&d, "error", error == NULL ? "is required when \"ok\" is false"
                                                : "must be an object");
        } else {
            json_t *msg = json_object_get(error, "message");
            json_t *code = json_object_get(error, "code");
            if (!json_is_string(msg))
                dec_fail(&d, "error", "must have a string \"message\"");
            else if (code != NULL && !json_is_null(code) && !json_is_string(code))
                dec_fail(&d, "error", "must have \"code\" as a string or null");
            else {
                out->error_message = json_string_value(msg);
                out->error_code = json_string_value(code);
            }
        }
    }
    return dec_finish(&d, out, sizeof *out);
}

rj_status_t
rj_env_deadletter_decode(const char *buf, size_t len, rj_env_deadletter_t *out, rj_error_t *err)
{
    decoder_t d;
    memset(out, 0, sizeof *out);
    if (dec_start(&d, "dead-letter", buf, len, err) != RJ_OK)
        return d.status;
    out->root = d.root;
    out->topic = dec_string(&d, "topic", F_REQUIRED, FMT_ANY);
    out->partition = (int32_t)dec_integer(&d, "partition", 0, INT32_MAX);
    out->offset = dec_integer(&d, "offset", 0, INT64_MAX);
    if (json_object_get(d.root, "key") == NULL)
        dec_fail(&d, "key", "is required"); /* null is fine: a message without a key */
    out->key = dec_string(&d, "key", F_NULLABLE | F_EMPTY_OK, FMT_ANY);
    out->value = dec_string(&d, "value", F_EMPTY_OK, FMT_ANY);
    out->error = dec_string(&d, "error", F_REQUIRED, FMT_ANY);
    out->daemon = dec_string(&d, "daemon", F_REQUIRED, FMT_ANY);
    out->at = dec_string(&d, "at", F_REQUIRED, FMT_TIMESTAMP);
    return dec_finish(&d, out, sizeof *out);
}

void
rj_env_command_deinit(rj_env_command_t *env)
{
    json_decref(env->root);
    memset(env, 0, sizeof *env);
}

void
rj_env_event_deinit(rj_env_event_t *env)
{
    json_decref(env->root);
    memset(env, 0, sizeof *env);
}

void
rj_env_snapshot_deinit(rj_env_snapshot_t *env)
{
    json_decref(env->root);
    memset(env, 0, sizeof *env);
}

void
rj_env_readmodel_deinit(rj_env_readmodel_t *env)
{
    json_decref(env->root);
    memset(env, 0, sizeof *env);
}

void
rj_env_reply_deinit(rj_env_reply_t *env)
{
    json_decref(env->root);
    memset(env, 0, sizeof *env);
}

void
rj_env_deadletter_deinit(rj_env_deadletter_t *env)
{
    json_decref(env->root);
    memset(env, 0, sizeof *env);
}

/* ---- encoding ---- */

static void
put_str(json_t *o, const char *key, const char *s)
{
    RJ_ASSERT(s != NULL);
    json_t *v = json_string(s);
    RJ_ASSERT(v != NULL); /* NULL here means invalid UTF-8 from a daemon: a bug */
    json_object_set_new(o, key, v);
}

static void
put_str_or_null(json_t *o, const char *key, const char *s)
{
    if (s == NULL)
        json_object_set_new(o, key, json_null());
    else
        put_str(o, key, s);
}

/* jansson is not const-correct: setting a borrowed value only increments its count. */
static void
put_json(json_t *o, const char *key, const json_t *v)
{
    json_object_set(o, key, v != NULL ? (json_t *)v : json_null());
}

static char *
dump_take(json_t *o)
{
    char *s = rj_json_dumps(o);
    json_decref(o);
    return s;
}

char *
rj_env_command_encode(const rj_env_command_t *env)
{
    json_t *o = json_object();
    put_str(o, "requestId", env->request_id);
    put_str(o, "command", env->command);
    RJ_ASSERT(env->input == NULL || json_is_object(env->input));
    if (env->input != NULL)
        put_json(o, "input", env->input);
    else
        json_object_set_new(o, "input", json_object());
    put_json(o, "currentUser", env->current_user);
    put_str(o, "replyTo", env->reply_to);
    put_str(o, "issuedAt", env->issued_at);
    return dump_take(o);
}

json_t *
rj_env_event_to_json(const rj_env_event_t *env)
{
    RJ_ASSERT(env->version >= 1);
    RJ_ASSERT(json_is_object(env->value));
    json_t *o = json_object();
    put_str(o, "eventId", env->event_id);
    put_str(o, "type", env->type);
    put_str(o, "entity", env->entity);
    put_str(o, "entityId", env->entity_id);
    json_object_set_new(o, "version", json_integer(env->version));
    put_str(o, "requestId", env->request_id);
    put_str(o, "createdAt", env->created_at);
    put_json(o, "value", env->value);
    put_json(o, "currentUser", env->current_user);
    return o;
}

char *
rj_env_event_encode(const rj_env_event_t *env)
{
    return dump_take(rj_env_event_to_json(env));
}

char *
rj_env_snapshot_encode(const rj_env_snapshot_t *env)
{
    RJ_ASSERT(env->version >= 1);
    RJ_ASSERT(json_is_object(env->value));
    json_t *o = json_object();
    put_str(o, "entity", env->entity);
    put_str(o, "entityId", env->entity_id);
    json_object_set_new(o, "version", json_integer(env->version));
    put_json(o, "value", env->value);
    put_str(o, "lastEventId", env->last_event_id);
    put_str(o, "createdAt", env->created_at);
    return dump_take(o);
}

char *
rj_env_readmodel_encode(const rj_env_readmodel_t *env)
{
    RJ_ASSERT(env->version >= 1);
    RJ_ASSERT(env->deleted ? env->value == NULL : json_is_object(env->value));
    json_t *o = json_object();
    put_str(o, "type", env->type);
    put_str(o, "id", env->id);
    put_str_or_null(o, "sequenceKey", env->sequence_key);
    json_object_set_new(o, "version", json_integer(env->version));
    put_json(o, "value", env->value);
    json_object_set_new(o, "deleted", json_boolean(env->deleted));
    return dump_take(o);
}

json_t *
rj_env_reply_to_json(const rj_env_reply_t *env)
{
    json_t *o = json_object();
    put_str(o, "requestId", env->request_id);
    json_object_set_new(o, "ok", json_boolean(env->ok));
    if (env->ok) {
        put_json(o, "result", env->result != NULL ? env->result : json_true());
        if (env->events != NULL)
            put_json(o, "events", env->events);
        else
            json_object_set_new(o, "events", json_array());
    } else {
        json_t *error = json_object();
        put_str(error, "message", env->error_message);
        if (env->error_code != NULL && env->error_code[0] != '\0')
            put_str(error, "code", env->error_code);
        json_object_set_new(o, "error", error);
    }
    return o;
}

char *
rj_env_reply_encode(const rj_env_reply_t *env)
{
    return dump_take(rj_env_reply_to_json(env));
}

/* A JSON string of @p s, with every byte >= 0x80 replaced by '?' when @p s is not UTF-8. */
static json_t *
lossy_string(const char *s)
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

char *
rj_env_deadletter_encode(const rj_env_deadletter_t *env)
{
    RJ_ASSERT(env->partition >= 0 && env->offset >= 0 && env->value != NULL);
    json_t *o = json_object();
    put_str(o, "topic", env->topic);
    json_object_set_new(o, "partition", json_integer(env->partition));
    json_object_set_new(o, "offset", json_integer(env->offset));
    /* The original message's key and value may not be valid UTF-8 (that may be why it
     * is here): store them lossily rather than lose the dead letter, or abort on it. */
    json_object_set_new(o, "key", env->key != NULL ? lossy_string(env->key) : json_null());
    json_object_set_new(o, "value", lossy_string(env->value));
    put_str(o, "error", env->error);
    put_str(o, "daemon", env->daemon);
    put_str(o, "at", env->at);
    return dump_take(o);
}

bool
rj_json_has_nul(const json_t *v)
{
    if (json_is_string(v))
        return json_string_length(v) != strlen(json_string_value(v));
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (rj_json_has_nul(e))
                return true;
        }
        return false;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            if (rj_json_has_nul(e))
                return true;
        }
    }
    return false;
}
