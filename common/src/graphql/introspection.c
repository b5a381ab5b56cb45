/*
 * graphql/introspection.c - the values of __schema and __type(name:) (spec 4.2), computed
 * straight from the schema structures while completing the caller's selection set.
 *
 * The introspection types themselves (__Schema, __Type, ...) are ordinary schema types
 * declared in prelude.c, so validation and CollectFields treat them like any other type;
 * only their field values are produced here. The object graph is cyclic (a type's field's
 * type's fields...), so nothing is materialised ahead: each selection pulls exactly the
 * part it names, which also bounds the work by the size of the query.
 *
 * Deliberately simple: introspection fields never fail, so there is no error or null
 * propagation to handle, unlike execute.c.
 */
#include <string.h>

#include "graphql/gql_int.h"

typedef enum inode_kind {
    N_SCHEMA,      /* __Schema: the schema itself */
    N_TYPE,        /* __Type: a named type, or a list/non-null wrapper */
    N_FIELD,       /* __Field */
    N_INPUT_VALUE, /* __InputValue: an argument or input field */
    N_ENUM_VALUE,  /* __EnumValue */
    N_DIRECTIVE,   /* __Directive */
} inode_kind_t;

/* One introspection object: what it describes. */
typedef struct inode {
    inode_kind_t kind;              /* which __ type */
    const void *ptr;                /* the schema element (named type for N_TYPE) */
    const rj_gql_type_ref_t *ref;   /* N_TYPE wrappers: the list/non-null reference */
} inode_t;

typedef struct ictx {
    const rj_gql_schema_t *s;  /* the schema */
    const rj_gql_doc_t *doc;   /* the query (fragments) */
    const json_t *variables;   /* coerced variables */
} ictx_t;

static const char *const inode_type_names[] = {"__Schema",     "__Type",      "__Field",
                                               "__InputValue", "__EnumValue", "__Directive"};

static const char *const kind_names[] = {"SCALAR", "OBJECT",      "INTERFACE",
                                         "UNION",  "ENUM",        "INPUT_OBJECT"};

static json_t *icomplete(const ictx_t *c, inode_t n, const rj__gql_field_group_t *g);

static inode_t
type_node(const rj_gql_schema_t *s, const rj_gql_type_ref_t *ref)
{
    if (ref->kind == RJ_GQL_TYPE_NAMED)
        return (inode_t){N_TYPE, rj_gql_schema_find_type(s, ref->name), NULL};
    return (inode_t){N_TYPE, NULL, ref};
}

static json_t *
str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static bool
include_deprecated(const ictx_t *c, const rj_gql_type_t *intro_type, const char *field,
                   const rj_gql_ast_selection_t *node)
{
    const rj_gql_field_def_t *fd = rj_gql_type_find_field(intro_type, field);
    json_t *err = NULL;
    json_t *args = rj__gql_coerce_args(c->s, fd->args, fd->nargs, node->args, c->variables,
                                       node->loc, &err);
    json_decref(err);
    bool r = json_is_true(json_object_get(args, "includeDeprecated"));
    json_decref(args);
    return r;
}

static bool
input_value_deprecated(const rj_gql_input_value_t *iv, const char **reason)
{
    const rj_gql_ast_directive_t *d = rj_gql_directives_find(iv->directives, "deprecated");
    *reason = NULL;
    if (d == NULL)
        return false;
    *reason = "No longer supported";
    for (const rj_gql_ast_argument_t *a = d->args; a != NULL; a = a->next)
        if (strcmp(a->name, "reason") == 0 && a->value->kind == RJ_GQL_VALUE_STRING)
            *reason = a->value->str;
    return true;
}

static json_t *
input_values(const ictx_t *c, const rj_gql_input_value_t *ivs, size_t n, bool with_deprecated,
             const rj__gql_field_group_t *g)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *reason;
        if (!with_deprecated && input_value_deprecated(&ivs[i], &reason))
            continue;
        json_array_append_new(a, icomplete(c, (inode_t){N_INPUT_VALUE, &ivs[i], NULL}, g));
    }
    return a;
}

static json_t *
type_list(const ictx_t *c, const rj_gql_type_t *const *types, size_t n,
          const rj__gql_field_group_t *g)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, icomplete(c, (inode_t){N_TYPE, types[i], NULL}, g));
    return a;
}

