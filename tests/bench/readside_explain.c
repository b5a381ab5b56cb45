/*
 * readside_explain.c - the plans of read-side queries, for tests/bench/readside.mjs: which
 * index serves each List query and events query the bench measures.
 *
 *   bench-readside-explain <postgresql-url> <schema>  < requests (JSON, one per line)
 *
 * Each request is the arguments of one query, as the gateway receives them:
 *
 *   {"readModel": "CartReadModel", "filter": {...}, "sortBy": {...}, "limit": 20,
 *    "afterCursor": {"id": "20"}}
 *   {"entity": "Cart", "entityID": "c1", "from": "2021", "to": "2022", "limit": 20}
 *   {"type": "CartItemChanged", "from": "2021", "limit": 20}
 *
 * For each it builds the statement with common/src/readside (rj_rs_query_build,
 * rj_rs_events_query_build: the SQL the gateway sends) and prints one line, the output of
 * EXPLAIN (FORMAT JSON) with the same bound parameters, so PostgreSQL plans it as it plans
 * the gateway's unnamed statements (a custom plan for those values). A request it cannot
 * build prints {"error": "..."}.
 *
 * Deliberately not here: the gateway's authorization and read-model before hooks (the
 * bench's queries are ones the shop's hooks pass through unchanged), and EXPLAIN ANALYZE
 * (the bench times the queries through HTTP; a second timing here would only disagree).
 * Built with the tree so it cannot rot; never run by the test suite.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "log/log.h"
#include "pg/pg.h"
#include "readside/readside.h"

/* Builds the statement of @p req into @p sql and @p params. */
static rj_status_t
build(const json_t *req, rj_buf_t *sql, rj_rs_params_t *params, rj_error_t *err)
{
    const char *rm_name = json_string_value(json_object_get(req, "readModel"));
    if (rm_name != NULL) {
        rj_app_read_model_t rm = {.name = (char *)rm_name};
        rj_rs_page_t page;
        rj_status_t st = rj_rs_page_from_args(json_object_get(req, "limit"),
                                              json_object_get(req, "afterCursor"), &page, err);
        if (st != RJ_OK)
            return st;
        return rj_rs_query_build(&rm, json_object_get(req, "filter"),
                                 json_object_get(req, "sortBy"), &page, sql, params, err);
    }
    json_t *limit = json_object_get(req, "limit");
    return rj_rs_events_query_build(json_string_value(json_object_get(req, "entity")),
                                    json_string_value(json_object_get(req, "entityID")),
                                    json_string_value(json_object_get(req, "type")),
                                    json_string_value(json_object_get(req, "from")),
                                    json_string_value(json_object_get(req, "to")),
                                    json_is_integer(limit) ? (long)json_integer_value(limit) : 0,
                                    sql, params, err);
}

/* Prints the plan of one request line, or {"error": ...}. */
static void
explain_line(rj_pg_t *pg, const char *line)
{
    rj_error_t err;
    rj_error_clear(&err);
    json_error_t jerr;
    json_t *req = json_loads(line, 0, &jerr);
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    PGresult *res = NULL;
    rj_status_t st = req != NULL
                         ? build(req, &sql, &params, &err)
                         : rj_error_set(&err, RJ_EINVAL, "not a JSON request: %s", jerr.text);
    if (st == RJ_OK) {
        char *text = rj_xasprintf("EXPLAIN (FORMAT JSON) %s", sql.data);
        st = rj_pg_exec(pg, text, (int)params.n, rj_rs_params_values(&params), &res, &err);
        free(text);
    }
    if (st == RJ_OK) {
        /* One line per plan: the reader splits the output by lines. */
        json_t *plan = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        char *compact = json_dumps(plan, JSON_COMPACT);
        printf("%s\n", compact != NULL ? compact : "{\"error\": \"unreadable plan\"}");
        free(compact);
        json_decref(plan);
        PQclear(res);
    } else {
        json_t *e = json_pack("{s:s}", "error", err.msg);
        char *compact = json_dumps(e, JSON_COMPACT);
        printf("%s\n", compact);
        free(compact);
        json_decref(e);
    }
    fflush(stdout);
    rj_rs_params_deinit(&params);
    rj_buf_deinit(&sql);
    json_decref(req);
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench-readside-explain <postgresql-url> <schema> < requests\n");
        return 2;
    }
    rj_core_init();
    rj_log_init("bench-readside-explain");
    rj_log_set_level(RJ_LOG_WARN);
    rj_error_t err;
    rj_error_clear(&err);
    rj_pg_t *pg = rj_pg_connect(argv[1], argv[2], &err);
    if (pg == NULL) {
        fprintf(stderr, "bench-readside-explain: %s\n", err.msg);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (*line != '\0')
            explain_line(pg, line);
    }
    free(line);
    rj_pg_free(pg);
    return 0;
}
