/*
 * graphql/validate.c - validation of executable documents (spec 5), as a table of rules.
 *
 * Each rule is one function in `rules[]` below, named after its graphql-js counterpart,
 * with graphql-js 16's message text, so the remaining rules of the spec slot in as new
 * rows. Rules that need type information share one walker (walk_document) that visits
 * fields with their parent type and definition, directives with their location, and
 * argument values with their expected input type, and calls the hooks a rule sets.
 *
 * Error order differs from graphql-js when a document breaks several rules at once:
 * graphql-js interleaves all rules in one traversal, we run them one after another.
 *
 * Not implemented (documents that break only these pass validation, and execution
 * handles them deterministically): the @defer/@stream rules, which graphql-js 16 does not
 * ship either, and the SDL-only rules (schema.c checks what execution depends on).
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "graphql/gql_int.h"

typedef struct vctx {
    const rj_gql_schema_t *s; /* the schema */
    const rj_gql_doc_t *doc;  /* the document */
    json_t *errors;           /* errors so far */
} vctx_t;

static json_t *
report(vctx_t *c, const rj_gql_loc_t *loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static json_t *
report(vctx_t *c, const rj_gql_loc_t *loc, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *e = rj__gql_error_new(loc, "%s", msg);
    json_array_append_new(c->errors, e);
    return e;
}

/*
 * Room for element @p n of an array that holds @p n elements of @p size, growing it
 * geometrically (its capacity is implied by n), so appending stays linear however many.
 */
static void *
grow_for(void *p, size_t n, size_t size)
{
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0))
        return rj_xrealloc(p, (n > 0 ? 2 * n : 4) * size);
    return p;
}

/* ---- suggestions (graphql-js suggestionList / didYouMean) ---------------------------------- */

/* Optimal string alignment distance of lowercased strings, or SIZE_MAX above threshold. */
static size_t
lexical_distance(const char *input, const char *option, size_t threshold)
{
    if (strcmp(input, option) == 0)
        return 0;
    if (strcasecmp(input, option) == 0)
        return 1;
    size_t la = strlen(option), lb = strlen(input);
    const char *a = option, *b = input;
    if (la < lb) {
        const char *t = a;
        a = b, b = t;
        size_t tl = la;
        la = lb, lb = tl;
    }
    if (la - lb > threshold)
        return SIZE_MAX;
    size_t *rows = rj_xcalloc(3 * (lb + 1), sizeof(size_t));
    for (size_t j = 0; j <= lb; j++)
        rows[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t *up = &rows[((i - 1) % 3) * (lb + 1)], *cur = &rows[(i % 3) * (lb + 1)];
        size_t *up2 = &rows[((i + 1) % 3) * (lb + 1)];
        size_t smallest = cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t v = up[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (up[j - 1] + cost < v)
                v = up[j - 1] + cost;
            if (i > 1 && j > 1 &&
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
                up2[j - 2] + 1 < v)
                v = up2[j - 2] + 1;
            cur[j] = v;
            if (v < smallest)
                smallest = v;
        }
        if (smallest > threshold) {
            free(rows);
            return SIZE_MAX;
        }
    }
    size_t d = rows[(la % 3) * (lb + 1) + lb];
    free(rows);
    return d <= threshold ? d : SIZE_MAX;
}

typedef struct suggestion {
    const char *name; /* candidate */
    size_t dist;      /* its distance */
} suggestion_t;

int
rj__gql_natural_compare(const char *a, const char *b)
{
    size_t i = 0, j = 0, la = strlen(a), lb = strlen(b);
    while (i < la && j < lb) {
        unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[j];
        if (isdigit(ca) && isdigit(cb)) {
            /* Like graphql-js: a run of digits compares by value, a leading 0 alone. */
            unsigned long long na = 0, nb = 0;
            do {
                na = na * 10 + (unsigned)(ca - '0');
                ca = (unsigned char)a[++i];
            } while (isdigit(ca) && na > 0 && na < ULLONG_MAX / 10);
            do {
                nb = nb * 10 + (unsigned)(cb - '0');
                cb = (unsigned char)b[++j];
            } while (isdigit(cb) && nb > 0 && nb < ULLONG_MAX / 10);
            if (na != nb)
                return na < nb ? -1 : 1;
        } else {
            if (ca != cb)
                return ca < cb ? -1 : 1;
            i++;
            j++;
        }
    }
    return la == lb ? 0 : la < lb ? -1 : 1;
}

static int
suggestion_cmp(const void *x, const void *y)
{
    const suggestion_t *a = x, *b = y;
    if (a->dist != b->dist)
        return a->dist < b->dist ? -1 : 1;
    return rj__gql_natural_compare(a->name, b->name);
}

void
rj__gql_did_you_mean(rj_buf_t *b, const char *sub, const char *input, const char *const *options,
                     size_t n)
{
    suggestion_t *sg = rj_xcalloc(n + 1, sizeof(*sg));
    size_t k = 0, threshold = strlen(input) * 4 / 10 + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = lexical_distance(input, options[i], threshold);
        if (d != SIZE_MAX)
            sg[k++] = (suggestion_t){options[i], d};
    }
    qsort(sg, k, sizeof(*sg), suggestion_cmp);
    if (k > 5)
        k = 5;
    if (k > 0) {
        rj_buf_puts(b, " Did you mean ");
        if (sub != NULL)
            rj_buf_printf(b, "%s ", sub);
        for (size_t i = 0; i < k; i++) {
            if (i > 0)
                rj_buf_puts(b, k == 2 ? " or " : i == k - 1 ? ", or " : ", ");
            rj_buf_printf(b, "\"%s\"", sg[i].name);
        }
        rj_buf_putc(b, '?');
    }
    free(sg);
}

/* ---- the typed walker --------------------------------------------------------------------- */

typedef struct hooks {
    /* a field selection; parent/def are NULL when unknown */
    void (*field)(vctx_t *c, const rj_gql_type_t *parent, const rj_gql_ast_selection_t *sel,
                  const rj_gql_field_def_t *def);
    /* an inline fragment or spread, with the type it is spread into (may be NULL) */
    void (*fragment)(vctx_t *c, const rj_gql_type_t *parent, const rj_gql_ast_selection_t *sel);
    /* the directives of a node at a location ("FIELD", "QUERY", ...) */
    void (*directives)(vctx_t *c, const rj_gql_ast_directive_t *dirs, const char *location);
    /* an argument value or variable default, with its expected type (NULL when unknown) */
    void (*value)(vctx_t *c, const rj_gql_type_ref_t *type, const rj_gql_ast_value_t *v,
                  bool has_default, void *ud);
    void *ud;           /* passed to value */
    bool follow_spreads; /* walk into spread fragments (once each) */
    rj__gql_map_t seen;  /* fragments walked, when following spreads */
} hooks_t;

static void
walk_directive_values(vctx_t *c, hooks_t *h, const rj_gql_ast_directive_t *dirs)
{
    if (h->value == NULL)
        return;
    for (const rj_gql_ast_directive_t *d = dirs; d != NULL; d = d->next) {
        const rj_gql_directive_def_t *dd = rj_gql_schema_find_directive(c->s, d->name);
        for (const rj_gql_ast_argument_t *a = d->args; a != NULL; a = a->next) {
            const rj_gql_input_value_t *ad = NULL;
            for (size_t i = 0; dd != NULL && i < dd->nargs; i++)
                if (strcmp(dd->args[i].name, a->name) == 0)
                    ad = &dd->args[i];
            h->value(c, ad != NULL ? ad->type : NULL, a->value,
                     ad != NULL && ad->default_value != NULL, h->ud);
        }
    }
}

static void
walk_dirs(vctx_t *c, hooks_t *h, const rj_gql_ast_directive_t *dirs, const char *location)
{
    if (h->directives != NULL)
        h->directives(c, dirs, location);
    walk_directive_values(c, h, dirs);
}

static void
walk_selections(vctx_t *c, hooks_t *h, const rj_gql_type_t *parent,
                const rj_gql_ast_selection_t *sel)
{
    for (; sel != NULL; sel = sel->next) {
        switch (sel->kind) {
        case RJ_GQL_SEL_FIELD: {
            const rj_gql_field_def_t *def =
                parent != NULL ? rj__gql_field_lookup(c->s, parent, sel->name) : NULL;
            if (h->field != NULL)
                h->field(c, parent, sel, def);
            walk_dirs(c, h, sel->directives, "FIELD");
            if (h->value != NULL) {
                for (const rj_gql_ast_argument_t *a = sel->args; a != NULL; a = a->next) {
                    const rj_gql_input_value_t *ad =
                        def != NULL ? rj_gql_field_find_arg(def, a->name) : NULL;
                    h->value(c, ad != NULL ? ad->type : NULL, a->value,
                             ad != NULL && ad->default_value != NULL, h->ud);
                }
            }
            const rj_gql_type_t *child = def != NULL ? def->named : NULL;
            if (child != NULL && !rj_gql_type_is_composite(child))
                child = NULL;
            walk_selections(c, h, child, sel->selections);
            break;
        }
        case RJ_GQL_SEL_INLINE_FRAGMENT: {
            if (h->fragment != NULL)
                h->fragment(c, parent, sel);
            walk_dirs(c, h, sel->directives, "INLINE_FRAGMENT");
            const rj_gql_type_t *t = parent;
            if (sel->type_condition != NULL) {
                t = rj_gql_schema_find_type(c->s, sel->type_condition);
                if (t != NULL && !rj_gql_type_is_composite(t))
                    t = NULL;
            }
            walk_selections(c, h, t, sel->selections);
            break;
        }
        case RJ_GQL_SEL_FRAGMENT_SPREAD: {
            if (h->fragment != NULL)
                h->fragment(c, parent, sel);
            walk_dirs(c, h, sel->directives, "FRAGMENT_SPREAD");
            if (!h->follow_spreads)
                break;
            bool done = rj__gql_map_get(&h->seen, sel->name) != NULL;
            const rj_gql_ast_definition_t *f = rj__gql_doc_fragment(c->doc, sel->name);
            if (done || f == NULL)
                break;
            rj__gql_map_put(&h->seen, sel->name, f);
            const rj_gql_type_t *t = rj_gql_schema_find_type(c->s, f->type_condition);
            walk_dirs(c, h, f->directives, "FRAGMENT_DEFINITION");
            walk_selections(c, h, t != NULL && rj_gql_type_is_composite(t) ? t : NULL,
                            f->selections);
            break;
        }
        }
    }
}

static const char *const op_locations[] = {"QUERY", "MUTATION", "SUBSCRIPTION"};

static void
walk_operation(vctx_t *c, hooks_t *h, const rj_gql_ast_definition_t *d)
{
    walk_dirs(c, h, d->directives, op_locations[d->op]);
    for (const rj_gql_ast_variable_t *v = d->variables; v != NULL; v = v->next) {
        walk_dirs(c, h, v->directives, "VARIABLE_DEFINITION");
        if (h->value != NULL && v->default_value != NULL)
            h->value(c, v->type, v->default_value, false, h->ud);
    }
    walk_selections(c, h, c->s->roots[d->op], d->selections);
}

/* Walks every definition once (spreads not followed): what most rules need. */
static void
walk_document(vctx_t *c, hooks_t *h)
{
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind == RJ_GQL_DEF_OPERATION) {
            walk_operation(c, h, d);
        } else if (d->kind == RJ_GQL_DEF_FRAGMENT) {
            walk_dirs(c, h, d->directives, "FRAGMENT_DEFINITION");
            const rj_gql_type_t *t = rj_gql_schema_find_type(c->s, d->type_condition);
            walk_selections(c, h, t != NULL && rj_gql_type_is_composite(t) ? t : NULL,
                            d->selections);
        }
    }
}

