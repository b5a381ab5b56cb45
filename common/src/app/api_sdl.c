/*
 * api_sdl.c - the GraphQL API generated from the app model, with Booster's names
 * (reference/booster-surface.md §3), printed as SDL and parsed by the GraphQL
 * engine into the schema the gateway and the pusher execute against.
 *
 * The generator is a list of sections, each appending to one buffer in the order
 * graphql-js's printSchema would show them: scalars and enums, output object types
 * (value types, the entities the outputs reach, read models), input types
 * (<Type>Input for value types that commands take, <Command>Input per command), and
 * the three roots. Each root is assembled from per-feature field generators, so the
 * List/filter queries and the events API slot in as further generators without
 * touching the rest.
 *
 * Not here: resolving anything. The gateway maps root fields back to the model by
 * name (a Mutation field is the command of that name, a Query field the read model).
 */
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "core/core.h"
#include "log/log.h"

/* ---- which types the outputs need ---- */

/* Entities are not API types by themselves; one becomes an object type when an output
 * reaches it (a read model field `payment: Payment`, a command returning `Cart`). */
static void
need_type(const rj_app_t *app, const char *name, bool *entity_needed)
{
    const rj_app_entity_t *e = rj_app_entity(app, name);
    if (e == NULL)
        return;
    size_t idx = (size_t)(e - app->entities);
    if (entity_needed[idx])
        return;
    entity_needed[idx] = true;
    for (size_t i = 0; i < e->n_fields; i++)
        need_type(app, e->fields[i].named_type, entity_needed);
}

static bool *
needed_entities(const rj_app_t *app)
{
    bool *needed = rj_xcalloc(app->n_entities, sizeof *needed);
    for (size_t i = 0; i < app->n_types; i++)
        for (size_t j = 0; j < app->types[i].n_fields; j++)
            need_type(app, app->types[i].fields[j].named_type, needed);
    for (size_t i = 0; i < app->n_read_models; i++)
        for (size_t j = 0; j < app->read_models[i].n_fields; j++)
            need_type(app, app->read_models[i].fields[j].named_type, needed);
    for (size_t i = 0; i < app->n_commands; i++) {
        /* "returns" is a type string such as "[Cart!]!"; its name is the word in it. */
        const char *r = app->commands[i].returns;
        size_t skip = strspn(r, "[");
        size_t n = strcspn(r + skip, "!]");
        char *name = rj_xstrndup(r + skip, n);
        need_type(app, name, needed);
        free(name);
    }
    return needed;
}

/* ---- printing ---- */

/* Prints a type string with its named type replaced: "[CartItem!]!" -> "[CartItemInput!]!". */
static void
put_type_renamed(rj_buf_t *b, const rj_app_field_t *f, const char *suffix)
{
    const char *t = f->type;
    size_t open = strspn(t, "[");
    rj_buf_append(b, t, open);
    rj_buf_puts(b, f->named_type);
    rj_buf_puts(b, suffix);
    rj_buf_puts(b, t + open + strlen(f->named_type));
}

static void
put_object(rj_buf_t *b, const char *name, const rj_app_field_t *fields, size_t n)
{
    rj_buf_printf(b, "type %s {\n", name);
    for (size_t i = 0; i < n; i++)
        rj_buf_printf(b, "  %s: %s\n", fields[i].name, fields[i].type);
    rj_buf_puts(b, "}\n\n");
}

static void
put_input(const rj_app_t *app, rj_buf_t *b, const char *name, const rj_app_field_t *fields,
          size_t n)
{
    rj_buf_printf(b, "input %sInput {\n", name);
    for (size_t i = 0; i < n; i++) {
        rj_buf_printf(b, "  %s: ", fields[i].name);
        put_type_renamed(b, &fields[i], rj_app_type(app, fields[i].named_type) ? "Input" : "");
        rj_buf_putc(b, '\n');
    }
    rj_buf_puts(b, "}\n\n");
}

/* ---- root field generators: each appends "  name(args): Type\n" lines ---- */

/* Query.<ReadModel>(id: ID!): <ReadModel>, or for a sequenced read model
 * <ReadModel>(id: ID!, <seq>: ID): [<ReadModel>]. */
static void
query_read_model_by_id(const rj_app_t *app, rj_buf_t *b)
{
    for (size_t i = 0; i < app->n_read_models; i++) {
        const rj_app_read_model_t *rm = &app->read_models[i];
        if (rm->sequenced_by != NULL)
            rj_buf_printf(b, "  %s(id: ID!, %s: ID): [%s]\n", rm->name, rm->sequenced_by,
                          rm->name);
        else
            rj_buf_printf(b, "  %s(id: ID!): %s\n", rm->name, rm->name);
    }
}

