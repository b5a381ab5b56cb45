/*
 * graphql/schema.c - building an immutable schema from SDL, and looking things up in it.
 *
 * The builder reads the prelude (built-in scalars, directives, introspection types) and
 * the application's SDL into the same structures, in three passes: declare every named
 * type and directive, fill each type from its definition plus all its `extend` forms
 * (resolving type references as it goes), then derive what depends on everything else
 * (interfaces' possible types, root types). Schema elements point into the two parsed
 * documents, which the schema keeps, so descriptions, defaults and directive arguments
 * are never copied.
 *
 * Directives applied in the SDL are kept as AST data whether or not they are declared:
 * Ramjet's application model (@entity, @command, @readModel, @calculated, ...) is
 * expressed with undeclared directives, and the app loader reads them back here.
 *
 * Deliberately not done (yet): the full spec 3.x type-system validation (interface field
 * compatibility, directive argument checking, input-object cycles). The checks made are
 * those whose absence would make execution misbehave: unknown, duplicate or wrong-kind
 * types.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_int.h"
#include "log/log.h"

/* ---- name map --------------------------------------------------------------------------- */

void
rj__gql_map_init(rj__gql_map_t *m)
{
    memset(m, 0, sizeof(*m));
}

void
rj__gql_map_deinit(rj__gql_map_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

static size_t
map_slot(const rj__gql_map_t *m, const char *key)
{
    size_t i = (size_t)rj_hash(key, strlen(key)) & (m->cap - 1);
    while (m->keys[i] != NULL && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

void
rj__gql_map_put(rj__gql_map_t *m, const char *key, const void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        rj__gql_map_t old = *m;
        m->cap = old.cap ? old.cap * 2 : 64;
        m->keys = rj_xcalloc(m->cap, sizeof(*m->keys));
        m->vals = rj_xcalloc(m->cap, sizeof(*m->vals));
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i] != NULL)
                rj__gql_map_put(m, old.keys[i], old.vals[i]);
        free(old.keys);
        free(old.vals);
    }
    size_t i = map_slot(m, key);
    if (m->keys[i] == NULL)
        m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
}

const void *
rj__gql_map_get(const rj__gql_map_t *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    size_t i = map_slot(m, key);
    return m->keys[i] != NULL ? m->vals[i] : NULL;
}

/* ---- builder ---------------------------------------------------------------------------- */

/* A named type being built: the type and the definitions (first, then extensions). */
typedef struct build_entry {
    rj_gql_type_t *type;                       /* the type being filled */
    const rj_gql_ast_definition_t **defs;      /* its definition and extensions */
    size_t ndefs;                              /* number of them */
    size_t cap;                                /* capacity of defs */
} build_entry_t;

typedef struct builder {
    rj_gql_schema_t *s;          /* the schema under construction */
    build_entry_t *entries;      /* one per named type, in declaration order */
    size_t nentries;             /* number of entries */
    size_t cap;                  /* capacity */
    rj__gql_map_t by_name;       /* type name -> entry index + 1 */
    const rj_gql_ast_definition_t *schema_def; /* the `schema {}` block, or NULL */
    const rj_gql_ast_definition_t *schema_exts[16]; /* `extend schema` blocks (root ops) */
    size_t nschema_exts;         /* number of them */
    rj_error_t *err;             /* where the first failure goes */
} builder_t;

