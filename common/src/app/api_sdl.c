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
 * The read side (§4, §5, §7) adds, per read model X: the deprecated plural query
 * pluralize(X)(filter: XFilter), List<pluralize(X)>(filter: ListXFilter, limit, sortBy:
 * XSortBy, afterCursor: JSON): XConnection!, the plural subscription, and the filter and
 * sort inputs those take; property filter types are named after the field's type
 * (StringPropertyFilter, CartItemArrayPropertyFilter, AddressPropertyFilter...) and shared
 * by every read model, so each is printed once. Calculated fields are output only: they
 * are in neither filters nor sorts. Then the events API (eventsByEntity, eventsByType and
 * their EntityType, EventType, EventQueryResponse and User types), and last the query
 * handlers (Booster's @Query): <Query>(input: <Query>Input!): <returns>.
 *
 * The same generator prints the API as an Apollo Federation v1 subgraph (issue 11): read
 * models become entities keyed by id, the roots are extended, and rj_app_served_sdl() adds
 * what @apollo/subgraph adds to a subgraph's own schema (_service, _entities and their
 * types). `ramjet schema print` and the pusher keep the plain API.
 *
 * Not here: resolving anything. The gateway maps root fields back to the model by
 * name (a Mutation field is the command of that name, a Query field the read model).
 */
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "core/core.h"
#include "log/log.h"
#include "readside/pluralize.h"

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
    for (size_t i = 0; i < app->n_commands + app->n_queries; i++) {
        /* "returns" is a type string such as "[Cart!]!"; its name is the word in it. */
        const char *r = i < app->n_commands ? app->commands[i].returns
                                            : app->queries[i - app->n_commands].returns;
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

/* `type <name>[ <directives>] { ... }`; @p directives is NULL or printed directives. */
static void
put_object(rj_buf_t *b, const char *name, const char *directives, const rj_app_field_t *fields,
           size_t n)
{
    rj_buf_printf(b, "type %s%s%s {\n", name, directives != NULL ? " " : "",
                  directives != NULL ? directives : "");
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

/* ---- the read side: filter and sort inputs ---- */

/* What a field's named type is, for filters and sorts (booster-surface.md §4.1). */
typedef enum prop_kind {
    PROP_STRING,  /* String: StringPropertyFilter */
    PROP_NUMBER,  /* Float, Int: NumberPropertyFilter */
    PROP_BOOLEAN, /* Boolean: BooleanPropertyFilter */
    PROP_UUID,    /* ID: UUIDPropertyFilter */
    PROP_DATE,    /* a user scalar named Date: DatePropertyFilter */
    PROP_ENUM,    /* a user enum E: EPropertyFilter */
    PROP_CLASS,   /* a value type or entity with fields: <Class>PropertyFilter */
    PROP_JSON,    /* JSON and other scalars: the JSON scalar, no operators */
} prop_kind_t;

/* Names printed so far: property filters and sorts are shared between read models. */
typedef struct rs_gen {
    const rj_app_t *app; /* the model */
    rj_buf_t *out;       /* where input definitions go */
    json_t *printed;     /* set of type names already printed */
} rs_gen_t;

static prop_kind_t
prop_kind(const rj_app_t *app, const char *t)
{
    static const struct {
        const char *name;
        prop_kind_t kind;
    } builtins[] = {{"String", PROP_STRING},   {"Float", PROP_NUMBER}, {"Int", PROP_NUMBER},
                    {"Boolean", PROP_BOOLEAN}, {"ID", PROP_UUID},      {"JSON", PROP_JSON}};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, t) == 0)
            return builtins[i].kind;
    if (rj_app_type(app, t) != NULL || rj_app_entity(app, t) != NULL)
        return PROP_CLASS;
    for (size_t i = 0; i < app->n_scalars; i++)
        if (strcmp(app->scalars[i], t) == 0) {
            /* enums_sdl[i] is the printed definition of scalars[i]. */
            if (strncmp(app->enums_sdl[i], "enum ", 5) == 0)
                return PROP_ENUM;
            return strcmp(t, "Date") == 0 ? PROP_DATE : PROP_JSON;
        }
    return PROP_JSON;
}

