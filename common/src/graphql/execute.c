/*
 * graphql/execute.c - executing an operation in two phases (spec 6): rj_gql_prepare()
 * selects the operation, coerces variables and root-field arguments and lists the root
 * fields; the caller resolves them, possibly much later; rj_gql_complete() shapes the
 * resolved JSON values by the selection sets into the response.
 *
 * Below the root there are no resolvers: a field's value is the property of the same name
 * in its parent's JSON object, which is what Ramjet's read models and command results are.
 * Completion implements the spec's CompleteValue: lists, non-null with null propagation to
 * the nearest nullable ancestor (one error per failure, at the deepest path), leaf
 * serialization with graphql-js's messages, abstract types resolved through a `__typename`
 * property (a value without one is a field error, as in graphql-js), and fragments/inline fragments
 * through CollectFields.
 *
 * A prepared operation holds references to its schema and document, so it outlives the
 * request that created it; completion never mutates it, so the pusher can complete one
 * subscription many times with new values.
 *
 * Deliberately not done here: validation (validate.c; prepare assumes a validated
 * document but never crashes on an invalid one) and introspection values
 * (introspection.c).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_int.h"

/* ---- @skip / @include, CollectFields ---------------------------------------------------- */

static bool
directive_if(const rj_gql_ast_directive_t *d, const json_t *variables, bool *value)
{
    for (const rj_gql_ast_argument_t *a = d->args; a != NULL; a = a->next) {
        if (strcmp(a->name, "if") != 0)
            continue;
        if (a->value->kind == RJ_GQL_VALUE_BOOLEAN) {
            *value = a->value->boolean;
            return true;
        }
        if (a->value->kind == RJ_GQL_VALUE_VARIABLE && variables != NULL) {
            json_t *v = json_object_get(variables, a->value->str);
            if (json_is_boolean(v)) {
                *value = json_is_true(v);
                return true;
            }
        }
    }
    return false;
}

bool
rj__gql_should_include(const rj_gql_ast_directive_t *dirs, const json_t *variables)
{
    bool v;
    const rj_gql_ast_directive_t *skip = rj_gql_directives_find(dirs, "skip");
    if (skip != NULL && directive_if(skip, variables, &v) && v)
        return false;
    const rj_gql_ast_directive_t *include = rj_gql_directives_find(dirs, "include");
    if (include != NULL && directive_if(include, variables, &v) && !v)
        return false;
    return true;
}

/*
 * DoesFragmentTypeApply. When the runtime type is itself abstract (a union or interface
 * value without a usable __typename), only conditions naming that very type apply.
 */
static bool
type_applies(const rj_gql_schema_t *s, const rj_gql_type_t *runtime, const char *cond)
{
    if (cond == NULL)
        return true;
    const rj_gql_type_t *ct = rj_gql_schema_find_type(s, cond);
    if (ct == NULL)
        return false;
    if (ct == runtime)
        return true;
    if (runtime->kind == RJ_GQL_KIND_OBJECT &&
        (ct->kind == RJ_GQL_KIND_INTERFACE || ct->kind == RJ_GQL_KIND_UNION))
        return rj_gql_type_is_possible(ct, runtime);
    return false;
}

static void
group_add(rj__gql_fields_t *out, const char *key, const rj_gql_ast_selection_t *node)
{
    /* Indexed, not scanned: a selection of many distinct keys stays linear. The map
     * holds 1 + the group's index, since groups move when the array grows. */
    size_t at = (size_t)(uintptr_t)rj__gql_map_get(&out->index, key);
    rj__gql_field_group_t *g = at > 0 ? &out->groups[at - 1] : NULL;
    if (g == NULL) {
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 8;
            out->groups = rj_xrealloc(out->groups, out->cap * sizeof(*out->groups));
        }
        g = &out->groups[out->n++];
        memset(g, 0, sizeof(*g));
        g->key = key;
        rj__gql_map_put(&out->index, key, (const void *)(uintptr_t)out->n);
    }
    if (g->nnodes == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 2;
        g->nodes = rj_xrealloc(g->nodes, g->cap * sizeof(*g->nodes));
    }
    g->nodes[g->nnodes++] = node;
}

typedef struct visited {
    rj__gql_map_t names; /* fragment names already spread */
} visited_t;