static bool
fail(builder_t *b, rj_gql_loc_t loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool
fail(builder_t *b, rj_gql_loc_t loc, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (loc.line != 0)
        rj_error_set(b->err, RJ_ESCHEMA, "invalid schema: %s (line %u, column %u)", msg,
                     loc.line, loc.column);
    else
        rj_error_set(b->err, RJ_ESCHEMA, "invalid schema: %s", msg);
    return false;
}

static const char *
arena_str(rj_gql_schema_t *s, char *heap)
{
    const char *r = rj__gql_arena_strndup(&s->arena, heap, strlen(heap));
    free(heap);
    return r;
}

static rj_gql_type_kind_t
kind_of_def(rj_gql_def_kind_t k)
{
    switch (k) {
    case RJ_GQL_DEF_OBJECT: return RJ_GQL_KIND_OBJECT;
    case RJ_GQL_DEF_INTERFACE: return RJ_GQL_KIND_INTERFACE;
    case RJ_GQL_DEF_UNION: return RJ_GQL_KIND_UNION;
    case RJ_GQL_DEF_ENUM: return RJ_GQL_KIND_ENUM;
    case RJ_GQL_DEF_INPUT_OBJECT: return RJ_GQL_KIND_INPUT_OBJECT;
    default: return RJ_GQL_KIND_SCALAR;
    }
}

static const char *
kind_word(rj_gql_type_kind_t k)
{
    static const char *const words[] = {"scalar", "object", "interface",
                                        "union",  "enum",   "input object"};
    return words[k];
}

static bool
is_type_def(const rj_gql_ast_definition_t *d)
{
    return d->kind >= RJ_GQL_DEF_SCALAR && d->kind <= RJ_GQL_DEF_INPUT_OBJECT;
}

static void
entry_add_def(build_entry_t *e, const rj_gql_ast_definition_t *d)
{
    if (e->ndefs == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 4;
        e->defs = rj_xrealloc(e->defs, e->cap * sizeof(*e->defs));
    }
    e->defs[e->ndefs++] = d;
}

static build_entry_t *
entry_find(builder_t *b, const char *name)
{
    uintptr_t i = (uintptr_t)rj__gql_map_get(&b->by_name, name);
    return i ? &b->entries[i - 1] : NULL;
}

bool
rj__gql_is_builtin_scalar(const char *name)
{
    return strcmp(name, "String") == 0 || strcmp(name, "Int") == 0 ||
           strcmp(name, "Float") == 0 || strcmp(name, "Boolean") == 0 || strcmp(name, "ID") == 0;
}

static bool
declare_directive(builder_t *b, const rj_gql_ast_definition_t *d, bool builtin)
{
    rj_gql_schema_t *s = b->s;
    if (rj__gql_map_get(&s->directive_index, d->name) != NULL)
        return fail(b, d->loc, "There can be only one directive named \"@%s\".", d->name);
    rj_gql_directive_def_t *dd = rj__gql_arena_alloc(&s->arena, sizeof(*dd));
    dd->name = d->name;
    dd->description = d->description;
    dd->repeatable = d->repeatable;
    dd->builtin = builtin;
    for (const rj_gql_ast_name_t *n = d->members; n != NULL; n = n->next)
        dd->nlocations++;
    dd->locations = rj__gql_arena_alloc(&s->arena, (dd->nlocations + 1) * sizeof(char *));
    size_t i = 0;
    for (const rj_gql_ast_name_t *n = d->members; n != NULL; n = n->next)
        dd->locations[i++] = n->name;
    s->directives = rj_xrealloc(s->directives, (s->ndirectives + 1) * sizeof(*s->directives));
    s->directives[s->ndirectives++] = dd;
    rj__gql_map_put(&s->directive_index, dd->name, dd);
    /* Arguments are filled once all types are declared (fill_directive). */
    return true;
}

/* Pass 1: declare the named types and directives of @p doc. */
static bool
declare(builder_t *b, const rj_gql_doc_t *doc, bool builtin)
{
    rj_gql_schema_t *s = b->s;
    for (const rj_gql_ast_definition_t *d = doc->defs; d != NULL; d = d->next) {
        if (d->kind == RJ_GQL_DEF_OPERATION || d->kind == RJ_GQL_DEF_FRAGMENT)
            return fail(b, d->loc, "a schema document must not contain operations or fragments");
        if (d->kind == RJ_GQL_DEF_DIRECTIVE) {
            if (!declare_directive(b, d, builtin))
                return false;
            continue;
        }
        if (d->kind == RJ_GQL_DEF_SCHEMA) {
            if (d->extend) {
                if (b->nschema_exts == sizeof(b->schema_exts) / sizeof(*b->schema_exts))
                    return fail(b, d->loc, "too many schema extensions");
                b->schema_exts[b->nschema_exts++] = d;
            } else if (b->schema_def != NULL) {
                return fail(b, d->loc, "Must provide only one schema definition.");
            } else {
                b->schema_def = d;
            }
            continue;
        }
        if (d->extend)
            continue;
        build_entry_t *e = entry_find(b, d->name);
        if (e != NULL) {
            /* Redeclaring a specified scalar is harmless and common in generated SDL. */
            if (e->type->builtin && d->kind == RJ_GQL_DEF_SCALAR &&
                rj__gql_is_builtin_scalar(d->name))
                continue;
            return fail(b, d->loc, "There can be only one type named \"%s\".", d->name);
        }
        if (!builtin && strncmp(d->name, "__", 2) == 0)
            return fail(b, d->loc,
                        "Name \"%s\" must not begin with \"__\", which is reserved by GraphQL "
                        "introspection.",
                        d->name);
        rj_gql_type_t *t = rj__gql_arena_alloc(&s->arena, sizeof(*t));
        t->kind = kind_of_def(d->kind);
        t->name = d->name;
        t->description = d->description;
        t->builtin = builtin;
        t->loc = builtin ? (rj_gql_loc_t){0, 0} : d->loc;
        if (b->nentries == b->cap) {
            b->cap = b->cap ? b->cap * 2 : 64;
            b->entries = rj_xrealloc(b->entries, b->cap * sizeof(*b->entries));
        }
        build_entry_t *ne = &b->entries[b->nentries++];
        memset(ne, 0, sizeof(*ne));
        ne->type = t;
        entry_add_def(ne, d);
        rj__gql_map_put(&b->by_name, t->name, (void *)(uintptr_t)b->nentries);
    }
    return true;
}

/* Pass 1b: attach `extend` forms of @p doc to their types. */
static bool
attach_extensions(builder_t *b, const rj_gql_doc_t *doc)
{
    for (const rj_gql_ast_definition_t *d = doc->defs; d != NULL; d = d->next) {
        if (!d->extend || !is_type_def(d))
            continue;
        build_entry_t *e = entry_find(b, d->name);
        if (e == NULL)
            return fail(b, d->loc, "Cannot extend type \"%s\" because it is not defined.",
                        d->name);
        if (e->type->kind != kind_of_def(d->kind))
            return fail(b, d->loc, "Cannot extend non-%s type \"%s\".",
                        kind_word(kind_of_def(d->kind)), d->name);
        entry_add_def(e, d);
    }
    return true;
}

static const rj_gql_type_t *
resolve_named(builder_t *b, const rj_gql_type_ref_t *ref)
{
    const char *name = rj_gql_type_ref_named(ref);
    build_entry_t *e = entry_find(b, name);
    if (e == NULL) {
        while (ref->kind != RJ_GQL_TYPE_NAMED)
            ref = ref->of_type;
        fail(b, ref->loc, "Unknown type \"%s\".", name);
        return NULL;
    }
    return e->type;
}

static void
read_deprecation(const rj_gql_ast_directive_t *dirs, bool *deprecated, const char **reason)
{
    const rj_gql_ast_directive_t *d = rj_gql_directives_find(dirs, "deprecated");
    *deprecated = d != NULL;
    *reason = NULL;
    if (d == NULL)
        return;
    *reason = "No longer supported";
    for (const rj_gql_ast_argument_t *a = d->args; a != NULL; a = a->next)
        if (strcmp(a->name, "reason") == 0 && a->value->kind == RJ_GQL_VALUE_STRING)
            *reason = a->value->str;
}

static bool
fill_input_value(builder_t *b, rj_gql_input_value_t *iv, const rj_gql_ast_input_value_t *a,
                 const char *owner)
{
    iv->name = a->name;
    iv->description = a->description;
    iv->type = a->type;
    iv->type_str = arena_str(b->s, rj_gql_type_ref_to_string(a->type));
    iv->default_value = a->default_value;
    iv->directives = a->directives;
    iv->loc = a->loc;
    if ((iv->named = resolve_named(b, a->type)) == NULL)
        return false;
    if (!rj_gql_type_is_input(iv->named))
        return fail(b, a->loc, "The type of %s must be Input Type but got: %s.", owner,
                    iv->type_str);
    return true;
}

static bool
fill_args(builder_t *b, const rj_gql_ast_input_value_t *list, rj_gql_input_value_t **out,
          size_t *n, const char *owner_fmt_a, const char *owner_fmt_b)
{
    size_t count = 0;
    for (const rj_gql_ast_input_value_t *a = list; a != NULL; a = a->next)
        count++;
    *out = rj__gql_arena_alloc(&b->s->arena, (count + 1) * sizeof(**out));
    *n = 0;
    for (const rj_gql_ast_input_value_t *a = list; a != NULL; a = a->next) {
        for (size_t i = 0; i < *n; i++)
            if (strcmp((*out)[i].name, a->name) == 0)
                return fail(b, a->loc, "Argument \"%s%s(%s:)\" can only be defined once.",
                            owner_fmt_a, owner_fmt_b, a->name);
        char owner[300];
        snprintf(owner, sizeof(owner), "%s%s(%s:)", owner_fmt_a, owner_fmt_b, a->name);
        if (!fill_input_value(b, &(*out)[(*n)++], a, owner))
            return false;
    }
    return true;
}

static bool
fill_fields(builder_t *b, build_entry_t *e)
{
    rj_gql_type_t *t = e->type;
    size_t count = 0;
    for (size_t i = 0; i < e->ndefs; i++)
        for (const rj_gql_ast_field_def_t *f = e->defs[i]->fields; f != NULL; f = f->next)
            count++;
    t->fields = rj__gql_arena_alloc(&b->s->arena, (count + 1) * sizeof(*t->fields));
    for (size_t i = 0; i < e->ndefs; i++) {
        for (const rj_gql_ast_field_def_t *f = e->defs[i]->fields; f != NULL; f = f->next) {
            if (rj_gql_type_find_field(t, f->name) != NULL)
                return fail(b, f->loc, "Field \"%s.%s\" can only be defined once.", t->name,
                            f->name);
            rj_gql_field_def_t *fd = &t->fields[t->nfields++];
            fd->name = f->name;
            fd->description = f->description;
            fd->type = f->type;
            fd->type_str = arena_str(b->s, rj_gql_type_ref_to_string(f->type));
            fd->parent = t;
            fd->directives = f->directives;
            fd->loc = f->loc;
            read_deprecation(f->directives, &fd->deprecated, &fd->deprecation_reason);
            if ((fd->named = resolve_named(b, f->type)) == NULL)
                return false;
            if (fd->named->kind == RJ_GQL_KIND_INPUT_OBJECT)
                return fail(b, f->loc, "The type of %s.%s must be Output Type but got: %s.",
                            t->name, f->name, fd->type_str);
            char owner[300];
            snprintf(owner, sizeof(owner), ".%s", f->name);
            if (!fill_args(b, f->args, &fd->args, &fd->nargs, t->name, owner))
                return false;
        }
    }
    return true;
}

static bool
fill_input_fields(builder_t *b, build_entry_t *e)
{
    rj_gql_type_t *t = e->type;
    size_t count = 0;
    for (size_t i = 0; i < e->ndefs; i++)
        for (const rj_gql_ast_input_value_t *f = e->defs[i]->input_values; f; f = f->next)
            count++;
    t->input_fields = rj__gql_arena_alloc(&b->s->arena, (count + 1) * sizeof(*t->input_fields));
    for (size_t i = 0; i < e->ndefs; i++) {
        for (const rj_gql_ast_input_value_t *f = e->defs[i]->input_values; f; f = f->next) {
            if (rj_gql_type_find_input_field(t, f->name) != NULL)
                return fail(b, f->loc, "Field \"%s.%s\" can only be defined once.", t->name,
                            f->name);
            char owner[300];
            snprintf(owner, sizeof(owner), "%s.%s", t->name, f->name);
            if (!fill_input_value(b, &t->input_fields[t->ninput_fields++], f, owner))
                return false;
        }
    }
    return true;
}

static bool
fill_enum_values(builder_t *b, build_entry_t *e)
{
    rj_gql_type_t *t = e->type;
    size_t count = 0;
    for (size_t i = 0; i < e->ndefs; i++)
        for (const rj_gql_ast_enum_value_t *v = e->defs[i]->enum_values; v; v = v->next)
            count++;
    t->enum_values = rj__gql_arena_alloc(&b->s->arena, (count + 1) * sizeof(*t->enum_values));
    for (size_t i = 0; i < e->ndefs; i++) {
        for (const rj_gql_ast_enum_value_t *v = e->defs[i]->enum_values; v; v = v->next) {
            if (rj_gql_type_find_enum_value(t, v->name) != NULL)
                return fail(b, v->loc, "Enum value \"%s.%s\" can only be defined once.",
                            t->name, v->name);
            rj_gql_enum_value_t *ev = &t->enum_values[t->nenum_values++];
            ev->name = v->name;
            ev->description = v->description;
            ev->directives = v->directives;
            read_deprecation(v->directives, &ev->deprecated, &ev->deprecation_reason);
        }
    }
    return true;
}

/* Resolves a list of type names (implements, union members) that must be of @p want. */
static bool
fill_type_list(builder_t *b, build_entry_t *e, bool members, const rj_gql_type_t ***out,
               size_t *n)
{
    size_t count = 0;
    for (size_t i = 0; i < e->ndefs; i++)
        for (const rj_gql_ast_name_t *nm = members ? e->defs[i]->members : e->defs[i]->interfaces;
             nm != NULL; nm = nm->next)
            count++;
    *out = rj__gql_arena_alloc(&b->s->arena, (count + 1) * sizeof(**out));
    *n = 0;
    for (size_t i = 0; i < e->ndefs; i++) {
        for (const rj_gql_ast_name_t *nm = members ? e->defs[i]->members : e->defs[i]->interfaces;
             nm != NULL; nm = nm->next) {
            build_entry_t *target = entry_find(b, nm->name);
            if (target == NULL)
                return fail(b, nm->loc, "Unknown type \"%s\".", nm->name);
            const rj_gql_type_t *tt = target->type;
            if (members && tt->kind != RJ_GQL_KIND_OBJECT)
                return fail(b, nm->loc,
                            "Union type %s can only include Object types, it cannot include %s.",
                            e->type->name, tt->name);
            if (!members && tt->kind != RJ_GQL_KIND_INTERFACE)
                return fail(b, nm->loc,
                            "Type %s must only implement Interface types, it cannot implement "
                            "%s.",
                            e->type->name, tt->name);
            for (size_t j = 0; j < *n; j++)
                if ((*out)[j] == tt)
                    return fail(b, nm->loc, "Type %s can only %s %s once.", e->type->name,
                                members ? "include" : "implement", tt->name);
            (*out)[(*n)++] = tt;
        }
    }
    return true;
}

/* Pass 2: fill one type from its definition and extensions. */
static bool
fill_type(builder_t *b, build_entry_t *e)
{
    rj_gql_type_t *t = e->type;
    size_t nd = 0;
    for (size_t i = 0; i < e->ndefs; i++)
        for (const rj_gql_ast_directive_t *d = e->defs[i]->directives; d != NULL; d = d->next)
            nd++;
    t->directives = rj__gql_arena_alloc(&b->s->arena, (nd + 1) * sizeof(*t->directives));
    for (size_t i = 0; i < e->ndefs; i++)
        for (const rj_gql_ast_directive_t *d = e->defs[i]->directives; d != NULL; d = d->next)
            t->directives[t->ndirectives++] = d;
    switch (t->kind) {
    case RJ_GQL_KIND_SCALAR: {
        const rj_gql_ast_directive_t *sb = rj_gql_type_find_directive(t, "specifiedBy");
        if (sb != NULL)
            for (const rj_gql_ast_argument_t *a = sb->args; a != NULL; a = a->next)
                if (strcmp(a->name, "url") == 0 && a->value->kind == RJ_GQL_VALUE_STRING)
                    t->specified_by = a->value->str;
        return true;
    }
    case RJ_GQL_KIND_OBJECT:
    case RJ_GQL_KIND_INTERFACE:
        return fill_fields(b, e) && fill_type_list(b, e, false, &t->interfaces, &t->ninterfaces);
    case RJ_GQL_KIND_UNION:
        return fill_type_list(b, e, true, &t->possible_types, &t->npossible_types);
    case RJ_GQL_KIND_ENUM:
        return fill_enum_values(b, e);
    case RJ_GQL_KIND_INPUT_OBJECT:
        return fill_input_fields(b, e);
    }
    return true;
}

static bool
fill_directive(builder_t *b, const rj_gql_doc_t *doc)
{
    for (const rj_gql_ast_definition_t *d = doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_DIRECTIVE)
            continue;
        rj_gql_directive_def_t *dd =
            (rj_gql_directive_def_t *)rj__gql_map_get(&b->s->directive_index, d->name);
        if (!fill_args(b, d->input_values, &dd->args, &dd->nargs, "@", d->name))
            return false;
    }
    return true;
}

