/*
 * fuzz_parser.c - libFuzzer target for the GraphQL parser, executable documents and SDL.
 *
 * Every input is parsed as a document (both grammars share one parser); then, as SDL,
 * built into a schema. A schema that builds is printed and the printed SDL must parse and
 * build again: the printer may never emit what the parser rejects, since `ramjet schema
 * print` output is what other tools consume. Crashes, sanitizer reports, leaks and a
 * failed round trip (abort) are findings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "graphql/graphql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialised;
    if (!initialised) {
        rj_core_init();
        initialised = true;
    }

    json_t *error = NULL;
    rj_gql_doc_t *doc = rj_gql_parse((const char *)data, size, NULL, &error);
    if (doc == NULL) {
        /* A rejected document always says why, and where. */
        if (error == NULL || !json_is_string(json_object_get(error, "message")))
            abort();
    }
    json_decref(error);
    rj_gql_doc_free(doc);

    rj_error_t err = {0};
    rj_gql_schema_t *s = rj_gql_schema_from_sdl((const char *)data, size, &err);
    if (s == NULL)
        return 0;
    char *printed = rj_gql_schema_print(s);
    rj_gql_schema_t *again = rj_gql_schema_from_sdl(printed, strlen(printed), &err);
    if (again == NULL) {
        fprintf(stderr, "printed schema does not build: %s\n--- printed:\n%s\n", err.msg, printed);
        abort();
    }
    rj_gql_schema_free(again);
    free(printed);
    rj_gql_schema_free(s);
    return 0;
}
