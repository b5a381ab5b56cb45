/*
 * model.c - from the application's SDL to the model of app.h.
 *
 * The SDL is parsed into a syntax tree by the GraphQL engine (rj_gql_parse) and
 * walked here directly, rather than built into an rj_gql_schema_t: an app schema
 * has no Query root and is full of Ramjet's own directives, and what the model
 * needs (names, field types as written, directive arguments) is all in the tree.
 * The walk has three passes, so declaration order never matters:
 *
 *   1. names: every definition's name and role, duplicates rejected;
 *   2. shapes: fields, directive arguments, authorize attributes;
 *   3. references: field types, event/command entities and keys, calculated
 *      dependencies, and which value types commands take as input.
 *
 * Every error names its culprit ("command ChangeCartItem: key \"cartid\" is not an
 * input field"). Bindings to C functions are resolved later, in load.c.
 *
 * Not here: the generated API (api_sdl.c) and running anything (run.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "core/core.h"

/* The SDL of an app is trusted more than a client's query but is still bounded. */
static const rj_gql_limits_t app_sdl_limits = {
    .max_bytes = 4 * 1024 * 1024,
    .max_tokens = 1000000,
    .max_depth = 64,
};

static rj_status_t
schema_error(rj_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static rj_status_t
schema_error(rj_error_t *err, const char *fmt, ...)
{
    char reason[RJ_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return rj_error_set(err, RJ_ESCHEMA, "invalid app schema: %s", reason);
}

static bool
is_builtin_scalar(const char *name)
{
    static const char *const builtins[] = {"ID", "String", "Int", "Float", "Boolean", "JSON"};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i], name) == 0)
            return true;
    return false;
}