/* Mutation.<Command>(input: <Command>Input!): <returns>; no argument without fields. */
static void
mutation_commands(const rj_app_t *app, rj_buf_t *b)
{
    for (size_t i = 0; i < app->n_commands; i++) {
        const rj_app_command_t *c = &app->commands[i];
        if (c->n_fields > 0)
            rj_buf_printf(b, "  %s(input: %sInput!): %s\n", c->name, c->name, c->returns);
        else
            rj_buf_printf(b, "  %s: %s\n", c->name, c->returns);
    }
}

/* Subscription.<ReadModel>(id: ID!): <ReadModel>. */
static void
subscription_read_model_by_id(const rj_app_t *app, rj_buf_t *b)
{
    for (size_t i = 0; i < app->n_read_models; i++) {
        const rj_app_read_model_t *rm = &app->read_models[i];
        rj_buf_printf(b, "  %s(id: ID!): %s\n", rm->name, rm->name);
    }
}

typedef void (*root_gen_fn)(const rj_app_t *app, rj_buf_t *b);

/* The generators of each root, in the order their fields appear. */
static const root_gen_fn query_gens[] = {query_read_model_by_id};
static const root_gen_fn mutation_gens[] = {mutation_commands};
static const root_gen_fn subscription_gens[] = {subscription_read_model_by_id};

/* Appends `type <root> { ... }` unless its generators produce no field (Booster omits an
 * empty Mutation or Subscription root). */
static void
put_root(const rj_app_t *app, rj_buf_t *b, const char *root, const root_gen_fn *gens, size_t n)
{
    rj_buf_t fields;
    rj_buf_init(&fields);
    for (size_t i = 0; i < n; i++)
        gens[i](app, &fields);
    if (fields.len > 0)
        rj_buf_printf(b, "type %s {\n%s}\n\n", root, fields.data);
    rj_buf_deinit(&fields);
}

static char *
generate(const rj_app_t *app)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_puts(&b, "scalar JSON\n\n");
    for (size_t i = 0; i < app->n_enums_sdl; i++) {
        rj_buf_puts(&b, app->enums_sdl[i]);
        rj_buf_putc(&b, '\n');
    }

    for (size_t i = 0; i < app->n_types; i++)
        put_object(&b, app->types[i].name, app->types[i].fields, app->types[i].n_fields);
    bool *needed = needed_entities(app);
    for (size_t i = 0; i < app->n_entities; i++)
        if (needed[i])
            put_object(&b, app->entities[i].name, app->entities[i].fields,
                       app->entities[i].n_fields);
    free(needed);
    for (size_t i = 0; i < app->n_read_models; i++)
        put_object(&b, app->read_models[i].name, app->read_models[i].fields,
                   app->read_models[i].n_fields);

    for (size_t i = 0; i < app->n_types; i++)
        if (app->types[i].used_in_input)
            put_input(app, &b, app->types[i].name, app->types[i].fields, app->types[i].n_fields);
    for (size_t i = 0; i < app->n_commands; i++)
        if (app->commands[i].n_fields > 0)
            put_input(app, &b, app->commands[i].name, app->commands[i].fields,
                      app->commands[i].n_fields);

    put_root(app, &b, "Query", query_gens, sizeof query_gens / sizeof query_gens[0]);
    put_root(app, &b, "Mutation", mutation_gens, sizeof mutation_gens / sizeof mutation_gens[0]);
    put_root(app, &b, "Subscription", subscription_gens,
             sizeof subscription_gens / sizeof subscription_gens[0]);

    /* Drop the blank line after the last definition. */
    while (b.len > 0 && b.data[b.len - 1] == '\n')
        b.data[--b.len] = '\0';
    rj_buf_putc(&b, '\n');
    return rj_buf_steal(&b);
}

rj_status_t
rj__app_api_build(rj_app_t *app, rj_error_t *err)
{
    app->api_sdl = generate(app);
    rj_error_t inner;
    rj_error_clear(&inner);
    app->api_schema = rj_gql_schema_from_sdl(app->api_sdl, strlen(app->api_sdl), &inner);
    if (app->api_schema == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "could not build the generated API schema: %s",
                            inner.msg);
    rj_debug("app", "generated API schema:\n%s", app->api_sdl);
    return RJ_OK;
}

const char *
rj_app_api_sdl(const rj_app_t *app)
{
    return app->api_sdl;
}

const rj_gql_schema_t *
rj_app_api_schema(const rj_app_t *app)
{
    return app->api_schema;
}