/* Pass 3a: every object is a possible type of each interface it implements. */
static void
fill_possible_types(builder_t *b)
{
    for (size_t i = 0; i < b->nentries; i++) {
        rj_gql_type_t *t = b->entries[i].type;
        if (t->kind != RJ_GQL_KIND_OBJECT)
            continue;
        for (size_t j = 0; j < t->ninterfaces; j++)
            ((rj_gql_type_t *)t->interfaces[j])->npossible_types++;
    }
    for (size_t i = 0; i < b->nentries; i++) {
        rj_gql_type_t *t = b->entries[i].type;
        if (t->kind == RJ_GQL_KIND_INTERFACE) {
            t->possible_types =
                rj__gql_arena_alloc(&b->s->arena, (t->npossible_types + 1) * sizeof(void *));
            t->npossible_types = 0;
        }
    }
    for (size_t i = 0; i < b->nentries; i++) {
        rj_gql_type_t *t = b->entries[i].type;
        if (t->kind != RJ_GQL_KIND_OBJECT)
            continue;
        for (size_t j = 0; j < t->ninterfaces; j++) {
            rj_gql_type_t *it = (rj_gql_type_t *)t->interfaces[j];
            it->possible_types[it->npossible_types++] = t;
        }
    }
}

static bool
set_root(builder_t *b, const rj_gql_ast_root_op_t *r)
{
    static const char *const words[] = {"query", "mutation", "subscription"};
    build_entry_t *e = entry_find(b, r->type_name);
    if (e == NULL)
        return fail(b, r->loc, "Specified %s type \"%s\" not found in document.", words[r->op],
                    r->type_name);
    if (e->type->kind != RJ_GQL_KIND_OBJECT)
        return fail(b, r->loc, "%c%s root type must be Object type, it cannot be %s.",
                    words[r->op][0] - 'a' + 'A', words[r->op] + 1, r->type_name);
    if (b->s->roots[r->op] != NULL && b->schema_def == NULL)
        return fail(b, r->loc, "Type for %s already defined in the schema.", words[r->op]);
    b->s->roots[r->op] = e->type;
    return true;
}