/* The fields of a class-like type (value type or entity). */
static const rj_app_field_t *
class_fields(const rj_app_t *app, const char *t, size_t *n)
{
    const rj_app_type_t *vt = rj_app_type(app, t);
    if (vt != NULL) {
        *n = vt->n_fields;
        return vt->fields;
    }
    const rj_app_entity_t *e = rj_app_entity(app, t);
    *n = e != NULL ? e->n_fields : 0;
    return e != NULL ? e->fields : NULL;
}

/* The filter-name stem of a type: "String", "Number", "UUID", the enum's or class's name. */
static const char *
prop_stem(prop_kind_t k, const char *t)
{
    switch (k) {
    case PROP_STRING:
        return "String";
    case PROP_NUMBER:
        return "Number";
    case PROP_BOOLEAN:
        return "Boolean";
    case PROP_UUID:
        return "UUID";
    case PROP_DATE:
        return "Date";
    default:
        return t;
    }
}

/* True the first time @p name is asked about. */
static bool
first_time(rs_gen_t *g, const char *name)
{
    if (json_object_get(g->printed, name) != NULL)
        return false;
    json_object_set_new(g->printed, name, json_true());
    return true;
}

static void put_class_filter(rs_gen_t *g, const char *cls);

/* Prints (once) the scalar property filter of @p k. */
static void
put_scalar_filter(rs_gen_t *g, prop_kind_t k, const char *t, const char *name)
{
    if (!first_time(g, name))
        return;
    const char *v = k == PROP_NUMBER ? "Float" : k == PROP_UUID ? "ID" : t;
    rj_buf_printf(g->out, "input %s {\n", name);
    rj_buf_printf(g->out, "  eq: %s\n  ne: %s\n", v, v);
    if (k == PROP_STRING || k == PROP_NUMBER || k == PROP_DATE)
        rj_buf_printf(g->out, "  lte: %s\n  lt: %s\n  gte: %s\n  gt: %s\n", v, v, v, v);
    if (k == PROP_STRING || k == PROP_NUMBER || k == PROP_DATE || k == PROP_UUID)
        rj_buf_printf(g->out, "  in: [%s]\n", v);
    if (k == PROP_STRING || k == PROP_UUID)
        rj_buf_puts(g->out, "  beginsWith: String\n  contains: String\n");
    if (k == PROP_STRING)
        rj_buf_puts(g->out, "  regex: String\n  iRegex: String\n");
    rj_buf_puts(g->out, "  isDefined: Boolean\n}\n\n");
}

/* The property filter type of a field, printing it (and what it needs) the first time.
 * Returns a new string: the type name, or "JSON" when the field has no typed filter. */
static char *
prop_filter(rs_gen_t *g, const rj_app_field_t *f)
{
    const char *t = f->named_type;
    prop_kind_t k = prop_kind(g->app, t);
    if (f->list) {
        /* [[T]] has no typed filter in Booster either. */
        if (strncmp(f->type, "[[", 2) == 0 || k == PROP_JSON)
            return rj_xstrdup("JSON");
        char *name = rj_xasprintf("%sArrayPropertyFilter", prop_stem(k, t));
        if (first_time(g, name)) {
            const char *inc = k == PROP_CLASS    ? "JSON"
                              : k == PROP_NUMBER ? "Float"
                              : k == PROP_UUID   ? "ID"
                                                 : t;
            rj_buf_printf(g->out, "input %s {\n  includes: %s\n  isDefined: Boolean\n}\n\n", name,
                          inc);
        }
        return name;
    }
    if (k == PROP_JSON)
        return rj_xstrdup("JSON");
    char *name = rj_xasprintf("%sPropertyFilter", prop_stem(k, t));
    if (k == PROP_CLASS)
        put_class_filter(g, t);
    else
        put_scalar_filter(g, k, t, name);
    return name;
}

