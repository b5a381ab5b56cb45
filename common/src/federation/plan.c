/*
 * federation/plan.c - query planning: which service answers which part of an operation,
 * as a tree of fetches (federation.h). A plan depends on the document and the operation
 * only, never on variables, so one plan serves every request of the same (document,
 * operationName): @skip/@include are left in the subgraph documents, with the variables
 * they read, for the services to evaluate, and an entity fetch whose objects were
 * skipped finds none and is not sent.
 *
 * The walk: each selection of the client's operation is printed into the document of the
 * fetch whose service can resolve it (it owns the field; or the type is a value type it
 * knows; or the field is in one of its @key field sets or in what its parent field
 * @provides). A field it cannot resolve goes to a child entity fetch of the owning
 * service at the same response path, and the parent fetch asks for what a representation
 * needs: __typename, a key of the owner it can give and the field's @requires fields;
 * what it cannot give is asked first of a service that can (a pre-fetch the owner's
 * fetch follows). All the fields one service resolves at one path share one child,
 * hence one `_entities` call for every object at that path, however many there are; and
 * the run (run.c) joins the children of one service at one depth into one request. The
 * @skip/@include of the fields and fragments above a selection go with it into child
 * fetches, and a path through a union or interface member remembers that member.
 *
 * A field of an interface stays on the interface when the parent's service resolves it
 * for every implementation it knows; otherwise (another service added it with `extend
 * interface`, or some implementation gets it elsewhere) it is exploded into `... on T`
 * for each implementation and planned as T's field, so each type is represented by its
 * owner's key for it, and the owner's fetches for the several types at one path leave in
 * its one request of the level. Only implementations the parent's service knows are
 * asked: it cannot return the others.
 *
 * Deliberately not done yet: @requires fields that several services other than the
 * parent's would have to give are refused at planning; the fetches of one service for
 * several implementations are aliased `_entities` fields of one request rather than one
 * `_entities` field with a `... on T` per type (as @apollo/gateway sends); named
 * fragments are inlined (`... on T`) rather than forwarded.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "federation/federation.h"

#define ALIAS_PREFIX "_rj_" /* what the gateway asks for itself */

typedef struct fetch_build {
    rj_fed_fetch_t f; /* the fetch being built; `f` first so the two convert */
    rj_buf_t body;    /* its selections, printed */
    size_t cap_vars;  /* capacity of f.variables */
    size_t cap_reps;  /* capacity of f.reps */
    size_t cap_kids;  /* capacity of f.children */
} fetch_build_t;

typedef struct planner {
    const rj_fed_graph_t *g;           /* the composition */
    const rj_gql_schema_t *schema;     /* its public schema */
    const rj_gql_doc_t *doc;           /* the document */
    const rj_gql_ast_definition_t *op; /* the operation */
    rj_fed_plan_t *plan;               /* what is built */
    size_t cap_all;                    /* capacity of plan->all */
    size_t selections;                 /* printed so far (bounded) */
    rj_error_t *err;                   /* the first error */
    bool failed;                       /* an error was set */
} planner_t;