/* Pass 3b: root types from `schema {}` (and its extensions) or by naming convention. */
static bool
fill_roots(builder_t *b)
{
    if (b->schema_def != NULL) {
        b->s->description = b->schema_def->description;
        for (const rj_gql_ast_root_op_t *r = b->schema_def->root_ops; r != NULL; r = r->next)
            if (!set_root(b, r))
                return false;
    } else {
        static const char *const names[] = {"Query", "Mutation", "Subscription"};
        for (int op = 0; op < 3; op++) {
            build_entry_t *e = entry_find(b, names[op]);
            if (e != NULL && e->type->kind == RJ_GQL_KIND_OBJECT)
                b->s->roots[op] = e->type;
        }
    }
    for (size_t i = 0; i < b->nschema_exts; i++)
        for (const rj_gql_ast_root_op_t *r = b->schema_exts[i]->root_ops; r; r = r->next)
            if (!set_root(b, r))
                return false;
    return true;
}

/* The order of rj_gql_schema_type_at(): user types, then built-in scalars, then __ types. */
static void
order_types(builder_t *b)
{
    rj_gql_schema_t *s = b->s;
    s->types = rj_xcalloc(b->nentries + 1, sizeof(*s->types));
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < b->nentries; i++) {
            rj_gql_type_t *t = b->entries[i].type;
            bool intro = strncmp(t->name, "__", 2) == 0;
            int want = !t->builtin ? 0 : intro ? 2 : 1;
            if (want != pass || strcmp(t->name, "__Meta") == 0)
                continue;
            s->types[s->ntypes++] = t;
            rj__gql_map_put(&s->type_index, t->name, t);
        }
    }
}