static json_t *
resolve_schema(const ictx_t *c, const char *f, const rj__gql_field_group_t *g)
{
    const rj_gql_schema_t *s = c->s;
    if (strcmp(f, "description") == 0)
        return str_or_null(s->description);
    if (strcmp(f, "types") == 0)
        return type_list(c, s->intro_types, s->nintro_types, g);
    static const char *const roots[] = {"queryType", "mutationType", "subscriptionType"};
    for (int op = 0; op < 3; op++)
        if (strcmp(f, roots[op]) == 0)
            return s->roots[op] != NULL ? icomplete(c, (inode_t){N_TYPE, s->roots[op], NULL}, g)
                                        : json_null();
    if (strcmp(f, "directives") == 0) {
        /* graphql-js's buildSchema order: the SDL's directives, then the specified ones. */
        json_t *a = json_array();
        for (int builtin = 0; builtin < 2; builtin++)
            for (size_t i = 0; i < s->ndirectives; i++)
                if (s->directives[i]->builtin == (builtin == 1))
                    json_array_append_new(
                        a, icomplete(c, (inode_t){N_DIRECTIVE, s->directives[i], NULL}, g));
        return a;
    }
    return json_null();
}

static json_t *
resolve_type(const ictx_t *c, inode_t n, const char *f, const rj__gql_field_group_t *g)
{
    if (n.ref != NULL) { /* a list or non-null wrapper */
        if (strcmp(f, "kind") == 0)
            return json_string(n.ref->kind == RJ_GQL_TYPE_LIST ? "LIST" : "NON_NULL");
        if (strcmp(f, "ofType") == 0)
            return icomplete(c, type_node(c->s, n.ref->of_type), g);
        return json_null();
    }
    const rj_gql_type_t *t = n.ptr;
    const rj_gql_type_t *intro = rj_gql_schema_find_type(c->s, "__Type");
    if (strcmp(f, "kind") == 0)
        return json_string(kind_names[t->kind]);
    if (strcmp(f, "name") == 0)
        return json_string(t->name);
    if (strcmp(f, "description") == 0)
        return str_or_null(t->description);
    if (strcmp(f, "specifiedByURL") == 0)
        return str_or_null(t->specified_by);
    if (strcmp(f, "fields") == 0) {
        if (t->kind != RJ_GQL_KIND_OBJECT && t->kind != RJ_GQL_KIND_INTERFACE)
            return json_null();
        bool all = include_deprecated(c, intro, f, g->nodes[0]);
        json_t *a = json_array();
        for (size_t i = 0; i < t->nfields; i++)
            if (all || !t->fields[i].deprecated)
                json_array_append_new(a,
                                      icomplete(c, (inode_t){N_FIELD, &t->fields[i], NULL}, g));
        return a;
    }
    if (strcmp(f, "interfaces") == 0) {
        if (t->kind != RJ_GQL_KIND_OBJECT && t->kind != RJ_GQL_KIND_INTERFACE)
            return json_null();
        return type_list(c, t->interfaces, t->ninterfaces, g);
    }
    if (strcmp(f, "possibleTypes") == 0) {
        if (t->kind != RJ_GQL_KIND_UNION && t->kind != RJ_GQL_KIND_INTERFACE)
            return json_null();
        return type_list(c, t->possible_types, t->npossible_types, g);
    }
    if (strcmp(f, "enumValues") == 0) {
        if (t->kind != RJ_GQL_KIND_ENUM)
            return json_null();
        bool all = include_deprecated(c, intro, f, g->nodes[0]);
        json_t *a = json_array();
        for (size_t i = 0; i < t->nenum_values; i++)
            if (all || !t->enum_values[i].deprecated)
                json_array_append_new(
                    a, icomplete(c, (inode_t){N_ENUM_VALUE, &t->enum_values[i], NULL}, g));
        return a;
    }
    if (strcmp(f, "inputFields") == 0) {
        if (t->kind != RJ_GQL_KIND_INPUT_OBJECT)
            return json_null();
        return input_values(c, t->input_fields, t->ninput_fields,
                            include_deprecated(c, intro, f, g->nodes[0]), g);
    }
    return json_null(); /* ofType of a named type */
}

