/*
 * driver.c - the C side of the GraphQL oracle test (tests/oracle/run): reads one JSON
 * object per line on stdin,
 *
 *   {"schemaSdl": "...", "query": "...", "variables": {...} | null,
 *    "operationName": "..." | null, "rootValue": {...} | null}
 *
 * and answers each with one line on stdout,
 *
 *   {"valid": bool, "errors": ["message", ...], "locations": [[{line, column}...], ...],
 *    "result": <response> | null}
 *
 * where "valid" and "errors" are the verdict of parsing plus validation (the messages of
 * syntax and validation errors, in order), and "result" is the response of
 * rj_gql_execute_sync() for a valid document, with every root field resolved to the
 * property of the same name in rootValue: the default field resolver of graphql-js, which
 * the node side (oracle.mjs) runs on the same input. A schema that does not build gives
 * {"schemaError": "..."}.
 *
 * What it deliberately does not do: compare anything. The node script owns the corpus and
 * the verdict, so this program stays a thin, obviously-correct adapter over the public
 * engine API (graphql/graphql.h), the same calls the gateway makes.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "graphql/graphql.h"

/* The schema of the previous line, reused while the SDL stays the same (it usually does). */
typedef struct driver_schema {
    char *sdl;               /* the SDL it was built from, or NULL */
    rj_gql_schema_t *schema; /* the schema, or NULL */
} driver_schema_t;

/* graphql-js's defaultFieldResolver on a plain object: the property named like the field. */
static rj_status_t
resolve_from_root(void *ud, const rj_gql_root_field_t *field, json_t **value, rj_error_t *err)
{
    (void)err;
    const json_t *root = ud;
    json_t *v = json_is_object(root) ? json_object_get(root, field->name) : NULL;
    *value = v != NULL ? json_incref(v) : NULL;
    return RJ_OK;
}

/* Splits an array of error objects into the "errors" (messages) and "locations" arrays. */
static void
add_errors(json_t *out, const json_t *errors)
{
    json_t *messages = json_array();
    json_t *locations = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach (errors, i, e) {
        json_array_append(messages, json_object_get(e, "message"));
        const json_t *loc = json_object_get(e, "locations");
        json_array_append_new(locations, loc != NULL ? json_incref((json_t *)loc) : json_array());
    }
    json_object_set_new(out, "errors", messages);
    json_object_set_new(out, "locations", locations);
}

static json_t *
run_case(driver_schema_t *cache, const json_t *in)
{
    const char *sdl = json_string_value(json_object_get(in, "schemaSdl"));
    const char *query = json_string_value(json_object_get(in, "query"));
    const char *op_name = json_string_value(json_object_get(in, "operationName"));
    const json_t *variables = json_object_get(in, "variables");
    const json_t *root = json_object_get(in, "rootValue");
    json_t *out = json_object();

    if (sdl == NULL || query == NULL) {
        json_object_set_new(out, "driverError", json_string("schemaSdl and query are required"));
        return out;
    }
    if (cache->sdl == NULL || strcmp(cache->sdl, sdl) != 0) {
        rj_gql_schema_free(cache->schema);
        free(cache->sdl);
        cache->sdl = rj_xstrdup(sdl);
        rj_error_t err = {0};
        cache->schema = rj_gql_schema_from_sdl(sdl, strlen(sdl), &err);
        if (cache->schema == NULL) {
            free(cache->sdl);
            cache->sdl = NULL;
            json_object_set_new(out, "schemaError", json_string(err.msg));
            return out;
        }
    }

    json_t *errors = NULL;
    rj_gql_doc_t *doc = rj_gql_parse(query, strlen(query), NULL, &errors);
    if (doc == NULL) {
        /* rj_gql_parse hands back one error object; present it as a one-element list. */
        json_t *list = json_array();
        json_array_append_new(list, errors);
        errors = list;
    } else {
        errors = rj_gql_validate(cache->schema, doc);
    }
    json_object_set_new(out, "valid", json_boolean(errors == NULL));
    if (errors != NULL) {
        add_errors(out, errors);
        json_decref(errors);
        json_object_set_new(out, "result", json_null());
    } else {
        json_object_set_new(out, "errors", json_array());
        json_object_set_new(out, "locations", json_array());
        json_t *vars = json_is_object(variables) ? (json_t *)variables : NULL;
        json_object_set_new(out, "result",
                            rj_gql_execute_sync(cache->schema, doc, op_name, vars,
                                                resolve_from_root, (void *)root));
    }
    rj_gql_doc_free(doc);
    return out;
}

int
main(void)
{
    rj_core_init();
    driver_schema_t cache = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (n == 1 && line[0] == '\n')
            continue;
        json_error_t jerr;
        json_t *in = json_loadb(line, (size_t)n, 0, &jerr);
        json_t *out;
        if (in == NULL) {
            out = json_object();
            json_object_set_new(out, "driverError", json_string(jerr.text));
        } else {
            out = run_case(&cache, in);
            json_decref(in);
        }
        char *text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        puts(text);
        fflush(stdout);
        free(text);
        json_decref(out);
    }
    free(line);
    free(cache.sdl);
    rj_gql_schema_free(cache.schema);
    return 0;
}