/* ---- rules: documents and operations ------------------------------------------------------ */

static void
executable_definitions(vctx_t *c)
{
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind == RJ_GQL_DEF_OPERATION || d->kind == RJ_GQL_DEF_FRAGMENT)
            continue;
        if (d->kind == RJ_GQL_DEF_SCHEMA) /* graphql-js does not quote this one */
            report(c, &d->loc, "The schema definition is not executable.");
        else
            report(c, &d->loc, "The \"%s\" definition is not executable.", d->name);
    }
}

/*
 * The uniqueness rules find earlier names in a map, never by scanning what came before: a
 * document of thousands of operations, fragments, variables, arguments, directives or
 * input fields must not cost their square.
 */
static void
unique_operation_names(vctx_t *c)
{
    rj__gql_map_t first;
    rj__gql_map_init(&first);
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_OPERATION || d->name == NULL)
            continue;
        const rj_gql_ast_definition_t *e = rj__gql_map_get(&first, d->name);
        if (e == NULL) {
            rj__gql_map_put(&first, d->name, d);
            continue;
        }
        json_t *err =
            report(c, &e->name_loc, "There can be only one operation named \"%s\".", d->name);
        rj__gql_error_add_loc(err, d->name_loc);
    }
    rj__gql_map_deinit(&first);
}

static void
lone_anonymous_operation(vctx_t *c)
{
    size_t nops = 0;
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next)
        nops += d->kind == RJ_GQL_DEF_OPERATION;
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next)
        if (d->kind == RJ_GQL_DEF_OPERATION && d->name == NULL && nops > 1)
            report(c, &d->loc, "This anonymous operation must be the only defined operation.");
}

static void
single_field_subscriptions(vctx_t *c)
{
    const rj_gql_type_t *root = c->s->roots[RJ_GQL_OP_SUBSCRIPTION];
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_OPERATION || d->op != RJ_GQL_OP_SUBSCRIPTION || root == NULL)
            continue;
        rj__gql_fields_t f = {0};
        json_t *no_vars = json_object();
        rj__gql_collect_fields(c->s, c->doc, root, d->selections, no_vars, &f);
        json_decref(no_vars);
        char who[300];
        if (d->name != NULL)
            snprintf(who, sizeof(who), "Subscription \"%s\"", d->name);
        else
            snprintf(who, sizeof(who), "Anonymous Subscription");
        if (f.n > 1) {
            json_t *err = NULL;
            for (size_t i = 1; i < f.n; i++)
                for (size_t j = 0; j < f.groups[i].nnodes; j++) {
                    if (err == NULL)
                        err = report(c, &f.groups[i].nodes[j]->loc,
                                     "%s must select only one top level field.", who);
                    else
                        rj__gql_error_add_loc(err, f.groups[i].nodes[j]->loc);
                }
        }
        for (size_t i = 0; i < f.n; i++) {
            if (strncmp(f.groups[i].nodes[0]->name, "__", 2) == 0) {
                json_t *err = NULL;
                for (size_t j = 0; j < f.groups[i].nnodes; j++) {
                    if (err == NULL)
                        err = report(c, &f.groups[i].nodes[j]->loc,
                                     "%s must not select an introspection top level field.", who);
                    else
                        rj__gql_error_add_loc(err, f.groups[i].nodes[j]->loc);
                }
            }
        }
        rj__gql_fields_deinit(&f);
    }
}

/* ---- rules: types -------------------------------------------------------------------------- */

static void
unknown_type(vctx_t *c, const char *name, rj_gql_loc_t loc)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_printf(&b, "Unknown type \"%s\".", name);
    const char **names = rj_xcalloc(c->s->ntypes + 1, sizeof(*names));
    for (size_t i = 0; i < c->s->ntypes; i++)
        names[i] = c->s->types[i]->name;
    rj__gql_did_you_mean(&b, NULL, name, names, c->s->ntypes);
    free(names);
    report(c, &loc, "%s", b.data);
    rj_buf_deinit(&b);
}

static void
known_type_names_sel(vctx_t *c, const rj_gql_type_t *parent, const rj_gql_ast_selection_t *sel)
{
    if (sel->kind == RJ_GQL_SEL_INLINE_FRAGMENT && sel->type_condition != NULL &&
        rj_gql_schema_find_type(c->s, sel->type_condition) == NULL)
        unknown_type(c, sel->type_condition, sel->type_condition_loc);
}

static void
known_type_names(vctx_t *c)
{
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind == RJ_GQL_DEF_FRAGMENT && rj_gql_schema_find_type(c->s, d->type_condition) == NULL)
            unknown_type(c, d->type_condition, d->type_condition_loc);
        if (d->kind != RJ_GQL_DEF_OPERATION)
            continue;
        for (const rj_gql_ast_variable_t *v = d->variables; v != NULL; v = v->next) {
            const rj_gql_type_ref_t *n = v->type;
            while (n->kind != RJ_GQL_TYPE_NAMED)
                n = n->of_type;
            if (rj_gql_schema_find_type(c->s, n->name) == NULL)
                unknown_type(c, n->name, n->loc);
        }
    }
    hooks_t h = {.fragment = known_type_names_sel};
    walk_document(c, &h);
}

static void
fragments_on_composite_sel(vctx_t *c, const rj_gql_type_t *parent,
                           const rj_gql_ast_selection_t *sel)
{
    if (sel->kind != RJ_GQL_SEL_INLINE_FRAGMENT || sel->type_condition == NULL)
        return;
    const rj_gql_type_t *t = rj_gql_schema_find_type(c->s, sel->type_condition);
    if (t != NULL && !rj_gql_type_is_composite(t))
        report(c, &sel->type_condition_loc,
               "Fragment cannot condition on non composite type \"%s\".", sel->type_condition);
}

static void
fragments_on_composite_types(vctx_t *c)
{
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_FRAGMENT)
            continue;
        const rj_gql_type_t *t = rj_gql_schema_find_type(c->s, d->type_condition);
        if (t != NULL && !rj_gql_type_is_composite(t))
            report(c, &d->type_condition_loc,
                   "Fragment \"%s\" cannot condition on non composite type \"%s\".", d->name,
                   d->type_condition);
    }
    hooks_t h = {.fragment = fragments_on_composite_sel};
    walk_document(c, &h);
}

static void
variables_are_input_types(vctx_t *c)
{
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_OPERATION)
            continue;
        for (const rj_gql_ast_variable_t *v = d->variables; v != NULL; v = v->next) {
            const rj_gql_type_t *t = rj_gql_schema_find_type(c->s, rj_gql_type_ref_named(v->type));
            if (t != NULL && !rj_gql_type_is_input(t)) {
                char *ts = rj_gql_type_ref_to_string(v->type);
                report(c, &v->type->loc, "Variable \"$%s\" cannot be non-input type \"%s\".",
                       v->name, ts);
                free(ts);
            }
        }
    }
}

/* ---- rules: fields ------------------------------------------------------------------------- */

/* A type suggested for an inline fragment, and how many possible types led to it. */
typedef struct suggested_type {
    const rj_gql_type_t *type; /* object or interface type */
    size_t uses;               /* usage count, as graphql-js counts it */
} suggested_type_t;

static void
suggest_type(suggested_type_t *sg, size_t *n, const rj_gql_type_t *t)
{
    for (size_t i = 0; i < *n; i++)
        if (sg[i].type == t) {
            sg[i].uses++;
            return;
        }
    sg[(*n)++] = (suggested_type_t){t, 1};
}

/* schema.isSubType(a, b) for an interface @p a: @p b implements it. */
static bool
implements(const rj_gql_type_t *b, const rj_gql_type_t *a)
{
    for (size_t i = 0; i < b->ninterfaces; i++)
        if (b->interfaces[i] == a)
            return true;
    return false;
}

static int
suggested_type_cmp(const void *x, const void *y)
{
    const suggested_type_t *a = x, *b = y;
    if (a->uses != b->uses)
        return a->uses > b->uses ? -1 : 1;
    if (a->type->kind == RJ_GQL_KIND_INTERFACE && implements(b->type, a->type))
        return -1;
    if (b->type->kind == RJ_GQL_KIND_INTERFACE && implements(a->type, b->type))
        return 1;
    return rj__gql_natural_compare(a->type->name, b->type->name);
}

static void
fields_on_correct_type_field(vctx_t *c, const rj_gql_type_t *parent,
                             const rj_gql_ast_selection_t *sel, const rj_gql_field_def_t *def)
{
    if (parent == NULL || def != NULL)
        return;
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_printf(&b, "Cannot query field \"%s\" on type \"%s\".", sel->name, parent->name);
    if (parent->kind == RJ_GQL_KIND_UNION || parent->kind == RJ_GQL_KIND_INTERFACE) {
        /*
         * getSuggestedTypeNames: the possible types that define the field and their
         * interfaces that do too, most used first, then super types before subtypes,
         * then by name.
         */
        size_t cap = parent->npossible_types + 1;
        for (size_t i = 0; i < parent->npossible_types; i++)
            cap += parent->possible_types[i]->ninterfaces;
        suggested_type_t *sg = rj_xcalloc(cap, sizeof(*sg));
        size_t n = 0;
        for (size_t i = 0; i < parent->npossible_types; i++) {
            const rj_gql_type_t *pt = parent->possible_types[i];
            if (rj_gql_type_find_field(pt, sel->name) == NULL)
                continue;
            suggest_type(sg, &n, pt);
            for (size_t k = 0; k < pt->ninterfaces; k++)
                if (rj_gql_type_find_field(pt->interfaces[k], sel->name) != NULL)
                    suggest_type(sg, &n, pt->interfaces[k]);
        }
        qsort(sg, n, sizeof(*sg), suggested_type_cmp);
        const char **names = rj_xcalloc(n + 1, sizeof(*names));
        for (size_t i = 0; i < n; i++)
            names[i] = sg[i].type->name;
        free(sg);
        if (n > 0) {
            rj_buf_puts(&b, " Did you mean to use an inline fragment on ");
            for (size_t i = 0; i < n && i < 5; i++) {
                size_t k = n < 5 ? n : 5;
                if (i > 0)
                    rj_buf_puts(&b, k == 2 ? " or " : i == k - 1 ? ", or " : ", ");
                rj_buf_printf(&b, "\"%s\"", names[i]);
            }
            rj_buf_putc(&b, '?');
        }
        free(names);
        if (n > 0)
            goto done;
    }
    if (parent->nfields > 0) {
        const char **names = rj_xcalloc(parent->nfields + 1, sizeof(*names));
        for (size_t i = 0; i < parent->nfields; i++)
            names[i] = parent->fields[i].name;
        rj__gql_did_you_mean(&b, NULL, sel->name, names, parent->nfields);
        free(names);
    }
done:
    report(c, &sel->loc, "%s", b.data);
    rj_buf_deinit(&b);
}

static void
fields_on_correct_type(vctx_t *c)
{
    hooks_t h = {.field = fields_on_correct_type_field};
    walk_document(c, &h);
}

