/*
 * projector/rebuild.c - folding events and projecting every state into an in-memory read
 * model, for `ramjet replay` (see rebuild.h).
 */
#include "rebuild.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "log/log.h"
#include "projector/query.h"

#define REBUILD_LOG "replay"

int64_t
proj_rm_lock_key(const char *app_name, const char *read_model)
{
    /* FNV-1a, 64 bits: tiny, well known, and the same on every platform. */
    uint64_t h = 14695981039346656037ULL;
    const char *parts[] = {"ramjet.rm.", app_name, ".", read_model};
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++)
        for (const unsigned char *s = (const unsigned char *)parts[p]; *s != '\0'; s++) {
            h ^= *s;
            h *= 1099511628211ULL;
        }
    int64_t key;
    memcpy(&key, &h, sizeof key); /* the same 64 bits as PostgreSQL's signed bigint */
    return key;
}

void
proj_rebuild_init(proj_rebuild_t *rb, const rj_app_t *app, const rj_app_read_model_t *rm,
                  size_t max_matches)
{
    memset(rb, 0, sizeof *rb);
    rb->app = app;
    rb->rm = rm;
    rb->max_matches = max_matches > 0 ? max_matches : 1;
    proj_batch_init(&rb->rows);
    wk_index_init(&rb->entity_index);
}

void
proj_rebuild_deinit(proj_rebuild_t *rb)
{
    for (size_t i = 0; i < rb->n_entities; i++) {
        free(rb->entities[i].id);
        json_decref(rb->entities[i].state);
    }
    free(rb->entities);
    wk_index_deinit(&rb->entity_index);
    proj_batch_deinit(&rb->rows);
    memset(rb, 0, sizeof *rb);
}

bool
proj_rebuild_projects(const proj_rebuild_t *rb, const rj_app_entity_t *entity)
{
    for (size_t p = 0; entity != NULL && p < entity->n_projections; p++)
        if (entity->projections[p]->read_model == rb->rm)
            return true;
    return false;
}

const proj_rb_entity_t *
proj_rebuild_entity(const proj_rebuild_t *rb, const char *type, const char *id)
{
    const char *key[] = {type, id};
    size_t i;
    return wk_index_find(&rb->entity_index, key, 2, &i) ? &rb->entities[i] : NULL;
}

static proj_rb_entity_t *
entity_get(proj_rebuild_t *rb, const rj_app_entity_t *type, const char *id)
{
    const char *key[] = {type->name, id};
    size_t i = rb->n_entities;
    if (wk_index_upsert(&rb->entity_index, key, 2, &i))
        return &rb->entities[i];
    if (rb->n_entities == rb->cap_entities) {
        rb->cap_entities = rb->cap_entities ? rb->cap_entities * 2 : 256;
        rb->entities = rj_xrealloc(rb->entities, rb->cap_entities * sizeof *rb->entities);
    }
    rb->entities[i] = (proj_rb_entity_t){.type = type->name, .id = rj_xstrdup(id)};
    rb->n_entities++;
    return &rb->entities[i];
}

static void
project_error(proj_rebuild_t *rb, const proj_rb_entity_t *e, const char *id, const rj_error_t *err)
{
    rb->n_projection_errors++;
    rj_warn(REBUILD_LOG,
            "could not project %s into %s, skipped as the projector does: %s entity=%s/%s "
            "id=%s version=%" PRId64,
            e->type, rb->rm->name, err->msg, e->type, e->id, id != NULL ? id : "(none)",
            e->version);
}

/* A field or array join key: one projection per read-model id, as visit_projections. */
static void
project_by_field(proj_rebuild_t *rb, const proj_rb_entity_t *e, const rj_app_projection_t *proj)
{
    char **ids;
    size_t n_ids = proj_join_ids(e->state, proj->join_field, &ids);
    char *seq = proj_sequence_key(rb->rm, e->state);
    for (size_t k = 0; k < n_ids; k++) {
        proj_row_t *row = proj_batch_row(&rb->rows, rb->rm->name, ids[k], seq);
        rj_app_project_action_t action;
        json_t *out = NULL;
        rj_error_t err;
        rj_error_clear(&err);
        if (rj_app_project(proj, e->state, ids[k], row->value, &action, &out, &err) == RJ_OK)
            proj_row_apply(row, action, out);
        else
            project_error(rb, e, ids[k], &err);
    }
    free(seq);
    for (size_t k = 0; k < n_ids; k++)
        free(ids[k]);
    free(ids);
}