static bool
str_in(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* The role a definition plays in the app, decided by its directive. */
typedef enum def_role {
    DEF_IGNORED,    /* directive definitions: documentation for tools, no meaning here */
    DEF_ROLES,      /* enum @roles */
    DEF_ENUM,       /* a user enum, copied to the API */
    DEF_SCALAR,     /* a user scalar, copied to the API */
    DEF_VALUE,      /* type without directive */
    DEF_ENTITY,     /* type @entity */
    DEF_EVENT,      /* type @event */
    DEF_READ_MODEL, /* type @readModel */
    DEF_COMMAND,    /* input @command */
    DEF_QUERY,      /* input @query: a query handler */
} def_role_t;

/* The arguments each type directive takes; anything else is a typo worth an error,
 * since a misspelt `authorize` would silently mean "deny everyone". */
static const struct {
    const char *directive;
    const char *args[5];
} directive_args[] = {
    {"entity", {"authorizeReadEvents"}},
    {"event", {"entity", "key"}},
    {"readModel", {"authorize"}},
    {"command", {"authorize", "entity", "key", "returns"}},
    {"query", {"authorize", "returns"}},
    {"roles", {NULL}},
};

static rj_status_t
check_directive_args(const char *owner, const rj_gql_ast_directive_t *d, rj_error_t *err)
{
    for (size_t i = 0; i < sizeof directive_args / sizeof directive_args[0]; i++) {
        if (strcmp(directive_args[i].directive, d->name) != 0)
            continue;
        for (const rj_gql_ast_argument_t *a = d->args; a != NULL; a = a->next) {
            bool known = false;
            for (size_t j = 0; j < 5 && directive_args[i].args[j] != NULL; j++)
                known |= strcmp(directive_args[i].args[j], a->name) == 0;
            if (!known)
                return schema_error(err, "%s: @%s takes no argument %s", owner, d->name,
                                    a->name);
        }
    }
    return RJ_OK;
}

static rj_status_t
classify(const rj_gql_ast_definition_t *def, def_role_t *role, rj_error_t *err)
{
    if (def->kind == RJ_GQL_DEF_DIRECTIVE) {
        *role = DEF_IGNORED;
        return RJ_OK;
    }
    if (def->extend)
        return schema_error(err, "line %u: extensions (extend ...) are not supported in an app "
                                 "schema", def->loc.line);
    const char *found = NULL;
    for (const rj_gql_ast_directive_t *d = def->directives; d != NULL; d = d->next) {
        bool known = false;
        for (size_t i = 0; i < sizeof directive_args / sizeof directive_args[0]; i++)
            known |= strcmp(d->name, directive_args[i].directive) == 0;
        if (!known)
            return schema_error(err, "%s: unknown directive @%s", def->name, d->name);
        if (found != NULL)
            return schema_error(err, "%s: @%s and @%s cannot be combined", def->name, found,
                                d->name);
        rj_status_t st = check_directive_args(def->name, d, err);
        if (st != RJ_OK)
            return st;
        found = d->name;
    }
    switch (def->kind) {
    case RJ_GQL_DEF_ENUM:
        if (found != NULL && strcmp(found, "roles") != 0)
            return schema_error(err, "%s: @%s does not apply to an enum", def->name, found);
        *role = found != NULL ? DEF_ROLES : DEF_ENUM;
        return RJ_OK;
    case RJ_GQL_DEF_SCALAR:
        if (found != NULL)
            return schema_error(err, "%s: @%s does not apply to a scalar", def->name, found);
        *role = DEF_SCALAR;
        return RJ_OK;
    case RJ_GQL_DEF_OBJECT:
        if (found == NULL)
            *role = DEF_VALUE;
        else if (strcmp(found, "entity") == 0)
            *role = DEF_ENTITY;
        else if (strcmp(found, "event") == 0)
            *role = DEF_EVENT;
        else if (strcmp(found, "readModel") == 0)
            *role = DEF_READ_MODEL;
        else
            return schema_error(err, "%s: @%s does not apply to an object type (use input for "
                                     "@command, enum for @roles)", def->name, found);
        if (def->interfaces != NULL)
            return schema_error(err, "%s: interfaces are not supported in an app schema",
                                def->name);
        return RJ_OK;
    case RJ_GQL_DEF_INPUT_OBJECT:
        if (found != NULL && strcmp(found, "query") == 0) {
            *role = DEF_QUERY;
            return RJ_OK;
        }
        if (found == NULL || strcmp(found, "command") != 0)
            return schema_error(err, "%s: an input type must be a @command or a @query "
                                     "(declare value types with type)", def->name);
        *role = DEF_COMMAND;
        return RJ_OK;
    default:
        return schema_error(err, "line %u: only type, input, enum and scalar definitions are "
                                 "supported in an app schema", def->loc.line);
    }
}

/* ---- pass 2 helpers ---- */

static void
field_free_contents(rj_app_field_t *f)
{
    free(f->name);
    free(f->type);
    free(f->named_type);
    for (size_t i = 0; i < f->n_depends_on; i++)
        free(f->depends_on[i]);
    free(f->depends_on);
}

static void
field_init(rj_app_field_t *f, const char *name, const rj_gql_type_ref_t *ref)
{
    memset(f, 0, sizeof *f);
    f->name = rj_xstrdup(name);
    f->type = rj_gql_type_ref_to_string(ref);
    f->named_type = rj_xstrdup(rj_gql_type_ref_named(ref));
    f->non_null = ref->kind == RJ_GQL_TYPE_NON_NULL;
    const rj_gql_type_ref_t *inner = f->non_null ? ref->of_type : ref;
    f->list = inner->kind == RJ_GQL_TYPE_LIST;
}

/* A string argument of a directive, copied, or NULL when absent; error when not a string. */
static rj_status_t
directive_string(const char *owner, const rj_gql_ast_directive_t *d, const char *arg, char **out,
                 rj_error_t *err)
{
    *out = NULL;
    json_t *v = rj_gql_directive_arg_json(d, arg);
    if (v == NULL)
        return RJ_OK;
    rj_status_t st = RJ_OK;
    if (json_is_string(v) && json_string_length(v) > 0)
        *out = rj_xstrdup(json_string_value(v));
    else
        st = schema_error(err, "%s: @%s(%s:) must be a non-empty string", owner, d->name, arg);
    json_decref(v);
    return st;
}

static rj_status_t
parse_auth(const rj_app_t *app, const char *owner, const rj_gql_ast_directive_t *d,
           const char *arg, rj_app_auth_t *auth, rj_error_t *err)
{
    memset(auth, 0, sizeof *auth);
    json_t *v = rj_gql_directive_arg_json(d, arg);
    if (v == NULL)
        return RJ_OK; /* omitted: nobody, Booster's default deny */
    rj_status_t st = RJ_OK;
    if (json_is_string(v) && (strcmp(json_string_value(v), "ALL") == 0 ||
                              strcmp(json_string_value(v), "all") == 0)) {
        auth->kind = RJ_APP_AUTH_ALL;
    } else if (json_is_string(v) && strcmp(json_string_value(v), "CUSTOM") == 0) {
        auth->kind = RJ_APP_AUTH_CUSTOM;
    } else if (json_is_string(v) || json_is_array(v)) {
        /* A single role name is accepted as a one-element list. */
        json_t *list = json_is_array(v) ? json_incref(v) : json_pack("[O]", v);
        auth->kind = RJ_APP_AUTH_ROLES;
        auth->roles = rj_xcalloc(json_array_size(list), sizeof(char *));
        size_t i;
        json_t *role;
        json_array_foreach(list, i, role) {
            if (!json_is_string(role)) {
                st = schema_error(err, "%s: @%s(%s:) must be ALL, CUSTOM or a list of roles",
                                  owner, d->name, arg);
                break;
            }
            if (!str_in(app->roles, app->n_roles, json_string_value(role))) {
                st = schema_error(err, "%s: @%s(%s:) names undeclared role %s (declare roles "
                                       "with enum Role @roles { ... })",
                                  owner, d->name, arg, json_string_value(role));
                break;
            }
            auth->roles[auth->n_roles++] = rj_xstrdup(json_string_value(role));
        }
        json_decref(list);
    } else {
        st = schema_error(err, "%s: @%s(%s:) must be ALL, CUSTOM or a list of roles", owner,
                          d->name, arg);
    }
    json_decref(v);
    return st;
}

static void
auth_free_contents(rj_app_auth_t *auth)
{
    for (size_t i = 0; i < auth->n_roles; i++)
        free(auth->roles[i]);
    free(auth->roles);
}

static rj_status_t
field_directives(const char *owner, rj_app_field_t *f, const rj_gql_ast_directive_t *dirs,
                 bool read_model, const char **sequenced_by, rj_error_t *err)
{
    for (const rj_gql_ast_directive_t *d = dirs; d != NULL; d = d->next) {
        if (read_model && strcmp(d->name, "calculated") == 0) {
            f->calculated = true;
            json_t *deps = rj_gql_directive_arg_json(d, "dependsOn");
            if (deps != NULL && json_is_string(deps))
                deps = json_pack("[o]", deps); /* one dependency may be written bare */
            if (deps != NULL && !json_is_array(deps)) {
                json_decref(deps);
                return schema_error(err, "%s.%s: @calculated(dependsOn:) must be a list of "
                                         "field names", owner, f->name);
            }
            f->depends_on = rj_xcalloc(json_array_size(deps), sizeof(char *));
            size_t i;
            json_t *dep;
            json_array_foreach(deps, i, dep) {
                if (!json_is_string(dep)) {
                    json_decref(deps);
                    return schema_error(err, "%s.%s: @calculated(dependsOn:) must be a list "
                                             "of field names", owner, f->name);
                }
                f->depends_on[f->n_depends_on++] = rj_xstrdup(json_string_value(dep));
            }
            json_decref(deps);
        } else if (read_model && strcmp(d->name, "sequencedBy") == 0) {
            if (*sequenced_by != NULL)
                return schema_error(err, "%s: @sequencedBy is on both %s and %s; a read model "
                                         "has one sequence key", owner, *sequenced_by, f->name);
            *sequenced_by = f->name;
        } else if (strcmp(d->name, "deprecated") != 0) {
            return schema_error(err, "%s.%s: directive @%s is not allowed here", owner, f->name,
                                d->name);
        }
    }
    return RJ_OK;
}

static rj_status_t
object_fields(const rj_gql_ast_definition_t *def, bool read_model, rj_app_field_t **fields,
              size_t *n, const char **sequenced_by, rj_error_t *err)
{
    size_t count = 0;
    for (const rj_gql_ast_field_def_t *fd = def->fields; fd != NULL; fd = fd->next)
        count++;
    *fields = rj_xcalloc(count, sizeof **fields);
    *n = 0;
    for (const rj_gql_ast_field_def_t *fd = def->fields; fd != NULL; fd = fd->next) {
        rj_app_field_t *f = &(*fields)[(*n)++];
        field_init(f, fd->name, fd->type);
        if (fd->args != NULL)
            return schema_error(err, "%s.%s: fields of app types take no arguments", def->name,
                                fd->name);
        rj_status_t st = field_directives(def->name, f, fd->directives, read_model,
                                          sequenced_by, err);
        if (st != RJ_OK)
            return st;
    }
    return RJ_OK;
}

static rj_status_t
input_fields(const rj_gql_ast_definition_t *def, rj_app_field_t **fields, size_t *n,
             rj_error_t *err)
{
    size_t count = 0;
    for (const rj_gql_ast_input_value_t *iv = def->input_values; iv != NULL; iv = iv->next)
        count++;
    *fields = rj_xcalloc(count, sizeof **fields);
    *n = 0;
    for (const rj_gql_ast_input_value_t *iv = def->input_values; iv != NULL; iv = iv->next) {
        rj_app_field_t *f = &(*fields)[(*n)++];
        field_init(f, iv->name, iv->type);
        if (iv->default_value != NULL)
            return schema_error(err, "%s.%s: default values are not supported on command "
                                     "fields", def->name, iv->name);
        const char *unused = NULL;
        rj_status_t st = field_directives(def->name, f, iv->directives, false, &unused, err);
        if (st != RJ_OK)
            return st;
    }
    return RJ_OK;
}

static const rj_app_field_t *
find_field(const rj_app_field_t *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static rj_app_entity_t *
entity_mut(rj_app_t *app, const char *name)
{
    for (size_t i = 0; i < app->n_entities; i++)
        if (strcmp(app->entities[i].name, name) == 0)
            return &app->entities[i];
    return NULL;
}

static rj_app_type_t *
type_mut(rj_app_t *app, const char *name)
{
    for (size_t i = 0; i < app->n_types; i++)
        if (strcmp(app->types[i].name, name) == 0)
            return &app->types[i];
    return NULL;
}

/* The printed SDL of a user enum, copied into the API as declared. */
static char *
enum_sdl(const rj_gql_ast_definition_t *def)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_printf(&b, "enum %s {\n", def->name);
    for (const rj_gql_ast_enum_value_t *v = def->enum_values; v != NULL; v = v->next)
        rj_buf_printf(&b, "  %s\n", v->name);
    rj_buf_puts(&b, "}\n");
    return rj_buf_steal(&b);
}

static rj_status_t
build_def(rj_app_t *app, const rj_gql_ast_definition_t *def, def_role_t role, rj_error_t *err)
{
    const rj_gql_ast_directive_t *dir = def->directives;
    const char *unused = NULL;
    rj_status_t st = RJ_OK;

    switch (role) {
    case DEF_IGNORED:
    case DEF_ROLES:
        return RJ_OK;
    case DEF_ENUM:
        app->enums_sdl[app->n_enums_sdl++] = enum_sdl(def);
        app->scalars[app->n_scalars++] = rj_xstrdup(def->name);
        return RJ_OK;
    case DEF_SCALAR:
        app->enums_sdl[app->n_enums_sdl++] = rj_xasprintf("scalar %s\n", def->name);
        app->scalars[app->n_scalars++] = rj_xstrdup(def->name);
        return RJ_OK;
    case DEF_VALUE: {
        rj_app_type_t *t = &app->types[app->n_types++];
        t->name = rj_xstrdup(def->name);
        return object_fields(def, false, &t->fields, &t->n_fields, &unused, err);
    }
    case DEF_ENTITY: {
        rj_app_entity_t *e = &app->entities[app->n_entities++];
        e->name = rj_xstrdup(def->name);
        st = object_fields(def, false, &e->fields, &e->n_fields, &unused, err);
        if (st == RJ_OK)
            st = parse_auth(app, def->name, dir, "authorizeReadEvents",
                            &e->authorize_read_events, err);
        return st;
    }
    case DEF_EVENT: {
        rj_app_event_t *ev = &app->events[app->n_events++];
        ev->name = rj_xstrdup(def->name);
        st = object_fields(def, false, &ev->fields, &ev->n_fields, &unused, err);
        if (st == RJ_OK)
            st = directive_string(def->name, dir, "key", &ev->key, err);
        return st;
    }
    case DEF_READ_MODEL: {
        rj_app_read_model_t *rm = &app->read_models[app->n_read_models++];
        rm->name = rj_xstrdup(def->name);
        st = object_fields(def, true, &rm->fields, &rm->n_fields, &rm->sequenced_by, err);
        if (st == RJ_OK)
            st = parse_auth(app, def->name, dir, "authorize", &rm->authorize, err);
        return st;
    }
    case DEF_COMMAND: {
        rj_app_command_t *c = &app->commands[app->n_commands++];
        c->name = rj_xstrdup(def->name);
        st = input_fields(def, &c->fields, &c->n_fields, err);
        if (st == RJ_OK)
            st = parse_auth(app, def->name, dir, "authorize", &c->authorize, err);
        if (st == RJ_OK)
            st = directive_string(def->name, dir, "key", &c->key, err);
        if (st == RJ_OK)
            st = directive_string(def->name, dir, "returns", &c->returns, err);
        if (st == RJ_OK && c->returns == NULL)
            c->returns = rj_xstrdup("JSON!");
        return st;
    }
    case DEF_QUERY: {
        rj_app_query_t *q = &app->queries[app->n_queries++];
        q->name = rj_xstrdup(def->name);
        st = input_fields(def, &q->fields, &q->n_fields, err);
        if (st == RJ_OK)
            st = parse_auth(app, def->name, dir, "authorize", &q->authorize, err);
        if (st == RJ_OK)
            st = directive_string(def->name, dir, "returns", &q->returns, err);
        /* Booster refuses a @Query whose handler returns void: there is no default. */
        if (st == RJ_OK && q->returns == NULL)
            st = schema_error(err, "query %s: @query needs returns: (its GraphQL type, e.g. "
                                   "\"Float!\")", def->name);
        return st;
    }
    }
    return RJ_OK;
}

/* ---- pass 3: references ---- */

typedef enum type_use {
    USE_OUTPUT, /* a field of an output type */
    USE_INPUT,  /* a command input field */
} type_use_t;

static bool
is_object_name(const rj_app_t *app, const char *name)
{
    return rj_app_type(app, name) != NULL || rj_app_entity(app, name) != NULL ||
           rj_app_event(app, name) != NULL || rj_app_read_model(app, name) != NULL;
}

static rj_status_t
check_field_types(const rj_app_t *app, const char *owner, const rj_app_field_t *fields, size_t n,
                  type_use_t use, rj_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *t = fields[i].named_type;
        if (is_builtin_scalar(t) || str_in(app->scalars, app->n_scalars, t))
            continue;
        if (use == USE_INPUT && rj_app_type(app, t) != NULL)
            continue;
        if (use == USE_INPUT && is_object_name(app, t))
            return schema_error(err, "%s.%s: command inputs may use scalars, enums and value "
                                     "types only, not %s", owner, fields[i].name, t);
        if (use == USE_OUTPUT && is_object_name(app, t) && rj_app_event(app, t) == NULL)
            continue;
        return schema_error(err, "%s.%s: unknown type %s", owner, fields[i].name, t);
    }
    return RJ_OK;
}

