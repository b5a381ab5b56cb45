/*
 * entities.c - deciding and grouping the representations of an `_entities` call, and
 * placing the rows read back in their order (see entities.h).
 *
 * Deliberately not here: running the statements (exec.c, on the PostgreSQL pool) and
 * resolving anything but read models. Entities, value types and query results are not
 * entities of the subgraph: only read models have a row per id that a gateway can ask for.
 */
#include "entities.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "exec.h"
#include "pg/pg.h"

void
gw_entity_plan_refuse(gw_entity_plan_t *plan, size_t index, const char *message, const char *code)
{
    json_array_append_new(plan->errors, json_pack("{s:I, s:s, s:s}", "index", (json_int_t)index,
                                                  "message", message, "code", code));
}

/* The batch of @p rm, added at the end the first time it is asked for. */
static gw_entity_batch_t *
batch_of(gw_entity_plan_t *plan, const rj_app_read_model_t *rm)
{
    for (size_t i = 0; i < plan->n_batches; i++)
        if (plan->batches[i].rm == rm)
            return &plan->batches[i];
    gw_entity_batch_t *b = &plan->batches[plan->n_batches++];
    *b = (gw_entity_batch_t){.rm = rm};
    return b;
}

/* Appends a key to @p b, taking @p id and @p seq. */
static void
batch_add_take(gw_entity_batch_t *b, size_t slot, char *id, char *seq)
{
    if (b->n == b->cap) {
        b->cap = b->cap > 0 ? b->cap * 2 : 8;
        b->slots = rj_xrealloc(b->slots, b->cap * sizeof *b->slots);
        b->ids = rj_xrealloc(b->ids, b->cap * sizeof *b->ids);
        b->seqs = rj_xrealloc(b->seqs, b->cap * sizeof *b->seqs);
    }
    b->slots[b->n] = slot;
    b->ids[b->n] = id;
    b->seqs[b->n] = seq;
    b->n++;
}

/* True when @p v is an id of more than @p max bytes (a string; numbers are short). */
static bool
too_long(const json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) > max;
}

/* Decides representation @p index: into its batch, or into plan->errors. */
static void
decide(const rj_app_t *app, const json_t *rep, size_t index, const json_t *user,
       size_t max_id_bytes, gw_entity_plan_t *plan)
{
    const char *type = json_string_value(json_object_get(rep, "__typename"));
    if (type == NULL) {
        gw_entity_plan_refuse(plan, index,
                              "a representation must be an object with a string __typename",
                              "InvalidParameterError");
        return;
    }
    const rj_app_read_model_t *rm = rj_app_read_model(app, type);
    if (rm == NULL) {
        /* @apollo/subgraph's words for a type it has no entity of. */
        char *msg = rj_xasprintf("The _entities resolver tried to load an entity for type "
                                 "\"%s\", but no object or interface type of that name was "
                                 "found in the schema",
                                 type);
        gw_entity_plan_refuse(plan, index, msg, "InvalidParameterError");
        free(msg);
        return;
    }
    const json_t *id = json_object_get(rep, "id");
    const json_t *seq = rm->sequenced_by != NULL ? json_object_get(rep, rm->sequenced_by) : NULL;
    if (id == NULL || json_is_null(id) || (rm->sequenced_by != NULL && seq == NULL)) {
        char *msg = rm->sequenced_by != NULL
                        ? rj_xasprintf("a representation of %s needs its key fields id and %s",
                                       type, rm->sequenced_by)
                        : rj_xasprintf("a representation of %s needs its key field id", type);
        gw_entity_plan_refuse(plan, index, msg, "InvalidParameterError");
        free(msg);
        return;
    }
    if (too_long(id, max_id_bytes) || too_long(seq, max_id_bytes)) {
        char *msg = rj_xasprintf("an id must not be longer than %zu bytes", max_id_bytes);
        gw_entity_plan_refuse(plan, index, msg, "InvalidParameterError");
        free(msg);
        return;
    }

    /* Exactly what T(id:) decides: the representation's key fields are its arguments. */
    json_t *args = json_object();
    json_object_set_new(args, "id", json_deep_copy(id));
    if (seq != NULL)
        json_object_set_new(args, rm->sequenced_by, json_deep_copy(seq));
    char *rid = NULL, *rseq = NULL;
    rj_error_t err;
    rj_error_clear(&err);
    rj_status_t st = gw_read_model_key(rm, args, user, &rid, &rseq, &err);
    json_decref(args);
    if (st == RJ_OK && rm->sequenced_by != NULL && rseq == NULL) {
        free(rid);
        st = rj_error_set(&err, RJ_EINVAL, "the sequence key of %s must be a string or a number",
                          rm->name);
    }
    if (st != RJ_OK) {
        gw_entity_plan_refuse(plan, index, err.msg, rj_error_code(&err));
        return;
    }
    batch_add_take(batch_of(plan, rm), index, rid, rseq != NULL ? rseq : rj_xstrdup(""));
}