/*
 * graphql-js's collectReferencedTypes: adds @p t unless already there, then, depth first,
 * every type it references (union members; interfaces, field types and argument types;
 * input field types).
 */
static void
collect_referenced(rj_gql_schema_t *s, rj__gql_map_t *seen, const rj_gql_type_t *t)
{
    if (t == NULL || rj__gql_map_get(seen, t->name) != NULL)
        return;
    rj__gql_map_put(seen, t->name, t);
    s->intro_types[s->nintro_types++] = t;
    if (t->kind == RJ_GQL_KIND_UNION) {
        for (size_t i = 0; i < t->npossible_types; i++)
            collect_referenced(s, seen, t->possible_types[i]);
    } else if (t->kind == RJ_GQL_KIND_OBJECT || t->kind == RJ_GQL_KIND_INTERFACE) {
        for (size_t i = 0; i < t->ninterfaces; i++)
            collect_referenced(s, seen, t->interfaces[i]);
        for (size_t i = 0; i < t->nfields; i++) {
            collect_referenced(s, seen, t->fields[i].named);
            for (size_t k = 0; k < t->fields[i].nargs; k++)
                collect_referenced(s, seen, t->fields[i].args[k].named);
        }
    } else if (t->kind == RJ_GQL_KIND_INPUT_OBJECT) {
        for (size_t i = 0; i < t->ninput_fields; i++)
            collect_referenced(s, seen, t->input_fields[i].named);
    }
}

