/*
 * projector/query.c - read-model-query join keys: the paged match statement and the
 * matches in the batch's row cache (see query.h).
 */
#include "query.h"

#include <stdlib.h>
#include <string.h>

rj_status_t
proj_query_build(const char *table, const json_t *filter, const char *after_id,
                 const char *after_seq, rj_buf_t *sql, rj_rs_params_t *params, rj_error_t *err)
{
    rj_buf_reset(sql);
    rj_rs_params_deinit(params);
    rj_buf_printf(sql, "SELECT id, seq, version, value::text FROM %s WHERE ", table);
    rj_status_t st = rj_rs_filter_sql(filter, sql, params, err);
    if (st != RJ_OK)
        return st;
    /* Keyset paging: rows committed by others between two pages cannot shift a page the
     * way OFFSET would, and (id, seq) is the primary key, so each page is an index range. */
    if (after_id != NULL) {
        size_t i = rj_rs_params_add(params, 't', after_id);
        size_t s = rj_rs_params_add(params, 't', after_seq != NULL ? after_seq : "");
        rj_buf_printf(sql, " AND (id, seq) > ($%zu::text, $%zu::text)", i, s);
    }
    rj_buf_printf(sql, " ORDER BY id, seq LIMIT %d", PROJ_QUERY_PAGE);
    return RJ_OK;
}

/* A match being sorted: the row, and its index in the batch. */
typedef struct match {
    const proj_row_t *row; /* borrowed from the batch */
    size_t index;          /* its index in b->rows */
} match_t;

static int
by_key(const void *a, const void *b)
{
    const proj_row_t *x = ((const match_t *)a)->row, *y = ((const match_t *)b)->row;
    int c = strcmp(x->id, y->id);
    return c != 0 ? c : strcmp(x->seq, y->seq);
}

size_t
proj_query_cached(const proj_batch_t *b, const char *read_model, const json_t *filter,
                  size_t **idx)
{
    *idx = NULL;
    match_t *m = rj_xmalloc((b->n_rows + 1) * sizeof *m);
    size_t n = 0;
    for (size_t r = 0; r < b->n_rows; r++) {
        const proj_row_t *row = &b->rows[r];
        if (row->value != NULL && strcmp(row->read_model, read_model) == 0 &&
            rj_rs_filter_match(filter, row->value))
            m[n++] = (match_t){.row = row, .index = r};
    }
    qsort(m, n, sizeof *m, by_key);
    if (n > 0) {
        *idx = rj_xmalloc(n * sizeof **idx);
        for (size_t i = 0; i < n; i++)
            (*idx)[i] = m[i].index;
    }
    free(m);
    return n;
}