static void
scalar_leafs_field(vctx_t *c, const rj_gql_type_t *parent, const rj_gql_ast_selection_t *sel,
                   const rj_gql_field_def_t *def)
{
    if (def == NULL)
        return;
    bool leaf = !rj_gql_type_is_composite(def->named);
    if (leaf && sel->selections != NULL)
        report(c, &sel->selections_loc,
               "Field \"%s\" must not have a selection since type \"%s\" has no subfields.",
               sel->name, def->type_str);
    else if (!leaf && sel->selections == NULL)
        report(c, &sel->loc,
               "Field \"%s\" of type \"%s\" must have a selection of subfields. Did you mean "
               "\"%s { ... }\"?",
               sel->name, def->type_str, sel->name);
}

static void
scalar_leafs(vctx_t *c)
{
    hooks_t h = {.field = scalar_leafs_field};
    walk_document(c, &h);
}

/* ---- rules: arguments ---------------------------------------------------------------------- */

/* Counts one more use of @p name in @p count (name -> uses, as a pointer-sized integer). */
static void
name_count(rj__gql_map_t *count, const char *name)
{
    uintptr_t n = (uintptr_t)rj__gql_map_get(count, name);
    rj__gql_map_put(count, name, (const void *)(n + 1));
}

static void
check_unique_args(vctx_t *c, const rj_gql_ast_argument_t *args)
{
    if (args == NULL || args->next == NULL)
        return;
    /* one error per repeated name, in the order of first uses, with every later use */
    rj__gql_map_t count, errs;
    rj__gql_map_init(&count);
    rj__gql_map_init(&errs);
    for (const rj_gql_ast_argument_t *a = args; a != NULL; a = a->next)
        name_count(&count, a->name);
    for (const rj_gql_ast_argument_t *a = args; a != NULL; a = a->next) {
        if ((uintptr_t)rj__gql_map_get(&count, a->name) < 2)
            continue;
        json_t *err = (json_t *)rj__gql_map_get(&errs, a->name);
        if (err == NULL)
            rj__gql_map_put(
                &errs, a->name,
                report(c, &a->loc, "There can be only one argument named \"%s\".", a->name));
        else
            rj__gql_error_add_loc(err, a->loc);
    }
    rj__gql_map_deinit(&count);
    rj__gql_map_deinit(&errs);
}

static void
unique_argument_names_field(vctx_t *c, const rj_gql_type_t *parent,
                            const rj_gql_ast_selection_t *sel, const rj_gql_field_def_t *def)
{
    check_unique_args(c, sel->args);
}

static void
unique_argument_names_dirs(vctx_t *c, const rj_gql_ast_directive_t *dirs, const char *location)
{
    for (const rj_gql_ast_directive_t *d = dirs; d != NULL; d = d->next)
        check_unique_args(c, d->args);
}

static void
unique_argument_names(vctx_t *c)
{
    hooks_t h = {.field = unique_argument_names_field, .directives = unique_argument_names_dirs};
    walk_document(c, &h);
}

static void
unknown_args(vctx_t *c, const rj_gql_ast_argument_t *args, const rj_gql_input_value_t *defs,
             size_t ndefs, const char *what)
{
    for (const rj_gql_ast_argument_t *a = args; a != NULL; a = a->next) {
        bool known = false;
        for (size_t i = 0; i < ndefs && !known; i++)
            known = strcmp(defs[i].name, a->name) == 0;
        if (known)
            continue;
        rj_buf_t b;
        rj_buf_init(&b);
        rj_buf_printf(&b, "Unknown argument \"%s\" on %s.", a->name, what);
        const char **names = rj_xcalloc(ndefs + 1, sizeof(*names));
        for (size_t i = 0; i < ndefs; i++)
            names[i] = defs[i].name;
        rj__gql_did_you_mean(&b, NULL, a->name, names, ndefs);
        free(names);
        report(c, &a->loc, "%s", b.data);
        rj_buf_deinit(&b);
    }
}

static void
known_argument_names_field(vctx_t *c, const rj_gql_type_t *parent,
                           const rj_gql_ast_selection_t *sel, const rj_gql_field_def_t *def)
{
    if (def == NULL)
        return;
    char what[300];
    snprintf(what, sizeof(what), "field \"%s.%s\"", parent->name, def->name);
    unknown_args(c, sel->args, def->args, def->nargs, what);
}

static void
known_argument_names_dirs(vctx_t *c, const rj_gql_ast_directive_t *dirs, const char *location)
{
    for (const rj_gql_ast_directive_t *d = dirs; d != NULL; d = d->next) {
        const rj_gql_directive_def_t *dd = rj_gql_schema_find_directive(c->s, d->name);
        if (dd == NULL)
            continue;
        char what[300];
        snprintf(what, sizeof(what), "directive \"@%s\"", d->name);
        unknown_args(c, d->args, dd->args, dd->nargs, what);
    }
}

static void
known_argument_names(vctx_t *c)
{
    hooks_t h = {.field = known_argument_names_field, .directives = known_argument_names_dirs};
    walk_document(c, &h);
}

static void
required_args(vctx_t *c, const rj_gql_ast_argument_t *args, const rj_gql_input_value_t *defs,
              size_t ndefs, const char *what, const char *name, rj_gql_loc_t loc)
{
    for (size_t i = 0; i < ndefs; i++) {
        if (defs[i].type->kind != RJ_GQL_TYPE_NON_NULL || defs[i].default_value != NULL)
            continue;
        bool given = false;
        for (const rj_gql_ast_argument_t *a = args; a != NULL && !given; a = a->next)
            given = strcmp(a->name, defs[i].name) == 0;
        if (!given)
            report(c, &loc,
                   "%s \"%s\" argument \"%s\" of type \"%s\" is required, but it was not "
                   "provided.",
                   what, name, defs[i].name, defs[i].type_str);
    }
}

static void
provided_required_arguments_field(vctx_t *c, const rj_gql_type_t *parent,
                                  const rj_gql_ast_selection_t *sel,
                                  const rj_gql_field_def_t *def)
{
    if (def != NULL)
        required_args(c, sel->args, def->args, def->nargs, "Field", def->name, sel->loc);
}

static void
provided_required_arguments_dirs(vctx_t *c, const rj_gql_ast_directive_t *dirs,
                                 const char *location)
{
    for (const rj_gql_ast_directive_t *d = dirs; d != NULL; d = d->next) {
        const rj_gql_directive_def_t *dd = rj_gql_schema_find_directive(c->s, d->name);
        if (dd != NULL) {
            char name[200];
            snprintf(name, sizeof(name), "@%s", d->name);
            required_args(c, d->args, dd->args, dd->nargs, "Directive", name, d->loc);
        }
    }
}

static void
provided_required_arguments(vctx_t *c)
{
    hooks_t h = {.field = provided_required_arguments_field,
                 .directives = provided_required_arguments_dirs};
    walk_document(c, &h);
}

/* ---- rules: values ------------------------------------------------------------------------- */

static void
expected_value(vctx_t *c, const rj_gql_type_ref_t *type, const rj_gql_ast_value_t *v,
               const char *extra)
{
    char *ts = rj_gql_type_ref_to_string(type);
    rj_buf_t b;
    rj_buf_init(&b);
    rj__gql_print_value(&b, v);
    report(c, &v->loc, "Expected value of type \"%s\", found %s.%s", ts, b.data, extra);
    rj_buf_deinit(&b);
    free(ts);
}

/* ValuesOfCorrectType for one value at a position of type @p type. */
static void
check_value(vctx_t *c, const rj_gql_type_ref_t *type, const rj_gql_ast_value_t *v,
            bool has_default, void *ud)
{
    if (type == NULL || v->kind == RJ_GQL_VALUE_VARIABLE)
        return;
    if (v->kind == RJ_GQL_VALUE_NULL) {
        if (type->kind == RJ_GQL_TYPE_NON_NULL)
            expected_value(c, type, v, "");
        return;
    }
    const rj_gql_type_ref_t *nullable =
        type->kind == RJ_GQL_TYPE_NON_NULL ? type->of_type : type;
    if (v->kind == RJ_GQL_VALUE_LIST) {
        if (nullable->kind == RJ_GQL_TYPE_LIST) {
            for (const rj_gql_ast_value_t *i = v->items; i != NULL; i = i->next)
                check_value(c, nullable->of_type, i, false, ud);
            return;
        }
        /* a list where a single value is expected: fall through to the leaf check */
    } else if (nullable->kind == RJ_GQL_TYPE_LIST) {
        check_value(c, nullable->of_type, v, false, ud); /* input coercion wraps a single item */
        return;
    }
    const rj_gql_type_t *t = rj_gql_schema_find_type(c->s, rj_gql_type_ref_named(type));
    if (t == NULL)
        return;
    if (v->kind == RJ_GQL_VALUE_OBJECT && t->kind == RJ_GQL_KIND_INPUT_OBJECT) {
        rj__gql_map_t given;
        rj__gql_map_init(&given);
        for (const rj_gql_ast_object_field_t *f = v->fields; f != NULL; f = f->next) {
            if (rj__gql_map_get(&given, f->name) != NULL)
                continue; /* reported by UniqueInputFieldNames */
            rj__gql_map_put(&given, f->name, f);
            const rj_gql_input_value_t *fd = rj_gql_type_find_input_field(t, f->name);
            if (fd == NULL) {
                rj_buf_t b;
                rj_buf_init(&b);
                rj_buf_printf(&b, "Field \"%s\" is not defined by type \"%s\".", f->name, t->name);
                const char **names = rj_xcalloc(t->ninput_fields + 1, sizeof(*names));
                for (size_t i = 0; i < t->ninput_fields; i++)
                    names[i] = t->input_fields[i].name;
                rj__gql_did_you_mean(&b, NULL, f->name, names, t->ninput_fields);
                free(names);
                report(c, &f->loc, "%s", b.data);
                rj_buf_deinit(&b);
                continue;
            }
            check_value(c, fd->type, f->value, false, ud);
        }
        for (size_t i = 0; i < t->ninput_fields; i++) {
            const rj_gql_input_value_t *fd = &t->input_fields[i];
            if (fd->type->kind != RJ_GQL_TYPE_NON_NULL || fd->default_value != NULL)
                continue;
            if (rj__gql_map_get(&given, fd->name) == NULL)
                report(c, &v->loc, "Field \"%s.%s\" of required type \"%s\" was not provided.",
                       t->name, fd->name, fd->type_str);
        }
        rj__gql_map_deinit(&given);
        return;
    }
    if (t->kind != RJ_GQL_KIND_SCALAR && t->kind != RJ_GQL_KIND_ENUM) {
        expected_value(c, type, v, "");
        return;
    }
    char msg[300];
    json_t *r = rj__gql_parse_literal(t, v, NULL, msg, sizeof(msg));
    if (r != NULL) {
        json_decref(r);
        return;
    }
    if (msg[0] != '\0' && t->kind == RJ_GQL_KIND_SCALAR && !t->builtin) {
        /* A custom scalar's parser threw a plain error: graphql-js prefixes it. */
        char *ts = rj_gql_type_ref_to_string(type);
        rj_buf_t b;
        rj_buf_init(&b);
        rj__gql_print_value(&b, v);
        report(c, &v->loc, "Expected value of type \"%s\", found %s; %s", ts, b.data, msg);
        rj_buf_deinit(&b);
        free(ts);
        return;
    }
    if (msg[0] != '\0') {
        /* Enum messages get graphql-js's did-you-mean over the enum's values. */
        rj_buf_t b;
        rj_buf_init(&b);
        rj_buf_puts(&b, msg);
        if (t->kind == RJ_GQL_KIND_ENUM) {
            const char **names = rj_xcalloc(t->nenum_values + 1, sizeof(*names));
            for (size_t i = 0; i < t->nenum_values; i++)
                names[i] = t->enum_values[i].name;
            rj_buf_t in;
            rj_buf_init(&in);
            rj__gql_print_value(&in, v);
            rj__gql_did_you_mean(&b, "the enum value", in.data, names, t->nenum_values);
            rj_buf_deinit(&in);
            free(names);
        }
        report(c, &v->loc, "%s", b.data);
        rj_buf_deinit(&b);
    } else {
        expected_value(c, type, v, "");
    }
}

