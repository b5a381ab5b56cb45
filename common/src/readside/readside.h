/*
 * readside/readside.h - the query side of read models and the events API: Booster's
 * filters, sorting and cursor pagination compiled to SQL over the read-model tables, the
 * same filters evaluated in memory for subscriptions, and the eventsByEntity/eventsByType
 * queries (reference/booster-surface.md §4-§7).
 *
 * A read model is stored as rows of rm_<lower(name)>(id, seq, version, value jsonb,
 * updated_at) (docs/architecture.md). A filter is the coerced GraphQL argument: a JSON
 * object read *structurally*, the same way by the SQL compiler and by the evaluator:
 *
 *   - `and: [F]`, `or: [F]`, `not: F` combine filters over the same object;
 *   - `isDefined`, `eq`, `ne`, `lt`, `lte`, `gt`, `gte`, `in`, `beginsWith`, `contains`,
 *     `regex`, `iRegex`, `includes` test the value at the current path;
 *   - any other key is a field name: its value is a filter on that field (a property
 *     filter, or a class filter with further fields, to any depth);
 *   - sibling keys are ANDed; a key whose filter or operand is null is ignored (graphql-js
 *     hands explicit nulls through), except `eq: null` / `ne: null`, which test for JSON
 *     null (ne: present and not null).
 *
 * A field named like an operator therefore reads as the operator; the generated schema
 * never produces such a name for Booster-style models (class fields are the app's own).
 *
 * Semantics, shared by SQL and evaluator: numbers compare numerically, strings by bytes
 * (COLLATE "C", JavaScript's order for the BMP); `gt` and friends only match values of
 * the operand's JSON type; `eq`, `in` and `includes` with an object operand follow jsonb
 * rules (`eq`: deep equality; `includes`: some element contains the operand, i.e.
 * Booster's partial `$elemMatch`); `beginsWith`/`contains` are literal; `regex`/`iRegex`
 * are POSIX regular expressions (PostgreSQL `~`/`~*`); a missing value fails every test
 * except `ne`, `not` and `isDefined: false`.
 *
 * Values never appear in SQL text: every value, every field name and every path is a
 * bound parameter ($n::jsonb, $n::text, $n::text[]); the SQL text holds only fixed
 * fragments, the quoted table name and parameter numbers.
 *
 * Not here: authorization and read-model before hooks (the gateway has the user and
 * runs them), GraphQL argument coercion (the engine), and the by-id query (one
 * prepared statement in the gateway).
 */
#ifndef RJ_READSIDE_H
#define RJ_READSIDE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "app/app.h"
#include "core/core.h"
#include "pg/pg.h"
#include "rj/status.h"

/**
 * Items per page of a List query without `limit`, and the step of its cursor.
 * Booster's Azure provider pages by 100 and its integration test expects cursor
 * {"id": "100"} for a first page without limit; the local provider's "1" is a bug
 * (booster-surface.md §5). Capping the page (rather than returning every row with a
 * cursor of 100) keeps the cursor honest: following it never repeats or skips rows.
 */
#define RJ_RS_PAGE_SIZE 100

/* ---- bound parameters ---- */

/** The text parameters of a built statement, $1..$n. Caller-owned storage: _init/_deinit. */
typedef struct rj_rs_params {
    char **values; /* n NUL-terminated strings, owned; never NULL elements */
    char *kinds;   /* per value the cast it is used with: 'j' jsonb, 't' text, 'a' text[],
                      'n' bigint (equal values are shared only within a kind) */
    size_t n;      /* number of parameters */
    size_t cap;    /* allocated slots */
    size_t *index; /* open-addressing table of 1 + value index, 0 for empty; finds an equal
                      (kind, value) without a scan, so a filter of many values stays linear */
    size_t nindex; /* its slots, a power of two (0 before the first value) */
} rj_rs_params_t;

