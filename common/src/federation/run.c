/*
 * federation/run.c - running a plan for one request: due fetches become request bodies,
 * answers merge into one data tree keyed by the client's response keys, and the
 * services' errors are kept with the client's paths.
 *
 * Fetches go out level by level (depth in the fetch tree), a mutation's whole subtree
 * before the next mutation. An entity fetch becomes due when its level comes and its
 * parent's answer is in. Its representations are
 * gathered then, from the merged tree at the fetch's path: every object of the fetch's
 * type, through lists, gives one; identical representations are sent once and their
 * answer merged into every object that gave them. A fetch that finds no object (all
 * skipped, null or failed) is not sent, nor are its children.
 *
 * This file does no I/O: the caller sends the requests (services/gateway does it with
 * libcurl on its loop) and delivers the answers, so the unit tests can play services.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "federation/federation.h"
#include "json/envelope.h"

#define ALIAS_PREFIX "_rj_" /* as in plan.c */

typedef enum fstate {
    F_WAITING, /* its parent has not answered */
    F_READY,   /* due: to be turned into a request */
    F_SENT,    /* handed to the caller, answer pending */
    F_DONE,    /* answered, failed or skipped */
} fstate_t;

/*
 * One object an entity fetch's answer merges into. Its response path is needed only for
 * an error or a lost entity, so it is kept as steps, printed as JSON on demand: a step
 * k >= 0 is list index k, a step k < 0 the fetch's path key -k - 1.
 */
typedef struct target {
    json_t *obj;  /* the object in the tree (a reference) */
    size_t steps; /* where its path's steps start in the fetch's steps */
    size_t nstep; /* how many */
    size_t rep;   /* the representation it gave */
} target_t;

typedef struct fetch_run {
    fstate_t state;    /* where it is */
    target_t *targets; /* entities: objects its answer merges into */
    size_t ntargets;   /* count */
    size_t nreps;      /* distinct representations sent */
    long *steps;       /* the targets' paths, one after another */
} fetch_run_t;

/*
 * One request handed out: the fetches it carries. Several are either aliased _entities
 * calls of one document, or (array) the operations of a batched request.
 */
typedef struct batch {
    size_t *fetches; /* fetch ids, in alias order e0, e1, ... or in array order */
    size_t n;        /* how many */
    bool array;      /* sent as a JSON array of operations, answered by an array */
} batch_t;

struct rj_fed_run {
    const rj_fed_plan_t *plan; /* borrowed */
    const rj_fed_graph_t *g;   /* borrowed */
    json_t *variables;         /* the request's coerced variables (a reference) */
    json_t *data;              /* the merged answers */
    json_t *errors;            /* the errors, client paths */
    json_t *lost;              /* paths of entities their service answered null for */
    fetch_run_t *fs;           /* per fetch, by id */
    size_t next_root;          /* serial plans: the next root fetch to make ready */
    size_t *parent;            /* per fetch: its parent's id, SIZE_MAX for roots */
    size_t *root_of;           /* per fetch: the index in plan->roots of its root */
    size_t pending;            /* fetches not F_DONE */
    uint64_t batched;          /* services taking a JSON array of operations */
    batch_t *batches;          /* requests handed out, by id */
    size_t nbatches, cap;      /* count and capacity */
};

rj_fed_run_t *
rj_fed_run_new(const rj_fed_plan_t *plan, const rj_fed_graph_t *g, const json_t *variables)
{
    rj_fed_run_t *r = rj_xcalloc(1, sizeof(*r));
    r->plan = plan;
    r->g = g;
    r->variables = variables != NULL ? json_incref((json_t *)variables) : json_object();
    r->data = json_object();
    r->errors = json_array();
    r->lost = json_array();
    r->fs = rj_xcalloc(plan->nall + 1, sizeof(*r->fs));
    r->pending = plan->nall;
    for (size_t i = 0; i < plan->nroots; i++)
        if (!plan->serial || i == 0)
            r->fs[plan->roots[i]->id].state = F_READY;
    r->next_root = 1;
    r->parent = rj_xmalloc((plan->nall + 1) * sizeof(size_t));
    r->root_of = rj_xmalloc((plan->nall + 1) * sizeof(size_t));
    for (size_t i = 0; i < plan->nall; i++)
        r->parent[i] = SIZE_MAX;
    /* Parents come before children in plan->all: one pass gives every fetch its root. */
    for (size_t i = 0; i < plan->nroots; i++)
        r->root_of[plan->roots[i]->id] = i;
    for (size_t i = 0; i < plan->nall; i++)
        for (size_t c = 0; c < plan->all[i]->nchildren; c++) {
            size_t id = plan->all[i]->children[c]->id;
            r->parent[id] = i;
            r->root_of[id] = r->root_of[i];
        }
    return r;
}