/* The fields of a filter input: one property filter per stored field. */
static void
put_filter_fields(rs_gen_t *g, rj_buf_t *b, const rj_app_field_t *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fields[i].calculated)
            continue;
        char *ft = prop_filter(g, &fields[i]);
        rj_buf_printf(b, "  %s: %s\n", fields[i].name, ft);
        free(ft);
    }
}

/* <Class>PropertyFilter: the class's fields (recursively) and and/or/not/isDefined. The
 * definition is assembled apart and appended after the types it uses. */
static void
put_class_filter(rs_gen_t *g, const char *cls)
{
    char *name = rj_xasprintf("%sPropertyFilter", cls);
    if (first_time(g, name)) {
        size_t n;
        const rj_app_field_t *fields = class_fields(g->app, cls, &n);
        rj_buf_t b;
        rj_buf_init(&b);
        rj_buf_printf(&b, "input %s {\n", name);
        put_filter_fields(g, &b, fields, n);
        rj_buf_printf(&b, "  and: [%s]\n  or: [%s]\n  not: %s\n  isDefined: Boolean\n}\n\n", name,
                      name, name);
        rj_buf_puts(g->out, b.data);
        rj_buf_deinit(&b);
    }
    free(name);
}

/* Sort fields: orderProperty, or a nested <Class>PropertySortBy for a class (not a list). */
static void put_sort_fields(rs_gen_t *g, rj_buf_t *b, const rj_app_field_t *fields, size_t n);

static void
put_class_sort(rs_gen_t *g, const char *cls)
{
    char *name = rj_xasprintf("%sPropertySortBy", cls);
    if (first_time(g, name)) {
        size_t n;
        const rj_app_field_t *fields = class_fields(g->app, cls, &n);
        rj_buf_t b;
        rj_buf_init(&b);
        rj_buf_printf(&b, "input %s {\n", name);
        put_sort_fields(g, &b, fields, n);
        rj_buf_puts(&b, "}\n\n");
        rj_buf_puts(g->out, b.data);
        rj_buf_deinit(&b);
    }
    free(name);
}

static void
put_sort_fields(rs_gen_t *g, rj_buf_t *b, const rj_app_field_t *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const rj_app_field_t *f = &fields[i];
        if (f->calculated)
            continue;
        if (!f->list && prop_kind(g->app, f->named_type) == PROP_CLASS) {
            put_class_sort(g, f->named_type);
            rj_buf_printf(b, "  %s: %sPropertySortBy\n", f->name, f->named_type);
        } else {
            rj_buf_printf(b, "  %s: orderProperty\n", f->name);
        }
    }
}

/* Per read model: ListXFilter, XFilter, XSubscriptionFilter, XSortBy. */
static void
put_read_model_inputs(rs_gen_t *g, const rj_app_read_model_t *rm)
{
    static const struct {
        const char *prefix, *suffix; /* ListXFilter, XFilter, XSubscriptionFilter */
        bool is_defined;             /* has a top-level isDefined */
    } tops[] = {{"List", "Filter", false}, {"", "Filter", true}, {"", "SubscriptionFilter", true}};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
        char *name = rj_xasprintf("%s%s%s", tops[i].prefix, rm->name, tops[i].suffix);
        rj_buf_t b;
        rj_buf_init(&b);
        rj_buf_printf(&b, "input %s {\n", name);
        put_filter_fields(g, &b, rm->fields, rm->n_fields);
        rj_buf_printf(&b, "  and: [%s]\n  or: [%s]\n  not: %s\n", name, name, name);
        if (tops[i].is_defined)
            rj_buf_puts(&b, "  isDefined: Boolean\n");
        rj_buf_puts(&b, "}\n\n");
        rj_buf_puts(g->out, b.data);
        rj_buf_deinit(&b);
        free(name);
    }
    rj_buf_t b;
    rj_buf_init(&b);
    put_sort_fields(g, &b, rm->fields, rm->n_fields);
    /* An input object needs a field; a read model of calculated fields only has no sort. */
    if (b.len > 0)
        rj_buf_printf(g->out, "input %sSortBy {\n%s}\n\n", rm->name, b.data);
    rj_buf_deinit(&b);
}

