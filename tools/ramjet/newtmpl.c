/*
 * newtmpl.c - the templates of `ramjet new` (newtmpl.h) and their renderer.
 *
 * The application they make is laid out so that adding a piece never edits code a person
 * wrote: every command, entity and read model is one src/<piece>.c with a
 * <piece>_register() function, and src/pieces.h lists them as PIECE(name) lines that
 * src/app.c expands twice (declarations, then calls). `ramjet new <piece>` only creates
 * a file and appends to pieces.h and the schema. The generated handlers are deliberately
 * plain (copy the input into the event, merge the event into the state, copy the entity
 * into the read model): correct and runnable, and obviously the place to put real rules.
 */
#include "newtmpl.h"

#include <string.h>

const char newtmpl_cmakelists[] =
    "# @NAME@: a Ramjet application (GraphQL SDL plus C handlers), scaffolded by `ramjet new`.\n"
    "#\n"
    "#   cmake -S . -B build -DCMAKE_PREFIX_PATH=<where Ramjet is installed>\n"
    "#   cmake --build build && ctest --test-dir build\n"
    "#   ramjet dev --app build/lib@NAME@.so\n"
    "#\n"
    "# Every src/*.c is compiled: `ramjet new command|event|entity|read-model NAME` adds\n"
    "# pieces (re-run the build; CONFIGURE_DEPENDS picks up new files).\n"
    "cmake_minimum_required(VERSION 3.25)\n"
    "project(@NAME@ VERSION 0.1.0 LANGUAGES C)\n"
    "\n"
    "set(CMAKE_C_STANDARD 17)\n"
    "set(CMAKE_C_STANDARD_REQUIRED ON)\n"
    "\n"
    "find_package(Ramjet 0.1 REQUIRED)\n"
    "\n"
    "file(GLOB @NAME@_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.c)\n"
    "ramjet_add_app(@NAME@ SOURCES ${@NAME@_sources} SCHEMA @NAME@.graphql)\n"
    "target_compile_options(@NAME@ PRIVATE -Wall -Wextra -Wno-unused-parameter)\n"
    "\n"
    "# The app loads as every daemon loads it (each command has a handler, each binding\n"
    "# names something the schema declares) and its generated API has mutations.\n"
    "enable_testing()\n"
    "if(TARGET Ramjet::ramjet)\n"
    "  add_test(NAME @NAME@-loads\n"
    "           COMMAND Ramjet::ramjet schema print --app $<TARGET_FILE:@NAME@>)\n"
    "  set_tests_properties(@NAME@-loads PROPERTIES PASS_REGULAR_EXPRESSION \"type Mutation\")\n"
    "endif()\n";

const char newtmpl_schema[] =
    "# The schema of @NAME@, in the language of Ramjet's docs/app-sdl.md. `ramjet new\n"
    "# command|event|entity|read-model NAME` appends declarations here; edit them freely.\n";

const char newtmpl_app_h[] =
    "/*\n"
    " * app.h - what every piece of @NAME@ includes: ramjet.h and each piece's register\n"
    " * function, declared from the PIECE list in pieces.h.\n"
    " */\n"
    "#ifndef APP_H\n"
    "#define APP_H\n"
    "\n"
    "#include \"ramjet.h\"\n"
    "\n"
    "#define PIECE(name) void name##_register(rj_app_t *app);\n"
    "#include \"pieces.h\"\n"
    "#undef PIECE\n"
    "\n"
    "#endif\n";

const char newtmpl_app_c[] =
    "/*\n"
    " * app.c - @NAME@'s entry point: names the schema and registers every piece.\n"
    " *\n"
    " * Each command, entity and read model is a src/<piece>.c with a <piece>_register()\n"
    " * function; pieces.h lists them, so adding one never edits this file.\n"
    " */\n"
    "#include \"app.h\"\n"
    "\n"
    "RJ_APP_DEFINE(app)\n"
    "{\n"
    "    rj_app_schema_file(app, \"@NAME@.graphql\"); /* next to the library */\n"
    "#define PIECE(name) name##_register(app);\n"
    "#include \"pieces.h\"\n"
    "#undef PIECE\n"
    "}\n";

const char newtmpl_pieces_h[] =
    "/*\n"
    " * pieces.h - every piece of the app, one PIECE(name) line each, registered in this\n"
    " * order by app.c. `ramjet new` appends here. No include guard: app.h and app.c\n"
    " * include it with different definitions of PIECE.\n"
    " */\n";

const char newtmpl_readme[] =
    "# @NAME@\n"
    "\n"
    "A Ramjet application: `@NAME@.graphql` declares it, `src/` holds its C handlers.\n"
    "\n"
    "```sh\n"
    "cmake -S . -B build -DCMAKE_PREFIX_PATH=<where Ramjet is installed>\n"
    "cmake --build build && ctest --test-dir build\n"
    "ramjet dev --app build/lib@NAME@.so     # GraphiQL, GraphQL and WebSocket URLs printed\n"
    "```\n"
    "\n"
    "Add pieces with `ramjet new event|entity|command|read-model NAME` (see `ramjet new\n"
    "--help`), then rebuild.\n";

const char newtmpl_event_sdl[] = "\n"
                                 "type @NAME@ @event(entity: \"@ENTITY@\", key: \"@KEY@\") {\n"
                                 "  @KEY@: ID!\n"
                                 "@FIELDS@}\n";

