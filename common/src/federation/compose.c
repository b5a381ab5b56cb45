/*
 * federation/compose.c - Apollo Federation v1 composition: the services' SDL merged into
 * one public schema, plus, per type and field, which service resolves what.
 *
 * Composition happens in four passes over the services' parsed SDL:
 *   1. collect   every type definition and extension of every service, by type name, in
 *                configuration order (root types renamed to Query/Mutation/Subscription);
 *   2. merge     each type: its defining service (the one that does not `extend` it), its
 *                @keys, and for each field the service that owns it, @external, @requires
 *                and @provides; value types (defined identically by several services) are
 *                resolvable by any of them;
 *   3. check     what needs the whole graph: key, requires and provides field sets name
 *                existing fields, @requires names @external fields, @provides an entity's;
 *   4. print     the public SDL, without federation's types, fields and directives, and
 *                build it with rj_gql_schema_from_sdl(), so the gateway's validation,
 *                introspection and GraphiQL see an ordinary schema.
 *
 * Printing and re-parsing costs a little at start and buys one schema builder: a second
 * way of building rj_gql_schema_t would be a second set of rules for what a schema is.
 *
 * Deliberately not done: directive definitions of the services are dropped (type-system
 * directives describe a service's implementation, not the API, and Apollo v1 composes
 * only executable ones defined identically everywhere). Federation v2's @shareable, @link
 * and @override are not interpreted: they are not federation v1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/core.h"
#include "federation/federation.h"

/* Service SDL may be far larger than a client's query; still bounded. */
static const rj_gql_limits_t sdl_limits = {
    .max_bytes = 16u << 20,
    .max_tokens = 4u << 20,
    .max_depth = 64,
};

/* A field set is a few names. */
static const rj_gql_limits_t fieldset_limits = {
    .max_bytes = 4096,
    .max_tokens = 1024,
    .max_depth = 16,
};

#define NO_OWNER (-2) /* a field only seen @external so far */

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) != 0 ? 2 * (cap) : 4;                                                    \
            (arr) = rj_xrealloc((arr), (cap) * sizeof(*(arr)));                                    \
        }                                                                                          \
    } while (0)

/* One service's definition or extension of a type. */
typedef struct decl {
    int service;                        /* who declares it */
    const rj_gql_ast_definition_t *def; /* the definition; in the service's document */
    bool extension;                     /* `extend type` or @extends */
} decl_t;

/* A type being composed; `pub` first, so the public view is a cast away. */
typedef struct ftype {
    rj_fed_type_t pub;                         /* the routing facts */
    size_t fields_cap;                         /* capacity of pub.fields and field_defs */
    const rj_gql_ast_field_def_t **field_defs; /* OBJECT, INTERFACE: each field's printed
                                                  definition (NULL while only @external) */
    unsigned *field_bases;                     /* value types: base declarations defining it */
    size_t keys_cap;                           /* capacity of pub.keys */
    decl_t *decls;                             /* declarations, in configuration order */
    size_t ndecls, decls_cap;                  /* count and capacity */
    const char *description;                   /* the description printed, or NULL */
} ftype_t;

struct rj_fed_graph {
    rj_gql_schema_t *schema;  /* the public schema */
    char *sdl;                /* its SDL */
    char **names;             /* service names */
    size_t nservices;         /* number of services */
    rj_gql_doc_t **docs;      /* service SDLs and field sets: the ASTs everything points into */
    size_t ndocs, docs_cap;   /* count and capacity */
    ftype_t **types;          /* in first-seen order: the printed order */
    size_t ntypes, types_cap; /* count and capacity */
    ftype_t **sorted;         /* the same, by name, for lookups */
};

/* ---- lookups -------------------------------------------------------------------------- */

static int
cmp_type(const void *a, const void *b)
{
    return strcmp((*(ftype_t *const *)a)->pub.name, (*(ftype_t *const *)b)->pub.name);
}

static int
cmp_type_key(const void *key, const void *elem)
{
    return strcmp(key, (*(ftype_t *const *)elem)->pub.name);
}

/* During composition types are found by a linear walk; afterwards by bsearch. */
static ftype_t *
find_type(const rj_fed_graph_t *g, const char *name)
{
    if (g->sorted != NULL) {
        ftype_t **t = bsearch(name, g->sorted, g->ntypes, sizeof(*g->sorted), cmp_type_key);
        return t != NULL ? *t : NULL;
    }
    for (size_t i = 0; i < g->ntypes; i++)
        if (strcmp(g->types[i]->pub.name, name) == 0)
            return g->types[i];
    return NULL;
}