void
gw_entity_plan_build(const rj_app_t *app, const json_t *representations, const json_t *user,
                     size_t max_id_bytes, gw_entity_plan_t *out)
{
    size_t n = json_array_size(representations);
    size_t kinds = rj_app_read_model_count(app);
    *out = (gw_entity_plan_t){.batches = rj_xcalloc(kinds > 0 ? kinds : 1, sizeof *out->batches),
                              .errors = json_array()};
    for (size_t i = 0; i < n; i++)
        decide(app, json_array_get(representations, i), i, user, max_id_bytes, out);
}

void
gw_entity_plan_deinit(gw_entity_plan_t *plan)
{
    for (size_t i = 0; i < plan->n_batches; i++) {
        gw_entity_batch_t *b = &plan->batches[i];
        for (size_t j = 0; j < b->n; j++) {
            free(b->ids[j]);
            free(b->seqs[j]);
        }
        free(b->slots);
        free(b->ids);
        free(b->seqs);
    }
    free(plan->batches);
    json_decref(plan->errors);
    *plan = (gw_entity_plan_t){0};
}

char *
gw_entity_batch_sql(const char *table)
{
    /* A semi-join: a key sent twice still reads its row once, and (id, seq) is the
       table's primary key, so this is one index probe per distinct key. */
    return rj_xasprintf("SELECT coalesce(json_agg(json_build_array(id, seq, value)), '[]')::text "
                        "FROM %s WHERE (id, seq) IN "
                        "(SELECT * FROM unnest($1::text[], $2::text[]))",
                        table);
}

void
gw_entity_batch_params(const gw_entity_batch_t *b, char **ids, char **seqs)
{
    *ids = rj_pg_array_literal((const char *const *)b->ids, b->n);
    *seqs = rj_pg_array_literal((const char *const *)b->seqs, b->n);
}

/* An unambiguous index key for (id, seq): the id's length first, then both. */
static char *
key_of(const char *id, const char *seq)
{
    return rj_xasprintf("%zu:%s%s", strlen(id), id, seq);
}

void
gw_entity_batch_place(const gw_entity_batch_t *b, const json_t *rows, json_t *result)
{
    /* key -> the slots asking for it (a gateway may send one key twice), so that placing
       n rows costs n lookups, not n times the batch. */
    json_t *index = json_object();
    for (size_t i = 0; i < b->n; i++) {
        char *k = key_of(b->ids[i], b->seqs[i]);
        json_t *slots = json_object_get(index, k);
        if (slots == NULL)
            json_object_set_new(index, k, slots = json_array());
        json_array_append_new(slots, json_integer((json_int_t)b->slots[i]));
        free(k);
    }
    size_t r;
    const json_t *row;
    json_array_foreach (rows, r, row) {
        const char *id = json_string_value(json_array_get(row, 0));
        const char *seq = json_string_value(json_array_get(row, 1));
        json_t *value = json_array_get(row, 2);
        if (id == NULL || seq == NULL || !json_is_object(value))
            continue;
        char *k = key_of(id, seq);
        size_t j;
        const json_t *slot;
        json_array_foreach (json_object_get(index, k), j, slot) {
            json_t *entity = json_copy(value);
            json_object_set_new(entity, "__typename", json_string(b->rm->name));
            json_array_set_new(result, (size_t)json_integer_value(slot), entity);
        }
        free(k);
    }
    json_decref(index);
}