/* Marks @p t and every value type reachable from its fields as used in command input. */
static void
mark_input(rj_app_t *app, rj_app_type_t *t)
{
    if (t == NULL || t->used_in_input)
        return;
    t->used_in_input = true;
    for (size_t i = 0; i < t->n_fields; i++)
        mark_input(app, type_mut(app, t->fields[i].named_type));
}

/* The named type inside a type string such as "[Cart!]!", copied; NULL when malformed. */
static char *
type_string_name(const char *s)
{
    size_t open = 0;
    while (*s == '[') {
        open++;
        s++;
    }
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return NULL;
    const char *rest = s + n;
    size_t close = 0;
    for (const char *p = rest; *p != '\0'; p++) {
        if (*p == ']')
            close++;
        else if (*p != '!')
            return NULL;
    }
    return close == open ? rj_xstrndup(s, n) : NULL;
}

/* True when a `returns:` type string names a scalar, an enum or an output object type. */
static bool
returns_known(const rj_app_t *app, const char *returns)
{
    char *ret = type_string_name(returns);
    bool known = ret != NULL && (is_builtin_scalar(ret) ||
                                 str_in(app->scalars, app->n_scalars, ret) ||
                                 (is_object_name(app, ret) && rj_app_event(app, ret) == NULL));
    free(ret);
    return known;
}

