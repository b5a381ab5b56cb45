/*
 * eventstore/store.c - event envelopes to bulk-insert parameters (see store.h).
 */
#include "store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pg/pg.h"

/*
 * "current_user" is a reserved word in PostgreSQL, hence the quotes. The unnest
 * casts do the type checking: a createdAt the decoder let through but PostgreSQL
 * cannot read fails the whole statement (RJ_EINVAL), which the loop retries and
 * eventually reports, rather than being dropped silently.
 */
const char es_insert_sql[] =
    "INSERT INTO events (event_id, entity_type, entity_id, version, type, request_id,"
    " created_at, value, \"current_user\")"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[],"
    " $6::text[], $7::timestamptz[], $8::jsonb[], $9::jsonb[])"
    " ON CONFLICT DO NOTHING";

/* Per event, the texts it needs beside its envelope's own strings. */
enum { TXT_VERSION, TXT_VALUE, TXT_USER, NTXT };

void
es_batch_init(es_batch_t *b)
{
    memset(b, 0, sizeof *b);
}

void
es_batch_deinit(es_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        rj_env_event_deinit(&b->envs[i]);
    for (size_t i = 0; i < b->n * NTXT; i++)
        free(b->texts[i]);
    for (size_t c = 0; c < ES_NCOLS; c++)
        free(b->params[c]);
    free(b->envs);
    free(b->texts);
    es_batch_init(b);
}

rj_status_t
es_batch_add(es_batch_t *b, const char *payload, size_t len, rj_error_t *err)
{
    rj_env_event_t env;
    rj_status_t st = rj_env_event_decode(payload != NULL ? payload : "", len, &env, err);
    if (st != RJ_OK)
        return st;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->envs = rj_xrealloc(b->envs, b->cap * sizeof *b->envs);
        b->texts = rj_xrealloc(b->texts, b->cap * NTXT * sizeof *b->texts);
    }
    char **t = &b->texts[b->n * NTXT];
    t[TXT_VERSION] = rj_xasprintf("%" PRId64, env.version);
    t[TXT_VALUE] = rj_json_dumps(env.value);
    t[TXT_USER] = env.current_user != NULL ? rj_json_dumps(env.current_user) : NULL;
    b->envs[b->n++] = env;
    return RJ_OK;
}

const char *const *
es_batch_params(es_batch_t *b)
{
    RJ_ASSERT(b->n > 0);
    if (b->params[0] != NULL)
        return (const char *const *)b->params;
    /* One column at a time through a reused pointer array, so each literal is built
     * by the pg layer's quoting and nothing here knows array syntax. */
    const char **col = rj_xmalloc(b->n * sizeof *col);
    for (size_t c = 0; c < ES_NCOLS; c++) {
        for (size_t i = 0; i < b->n; i++) {
            const rj_env_event_t *e = &b->envs[i];
            char *const *t = &b->texts[i * NTXT];
            switch (c) {
            case ES_COL_EVENT_ID:
                col[i] = e->event_id;
                break;
            case ES_COL_ENTITY_TYPE:
                col[i] = e->entity;
                break;
            case ES_COL_ENTITY_ID:
                col[i] = e->entity_id;
                break;
            case ES_COL_VERSION:
                col[i] = t[TXT_VERSION];
                break;
            case ES_COL_TYPE:
                col[i] = e->type;
                break;
            case ES_COL_REQUEST_ID:
                col[i] = e->request_id;
                break;
            case ES_COL_CREATED_AT:
                col[i] = e->created_at;
                break;
            case ES_COL_VALUE:
                col[i] = t[TXT_VALUE];
                break;
            case ES_COL_CURRENT_USER:
                col[i] = t[TXT_USER];
                break;
            }
        }
        b->params[c] = rj_pg_array_literal(col, b->n);
    }
    free(col);
    return (const char *const *)b->params;
}