static void
free_targets(fetch_run_t *f)
{
    for (size_t i = 0; i < f->ntargets; i++)
        json_decref(f->targets[i].obj);
    free(f->targets);
    free(f->steps);
    f->targets = NULL;
    f->steps = NULL;
    f->ntargets = 0;
}

void
rj_fed_run_free(rj_fed_run_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->plan->nall; i++)
        free_targets(&r->fs[i]);
    free(r->fs);
    free(r->parent);
    free(r->root_of);
    for (size_t i = 0; i < r->nbatches; i++)
        free(r->batches[i].fetches);
    free(r->batches);
    json_decref(r->variables);
    json_decref(r->data);
    json_decref(r->errors);
    json_decref(r->lost);
    free(r);
}

bool
rj_fed_run_done(const rj_fed_run_t *r)
{
    return r->pending == 0;
}

void
rj_fed_run_set_batched(rj_fed_run_t *r, uint64_t services)
{
    r->batched = services;
}

const json_t *
rj_fed_run_data_get(const rj_fed_run_t *r)
{
    return r->data;
}

const json_t *
rj_fed_run_errors_get(const rj_fed_run_t *r)
{
    return r->errors;
}

const json_t *
rj_fed_run_lost_get(const rj_fed_run_t *r)
{
    return r->lost;
}

void
rj_fed_request_deinit(rj_fed_request_t *q)
{
    json_decref(q->body);
    q->body = NULL;
}

/* ---- representations ------------------------------------------------------------------- */

/*
 * Copies a field set's values from an object as the parent fetch returned it (under the
 * gateway's aliases) into a representation (under the fields' names). False when a value
 * is missing: the parent did not deliver, and the object cannot be represented.
 */
static bool
copy_fieldset(const json_t *obj, const rj_gql_ast_selection_t *fs, json_t *out)
{
    for (; fs != NULL; fs = fs->next) {
        /* "_rj_<name>", cut at 255 bytes as plan.c's names never are; not snprintf(),
           which cost more than the rest of the copy. */
        char alias[256] = ALIAS_PREFIX;
        size_t n = strlen(fs->name);
        if (n > sizeof alias - sizeof ALIAS_PREFIX)
            n = sizeof alias - sizeof ALIAS_PREFIX;
        memcpy(alias + sizeof ALIAS_PREFIX - 1, fs->name, n);
        alias[sizeof ALIAS_PREFIX - 1 + n] = '\0';
        const json_t *v = json_object_get(obj, alias);
        if (v == NULL)
            return false;
        if (fs->selections == NULL || json_is_null(v)) {
            json_object_set(out, fs->name, (json_t *)v);
        } else if (json_is_object(v)) {
            json_t *sub = json_object();
            json_object_set_new(out, fs->name, sub);
            if (!copy_fieldset(v, fs->selections, sub))
                return false;
        } else if (json_is_array(v)) {
            json_t *arr = json_array();
            json_object_set_new(out, fs->name, arr);
            for (size_t i = 0; i < json_array_size(v); i++) {
                json_t *sub = json_object();
                json_array_append_new(arr, sub);
                if (!copy_fieldset(json_array_get(v, i), fs->selections, sub))
                    return false;
            }
        } else {
            return false;
        }
    }
    return true;
}

typedef struct gather {
    const rj_fed_fetch_t *fetch; /* the entity fetch */
    fetch_run_t *fr;             /* its state */
    size_t cap;                  /* capacity of fr->targets */
    size_t nsteps, steps_cap;    /* length and capacity of fr->steps */
    long *path;                  /* the current path's steps (as target_t's) */
    size_t depth, path_cap;      /* its length and capacity */
    json_t *reps;                /* distinct representations, in first-seen order */
    json_t *seen;                /* serialised representation -> index */
} gather_t;

static void
path_push(gather_t *g, long step)
{
    if (g->depth == g->path_cap) {
        g->path_cap = g->path_cap != 0 ? 2 * g->path_cap : 16;
        g->path = rj_xrealloc(g->path, g->path_cap * sizeof(*g->path));
    }
    g->path[g->depth++] = step;
}