static bool fail(planner_t *p, rj_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
fail(planner_t *p, rj_status_t st, const char *fmt, ...)
{
    if (!p->failed) {
        va_list ap;
        va_start(ap, fmt);
        rj_error_setv(p->err, st, fmt, ap);
        va_end(ap);
        p->failed = true;
    }
    return false;
}

static fetch_build_t *
fetch_add(planner_t *p, int service, bool entities)
{
    if (p->plan->nall >= RJ_FED_PLAN_MAX_FETCHES) {
        fail(p, RJ_ETOOBIG, "the operation needs more than %d requests to services",
             RJ_FED_PLAN_MAX_FETCHES);
        return NULL;
    }
    fetch_build_t *b = rj_xcalloc(1, sizeof(*b));
    b->f.service = service;
    b->f.entities = entities;
    b->f.id = p->plan->nall;
    rj_buf_init(&b->body);
    if (p->plan->nall == p->cap_all) {
        p->cap_all = p->cap_all != 0 ? 2 * p->cap_all : 8;
        p->plan->all = rj_xrealloc(p->plan->all, p->cap_all * sizeof(*p->plan->all));
    }
    p->plan->all[p->plan->nall++] = &b->f;
    return b;
}

static void
fetch_use_variable(fetch_build_t *b, const char *name)
{
    for (size_t i = 0; i < b->f.nvariables; i++)
        if (strcmp(b->f.variables[i], name) == 0)
            return;
    if (b->f.nvariables == b->cap_vars) {
        b->cap_vars = b->cap_vars != 0 ? 2 * b->cap_vars : 4;
        b->f.variables = rj_xrealloc(b->f.variables, b->cap_vars * sizeof(char *));
    }
    b->f.variables[b->f.nvariables++] = rj_xstrdup(name);
}

static void
use_value_variables(fetch_build_t *b, const rj_gql_ast_value_t *v)
{
    if (v->kind == RJ_GQL_VALUE_VARIABLE)
        fetch_use_variable(b, v->str);
    for (const rj_gql_ast_value_t *i = v->items; i != NULL; i = i->next)
        use_value_variables(b, i);
    for (const rj_gql_ast_object_field_t *f = v->fields; f != NULL; f = f->next)
        use_value_variables(b, f->value);
}

static void
print_arguments(fetch_build_t *b, const rj_gql_ast_argument_t *a)
{
    if (a == NULL)
        return;
    rj_buf_putc(&b->body, '(');
    for (; a != NULL; a = a->next) {
        char *v = rj_gql_value_to_string(a->value);
        rj_buf_printf(&b->body, "%s: %s%s", a->name, v, a->next != NULL ? ", " : "");
        free(v);
        use_value_variables(b, a->value);
    }
    rj_buf_putc(&b->body, ')');
}

static void
print_directives(fetch_build_t *b, const rj_gql_ast_directive_t *d)
{
    for (; d != NULL; d = d->next) {
        rj_buf_printf(&b->body, " @%s", d->name);
        print_arguments(b, d->args);
    }
}

/* Prints one field of a field set (key, requires) under the gateway's own alias. */
static void
print_fieldset_one(fetch_build_t *b, const rj_gql_ast_selection_t *s)
{
    rj_buf_printf(&b->body, " " ALIAS_PREFIX "%s: %s", s->name, s->name);
    if (s->selections != NULL) {
        rj_buf_puts(&b->body, " {");
        for (const rj_gql_ast_selection_t *c = s->selections; c != NULL; c = c->next)
            print_fieldset_one(b, c);
        rj_buf_puts(&b->body, " }");
    }
}

/* Prints a whole field set. */
static void
print_fieldset(fetch_build_t *b, const rj_gql_ast_selection_t *s)
{
    for (; s != NULL; s = s->next)
        print_fieldset_one(b, s);
}

static bool
in_fieldset(const rj_gql_ast_selection_t *s, const char *name, const rj_gql_ast_selection_t **sub)
{
    for (; s != NULL; s = s->next)
        if (strcmp(s->name, name) == 0) {
            if (sub != NULL)
                *sub = s->selections;
            return true;
        }
    return false;
}

static uint64_t
bit(int service)
{
    return (uint64_t)1 << service;
}

/* The first @key of @p t that @p service declared, or NULL. */
static const rj_fed_fieldset_t *
key_of(const rj_fed_type_t *t, int service)
{
    for (size_t i = 0; i < t->nkeys; i++)
        if (t->keys[i].service == service)
            return &t->keys[i];
    return NULL;
}

/* True when @p service can answer field @p name of @p t without another fetch. */
static bool
resolvable(const rj_fed_type_t *t, const rj_fed_field_t *f, int service,
           const rj_gql_ast_selection_t *provided, const rj_gql_ast_selection_t **sub)
{
    *sub = NULL;
    if (f->owner == service)
        return true;
    if (f->owner == RJ_FED_SHARED && (t->services & bit(service)) != 0)
        return true;
    if (in_fieldset(provided, f->name, sub))
        return true;
    /* A key field of the service's own @key: every reference it returns carries it. */
    for (size_t i = 0; i < t->nkeys; i++)
        if (t->keys[i].service == service && in_fieldset(t->keys[i].selections, f->name, sub))
            return true;
    return false;
}

static const rj_gql_ast_definition_t *
find_fragment(const rj_gql_doc_t *doc, const char *name)
{
    for (const rj_gql_ast_definition_t *d = rj_gql_doc_definitions(doc); d != NULL; d = d->next)
        if (d->kind == RJ_GQL_DEF_FRAGMENT && strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

/* The entity fetch of @p service at the current path for @p type, made on first use. */
static fetch_build_t *
child_fetch(planner_t *p, fetch_build_t *parent, int service, const char *type, char **path,
            const char *const *path_types, size_t npath)
{
    for (size_t i = 0; i < parent->f.nchildren; i++) {
        rj_fed_fetch_t *c = parent->f.children[i];
        bool same = c->service == service && strcmp(c->type, type) == 0 && c->npath == npath;
        for (size_t j = 0; same && j < npath; j++)
            same = strcmp(c->path[j], path[j]) == 0 &&
                   (c->path_types[j] == NULL) == (path_types[j] == NULL) &&
                   (c->path_types[j] == NULL || strcmp(c->path_types[j], path_types[j]) == 0);
        if (same)
            return (fetch_build_t *)c;
    }
    fetch_build_t *c = fetch_add(p, service, true);
    if (c == NULL)
        return NULL;
    c->f.type = type;
    c->f.depth = parent->f.depth + 1;
    c->f.npath = npath;
    c->f.path = rj_xcalloc(npath + 1, sizeof(char *));
    c->f.path_types = rj_xcalloc(npath + 1, sizeof(char *));
    if (npath > 0)
        memcpy(c->f.path_types, path_types, npath * sizeof(char *));
    for (size_t j = 0; j < npath; j++)
        c->f.path[j] = rj_xstrdup(path[j]);
    if (parent->f.nchildren == parent->cap_kids) {
        parent->cap_kids = parent->cap_kids != 0 ? 2 * parent->cap_kids : 4;
        parent->f.children =
            rj_xrealloc(parent->f.children, parent->cap_kids * sizeof(*parent->f.children));
    }
    parent->f.children[parent->f.nchildren++] = &c->f;
    return c;
}

static void
fetch_add_rep(fetch_build_t *c, const rj_gql_ast_selection_t *fs)
{
    for (size_t i = 0; i < c->f.nreps; i++)
        if (c->f.reps[i] == fs)
            return;
    if (c->f.nreps == c->cap_reps) {
        c->cap_reps = c->cap_reps != 0 ? 2 * c->cap_reps : 4;
        c->f.reps = rj_xrealloc(c->f.reps, c->cap_reps * sizeof(*c->f.reps));
    }
    c->f.reps[c->f.nreps++] = fs;
}

/*
 * A selection with @skip/@include around the selections being walked (a fragment, or a
 * field above them), innermost first: the conditions under which they are asked.
 */
typedef struct frag_ctx {
    const rj_gql_ast_selection_t *sel; /* the fragment or field carrying the conditions */
    const struct frag_ctx *outer;      /* the one around it, or NULL */
} frag_ctx_t;

/* A walk position: the fetch printed into, its service, the type and response path. */
typedef struct walk {
    fetch_build_t *fetch;                   /* where selections are printed */
    int service;                            /* its service */
    const rj_gql_type_t *type;              /* the parent type of the selections */
    const rj_gql_ast_selection_t *provided; /* fields the service provides here, or NULL */
    char **path;                            /* response keys from the root */
    const char **path_types;                /* per path key: the object type it is a field
                                               of, when it has to be checked (a member of
                                               an abstract type), else NULL */
    size_t npath;                           /* length of path */
    size_t depth;                           /* nesting, bounded */
    bool root;                              /* root selections: only the service's fields */
    bool requires_sent;                     /* the field walked is one whose @requires the
                                               fetch's representations carry */
    bool narrowed;                          /* type is an object a fragment narrowed an
                                               abstract type to */
    const frag_ctx_t *frags;                /* conditions (@skip/@include) of the fragments
                                               and fields around the current selections */
} walk_t;

static bool walk_selections(planner_t *p, const walk_t *w, const rj_gql_ast_selection_t *s);
static bool walk_field(planner_t *p, const walk_t *w, const rj_gql_ast_selection_t *s);

static bool
is_condition(const rj_gql_ast_directive_t *d)
{
    return strcmp(d->name, "skip") == 0 || strcmp(d->name, "include") == 0;
}

static bool
has_conditions(const rj_gql_ast_directive_t *d)
{
    for (; d != NULL; d = d->next)
        if (is_condition(d))
            return true;
    return false;
}

/*
 * Prints `... @skip(...) @include(...) {` for each selection of @p f, outermost first;
 * returns how many braces to close.
 */
static size_t
print_frag_wrappers(fetch_build_t *b, const frag_ctx_t *f)
{
    if (f == NULL)
        return 0;
    size_t n = print_frag_wrappers(b, f->outer);
    rj_buf_puts(&b->body, " ...");
    for (const rj_gql_ast_directive_t *d = f->sel->directives; d != NULL; d = d->next) {
        if (!is_condition(d))
            continue;
        rj_buf_printf(&b->body, " @%s", d->name);
        print_arguments(b, d->args);
    }
    rj_buf_puts(&b->body, " {");
    return n + 1;
}

/* The first @key of @p t declared by @p service whose fields the walk's service can give. */
static const rj_fed_fieldset_t *
usable_key(const rj_fed_type_t *t, int service, const walk_t *w)
{
    for (size_t i = 0; i < t->nkeys; i++) {
        if (t->keys[i].service != service)
            continue;
        bool ok = true;
        for (const rj_gql_ast_selection_t *s = t->keys[i].selections; s != NULL && ok;
             s = s->next) {
            const rj_fed_field_t *f = rj_fed_type_field(t, s->name);
            const rj_gql_ast_selection_t *sub;
            ok = f != NULL && resolvable(t, f, w->service, w->provided, &sub);
        }
        if (ok)
            return &t->keys[i];
    }
    return NULL;
}

static bool
walk_subselection(planner_t *p, const walk_t *w, const rj_gql_ast_selection_t *s,
                  const rj_gql_field_def_t *def, const rj_gql_ast_selection_t *provided)
{
    if (s->selections == NULL)
        return true;
    const char *key = s->alias != NULL ? s->alias : s->name;
    const rj_gql_type_t *sub = def->named;
    rj_buf_puts(&w->fetch->body, " {");
    /* Abstract types need __typename for completion; entities for representations. */
    const rj_fed_type_t *ft = rj_fed_graph_type(p->g, sub->name);
    if (sub->kind != RJ_GQL_KIND_OBJECT || (ft != NULL && ft->nkeys > 0))
        rj_buf_puts(&w->fetch->body, " __typename");
    char **path = rj_xmalloc((w->npath + 1) * sizeof(char *));
    const char **path_types = rj_xmalloc((w->npath + 1) * sizeof(char *));
    if (w->npath > 0) {
        memcpy(path, w->path, w->npath * sizeof(char *));
        memcpy(path_types, w->path_types, w->npath * sizeof(char *));
    }
    path[w->npath] = (char *)key;
    /*
     * Where the walk narrowed an abstract type to one of its objects (... on Bundle), the
     * same response path may lead through other members too (User.products beside
     * Bundle.products): a child fetch's path remembers the object type, so that it only
     * represents the objects it was planned for.
     */
    path_types[w->npath] = w->narrowed ? w->type->name : NULL;
    /*
     * The field's own conditions hold for everything below it: a child fetch of what is
     * below must ask only under them, since another occurrence of this response key
     * without them may bring the objects anyway.
     */
    frag_ctx_t cond = {.sel = s, .outer = w->frags};
    walk_t in = {
        .fetch = w->fetch,
        .service = w->service,
        .type = sub,
        .provided = provided,
        .path = path,
        .path_types = path_types,
        .npath = w->npath + 1,
        .depth = w->depth + 1,
        .frags = has_conditions(s->directives) ? &cond : w->frags,
    };
    bool ok = walk_selections(p, &in, s->selections);
    free(path);
    free(path_types);
    rj_buf_puts(&w->fetch->body, " }");
    return ok;
}

/*
 * True when the walk's service resolves field @p f of @p t in its own fetch: the root
 * fields it owns; below them, what resolvable() says, and then only with the @requires
 * fields at hand. A field with @requires resolves only in an _entities call that carries
 * the required fields, even in its own service's fetch, when that service cannot give
 * them itself (they are @external there): then it takes the entity route, to itself.
 */
static bool
resolves_here(const walk_t *w, const rj_fed_type_t *t, const rj_fed_field_t *f,
              const rj_gql_ast_selection_t **sub)
{
    *sub = NULL;
    if (w->root)
        return f->owner == w->service;
    if (!resolvable(t, f, w->service, w->provided, sub))
        return false;
    for (const rj_gql_ast_selection_t *r = f->requires.selections; !w->requires_sent && r != NULL;
         r = r->next) {
        const rj_fed_field_t *rf = rj_fed_type_field(t, r->name);
        const rj_gql_ast_selection_t *ignored;
        if (rf == NULL || !resolvable(t, rf, w->service, w->provided, &ignored))
            return false;
    }
    return true;
}

/* The routing facts of @p obj when the walk's service knows the type, else NULL. */
static const rj_fed_type_t *
known_type(const planner_t *p, const walk_t *w, const rj_gql_type_t *obj)
{
    const rj_fed_type_t *t = rj_fed_graph_type(p->g, obj->name);
    return t != NULL && (t->services & bit(w->service)) != 0 ? t : NULL;
}

/*
 * True when the walk's service resolves field @p name of every implementation of the
 * interface w->type that it knows (the only objects it can return there); @p known says
 * how many it knows.
 */
static bool
every_implementation_here(const planner_t *p, const walk_t *w, const char *name, size_t *known)
{
    bool all = true;
    *known = 0;
    for (size_t i = 0; i < w->type->npossible_types; i++) {
        const rj_fed_type_t *t = known_type(p, w, w->type->possible_types[i]);
        if (t == NULL)
            continue;
        (*known)++;
        const rj_fed_field_t *f = rj_fed_type_field(t, name);
        const rj_gql_ast_selection_t *sub;
        all = all && f != NULL && resolves_here(w, t, f, &sub);
    }
    return all;
}

/*
 * A field of an interface that the walk's service does not resolve for every one of its
 * implementations: asked as `... on T { field }` for each implementation T the service
 * knows, each planned as the object's field it is. Where T's field belongs to another
 * service, the fetch asks T's __typename and key and the owner's entity fetch for T at
 * this path answers it; the owner's fetches for the several implementations leave in one
 * request (the run joins a service's fetches of one level).
 */
static bool
walk_implementations(planner_t *p, const walk_t *w, const rj_gql_ast_selection_t *s)
{
    for (size_t i = 0; i < w->type->npossible_types && !p->failed; i++) {
        const rj_gql_type_t *obj = w->type->possible_types[i];
        if (known_type(p, w, obj) == NULL)
            continue;
        if (++p->selections > RJ_FED_PLAN_MAX_SELECTIONS)
            return fail(p, RJ_ETOOBIG, "could not plan the operation: more than %d selections",
                        RJ_FED_PLAN_MAX_SELECTIONS);
        rj_buf_printf(&w->fetch->body, " ... on %s {", obj->name);
        walk_t in = *w;
        in.type = obj;
        in.narrowed = true;
        bool ok = walk_field(p, &in, s);
        rj_buf_puts(&w->fetch->body, " }");
        if (!ok)
            return false;
    }
    return !p->failed;
}

static bool
walk_field(planner_t *p, const walk_t *w, const rj_gql_ast_selection_t *s)
{
    const char *key = s->alias != NULL ? s->alias : s->name;
    if (s->alias != NULL && strncmp(s->alias, ALIAS_PREFIX, strlen(ALIAS_PREFIX)) == 0)
        return fail(p, RJ_EINVAL,
                    "could not plan the operation: aliases beginning with " ALIAS_PREFIX
                    " are the gateway's own (alias %s)",
                    s->alias);
    if (s->name[0] == '_' && s->name[1] == '_') {
        /* __typename is anyone's; __schema and __type are the gateway's own (engine). */
        if (!w->root && strcmp(s->name, "__typename") == 0) {
            rj_buf_printf(&w->fetch->body, " %s%s__typename", s->alias != NULL ? key : "",
                          s->alias != NULL ? ": " : "");
            print_directives(w->fetch, s->directives);
        }
        return true;
    }
    const rj_gql_field_def_t *def = rj_gql_type_find_field(w->type, s->name);
    const rj_fed_type_t *t = rj_fed_graph_type(p->g, w->type->name);
    const rj_fed_field_t *f = t != NULL ? rj_fed_type_field(t, s->name) : NULL;
    if (def == NULL || f == NULL)
        return fail(p, RJ_EINVAL, "could not plan the operation: no route to %s.%s", w->type->name,
                    s->name);
    const rj_gql_ast_selection_t *sub = NULL;
    bool here = resolves_here(w, t, f, &sub);
    if (w->type->kind == RJ_GQL_KIND_INTERFACE && !w->root) {
        size_t known = 0;
        bool all = every_implementation_here(p, w, s->name, &known);
        if (known > 0 ? !all : !here)
            return walk_implementations(p, w, s);
    }
    if (here) {
        rj_buf_printf(&w->fetch->body, " %s%s%s", s->alias != NULL ? s->alias : "",
                      s->alias != NULL ? ": " : "", s->name);
        print_arguments(w->fetch, s->args);
        print_directives(w->fetch, s->directives);
        const rj_gql_ast_selection_t *provided =
            f->owner == w->service ? f->provides.selections : sub;
        return walk_subselection(p, w, s, def, provided);
    }
    if (w->root)
        return true; /* another service's root field */
    if (t->kind != RJ_GQL_KIND_OBJECT)
        return fail(p, RJ_EINVAL,
                    "could not plan the operation: %s.%s is resolved by another service than "
                    "the one returning the %s",
                    t->name, f->name, t->name);
    int owner = f->owner != RJ_FED_SHARED ? f->owner : t->origin;
    const char *parent_name = rj_fed_graph_service_name(p->g, (size_t)w->service);
    /*
     * What the representation needs, asked of the parent's service: a key of the owner
     * that the parent can give (of several, the first), and the @requires fields the
     * parent can give. What it cannot give comes first from a service that can - the
     * type's origin for a key, the field's owner for a required field - in an entity
     * fetch that the owner's fetch then follows, so that the values are in the tree when
     * its representations are gathered.
     */
    rj_buf_puts(&w->fetch->body, " __typename");
    fetch_build_t *after = w->fetch;
    const rj_fed_fieldset_t *k = owner >= 0 ? usable_key(t, owner, w) : NULL;
    if (k != NULL) {
        print_fieldset(w->fetch, k->selections);
    } else {
        const rj_fed_fieldset_t *ok = t->origin >= 0 ? usable_key(t, t->origin, w) : NULL;
        k = owner >= 0 ? key_of(t, owner) : NULL;
        if (ok == NULL || k == NULL)
            return fail(p, RJ_EINVAL,
                        "could not plan the operation: %s.%s belongs to service %s, and service "
                        "%s can give no @key of %s that leads there",
                        t->name, f->name,
                        owner >= 0 ? rj_fed_graph_service_name(p->g, (size_t)owner) : "(none)",
                        parent_name, t->name);
        print_fieldset(w->fetch, ok->selections);
        after = child_fetch(p, w->fetch, t->origin, t->name, w->path, w->path_types, w->npath);
        if (after == NULL)
            return false;
        fetch_add_rep(after, ok->selections);
        print_fieldset(after, k->selections);
    }
    for (const rj_gql_ast_selection_t *r = f->requires.selections; r != NULL; r = r->next) {
        const rj_fed_field_t *rf = rj_fed_type_field(t, r->name);
        const rj_gql_ast_selection_t *ignored;
        if (rf != NULL && resolvable(t, rf, w->service, w->provided, &ignored)) {
            print_fieldset_one(w->fetch, r);
            continue;
        }
        int ro = rf == NULL ? -1 : rf->owner != RJ_FED_SHARED ? rf->owner : t->origin;
        if (after == w->fetch) {
            const rj_fed_fieldset_t *rk = ro >= 0 ? usable_key(t, ro, w) : NULL;
            if (rk == NULL)
                return fail(p, RJ_EINVAL,
                            "could not plan the operation: %s.%s requires %s, and service %s "
                            "can give no @key of %s that leads to it",
                            t->name, f->name, r->name, parent_name, t->name);
            print_fieldset(w->fetch, rk->selections);
            after = child_fetch(p, w->fetch, ro, t->name, w->path, w->path_types, w->npath);
            if (after == NULL)
                return false;
            fetch_add_rep(after, rk->selections);
        } else if (after->f.service != ro) {
            return fail(p, RJ_EINVAL,
                        "could not plan the operation: %s.%s needs fields of %s from more than "
                        "one other service than %s (not supported yet)",
                        t->name, f->name, t->name, parent_name);
        }
        print_fieldset_one(after, r);
    }
    fetch_build_t *c = child_fetch(p, after, owner, t->name, w->path, w->path_types, w->npath);
    if (c == NULL)
        return false;
    fetch_add_rep(c, k->selections);
    if (f->requires.selections != NULL)
        fetch_add_rep(c, f->requires.selections);
    walk_t in = *w;
    in.fetch = c;
    in.service = owner;
    in.provided = NULL;
    in.requires_sent = true;
    /*
     * The fragments around the field here carry @skip/@include that apply to it in the
     * child too: printed around it there (their type condition is the child's own).
     */
    size_t nwrap = print_frag_wrappers(c, w->frags);
    bool ok = walk_field(p, &in, s);
    for (size_t i = 0; i < nwrap; i++)
        rj_buf_puts(&c->body, " }");
    return ok;
}

static bool
walk_selections(planner_t *p, const walk_t *w, const rj_gql_ast_selection_t *s)
{
    if (w->depth > 64)
        return fail(p, RJ_ETOOBIG, "could not plan the operation: nested too deeply");
    for (; s != NULL && !p->failed; s = s->next) {
        if (++p->selections > RJ_FED_PLAN_MAX_SELECTIONS)
            return fail(p, RJ_ETOOBIG, "could not plan the operation: more than %d selections",
                        RJ_FED_PLAN_MAX_SELECTIONS);
        if (s->kind == RJ_GQL_SEL_FIELD) {
            if (!walk_field(p, w, s))
                return false;
            continue;
        }
        const rj_gql_ast_selection_t *sel = s->selections;
        const char *cond = s->type_condition;
        if (s->kind == RJ_GQL_SEL_FRAGMENT_SPREAD) {
            const rj_gql_ast_definition_t *fd = find_fragment(p->doc, s->name);
            if (fd == NULL)
                return fail(p, RJ_EINVAL, "could not plan the operation: unknown fragment %s",
                            s->name);
            sel = fd->selections;
            cond = fd->type_condition;
        }
        const rj_gql_type_t *ct = cond != NULL ? rj_gql_schema_find_type(p->schema, cond) : w->type;
        const rj_fed_type_t *cf = ct != NULL ? rj_fed_graph_type(p->g, ct->name) : NULL;
        /* A type the service does not know cannot be among what it returns. */
        if (ct == NULL ||
            (cf != NULL && !w->root && (cf->services & bit(w->service)) == 0 && ct != w->type))
            continue;
        size_t mark = w->fetch->body.len;
        if (cond != NULL && !w->root)
            rj_buf_printf(&w->fetch->body, " ... on %s", cond);
        else
            rj_buf_puts(&w->fetch->body, " ...");
        print_directives(w->fetch, s->directives);
        rj_buf_puts(&w->fetch->body, " {");
        size_t inner = w->fetch->body.len;
        walk_t in = *w;
        in.narrowed = w->narrowed || (ct != w->type && w->type->kind != RJ_GQL_KIND_OBJECT &&
                                      ct->kind == RJ_GQL_KIND_OBJECT);
        in.type = ct;
        frag_ctx_t frag = {.sel = s, .outer = w->frags};
        if (has_conditions(s->directives))
            in.frags = &frag;
        if (!walk_selections(p, &in, sel))
            return false;
        if (w->fetch->body.len == inner) {
            /* Nothing of it for this service: drop the empty fragment. */
            w->fetch->body.len = mark;
            w->fetch->body.data[mark] = '\0';
        } else {
            rj_buf_puts(&w->fetch->body, " }");
        }
    }
    return !p->failed;
}

/*
 * Prints the fetch's document around its selections, with the variables it uses; and,
 * for an entity fetch, the pieces a run needs to join it with others of the same service
 * and level into one request: the `... on T { }` selection and each variable's definition.
 */
static void
finish_fetch(planner_t *p, fetch_build_t *b)
{
    b->f.variable_defs = rj_xcalloc(b->f.nvariables + 1, sizeof(char *));
    for (size_t i = 0; i < b->f.nvariables; i++) {
        rj_buf_t d;
        rj_buf_init(&d);
        for (const rj_gql_ast_variable_t *v = p->op->variables; v != NULL; v = v->next) {
            if (strcmp(v->name, b->f.variables[i]) != 0)
                continue;
            char *ty = rj_gql_type_ref_to_string(v->type);
            rj_buf_printf(&d, "$%s: %s", v->name, ty);
            free(ty);
            if (v->default_value != NULL) {
                char *dv = rj_gql_value_to_string(v->default_value);
                rj_buf_printf(&d, " = %s", dv);
                free(dv);
            }
        }
        b->f.variable_defs[i] = rj_buf_steal(&d);
    }
    const char *body = b->body.data != NULL ? b->body.data : "";
    if (b->f.entities)
        b->f.selection = rj_xasprintf("... on %s {%s }", b->f.type, body);
    rj_buf_t q;
    rj_buf_init(&q);
    static const char *const words[] = {"query", "mutation", "subscription"};
    rj_buf_puts(&q, b->f.entities ? "query" : words[p->op->op]);
    bool any = b->f.entities || b->f.nvariables > 0;
    if (any)
        rj_buf_putc(&q, '(');
    if (b->f.entities)
        rj_buf_printf(&q, "$representations: [_Any!]!%s", b->f.nvariables > 0 ? ", " : "");
    for (size_t i = 0; i < b->f.nvariables; i++)
        rj_buf_printf(&q, "%s%s", b->f.variable_defs[i], i + 1 < b->f.nvariables ? ", " : "");
    if (any)
        rj_buf_putc(&q, ')');
    if (b->f.entities)
        rj_buf_printf(&q, " { _entities(representations: $representations) { %s } }",
                      b->f.selection);
    else
        rj_buf_printf(&q, " {%s }", body);
    b->f.query = rj_buf_steal(&q);
    rj_buf_deinit(&b->body);
}

/*
 * A mutation's root fields, each its own fetch in document order. A field inside root
 * fragments keeps them around it as `... @dirs { }`, so that their @skip/@include still
 * apply, evaluated by the service.
 */
static void
plan_mutation_fields(planner_t *p, const rj_gql_type_t *root, const rj_gql_ast_selection_t *sel,
                     const rj_gql_ast_selection_t **wrappers, size_t nwrappers)
{
    const rj_fed_type_t *t = rj_fed_graph_type(p->g, root->name);
    for (const rj_gql_ast_selection_t *s = sel; s != NULL && !p->failed; s = s->next) {
        if (s->kind != RJ_GQL_SEL_FIELD) {
            const rj_gql_ast_selection_t *inner = s->selections;
            if (s->kind == RJ_GQL_SEL_FRAGMENT_SPREAD) {
                const rj_gql_ast_definition_t *fd = find_fragment(p->doc, s->name);
                inner = fd != NULL ? fd->selections : NULL;
            }
            if (nwrappers == 64) {
                fail(p, RJ_ETOOBIG, "could not plan the operation: fragments nested too deeply");
                return;
            }
            wrappers[nwrappers] = s;
            plan_mutation_fields(p, root, inner, wrappers, nwrappers + 1);
            continue;
        }
        const rj_fed_field_t *f = t != NULL ? rj_fed_type_field(t, s->name) : NULL;
        if (f == NULL)
            continue; /* __typename: the engine's */
        if (p->plan->nroots == RJ_FED_MAX_SERVICES) {
            fail(p, RJ_ETOOBIG, "could not plan the operation: more than %d mutations",
                 RJ_FED_MAX_SERVICES);
            return;
        }
        fetch_build_t *b = fetch_add(p, f->owner, false);
        if (b == NULL)
            return;
        for (size_t i = 0; i < nwrappers; i++) {
            rj_buf_puts(&b->body, " ...");
            print_directives(b, wrappers[i]->directives);
            rj_buf_puts(&b->body, " {");
        }
        walk_t w = {.fetch = b, .service = f->owner, .type = root, .root = true};
        rj_gql_ast_selection_t copy = *s; /* the one field, without its siblings */
        copy.next = NULL;
        walk_selections(p, &w, &copy);
        for (size_t i = 0; i < nwrappers; i++)
            rj_buf_puts(&b->body, " }");
        p->plan->roots[p->plan->nroots++] = &b->f;
    }
}

rj_fed_plan_t *
rj_fed_plan_new(const rj_fed_graph_t *g, const rj_gql_doc_t *doc, const rj_gql_ast_definition_t *op,
                rj_error_t *err)
{
    planner_t p = {
        .g = g,
        .schema = rj_fed_graph_schema(g),
        .doc = doc,
        .op = op,
        .plan = rj_xcalloc(1, sizeof(rj_fed_plan_t)),
        .err = err,
    };
    const rj_gql_type_t *root = rj_gql_schema_root_type(p.schema, op->op);
    if (root == NULL)
        fail(&p, RJ_EINVAL, "could not plan the operation: the schema has no root for it");
    p.plan->serial = op->op == RJ_GQL_OP_MUTATION;
    p.plan->roots = rj_xcalloc(RJ_FED_MAX_SERVICES + 1, sizeof(*p.plan->roots));
    size_t nservices = rj_fed_graph_nservices(g);
    /*
     * One root fetch per service, in configuration order; a mutation's root fields each
     * get their own, in document order, as they must run one after another.
     */
    if (!p.failed && !p.plan->serial) {
        for (size_t s = 0; s < nservices && !p.failed; s++) {
            fetch_build_t *b = fetch_add(&p, (int)s, false);
            if (b == NULL)
                break;
            walk_t w = {.fetch = b, .service = (int)s, .type = root, .root = true};
            walk_selections(&p, &w, op->selections);
            if (b->body.len > 0) {
                p.plan->roots[p.plan->nroots++] = &b->f;
            } else {
                /* Nothing for this service, so no children either: it was added last. */
                RJ_ASSERT(p.plan->all[p.plan->nall - 1] == &b->f && b->f.nchildren == 0);
                p.plan->nall--;
                rj_buf_deinit(&b->body);
                free(b);
            }
        }
    } else if (!p.failed) {
        const rj_gql_ast_selection_t *wrappers[64];
        plan_mutation_fields(&p, root, op->selections, wrappers, 0);
    }
    for (size_t i = 0; i < p.plan->nall; i++)
        finish_fetch(&p, (fetch_build_t *)p.plan->all[i]);
    if (p.failed) {
        rj_fed_plan_free(p.plan);
        return NULL;
    }
    return p.plan;
}

void
rj_fed_plan_free(rj_fed_plan_t *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; i < plan->nall; i++) {
        fetch_build_t *b = (fetch_build_t *)plan->all[i];
        free(b->f.query);
        for (size_t j = 0; j < b->f.nvariables; j++) {
            free(b->f.variables[j]);
            free(b->f.variable_defs[j]);
        }
        free(b->f.variables);
        free(b->f.variable_defs);
        free(b->f.selection);
        for (size_t j = 0; j < b->f.npath; j++)
            free(b->f.path[j]);
        free(b->f.path);
        free(b->f.path_types);
        free(b->f.reps);
        free(b->f.children);
        rj_buf_deinit(&b->body);
        free(b);
    }
    free(plan->all);
    free(plan->roots);
    free(plan);
}