static bool
read_model_sortable(const rj_app_read_model_t *rm)
{
    for (size_t i = 0; i < rm->n_fields; i++)
        if (!rm->fields[i].calculated)
            return true;
    return false;
}

/* The read side's object types and enums: XConnection, orderProperty, the events API. */
static void
put_read_side_types(const rj_app_t *app, rj_buf_t *b)
{
    for (size_t i = 0; i < app->n_read_models; i++)
        rj_buf_printf(b,
                      "type %sConnection {\n  items: [%s!]!\n  count: Int!\n  cursor: JSON\n}\n\n",
                      app->read_models[i].name, app->read_models[i].name);
    if (app->n_read_models > 0)
        rj_buf_puts(b, "enum orderProperty {\n  ASC\n  DESC\n}\n\n");

    /* Booster's enums list its internal data-migration entity and events too. */
    rj_buf_puts(b, "enum EntityType {\n");
    for (size_t i = 0; i < app->n_entities; i++)
        rj_buf_printf(b, "  %s\n", app->entities[i].name);
    rj_buf_puts(b, "  BoosterDataMigrationEntity\n}\n\n");
    rj_buf_puts(b, "enum EventType {\n");
    for (size_t i = 0; i < app->n_events; i++) {
        const rj_app_event_t *ev = &app->events[i];
        if (ev->entity != NULL && rj_app_entity_reducer(ev->entity, ev->name) != NULL)
            rj_buf_printf(b, "  %s\n", ev->name);
    }
    rj_buf_puts(b, "  BoosterDataMigrationStarted\n  BoosterDataMigrationFinished\n}\n\n");
    rj_buf_puts(b,
                "type EventQueryResponse {\n  type: String!\n  entity: String!\n  entityID: ID!\n"
                "  requestID: ID!\n  user: User\n  createdAt: String!\n  value: JSON!\n"
                "  deletedAt: String\n}\n\n");
    rj_buf_puts(b, "type User {\n  id: String\n  username: String!\n  roles: [String!]\n}\n\n");
}

static void
put_read_side_inputs(const rj_app_t *app, rj_buf_t *b)
{
    rs_gen_t g = {.app = app, .out = b, .printed = json_object()};
    for (size_t i = 0; i < app->n_read_models; i++)
        put_read_model_inputs(&g, &app->read_models[i]);
    json_decref(g.printed);
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
            rj_buf_printf(b, "  %s(id: ID!, %s: ID): [%s]\n", rm->name, rm->sequenced_by, rm->name);
        else
            rj_buf_printf(b, "  %s(id: ID!): %s\n", rm->name, rm->name);
    }
}

/* pluralize(X), or NULL when it would collide with a read model's own name (`Money`,
 * `Sheep`): the by-id field keeps the name, and the List query still exists. */
static char *
plural_name(const rj_app_t *app, const rj_app_read_model_t *rm)
{
    char *plural = rj_rs_pluralize(rm->name);
    if (rj_app_read_model(app, plural) != NULL) {
        free(plural);
        return NULL;
    }
    return plural;
}

/* Query.pluralize(X)(filter: XFilter): [X!]!, deprecated in favour of List*. */
static void
query_read_model_plural(const rj_app_t *app, rj_buf_t *b)
{
    for (size_t i = 0; i < app->n_read_models; i++) {
        const rj_app_read_model_t *rm = &app->read_models[i];
        char *plural = plural_name(app, rm);
        if (plural != NULL)
            rj_buf_printf(b,
                          "  %s(filter: %sFilter): [%s!]! @deprecated(reason: \"Method is "
                          "deprecated. Use List* methods\")\n",
                          plural, rm->name, rm->name);
        free(plural);
    }
}