/* A target's response path: a new JSON array. */
static json_t *
target_path(const rj_fed_fetch_t *f, const fetch_run_t *fr, const target_t *t)
{
    json_t *p = json_array();
    for (size_t k = 0; k < t->nstep; k++) {
        long step = fr->steps[t->steps + k];
        json_array_append_new(p, step >= 0 ? json_integer((json_int_t)step)
                                           : json_string(f->path[-step - 1]));
    }
    return p;
}

static void
gather(gather_t *g, json_t *node, size_t depth)
{
    if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++) {
            path_push(g, (long)i);
            gather(g, json_array_get(node, i), depth);
            g->depth--;
        }
        return;
    }
    if (!json_is_object(node))
        return;
    if (depth < g->fetch->npath) {
        /* Only through the member type the fetch was planned for (... on Bundle). */
        const char *want = g->fetch->path_types[depth];
        const char *is = json_string_value(json_object_get(node, "__typename"));
        if (want != NULL && is != NULL && strcmp(want, is) != 0)
            return;
        json_t *child = json_object_get(node, g->fetch->path[depth]);
        if (child == NULL)
            return;
        path_push(g, -(long)depth - 1);
        gather(g, child, depth + 1);
        g->depth--;
        return;
    }
    const char *tn = json_string_value(json_object_get(node, "__typename"));
    if (tn == NULL || strcmp(tn, g->fetch->type) != 0)
        return;
    /*
     * The key (reps[0]) must be there. The @requires field sets after it may not be: the
     * parent asked for them where the requiring field stands, perhaps inside a fragment
     * the client's @skip/@include left out, and then that field is not asked either.
     */
    json_t *rep = json_object();
    json_object_set_new_nocheck(rep, "__typename", json_string_nocheck(tn));
    if (g->fetch->nreps == 0 || !copy_fieldset(node, g->fetch->reps[0], rep)) {
        json_decref(rep);
        return;
    }
    for (size_t i = 1; i < g->fetch->nreps; i++) {
        json_t *extra = json_object();
        if (copy_fieldset(node, g->fetch->reps[i], extra))
            json_object_update(rep, extra);
        json_decref(extra);
    }
    /*
     * Unsorted keys compare alike: every representation of one fetch is built in the
     * same order (__typename, the key's fields, then each @requires), so equal ones
     * print equal. (Were two equal ones to print differently - a custom scalar's object
     * value in the key, its keys in another order - both would be sent: a wasted
     * representation, never a wrong answer.)
     */
    char *key = rj_json_dumps(rep);
    json_t *idx = json_object_get(g->seen, key);
    size_t rep_i;
    if (idx != NULL) {
        rep_i = (size_t)json_integer_value(idx);
        json_decref(rep);
    } else {
        rep_i = json_array_size(g->reps);
        json_object_set_new(g->seen, key, json_integer((json_int_t)rep_i));
        json_array_append_new(g->reps, rep);
    }
    free(key);
    fetch_run_t *fr = g->fr;
    if (fr->ntargets == g->cap) {
        g->cap = g->cap != 0 ? 2 * g->cap : 8;
        fr->targets = rj_xrealloc(fr->targets, g->cap * sizeof(*fr->targets));
    }
    if (g->nsteps + g->depth > g->steps_cap) {
        g->steps_cap = 2 * (g->nsteps + g->depth) + 16;
        fr->steps = rj_xrealloc(fr->steps, g->steps_cap * sizeof(*fr->steps));
    }
    if (g->depth > 0)
        memcpy(fr->steps + g->nsteps, g->path, g->depth * sizeof(*g->path));
    fr->targets[fr->ntargets++] = (target_t){
        .obj = json_incref(node),
        .steps = g->nsteps,
        .nstep = g->depth,
        .rep = rep_i,
    };
    g->nsteps += g->depth;
}

/* ---- scheduling ------------------------------------------------------------------------ */

static void
finish(rj_fed_run_t *r, const rj_fed_fetch_t *f, bool answered)
{
    r->fs[f->id].state = F_DONE;
    r->pending--;
    for (size_t i = 0; i < f->nchildren; i++) {
        if (answered)
            r->fs[f->children[i]->id].state = F_READY;
        else
            finish(r, f->children[i], false); /* nothing to represent */
    }
}