static json_t *
resolve_other(const ictx_t *c, inode_t n, const char *f, const rj__gql_field_group_t *g)
{
    if (n.kind == N_FIELD) {
        const rj_gql_field_def_t *fd = n.ptr;
        if (strcmp(f, "name") == 0)
            return json_string(fd->name);
        if (strcmp(f, "description") == 0)
            return str_or_null(fd->description);
        if (strcmp(f, "args") == 0)
            return input_values(c, fd->args, fd->nargs,
                                include_deprecated(c, rj_gql_schema_find_type(c->s, "__Field"),
                                                   f, g->nodes[0]),
                                g);
        if (strcmp(f, "type") == 0)
            return icomplete(c, type_node(c->s, fd->type), g);
        if (strcmp(f, "isDeprecated") == 0)
            return json_boolean(fd->deprecated);
        if (strcmp(f, "deprecationReason") == 0)
            return str_or_null(fd->deprecation_reason);
    } else if (n.kind == N_INPUT_VALUE) {
        const rj_gql_input_value_t *iv = n.ptr;
        const char *reason;
        bool deprecated = input_value_deprecated(iv, &reason);
        if (strcmp(f, "name") == 0)
            return json_string(iv->name);
        if (strcmp(f, "description") == 0)
            return str_or_null(iv->description);
        if (strcmp(f, "type") == 0)
            return icomplete(c, type_node(c->s, iv->type), g);
        if (strcmp(f, "defaultValue") == 0) {
            if (iv->default_value == NULL)
                return json_null();
            rj_buf_t b;
            rj_buf_init(&b);
            rj__gql_print_value(&b, iv->default_value);
            json_t *r = json_stringn(b.data, b.len);
            rj_buf_deinit(&b);
            return r;
        }
        if (strcmp(f, "isDeprecated") == 0)
            return json_boolean(deprecated);
        if (strcmp(f, "deprecationReason") == 0)
            return str_or_null(reason);
    } else if (n.kind == N_ENUM_VALUE) {
        const rj_gql_enum_value_t *ev = n.ptr;
        if (strcmp(f, "name") == 0)
            return json_string(ev->name);
        if (strcmp(f, "description") == 0)
            return str_or_null(ev->description);
        if (strcmp(f, "isDeprecated") == 0)
            return json_boolean(ev->deprecated);
        if (strcmp(f, "deprecationReason") == 0)
            return str_or_null(ev->deprecation_reason);
    } else if (n.kind == N_DIRECTIVE) {
        const rj_gql_directive_def_t *d = n.ptr;
        if (strcmp(f, "name") == 0)
            return json_string(d->name);
        if (strcmp(f, "description") == 0)
            return str_or_null(d->description);
        if (strcmp(f, "isRepeatable") == 0)
            return json_boolean(d->repeatable);
        if (strcmp(f, "locations") == 0) {
            json_t *a = json_array();
            for (size_t i = 0; i < d->nlocations; i++)
                json_array_append_new(a, json_string(d->locations[i]));
            return a;
        }
        if (strcmp(f, "args") == 0)
            return input_values(
                c, d->args, d->nargs,
                include_deprecated(c, rj_gql_schema_find_type(c->s, "__Directive"), f,
                                   g->nodes[0]),
                g);
    }
    return json_null();
}

/* Completes an introspection object for the selection sets of @p g. */
static json_t *
icomplete(const ictx_t *c, inode_t n, const rj__gql_field_group_t *g)
{
    if (n.kind == N_TYPE && n.ptr == NULL && n.ref == NULL)
        return json_null();
    const rj_gql_type_t *t = rj_gql_schema_find_type(c->s, inode_type_names[n.kind]);
    rj__gql_fields_t sub = {0};
    for (size_t i = 0; i < g->nnodes; i++)
        rj__gql_collect_fields(c->s, c->doc, t, g->nodes[i]->selections, c->variables, &sub);
    json_t *out = json_object();
    for (size_t i = 0; i < sub.n; i++) {
        const rj__gql_field_group_t *sg = &sub.groups[i];
        const char *f = sg->nodes[0]->name;
        json_t *v;
        if (strcmp(f, "__typename") == 0)
            v = json_string(t->name);
        else if (n.kind == N_SCHEMA)
            v = resolve_schema(c, f, sg);
        else if (n.kind == N_TYPE)
            v = resolve_type(c, n, f, sg);
        else
            v = resolve_other(c, n, f, sg);
        json_object_set_new(out, sg->key, v);
    }
    rj__gql_fields_deinit(&sub);
    return out;
}

json_t *
rj__gql_introspect(const rj_gql_schema_t *s, const rj_gql_doc_t *doc,
                   const rj_gql_field_def_t *field, const rj__gql_field_group_t *group,
                   const json_t *args, const json_t *variables)
{
    ictx_t c = {.s = s, .doc = doc, .variables = variables};
    if (field == s->meta_schema)
        return icomplete(&c, (inode_t){N_SCHEMA, s, NULL}, group);
    const char *name = json_string_value(json_object_get(args, "name"));
    const rj_gql_type_t *t = name != NULL ? rj_gql_schema_find_type(s, name) : NULL;
    if (t == NULL)
        return json_null();
    return icomplete(&c, (inode_t){N_TYPE, t, NULL}, group);
}