/* Query.List<pluralize(X)>(filter, limit, sortBy, afterCursor): XConnection!. */
static void
query_read_model_list(const rj_app_t *app, rj_buf_t *b)
{
    for (size_t i = 0; i < app->n_read_models; i++) {
        const rj_app_read_model_t *rm = &app->read_models[i];
        char *plural = rj_rs_pluralize(rm->name);
        rj_buf_printf(b, "  List%s(filter: List%sFilter, limit: Int, ", plural, rm->name);
        if (read_model_sortable(rm))
            rj_buf_printf(b, "sortBy: %sSortBy, ", rm->name);
        rj_buf_printf(b, "afterCursor: JSON): %sConnection!\n", rm->name);
        free(plural);
    }
}

/* Query.eventsByEntity and Query.eventsByType (§7). */
static void
query_events(const rj_app_t *app, rj_buf_t *b)
{
    (void)app;
    rj_buf_puts(b, "  eventsByEntity(entity: EntityType!, entityID: ID, from: String, to: String, "
                   "limit: Int): [EventQueryResponse]\n"
                   "  eventsByType(type: EventType!, from: String, to: String, limit: Int): "
                   "[EventQueryResponse]\n");
}

/* Query.<Query>(input: <Query>Input!): <returns> for each query handler (Booster's
 * @Query classes); no argument without fields. */
