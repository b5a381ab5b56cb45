/*
 * projector/query.h - read-model-query join keys (booster-surface.md §8.3): finding the
 * read models a join key's filter matches, in PostgreSQL and in the batch's row cache.
 *
 * A projection bound with rj_app_on_project_query runs once per stored read model its
 * join key's filter matches. The projector looks them up inside its batch transaction
 * with the read side's filter compiler (every value a bound parameter), paging through
 * the table by (id, seq) so no single result grows with the number of matches, and adds
 * each one to the batch's row cache. The cache then decides: a row an earlier projection
 * of the batch created, changed or deleted matches (or not) by its value *now*, so the
 * query sees the batch's own writes, which the table does not hold yet.
 *
 * Pure except for the statement text: no I/O here (main.c runs the pages).
 */
#ifndef PROJ_QUERY_H
#define PROJ_QUERY_H

#include <jansson.h>
#include <stddef.h>

#include "core/core.h"
#include "projector/plan.h"
#include "readside/readside.h"
#include "rj/status.h"

/* Rows fetched per page of a match query. */
#define PROJ_QUERY_PAGE 500

/**
 * Builds one page of the match statement over a read-model table:
 *
 *   SELECT id, seq, version, value::text FROM <table>
 *   WHERE <filter> [AND (id, seq) > ($i, $s)] ORDER BY id, seq LIMIT PROJ_QUERY_PAGE
 *
 * @param table      the quoted table name (rj_pg_read_model_table); borrowed
 * @param filter     the join key's filter (the read side's filter language); borrowed
 * @param after_id   the (id, seq) of the last row of the previous page, or NULL for the
 * @param after_seq  first page; borrowed
 * @param sql        cleared, then filled
 * @param params     cleared, then filled
 * @return RJ_OK, or RJ_EINVAL when the filter is malformed (from rj_rs_filter_sql)
 */
rj_status_t proj_query_build(const char *table, const json_t *filter, const char *after_id,
                             const char *after_seq, rj_buf_t *sql, rj_rs_params_t *params,
                             rj_error_t *err);

/**
 * The rows of @p read_model in the batch's cache whose current value matches @p filter
 * (absent rows never match), ordered by (id, seq) so projections run in the same order on
 * every replica and every retry.
 *
 * @param idx  set to a new array of indices into b->rows (free() it), or NULL when none
 * @return the number of matches
 */
size_t proj_query_cached(const proj_batch_t *b, const char *read_model, const json_t *filter,
                         size_t **idx);

#endif