static void
values_of_correct_type(vctx_t *c)
{
    hooks_t h = {.value = check_value};
    walk_document(c, &h);
}

static void
unique_input_fields_value(vctx_t *c, const rj_gql_type_ref_t *type, const rj_gql_ast_value_t *v,
                          bool has_default, void *ud)
{
    if (v->kind == RJ_GQL_VALUE_LIST) {
        for (const rj_gql_ast_value_t *i = v->items; i != NULL; i = i->next)
            unique_input_fields_value(c, NULL, i, false, ud);
    } else if (v->kind == RJ_GQL_VALUE_OBJECT) {
        rj__gql_map_t first;
        rj__gql_map_init(&first);
        for (const rj_gql_ast_object_field_t *f = v->fields; f != NULL; f = f->next) {
            const rj_gql_ast_object_field_t *g = rj__gql_map_get(&first, f->name);
            if (g == NULL) {
                rj__gql_map_put(&first, f->name, f);
            } else {
                json_t *err =
                    report(c, &g->loc, "There can be only one input field named \"%s\".", f->name);
                rj__gql_error_add_loc(err, f->loc);
            }
            unique_input_fields_value(c, NULL, f->value, false, ud);
        }
        rj__gql_map_deinit(&first);
    }
}

static void
unique_input_field_names(vctx_t *c)
{
    hooks_t h = {.value = unique_input_fields_value};
    walk_document(c, &h);
}

/* ---- rules: directives --------------------------------------------------------------------- */

static void
known_directives_dirs(vctx_t *c, const rj_gql_ast_directive_t *dirs, const char *location)
{
    for (const rj_gql_ast_directive_t *d = dirs; d != NULL; d = d->next) {
        const rj_gql_directive_def_t *dd = rj_gql_schema_find_directive(c->s, d->name);
        if (dd == NULL) {
            report(c, &d->loc, "Unknown directive \"@%s\".", d->name);
            continue;
        }
        bool ok = false;
        for (size_t i = 0; i < dd->nlocations && !ok; i++)
            ok = strcmp(dd->locations[i], location) == 0;
        if (!ok)
            report(c, &d->loc, "Directive \"@%s\" may not be used on %s.", d->name, location);
    }
}

static void
known_directives(vctx_t *c)
{
    hooks_t h = {.directives = known_directives_dirs};
    walk_document(c, &h);
}

static void
unique_directives_dirs(vctx_t *c, const rj_gql_ast_directive_t *dirs, const char *location)
{
    if (dirs == NULL || dirs->next == NULL)
        return;
    rj__gql_map_t first;
    rj__gql_map_init(&first);
    for (const rj_gql_ast_directive_t *d = dirs; d != NULL; d = d->next) {
        const rj_gql_ast_directive_t *e = rj__gql_map_get(&first, d->name);
        if (e == NULL)
            rj__gql_map_put(&first, d->name, d);
        const rj_gql_directive_def_t *dd = rj_gql_schema_find_directive(c->s, d->name);
        if (e == NULL || (dd != NULL && dd->repeatable))
            continue;
        json_t *err = report(
            c, &e->loc, "The directive \"@%s\" can only be used once at this location.", d->name);
        rj__gql_error_add_loc(err, d->loc);
    }
    rj__gql_map_deinit(&first);
}

static void
unique_directives_per_location(vctx_t *c)
{
    hooks_t h = {.directives = unique_directives_dirs};
    walk_document(c, &h);
}

/* ---- rules: fragments ---------------------------------------------------------------------- */

static void
unique_fragment_names(vctx_t *c)
{
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_FRAGMENT)
            continue;
        /* the document's fragment index holds the first definition of each name */
        const rj_gql_ast_definition_t *e = rj__gql_doc_fragment(c->doc, d->name);
        if (e == d)
            continue;
        json_t *err =
            report(c, &e->name_loc, "There can be only one fragment named \"%s\".", d->name);
        rj__gql_error_add_loc(err, d->name_loc);
    }
}

static void
known_fragment_names_sel(vctx_t *c, const rj_gql_type_t *parent,
                         const rj_gql_ast_selection_t *sel)
{
    if (sel->kind == RJ_GQL_SEL_FRAGMENT_SPREAD && rj__gql_doc_fragment(c->doc, sel->name) == NULL)
        report(c, &sel->name_loc, "Unknown fragment \"%s\".", sel->name);
}

static void
known_fragment_names(vctx_t *c)
{
    hooks_t h = {.fragment = known_fragment_names_sel};
    walk_document(c, &h);
}

static void
no_unused_fragments(vctx_t *c)
{
    hooks_t h = {.follow_spreads = true};
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next)
        if (d->kind == RJ_GQL_DEF_OPERATION)
            walk_operation(c, &h, d);
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_FRAGMENT)
            continue;
        if (rj__gql_map_get(&h.seen, d->name) == NULL)
            report(c, &d->loc, "Fragment \"%s\" is never used.", d->name);
    }
    rj__gql_map_deinit(&h.seen);
}

/* Direct fragment spreads inside a selection set (not following them). */
static void
direct_spreads(const rj_gql_ast_selection_t *sel, const rj_gql_ast_selection_t ***out, size_t *n)
{
    for (; sel != NULL; sel = sel->next) {
        if (sel->kind == RJ_GQL_SEL_FRAGMENT_SPREAD) {
            *out = grow_for(*out, *n, sizeof(**out));
            (*out)[(*n)++] = sel;
        }
        direct_spreads(sel->selections, out, n);
    }
}

typedef struct cycle_ctx {
    vctx_t *c;                                /* validation context */
    rj__gql_map_t visited;                    /* fragments explored (or being explored) */
    rj__gql_map_t depth;                      /* fragment on the stack -> 1 + its depth */
    const rj_gql_ast_selection_t **path;      /* the spread path being explored */
    size_t npath;                             /* its length */
    const char **stack_names;                 /* fragment name at each path depth */
} cycle_ctx_t;

/* graphql-js NoFragmentCyclesRule.detectCycleRecursive */
static void
detect_cycles(cycle_ctx_t *cc, const rj_gql_ast_definition_t *frag, const char **in_stack,
              size_t *nstack)
{
    if (rj__gql_map_get(&cc->visited, frag->name) != NULL)
        return;
    rj__gql_map_put(&cc->visited, frag->name, frag);
    const rj_gql_ast_selection_t **spreads = NULL;
    size_t nspreads = 0;
    direct_spreads(frag->selections, &spreads, &nspreads);
    in_stack[*nstack] = frag->name;
    rj__gql_map_put(&cc->depth, frag->name, (const void *)(uintptr_t)++(*nstack));
    for (size_t i = 0; i < nspreads; i++) {
        const rj_gql_ast_selection_t *sp = spreads[i];
        /* a name is on the stack at most once: its depth, not a scan of the stack */
        uintptr_t on_stack = (uintptr_t)rj__gql_map_get(&cc->depth, sp->name);
        size_t cycle_at = on_stack > 0 ? on_stack - 1 : SIZE_MAX;
        cc->path = grow_for(cc->path, cc->npath, sizeof(*cc->path));
        cc->path[cc->npath++] = sp;
        if (cycle_at == SIZE_MAX) {
            const rj_gql_ast_definition_t *next = rj__gql_doc_fragment(cc->c->doc, sp->name);
            if (next != NULL)
                detect_cycles(cc, next, in_stack, nstack);
        } else {
            /* the cycle is the path from the spread at depth cycle_at to here */
            const rj_gql_ast_selection_t **cycle = cc->path + cycle_at;
            size_t ncycle = cc->npath - cycle_at;
            rj_buf_t b;
            rj_buf_init(&b);
            rj_buf_printf(&b, "Cannot spread fragment \"%s\" within itself", sp->name);
            for (size_t k = 0; k + 1 < ncycle; k++)
                rj_buf_printf(&b, "%s\"%s\"", k == 0 ? " via " : ", ", cycle[k]->name);
            rj_buf_putc(&b, '.');
            json_t *err = report(cc->c, &cycle[0]->loc, "%s", b.data);
            for (size_t k = 1; k < ncycle; k++)
                rj__gql_error_add_loc(err, cycle[k]->loc);
            rj_buf_deinit(&b);
        }
        cc->npath--;
    }
    rj__gql_map_put(&cc->depth, frag->name, NULL);
    (*nstack)--;
    free(spreads);
}

static void
no_fragment_cycles(vctx_t *c)
{
    size_t nfrags = 0;
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next)
        nfrags += d->kind == RJ_GQL_DEF_FRAGMENT;
    const char **stack = rj_xcalloc(nfrags + 1, sizeof(*stack));
    cycle_ctx_t cc = {.c = c};
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_FRAGMENT)
            continue;
        size_t nstack = 0;
        detect_cycles(&cc, d, stack, &nstack);
    }
    free(stack);
    rj__gql_map_deinit(&cc.visited);
    rj__gql_map_deinit(&cc.depth);
    free(cc.path);
}

/* doTypesOverlap */
static bool
types_overlap(const rj_gql_type_t *a, const rj_gql_type_t *b)
{
    if (a == b)
        return true;
    if (a->kind != RJ_GQL_KIND_OBJECT && b->kind != RJ_GQL_KIND_OBJECT) {
        for (size_t i = 0; i < a->npossible_types; i++)
            if (rj_gql_type_is_possible(b, a->possible_types[i]))
                return true;
        return false;
    }
    if (a->kind != RJ_GQL_KIND_OBJECT)
        return rj_gql_type_is_possible(a, b);
    if (b->kind != RJ_GQL_KIND_OBJECT)
        return rj_gql_type_is_possible(b, a);
    return false;
}

static void
possible_fragment_spreads_sel(vctx_t *c, const rj_gql_type_t *parent,
                              const rj_gql_ast_selection_t *sel)
{
    if (parent == NULL)
        return;
    const char *cond = sel->type_condition;
    if (sel->kind == RJ_GQL_SEL_FRAGMENT_SPREAD) {
        const rj_gql_ast_definition_t *f = rj__gql_doc_fragment(c->doc, sel->name);
        cond = f != NULL ? f->type_condition : NULL;
    }
    const rj_gql_type_t *t = cond != NULL ? rj_gql_schema_find_type(c->s, cond) : NULL;
    if (t == NULL || !rj_gql_type_is_composite(t) || types_overlap(t, parent))
        return;
    if (sel->kind == RJ_GQL_SEL_FRAGMENT_SPREAD)
        report(c, &sel->loc,
               "Fragment \"%s\" cannot be spread here as objects of type \"%s\" can never be of "
               "type \"%s\".",
               sel->name, parent->name, t->name);
    else
        report(c, &sel->loc,
               "Fragment cannot be spread here as objects of type \"%s\" can never be of type "
               "\"%s\".",
               parent->name, t->name);
}

static void
possible_fragment_spreads(vctx_t *c)
{
    hooks_t h = {.fragment = possible_fragment_spreads_sel};
    walk_document(c, &h);
}