static void
collect(const rj_gql_schema_t *s, const rj_gql_doc_t *doc, const rj_gql_type_t *type,
        const rj_gql_ast_selection_t *sel, const json_t *variables, rj__gql_fields_t *out,
        visited_t *seen)
{
    for (; sel != NULL; sel = sel->next) {
        if (!rj__gql_should_include(sel->directives, variables))
            continue;
        switch (sel->kind) {
        case RJ_GQL_SEL_FIELD:
            group_add(out, sel->alias != NULL ? sel->alias : sel->name, sel);
            break;
        case RJ_GQL_SEL_INLINE_FRAGMENT:
            if (type_applies(s, type, sel->type_condition))
                collect(s, doc, type, sel->selections, variables, out, seen);
            break;
        case RJ_GQL_SEL_FRAGMENT_SPREAD: {
            if (rj__gql_map_get(&seen->names, sel->name) != NULL)
                break;
            rj__gql_map_put(&seen->names, sel->name, sel);
            const rj_gql_ast_definition_t *frag = rj__gql_doc_fragment(doc, sel->name);
            if (frag != NULL && type_applies(s, type, frag->type_condition))
                collect(s, doc, type, frag->selections, variables, out, seen);
            break;
        }
        }
    }
}

void
rj__gql_collect_fields(const rj_gql_schema_t *s, const rj_gql_doc_t *doc,
                       const rj_gql_type_t *type, const rj_gql_ast_selection_t *sel,
                       const json_t *variables, rj__gql_fields_t *out)
{
    visited_t seen = {0};
    collect(s, doc, type, sel, variables, out, &seen);
    rj__gql_map_deinit(&seen.names);
}

void
rj__gql_fields_deinit(rj__gql_fields_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->groups[i].nodes);
    free(f->groups);
    rj__gql_map_deinit(&f->index);
    memset(f, 0, sizeof(*f));
}

/* ---- prepared operations ------------------------------------------------------------------ */

typedef struct root_slot {
    rj_gql_root_field_t field;      /* what the caller sees */
    rj__gql_field_group_t group;    /* the field nodes of this response key (owned) */
    json_t *value;                  /* resolved value, or NULL while unset */
    json_t *error;                  /* field error object, or NULL */
    json_t *item_errors;            /* errors of items of its list value, or NULL */
} root_slot_t;

struct rj_gql_prepared {
    rj_gql_schema_t *schema;               /* referenced */
    rj_gql_doc_t *doc;                     /* referenced */
    const rj_gql_ast_definition_t *op;     /* the operation, in doc */
    const rj_gql_type_t *root_type;        /* its root type */
    json_t *variables;                     /* coerced variables (object) */
    root_slot_t *roots;                    /* root fields in response order */
    size_t nroots;                         /* number of root fields */
    bool keyed;                            /* values below the root are keyed by response
                                              key, not field name (a federation gateway) */
    json_t *errors_before;                 /* errors listed before completion's, or NULL */
    json_t *lost;                          /* paths of values lost upstream, or NULL */
};

static void
add_node_locations(json_t *err, const rj__gql_field_group_t *g)
{
    for (size_t i = 0; i < g->nnodes; i++)
        rj__gql_error_add_loc(err, g->nodes[i]->loc);
}

static json_t *
request_error(const rj_gql_loc_t *loc, const char *msg)
{
    json_t *errors = json_array();
    json_array_append_new(errors, rj__gql_error_new(loc, "%s", msg));
    return errors;
}

static const rj_gql_ast_definition_t *
select_operation(const rj_gql_doc_t *doc, const char *op_name, json_t **errors)
{
    const rj_gql_ast_definition_t *found = NULL;
    size_t nops = 0;
    for (const rj_gql_ast_definition_t *d = doc->defs; d != NULL; d = d->next) {
        if (d->kind != RJ_GQL_DEF_OPERATION)
            continue;
        nops++;
        if (op_name == NULL) {
            found = d;
        } else if (d->name != NULL && strcmp(d->name, op_name) == 0) {
            return d;
        }
    }
    char msg[300];
    if (op_name != NULL) {
        snprintf(msg, sizeof(msg), "Unknown operation named \"%s\".", op_name);
        *errors = request_error(NULL, msg);
        return NULL;
    }
    if (nops == 1)
        return found;
    *errors = request_error(NULL, nops == 0 ? "Must provide an operation."
                                            : "Must provide operation name if query contains "
                                              "multiple operations.");
    return NULL;
}