/*
 * The order of __schema { types }, which clients show and tests compare: graphql-js's
 * GraphQLSchema type map. The SDL's types in order, each followed by the built-in scalars
 * it is the first to reference; then those that only directive arguments reference
 * (declared directives first, as __schema { directives } lists them); then the
 * introspection types from __Schema down. Built-in scalars nothing references are left
 * out, as there.
 */
static void
order_intro_types(rj_gql_schema_t *s)
{
    rj__gql_map_t seen;
    rj__gql_map_init(&seen);
    s->intro_types = rj_xcalloc(s->ntypes + 1, sizeof(*s->intro_types));
    for (size_t i = 0; i < s->ntypes; i++) /* the SDL's own types are there from the start */
        if (!s->types[i]->builtin)
            rj__gql_map_put(&seen, s->types[i]->name, s->types[i]);
    for (size_t i = 0; i < s->ntypes; i++) {
        const rj_gql_type_t *t = s->types[i];
        if (t->builtin)
            continue;
        s->intro_types[s->nintro_types++] = t;
        /* what collectReferencedTypes does below the type itself */
        rj__gql_map_t *set = &seen;
        if (t->kind == RJ_GQL_KIND_UNION) {
            for (size_t k = 0; k < t->npossible_types; k++)
                collect_referenced(s, set, t->possible_types[k]);
        } else if (t->kind == RJ_GQL_KIND_OBJECT || t->kind == RJ_GQL_KIND_INTERFACE) {
            for (size_t k = 0; k < t->ninterfaces; k++)
                collect_referenced(s, set, t->interfaces[k]);
            for (size_t k = 0; k < t->nfields; k++) {
                collect_referenced(s, set, t->fields[k].named);
                for (size_t a = 0; a < t->fields[k].nargs; a++)
                    collect_referenced(s, set, t->fields[k].args[a].named);
            }
        } else if (t->kind == RJ_GQL_KIND_INPUT_OBJECT) {
            for (size_t k = 0; k < t->ninput_fields; k++)
                collect_referenced(s, set, t->input_fields[k].named);
        }
    }
    for (int builtin = 0; builtin < 2; builtin++)
        for (size_t i = 0; i < s->ndirectives; i++)
            if (s->directives[i]->builtin == (builtin == 1))
                for (size_t k = 0; k < s->directives[i]->nargs; k++)
                    collect_referenced(s, &seen, s->directives[i]->args[k].named);
    collect_referenced(s, &seen, rj__gql_map_get(&s->type_index, "__Schema"));
    rj__gql_map_deinit(&seen);
}