/* ---- rules: variables ---------------------------------------------------------------------- */

static void
unique_variable_names(vctx_t *c)
{
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_OPERATION)
            continue;
        rj__gql_map_t count, errs;
        rj__gql_map_init(&count);
        rj__gql_map_init(&errs);
        for (const rj_gql_ast_variable_t *v = d->variables; v != NULL; v = v->next)
            name_count(&count, v->name);
        for (const rj_gql_ast_variable_t *v = d->variables; v != NULL; v = v->next) {
            if ((uintptr_t)rj__gql_map_get(&count, v->name) < 2)
                continue;
            json_t *err = (json_t *)rj__gql_map_get(&errs, v->name);
            if (err == NULL)
                /* graphql-js points at the names, not at the '$'. */
                rj__gql_map_put(&errs, v->name,
                                report(c, &v->name_loc,
                                       "There can be only one variable named \"$%s\".", v->name));
            else
                rj__gql_error_add_loc(err, v->name_loc);
        }
        rj__gql_map_deinit(&count);
        rj__gql_map_deinit(&errs);
    }
}

/* A variable used somewhere in an operation (through its fragments), with the type expected
 * at that position and whether that position has a default. */
typedef struct var_usage {
    const rj_gql_ast_value_t *node;   /* the $var literal */
    const rj_gql_type_ref_t *type;    /* expected type, or NULL when unknown */
    bool has_default;                 /* the position supplies a default */
} var_usage_t;

typedef struct usages {
    var_usage_t *u; /* usages in document order */
    size_t n;       /* number of usages */
} usages_t;

static void
collect_usages_in(vctx_t *c, const rj_gql_type_ref_t *type, const rj_gql_ast_value_t *v,
                  usages_t *us, bool has_default)
{
    if (v->kind == RJ_GQL_VALUE_VARIABLE) {
        us->u = grow_for(us->u, us->n, sizeof(*us->u));
        us->u[us->n++] = (var_usage_t){v, type, has_default};
        return;
    }
    const rj_gql_type_ref_t *nullable =
        type != NULL && type->kind == RJ_GQL_TYPE_NON_NULL ? type->of_type : type;
    if (v->kind == RJ_GQL_VALUE_LIST) {
        const rj_gql_type_ref_t *item =
            nullable != NULL && nullable->kind == RJ_GQL_TYPE_LIST ? nullable->of_type : NULL;
        for (const rj_gql_ast_value_t *i = v->items; i != NULL; i = i->next)
            collect_usages_in(c, item, i, us, false);
    } else if (v->kind == RJ_GQL_VALUE_OBJECT) {
        const rj_gql_type_t *t =
            type != NULL ? rj_gql_schema_find_type(c->s, rj_gql_type_ref_named(type)) : NULL;
        for (const rj_gql_ast_object_field_t *f = v->fields; f != NULL; f = f->next) {
            const rj_gql_input_value_t *fd =
                t != NULL && nullable->kind != RJ_GQL_TYPE_LIST
                    ? rj_gql_type_find_input_field(t, f->name)
                    : NULL;
            collect_usages_in(c, fd != NULL ? fd->type : NULL, f->value, us,
                              fd != NULL && fd->default_value != NULL);
        }
    }
}

/* The walker's value hook: argument values carry their definitions' defaults. */
static void
collect_usages_value(vctx_t *c, const rj_gql_type_ref_t *type, const rj_gql_ast_value_t *v,
                     bool has_default, void *ud)
{
    collect_usages_in(c, type, v, ud, has_default);
}

static void
operation_usages(vctx_t *c, const rj_gql_ast_definition_t *op, usages_t *us)
{
    hooks_t h = {.value = collect_usages_value, .ud = us, .follow_spreads = true};
    walk_dirs(c, &h, op->directives, op_locations[op->op]);
    walk_selections(c, &h, c->s->roots[op->op], op->selections);
    rj__gql_map_deinit(&h.seen);
}

/* @p op's variables by name, the first definition of each (*out is initialised here). */
static void
variables_index(const rj_gql_ast_definition_t *op, rj__gql_map_t *out)
{
    rj__gql_map_init(out);
    for (const rj_gql_ast_variable_t *v = op->variables; v != NULL; v = v->next)
        if (rj__gql_map_get(out, v->name) == NULL)
            rj__gql_map_put(out, v->name, v);
}

static void
no_undefined_variables(vctx_t *c)
{
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_OPERATION)
            continue;
        usages_t us = {0};
        operation_usages(c, d, &us);
        rj__gql_map_t defined;
        variables_index(d, &defined);
        for (size_t i = 0; i < us.n; i++) {
            const char *name = us.u[i].node->str;
            if (rj__gql_map_get(&defined, name) != NULL)
                continue;
            json_t *err;
            if (d->name != NULL)
                err = report(c, &us.u[i].node->loc,
                             "Variable \"$%s\" is not defined by operation \"%s\".", name,
                             d->name);
            else
                err = report(c, &us.u[i].node->loc, "Variable \"$%s\" is not defined.", name);
            rj__gql_error_add_loc(err, d->loc);
        }
        rj__gql_map_deinit(&defined);
        free(us.u);
    }
}

static void
no_unused_variables(vctx_t *c)
{
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_OPERATION)
            continue;
        usages_t us = {0};
        operation_usages(c, d, &us);
        rj__gql_map_t used;
        rj__gql_map_init(&used);
        for (size_t i = 0; i < us.n; i++)
            rj__gql_map_put(&used, us.u[i].node->str, us.u[i].node);
        for (const rj_gql_ast_variable_t *v = d->variables; v != NULL; v = v->next) {
            if (rj__gql_map_get(&used, v->name) != NULL)
                continue;
            if (d->name != NULL)
                report(c, &v->loc, "Variable \"$%s\" is never used in operation \"%s\".",
                       v->name, d->name);
            else
                report(c, &v->loc, "Variable \"$%s\" is never used.", v->name);
        }
        rj__gql_map_deinit(&used);
        free(us.u);
    }
}

/* isTypeSubTypeOf for input positions. */
static bool
is_subtype(const rj_gql_schema_t *s, const rj_gql_type_ref_t *sub, const rj_gql_type_ref_t *super)
{
    if (super->kind == RJ_GQL_TYPE_NON_NULL)
        return sub->kind == RJ_GQL_TYPE_NON_NULL && is_subtype(s, sub->of_type, super->of_type);
    if (sub->kind == RJ_GQL_TYPE_NON_NULL)
        return is_subtype(s, sub->of_type, super);
    if (super->kind == RJ_GQL_TYPE_LIST)
        return sub->kind == RJ_GQL_TYPE_LIST && is_subtype(s, sub->of_type, super->of_type);
    if (sub->kind == RJ_GQL_TYPE_LIST)
        return false;
    return strcmp(sub->name, super->name) == 0;
}

static void
variables_in_allowed_position(vctx_t *c)
{
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_OPERATION)
            continue;
        usages_t us = {0};
        operation_usages(c, d, &us);
        rj__gql_map_t defined;
        variables_index(d, &defined);
        for (size_t i = 0; i < us.n; i++) {
            const rj_gql_type_ref_t *loc_type = us.u[i].type;
            const rj_gql_ast_variable_t *v = rj__gql_map_get(&defined, us.u[i].node->str);
            if (v == NULL || loc_type == NULL ||
                rj_gql_schema_find_type(c->s, rj_gql_type_ref_named(v->type)) == NULL)
                continue;
            bool ok;
            if (loc_type->kind == RJ_GQL_TYPE_NON_NULL && v->type->kind != RJ_GQL_TYPE_NON_NULL) {
                bool var_default =
                    v->default_value != NULL && v->default_value->kind != RJ_GQL_VALUE_NULL;
                ok = (var_default || us.u[i].has_default) &&
                     is_subtype(c->s, v->type, loc_type->of_type);
            } else {
                ok = is_subtype(c->s, v->type, loc_type);
            }
            if (ok)
                continue;
            char *vt = rj_gql_type_ref_to_string(v->type);
            char *lt = rj_gql_type_ref_to_string(loc_type);
            json_t *err = report(c, &v->loc,
                                 "Variable \"$%s\" of type \"%s\" used in position expecting "
                                 "type \"%s\".",
                                 v->name, vt, lt);
            rj__gql_error_add_loc(err, us.u[i].node->loc);
            free(vt);
            free(lt);
        }
        rj__gql_map_deinit(&defined);
        free(us.u);
    }
}

/* ---- rules: overlapping fields -------------------------------------------------------------- */

/*
 * OverlappingFieldsCanBeMerged (spec 5.3.2). Fields are gathered through inline fragments
 * and fragment spreads alike (graphql-js keeps spreads apart to cache fragment pairs); a
 * set of already-compared node pairs stands in for that cache, so each conflicting pair is
 * reported once, at the outermost selection set that contains both fields.
 *
 * The rule must stay near-linear on hostile documents (a flat list of 1,600 `__typename`
 * once took minutes): fields are grouped by response name, so fields of different names
 * are never compared. Fields of the same structure (parent, name, arguments, and
 * sub-selections, fragments expanded, recursively) are one class, numbered by
 * hash-consing; whether two fields conflict depends only on their classes. So a first,
 * silent pass compares one representative per pair of classes (and a class with itself),
 * remembering the outcome for sub-selections per pair of classes: a group whose classes do
 * not conflict costs time linear in its size. Only a group that really conflicts is then
 * compared pair by pair, to report every pair and location as graphql-js does, skipping
 * pairs the silent pass clears and stopping at the error limit.
 */
typedef struct ofield {
    const rj_gql_type_t *parent;        /* the type the field is selected on, or NULL */
    const rj_gql_ast_selection_t *node; /* the field */
    const rj_gql_field_def_t *def;      /* its definition, or NULL */
    const char *key;                    /* its response name */
    char *args;                         /* its arguments printed in name order, NULL for
                                           none or when a name repeats; owned */
} ofield_t;

/* A field's place in the by-name order. */
typedef struct okey {
    const char *key; /* its response name */
    size_t i;        /* its index in document order */
} okey_t;

typedef struct ofields {
    ofield_t *v;   /* fields in document order */
    size_t n;      /* number of fields */
    okey_t *order; /* sorted by (key, index): each response name's run, in document order */
} ofields_t;

/* Pointer-keyed open-addressing tables: pairs of nodes compared, and gathered selections. */
typedef struct ptrset {
    const void **keys; /* two entries per slot, {NULL, NULL} for empty slots */
    void **vals;       /* one value per slot */
    size_t cap;        /* slots, a power of two */
    size_t n;          /* occupied slots */
} ptrset_t;

/* One structural class: a representative field and the classes of its sub-selection. */
typedef struct oclass {
    ofield_t f;        /* the first field seen of the class; its args owned (the field's
                        * selection set's ofields_t may be gone before the class) */
    size_t *kids;      /* classes of its gathered sub-fields, in document order; owned */
    size_t nkids;      /* number of them */
    uint64_t hash;     /* hash of all of the above */
} oclass_t;

typedef struct overlap_ctx {
    vctx_t *c;         /* validation context */
    ptrset_t pairs;    /* compared field pairs, the lower address first */
    ptrset_t gathered; /* field node -> its sub-selection's ofields_t */
    ptrset_t node_cls; /* field node -> its class, as a pointer-sized integer */
    oclass_t *cls;     /* the classes: class k is cls[k - 1] */
    size_t ncls;       /* number of classes */
    size_t capcls;     /* allocated */
    size_t *buckets;   /* class hash -> class, open addressing, 0 for empty */
    size_t nbuckets;   /* a power of two */
    ptrset_t dry;      /* (class, 2 * class + exclusive) -> sub-selections conflict */
} overlap_ctx_t;