rj_status_t
rj_gql_prepare(rj_gql_schema_t *s, rj_gql_doc_t *doc, const char *op_name,
               const json_t *variables, rj_gql_prepared_t **out, json_t **errors)
{
    static const char *const op_words[] = {"query", "mutation", "subscription"};
    json_t *errs = NULL;
    *out = NULL;
    const rj_gql_ast_definition_t *op = select_operation(doc, op_name, &errs);
    if (op == NULL)
        goto fail;
    const rj_gql_type_t *root_type = s->roots[op->op];
    if (root_type == NULL) {
        char msg[100];
        snprintf(msg, sizeof(msg), "Schema is not configured to execute %s operation.",
                 op_words[op->op]);
        errs = request_error(&op->loc, msg);
        goto fail;
    }
    if (variables != NULL && !json_is_object(variables)) {
        errs = request_error(NULL, "Variables must be provided as an Object where each property "
                                   "is a variable value. Perhaps look to see if an unparsed "
                                   "JSON string was provided.");
        goto fail;
    }
    errs = json_array();
    json_t *vars = rj__gql_coerce_variables(s, op, variables, errs);
    if (vars == NULL)
        goto fail;
    json_decref(errs);
    errs = NULL;

    rj_gql_prepared_t *p = rj_xcalloc(1, sizeof(*p));
    p->schema = rj_gql_schema_ref(s);
    p->doc = rj_gql_doc_ref(doc);
    p->op = op;
    p->root_type = root_type;
    p->variables = vars;

    rj__gql_fields_t fields = {0};
    rj__gql_collect_fields(s, doc, root_type, op->selections, vars, &fields);
    p->roots = rj_xcalloc(fields.n + 1, sizeof(*p->roots));
    for (size_t i = 0; i < fields.n; i++) {
        rj__gql_field_group_t *g = &fields.groups[i];
        const rj_gql_ast_selection_t *node = g->nodes[0];
        const rj_gql_field_def_t *def = rj__gql_field_lookup(s, root_type, node->name);
        if (def == NULL) {
            /* graphql-js skips fields the schema does not define; validation reports them. */
            free(g->nodes);
            continue;
        }
        root_slot_t *slot = &p->roots[p->nroots++];
        slot->group = *g;
        slot->field.response_key = g->key;
        slot->field.name = node->name;
        slot->field.node = node;
        slot->field.def = def == s->meta_typename ? NULL : def;
        slot->field.internal = def == s->meta_typename || def == s->meta_schema ||
                               def == s->meta_type;
        json_t *err = NULL;
        slot->field.args = rj__gql_coerce_args(s, def->args, def->nargs, node->args, vars,
                                               node->loc, &err);
        if (slot->field.args == NULL) {
            /* An argument error is a field error: the field is null, the rest executes. */
            slot->field.args = json_object();
            slot->field.internal = true;
            json_object_set_new(err, "path", json_pack("[s]", g->key));
            slot->error = err;
        }
    }
    free(fields.groups); /* the groups' nodes moved into the root slots */
    rj__gql_map_deinit(&fields.index);
    *out = p;
    if (errors != NULL)
        *errors = NULL;
    return RJ_OK;
fail:
    if (errors != NULL)
        *errors = errs;
    else
        json_decref(errs);
    return RJ_EINVAL;
}

rj_gql_op_type_t
rj_gql_prepared_op(const rj_gql_prepared_t *p)
{
    return p->op->op;
}

const char *
rj_gql_prepared_name(const rj_gql_prepared_t *p)
{
    return p->op->name;
}

const json_t *
rj_gql_prepared_variables_get(const rj_gql_prepared_t *p)
{
    return p->variables;
}

size_t
rj_gql_prepared_nroots(const rj_gql_prepared_t *p)
{
    return p->nroots;
}

const rj_gql_root_field_t *
rj_gql_prepared_root(const rj_gql_prepared_t *p, size_t i)
{
    return i < p->nroots ? &p->roots[i].field : NULL;
}