/*
 * Serial plans (mutations): the next root field starts when everything of the previous
 * one is done, its entity fetches included, so each mutation's answer is complete before
 * the next one runs, as the spec's serial execution asks.
 */
static void
start_next_root(rj_fed_run_t *r)
{
    if (!r->plan->serial || r->next_root >= r->plan->nroots)
        return;
    size_t prev = r->next_root - 1;
    for (size_t i = 0; i < r->plan->nall; i++)
        if (r->root_of[i] == prev && r->fs[i].state != F_DONE)
            return;
    r->fs[r->plan->roots[r->next_root++]->id].state = F_READY;
}

static json_t *
request_variables(const rj_fed_run_t *r, const rj_fed_fetch_t *f)
{
    json_t *vars = json_object();
    for (size_t i = 0; i < f->nvariables; i++) {
        json_t *v = json_object_get(r->variables, f->variables[i]);
        if (v != NULL)
            json_object_set(vars, f->variables[i], v);
    }
    return vars;
}

/* The smallest depth of a fetch not done yet; SIZE_MAX when all are. */
static size_t
pending_depth(const rj_fed_run_t *r)
{
    size_t d = SIZE_MAX;
    for (size_t i = 0; i < r->plan->nall; i++) {
        /* A fetch whose parent has not started (below a later root of a serial plan) is
           not pending at any level yet. */
        if (r->fs[i].state == F_WAITING &&
            (r->parent[i] == SIZE_MAX || r->fs[r->parent[i]].state == F_WAITING ||
             r->fs[r->parent[i]].state == F_DONE))
            continue;
        if (r->fs[i].state != F_DONE && r->plan->all[i]->depth < d)
            d = r->plan->all[i]->depth;
    }
    return d;
}

/* Gathers an entity fetch's representations; NULL (and the fetch finished) when none. */
static json_t *
gather_reps(rj_fed_run_t *r, const rj_fed_fetch_t *f)
{
    fetch_run_t *fr = &r->fs[f->id];
    gather_t g = {.fetch = f, .fr = fr, .reps = json_array(), .seen = json_object()};
    gather(&g, r->data, 0);
    free(g.path);
    json_decref(g.seen);
    fr->nreps = json_array_size(g.reps);
    if (fr->nreps > 0)
        return g.reps;
    json_decref(g.reps);
    finish(r, f, false);
    return NULL;
}

/* {"query": @p query, "variables": @p vars (taken)}, built directly: json_pack() parses
   its format string for every request. */
static json_t *
query_body(const char *query, json_t *vars)
{
    json_t *body = json_object();
    json_object_set_new_nocheck(body, "query", json_string(query));
    json_object_set_new_nocheck(body, "variables", vars);
    return body;
}

/*
 * The body of a request carrying several entity fetches of one service: each under its
 * own alias e<i> of _entities with its own representations $r<i>, the variables of all.
 */
static json_t *
joined_body(const rj_fed_run_t *r, const batch_t *b, json_t **reps)
{
    rj_buf_t q, sel;
    rj_buf_init(&q);
    rj_buf_init(&sel);
    json_t *vars = json_object();
    json_t *defined = json_object(); /* variable names already declared */
    rj_buf_puts(&q, "query(");
    for (size_t j = 0; j < b->n; j++) {
        const rj_fed_fetch_t *f = r->plan->all[b->fetches[j]];
        rj_buf_printf(&q, "%s$r%zu: [_Any!]!", j > 0 ? ", " : "", j);
        for (size_t v = 0; v < f->nvariables; v++) {
            if (json_object_get(defined, f->variables[v]) != NULL)
                continue;
            json_object_set_new(defined, f->variables[v], json_true());
            rj_buf_printf(&q, ", %s", f->variable_defs[v]);
            json_t *value = json_object_get(r->variables, f->variables[v]);
            if (value != NULL)
                json_object_set(vars, f->variables[v], value);
        }
        rj_buf_printf(&sel, " e%zu: _entities(representations: $r%zu) { %s }", j, j, f->selection);
        char name[32];
        snprintf(name, sizeof name, "r%zu", j);
        json_object_set_new(vars, name, reps[j]);
    }
    rj_buf_printf(&q, ") {%s }", sel.data);
    json_t *body = query_body(q.data, vars);
    json_decref(defined);
    rj_buf_deinit(&q);
    rj_buf_deinit(&sel);
    return body;
}

/*
 * The body of a request to a service that takes batched queries (allowBatchedQueries):
 * a JSON array of the fetches' own documents, each with its variables and
 * representations, as @mercuriusjs/gateway sends it. The documents are the plan's, the
 * same for every request.
 */