static size_t
ptr_hash(const void *a, const void *b)
{
    uint64_t h = (uint64_t)(uintptr_t)a * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uintptr_t)b + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    return (size_t)(h ^ (h >> 29));
}

/* The slot of (a, b), or of the empty slot where it belongs. */
static size_t
ptrset_slot(const ptrset_t *t, const void *a, const void *b)
{
    size_t i = ptr_hash(a, b) & (t->cap - 1);
    while (t->keys[2 * i] != NULL && (t->keys[2 * i] != a || t->keys[2 * i + 1] != b))
        i = (i + 1) & (t->cap - 1);
    return i;
}

static void **
ptrset_find(const ptrset_t *t, const void *a, const void *b)
{
    if (t->cap == 0)
        return NULL;
    size_t i = ptrset_slot(t, a, b);
    return t->keys[2 * i] != NULL ? &t->vals[i] : NULL;
}

/* Inserts (a, b) -> val; (a, b) must not be there yet. */
static void
ptrset_put(ptrset_t *t, const void *a, const void *b, void *val)
{
    if ((t->n + 1) * 2 > t->cap) {
        ptrset_t old = *t;
        t->cap = old.cap ? old.cap * 2 : 64;
        t->keys = rj_xcalloc(2 * t->cap, sizeof(*t->keys));
        t->vals = rj_xcalloc(t->cap, sizeof(*t->vals));
        t->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[2 * i] != NULL)
                ptrset_put(t, old.keys[2 * i], old.keys[2 * i + 1], old.vals[i]);
        free(old.keys);
        free(old.vals);
    }
    size_t i = ptrset_slot(t, a, b);
    t->keys[2 * i] = a;
    t->keys[2 * i + 1] = b;
    t->vals[i] = val;
    t->n++;
}

static void
ptrset_deinit(ptrset_t *t)
{
    free(t->keys);
    free(t->vals);
    *t = (ptrset_t){0};
}

/* Locations of the fields on one side of a conflict, turned into JSON only when reported. */
typedef struct locs {
    rj_gql_loc_t *v; /* locations in report order */
    size_t n;        /* number of them */
    size_t cap;      /* allocated */
} locs_t;

static void
locs_add(locs_t *l, rj_gql_loc_t loc)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = rj_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = loc;
}

static void
locs_extend(locs_t *l, const locs_t *from)
{
    for (size_t i = 0; i < from->n; i++)
        locs_add(l, from->v[i]);
}

static int
arg_name_cmp(const void *x, const void *y)
{
    const rj_gql_ast_argument_t *const *a = x, *const *b = y;
    return strcmp((*a)->name, (*b)->name);
}

/* The arguments printed in name order, so equal strings mean sameArguments; NULL for none,
 * or when a name repeats (then same_arguments compares the way graphql-js does). */
static char *
args_key(const rj_gql_ast_selection_t *node)
{
    size_t n = 0;
    for (const rj_gql_ast_argument_t *a = node->args; a != NULL; a = a->next)
        n++;
    if (n == 0)
        return NULL;
    const rj_gql_ast_argument_t **v = rj_xcalloc(n, sizeof(*v));
    n = 0;
    for (const rj_gql_ast_argument_t *a = node->args; a != NULL; a = a->next)
        v[n++] = a;
    qsort(v, n, sizeof(*v), arg_name_cmp);
    rj_buf_t b;
    rj_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(v[i - 1]->name, v[i]->name) == 0) {
            free(v);
            rj_buf_deinit(&b);
            return NULL;
        }
        rj_buf_printf(&b, "%s:", v[i]->name);
        rj__gql_print_value(&b, v[i]->value);
        rj_buf_putc(&b, ',');
    }
    free(v);
    return b.data;
}

static void
gather_fields(vctx_t *c, const rj_gql_type_t *parent, const rj_gql_ast_selection_t *sel,
              ofields_t *out, size_t *cap, rj__gql_map_t *seen)
{
    for (; sel != NULL; sel = sel->next) {
        if (sel->kind == RJ_GQL_SEL_FIELD) {
            if (out->n == *cap) {
                *cap = *cap ? *cap * 2 : 8;
                out->v = rj_xrealloc(out->v, *cap * sizeof(*out->v));
            }
            out->v[out->n++] = (ofield_t){
                .parent = parent,
                .node = sel,
                .def = parent != NULL ? rj__gql_field_lookup(c->s, parent, sel->name) : NULL,
                .key = sel->alias ? sel->alias : sel->name,
                .args = args_key(sel),
            };
        } else if (sel->kind == RJ_GQL_SEL_INLINE_FRAGMENT) {
            const rj_gql_type_t *t =
                sel->type_condition != NULL ? rj_gql_schema_find_type(c->s, sel->type_condition)
                                            : parent;
            gather_fields(c, t, sel->selections, out, cap, seen);
        } else {
            if (rj__gql_map_get(seen, sel->name) != NULL)
                continue;
            rj__gql_map_put(seen, sel->name, sel);
            const rj_gql_ast_definition_t *f = rj__gql_doc_fragment(c->doc, sel->name);
            if (f != NULL)
                gather_fields(c, rj_gql_schema_find_type(c->s, f->type_condition), f->selections,
                              out, cap, seen);
        }
    }
}

static int
okey_cmp(const void *x, const void *y)
{
    const okey_t *a = x, *b = y;
    int k = strcmp(a->key, b->key);
    return k != 0 ? k : a->i < b->i ? -1 : a->i > b->i;
}

/* The fields of @p sel in document order, with each response name's run in out->order. */
static void
gather_all(vctx_t *c, const rj_gql_type_t *parent, const rj_gql_ast_selection_t *sel,
           ofields_t *out)
{
    rj__gql_map_t seen;
    rj__gql_map_init(&seen);
    size_t cap = 0;
    gather_fields(c, parent, sel, out, &cap, &seen);
    rj__gql_map_deinit(&seen);
    out->order = rj_xcalloc(out->n + 1, sizeof(*out->order));
    for (size_t i = 0; i < out->n; i++)
        out->order[i] = (okey_t){out->v[i].key, i};
    qsort(out->order, out->n, sizeof(*out->order), okey_cmp);
}

static void
ofields_deinit(ofields_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].args);
    free(f->v);
    free(f->order);
    *f = (ofields_t){0};
}

/* The first position in f->order of response name @p key, or f->n when there is none. */
static size_t
ofields_find(const ofields_t *f, const char *key)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(f->order[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->n && strcmp(f->order[lo].key, key) == 0 ? lo : f->n;
}

/* The gathered sub-selection of @p f, built once: its parent type follows from the node. */
static const ofields_t *
sub_fields(overlap_ctx_t *o, const ofield_t *f)
{
    void **hit = ptrset_find(&o->gathered, f->node, NULL);
    if (hit != NULL)
        return *hit;
    ofields_t *sub = rj_xcalloc(1, sizeof(*sub));
    gather_all(o->c, f->def != NULL ? f->def->named : NULL, f->node->selections, sub);
    ptrset_put(&o->gathered, f->node, NULL, sub);
    return sub;
}

/* ---- structural classes ---- */

static uint64_t
mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 31);
}

/* Same structure at the top: what find_conflict looks at besides the sub-selections. */
static bool
same_top(const ofield_t *a, const ofield_t *b)
{
    if (a->parent != b->parent || a->def != b->def || strcmp(a->key, b->key) != 0 ||
        strcmp(a->node->name, b->node->name) != 0 ||
        (a->node->selections == NULL) != (b->node->selections == NULL))
        return false;
    if (a->node->args == NULL || b->node->args == NULL)
        return a->node->args == b->node->args;
    /* arguments whose names repeat have no key: such a field is a class of its own */
    return a->args != NULL && b->args != NULL && strcmp(a->args, b->args) == 0;
}

static bool
class_eq(const oclass_t *k, const ofield_t *f, const size_t *kids, size_t nkids)
{
    return same_top(&k->f, f) && k->nkids == nkids &&
           (nkids == 0 || memcmp(k->kids, kids, nkids * sizeof(*kids)) == 0);
}

static void
class_index(overlap_ctx_t *o, size_t id)
{
    size_t i = (size_t)o->cls[id - 1].hash & (o->nbuckets - 1);
    while (o->buckets[i] != 0)
        i = (i + 1) & (o->nbuckets - 1);
    o->buckets[i] = id;
}

/* The class of (f, kids), a new one when none is equal; @p kids is taken. */
static size_t
class_intern(overlap_ctx_t *o, const ofield_t *f, size_t *kids, size_t nkids, bool unique)
{
    uint64_t h = mix64(rj_hash(f->key, strlen(f->key)), (uintptr_t)f->parent);
    h = mix64(h, (uintptr_t)f->def);
    h = mix64(h, rj_hash(f->node->name, strlen(f->node->name)));
    if (f->args != NULL)
        h = mix64(h, rj_hash(f->args, strlen(f->args)));
    for (size_t i = 0; i < nkids; i++)
        h = mix64(h, kids[i]);
    if (!unique && o->nbuckets > 0) {
        for (size_t i = (size_t)h & (o->nbuckets - 1); o->buckets[i] != 0;
             i = (i + 1) & (o->nbuckets - 1)) {
            const oclass_t *k = &o->cls[o->buckets[i] - 1];
            if (k->hash == h && class_eq(k, f, kids, nkids)) {
                free(kids);
                return o->buckets[i];
            }
        }
    }
    if (o->ncls == o->capcls) {
        o->capcls = o->capcls ? o->capcls * 2 : 64;
        o->cls = rj_xrealloc(o->cls, o->capcls * sizeof(*o->cls));
    }
    oclass_t *k = &o->cls[o->ncls++];
    *k = (oclass_t){.f = *f, .kids = kids, .nkids = nkids, .hash = h};
    k->f.args = f->args != NULL ? rj_xstrdup(f->args) : NULL;
    if (o->ncls * 2 > o->nbuckets) {
        free(o->buckets);
        o->nbuckets = o->nbuckets ? o->nbuckets * 2 : 128;
        o->buckets = rj_xcalloc(o->nbuckets, sizeof(*o->buckets));
        for (size_t id = 1; id <= o->ncls; id++)
            class_index(o, id);
    } else {
        class_index(o, o->ncls);
    }
    return o->ncls;
}

#define CLASS_BUSY ((void *)(uintptr_t)SIZE_MAX) /* node_cls: being computed */

/*
 * The structural class of @p f: equal for two fields exactly when they have the same
 * parent, definition, response name, name and arguments, and sub-selections (fragments
 * expanded) of the same classes in the same order. A field met again inside its own
 * sub-selection (a fragment cycle, reported by NoFragmentCycles) gets a class of its own.
 */
static size_t field_class(overlap_ctx_t *o, const ofield_t *f);