void
rj_gql_prepared_set_result_take(rj_gql_prepared_t *p, size_t i, json_t *value)
{
    if (i >= p->nroots) {
        json_decref(value);
        return;
    }
    json_decref(p->roots[i].value);
    p->roots[i].value = value;
}

/* An error object at the root field's nodes, path [response_key] and @p index if >= 0. */
static json_t *
root_error(const root_slot_t *slot, long index, const char *message, const char *code)
{
    json_t *err = json_pack("{s:s}", "message", message != NULL ? message : "Unknown error");
    add_node_locations(err, &slot->group);
    json_t *path = json_pack("[s]", slot->field.response_key);
    if (index >= 0)
        json_array_append_new(path, json_integer(index));
    json_object_set_new(err, "path", path);
    json_t *ext = json_object();
    if (code != NULL && code[0] != '\0')
        json_object_set_new(ext, "code", json_string(code));
    json_object_set_new(err, "extensions", ext);
    return err;
}

void
rj_gql_prepared_add_item_error(rj_gql_prepared_t *p, size_t i, size_t index, const char *message,
                               const char *code)
{
    if (i >= p->nroots)
        return;
    root_slot_t *slot = &p->roots[i];
    if (slot->item_errors == NULL)
        slot->item_errors = json_array();
    json_array_append_new(slot->item_errors, root_error(slot, (long)index, message, code));
}

void
rj_gql_prepared_set_error(rj_gql_prepared_t *p, size_t i, const char *message, const char *code)
{
    if (i >= p->nroots)
        return;
    root_slot_t *slot = &p->roots[i];
    json_t *err = root_error(slot, -1, message, code);
    json_decref(slot->error);
    slot->error = err;
    json_decref(slot->value);
    slot->value = NULL;
}

void
rj_gql_prepared_free(rj_gql_prepared_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nroots; i++) {
        free(p->roots[i].group.nodes);
        json_decref(p->roots[i].field.args);
        json_decref(p->roots[i].value);
        json_decref(p->roots[i].error);
        json_decref(p->roots[i].item_errors);
    }
    free(p->roots);
    json_decref(p->errors_before);
    json_decref(p->lost);
    json_decref(p->variables);
    rj_gql_doc_free(p->doc);
    rj_gql_schema_free(p->schema);
    free(p);
}

void
rj_gql_prepared_set_keyed(rj_gql_prepared_t *p)
{
    p->keyed = true;
}

void
rj_gql_prepared_add_lost_take(rj_gql_prepared_t *p, json_t *path)
{
    if (p->lost == NULL)
        p->lost = json_array();
    json_array_append_new(p->lost, path);
}

void
rj_gql_prepared_add_error_take(rj_gql_prepared_t *p, json_t *error)
{
    if (p->errors_before == NULL)
        p->errors_before = json_array();
    json_array_append_new(p->errors_before, error);
}

/* ---- completion --------------------------------------------------------------------------- */

/* One step of the current response path: a response key, or a list index. */
typedef struct path_seg {
    const char *key; /* the response key (borrowed), or NULL for an index */
    size_t index;    /* with key NULL: the list index */
} path_seg_t;

/*
 * The current response path is a stack of borrowed keys and indexes, turned into JSON
 * only when an error needs it: a JSON array kept up to date cost a string allocated
 * for every field of every object completed.
 */
typedef struct complete_ctx {
    const rj_gql_prepared_t *p; /* the operation */
    json_t *errors;             /* field errors, in the order they occurred */
    path_seg_t *path;           /* the current response path */
    size_t depth, cap;          /* its length and the capacity of path */
} complete_ctx_t;

static void
path_push(complete_ctx_t *c, const char *key, size_t index)
{
    if (c->depth == c->cap) {
        c->cap = c->cap != 0 ? 2 * c->cap : 16;
        c->path = rj_xrealloc(c->path, c->cap * sizeof(*c->path));
    }
    c->path[c->depth++] = (path_seg_t){.key = key, .index = index};
}

/* The current path as a response path: a new JSON array. */
static json_t *
path_json(const complete_ctx_t *c)
{
    json_t *a = json_array();
    for (size_t k = 0; k < c->depth; k++)
        json_array_append_new(a, c->path[k].key != NULL
                                     ? json_string(c->path[k].key)
                                     : json_integer((json_int_t)c->path[k].index));
    return a;
}