static json_t *
array_body(const rj_fed_run_t *r, const batch_t *b, json_t **reps)
{
    json_t *body = json_array();
    for (size_t j = 0; j < b->n; j++) {
        const rj_fed_fetch_t *f = r->plan->all[b->fetches[j]];
        json_t *vars = request_variables(r, f);
        json_object_set_new(vars, "representations", reps[j]);
        json_array_append_new(body, query_body(f->query, vars));
    }
    return body;
}

static batch_t *
batch_add(rj_fed_run_t *r)
{
    if (r->nbatches == r->cap) {
        r->cap = r->cap != 0 ? 2 * r->cap : 8;
        r->batches = rj_xrealloc(r->batches, r->cap * sizeof(*r->batches));
    }
    batch_t *b = &r->batches[r->nbatches++];
    *b = (batch_t){.fetches = rj_xcalloc(r->plan->nall, sizeof(size_t))};
    return b;
}

/*
 * Level by level: fetches of one depth go out only when everything above is done, so
 * all the entity fetches of a service at that depth are due together and leave as one
 * request. This costs the latency of waiting for a level's slowest service, and saves a
 * request per path: a service is asked once per level.
 */
size_t
rj_fed_run_next(rj_fed_run_t *r, rj_fed_request_t *out, size_t max)
{
    size_t n = 0;
    for (;;) {
        start_next_root(r);
        size_t depth = pending_depth(r);
        if (depth == SIZE_MAX)
            return n;
        /* Representations first: fetches finding none finish, maybe ending the level. */
        json_t **reps = rj_xcalloc(r->plan->nall, sizeof(json_t *));
        bool any = false;
        for (size_t i = 0; i < r->plan->nall; i++) {
            const rj_fed_fetch_t *f = r->plan->all[i];
            if (r->fs[i].state != F_READY || f->depth != depth)
                continue;
            if (f->entities && (reps[i] = gather_reps(r, f)) == NULL)
                continue;
            any = true;
        }
        if (!any) {
            free(reps);
            if (pending_depth(r) != depth)
                continue; /* the level ended by skips: on to the next one */
            return n;
        }
        for (size_t i = 0; i < r->plan->nall && n < max; i++) {
            const rj_fed_fetch_t *f = r->plan->all[i];
            if (r->fs[i].state != F_READY || f->depth != depth)
                continue;
            batch_t *b = batch_add(r);
            b->fetches[b->n++] = i;
            r->fs[i].state = F_SENT;
            /* Root fetches are one per service already; entity fetches join theirs. */
            for (size_t j = i + 1; f->entities && j < r->plan->nall; j++) {
                const rj_fed_fetch_t *o = r->plan->all[j];
                if (r->fs[j].state == F_READY && o->depth == depth && o->entities &&
                    o->service == f->service) {
                    b->fetches[b->n++] = j;
                    r->fs[j].state = F_SENT;
                }
            }
            json_t *body;
            b->array = f->entities && (r->batched >> f->service & 1) != 0;
            if (b->n > 1 || b->array) {
                json_t **breps = rj_xcalloc(b->n, sizeof(json_t *));
                for (size_t j = 0; j < b->n; j++)
                    breps[j] = reps[b->fetches[j]];
                body = b->array ? array_body(r, b, breps) : joined_body(r, b, breps);
                free(breps);
            } else {
                json_t *vars = request_variables(r, f);
                if (f->entities)
                    json_object_set_new(vars, "representations", reps[i]);
                body = query_body(f->query, vars);
            }
            out[n++] = (rj_fed_request_t){
                .id = r->nbatches - 1,
                .service = f->service,
                .body = body,
            };
        }
        /* Representations of fetches left for a later call (max reached) are gathered
           again then; the tree they come from does not change meanwhile. */
        for (size_t i = 0; i < r->plan->nall; i++)
            if (r->fs[i].state == F_READY && reps[i] != NULL) {
                json_decref(reps[i]);
                free_targets(&r->fs[i]);
            }
        free(reps);
        return n;
    }
}

/* ---- answers ---------------------------------------------------------------------------- */