const char newtmpl_entity_sdl[] = "\n"
                                  "type @NAME@ @entity(authorizeReadEvents: ALL) {\n"
                                  "  id: ID!\n"
                                  "@FIELDS@}\n";

const char newtmpl_entity_c[] =
    "/*\n"
    " * @FILE@.c - the @NAME@ entity: folds its events into its state.\n"
    " *\n"
    " * Each reducer starts from the previous state (an empty object for the first event),\n"
    " * merges the event's fields over it and sets `id` from the event's key. Replace that\n"
    " * with the entity's own rules.\n"
    " */\n"
    "#include \"app.h\"\n"
    "@REDUCERS@"
    "\n"
    "void\n"
    "@FILE@_register(rj_app_t *app)\n"
    "{\n"
    "@BINDINGS@"
    "}\n";

const char newtmpl_reducer_c[] =
    "\n"
    "/* @EVENT@: the event's fields, merged into the state. */\n"
    "static rj_status_t\n"
    "@EVENT_FN@(const json_t *event, const json_t *current, json_t **out, rj_error_t *err)\n"
    "{\n"
    "    json_t *state = current != NULL ? json_deep_copy(current) : json_object();\n"
    "    json_object_update(state, (json_t *)event); /* read only: jansson is not const */\n"
    "    json_object_set(state, \"id\", json_object_get(event, \"@KEY@\"));\n"
    "    *out = state;\n"
    "    return RJ_OK;\n"
    "}\n";

const char newtmpl_command_sdl[] = "\n"
                                   "input @NAME@ @command(authorize: ALL)@BODY@\n";

const char newtmpl_command_c[] =
    "/*\n"
    " * @FILE@.c - the @NAME@ command: @SUMMARY@.\n"
    " *\n"
    " * Check the input, read entities (rj_entity_get) and register events\n"
    " * (rj_command_register_take) here; they are stored when the handler returns RJ_OK,\n"
    " * and the client sees `true` unless *result is set.\n"
    " */\n"
    "#include \"app.h\"\n"
    "\n"
    "static rj_status_t\n"
    "@FN@(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)\n"
    "{\n"
    "@ACTION@"
    "}\n"
    "\n"
    "void\n"
    "@FILE@_register(rj_app_t *app)\n"
    "{\n"
    "    rj_app_on_command(app, \"@NAME@\", @FN@);\n"
    "}\n";

const char newtmpl_readmodel_sdl[] = "\n"
                                     "type @NAME@ @readModel(authorize: ALL) {\n"
                                     "  id: ID!\n"
                                     "@FIELDS@}\n";

const char newtmpl_readmodel_c[] =
    "/*\n"
    " * @FILE@.c - the @NAME@ read model: projected from @ENTITY@ (joined by `@JOIN@`).\n"
    " *\n"
    " * The projection stores the entity's state under the read model's id; return another\n"
    " * object, RJ_DELETE or RJ_NOTHING to do something else.\n"
    " */\n"
    "#include \"app.h\"\n"
    "\n"
    "static rj_status_t\n"
    "@FN@(const json_t *entity, const char *id, const json_t *current, json_t **out,\n"
    "     rj_error_t *err)\n"
    "{\n"
    "    json_t *model = json_deep_copy(entity);\n"
    "    json_object_set_new(model, \"id\", json_string(id));\n"
    "    *out = model;\n"
    "    return RJ_OK;\n"
    "}\n"
    "\n"
    "void\n"
    "@FILE@_register(rj_app_t *app)\n"
    "{\n"
    "    rj_app_on_project(app, \"@NAME@\", \"@ENTITY@\", \"@JOIN@\", @FN@);\n"
    "}\n";

const char newtmpl_readmodel_none_c[] =
    "/*\n"
    " * @FILE@.c - the @NAME@ read model. Bind its projections here\n"
    " * (rj_app_on_project, rj_app_on_project_query).\n"
    " */\n"
    "#include \"app.h\"\n"
    "\n"
    "void\n"
    "@FILE@_register(rj_app_t *app)\n"
    "{\n"
    "    (void)app;\n"
    "}\n";

/* The value of variable @p key (@p len bytes) in @p vars, or NULL. */
static const char *
var_get(const char *const *vars, const char *key, size_t len)
{
    for (; vars[0] != NULL; vars += 2)
        if (strlen(vars[0]) == len && memcmp(vars[0], key, len) == 0)
            return vars[1];
    return NULL;
}

void
newtmpl_render(FILE *out, const char *tmpl, const char *const *vars)
{
    const char *p = tmpl;
    for (;;) {
        const char *at = strchr(p, '@');
        const char *end = at != NULL ? strchr(at + 1, '@') : NULL;
        if (end == NULL) {
            fputs(p, out);
            return;
        }
        const char *value = var_get(vars, at + 1, (size_t)(end - at - 1));
        if (value == NULL) { /* a literal '@' (SDL directives): keep it, go on after it */
            fwrite(p, 1, (size_t)(at + 1 - p), out);
            p = at + 1;
            continue;
        }
        fwrite(p, 1, (size_t)(at - p), out);
        fputs(value, out);
        p = end + 1;
    }
}