/* True when the JSON path segment @p j is the current path's segment @p k. */
static bool
path_seg_equal(const complete_ctx_t *c, size_t k, const json_t *j)
{
    const path_seg_t *s = &c->path[k];
    if (s->key != NULL)
        return json_is_string(j) && strcmp(json_string_value(j), s->key) == 0;
    return json_is_integer(j) && json_integer_value(j) == (json_int_t)s->index;
}

/* Records a field error at the current path; the caller then returns NULL ("thrown"). */
static json_t *
field_error(complete_ctx_t *c, const rj__gql_field_group_t *g, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *
field_error(complete_ctx_t *c, const rj__gql_field_group_t *g, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *err = json_pack("{s:s}", "message", msg);
    add_node_locations(err, g);
    json_object_set_new(err, "path", path_json(c));
    json_array_append_new(c->errors, err);
    return NULL;
}

static bool
is_integral(double d)
{
    return isfinite(d) && d == floor(d);
}

/*
 * A finite double as JavaScript's JSON.stringify would print it (integral values as
 * integers), which is also Ramjet's one number encoding (rj_json_number).
 */
static json_t *
js_number(double d)
{
    return rj_json_number(d);
}

/*
 * @p v as graphql-js's inspect() prints it, into @p b (empty before). Only an error
 * message or a conversion to String or ID needs it: printing every leaf up front cost an
 * allocation per leaf of every answer.
 */
static const char *
inspected(rj_buf_t *b, const json_t *v)
{
    rj__gql_inspect(b, v);
    return b->data;
}

static json_t *
serialize_leaf(complete_ctx_t *c, const rj_gql_type_t *t, const json_t *v,
               const rj__gql_field_group_t *g)
{
    rj_buf_t b; /* inspected(): the value as graphql-js prints it, made only when needed */
    rj_buf_init(&b);
    json_t *r = NULL;
    const char *name = t->name;
    if (t->kind == RJ_GQL_KIND_ENUM) {
        if (json_is_string(v) && rj_gql_type_find_enum_value(t, json_string_value(v)) != NULL)
            r = json_incref((json_t *)v);
        else
            field_error(c, g, "Enum \"%s\" cannot represent value: %s", name, inspected(&b, v));
    } else if (!t->builtin) {
        r = json_incref((json_t *)v); /* custom scalars (JSON, Date...) pass through */
    } else if (strcmp(name, "Int") == 0) {
        double d = NAN;
        if (json_is_number(v))
            d = json_number_value(v);
        else if (json_is_boolean(v))
            d = json_is_true(v);
        else if (json_is_string(v) && json_string_length(v) > 0) {
            char *end;
            d = strtod(json_string_value(v), &end);
            if (*end != '\0')
                d = NAN;
        }
        if (!is_integral(d))
            field_error(c, g, "Int cannot represent non-integer value: %s", inspected(&b, v));
        else if (d > 2147483647.0 || d < -2147483648.0)
            field_error(c, g, "Int cannot represent non 32-bit signed integer value: %s",
                        inspected(&b, v));
        else
            r = json_integer((json_int_t)d);
    } else if (strcmp(name, "Float") == 0) {
        double d = NAN;
        if (json_is_number(v))
            d = json_number_value(v);
        else if (json_is_boolean(v))
            d = json_is_true(v);
        else if (json_is_string(v) && json_string_length(v) > 0) {
            char *end;
            d = strtod(json_string_value(v), &end);
            if (*end != '\0')
                d = NAN;
        }
        if (!isfinite(d))
            field_error(c, g, "Float cannot represent non numeric value: %s", inspected(&b, v));
        else
            r = js_number(d);
    } else if (strcmp(name, "String") == 0) {
        if (json_is_string(v))
            r = json_incref((json_t *)v);
        else if (json_is_boolean(v) || json_is_number(v))
            /* inspect() of a number or boolean is its toString() */
            r = json_string(inspected(&b, v));
        else
            field_error(c, g, "String cannot represent value: %s", inspected(&b, v));
    } else if (strcmp(name, "Boolean") == 0) {
        if (json_is_boolean(v))
            r = json_incref((json_t *)v);
        else if (json_is_number(v) && isfinite(json_number_value(v)))
            r = json_boolean(json_number_value(v) != 0);
        else
            field_error(c, g, "Boolean cannot represent a non boolean value: %s", inspected(&b, v));
    } else if (strcmp(name, "ID") == 0) {
        if (json_is_string(v))
            r = json_incref((json_t *)v);
        else if (json_is_integer(v) || (json_is_real(v) && is_integral(json_real_value(v))))
            r = json_string(inspected(&b, v));
        else
            field_error(c, g, "ID cannot represent value: %s", inspected(&b, v));
    } else {
        r = json_incref((json_t *)v);
    }
    rj_buf_deinit(&b);
    return r;
}

static json_t *complete_value(complete_ctx_t *c, const rj_gql_type_t *parent,
                              const rj_gql_field_def_t *def, const rj_gql_type_ref_t *type,
                              const rj__gql_field_group_t *g, const json_t *v);

/*
 * True when an error given beforehand (rj_gql_prepared_add_error_take: a federated
 * service's) lies at the current path or below it: the service already reported why the
 * value is null there, and the spec propagates a null raised with an error without
 * adding a second one.
 */
/* True when @p prefix is a prefix of (or equal to) the current path. */
static bool
path_prefix(const json_t *prefix, const complete_ctx_t *c)
{
    size_t n = json_array_size(prefix);
    if (c->depth < n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (!path_seg_equal(c, k, json_array_get(prefix, k)))
            return false;
    return true;
}

/* True when the current path is at or below a value lost upstream. */
static bool
lost_at_or_above(const complete_ctx_t *c)
{
    for (size_t i = 0; i < json_array_size(c->p->lost); i++)
        if (path_prefix(json_array_get(c->p->lost, i), c))
            return true;
    return false;
}

static bool
reported_at_or_below(const complete_ctx_t *c)
{
    const json_t *errors = c->p->errors_before;
    size_t depth = c->depth;
    for (size_t i = 0; i < json_array_size(errors); i++) {
        const json_t *path = json_object_get(json_array_get(errors, i), "path");
        if (json_array_size(path) < depth)
            continue;
        bool prefix = true;
        for (size_t k = 0; k < depth && prefix; k++)
            prefix = path_seg_equal(c, k, json_array_get(path, k));
        if (prefix)
            return true;
    }
    return false;
}

/*
 * A field with a resolver (rj_gql_schema_set_field_resolver): its value is computed from
 * the parent, here, so only selected fields cost anything; the resolver's failure is a
 * field error at the current path, which the caller nulls or propagates.
 */
static json_t *
complete_resolved(complete_ctx_t *c, const rj_gql_type_t *t, const rj_gql_field_def_t *fd,
                  const rj__gql_field_group_t *g, const json_t *parent)
{
    rj_error_t e;
    rj_error_clear(&e);
    json_t *fv = NULL;
    if (fd->resolve(fd->resolve_ud, parent, &fv, &e) != RJ_OK) {
        json_decref(fv);
        field_error(c, g, "%s", e.msg[0] != '\0' ? e.msg : "could not resolve the field");
        if (e.code[0] != '\0') {
            json_t *last = json_array_get(c->errors, json_array_size(c->errors) - 1);
            json_object_set_new(last, "extensions", json_pack("{s:s}", "code", e.code));
        }
        return NULL;
    }
    json_t *r = complete_value(c, t, fd, fd->type, g, fv);
    json_decref(fv);
    return r;
}

/* Completes the selection sets of all nodes in @p g for an object of type @p t. */
static json_t *
complete_object(complete_ctx_t *c, const rj_gql_type_t *t, const rj__gql_field_group_t *g,
                const json_t *v)
{
    const rj_gql_prepared_t *p = c->p;
    rj__gql_fields_t sub = {0};
    for (size_t i = 0; i < g->nnodes; i++)
        rj__gql_collect_fields(p->schema, p->doc, t, g->nodes[i]->selections, p->variables,
                               &sub);
    json_t *out = json_object();
    bool failed = false;
    for (size_t i = 0; i < sub.n && !failed; i++) {
        rj__gql_field_group_t *sg = &sub.groups[i];
        const char *fname = sg->nodes[0]->name;
        if (strcmp(fname, "__typename") == 0) {
            json_object_set_new(out, sg->key, json_string(t->name));
            continue;
        }
        const rj_gql_field_def_t *fd = rj__gql_field_lookup(p->schema, t, fname);
        if (fd == NULL)
            continue;
        path_push(c, sg->key, 0);
        json_t *r =
            fd->resolve != NULL
                ? complete_resolved(c, t, fd, sg, v)
                : complete_value(c, t, fd, fd->type, sg,
                                 json_is_object(v) ? json_object_get(v, p->keyed ? sg->key : fname)
                                                   : NULL);
        c->depth--;
        if (r == NULL) {
            if (fd->type->kind == RJ_GQL_TYPE_NON_NULL)
                failed = true; /* propagate to our parent */
            else
                json_object_set_new(out, sg->key, json_null());
        } else {
            json_object_set_new(out, sg->key, r);
        }
    }
    rj__gql_fields_deinit(&sub);
    if (failed) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/*
 * CompleteValue. Returns a new reference, or NULL when an error was raised (and recorded)
 * that the caller must turn into null or propagate further if it is non-null itself.
 */
static json_t *
complete_value(complete_ctx_t *c, const rj_gql_type_t *parent, const rj_gql_field_def_t *def,
               const rj_gql_type_ref_t *type, const rj__gql_field_group_t *g, const json_t *v)
{
    if (type->kind == RJ_GQL_TYPE_NON_NULL) {
        json_t *r = complete_value(c, parent, def, type->of_type, g, v);
        if (r == NULL)
            return NULL;
        if (json_is_null(r)) {
            json_decref(r);
            if (reported_at_or_below(c) || lost_at_or_above(c))
                return NULL;
            return field_error(c, g, "Cannot return null for non-nullable field %s.%s.",
                               parent->name, def->name);
        }
        return r;
    }
    if (v == NULL || json_is_null(v))
        return json_null();
    if (type->kind == RJ_GQL_TYPE_LIST) {
        if (!json_is_array(v))
            return field_error(c, g,
                               "Expected Iterable, but did not find one for field \"%s.%s\".",
                               parent->name, def->name);
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(v); i++) {
            path_push(c, NULL, i);
            json_t *r = complete_value(c, parent, def, type->of_type, g, json_array_get(v, i));
            c->depth--;
            if (r == NULL) {
                if (type->of_type->kind == RJ_GQL_TYPE_NON_NULL) {
                    json_decref(out);
                    return NULL;
                }
                r = json_null();
            }
            json_array_append_new(out, r);
        }
        return out;
    }
    const rj_gql_type_t *t = rj_gql_schema_find_type(c->p->schema, type->name);
    if (t == NULL)
        return json_null();
    switch (t->kind) {
    case RJ_GQL_KIND_SCALAR:
    case RJ_GQL_KIND_ENUM:
        return serialize_leaf(c, t, v, g);
    case RJ_GQL_KIND_OBJECT:
        return complete_object(c, t, g, v);
    case RJ_GQL_KIND_INTERFACE:
    case RJ_GQL_KIND_UNION: {
        /*
         * ResolveAbstractType as graphql-js's defaultTypeResolver does it: the value names
         * its object type in a string __typename. A value without one is a field error,
         * never the abstract type standing in: __typename must name an object type, and
         * clients with normalized caches (Apollo's possibleTypes) depend on that.
         */
        const json_t *tn = json_is_object(v) ? json_object_get(v, "__typename") : NULL;
        if (!json_is_string(tn))
            return field_error(c, g,
                               "Abstract type \"%s\" must resolve to an Object type at runtime "
                               "for field \"%s.%s\". Either the \"%s\" type should provide a "
                               "\"resolveType\" function or each possible type should provide an "
                               "\"isTypeOf\" function.",
                               t->name, parent->name, def->name, t->name);
        const rj_gql_type_t *rt = rj_gql_schema_find_type(c->p->schema, json_string_value(tn));
        if (rt == NULL)
            return field_error(c, g,
                               "Abstract type \"%s\" was resolved to a type \"%s\" that does "
                               "not exist inside the schema.",
                               t->name, json_string_value(tn));
        if (rt->kind != RJ_GQL_KIND_OBJECT)
            return field_error(c, g,
                               "Abstract type \"%s\" was resolved to a non-object type \"%s\".",
                               t->name, rt->name);
        if (!rj_gql_type_is_possible(t, rt))
            return field_error(c, g,
                               "Runtime Object type \"%s\" is not a possible type for \"%s\".",
                               rt->name, t->name);
        return complete_object(c, rt, g, v);
    }
    case RJ_GQL_KIND_INPUT_OBJECT:
        break;
    }
    return json_null();
}

static json_t *
complete(const rj_gql_prepared_t *p, size_t override_i, const json_t *override_v)
{
    complete_ctx_t c = {.p = p, .errors = json_array()};
    if (p->errors_before != NULL)
        json_array_extend(c.errors, p->errors_before);
    json_t *data = json_object();
    bool data_null = false;
    for (size_t i = 0; i < p->nroots && !data_null; i++) {
        const root_slot_t *slot = &p->roots[i];
        const rj_gql_root_field_t *f = &slot->field;
        const rj_gql_field_def_t *def = f->def;
        json_t *r;
        if (slot->error != NULL && (i != override_i || f->internal)) {
            json_array_append(c.errors, slot->error);
            r = NULL;
        } else if (def == NULL) {
            r = json_string(p->root_type->name); /* __typename */
        } else if (def == p->schema->meta_schema || def == p->schema->meta_type) {
            r = rj__gql_introspect(p->schema, p->doc, def, &slot->group, f->args, p->variables);
        } else {
            const json_t *v = i == override_i ? override_v : slot->value;
            if (slot->item_errors != NULL && i != override_i)
                json_array_extend(c.errors, slot->item_errors);
            path_push(&c, f->response_key, 0);
            r = complete_value(&c, p->root_type, def, def->type, &slot->group, v);
            c.depth = 0;
        }
        if (r == NULL) {
            if (def != NULL && def->type->kind == RJ_GQL_TYPE_NON_NULL)
                data_null = true;
            else
                json_object_set_new(data, f->response_key, json_null());
        } else {
            json_object_set_new(data, f->response_key, r);
        }
    }
    json_t *resp = json_object();
    if (json_array_size(c.errors) > 0)
        json_object_set(resp, "errors", c.errors);
    if (data_null) {
        json_decref(data);
        data = json_null();
    }
    json_object_set_new(resp, "data", data);
    json_decref(c.errors);
    free(c.path);
    return resp;
}

json_t *
rj_gql_complete(const rj_gql_prepared_t *p)
{
    return complete(p, SIZE_MAX, NULL);
}

json_t *
rj_gql_complete_with(const rj_gql_prepared_t *p, size_t i, const json_t *value)
{
    return complete(p, i, value);
}

/* ---- synchronous execution ---------------------------------------------------------------- */

static json_t *
errors_response_take(json_t *errors)
{
    json_t *resp = json_object();
    json_object_set_new(resp, "errors", errors);
    return resp;
}

json_t *
rj_gql_execute_sync(rj_gql_schema_t *s, rj_gql_doc_t *doc, const char *op_name,
                    const json_t *variables, rj_gql_resolve_fn resolve, void *ud)
{
    json_t *errors = rj_gql_validate(s, doc);
    if (errors != NULL)
        return errors_response_take(errors);
    rj_gql_prepared_t *p;
    if (rj_gql_prepare(s, doc, op_name, variables, &p, &errors) != RJ_OK)
        return errors_response_take(errors);
    for (size_t i = 0; i < p->nroots; i++) {
        const rj_gql_root_field_t *f = &p->roots[i].field;
        if (f->internal)
            continue;
        json_t *value = NULL;
        rj_error_t err;
        rj_error_clear(&err);
        if (resolve(ud, f, &value, &err) != RJ_OK) {
            json_decref(value);
            const char *code = err.code[0] != '\0' ? err.code : NULL;
            rj_gql_prepared_set_error(p, i, err.msg[0] != '\0' ? err.msg : "Unknown error", code);
        } else {
            rj_gql_prepared_set_result_take(p, i, value != NULL ? value : json_null());
        }
    }
    json_t *resp = rj_gql_complete(p);
    rj_gql_prepared_free(p);
    return resp;
}