static void
query_handlers(const rj_app_t *app, rj_buf_t *b)
{
    for (size_t i = 0; i < app->n_queries; i++) {
        const rj_app_query_t *q = &app->queries[i];
        if (q->n_fields > 0)
            rj_buf_printf(b, "  %s(input: %sInput!): %s\n", q->name, q->name, q->returns);
        else
            rj_buf_printf(b, "  %s: %s\n", q->name, q->returns);
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

/* Subscription.pluralize(X)(filter: XSubscriptionFilter): X. */
static void
subscription_read_model_plural(const rj_app_t *app, rj_buf_t *b)
{
    for (size_t i = 0; i < app->n_read_models; i++) {
        const rj_app_read_model_t *rm = &app->read_models[i];
        char *plural = plural_name(app, rm);
        if (plural != NULL)
            rj_buf_printf(b, "  %s(filter: %sSubscriptionFilter): %s\n", plural, rm->name,
                          rm->name);
        free(plural);
    }
}

typedef void (*root_gen_fn)(const rj_app_t *app, rj_buf_t *b);

/* The generators of each root, in the order their fields appear. */
static const root_gen_fn query_gens[] = {query_read_model_by_id, query_read_model_plural,
                                         query_read_model_list, query_events, query_handlers};
static const root_gen_fn mutation_gens[] = {mutation_commands};
static const root_gen_fn subscription_gens[] = {subscription_read_model_by_id,
                                                subscription_read_model_plural};

/*
 * Appends `type <root> { ... }` unless its generators produce no field (Booster omits an
 * empty Mutation or Subscription root). A subgraph extends the roots instead, as
 * federation 1 services write them: @mercuriusjs/gateway joins every service's SDL into
 * one document, where a second `type Query` would be dropped with its fields.
 */
static void
put_root(const rj_app_t *app, rj_buf_t *b, bool extend, const char *root, const root_gen_fn *gens,
         size_t n)
{
    rj_buf_t fields;
    rj_buf_init(&fields);
    for (size_t i = 0; i < n; i++)
        gens[i](app, &fields);
    if (fields.len > 0)
        rj_buf_printf(b, "%stype %s {\n%s}\n\n", extend ? "extend " : "", root, fields.data);
    rj_buf_deinit(&fields);
}

/*
 * A read model's federation key: its id, which the by-id query reads by. A sequenced read
 * model holds one row per (id, sequence key), so its key names both, as its by-id query's
 * arguments do; `_entities` then resolves one row, never a list.
 */
static char *
entity_key(const rj_app_read_model_t *rm)
{
    if (rm->sequenced_by != NULL)
        return rj_xasprintf("@key(fields: \"id %s\")", rm->sequenced_by);
    return rj_xstrdup("@key(fields: \"id\")");
}

/* Which form of the API generate() prints. */
typedef enum api_form {
    API_PLAIN,    /* rj_app_api_sdl(): what clients see, `ramjet schema print` */
    API_SUBGRAPH, /* rj_app_subgraph_sdl(): read models keyed, roots extended */
    API_SERVED,   /* the start of rj_app_served_sdl(): read models keyed, roots defined */
} api_form_t;

static char *
generate(const rj_app_t *app, api_form_t form)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_puts(&b, "scalar JSON\n\n");
    for (size_t i = 0; i < app->n_enums_sdl; i++) {
        rj_buf_puts(&b, app->enums_sdl[i]);
        rj_buf_putc(&b, '\n');
    }

    for (size_t i = 0; i < app->n_types; i++)
        put_object(&b, app->types[i].name, NULL, app->types[i].fields, app->types[i].n_fields);
    bool *needed = needed_entities(app);
    for (size_t i = 0; i < app->n_entities; i++)
        if (needed[i])
            put_object(&b, app->entities[i].name, NULL, app->entities[i].fields,
                       app->entities[i].n_fields);
    free(needed);
    for (size_t i = 0; i < app->n_read_models; i++) {
        const rj_app_read_model_t *rm = &app->read_models[i];
        char *key = form != API_PLAIN ? entity_key(rm) : NULL;
        put_object(&b, rm->name, key, rm->fields, rm->n_fields);
        free(key);
    }
    put_read_side_types(app, &b);

    for (size_t i = 0; i < app->n_types; i++)
        if (app->types[i].used_in_input)
            put_input(app, &b, app->types[i].name, app->types[i].fields, app->types[i].n_fields);
    for (size_t i = 0; i < app->n_commands; i++)
        if (app->commands[i].n_fields > 0)
            put_input(app, &b, app->commands[i].name, app->commands[i].fields,
                      app->commands[i].n_fields);
    for (size_t i = 0; i < app->n_queries; i++)
        if (app->queries[i].n_fields > 0)
            put_input(app, &b, app->queries[i].name, app->queries[i].fields,
                      app->queries[i].n_fields);
    put_read_side_inputs(app, &b);

    bool extend = form == API_SUBGRAPH;
    put_root(app, &b, extend, "Query", query_gens, sizeof query_gens / sizeof query_gens[0]);
    put_root(app, &b, extend, "Mutation", mutation_gens,
             sizeof mutation_gens / sizeof mutation_gens[0]);
    put_root(app, &b, extend, "Subscription", subscription_gens,
             sizeof subscription_gens / sizeof subscription_gens[0]);

    /* Drop the blank line after the last definition; graphql-js's print(), which the
       subgraph SDL follows, ends without a new line. */
    while (b.len > 0 && b.data[b.len - 1] == '\n')
        b.data[--b.len] = '\0';
    if (form != API_SUBGRAPH)
        rj_buf_putc(&b, '\n');
    return rj_buf_steal(&b);
}

/* qsort over names; byte order is JavaScript's sort() order for GraphQL names (ASCII). */
static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * What @apollo/subgraph's buildSubgraphSchema adds to a federation 1 subgraph, in its
 * order: the federation 1 definitions, then _Service, _Any, _Entity (its members sorted)
 * and the two Query fields. None of it is in the SDL `_service` prints: federation 1
 * composition fails when a subgraph declares the federation directives itself.
 */
static char *
generate_served(const rj_app_t *app)
{
    rj_buf_t b;
    rj_buf_init(&b);
    char *api = generate(app, API_SERVED);
    rj_buf_puts(&b, api);
    free(api);
    rj_buf_puts(&b, "\nscalar _FieldSet\n\n"
                    "directive @key(fields: _FieldSet!) repeatable on OBJECT | INTERFACE\n\n"
                    "directive @requires(fields: _FieldSet!) on FIELD_DEFINITION\n\n"
                    "directive @provides(fields: _FieldSet!) on FIELD_DEFINITION\n\n"
                    "directive @external on FIELD_DEFINITION\n\n"
                    "directive @extends on OBJECT | INTERFACE\n\n"
                    "directive @tag(name: String!) repeatable on FIELD_DEFINITION | INTERFACE | "
                    "OBJECT | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | "
                    "INPUT_OBJECT | INPUT_FIELD_DEFINITION\n\n"
                    "type _Service {\n  sdl: String\n}\n");
    if (app->n_read_models > 0) {
        const char **names = rj_xcalloc(app->n_read_models, sizeof *names);
        for (size_t i = 0; i < app->n_read_models; i++)
            names[i] = app->read_models[i].name;
        qsort(names, app->n_read_models, sizeof *names, name_cmp);
        rj_buf_puts(&b, "\nscalar _Any\n\nunion _Entity =");
        for (size_t i = 0; i < app->n_read_models; i++)
            rj_buf_printf(&b, "%s %s", i == 0 ? "" : " |", names[i]);
        free(names);
        rj_buf_puts(&b, "\n\nextend type Query {\n"
                        "  _entities(representations: [_Any!]!): [_Entity]!\n");
    } else {
        rj_buf_puts(&b, "\nextend type Query {\n");
    }
    rj_buf_puts(&b, "  _service: _Service!\n}\n");
    return rj_buf_steal(&b);
}

/* The engine's resolver for a calculated field: @p ud is the field, whose function runs. */
static rj_status_t
calculated_resolve(void *ud, const json_t *parent, json_t **value, rj_error_t *err)
{
    const rj_app_field_t *f = ud;
    return f->calculate(parent, value, err);
}

rj_status_t
rj_app_install_calculated(const rj_app_t *app, rj_gql_schema_t *schema, rj_error_t *err)
{
    for (size_t i = 0; i < app->n_read_models; i++) {
        const rj_app_read_model_t *rm = &app->read_models[i];
        for (size_t j = 0; j < rm->n_fields; j++) {
            const rj_app_field_t *f = &rm->fields[j];
            if (!f->calculated || f->calculate == NULL)
                continue;
            rj_error_t inner;
            rj_error_clear(&inner);
            if (rj_gql_schema_set_field_resolver(schema, rm->name, f->name, calculated_resolve,
                                                 (void *)f, &inner) != RJ_OK)
                return rj_error_set(err, RJ_ESCHEMA, "could not install calculated field: %s",
                                    inner.msg);
        }
    }
    return RJ_OK;
}

rj_status_t
rj__app_api_build(rj_app_t *app, rj_error_t *err)
{
    app->api_sdl = generate(app, API_PLAIN);
    app->subgraph_sdl = generate(app, API_SUBGRAPH);
    app->served_sdl = generate_served(app);
    rj_error_t inner;
    rj_error_clear(&inner);
    app->api_schema = rj_gql_schema_from_sdl(app->api_sdl, strlen(app->api_sdl), &inner);
    if (app->api_schema == NULL)
        return rj_error_set(err, RJ_ESCHEMA, "could not build the generated API schema: %s",
                            inner.msg);
    rj_debug("app", "generated API schema:\n%s", app->api_sdl);
    return rj_app_install_calculated(app, app->api_schema, err);
}

const char *
rj_app_api_sdl(const rj_app_t *app)
{
    return app->api_sdl;
}

const char *
rj_app_subgraph_sdl(const rj_app_t *app)
{
    return app->subgraph_sdl;
}

const char *
rj_app_served_sdl(const rj_app_t *app)
{
    return app->served_sdl;
}

const rj_gql_schema_t *
rj_app_api_schema(const rj_app_t *app)
{
    return app->api_schema;
}