static rj_status_t
check_references(rj_app_t *app, rj_error_t *err)
{
    rj_status_t st;
    for (size_t i = 0; i < app->n_types; i++) {
        const rj_app_type_t *t = &app->types[i];
        if ((st = check_field_types(app, t->name, t->fields, t->n_fields, USE_OUTPUT, err)))
            return st;
    }
    for (size_t i = 0; i < app->n_entities; i++) {
        const rj_app_entity_t *e = &app->entities[i];
        if ((st = check_field_types(app, e->name, e->fields, e->n_fields, USE_OUTPUT, err)))
            return st;
    }
    for (size_t i = 0; i < app->n_events; i++) {
        rj_app_event_t *ev = &app->events[i];
        if ((st = check_field_types(app, ev->name, ev->fields, ev->n_fields, USE_OUTPUT, err)))
            return st;
    }
    for (size_t i = 0; i < app->n_read_models; i++) {
        const rj_app_read_model_t *rm = &app->read_models[i];
        if ((st = check_field_types(app, rm->name, rm->fields, rm->n_fields, USE_OUTPUT, err)))
            return st;
        for (size_t j = 0; j < rm->n_fields; j++) {
            const rj_app_field_t *f = &rm->fields[j];
            for (size_t k = 0; k < f->n_depends_on; k++)
                if (find_field(rm->fields, rm->n_fields, f->depends_on[k]) == NULL)
                    return schema_error(err, "%s.%s: @calculated depends on unknown field %s",
                                        rm->name, f->name, f->depends_on[k]);
        }
        if (find_field(rm->fields, rm->n_fields, "id") == NULL)
            return schema_error(err, "read model %s has no id field", rm->name);
    }
    for (size_t i = 0; i < app->n_commands; i++) {
        rj_app_command_t *c = &app->commands[i];
        if ((st = check_field_types(app, c->name, c->fields, c->n_fields, USE_INPUT, err)))
            return st;
        for (size_t j = 0; j < c->n_fields; j++)
            mark_input(app, type_mut(app, c->fields[j].named_type));
        if (!returns_known(app, c->returns))
            return schema_error(err, "command %s: @command(returns: \"%s\") is not a known "
                                     "output type", c->name, c->returns);
    }
    for (size_t i = 0; i < app->n_queries; i++) {
        rj_app_query_t *q = &app->queries[i];
        if ((st = check_field_types(app, q->name, q->fields, q->n_fields, USE_INPUT, err)))
            return st;
        for (size_t j = 0; j < q->n_fields; j++)
            mark_input(app, type_mut(app, q->fields[j].named_type));
        if (!returns_known(app, q->returns))
            return schema_error(err, "query %s: @query(returns: \"%s\") is not a known "
                                     "output type", q->name, q->returns);
    }
    return RJ_OK;
}