static bool
build(builder_t *b)
{
    rj_gql_schema_t *s = b->s;
    if (!declare(b, s->prelude, true) || !declare(b, s->sdl, false) ||
        !attach_extensions(b, s->sdl))
        return false;
    for (size_t i = 0; i < b->nentries; i++)
        if (!fill_type(b, &b->entries[i]))
            return false;
    if (!fill_directive(b, s->prelude) || !fill_directive(b, s->sdl))
        return false;
    fill_possible_types(b);
    if (!fill_roots(b))
        return false;
    order_types(b);
    order_intro_types(s);
    const rj_gql_type_t *meta = entry_find(b, "__Meta")->type;
    s->meta_schema = rj_gql_type_find_field(meta, "__schema");
    s->meta_type = rj_gql_type_find_field(meta, "__type");
    s->meta_typename = rj_gql_type_find_field(meta, "__typename");
    return true;
}

rj_gql_schema_t *
rj_gql_schema_from_sdl(const char *sdl, size_t len, rj_error_t *err)
{
    /* Schemas are trusted configuration, so they get generous limits. */
    static const rj_gql_limits_t schema_limits = {
        .max_bytes = 64u * 1024 * 1024, .max_tokens = SIZE_MAX, .max_depth = 256};
    json_t *perr = NULL;
    rj_gql_doc_t *doc = rj_gql_parse(sdl, len, &schema_limits, &perr);
    if (doc == NULL) {
        const char *msg = json_string_value(json_object_get(perr, "message"));
        json_t *loc = json_array_get(json_object_get(perr, "locations"), 0);
        if (loc != NULL)
            rj_error_set(err, RJ_ESCHEMA, "could not parse schema: %s (line %d, column %d)", msg,
                         (int)json_integer_value(json_object_get(loc, "line")),
                         (int)json_integer_value(json_object_get(loc, "column")));
        else
            rj_error_set(err, RJ_ESCHEMA, "could not parse schema: %s", msg);
        json_decref(perr);
        return NULL;
    }
    rj_gql_doc_t *prelude =
        rj_gql_parse(rj__gql_prelude_sdl, strlen(rj__gql_prelude_sdl), &schema_limits, NULL);
    RJ_ASSERT(prelude != NULL);

    rj_gql_schema_t *s = rj_xcalloc(1, sizeof(*s));
    s->refs = 1;
    rj__gql_arena_init(&s->arena);
    rj__gql_map_init(&s->type_index);
    rj__gql_map_init(&s->directive_index);
    s->sdl = doc;
    s->prelude = prelude;

    builder_t b = {.s = s, .err = err};
    rj__gql_map_init(&b.by_name);
    bool ok = build(&b);
    for (size_t i = 0; i < b.nentries; i++)
        free(b.entries[i].defs);
    free(b.entries);
    rj__gql_map_deinit(&b.by_name);
    if (!ok) {
        rj_gql_schema_free(s);
        return NULL;
    }
    rj_debug("graphql", "schema built types=%zu directives=%zu", s->ntypes, s->ndirectives);
    return s;
}

rj_gql_schema_t *
rj_gql_schema_ref(rj_gql_schema_t *s)
{
    s->refs++;
    return s;
}

void
rj_gql_schema_free(rj_gql_schema_t *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    free(s->types);
    free(s->intro_types);
    free(s->directives);
    rj__gql_map_deinit(&s->type_index);
    rj__gql_map_deinit(&s->directive_index);
    rj__gql_arena_deinit(&s->arena);
    rj_gql_doc_free(s->sdl);
    rj_gql_doc_free(s->prelude);
    free(s);
}

/* ---- lookups ----------------------------------------------------------------------------- */

const rj_gql_type_t *
rj_gql_schema_find_type(const rj_gql_schema_t *s, const char *name)
{
    return rj__gql_map_get(&s->type_index, name);
}

size_t
rj_gql_schema_ntypes(const rj_gql_schema_t *s)
{
    return s->ntypes;
}

const rj_gql_type_t *
rj_gql_schema_type_at(const rj_gql_schema_t *s, size_t i)
{
    return i < s->ntypes ? s->types[i] : NULL;
}

const rj_gql_type_t *
rj_gql_schema_root_type(const rj_gql_schema_t *s, rj_gql_op_type_t op)
{
    return s->roots[op];
}

const rj_gql_directive_def_t *
rj_gql_schema_find_directive(const rj_gql_schema_t *s, const char *name)
{
    return rj__gql_map_get(&s->directive_index, name);
}

size_t
rj_gql_schema_ndirectives(const rj_gql_schema_t *s)
{
    return s->ndirectives;
}