static ssize_t
find_field(const rj_fed_type_t *t, const char *name)
{
    for (size_t i = 0; i < t->nfields; i++)
        if (strcmp(t->fields[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

const rj_fed_type_t *
rj_fed_graph_type(const rj_fed_graph_t *g, const char *name)
{
    ftype_t *t = find_type(g, name);
    return t != NULL ? &t->pub : NULL;
}

const rj_fed_field_t *
rj_fed_type_field(const rj_fed_type_t *t, const char *name)
{
    ssize_t i = find_field(t, name);
    return i >= 0 ? &t->fields[i] : NULL;
}

rj_gql_schema_t *
rj_fed_graph_schema(const rj_fed_graph_t *g)
{
    return g->schema;
}

const char *
rj_fed_graph_sdl(const rj_fed_graph_t *g)
{
    return g->sdl;
}

size_t
rj_fed_graph_nservices(const rj_fed_graph_t *g)
{
    return g->nservices;
}

const char *
rj_fed_graph_service_name(const rj_fed_graph_t *g, size_t i)
{
    return i < g->nservices ? g->names[i] : NULL;
}

/* ---- small helpers -------------------------------------------------------------------- */

static const char *const root_names[3] = {"Query", "Mutation", "Subscription"};

static bool
is_root(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, root_names[i]) == 0)
            return true;
    return false;
}

/* Federation's own types: part of each service's schema, never of the public one. */
static bool
is_federation_type(const char *name)
{
    static const char *const names[] = {"_Service", "_Any", "_Entity", "_FieldSet"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static bool
is_builtin_scalar(const char *name)
{
    static const char *const names[] = {"String", "Int", "Float", "Boolean", "ID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static rj_gql_type_kind_t
kind_of(rj_gql_def_kind_t k)
{
    switch (k) {
    case RJ_GQL_DEF_OBJECT:
        return RJ_GQL_KIND_OBJECT;
    case RJ_GQL_DEF_INTERFACE:
        return RJ_GQL_KIND_INTERFACE;
    case RJ_GQL_DEF_UNION:
        return RJ_GQL_KIND_UNION;
    case RJ_GQL_DEF_ENUM:
        return RJ_GQL_KIND_ENUM;
    case RJ_GQL_DEF_INPUT_OBJECT:
        return RJ_GQL_KIND_INPUT_OBJECT;
    default:
        return RJ_GQL_KIND_SCALAR;
    }
}

static const char *
kind_word(rj_gql_type_kind_t k)
{
    static const char *const words[] = {
        [RJ_GQL_KIND_SCALAR] = "a scalar",        [RJ_GQL_KIND_OBJECT] = "an object type",
        [RJ_GQL_KIND_INTERFACE] = "an interface", [RJ_GQL_KIND_UNION] = "a union",
        [RJ_GQL_KIND_ENUM] = "an enum",           [RJ_GQL_KIND_INPUT_OBJECT] = "an input type",
    };
    return words[k];
}

static const char *
svc(const rj_fed_graph_t *g, int service)
{
    return service >= 0 ? g->names[service] : "(several services)";
}

static uint64_t
bit(int service)
{
    return (uint64_t)1 << service;
}

/* The string argument @p arg of directive @p d, or NULL. */
static const char *
string_arg(const rj_gql_ast_directive_t *d, const char *arg)
{
    for (const rj_gql_ast_argument_t *a = d->args; a != NULL; a = a->next)
        if (strcmp(a->name, arg) == 0 && a->value->kind == RJ_GQL_VALUE_STRING)
            return a->value->str;
    return NULL;
}

static rj_status_t compose_error(rj_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static rj_status_t
compose_error(rj_error_t *err, const char *fmt, ...)
{
    char msg[RJ_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rj_error_set(err, RJ_ESCHEMA, "could not compose the services: %s", msg);
}

static void
keep_doc(rj_fed_graph_t *g, rj_gql_doc_t *doc)
{
    GROW(g->docs, g->ndocs, g->docs_cap);
    g->docs[g->ndocs++] = doc;
}

/*
 * Parses the `fields` argument of @key, @requires or @provides: a selection set without
 * its braces, of plain fields (no aliases, arguments, directives or fragments, which a
 * representation could not carry).
 */
static rj_status_t
parse_fieldset(rj_fed_graph_t *g, int service, const rj_gql_ast_directive_t *d, const char *type,
               const char *field, rj_fed_fieldset_t *out, rj_error_t *err)
{
    const char *text = string_arg(d, "fields");
    const char *where_field = field != NULL ? "." : "";
    if (text == NULL)
        return compose_error(err, "%s%s%s (service %s): @%s needs a string argument `fields`", type,
                             where_field, field != NULL ? field : "", g->names[service], d->name);
    char *src = rj_xasprintf("{%s}", text);
    json_t *perr = NULL;
    rj_gql_doc_t *doc = rj_gql_parse(src, strlen(src), &fieldset_limits, &perr);
    free(src);
    if (doc != NULL)
        keep_doc(g, doc);
    const rj_gql_ast_definition_t *def = doc != NULL ? rj_gql_doc_definitions(doc) : NULL;
    bool ok = def != NULL && def->next == NULL && def->kind == RJ_GQL_DEF_OPERATION &&
              def->selections != NULL;
    /* Walk the selection tree iteratively through a small explicit stack. */
    const rj_gql_ast_selection_t *stack[32];
    size_t depth = 0;
    if (ok)
        stack[depth++] = def->selections;
    while (ok && depth > 0) {
        const rj_gql_ast_selection_t *s = stack[--depth];
        for (; s != NULL && ok; s = s->next) {
            ok = s->kind == RJ_GQL_SEL_FIELD && s->alias == NULL && s->args == NULL &&
                 s->directives == NULL;
            if (ok && s->selections != NULL) {
                ok = depth < sizeof stack / sizeof stack[0];
                if (ok)
                    stack[depth++] = s->selections;
            }
        }
    }
    if (!ok) {
        const char *why = perr != NULL ? json_string_value(json_object_get(perr, "message"))
                                       : "only field names and nested selections are allowed";
        json_decref(perr);
        return compose_error(err, "%s%s%s (service %s): @%s(fields: \"%s\") is not a field set: %s",
                             type, where_field, field != NULL ? field : "", g->names[service],
                             d->name, text, why);
    }
    *out = (rj_fed_fieldset_t){.service = service, .text = text, .selections = def->selections};
    return RJ_OK;
}

/* ---- 1. collect ----------------------------------------------------------------------- */

static ftype_t *
add_type(rj_fed_graph_t *g, const char *name, rj_gql_type_kind_t kind)
{
    ftype_t *t = rj_xcalloc(1, sizeof(*t));
    t->pub.name = name;
    t->pub.kind = kind;
    t->pub.origin = -1;
    GROW(g->types, g->ntypes, g->types_cap);
    g->types[g->ntypes++] = t;
    return t;
}

static rj_status_t
collect(rj_fed_graph_t *g, int service, const rj_gql_doc_t *doc, rj_error_t *err)
{
    /* A service may name its roots otherwise (`schema { query: RootQuery }`). */
    const char *roots[3] = {"Query", "Mutation", "Subscription"};
    for (const rj_gql_ast_definition_t *d = rj_gql_doc_definitions(doc); d != NULL; d = d->next)
        if (d->kind == RJ_GQL_DEF_SCHEMA)
            for (const rj_gql_ast_root_op_t *r = d->root_ops; r != NULL; r = r->next)
                roots[r->op] = r->type_name;

    for (const rj_gql_ast_definition_t *d = rj_gql_doc_definitions(doc); d != NULL; d = d->next) {
        switch (d->kind) {
        case RJ_GQL_DEF_OPERATION:
        case RJ_GQL_DEF_FRAGMENT:
            return compose_error(err,
                                 "service %s: its SDL holds an operation or fragment (line %u)",
                                 g->names[service], d->loc.line);
        case RJ_GQL_DEF_SCHEMA:
        case RJ_GQL_DEF_DIRECTIVE:
            continue; /* roots read above; directive definitions: see the file comment */
        default:
            break;
        }
        const char *name = d->name;
        for (int r = 0; r < 3; r++)
            if (strcmp(name, roots[r]) == 0)
                name = root_names[r];
        if (is_federation_type(name) || is_builtin_scalar(name) || strncmp(name, "__", 2) == 0)
            continue;
        rj_gql_type_kind_t kind = kind_of(d->kind);
        ftype_t *t = find_type(g, name);
        if (t == NULL)
            t = add_type(g, name, kind);
        if (t->pub.kind != kind)
            return compose_error(err, "type %s is %s in service %s but %s in service %s", name,
                                 kind_word(t->pub.kind), g->names[t->decls[0].service],
                                 kind_word(kind), g->names[service]);
        GROW(t->decls, t->ndecls, t->decls_cap);
        t->decls[t->ndecls++] = (decl_t){
            .service = service,
            .def = d,
            .extension = d->extend || rj_gql_directives_find(d->directives, "extends") != NULL,
        };
        t->pub.services |= bit(service);
    }
    return RJ_OK;
}

/* ---- 2. merge ------------------------------------------------------------------------- */

static size_t
add_field(ftype_t *t, const char *name)
{
    if (t->pub.nfields == t->fields_cap) {
        t->fields_cap = t->fields_cap != 0 ? 2 * t->fields_cap : 8;
        t->pub.fields = rj_xrealloc(t->pub.fields, t->fields_cap * sizeof(*t->pub.fields));
        t->field_defs = rj_xrealloc(t->field_defs, t->fields_cap * sizeof(*t->field_defs));
        t->field_bases = rj_xrealloc(t->field_bases, t->fields_cap * sizeof(*t->field_bases));
    }
    size_t i = t->pub.nfields++;
    t->pub.fields[i] = (rj_fed_field_t){.name = name, .owner = NO_OWNER};
    t->field_defs[i] = NULL;
    t->field_bases[i] = 0;
    return i;
}

static bool
same_type_ref(const rj_gql_type_ref_t *a, const rj_gql_type_ref_t *b)
{
    for (; a != NULL && b != NULL; a = a->of_type, b = b->of_type)
        if (a->kind != b->kind || (a->kind == RJ_GQL_TYPE_NAMED && strcmp(a->name, b->name) != 0))
            return false;
    return a == NULL && b == NULL;
}

static rj_status_t
merge_field(rj_fed_graph_t *g, ftype_t *t, const decl_t *dc, bool value_type,
            const rj_gql_ast_field_def_t *f, rj_error_t *err)
{
    const char *tn = t->pub.name;
    const char *sn = g->names[dc->service];
    ssize_t found = find_field(&t->pub, f->name);
    size_t i = found >= 0 ? (size_t)found : add_field(t, f->name);
    rj_fed_field_t *ff = &t->pub.fields[i];

    if (rj_gql_directives_find(f->directives, "external") != NULL) {
        ff->external |= bit(dc->service);
        return RJ_OK;
    }
    if (ff->owner != NO_OWNER) {
        const rj_gql_ast_field_def_t *prev = t->field_defs[i];
        if (!value_type || dc->extension || ff->owner != RJ_FED_SHARED)
            return compose_error(err,
                                 "%s.%s is resolved by both service %s and service %s "
                                 "(one of them must declare it @external)",
                                 tn, f->name, svc(g, ff->owner), sn);
        if (!same_type_ref(prev->type, f->type)) {
            char *a = rj_gql_type_ref_to_string(prev->type),
                 *b = rj_gql_type_ref_to_string(f->type);
            rj_status_t st = compose_error(err,
                                           "value type %s differs between services: field %s "
                                           "is %s in one and %s in service %s",
                                           tn, f->name, a, b, sn);
            free(a);
            free(b);
            return st;
        }
        t->field_bases[i]++;
        return RJ_OK;
    }
    ff->owner = value_type && !dc->extension ? RJ_FED_SHARED : dc->service;
    t->field_defs[i] = f;
    t->field_bases[i] = dc->extension ? 0 : 1;
    rj_status_t st = RJ_OK;
    const rj_gql_ast_directive_t *d = rj_gql_directives_find(f->directives, "requires");
    if (d != NULL)
        st = parse_fieldset(g, dc->service, d, tn, f->name, &ff->requires, err);
    d = rj_gql_directives_find(f->directives, "provides");
    if (st == RJ_OK && d != NULL)
        st = parse_fieldset(g, dc->service, d, tn, f->name, &ff->provides, err);
    return st;
}

/* Object types and interfaces: origin, keys, fields and their owners. */
static rj_status_t
merge_object(rj_fed_graph_t *g, ftype_t *t, rj_error_t *err)
{
    const char *tn = t->pub.name;
    bool root = is_root(tn);
    size_t nbase = 0;
    int base = -1;
    bool keyed = false;
    for (size_t i = 0; i < t->ndecls; i++) {
        if (!t->decls[i].extension) {
            nbase++;
            base = t->decls[i].service;
        }
        keyed = keyed || rj_gql_directives_find(t->decls[i].def->directives, "key") != NULL;
    }
    if (!root && nbase == 0)
        return compose_error(err, "type %s is extended by service %s but defined by no service", tn,
                             g->names[t->decls[0].service]);
    if (!root && nbase > 1 && keyed)
        for (size_t i = 0; i < t->ndecls; i++)
            if (!t->decls[i].extension && t->decls[i].service != base)
                return compose_error(err,
                                     "entity %s is defined by both service %s and service "
                                     "%s (one defines it, the others extend it)",
                                     tn, g->names[t->decls[i].service], g->names[base]);
    bool value_type = !root && nbase > 1;
    t->pub.origin = !root && nbase == 1 ? base : -1;

    /*
     * Field order is that of graphql-js's extendSchema, which Apollo's composition uses:
     * the defining declarations' fields first, then each extension's, in configuration
     * order. Root types have no defining service: theirs merge in configuration order.
     */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < t->ndecls; i++) {
            const decl_t *dc = &t->decls[i];
            if (!root && dc->extension != (pass == 1))
                continue;
            if (root && pass == 1)
                break;
            for (const rj_gql_ast_directive_t *d = dc->def->directives; d != NULL; d = d->next) {
                if (strcmp(d->name, "key") != 0)
                    continue;
                GROW(t->pub.keys, t->pub.nkeys, t->keys_cap);
                rj_status_t st =
                    parse_fieldset(g, dc->service, d, tn, NULL, &t->pub.keys[t->pub.nkeys], err);
                if (st != RJ_OK)
                    return st;
                t->pub.nkeys++;
            }
            for (const rj_gql_ast_field_def_t *f = dc->def->fields; f != NULL; f = f->next) {
                if (strcmp(tn, "Query") == 0 &&
                    (strcmp(f->name, "_service") == 0 || strcmp(f->name, "_entities") == 0))
                    continue;
                rj_status_t st = merge_field(g, t, dc, value_type, f, err);
                if (st != RJ_OK)
                    return st;
            }
        }
    }
    for (size_t i = 0; value_type && i < t->pub.nfields; i++)
        if (t->pub.fields[i].owner == RJ_FED_SHARED && t->field_bases[i] != nbase)
            return compose_error(err,
                                 "value type %s differs between services: not all of "
                                 "them define field %s",
                                 tn, t->pub.fields[i].name);
    return RJ_OK;
}

static rj_status_t
merge_type(rj_fed_graph_t *g, ftype_t *t, rj_error_t *err)
{
    for (size_t i = 0; i < t->ndecls && t->description == NULL; i++)
        if (!t->decls[i].extension)
            t->description = t->decls[i].def->description;
    if (t->pub.kind == RJ_GQL_KIND_OBJECT || t->pub.kind == RJ_GQL_KIND_INTERFACE)
        return merge_object(g, t, err);
    if (t->pub.kind == RJ_GQL_KIND_INPUT_OBJECT) {
        /* Input fields of the same name must agree; the first declaration is printed. */
        for (size_t i = 0; i < t->ndecls; i++)
            for (const rj_gql_ast_input_value_t *f = t->decls[i].def->input_values; f != NULL;
                 f = f->next)
                for (size_t j = 0; j < i; j++)
                    for (const rj_gql_ast_input_value_t *o = t->decls[j].def->input_values;
                         o != NULL; o = o->next)
                        if (strcmp(o->name, f->name) == 0 && !same_type_ref(o->type, f->type))
                            return compose_error(err,
                                                 "input %s.%s has different types in service "
                                                 "%s and service %s",
                                                 t->pub.name, f->name,
                                                 g->names[t->decls[j].service],
                                                 g->names[t->decls[i].service]);
    }
    return RJ_OK;
}

/* ---- 3. check ------------------------------------------------------------------------- */

/* The composed definition of @p t's field @p name (its printed AST), or NULL. */
static const rj_gql_ast_field_def_t *
field_def(const ftype_t *t, const char *name)
{
    ssize_t i = find_field(&t->pub, name);
    return i >= 0 ? t->field_defs[i] : NULL;
}

/*
 * Checks that every field of a field set exists on @p t, nested selections on the
 * fields' composite types, leaves without selections. @p what names the directive.
 */
static rj_status_t
check_fieldset(const rj_fed_graph_t *g, const ftype_t *t, const rj_fed_fieldset_t *fs,
               const rj_gql_ast_selection_t *sel, const char *where, const char *what,
               rj_error_t *err)
{
    for (; sel != NULL; sel = sel->next) {
        if (strcmp(sel->name, "__typename") == 0)
            continue;
        const rj_gql_ast_field_def_t *fd = field_def(t, sel->name);
        if (fd == NULL)
            return compose_error(err,
                                 "%s (service %s): @%s(fields: \"%s\") names %s.%s, which "
                                 "is not a field",
                                 where, g->names[fs->service], what, fs->text, t->pub.name,
                                 sel->name);
        const ftype_t *sub = find_type(g, rj_gql_type_ref_named(fd->type));
        bool composite =
            sub != NULL && sub->pub.kind != RJ_GQL_KIND_SCALAR && sub->pub.kind != RJ_GQL_KIND_ENUM;
        if (composite != (sel->selections != NULL))
            return compose_error(err, "%s (service %s): @%s(fields: \"%s\"): %s.%s %s", where,
                                 g->names[fs->service], what, fs->text, t->pub.name, sel->name,
                                 composite ? "needs a selection of its fields"
                                           : "is a leaf and takes no selection");
        if (composite) {
            rj_status_t st = check_fieldset(g, sub, fs, sel->selections, where, what, err);
            if (st != RJ_OK)
                return st;
        }
    }
    return RJ_OK;
}

/* Every top-level field of @p fs must be declared @external on @p t by @p fs's service. */
static rj_status_t
check_external(const rj_fed_graph_t *g, const ftype_t *t, const rj_fed_fieldset_t *fs,
               const char *where, const char *what, rj_error_t *err)
{
    for (const rj_gql_ast_selection_t *sel = fs->selections; sel != NULL; sel = sel->next) {
        const rj_fed_field_t *f = rj_fed_type_field(&t->pub, sel->name);
        if (f != NULL && (f->external & bit(fs->service)) == 0)
            return compose_error(err,
                                 "%s (service %s): @%s(fields: \"%s\") names %s.%s, which "
                                 "service %s does not declare @external",
                                 where, g->names[fs->service], what, fs->text, t->pub.name,
                                 sel->name, g->names[fs->service]);
    }
    return RJ_OK;
}

/* The first service whose declaration of @p t lists interface @p iface, or -1. */
static int
implements_in(const ftype_t *t, const char *iface)
{
    for (size_t i = 0; i < t->ndecls; i++)
        for (const rj_gql_ast_name_t *m = t->decls[i].def->interfaces; m != NULL; m = m->next)
            if (strcmp(m->name, iface) == 0)
                return t->decls[i].service;
    return -1;
}

/*
 * Every object implementing interface @p t has each of its fields. A service adding a
 * field to an interface (`extend interface Item { reviews }`) must add it to every
 * implementation, as @apollo/composition demands (INTERFACE_FIELD_NO_IMPLEM): the planner
 * asks it per implementation, and an implementation without it would have no answer.
 */
static rj_status_t
check_implementations(const rj_fed_graph_t *g, const ftype_t *t, rj_error_t *err)
{
    for (size_t i = 0; i < g->ntypes; i++) {
        const ftype_t *o = g->types[i];
        int in = o->pub.kind == RJ_GQL_KIND_OBJECT ? implements_in(o, t->pub.name) : -1;
        for (size_t j = 0; in >= 0 && j < t->pub.nfields; j++) {
            const rj_fed_field_t *f = &t->pub.fields[j];
            if (find_field(&o->pub, f->name) < 0)
                return compose_error(err,
                                     "interface field %s.%s is declared by service %s, but "
                                     "type %s, which implements %s in service %s, does not "
                                     "have field %s",
                                     t->pub.name, f->name, svc(g, f->owner), o->pub.name,
                                     t->pub.name, g->names[in], f->name);
        }
    }
    return RJ_OK;
}

static rj_status_t
check_type(const rj_fed_graph_t *g, const ftype_t *t, rj_error_t *err)
{
    const char *tn = t->pub.name;
    if (t->pub.kind == RJ_GQL_KIND_INTERFACE) {
        rj_status_t st = check_implementations(g, t, err);
        if (st != RJ_OK)
            return st;
    }
    for (size_t i = 0; i < t->pub.nkeys; i++) {
        rj_status_t st =
            check_fieldset(g, t, &t->pub.keys[i], t->pub.keys[i].selections, tn, "key", err);
        if (st != RJ_OK)
            return st;
    }
    for (size_t i = 0; i < t->pub.nfields; i++) {
        const rj_fed_field_t *f = &t->pub.fields[i];
        if (f->owner == NO_OWNER) {
            int s = __builtin_ctzll(f->external);
            return compose_error(err,
                                 "%s.%s is declared @external by service %s but no service "
                                 "defines it",
                                 tn, f->name, g->names[s]);
        }
        const char *named = rj_gql_type_ref_named(t->field_defs[i]->type);
        if (find_type(g, named) == NULL && !is_builtin_scalar(named))
            return compose_error(err, "%s.%s (service %s) is of type %s, which no service defines",
                                 tn, f->name, svc(g, f->owner), named);
        char where[256];
        snprintf(where, sizeof where, "%s.%s", tn, f->name);
        rj_status_t st = RJ_OK;
        if (f->requires.selections != NULL) {
            st = check_fieldset(g, t, &f->requires, f->requires.selections, where, "requires", err);
            if (st == RJ_OK)
                st = check_external(g, t, &f->requires, where, "requires", err);
        }
        if (st == RJ_OK && f->provides.selections != NULL) {
            const ftype_t *r = find_type(g, rj_gql_type_ref_named(t->field_defs[i]->type));
            if (r == NULL || r->pub.nkeys == 0)
                return compose_error(err,
                                     "%s (service %s): @provides on a field whose type is "
                                     "not an entity",
                                     where, g->names[f->provides.service]);
            st = check_fieldset(g, r, &f->provides, f->provides.selections, where, "provides", err);
            if (st == RJ_OK)
                st = check_external(g, r, &f->provides, where, "provides", err);
        }
        if (st != RJ_OK)
            return st;
    }
    return RJ_OK;
}

/* ---- 4. print ------------------------------------------------------------------------- */

static void
print_description(rj_buf_t *b, const char *desc, const char *indent)
{
    if (desc == NULL)
        return;
    char *q = rj_gql_string_quote(desc, strlen(desc));
    rj_buf_printf(b, "%s%s\n", indent, q);
    free(q);
}

/* Keeps @deprecated and @specifiedBy, the applied directives a public schema shows. */
static void
print_directives(rj_buf_t *b, const rj_gql_ast_directive_t *d)
{
    for (; d != NULL; d = d->next) {
        if (strcmp(d->name, "deprecated") != 0 && strcmp(d->name, "specifiedBy") != 0)
            continue;
        rj_buf_printf(b, " @%s", d->name);
        if (d->args == NULL)
            continue;
        rj_buf_putc(b, '(');
        for (const rj_gql_ast_argument_t *a = d->args; a != NULL; a = a->next) {
            char *v = rj_gql_value_to_string(a->value);
            rj_buf_printf(b, "%s: %s%s", a->name, v, a->next != NULL ? ", " : "");
            free(v);
        }
        rj_buf_putc(b, ')');
    }
}

static void
print_input_value(rj_buf_t *b, const rj_gql_ast_input_value_t *iv)
{
    if (iv->description != NULL) {
        char *q = rj_gql_string_quote(iv->description, strlen(iv->description));
        rj_buf_printf(b, "%s ", q);
        free(q);
    }
    char *ty = rj_gql_type_ref_to_string(iv->type);
    rj_buf_printf(b, "%s: %s", iv->name, ty);
    free(ty);
    if (iv->default_value != NULL) {
        char *v = rj_gql_value_to_string(iv->default_value);
        rj_buf_printf(b, " = %s", v);
        free(v);
    }
    print_directives(b, iv->directives);
}

static void
print_fields(rj_buf_t *b, const ftype_t *t)
{
    rj_buf_puts(b, " {\n");
    for (size_t i = 0; i < t->pub.nfields; i++) {
        const rj_gql_ast_field_def_t *f = t->field_defs[i];
        print_description(b, f->description, "  ");
        rj_buf_printf(b, "  %s", f->name);
        if (f->args != NULL) {
            rj_buf_putc(b, '(');
            for (const rj_gql_ast_input_value_t *a = f->args; a != NULL; a = a->next) {
                print_input_value(b, a);
                if (a->next != NULL)
                    rj_buf_puts(b, ", ");
            }
            rj_buf_putc(b, ')');
        }
        char *ty = rj_gql_type_ref_to_string(f->type);
        rj_buf_printf(b, ": %s", ty);
        free(ty);
        print_directives(b, f->directives);
        rj_buf_putc(b, '\n');
    }
    rj_buf_puts(b, "}\n");
}

/* Appends @p name to @p list (of @p n) unless it is there; true when appended. */
static bool
add_name(const char **list, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], name) == 0)
            return false;
    list[(*n)++] = name;
    return true;
}

/* The names a type's declarations list (interfaces or union members), each once. */
static size_t
merged_names(const ftype_t *t, bool members, const char ***out)
{
    size_t cap = 0, n = 0;
    for (size_t i = 0; i < t->ndecls; i++)
        for (const rj_gql_ast_name_t *m = members ? t->decls[i].def->members
                                                  : t->decls[i].def->interfaces;
             m != NULL; m = m->next)
            cap++;
    *out = rj_xcalloc(cap + 1, sizeof(char *));
    for (size_t i = 0; i < t->ndecls; i++)
        for (const rj_gql_ast_name_t *m = members ? t->decls[i].def->members
                                                  : t->decls[i].def->interfaces;
             m != NULL; m = m->next)
            add_name(*out, &n, m->name);
    return n;
}

static void
print_type(rj_buf_t *b, const ftype_t *t)
{
    static const char *const keywords[] = {
        [RJ_GQL_KIND_SCALAR] = "scalar",       [RJ_GQL_KIND_OBJECT] = "type",
        [RJ_GQL_KIND_INTERFACE] = "interface", [RJ_GQL_KIND_UNION] = "union",
        [RJ_GQL_KIND_ENUM] = "enum",           [RJ_GQL_KIND_INPUT_OBJECT] = "input",
    };
    const char **names;
    size_t n;
    print_description(b, t->description, "");
    rj_buf_printf(b, "%s %s", keywords[t->pub.kind], t->pub.name);
    switch (t->pub.kind) {
    case RJ_GQL_KIND_SCALAR:
        for (size_t i = 0; i < t->ndecls; i++)
            print_directives(b, t->decls[i].def->directives);
        rj_buf_putc(b, '\n');
        break;
    case RJ_GQL_KIND_OBJECT:
    case RJ_GQL_KIND_INTERFACE:
        n = merged_names(t, false, &names);
        for (size_t i = 0; i < n; i++)
            rj_buf_printf(b, "%s%s", i == 0 ? " implements " : " & ", names[i]);
        free(names);
        print_fields(b, t);
        break;
    case RJ_GQL_KIND_UNION:
        n = merged_names(t, true, &names);
        for (size_t i = 0; i < n; i++)
            rj_buf_printf(b, "%s%s", i == 0 ? " = " : " | ", names[i]);
        free(names);
        rj_buf_putc(b, '\n');
        break;
    case RJ_GQL_KIND_ENUM: {
        rj_buf_puts(b, " {\n");
        const char **seen = NULL;
        size_t nseen = 0, cap = 0;
        for (size_t i = 0; i < t->ndecls; i++)
            for (const rj_gql_ast_enum_value_t *v = t->decls[i].def->enum_values; v != NULL;
                 v = v->next) {
                GROW(seen, nseen, cap);
                if (!add_name(seen, &nseen, v->name))
                    continue;
                print_description(b, v->description, "  ");
                rj_buf_printf(b, "  %s", v->name);
                print_directives(b, v->directives);
                rj_buf_putc(b, '\n');
            }
        free(seen);
        rj_buf_puts(b, "}\n");
        break;
    }
    case RJ_GQL_KIND_INPUT_OBJECT: {
        rj_buf_puts(b, " {\n");
        const char **seen = NULL;
        size_t nseen = 0, cap = 0;
        for (size_t i = 0; i < t->ndecls; i++)
            for (const rj_gql_ast_input_value_t *f = t->decls[i].def->input_values; f != NULL;
                 f = f->next) {
                GROW(seen, nseen, cap);
                if (!add_name(seen, &nseen, f->name))
                    continue;
                rj_buf_puts(b, "  ");
                print_input_value(b, f);
                rj_buf_putc(b, '\n');
            }
        free(seen);
        rj_buf_puts(b, "}\n");
        break;
    }
    }
    rj_buf_putc(b, '\n');
}

static char *
print_schema(const rj_fed_graph_t *g)
{
    rj_buf_t b;
    rj_buf_init(&b);
    for (size_t i = 0; i < g->ntypes; i++) {
        const ftype_t *t = g->types[i];
        /* A root type whose only fields were federation's (_service, _entities) is gone. */
        if (is_root(t->pub.name) && t->pub.nfields == 0)
            continue;
        print_type(&b, t);
    }
    return rj_buf_steal(&b);
}

/* ---- the whole ------------------------------------------------------------------------ */

rj_fed_graph_t *
rj_fed_compose(const rj_fed_sdl_t *sdls, size_t n, rj_error_t *err)
{
    if (n == 0 || n > RJ_FED_MAX_SERVICES) {
        rj_error_set(err, RJ_EINVAL, "could not compose the services: %zu services (1 to %d)", n,
                     RJ_FED_MAX_SERVICES);
        return NULL;
    }
    rj_fed_graph_t *g = rj_xcalloc(1, sizeof(*g));
    g->nservices = n;
    g->names = rj_xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        g->names[i] = rj_xstrdup(sdls[i].name);

    rj_status_t st = RJ_OK;
    for (size_t i = 0; i < n && st == RJ_OK; i++) {
        json_t *perr = NULL;
        rj_gql_doc_t *doc = rj_gql_parse(sdls[i].sdl, sdls[i].len, &sdl_limits, &perr);
        if (doc == NULL) {
            const json_t *loc = json_array_get(json_object_get(perr, "locations"), 0);
            st = rj_error_set(err, RJ_ESCHEMA,
                              "could not compose the services: service %s: "
                              "invalid SDL at %d:%d: %s",
                              g->names[i], (int)json_integer_value(json_object_get(loc, "line")),
                              (int)json_integer_value(json_object_get(loc, "column")),
                              json_string_value(json_object_get(perr, "message")));
            json_decref(perr);
            break;
        }
        keep_doc(g, doc);
        st = collect(g, (int)i, doc, err);
    }
    for (size_t i = 0; i < g->ntypes && st == RJ_OK; i++)
        st = merge_type(g, g->types[i], err);
    for (size_t i = 0; i < g->ntypes && st == RJ_OK; i++)
        st = check_type(g, g->types[i], err);
    if (st == RJ_OK) {
        g->sdl = print_schema(g);
        rj_error_t e;
        rj_error_clear(&e);
        g->schema = rj_gql_schema_from_sdl(g->sdl, strlen(g->sdl), &e);
        if (g->schema == NULL)
            st = rj_error_set(err, RJ_ESCHEMA,
                              "could not compose the services: the composed "
                              "schema is invalid: %s",
                              e.msg);
    }
    if (st != RJ_OK) {
        rj_fed_graph_free(g);
        return NULL;
    }
    g->sorted = rj_xmalloc(g->ntypes * sizeof(*g->sorted) + 1);
    if (g->ntypes > 0)
        memcpy(g->sorted, g->types, g->ntypes * sizeof(*g->sorted));
    qsort(g->sorted, g->ntypes, sizeof(*g->sorted), cmp_type);
    return g;
}

void
rj_fed_graph_free(rj_fed_graph_t *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->ntypes; i++) {
        ftype_t *t = g->types[i];
        free(t->pub.fields);
        free(t->pub.keys);
        free(t->field_defs);
        free(t->field_bases);
        free(t->decls);
        free(t);
    }
    free(g->types);
    free(g->sorted);
    for (size_t i = 0; i < g->ndocs; i++)
        rj_gql_doc_free(g->docs[i]);
    free(g->docs);
    for (size_t i = 0; i < g->nservices; i++)
        free(g->names[i]);
    free(g->names);
    free(g->sdl);
    rj_gql_schema_free(g->schema);
    free(g);
}