/* Resolves the entity and key directive arguments of events and commands. */
static rj_status_t
resolve_entities(rj_app_t *app, const rj_gql_ast_definition_t *defs, rj_error_t *err)
{
    for (const rj_gql_ast_definition_t *def = defs; def != NULL; def = def->next) {
        const rj_gql_ast_directive_t *d = def->directives;
        if (d == NULL || def->name == NULL)
            continue;
        bool is_event = strcmp(d->name, "event") == 0;
        bool is_command = strcmp(d->name, "command") == 0;
        if (!is_event && !is_command)
            continue;
        char *entity_name = NULL;
        rj_status_t st = directive_string(def->name, d, "entity", &entity_name, err);
        if (st != RJ_OK)
            return st;
        const rj_app_entity_t *entity = entity_name ? entity_mut(app, entity_name) : NULL;
        if (entity_name != NULL && entity == NULL) {
            st = schema_error(err, "%s %s: @%s(entity: \"%s\") is not a declared @entity",
                              d->name, def->name, d->name, entity_name);
            free(entity_name);
            return st;
        }
        free(entity_name);
        if (is_event) {
            rj_app_event_t *ev = (rj_app_event_t *)rj_app_event(app, def->name);
            if (entity == NULL || ev->key == NULL)
                return schema_error(err, "event %s: @event needs entity: and key:", def->name);
            if (find_field(ev->fields, ev->n_fields, ev->key) == NULL)
                return schema_error(err, "event %s: key \"%s\" is not a field of the event",
                                    def->name, ev->key);
            ev->entity = entity;
        } else {
            rj_app_command_t *c = (rj_app_command_t *)rj_app_command(app, def->name);
            if ((entity == NULL) != (c->key == NULL))
                return schema_error(err, "command %s: @command takes entity: and key: together "
                                         "or neither", def->name);
            if (c->key != NULL && find_field(c->fields, c->n_fields, c->key) == NULL)
                return schema_error(err, "command %s: key \"%s\" is not an input field",
                                    def->name, c->key);
            c->entity = entity;
        }
    }
    return RJ_OK;
}