const rj_gql_directive_def_t *
rj_gql_schema_directive_at(const rj_gql_schema_t *s, size_t i)
{
    return i < s->ndirectives ? s->directives[i] : NULL;
}

const rj_gql_field_def_t *
rj_gql_type_find_field(const rj_gql_type_t *t, const char *name)
{
    for (size_t i = 0; i < t->nfields; i++)
        if (strcmp(t->fields[i].name, name) == 0)
            return &t->fields[i];
    return NULL;
}

rj_status_t
rj_gql_schema_set_field_resolver(rj_gql_schema_t *s, const char *type, const char *field,
                                 rj_gql_field_resolve_fn fn, void *ud, rj_error_t *err)
{
    const rj_gql_type_t *t = rj_gql_schema_find_type(s, type);
    const rj_gql_field_def_t *fd =
        t != NULL && t->kind == RJ_GQL_KIND_OBJECT ? rj_gql_type_find_field(t, field) : NULL;
    if (fd == NULL)
        return rj_error_set(err, RJ_ENOTFOUND, "could not set a resolver: %s.%s is not a field "
                                               "of an object type", type, field);
    /* The schema owns its field definitions; they are const only to its readers. */
    rj_gql_field_def_t *mut = (rj_gql_field_def_t *)fd;
    mut->resolve = fn;
    mut->resolve_ud = ud;
    return RJ_OK;
}

const rj_gql_field_def_t *
rj__gql_field_lookup(const rj_gql_schema_t *s, const rj_gql_type_t *t, const char *name)
{
    if (name[0] == '_' && name[1] == '_') {
        if (strcmp(name, "__typename") == 0 && rj_gql_type_is_composite(t))
            return s->meta_typename;
        if (t == s->roots[RJ_GQL_OP_QUERY]) {
            if (strcmp(name, "__schema") == 0)
                return s->meta_schema;
            if (strcmp(name, "__type") == 0)
                return s->meta_type;
        }
    }
    return rj_gql_type_find_field(t, name);
}

const rj_gql_input_value_t *
rj_gql_type_find_input_field(const rj_gql_type_t *t, const char *name)
{
    for (size_t i = 0; i < t->ninput_fields; i++)
        if (strcmp(t->input_fields[i].name, name) == 0)
            return &t->input_fields[i];
    return NULL;
}

const rj_gql_enum_value_t *
rj_gql_type_find_enum_value(const rj_gql_type_t *t, const char *name)
{
    for (size_t i = 0; i < t->nenum_values; i++)
        if (strcmp(t->enum_values[i].name, name) == 0)
            return &t->enum_values[i];
    return NULL;
}

const rj_gql_input_value_t *
rj_gql_field_find_arg(const rj_gql_field_def_t *f, const char *name)
{
    for (size_t i = 0; i < f->nargs; i++)
        if (strcmp(f->args[i].name, name) == 0)
            return &f->args[i];
    return NULL;
}

const rj_gql_ast_directive_t *
rj_gql_directives_find(const rj_gql_ast_directive_t *list, const char *name)
{
    for (; list != NULL; list = list->next)
        if (strcmp(list->name, name) == 0)
            return list;
    return NULL;
}

const rj_gql_ast_directive_t *
rj_gql_type_find_directive(const rj_gql_type_t *t, const char *name)
{
    for (size_t i = 0; i < t->ndirectives; i++)
        if (strcmp(t->directives[i]->name, name) == 0)
            return t->directives[i];
    return NULL;
}

const rj_gql_ast_directive_t *
rj_gql_field_find_directive(const rj_gql_field_def_t *f, const char *name)
{
    return rj_gql_directives_find(f->directives, name);
}

json_t *
rj_gql_directive_arg_json(const rj_gql_ast_directive_t *d, const char *name)
{
    for (const rj_gql_ast_argument_t *a = d->args; a != NULL; a = a->next)
        if (strcmp(a->name, name) == 0)
            return rj_gql_value_to_json(a->value, NULL);
    return NULL;
}

bool
rj_gql_type_is_composite(const rj_gql_type_t *t)
{
    return t->kind == RJ_GQL_KIND_OBJECT || t->kind == RJ_GQL_KIND_INTERFACE ||
           t->kind == RJ_GQL_KIND_UNION;
}

bool
rj_gql_type_is_input(const rj_gql_type_t *t)
{
    return t->kind == RJ_GQL_KIND_SCALAR || t->kind == RJ_GQL_KIND_ENUM ||
           t->kind == RJ_GQL_KIND_INPUT_OBJECT;
}

bool
rj_gql_type_is_possible(const rj_gql_type_t *abstract, const rj_gql_type_t *obj)
{
    if (abstract == obj)
        return true;
    for (size_t i = 0; i < abstract->npossible_types; i++)
        if (abstract->possible_types[i] == obj)
            return true;
    return false;
}
