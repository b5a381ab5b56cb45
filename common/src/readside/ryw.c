/*
 * ryw.c - read-your-writes consistency tokens (see ryw.h).
 *
 * The set is a small array kept oldest-first: it never holds more than RJ_RYW_MAX_WRITES
 * entries, so a linear search is cheaper than any index, and "forget the oldest" is a
 * shift. A session that writes more entities than that forgets its oldest writes, which by
 * then are almost always projected anyway; the bound is what keeps a token small enough
 * for a request header and a check cheap enough to run for every request.
 *
 * Decoding is strict (exact shape, no extra members, versions within JSON's exact
 * integers) because the token comes back from clients: a malformed one is refused with a
 * message, never half-used.
 */
#include "readside/ryw.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "json/envelope.h"

/* The token's format version, its JSON array's first element. */
#define RYW_FORMAT 1
/* The largest version a token may name: JSON's exact integers (2^53 - 1). */
#define RYW_MAX_VERSION 9007199254740991LL

void
rj_ryw_init(rj_ryw_t *t)
{
    t->n = 0;
}

void
rj_ryw_deinit(rj_ryw_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->w[i].entity);
        free(t->w[i].id);
    }
    t->n = 0;
}

/* Removes entry @p i, keeping the order of the others; returns it for reuse. */
static rj_ryw_write_t
take_at(rj_ryw_t *t, size_t i)
{
    rj_ryw_write_t w = t->w[i];
    memmove(&t->w[i], &t->w[i + 1], (t->n - i - 1) * sizeof t->w[0]);
    t->n--;
    return w;
}

void
rj_ryw_note(rj_ryw_t *t, const char *entity, const char *id, int64_t version)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->w[i].entity, entity) == 0 && strcmp(t->w[i].id, id) == 0) {
            rj_ryw_write_t w = take_at(t, i);
            if (version > w.version)
                w.version = version;
            t->w[t->n++] = w; /* now the newest */
            return;
        }
    }
    if (t->n == RJ_RYW_MAX_WRITES) {
        rj_ryw_write_t old = take_at(t, 0);
        free(old.entity);
        free(old.id);
    }
    t->w[t->n++] =
        (rj_ryw_write_t){.entity = rj_xstrdup(entity), .id = rj_xstrdup(id), .version = version};
}

void
rj_ryw_note_events(rj_ryw_t *t, const json_t *events)
{
    size_t i;
    const json_t *ev;
    json_array_foreach (events, i, ev) {
        const char *entity = json_string_value(json_object_get(ev, "entity"));
        const char *id = json_string_value(json_object_get(ev, "entityId"));
        const json_t *v = json_object_get(ev, "version");
        if (entity != NULL && id != NULL && json_is_integer(v) && json_integer_value(v) >= 1)
            rj_ryw_note(t, entity, id, (int64_t)json_integer_value(v));
    }
}

/* Checks one [entity, id, version] element; NULL when it is fine, else what is wrong. */
static const char *
write_check(const json_t *w)
{
    if (!json_is_array(w) || json_array_size(w) != 3)
        return "a write is not [entity, id, version]";
    const json_t *entity = json_array_get(w, 0), *id = json_array_get(w, 1),
                 *version = json_array_get(w, 2);
    if (!json_is_string(entity) || json_string_length(entity) == 0 ||
        json_string_length(entity) > RJ_RYW_MAX_ENTITY)
        return "an entity name is not a string of 1 to 255 bytes";
    if (!json_is_string(id) || json_string_length(id) == 0 ||
        json_string_length(id) > RJ_ID_MAX_BYTES)
        return "an entity id is not a string of 1 to 1024 bytes";
    if (!json_is_integer(version) || json_integer_value(version) < 1 ||
        json_integer_value(version) > RYW_MAX_VERSION)
        return "a version is not an integer from 1 to 2^53 - 1";
    return NULL;
}

/* The token's JSON, checked whole before anything is noted; NULL with @p why set. */
static json_t *
token_json(const char *token, size_t len, const char **why)
{
    if (len == 0 || len > RJ_RYW_MAX_TOKEN) {
        *why = "it must be 1 to 65536 bytes long";
        return NULL;
    }
    size_t raw_len;
    unsigned char *raw = rj_b64url_decode(token, len, &raw_len);
    if (raw == NULL) {
        *why = "it is not base64url";
        return NULL;
    }
    /* Without JSON_ALLOW_NUL: a name or id holding U+0000 is refused here. */
    json_t *doc = rj_json_loadb((const char *)raw, raw_len, 0, NULL);
    free(raw);
    *why = NULL;
    if (!json_is_array(doc) || json_array_size(doc) < 1 ||
        json_integer_value(json_array_get(doc, 0)) != RYW_FORMAT ||
        !json_is_integer(json_array_get(doc, 0)))
        *why = "it is not a consistency token of this version";
    else if (json_array_size(doc) - 1 > RJ_RYW_MAX_WRITES)
        *why = "it names more than 32 writes";
    for (size_t i = 1; *why == NULL && i < json_array_size(doc); i++)
        *why = write_check(json_array_get(doc, i));
    if (*why != NULL) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

rj_status_t
rj_ryw_note_token(rj_ryw_t *t, const char *token, size_t len, rj_error_t *err)
{
    const char *why;
    json_t *doc = token_json(token, len, &why);
    if (doc == NULL)
        return rj_error_set(err, RJ_EINVAL, "invalid consistency token: %s", why);
    for (size_t i = 1; i < json_array_size(doc); i++) {
        const json_t *w = json_array_get(doc, i);
        rj_ryw_note(t, json_string_value(json_array_get(w, 0)),
                    json_string_value(json_array_get(w, 1)),
                    (int64_t)json_integer_value(json_array_get(w, 2)));
    }
    json_decref(doc);
    return RJ_OK;
}

char *
rj_ryw_encode(const rj_ryw_t *t)
{
    json_t *doc = json_pack("[i]", RYW_FORMAT);
    for (size_t i = 0; i < t->n; i++)
        json_array_append_new(
            doc, json_pack("[s,s,I]", t->w[i].entity, t->w[i].id, (json_int_t)t->w[i].version));
    char *text = json_dumps(doc, JSON_COMPACT);
    RJ_ASSERT(text != NULL);
    json_decref(doc);
    char *token = rj_b64url_encode(text, strlen(text));
    free(text);
    return token;
}
