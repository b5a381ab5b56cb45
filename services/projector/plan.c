/*
 * projector/plan.c - newest snapshot per entity, the row cache and write planning
 * (see plan.h).
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void
proj_batch_init(proj_batch_t *b)
{
    memset(b, 0, sizeof *b);
    wk_index_init(&b->entity_index);
    wk_index_init(&b->row_index);
}

static void
rows_clear(proj_batch_t *b)
{
    for (size_t i = 0; i < b->n_rows; i++) {
        free(b->rows[i].id);
        free(b->rows[i].seq);
        json_decref(b->rows[i].value);
    }
    b->n_rows = 0;
    wk_index_reset(&b->row_index);
}

void
proj_batch_deinit(proj_batch_t *b)
{
    rows_clear(b);
    for (size_t i = 0; i < b->n_snaps; i++)
        rj_env_snapshot_deinit(&b->snaps[i].env);
    free(b->snaps);
    free(b->entities);
    free(b->rows);
    wk_index_deinit(&b->entity_index);
    wk_index_deinit(&b->row_index);
    proj_batch_init(b);
}

rj_status_t
proj_batch_add(proj_batch_t *b, const char *payload, size_t len, size_t msg, rj_error_t *err)
{
    rj_env_snapshot_t env;
    rj_status_t st = rj_env_snapshot_decode(payload != NULL ? payload : "", len, &env, err);
    if (st != RJ_OK)
        return st;
    if (b->n_snaps == b->cap_snaps) {
        b->cap_snaps = b->cap_snaps ? b->cap_snaps * 2 : 256;
        b->snaps = rj_xrealloc(b->snaps, b->cap_snaps * sizeof *b->snaps);
    }
    size_t s = b->n_snaps++;
    b->snaps[s] = (proj_snap_t){.env = env, .msg = msg};

    /* Older snapshots stay in snaps (they own their documents, and the index's keys
     * were copied from the first one); only the entity's pointer moves forward. */
    const char *key[] = {env.entity, env.entity_id};
    size_t ent = b->n_entities;
    if (wk_index_upsert(&b->entity_index, key, 2, &ent)) {
        proj_entity_t *e = &b->entities[ent];
        if (env.version > b->snaps[e->snap].env.version)
            e->snap = s;
        return RJ_OK;
    }
    if (b->n_entities == b->cap_entities) {
        b->cap_entities = b->cap_entities ? b->cap_entities * 2 : 64;
        b->entities = rj_xrealloc(b->entities, b->cap_entities * sizeof *b->entities);
    }
    b->entities[b->n_entities++] = (proj_entity_t){.snap = s};
    return RJ_OK;
}

const rj_env_snapshot_t *
proj_entity_snapshot(const proj_batch_t *b, const proj_entity_t *e)
{
    return &b->snaps[e->snap].env;
}

proj_entity_t *
proj_batch_find_entity(proj_batch_t *b, const char *entity, const char *id)
{
    const char *key[] = {entity, id};
    size_t ent;
    return wk_index_find(&b->entity_index, key, 2, &ent) ? &b->entities[ent] : NULL;
}

bool
proj_entity_live(const proj_batch_t *b, const proj_entity_t *e)
{
    return b->snaps[e->snap].env.version > e->projected;
}

void
proj_batch_reset(proj_batch_t *b)
{
    rows_clear(b);
    for (size_t i = 0; i < b->n_entities; i++)
        b->entities[i].projected = 0;
}

proj_row_t *
proj_batch_row(proj_batch_t *b, const char *read_model, const char *id, const char *seq)
{
    const char *key[] = {read_model, id, seq};
    size_t r = b->n_rows;
    if (wk_index_upsert(&b->row_index, key, 3, &r))
        return &b->rows[r];
    if (b->n_rows == b->cap_rows) {
        b->cap_rows = b->cap_rows ? b->cap_rows * 2 : 64;
        b->rows = rj_xrealloc(b->rows, b->cap_rows * sizeof *b->rows);
    }
    b->rows[r] = (proj_row_t){
        .read_model = read_model,
        .id = rj_xstrdup(id),
        .seq = rj_xstrdup(seq),
    };
    b->n_rows++;
    return &b->rows[r];
}

void
proj_row_set_loaded(proj_row_t *r, int64_t version, json_t *value)
{
    json_decref(r->value);
    r->value = value;
    r->loaded_exists = true;
    r->loaded_version = version;
}

int
proj_row_ptr_cmp(const void *a, const void *b)
{
    const proj_row_t *x = *(const proj_row_t *const *)a, *y = *(const proj_row_t *const *)b;
    int c = strcmp(x->id, y->id);
    return c != 0 ? c : strcmp(x->seq, y->seq);
}

void
proj_row_apply(proj_row_t *r, rj_app_project_action_t action, json_t *out)
{
    switch (action) {
    case RJ_APP_PROJECT_WRITE:
        RJ_ASSERT(out != NULL);
        json_decref(r->value);
        r->value = out;
        r->touched = true;
        return;
    case RJ_APP_PROJECT_DELETE:
        json_decref(r->value);
        r->value = NULL;
        r->touched = true;
        return;
    case RJ_APP_PROJECT_NOTHING:
        /* Booster's ReadModelAction.Nothing: no write and nobody notified. */
        return;
    }
}

proj_write_t
proj_row_write(const proj_row_t *r, int64_t *version)
{
    if (!r->touched)
        return PROJ_WRITE_NONE;
    if (r->value != NULL) {
        *version = r->loaded_version + 1;
        return PROJ_WRITE_UPSERT;
    }
    if (r->loaded_exists) {
        *version = r->loaded_version + 1;
        return PROJ_WRITE_DELETE;
    }
    return PROJ_WRITE_NONE; /* created and deleted within the batch, or deleted twice */
}

static void
ids_push(char ***ids, size_t *n, char *id)
{
    if (id == NULL)
        return;
    if (id[0] == '\0') {
        free(id);
        return;
    }
    *ids = rj_xrealloc(*ids, (*n + 1) * sizeof **ids);
    (*ids)[(*n)++] = id;
}

size_t
proj_join_ids(const json_t *entity, const char *join_field, char ***ids)
{
    *ids = NULL;
    size_t n = 0;
    const json_t *v = json_object_get(entity, join_field);
    if (json_is_array(v)) {
        size_t i;
        const json_t *el;
        json_array_foreach(v, i, el) ids_push(ids, &n, rj_app_id_string(el));
    } else if (v != NULL) {
        ids_push(ids, &n, rj_app_id_string(v));
    }
    return n;
}

char *
proj_sequence_key(const rj_app_read_model_t *rm, const json_t *entity)
{
    char *seq = NULL;
    if (rm->sequenced_by != NULL)
        seq = rj_app_id_string(json_object_get(entity, rm->sequenced_by));
    return seq != NULL ? seq : rj_xstrdup("");
}