void rj_rs_params_init(rj_rs_params_t *p);
/** Frees every value; @p p may be reused after rj_rs_params_init. */
void rj_rs_params_deinit(rj_rs_params_t *p);
/** The values as libpq wants them (valid until @p p changes). Borrowed. */
const char *const *rj_rs_params_values(const rj_rs_params_t *p);
/**
 * Adds a parameter for a caller that extends a built statement with conditions of its own
 * (rj_rs_filter_sql's callers): @p value is copied and used with cast @p kind ('t', 'j',
 * 'a' or 'n', as in kinds); an equal value of the same kind is shared.
 *
 * @return its number n, to be written $n::<cast> in the SQL text
 */
size_t rj_rs_params_add(rj_rs_params_t *p, char kind, const char *value);

/* ---- pages ---- */

/** One page of a List query. */
typedef struct rj_rs_page {
    long limit;  /* rows to return: the `limit` argument, or RJ_RS_PAGE_SIZE */
    long offset; /* rows to skip: afterCursor.id, or 0 */
} rj_rs_page_t;

/**
 * Reads the List query's `limit` and `afterCursor` arguments.
 *
 * @param limit         the `limit` argument: NULL or JSON null for none, else an integer
 *                      >= 0; borrowed
 * @param after_cursor  the `afterCursor` argument: NULL/null, or Booster's cursor
 *                      {"id": "<offset>"} (a decimal string or an integer >= 0; other keys
 *                      are ignored); borrowed
 * @param page          on RJ_OK the page; untouched otherwise
 * @return RJ_OK, or RJ_EINVAL with "could not read the page: ..." when either is malformed
 */
rj_status_t rj_rs_page_from_args(const json_t *limit, const json_t *after_cursor,
                                 rj_rs_page_t *page, rj_error_t *err);

/**
 * Wraps a page of items into Booster's connection {items, count, cursor}: count is the
 * number of items in this page, cursor {"id": "<offset + limit>"} (always present, even on
 * the last page: clients stop when count is 0).
 *
 * @param items  a JSON array; taken (consumed even when it is not an array)
 * @return a new object, or NULL when @p items is not an array
 *
 * Ownership: the caller owns the result; @p items is consumed.
 */
json_t *rj_rs_connection_take(json_t *items, const rj_rs_page_t *page);

/* ---- building SQL ---- */

/**
 * Builds the statement of a List (or plural) query on @p rm. The statement returns one
 * row with one text column: a JSON array of the matching values, in order (`[]` when none),
 * which fits a runner that only reads the first value (the gateway's pool).
 *
 * Order: the keys of @p sort_by in its object order, each "ASC"/"DESC" or a nested object
 * of further keys; within a key strings sort before other types, strings by bytes, numbers
 * numerically, missing values last in either direction; then id and seq, so pages are
 * stable.
 *
 * @param rm       the read model; borrowed
 * @param filter   the filter (see the header comment), NULL or JSON null for none; borrowed
 * @param sort_by  the sortBy object, NULL or JSON null for none; borrowed
 * @param page     the page, or NULL for every matching row (the deprecated plural query)
 * @param sql      cleared, then filled with the statement
 * @param params   cleared, then filled with its parameters
 * @return RJ_OK, or RJ_EINVAL with "could not build the read-model query: ..." when the
 *         filter or sortBy is not shaped as the schema makes it (@p sql and @p params then
 *         hold partial output; discard them)
 *
 * Ownership: @p sql and @p params are the caller's. Any thread; touches no connection.
 */
rj_status_t rj_rs_query_build(const rj_app_read_model_t *rm, const json_t *filter,
                              const json_t *sort_by, const rj_rs_page_t *page, rj_buf_t *sql,
                              rj_rs_params_t *params, rj_error_t *err);

/**
 * Appends the SQL boolean of @p filter over the column `value` to @p sql, adding its
 * parameters to @p params (numbered after those already there). Never SQL NULL.
 * Used by rj_rs_query_build; exposed for callers that add conditions of their own.
 *
 * @return RJ_OK or RJ_EINVAL as rj_rs_query_build
 */
rj_status_t rj_rs_filter_sql(const json_t *filter, rj_buf_t *sql, rj_rs_params_t *params,
                             rj_error_t *err);

/* ---- running queries (one connection, the caller's thread) ---- */