static size_t
field_class(overlap_ctx_t *o, const ofield_t *f)
{
    void **hit = ptrset_find(&o->node_cls, f->node, NULL);
    if (hit != NULL && *hit != CLASS_BUSY)
        return (size_t)(uintptr_t)*hit;
    if (hit != NULL) /* a cycle */
        return class_intern(o, f, NULL, 0, true);
    ptrset_put(&o->node_cls, f->node, NULL, CLASS_BUSY);
    size_t *kids = NULL, nkids = 0;
    if (f->node->selections != NULL) {
        const ofields_t *sub = sub_fields(o, f);
        nkids = sub->n;
        kids = rj_xcalloc(nkids + 1, sizeof(*kids));
        for (size_t i = 0; i < sub->n; i++)
            kids[i] = field_class(o, &sub->v[i]);
    }
    size_t id = class_intern(o, f, kids, nkids, f->node->args != NULL && f->args == NULL);
    *ptrset_find(&o->node_cls, f->node, NULL) = (void *)(uintptr_t)id;
    return id;
}

static bool types_conflict(const rj_gql_schema_t *s, const rj_gql_type_ref_t *a,
                           const rj_gql_type_ref_t *b);
static bool same_arguments(const ofield_t *fa, const ofield_t *fb);

static bool dry_conflict(overlap_ctx_t *o, bool exclusive, const ofield_t *f1, const ofield_t *f2);

/* One field per class among f->order[from, to), in *out (reallocated); returns how many. */
static size_t
class_reps(overlap_ctx_t *o, const ofields_t *f, size_t from, size_t to, size_t **out)
{
    *out = rj_xrealloc(*out, (to - from + 1) * sizeof(**out));
    if (to - from == 1) { /* the usual run: one field of that name */
        (*out)[0] = f->order[from].i;
        return 1;
    }
    size_t n = 0;
    ptrset_t seen = {0};
    for (size_t k = from; k < to; k++) {
        const void *c = (const void *)(uintptr_t)field_class(o, &f->v[f->order[k].i]);
        if (ptrset_find(&seen, c, NULL) == NULL) {
            ptrset_put(&seen, c, NULL, NULL);
            (*out)[n++] = f->order[k].i;
        }
    }
    ptrset_deinit(&seen);
    return n;
}

/*
 * Whether the sub-selections of two fields conflict, silently: one representative per pair
 * of classes of each shared response name, remembered per pair of classes (and whether
 * their parents were already exclusive), so repeated structures are compared once. A pair
 * being compared counts as not conflicting meanwhile, which ends fragment cycles.
 */
static bool
dry_sub(overlap_ctx_t *o, bool exclusive, const ofield_t *f1, const ofield_t *f2)
{
    size_t c1 = field_class(o, f1), c2 = field_class(o, f2);
    const void *k1 = (const void *)(uintptr_t)c1;
    const void *k2 = (const void *)(uintptr_t)(2 * c2 + exclusive);
    void **hit = ptrset_find(&o->dry, k1, k2);
    if (hit != NULL)
        return *hit != NULL;
    ptrset_put(&o->dry, k1, k2, NULL);
    const ofields_t *a = sub_fields(o, f1), *b = sub_fields(o, f2);
    bool conflict = false;
    size_t *ra = NULL, *rb = NULL;
    for (size_t i = 0; i < a->n && !conflict;) {
        size_t ie = i + 1;
        while (ie < a->n && strcmp(a->order[ie].key, a->order[i].key) == 0)
            ie++;
        size_t j = ofields_find(b, a->order[i].key), je = j;
        while (je < b->n && strcmp(b->order[je].key, a->order[i].key) == 0)
            je++;
        if (j < je) {
            size_t na = class_reps(o, a, i, ie, &ra), nb = class_reps(o, b, j, je, &rb);
            for (size_t x = 0; x < na && !conflict; x++)
                for (size_t y = 0; y < nb && !conflict; y++)
                    conflict = dry_conflict(o, exclusive, &a->v[ra[x]], &b->v[rb[y]]);
        }
        i = ie;
    }
    free(ra);
    free(rb);
    if (conflict)
        *ptrset_find(&o->dry, k1, k2) = (void *)1;
    return conflict;
}

/* find_conflict's outcome, without reporting, remembering pairs or building reasons. */
static bool
dry_conflict(overlap_ctx_t *o, bool exclusive, const ofield_t *f1, const ofield_t *f2)
{
    exclusive = exclusive ||
                (f1->parent != f2->parent && f1->parent != NULL && f2->parent != NULL &&
                 f1->parent->kind == RJ_GQL_KIND_OBJECT && f2->parent->kind == RJ_GQL_KIND_OBJECT);
    if (!exclusive && (strcmp(f1->node->name, f2->node->name) != 0 || !same_arguments(f1, f2)))
        return true;
    if (f1->def != NULL && f2->def != NULL && types_conflict(o->c->s, f1->def->type, f2->def->type))
        return true;
    if (f1->node->selections != NULL && f2->node->selections != NULL)
        return dry_sub(o, exclusive, f1, f2);
    return false;
}

static bool
same_arguments(const ofield_t *fa, const ofield_t *fb)
{
    const rj_gql_ast_selection_t *a = fa->node, *b = fb->node;
    if (a->args == NULL || b->args == NULL)
        return a->args == b->args;
    if (fa->args != NULL && fb->args != NULL)
        return strcmp(fa->args, fb->args) == 0;
    size_t na = 0, nb = 0;
    for (const rj_gql_ast_argument_t *x = a->args; x != NULL; x = x->next)
        na++;
    for (const rj_gql_ast_argument_t *x = b->args; x != NULL; x = x->next)
        nb++;
    if (na != nb)
        return false;
    for (const rj_gql_ast_argument_t *x = a->args; x != NULL; x = x->next) {
        const rj_gql_ast_argument_t *y = b->args;
        while (y != NULL && strcmp(x->name, y->name) != 0)
            y = y->next;
        if (y == NULL)
            return false;
        rj_buf_t bx, by;
        rj_buf_init(&bx);
        rj_buf_init(&by);
        rj__gql_print_value(&bx, x->value);
        rj__gql_print_value(&by, y->value);
        bool same = strcmp(bx.data, by.data) == 0;
        rj_buf_deinit(&bx);
        rj_buf_deinit(&by);
        if (!same)
            return false;
    }
    return true;
}

/* doTypesConflict */
static bool
types_conflict(const rj_gql_schema_t *s, const rj_gql_type_ref_t *a, const rj_gql_type_ref_t *b)
{
    if (a->kind == RJ_GQL_TYPE_LIST || b->kind == RJ_GQL_TYPE_LIST)
        return a->kind != b->kind || types_conflict(s, a->of_type, b->of_type);
    if (a->kind == RJ_GQL_TYPE_NON_NULL || b->kind == RJ_GQL_TYPE_NON_NULL)
        return a->kind != b->kind || types_conflict(s, a->of_type, b->of_type);
    const rj_gql_type_t *ta = rj_gql_schema_find_type(s, a->name);
    const rj_gql_type_t *tb = rj_gql_schema_find_type(s, b->name);
    if ((ta != NULL && !rj_gql_type_is_composite(ta)) ||
        (tb != NULL && !rj_gql_type_is_composite(tb)))
        return ta != tb;
    return false;
}

/* True when (a, b) was compared before; records it otherwise. */
static bool
pair_seen(overlap_ctx_t *o, const rj_gql_ast_selection_t *a, const rj_gql_ast_selection_t *b)
{
    const void *lo = (uintptr_t)a < (uintptr_t)b ? (const void *)a : (const void *)b;
    const void *hi = lo == (const void *)a ? (const void *)b : (const void *)a;
    if (ptrset_find(&o->pairs, lo, hi) != NULL)
        return true;
    ptrset_put(&o->pairs, lo, hi, NULL);
    return false;
}

static bool find_conflict(overlap_ctx_t *o, bool exclusive, const ofield_t *f1, const ofield_t *f2,
                          rj_buf_t *reason, locs_t *locs1, locs_t *locs2);

/* findConflictsBetweenSubSelectionSets: appends "subfields ..." reasons; true if any. */
static bool
sub_conflicts(overlap_ctx_t *o, bool exclusive, const ofield_t *f1, const ofield_t *f2,
              rj_buf_t *reason, locs_t *locs1, locs_t *locs2)
{
    const ofields_t *a = sub_fields(o, f1), *b = sub_fields(o, f2);
    bool any = false;
    locs_t l1 = {0}, l2 = {0};
    for (size_t i = 0; i < a->n; i++) {
        const char *key = a->v[i].key;
        for (size_t k = ofields_find(b, key); k < b->n && strcmp(b->order[k].key, key) == 0; k++) {
            const ofield_t *fb = &b->v[b->order[k].i];
            /* Pairs the silent comparison clears cannot conflict: not even remembered. */
            if (!dry_conflict(o, exclusive, &a->v[i], fb) || pair_seen(o, a->v[i].node, fb->node))
                continue;
            rj_buf_t sub;
            rj_buf_init(&sub);
            l1.n = l2.n = 0;
            if (find_conflict(o, exclusive, &a->v[i], fb, &sub, &l1, &l2)) {
                rj_buf_printf(reason, "%ssubfields \"%s\" conflict because %s", any ? " and " : "",
                              key, sub.data);
                locs_extend(locs1, &l1);
                locs_extend(locs2, &l2);
                any = true;
            }
            rj_buf_deinit(&sub);
        }
    }
    free(l1.v);
    free(l2.v);
    return any;
}

/* findConflict: true with the reason and both sides' locations when the fields conflict. */
static bool
find_conflict(overlap_ctx_t *o, bool exclusive, const ofield_t *f1, const ofield_t *f2,
              rj_buf_t *reason, locs_t *locs1, locs_t *locs2)
{
    exclusive = exclusive || (f1->parent != f2->parent && f1->parent != NULL &&
                              f2->parent != NULL && f1->parent->kind == RJ_GQL_KIND_OBJECT &&
                              f2->parent->kind == RJ_GQL_KIND_OBJECT);
    locs_add(locs1, f1->node->loc);
    locs_add(locs2, f2->node->loc);
    if (!exclusive) {
        if (strcmp(f1->node->name, f2->node->name) != 0) {
            rj_buf_printf(reason, "\"%s\" and \"%s\" are different fields", f1->node->name,
                          f2->node->name);
            return true;
        }
        if (!same_arguments(f1, f2)) {
            rj_buf_puts(reason, "they have differing arguments");
            return true;
        }
    }
    if (f1->def != NULL && f2->def != NULL && types_conflict(o->c->s, f1->def->type, f2->def->type)) {
        rj_buf_printf(reason, "they return conflicting types \"%s\" and \"%s\"",
                      f1->def->type_str, f2->def->type_str);
        return true;
    }
    if (f1->node->selections != NULL && f2->node->selections != NULL)
        return sub_conflicts(o, exclusive, f1, f2, reason, locs1, locs2);
    return false;
}

static json_t *
locs_json(const locs_t *l1, const locs_t *l2)
{
    json_t *a = json_array();
    for (const locs_t *l = l1; l != NULL; l = l == l1 ? l2 : NULL)
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(a, json_pack("{s:i,s:i}", "line", (json_int_t)l->v[i].line,
                                               "column", (json_int_t)l->v[i].column));
    return a;
}

/* Like graphql-js's maxErrors: stop comparing once the document has failed enough. */
static bool
overlap_full(const overlap_ctx_t *o)
{
    return json_array_size(o->c->errors) >= 100;
}