rj_status_t
rj__app_model_build(rj_app_t *app, rj_error_t *err)
{
    RJ_ASSERT(app->sdl != NULL);
    json_t *perr = NULL;
    rj_gql_doc_t *doc = rj_gql_parse(app->sdl, strlen(app->sdl), &app_sdl_limits, &perr);
    if (doc == NULL) {
        const char *msg = json_string_value(json_object_get(perr, "message"));
        json_t *loc = json_array_get(json_object_get(perr, "locations"), 0);
        rj_status_t st = schema_error(err, "%s (line %d, column %d)",
                                      msg != NULL ? msg : "syntax error",
                                      (int)json_integer_value(json_object_get(loc, "line")),
                                      (int)json_integer_value(json_object_get(loc, "column")));
        json_decref(perr);
        return st;
    }
    const rj_gql_ast_definition_t *defs = rj_gql_doc_definitions(doc);
    rj_status_t st = RJ_OK;

    /* Pass 1: names, roles, and the sizes of the arrays (never reallocated afterwards). */
    size_t counts[DEF_QUERY + 1] = {0};
    size_t ndefs = 0;
    for (const rj_gql_ast_definition_t *def = defs; def != NULL; def = def->next)
        ndefs++;
    def_role_t *roles = rj_xcalloc(ndefs, sizeof *roles);
    size_t k = 0;
    for (const rj_gql_ast_definition_t *def = defs; def != NULL && st == RJ_OK;
         def = def->next, k++) {
        st = classify(def, &roles[k], err);
        if (st != RJ_OK)
            break;
        counts[roles[k]]++;
        if (roles[k] == DEF_IGNORED)
            continue;
        if (is_builtin_scalar(def->name)) {
            if (!(roles[k] == DEF_SCALAR && strcmp(def->name, "JSON") == 0))
                st = schema_error(err, "%s: the name of a built-in scalar", def->name);
            else
                counts[DEF_SCALAR]--; /* `scalar JSON` is tolerated: the API always has it */
            roles[k] = DEF_IGNORED;
            continue;
        }
        size_t j = 0;
        for (const rj_gql_ast_definition_t *prev = defs; prev != def; prev = prev->next, j++)
            if (roles[j] != DEF_IGNORED && strcmp(prev->name, def->name) == 0)
                st = schema_error(err, "%s is declared twice", def->name);
        if (st == RJ_OK && roles[k] == DEF_ROLES) {
            if (app->roles != NULL) {
                st = schema_error(err, "%s: roles are already declared by another @roles enum",
                                  def->name);
                break;
            }
            size_t n = 0;
            for (const rj_gql_ast_enum_value_t *v = def->enum_values; v != NULL; v = v->next)
                n++;
            app->roles = rj_xcalloc(n, sizeof(char *));
            for (const rj_gql_ast_enum_value_t *v = def->enum_values; v != NULL; v = v->next)
                app->roles[app->n_roles++] = rj_xstrdup(v->name);
        }
    }

    /* Pass 2: shapes. */
    if (st == RJ_OK) {
        app->types = rj_xcalloc(counts[DEF_VALUE], sizeof *app->types);
        app->entities = rj_xcalloc(counts[DEF_ENTITY], sizeof *app->entities);
        app->events = rj_xcalloc(counts[DEF_EVENT], sizeof *app->events);
        app->read_models = rj_xcalloc(counts[DEF_READ_MODEL], sizeof *app->read_models);
        app->commands = rj_xcalloc(counts[DEF_COMMAND], sizeof *app->commands);
        app->queries = rj_xcalloc(counts[DEF_QUERY], sizeof *app->queries);
        app->enums_sdl = rj_xcalloc(counts[DEF_ENUM] + counts[DEF_SCALAR], sizeof(char *));
        app->scalars = rj_xcalloc(counts[DEF_ENUM] + counts[DEF_SCALAR], sizeof(char *));
        k = 0;
        for (const rj_gql_ast_definition_t *def = defs; def != NULL && st == RJ_OK;
             def = def->next, k++)
            st = build_def(app, def, roles[k], err);
    }

    /* Pass 3: references. */
    if (st == RJ_OK)
        st = resolve_entities(app, defs, err);
    if (st == RJ_OK)
        st = check_references(app, err);

    free(roles);
    rj_gql_doc_free(doc);
    return st;
}