/**
 * Runs a List query: `List<Xs>(filter, limit, sortBy, afterCursor)`.
 *
 * @param limit, after_cursor  the raw arguments (see rj_rs_page_from_args); borrowed
 * @param connection  on RJ_OK {items, count, cursor}, a new reference
 * @return RJ_OK; RJ_EINVAL for a malformed argument; rj_pg_exec's statuses (RJ_ERETRY,
 *         RJ_EIO: an invalid regular expression is reported by PostgreSQL this way)
 */
rj_status_t rj_rs_list(rj_pg_t *pg, const rj_app_read_model_t *rm, const json_t *filter,
                       const json_t *sort_by, const json_t *limit, const json_t *after_cursor,
                       json_t **connection, rj_error_t *err);

/**
 * Runs the deprecated plural query `<Xs>(filter)`: every matching row, ordered by id.
 *
 * @param items  on RJ_OK a new JSON array
 * @return as rj_rs_list
 */
rj_status_t rj_rs_search(rj_pg_t *pg, const rj_app_read_model_t *rm, const json_t *filter,
                         json_t **items, rj_error_t *err);

/**
 * Creates the indexes the List queries of @p rm use, when missing: the GIN index on
 * `value jsonb_path_ops` that serves eq/in/includes (compiled to `value @> $n`). Creates
 * the table too when missing (rj_pg_ensure_read_model_table). Idempotent.
 */
rj_status_t rj_rs_ensure_indexes(rj_pg_t *pg, const rj_app_read_model_t *rm, rj_error_t *err);

/* ---- in-memory evaluation (subscriptions) ---- */

/**
 * Whether @p value satisfies @p filter, with exactly the semantics of the SQL compiler.
 *
 * @param filter  NULL or JSON null matches everything; borrowed
 * @param value   the read model value; borrowed
 * @return true on a match; false otherwise, and for a malformed filter (where the SQL
 *         compiler reports RJ_EINVAL) or an invalid regular expression
 *
 * Any thread; no allocation survives the call.
 */
bool rj_rs_filter_match(const json_t *filter, const json_t *value);

/* ---- events API ---- */

/**
 * Builds the events query: `eventsByEntity` when @p entity is set, `eventsByType` when
 * @p type is. One row, one text column: a JSON array of Booster's EventQueryResponse
 * items {type, entity, entityID, requestID, user, createdAt, value}, newest first; `user`
 * is {id, username, roles} or null; createdAt is ISO-8601 UTC with milliseconds, and
 * @p from / @p to compare to it as strings (createdAt >= from, createdAt <= to), so
 * prefixes such as "2021" work.
 *
 * @param entity     entity type name, or NULL
 * @param entity_id  restricts @p entity to one instance; NULL for all
 * @param type       event type name, or NULL
 * @param from, to   bounds, or NULL
 * @param limit      the newest @p limit events; <= 0 for all (JavaScript truthiness, as
 *                   Booster's `if (limit)`)
 * @return RJ_OK, or RJ_EINVAL when both or neither of @p entity and @p type are given
 */
rj_status_t rj_rs_events_query_build(const char *entity, const char *entity_id, const char *type,
                                     const char *from, const char *to, long limit, rj_buf_t *sql,
                                     rj_rs_params_t *params, rj_error_t *err);

/**
 * Runs `eventsByEntity(entity, entityID, from, to, limit)`. Authorization (the entity's
 * authorizeReadEvents) is the caller's.
 *
 * @param out  on RJ_OK a new JSON array (see rj_rs_events_query_build)
 * @return RJ_OK or rj_pg_exec's statuses
 */
rj_status_t rj_rs_events_by_entity(rj_pg_t *pg, const char *entity, const char *entity_id,
                                   const char *from, const char *to, long limit, json_t **out,
                                   rj_error_t *err);

/** Runs `eventsByType(type, from, to, limit)`, as rj_rs_events_by_entity. */
rj_status_t rj_rs_events_by_type(rj_pg_t *pg, const char *type, const char *from, const char *to,
                                 long limit, json_t **out, rj_error_t *err);

/**
 * Creates the index eventsByEntity needs without an entityID, (entity_type, created_at),
 * when missing; the per-entity and per-type indexes come with rj_pg_migrate. Idempotent.
 */
rj_status_t rj_rs_ensure_event_indexes(rj_pg_t *pg, rj_error_t *err);

#endif