/* Compares @p f1 and @p f2 as fields of one selection set and reports a conflict. */
static void
overlap_pair(overlap_ctx_t *o, const ofield_t *f1, const ofield_t *f2)
{
    if (f1->node == f2->node || pair_seen(o, f1->node, f2->node))
        return;
    rj_buf_t reason;
    rj_buf_init(&reason);
    locs_t l1 = {0}, l2 = {0};
    if (find_conflict(o, false, f1, f2, &reason, &l1, &l2)) {
        json_t *err = report(o->c, NULL,
                             "Fields \"%s\" conflict because %s. Use different aliases on the "
                             "fields to fetch both if this was intentional.",
                             f1->key, reason.data);
        json_object_set_new(err, "locations", locs_json(&l1, &l2));
    }
    free(l1.v);
    free(l2.v);
    rj_buf_deinit(&reason);
}

/*
 * One response name's fields (@p run, m of them, in document order): first silently, one
 * representative per pair of classes, and only if that finds a conflict, every pair.
 */
static void
overlap_group(overlap_ctx_t *o, const ofields_t *all, const okey_t *run, size_t m)
{
    ptrset_t seen = {0};
    size_t *rep = rj_xcalloc(m, sizeof(*rep)), *second = rj_xcalloc(m, sizeof(*second));
    size_t nc = 0;
    for (size_t i = 0; i < m; i++) {
        const void *c = (const void *)(uintptr_t)field_class(o, &all->v[run[i].i]);
        void **hit = ptrset_find(&seen, c, NULL);
        if (hit == NULL) {
            rep[nc] = run[i].i;
            second[nc] = SIZE_MAX;
            ptrset_put(&seen, c, NULL, (void *)(uintptr_t)++nc);
        } else if (second[(uintptr_t)*hit - 1] == SIZE_MAX) {
            second[(uintptr_t)*hit - 1] = run[i].i;
        }
    }
    ptrset_deinit(&seen);
    bool conflict = false;
    for (size_t a = 0; a < nc && !conflict; a++) {
        if (second[a] != SIZE_MAX)
            conflict = dry_conflict(o, false, &all->v[rep[a]], &all->v[second[a]]);
        for (size_t b = a + 1; b < nc && !conflict; b++)
            conflict = dry_conflict(o, false, &all->v[rep[a]], &all->v[rep[b]]);
    }
    free(rep);
    free(second);
    for (size_t i = 0; conflict && i < m && !overlap_full(o); i++)
        for (size_t j = i + 1; j < m && !overlap_full(o); j++)
            if (dry_conflict(o, false, &all->v[run[i].i], &all->v[run[j].i]))
                overlap_pair(o, &all->v[run[i].i], &all->v[run[j].i]);
}

typedef struct run {
    size_t first; /* document index of the name's first field */
    size_t at;    /* where its run starts in the by-name order */
    size_t n;     /* fields in the run */
} run_t;

static int
run_cmp(const void *x, const void *y)
{
    const run_t *a = x, *b = y;
    return a->first < b->first ? -1 : a->first > b->first;
}

static void
overlap_selection_set(overlap_ctx_t *o, const rj_gql_type_t *parent,
                      const rj_gql_ast_selection_t *sel)
{
    if (sel == NULL)
        return;
    ofields_t all = {0};
    gather_all(o->c, parent, sel, &all);
    /* Each response name's run, in the order the names first appear (graphql-js's). */
    run_t *runs = rj_xcalloc(all.n + 1, sizeof(*runs));
    size_t nruns = 0;
    for (size_t k = 0; k < all.n;) {
        size_t e = k + 1;
        while (e < all.n && strcmp(all.order[e].key, all.order[k].key) == 0)
            e++;
        runs[nruns++] = (run_t){.first = all.order[k].i, .at = k, .n = e - k};
        k = e;
    }
    qsort(runs, nruns, sizeof(*runs), run_cmp);
    for (size_t r = 0; r < nruns && !overlap_full(o); r++)
        if (runs[r].n > 1)
            overlap_group(o, &all, all.order + runs[r].at, runs[r].n);
    free(runs);
    ofields_deinit(&all);
    /* then every nested selection set, parents first as graphql-js visits them */
    for (; sel != NULL && !overlap_full(o); sel = sel->next) {
        if (sel->kind == RJ_GQL_SEL_FIELD) {
            const rj_gql_field_def_t *def =
                parent != NULL ? rj__gql_field_lookup(o->c->s, parent, sel->name) : NULL;
            overlap_selection_set(o, def != NULL ? def->named : NULL, sel->selections);
        } else if (sel->kind == RJ_GQL_SEL_INLINE_FRAGMENT) {
            const rj_gql_type_t *t =
                sel->type_condition != NULL ? rj_gql_schema_find_type(o->c->s, sel->type_condition)
                                            : parent;
            overlap_selection_set(o, t, sel->selections);
        }
    }
}

static void
overlapping_fields_can_be_merged(vctx_t *c)
{
    overlap_ctx_t o = {.c = c};
    for (const rj_gql_ast_definition_t *d = c->doc->defs; d != NULL && !overlap_full(&o);
         d = d->next) {
        if (d->kind == RJ_GQL_DEF_OPERATION)
            overlap_selection_set(&o, c->s->roots[d->op], d->selections);
        else if (d->kind == RJ_GQL_DEF_FRAGMENT)
            overlap_selection_set(&o, rj_gql_schema_find_type(c->s, d->type_condition),
                                  d->selections);
    }
    for (size_t i = 0; i < o.gathered.cap; i++) {
        if (o.gathered.keys[2 * i] != NULL) {
            ofields_deinit(o.gathered.vals[i]);
            free(o.gathered.vals[i]);
        }
    }
    ptrset_deinit(&o.gathered);
    ptrset_deinit(&o.pairs);
    ptrset_deinit(&o.node_cls);
    ptrset_deinit(&o.dry);
    for (size_t i = 0; i < o.ncls; i++) {
        free(o.cls[i].kids);
        free(o.cls[i].f.args);
    }
    free(o.cls);
    free(o.buckets);
}

/* ---- counting a document's selections ----------------------------------------------------- */

typedef struct count {
    size_t selections; /* field selections and fragment spreads */
    size_t aliases;    /* aliased field selections */
} count_t;

typedef struct count_ctx {
    const rj_gql_doc_t *doc; /* the document */
    rj__gql_map_t done;      /* fragment name -> its count_t (owned), once counted */
    rj__gql_map_t active;    /* fragments being counted: a spread of one is a cycle */
} count_ctx_t;

static size_t
sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static count_t count_fragment(count_ctx_t *cc, const rj_gql_ast_definition_t *f);

static count_t
count_selections(count_ctx_t *cc, const rj_gql_ast_selection_t *sel)
{
    count_t n = {0, 0};
    for (; sel != NULL; sel = sel->next) {
        count_t sub = {0, 0};
        if (sel->kind == RJ_GQL_SEL_FIELD) {
            sub = count_selections(cc, sel->selections);
            sub.selections = sat_add(sub.selections, 1);
            sub.aliases = sat_add(sub.aliases, sel->alias != NULL);
        } else if (sel->kind == RJ_GQL_SEL_INLINE_FRAGMENT) {
            sub = count_selections(cc, sel->selections);
        } else {
            const rj_gql_ast_definition_t *f = rj__gql_doc_fragment(cc->doc, sel->name);
            if (f != NULL)
                sub = count_fragment(cc, f);
            sub.selections = sat_add(sub.selections, 1);
        }
        n.selections = sat_add(n.selections, sub.selections);
        n.aliases = sat_add(n.aliases, sub.aliases);
    }
    return n;
}

static count_t
count_fragment(count_ctx_t *cc, const rj_gql_ast_definition_t *f)
{
    const count_t *known = rj__gql_map_get(&cc->done, f->name);
    if (known != NULL)
        return *known;
    if (rj__gql_map_get(&cc->active, f->name) != NULL)
        return (count_t){0, 0};
    rj__gql_map_put(&cc->active, f->name, f);
    count_t n = count_selections(cc, f->selections);
    rj__gql_map_put(&cc->active, f->name, NULL);
    count_t *keep = rj_xmalloc(sizeof(*keep));
    *keep = n;
    rj__gql_map_put(&cc->done, f->name, keep);
    return n;
}

void
rj_gql_document_count(const rj_gql_doc_t *doc, size_t *selections, size_t *aliases)
{
    count_ctx_t cc = {.doc = doc};
    count_t total = {0, 0};
    for (const rj_gql_ast_definition_t *d = doc->defs; d != NULL; d = d->next) {
        if (d->kind == RJ_GQL_DEF_OPERATION) {
            count_t n = count_selections(&cc, d->selections);
            total.selections = sat_add(total.selections, n.selections);
            total.aliases = sat_add(total.aliases, n.aliases);
        } else if (d->kind == RJ_GQL_DEF_FRAGMENT) {
            /* validated on its own too (the first of a name; the rest are errors) */
            if (rj__gql_doc_fragment(doc, d->name) == d)
                total.selections = sat_add(total.selections, count_fragment(&cc, d).selections);
        }
    }
    for (size_t i = 0; i < cc.done.cap; i++)
        if (cc.done.keys[i] != NULL)
            free((void *)cc.done.vals[i]);
    rj__gql_map_deinit(&cc.done);
    rj__gql_map_deinit(&cc.active);
    *selections = total.selections;
    *aliases = total.aliases;
}

/* ---- the table ----------------------------------------------------------------------------- */

typedef struct rule {
    const char *name;          /* graphql-js rule name */
    void (*run)(vctx_t *c);    /* reports into c->errors */
} rule_t;

/* In graphql-js's specifiedRules order. */
static const rule_t rules[] = {
    {"ExecutableDefinitions", executable_definitions},
    {"UniqueOperationNames", unique_operation_names},
    {"LoneAnonymousOperation", lone_anonymous_operation},
    {"SingleFieldSubscriptions", single_field_subscriptions},
    {"KnownTypeNames", known_type_names},
    {"FragmentsOnCompositeTypes", fragments_on_composite_types},
    {"VariablesAreInputTypes", variables_are_input_types},
    {"ScalarLeafs", scalar_leafs},
    {"FieldsOnCorrectType", fields_on_correct_type},
    {"UniqueFragmentNames", unique_fragment_names},
    {"KnownFragmentNames", known_fragment_names},
    {"NoUnusedFragments", no_unused_fragments},
    {"PossibleFragmentSpreads", possible_fragment_spreads},
    {"NoFragmentCycles", no_fragment_cycles},
    {"UniqueVariableNames", unique_variable_names},
    {"NoUndefinedVariables", no_undefined_variables},
    {"NoUnusedVariables", no_unused_variables},
    {"KnownDirectives", known_directives},
    {"UniqueDirectivesPerLocation", unique_directives_per_location},
    {"KnownArgumentNames", known_argument_names},
    {"UniqueArgumentNames", unique_argument_names},
    {"ValuesOfCorrectType", values_of_correct_type},
    {"OverlappingFieldsCanBeMerged", overlapping_fields_can_be_merged},
    {"ProvidedRequiredArguments", provided_required_arguments},
    {"VariablesInAllowedPosition", variables_in_allowed_position},
    {"UniqueInputFieldNames", unique_input_field_names},
};

json_t *
rj_gql_validate(const rj_gql_schema_t *s, const rj_gql_doc_t *doc)
{
    vctx_t c = {.s = s, .doc = doc, .errors = json_array()};
    for (size_t i = 0; i < sizeof(rules) / sizeof(*rules); i++) {
        rules[i].run(&c);
        /* Like graphql-js's maxErrors: a hostile document cannot grow the list unbounded. */
        if (json_array_size(c.errors) >= 100)
            break;
    }
    if (json_array_size(c.errors) == 0) {
        json_decref(c.errors);
        return NULL;
    }
    return c.errors;
}