/* Merges @p src into @p dst: objects key by key, lists item by item, the rest replaced. */
static void
merge(json_t *dst, const json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)src, k, v) {
        json_t *d = json_object_get(dst, k);
        if (json_is_object(d) && json_is_object(v)) {
            merge(d, v);
        } else if (json_is_array(d) && json_is_array(v) &&
                   json_array_size(d) == json_array_size(v)) {
            for (size_t i = 0; i < json_array_size(v); i++) {
                json_t *di = json_array_get(d, i), *si = json_array_get(v, i);
                if (json_is_object(di) && json_is_object(si))
                    merge(di, si);
                else
                    json_array_set(d, i, si);
            }
        } else {
            json_object_set(dst, k, v);
        }
    }
}

static void
add_error(rj_fed_run_t *r, const rj_fed_fetch_t *f, json_t *e, const json_t *path)
{
    const char *svc = rj_fed_graph_service_name(r->g, (size_t)f->service);
    if (!json_is_object(e)) {
        json_decref(e);
        e = json_pack("{s:s}", "message", "a service answered an error that is not an object");
    }
    json_object_del(e, "locations"); /* they point into the service's document, not ours */
    if (path != NULL)
        json_object_set(e, "path", (json_t *)path);
    else
        json_object_del(e, "path");
    json_t *ext = json_object_get(e, "extensions");
    if (!json_is_object(ext)) {
        ext = json_object();
        json_object_set_new(e, "extensions", ext);
    }
    json_object_set_new(ext, "serviceName", json_string(svc));
    json_array_append_new(r->errors, e);
}

static void
fail_fetch(rj_fed_run_t *r, const rj_fed_fetch_t *f, const char *why)
{
    const fetch_run_t *fr = &r->fs[f->id];
    json_t *e = json_pack("{s:s, s:{s:s}}", "message", why, "extensions", "code",
                          "DOWNSTREAM_SERVICE_ERROR");
    json_t *path = fr->ntargets > 0 ? target_path(f, fr, &fr->targets[0]) : NULL;
    add_error(r, f, e, path);
    json_decref(path);
}

/*
 * A service's error path with list indexes as integers: some servers (Mercurius) write
 * them as strings ("3"), and field names never start with a digit.
 */
static json_t *
normal_path(const json_t *path)
{
    json_t *p = json_array();
    for (size_t k = 0; k < json_array_size(path); k++) {
        const json_t *seg = json_array_get(path, k);
        const char *str = json_string_value(seg);
        char *end = NULL;
        long long n = str != NULL && str[0] >= '0' && str[0] <= '9' ? strtoll(str, &end, 10) : 0;
        if (end != NULL && *end == '\0')
            json_array_append_new(p, json_integer(n));
        else
            json_array_append(p, (json_t *)seg);
    }
    return p;
}

/*
 * A service's error path as the client's: a JSON array of paths. A root fetch's already
 * is one (it used the client's response keys); an entity fetch's, ["_entities", i,
 * rest...], is one per object that gave representation i (deduplication sent it once
 * for all of them, and each of them has the failed field), each followed by rest.
 * Empty when unknown.
 */
static json_t *
client_paths(const rj_fed_fetch_t *f, const fetch_run_t *fr, const json_t *service_path)
{
    json_t *out = json_array();
    if (!json_is_array(service_path))
        return out;
    json_t *path = normal_path(service_path);
    if (!f->entities) {
        json_array_append_new(out, path);
        return out;
    }
    const json_t *i = json_array_get(path, 1);
    for (size_t t = 0; json_is_integer(i) && t < fr->ntargets; t++) {
        if ((json_int_t)fr->targets[t].rep != json_integer_value(i))
            continue;
        json_t *p = target_path(f, fr, &fr->targets[t]);
        for (size_t k = 2; k < json_array_size(path); k++)
            json_array_append(p, json_array_get(path, k));
        json_array_append_new(out, p);
    }
    json_decref(path);
    return out;
}