/*
 * A read-model-query join key, as the projector's project_by_query, except that every row
 * of the read model is in the cache: the filter is matched there alone.
 */
static void
project_by_query(proj_rebuild_t *rb, const proj_rb_entity_t *e, const rj_app_projection_t *proj)
{
    json_t *filter = NULL;
    rj_error_t err;
    rj_error_clear(&err);
    if (rj_app_projection_query(proj, e->state, &filter, &err) != RJ_OK) {
        project_error(rb, e, NULL, &err);
        return;
    }
    if (filter == NULL)
        return; /* the join key asked to skip the projection */
    size_t *idx = NULL;
    size_t n = proj_query_cached(&rb->rows, rb->rm->name, filter, &idx);
    json_decref(filter);
    if (n > rb->max_matches) {
        rj_error_set(&err, RJ_ETOOBIG,
                     "the join key's filter matches more than %zu read models "
                     "(--query-max-matches)",
                     rb->max_matches);
        project_error(rb, e, NULL, &err);
        free(idx);
        return;
    }
    /* No row is added below, so the pointers into rows stay valid. */
    for (size_t k = 0; k < (n > 0 ? n : 1); k++) {
        proj_row_t *row = n > 0 ? &rb->rows.rows[idx[k]] : NULL;
        rj_app_project_action_t action;
        json_t *out = NULL;
        rj_error_clear(&err);
        if (rj_app_project(proj, e->state, row != NULL ? row->id : NULL,
                           row != NULL ? row->value : NULL, &action, &out, &err) != RJ_OK) {
            project_error(rb, e, row != NULL ? row->id : NULL, &err);
        } else if (row != NULL) {
            proj_row_apply(row, action, out);
        } else if (action == RJ_APP_PROJECT_WRITE) {
            json_decref(out);
            rj_error_set(&err, RJ_ESCHEMA,
                         "the projection returned a read model although its join key matched "
                         "none (return RJ_NOTHING)");
            project_error(rb, e, NULL, &err);
        }
    }
    free(idx);
}

proj_rb_outcome_t
proj_rebuild_event(proj_rebuild_t *rb, const char *entity, const char *id, int64_t version,
                   const char *type, const json_t *value)
{
    const rj_app_entity_t *model = rj_app_entity(rb->app, entity);
    if (!proj_rebuild_projects(rb, model))
        return PROJ_RB_UNKNOWN;
    proj_rb_entity_t *e = entity_get(rb, model, id);
    if (version <= e->version)
        return PROJ_RB_ALREADY;
    if (version != e->version + 1)
        return PROJ_RB_GAP;

    json_t *next = NULL;
    rj_error_t err;
    rj_error_clear(&err);
    if (rj_app_reduce(rb->app, entity, type, value, e->state, &next, &err) == RJ_OK) {
        json_decref(e->state);
        e->state = next;
    } else {
        rj_warn(REBUILD_LOG,
                "skipping event as the reducer does: %s entity=%s/%s version=%" PRId64 " event=%s",
                err.msg, entity, id, version, type);
    }
    e->version = version;
    rb->n_events++;
    if (e->state == NULL)
        return PROJ_RB_FOLDED; /* no state yet: the reducer publishes no snapshot */

    /* In binding order; field join keys before query ones, as the projector runs them. */
    for (size_t p = 0; p < model->n_projections; p++) {
        const rj_app_projection_t *proj = model->projections[p];
        if (proj->read_model == rb->rm && proj->join_query == NULL)
            project_by_field(rb, e, proj);
    }
    for (size_t p = 0; p < model->n_projections; p++) {
        const rj_app_projection_t *proj = model->projections[p];
        if (proj->read_model == rb->rm && proj->join_query != NULL)
            project_by_query(rb, e, proj);
    }
    return PROJ_RB_FOLDED;
}