/* ---- teardown (used by rj_app_free) ---- */

static void
fields_free(rj_app_field_t *fields, size_t n)
{
    for (size_t i = 0; i < n; i++)
        field_free_contents(&fields[i]);
    free(fields);
}

void
rj__app_model_free(rj_app_t *app)
{
    for (size_t i = 0; i < app->n_roles; i++)
        free(app->roles[i]);
    free(app->roles);
    for (size_t i = 0; i < app->n_types; i++) {
        free(app->types[i].name);
        fields_free(app->types[i].fields, app->types[i].n_fields);
    }
    free(app->types);
    for (size_t i = 0; i < app->n_commands; i++) {
        rj_app_command_t *c = &app->commands[i];
        free(c->name);
        fields_free(c->fields, c->n_fields);
        free(c->key);
        free(c->returns);
        auth_free_contents(&c->authorize);
        free(c->hooks);
    }
    free(app->commands);
    for (size_t i = 0; i < app->n_queries; i++) {
        rj_app_query_t *q = &app->queries[i];
        free(q->name);
        fields_free(q->fields, q->n_fields);
        free(q->returns);
        auth_free_contents(&q->authorize);
        free(q->hooks);
    }
    free(app->queries);
    for (size_t i = 0; i < app->n_events; i++) {
        free(app->events[i].name);
        free(app->events[i].key);
        fields_free(app->events[i].fields, app->events[i].n_fields);
    }
    free(app->events);
    for (size_t i = 0; i < app->n_entities; i++) {
        rj_app_entity_t *e = &app->entities[i];
        free(e->name);
        fields_free(e->fields, e->n_fields);
        auth_free_contents(&e->authorize_read_events);
        free(e->reducers);
        free(e->projections);
    }
    free(app->entities);
    for (size_t i = 0; i < app->n_read_models; i++) {
        rj_app_read_model_t *rm = &app->read_models[i];
        free(rm->name);
        fields_free(rm->fields, rm->n_fields);
        auth_free_contents(&rm->authorize);
        for (size_t j = 0; j < rm->n_projections; j++)
            free(rm->projections[j].join_field);
        free(rm->projections);
        free(rm->hooks);
    }
    free(app->read_models);
    for (size_t i = 0; i < app->n_enums_sdl; i++)
        free(app->enums_sdl[i]);
    free(app->enums_sdl);
    for (size_t i = 0; i < app->n_scalars; i++)
        free(app->scalars[i]);
    free(app->scalars);
}