static void
deliver_one(rj_fed_run_t *r, size_t id, json_t *answer, const char *failure)
{
    if (r->fs[id].state != F_SENT) {
        json_decref(answer);
        return;
    }
    const rj_fed_fetch_t *f = r->plan->all[id];
    fetch_run_t *fr = &r->fs[id];
    const json_t *data = json_object_get(answer, "data");
    if (answer == NULL || !json_is_object(answer)) {
        fail_fetch(r, f, failure != NULL ? failure : "the service's answer is not a JSON object");
        json_decref(answer);
        free_targets(fr);
        finish(r, f, false);
        return;
    }
    const json_t *errors = json_object_get(answer, "errors");
    for (size_t i = 0; i < json_array_size(errors); i++) {
        const json_t *e = json_array_get(errors, i);
        json_t *paths = client_paths(f, fr, json_object_get(e, "path"));
        if (json_array_size(paths) == 0)
            add_error(r, f, json_deep_copy(e), NULL);
        for (size_t k = 0; k < json_array_size(paths); k++)
            add_error(r, f, json_deep_copy(e), json_array_get(paths, k));
        json_decref(paths);
    }
    bool answered = json_is_object(data);
    if (answered && !f->entities) {
        merge(r->data, data);
    } else if (answered) {
        const json_t *ents = json_object_get(data, "_entities");
        answered = json_is_array(ents) && json_array_size(ents) == fr->nreps;
        for (size_t t = 0; answered && t < fr->ntargets; t++) {
            const json_t *e = json_array_get(ents, fr->targets[t].rep);
            if (json_is_object(e))
                merge(fr->targets[t].obj, e);
            else if (json_is_null(e))
                json_array_append_new(r->lost, target_path(f, fr, &fr->targets[t]));
        }
        if (!answered && json_array_size(errors) == 0)
            fail_fetch(r, f, "the service's _entities answer does not match the representations");
    } else if (json_array_size(errors) == 0) {
        fail_fetch(r, f, "the service answered without data");
    }
    json_decref(answer);
    free_targets(fr);
    finish(r, f, answered);
}

/* The part of a joined answer for alias e<j>, as if its fetch had been sent alone. */
static json_t *
split_answer(const json_t *answer, size_t j)
{
    char alias[32];
    snprintf(alias, sizeof alias, "e%zu", j);
    json_t *part = json_object();
    const json_t *data = json_object_get(answer, "data");
    if (json_is_object(data))
        json_object_set_new(part, "data",
                            json_pack("{s:O?}", "_entities", json_object_get(data, alias)));
    else if (data != NULL)
        json_object_set(part, "data", (json_t *)data);
    json_t *errors = json_array();
    const json_t *e;
    size_t i;
    json_array_foreach (json_object_get(answer, "errors"), i, e) {
        const json_t *path = json_object_get(e, "path");
        const char *head = json_string_value(json_array_get(path, 0));
        if (head != NULL && strcmp(head, alias) == 0) {
            json_t *copy = json_deep_copy(e);
            json_array_set_new(json_object_get(copy, "path"), 0, json_string("_entities"));
            json_array_append_new(errors, copy);
        } else if ((head == NULL || head[0] != 'e') && j == 0) {
            json_array_append(errors, (json_t *)e); /* not a fetch's own: the first takes it */
        }
    }
    if (json_array_size(errors) > 0)
        json_object_set(part, "errors", errors);
    json_decref(errors);
    return part;
}

/*
 * A batched request's answer: an array with one answer per operation, in order, each
 * delivered as if its fetch had been sent alone. Anything else fails every fetch of the
 * batch (a service's error object among them: it does not say which operation failed).
 */
static void
deliver_array(rj_fed_run_t *r, const batch_t *b, json_t *answer, const char *failure)
{
    char why[128];
    if (answer != NULL && (!json_is_array(answer) || json_array_size(answer) != b->n)) {
        snprintf(why, sizeof why,
                 "the service's answer to a batch of %zu operations is not an array of %zu "
                 "answers",
                 b->n, b->n);
        failure = why;
        json_decref(answer);
        answer = NULL;
    }
    for (size_t j = 0; j < b->n; j++) {
        json_t *part = answer != NULL ? json_incref(json_array_get(answer, j)) : NULL;
        deliver_one(r, b->fetches[j], part, answer != NULL ? NULL : failure);
    }
    json_decref(answer);
}

void
rj_fed_run_deliver_take(rj_fed_run_t *r, size_t id, json_t *answer, const char *failure)
{
    if (id >= r->nbatches || r->batches[id].n == 0) {
        json_decref(answer);
        return;
    }
    batch_t *b = &r->batches[id];
    if (b->array) {
        deliver_array(r, b, answer, failure);
    } else if (b->n == 1) {
        deliver_one(r, b->fetches[0], answer, failure);
    } else {
        for (size_t j = 0; j < b->n; j++)
            deliver_one(r, b->fetches[j], json_is_object(answer) ? split_answer(answer, j) : NULL,
                        failure);
        json_decref(answer);
    }
    b->n = 0; /* delivered: a second delivery is ignored */
}
