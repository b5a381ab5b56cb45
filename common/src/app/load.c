/*
 * load.c - loading an application library, binding its handlers, and looking
 * things up in the finished model.
 *
 * The order of rj_app_load is the order of what can be known: open the library and
 * check its API version before running any of its code (redis's module loader does
 * the same, for the same reason: a stale library would call functions with the
 * wrong signature); run its entry point, which only records; read and parse the
 * SDL; resolve the recorded bindings against the model; generate the API. The first
 * failure stops the load and names its culprit; a daemon never runs half an app.
 *
 * Lookups are linear scans. An application has tens of commands and read models,
 * and a strcmp over tens of short names costs less than the hashing that would
 * replace it; daemons that need a name per message can cache the pointer.
 *
 * Not here: the SDL walk (model.c), the generated API (api_sdl.c), running handlers
 * (run.c).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "auth/auth.h"
#include "core/core.h"
#include "log/log.h"

/* A schema file larger than this is certainly not a schema. */
#define APP_SDL_MAX_BYTES (4 * 1024 * 1024)

/* ---- reading the schema ---- */

static rj_status_t
read_file(const char *path, char **out, rj_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return rj_error_set(err, RJ_ENOTFOUND, "could not open app schema %s: %s", path,
                            strerror(errno));
    rj_buf_t b;
    rj_buf_init(&b);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rj_buf_append(&b, chunk, n);
        if (b.len > APP_SDL_MAX_BYTES) {
            fclose(f);
            rj_buf_deinit(&b);
            return rj_error_set(err, RJ_ETOOBIG, "could not read app schema %s: larger than %d "
                                                 "bytes", path, APP_SDL_MAX_BYTES);
        }
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        rj_buf_deinit(&b);
        return rj_error_set(err, RJ_EIO, "could not read app schema %s", path);
    }
    *out = rj_buf_steal(&b);
    return RJ_OK;
}

/* ---- binding ---- */

static rj_app_command_t *
command_mut(rj_app_t *app, const char *name)
{
    return (rj_app_command_t *)rj_app_command(app, name);
}

static rj_status_t
bind_commands(rj_app_t *app, rj_error_t *err)
{
    for (size_t i = 0; i < app->n_cmd_bindings; i++) {
        const rj__app_cmd_binding_t *b = &app->cmd_bindings[i];
        rj_app_command_t *c = command_mut(app, b->command);
        if (c == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "rj_app_on_command: command %s is not declared "
                                                 "(input %s @command(...) in the schema)",
                                b->command, b->command);
        c->handler = b->fn;
    }
    for (size_t i = 0; i < app->n_hook_bindings; i++) {
        const rj__app_hook_binding_t *b = &app->hook_bindings[i];
        rj_app_command_t *c = command_mut(app, b->command);
        if (c == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "rj_app_before_command: command %s is not "
                                                 "declared", b->command);
        c->hooks = rj_xrealloc(c->hooks, (c->n_hooks + 1) * sizeof *c->hooks);
        c->hooks[c->n_hooks++] = b->fn;
    }
    for (size_t i = 0; i < app->n_commands; i++)
        if (app->commands[i].handler == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "command %s has no handler (bind one with "
                                                 "rj_app_on_command)", app->commands[i].name);
    return RJ_OK;
}

static rj_status_t
bind_reducers(rj_app_t *app, rj_error_t *err)
{
    for (size_t i = 0; i < app->n_reduce_bindings; i++) {
        const rj__app_reduce_binding_t *b = &app->reduce_bindings[i];
        rj_app_entity_t *e = (rj_app_entity_t *)rj_app_entity(app, b->entity);
        const rj_app_event_t *ev = rj_app_event(app, b->event);
        if (e == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "rj_app_on_reduce: entity %s is not declared "
                                                 "(type %s @entity in the schema)",
                                b->entity, b->entity);
        if (ev == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "rj_app_on_reduce: event %s is not declared "
                                                 "(type %s @event(...) in the schema)",
                                b->event, b->event);
        if (ev->entity != e)
            return rj_error_set(err, RJ_ESCHEMA, "rj_app_on_reduce: event %s belongs to entity "
                                                 "%s, not %s",
                                ev->name, ev->entity->name, e->name);
        e->reducers = rj_xrealloc(e->reducers, (e->n_reducers + 1) * sizeof *e->reducers);
        e->reducers[e->n_reducers++] = (rj_app_reducer_t){.event = ev, .fn = b->fn};
    }
    for (size_t i = 0; i < app->n_events; i++) {
        const rj_app_event_t *ev = &app->events[i];
        if (rj_app_entity_reducer(ev->entity, ev->name) == NULL)
            rj_warn("app", "event %s has no reducer: entity %s ignores it", ev->name,
                    ev->entity->name);
    }
    return RJ_OK;
}

static rj_status_t
bind_projections(rj_app_t *app, rj_error_t *err)
{
    for (size_t i = 0; i < app->n_project_bindings; i++) {
        const rj__app_project_binding_t *b = &app->project_bindings[i];
        rj_app_read_model_t *rm = (rj_app_read_model_t *)rj_app_read_model(app, b->read_model);
        const rj_app_entity_t *e = rj_app_entity(app, b->entity);
        if (rm == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "rj_app_on_project: read model %s is not "
                                                 "declared (type %s @readModel in the schema)",
                                b->read_model, b->read_model);
        if (e == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "rj_app_on_project: entity %s is not declared",
                                b->entity);
        /* A read-model-query join key names no field: it is checked when it runs. */
        const rj_app_field_t *join = NULL;
        for (size_t j = 0; b->join_field != NULL && j < e->n_fields && join == NULL; j++)
            if (strcmp(e->fields[j].name, b->join_field) == 0)
                join = &e->fields[j];
        if (b->join_field != NULL && join == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "rj_app_on_project: join field %s is not a "
                                                 "field of entity %s",
                                b->join_field, e->name);
        rm->projections =
            rj_xrealloc(rm->projections, (rm->n_projections + 1) * sizeof *rm->projections);
        rm->projections[rm->n_projections++] = (rj_app_projection_t){
            .read_model = rm,
            .entity = e,
            .join_field = b->join_field != NULL ? rj_xstrdup(b->join_field) : NULL,
            .join_query = b->join_query,
            .fn = b->fn,
            .join_is_array = join != NULL && join->list,
            .app = app,
        };
    }
    /* Only now are the read models' arrays final, so entities may point into them. */
    for (size_t i = 0; i < app->n_read_models; i++) {
        const rj_app_read_model_t *rm = &app->read_models[i];
        if (rm->n_projections == 0)
            rj_warn("app", "read model %s has no projection: it stays empty", rm->name);
        for (size_t j = 0; j < rm->n_projections; j++) {
            rj_app_entity_t *e = (rj_app_entity_t *)rm->projections[j].entity;
            e->projections =
                rj_xrealloc(e->projections, (e->n_projections + 1) * sizeof *e->projections);
            e->projections[e->n_projections++] = &rm->projections[j];
        }
    }
    return RJ_OK;
}

/*
 * Authorizers and read-model hooks. An authorizer is bound exactly when the schema says
 * CUSTOM: one bound to anything else would be silently ignored, and a CUSTOM attribute
 * without one would deny everyone, and both are mistakes the developer wants to hear
 * about at load rather than from a puzzled client.
 */
static rj_status_t
bind_auth(rj_app_t *app, rj_error_t *err)
{
    for (size_t i = 0; i < app->n_authorizer_bindings; i++) {
        const rj__app_authorizer_binding_t *b = &app->authorizer_bindings[i];
        rj_app_auth_t *auth;
        const char *fn, *what;
        switch (b->kind) {
        case RJ__APP_AUTHZ_READ_MODEL: {
            rj_app_read_model_t *rm = (rj_app_read_model_t *)rj_app_read_model(app, b->name);
            fn = "rj_app_authorize_read_model";
            what = "@readModel(authorize";
            if (rm == NULL)
                return rj_error_set(err, RJ_ESCHEMA, "%s: read model %s is not declared", fn,
                                    b->name);
            auth = &rm->authorize;
            break;
        }
        case RJ__APP_AUTHZ_READ_EVENTS: {
            rj_app_entity_t *e = (rj_app_entity_t *)rj_app_entity(app, b->name);
            fn = "rj_app_authorize_read_events";
            what = "@entity(authorizeReadEvents";
            if (e == NULL)
                return rj_error_set(err, RJ_ESCHEMA, "%s: entity %s is not declared", fn,
                                    b->name);
            auth = &e->authorize_read_events;
            break;
        }
        default: {
            rj_app_command_t *c = command_mut(app, b->name);
            fn = "rj_app_authorize_command";
            what = "@command(authorize";
            if (c == NULL)
                return rj_error_set(err, RJ_ESCHEMA, "%s: command %s is not declared", fn, b->name);
            auth = &c->authorize;
            break;
        }
        }
        if (auth->kind != RJ_APP_AUTH_CUSTOM)
            return rj_error_set(err, RJ_ESCHEMA,
                                "%s: %s is not declared with %s: "
                                "CUSTOM), so its authorizer would never run",
                                fn, b->name, what);
        auth->custom = b->fn;
    }
    for (size_t i = 0; i < app->n_commands; i++)
        if (app->commands[i].authorize.kind == RJ_APP_AUTH_CUSTOM &&
            app->commands[i].authorize.custom == NULL)
            return rj_error_set(err, RJ_ESCHEMA,
                                "command %s is declared with authorize: CUSTOM "
                                "but has no authorizer (bind one with "
                                "rj_app_authorize_command)",
                                app->commands[i].name);
    for (size_t i = 0; i < app->n_read_models; i++)
        if (app->read_models[i].authorize.kind == RJ_APP_AUTH_CUSTOM &&
            app->read_models[i].authorize.custom == NULL)
            return rj_error_set(err, RJ_ESCHEMA,
                                "read model %s is declared with authorize: "
                                "CUSTOM but has no authorizer (bind one with "
                                "rj_app_authorize_read_model)",
                                app->read_models[i].name);
    for (size_t i = 0; i < app->n_entities; i++)
        if (app->entities[i].authorize_read_events.kind == RJ_APP_AUTH_CUSTOM &&
            app->entities[i].authorize_read_events.custom == NULL)
            return rj_error_set(err, RJ_ESCHEMA,
                                "entity %s is declared with authorizeReadEvents: CUSTOM but "
                                "has no authorizer (bind one with "
                                "rj_app_authorize_read_events)",
                                app->entities[i].name);
    for (size_t i = 0; i < app->n_rm_hook_bindings; i++) {
        const rj__app_rm_hook_binding_t *b = &app->rm_hook_bindings[i];
        rj_app_read_model_t *rm = (rj_app_read_model_t *)rj_app_read_model(app, b->read_model);
        if (rm == NULL)
            return rj_error_set(err, RJ_ESCHEMA,
                                "rj_app_before_read_model: read model %s is "
                                "not declared",
                                b->read_model);
        rm->hooks = rj_xrealloc(rm->hooks, (rm->n_hooks + 1) * sizeof *rm->hooks);
        rm->hooks[rm->n_hooks++] = b->fn;
    }
    return RJ_OK;
}

/*
 * Calculated fields. Like authorizers, a function is bound exactly where the schema
 * declares @calculated: a field without one would always read null, and a function on a
 * stored field would never run; both are load errors rather than puzzles for a client.
 */
static rj_status_t
bind_calculated(rj_app_t *app, rj_error_t *err)
{
    static const char fn[] = "rj_app_calculated_field";
    for (size_t i = 0; i < app->n_calc_bindings; i++) {
        const rj__app_calc_binding_t *b = &app->calc_bindings[i];
        const rj_app_read_model_t *rm = rj_app_read_model(app, b->read_model);
        if (rm == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "%s: read model %s is not declared", fn,
                                b->read_model);
        rj_app_field_t *f = NULL;
        for (size_t j = 0; j < rm->n_fields && f == NULL; j++)
            if (strcmp(rm->fields[j].name, b->field) == 0)
                f = &rm->fields[j];
        if (f == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "%s: %s is not a field of read model %s", fn,
                                b->field, rm->name);
        if (!f->calculated)
            return rj_error_set(err, RJ_ESCHEMA,
                                "%s: %s.%s is not declared @calculated, so its function "
                                "would never run",
                                fn, rm->name, f->name);
        f->calculate = b->fn;
    }
    for (size_t i = 0; i < app->n_read_models; i++) {
        const rj_app_read_model_t *rm = &app->read_models[i];
        for (size_t j = 0; j < rm->n_fields; j++)
            if (rm->fields[j].calculated && rm->fields[j].calculate == NULL)
                return rj_error_set(err, RJ_ESCHEMA,
                                    "read model field %s.%s is declared @calculated but has "
                                    "no function (bind one with %s)",
                                    rm->name, rm->fields[j].name, fn);
    }
    return RJ_OK;
}

/*
 * Query handlers: the handler, before hooks (in call order) and a CUSTOM authorizer, with
 * the same completeness rules as commands: every query has a handler, and an authorizer
 * exactly when it says CUSTOM.
 */
static rj_status_t
bind_queries(rj_app_t *app, rj_error_t *err)
{
    for (size_t i = 0; i < app->n_query_bindings; i++) {
        const rj__app_query_binding_t *b = &app->query_bindings[i];
        rj_app_query_t *q = (rj_app_query_t *)rj_app_query(app, b->query);
        if (q == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "query %s is bound with rj_app_*_query but not "
                                                 "declared (input %s @query(...) in the schema)",
                                b->query, b->query);
        if (b->handler != NULL)
            q->handler = b->handler;
        if (b->hook != NULL) {
            q->hooks = rj_xrealloc(q->hooks, (q->n_hooks + 1) * sizeof *q->hooks);
            q->hooks[q->n_hooks++] = b->hook;
        }
        if (b->authorizer != NULL && q->authorize.kind != RJ_APP_AUTH_CUSTOM)
            return rj_error_set(err, RJ_ESCHEMA,
                                "rj_app_authorize_query: %s is not declared with "
                                "@query(authorize: CUSTOM), so its authorizer would never run",
                                q->name);
        if (b->authorizer != NULL)
            q->authorize.custom = b->authorizer;
    }
    for (size_t i = 0; i < app->n_queries; i++) {
        const rj_app_query_t *q = &app->queries[i];
        if (q->handler == NULL)
            return rj_error_set(err, RJ_ESCHEMA, "query %s has no handler (bind one with "
                                                 "rj_app_on_query)", q->name);
        if (q->authorize.kind == RJ_APP_AUTH_CUSTOM && q->authorize.custom == NULL)
            return rj_error_set(err, RJ_ESCHEMA,
                                "query %s is declared with authorize: CUSTOM but has no "
                                "authorizer (bind one with rj_app_authorize_query)",
                                q->name);
    }
    return RJ_OK;
}

rj_status_t
rj__app_bind(rj_app_t *app, rj_error_t *err)
{
    rj_status_t st = bind_commands(app, err);
    if (st == RJ_OK)
        st = bind_reducers(app, err);
    if (st == RJ_OK)
        st = bind_projections(app, err);
    if (st == RJ_OK)
        st = bind_auth(app, err);
    if (st == RJ_OK)
        st = bind_calculated(app, err);
    if (st == RJ_OK)
        st = bind_queries(app, err);
    return st;
}

/* Builds the token verifiers; a key that does not parse fails the load, naming it. */
static rj_status_t
build_token_auth(rj_app_t *app, rj_error_t *err)
{
    int64_t leeway = 0, min_refresh = 0;
    rj_status_t st = rj_auth_leeway_from_env(&leeway, err);
    if (st == RJ_OK)
        st = rj_auth_jwks_min_refresh_from_env(&min_refresh, err);
    if (st != RJ_OK)
        return st;
    rj_auth_verifier_conf_t *confs =
        rj_xcalloc(app->n_verifiers > 0 ? app->n_verifiers : 1, sizeof *confs);
    for (size_t i = 0; i < app->n_verifiers; i++)
        confs[i] = (rj_auth_verifier_conf_t){.issuer = app->verifiers[i].issuer,
                                             .pem = app->verifiers[i].pem,
                                             .jwks_uri = app->verifiers[i].jwks_uri,
                                             .custom = app->verifiers[i].custom,
                                             .check = app->verifiers[i].check,
                                             .roles_claim = app->verifiers[i].roles_claim,
                                             .jwks_min_refresh_s = min_refresh};
    app->auth = rj_auth_new(confs, app->n_verifiers, leeway, err);
    free(confs);
    return app->auth != NULL ? RJ_OK : RJ_EINVAL; /* rj_auth_new fails only with it */
}

/* ---- loading ---- */

static bool
name_valid(const char *s)
{
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
           strlen(s);
}

/* libshop.so -> shop, libshop.so.1 -> shop, shop.so -> shop. */
static char *
name_from_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (strncmp(base, "lib", 3) == 0 && base[3] != '\0' && base[3] != '.')
        base += 3;
    const char *so = strstr(base, ".so");
    return so != NULL ? rj_xstrndup(base, (size_t)(so - base)) : rj_xstrdup(base);
}

rj_status_t
rj__app_finish(rj_app_t *app, rj_error_t *err)
{
    if (app->decl_error != NULL)
        return rj_error_set(err, RJ_EINVAL, "invalid app declaration: %s", app->decl_error);
    if (app->name == NULL)
        app->name = app->lib_path != NULL ? name_from_path(app->lib_path) : rj_xstrdup("app");
    if (!name_valid(app->name))
        return rj_error_set(err, RJ_EINVAL, "invalid app name \"%s\": use letters, digits and "
                                            "underscores, starting with a letter (it prefixes "
                                            "topics and tables)", app->name);
    if (app->schema_file != NULL) {
        char *path = app->schema_file[0] == '/' || app->lib_dir == NULL
                         ? rj_xstrdup(app->schema_file)
                         : rj_xasprintf("%s/%s", app->lib_dir, app->schema_file);
        rj_status_t st = read_file(path, &app->sdl, err);
        free(path);
        if (st != RJ_OK)
            return st;
    }
    if (app->sdl == NULL)
        return rj_error_set(err, RJ_EINVAL, "the app declares no schema (call "
                                            "rj_app_schema_file or rj_app_schema_string)");
    rj_status_t st = rj__app_model_build(app, err);
    if (st == RJ_OK)
        st = rj__app_bind(app, err);
    if (st == RJ_OK)
        st = rj__app_api_build(app, err);
    if (st == RJ_OK)
        st = build_token_auth(app, err);
    return st;
}

rj_app_t *
rj_app_load(const char *path, rj_error_t *err)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        rj_error_set(err, RJ_ENOTFOUND, "could not load app %s: %s", path, dlerror());
        return NULL;
    }
    const int *version = dlsym(dl, "rj_app_api_version");
    if (version == NULL || *version != RJ_APP_API_VERSION) {
        if (version == NULL)
            rj_error_set(err, RJ_EINVAL, "could not load app %s: it exports no "
                                         "rj_app_api_version (define it with RJ_APP_DEFINE)",
                         path);
        else
            rj_error_set(err, RJ_EINVAL, "could not load app %s: built for API version %d, "
                                         "this is %d", path, *version, RJ_APP_API_VERSION);
        dlclose(dl);
        return NULL;
    }
    void (*define)(rj_app_t *);
    *(void **)&define = dlsym(dl, "rj_app_define");
    if (define == NULL) {
        rj_error_set(err, RJ_EINVAL, "could not load app %s: it exports no rj_app_define "
                                     "(define it with RJ_APP_DEFINE)", path);
        dlclose(dl);
        return NULL;
    }

    rj_app_t *app = rj__app_new();
    app->dl = dl;
    app->lib_path = rj_xstrdup(path);
    const char *slash = strrchr(path, '/');
    app->lib_dir = slash != NULL ? rj_xstrndup(path, (size_t)(slash - path)) : rj_xstrdup(".");
    if (app->lib_dir[0] == '\0') {
        free(app->lib_dir);
        app->lib_dir = rj_xstrdup("/");
    }
    define(app);

    rj_error_t inner;
    rj_error_clear(&inner);
    if (rj__app_finish(app, &inner) != RJ_OK) {
        rj_error_set(err, inner.status, "could not load app %s: %s", path, inner.msg);
        rj_app_free(app);
        return NULL;
    }
    rj__app_apply_logging(app);
    rj_info("app", "loaded app %s from %s: %zu commands, %zu events, %zu entities, %zu read "
                   "models", app->name, path, app->n_commands, app->n_events, app->n_entities,
            app->n_read_models);
    return app;
}

void
rj_app_free(rj_app_t *app)
{
    if (app == NULL)
        return;
    rj__app_release_logging(app);
    rj__app_model_free(app);
    for (size_t i = 0; i < app->n_cmd_bindings; i++)
        free(app->cmd_bindings[i].command);
    free(app->cmd_bindings);
    for (size_t i = 0; i < app->n_hook_bindings; i++)
        free(app->hook_bindings[i].command);
    free(app->hook_bindings);
    for (size_t i = 0; i < app->n_query_bindings; i++)
        free(app->query_bindings[i].query);
    free(app->query_bindings);
    for (size_t i = 0; i < app->n_reduce_bindings; i++) {
        free(app->reduce_bindings[i].entity);
        free(app->reduce_bindings[i].event);
    }
    free(app->reduce_bindings);
    for (size_t i = 0; i < app->n_project_bindings; i++) {
        free(app->project_bindings[i].read_model);
        free(app->project_bindings[i].entity);
        free(app->project_bindings[i].join_field);
    }
    free(app->project_bindings);
    for (size_t i = 0; i < app->n_verifiers; i++) {
        free(app->verifiers[i].issuer);
        free(app->verifiers[i].pem);
        free(app->verifiers[i].jwks_uri);
        free(app->verifiers[i].roles_claim);
    }
    free(app->verifiers);
    for (size_t i = 0; i < app->n_authorizer_bindings; i++)
        free(app->authorizer_bindings[i].name);
    free(app->authorizer_bindings);
    for (size_t i = 0; i < app->n_rm_hook_bindings; i++)
        free(app->rm_hook_bindings[i].read_model);
    free(app->rm_hook_bindings);
    for (size_t i = 0; i < app->n_calc_bindings; i++) {
        free(app->calc_bindings[i].read_model);
        free(app->calc_bindings[i].field);
    }
    free(app->calc_bindings);
    rj_auth_free(app->auth);
    free(app->api_sdl);
    free(app->subgraph_sdl);
    free(app->served_sdl);
    rj_gql_schema_free(app->api_schema);
    free(app->name);
    free(app->schema_file);
    free(app->sdl);
    free(app->decl_error);
    free(app->log_prefix);
    free(app->lib_path);
    free(app->lib_dir);
    /* Last: the handlers and the strings the app passed live in the library. */
    if (app->dl != NULL)
        dlclose(app->dl);
    free(app);
}

/* ---- lookups ---- */

const char *
rj_app_name_get(const rj_app_t *app)
{
    return app->name;
}

const char *
rj_app_sdl_get(const rj_app_t *app)
{
    return app->sdl;
}

#define RJ__APP_FIND(array, count, name)                                                           \
    do {                                                                                           \
        if ((name) == NULL)                                                                        \
            return NULL;                                                                           \
        for (size_t i_ = 0; i_ < (count); i_++)                                                    \
            if (strcmp((array)[i_].name, (name)) == 0)                                             \
                return &(array)[i_];                                                               \
        return NULL;                                                                               \
    } while (0)

const rj_app_command_t *
rj_app_command(const rj_app_t *app, const char *name)
{
    RJ__APP_FIND(app->commands, app->n_commands, name);
}

const rj_app_query_t *
rj_app_query(const rj_app_t *app, const char *name)
{
    RJ__APP_FIND(app->queries, app->n_queries, name);
}

const rj_app_event_t *
rj_app_event(const rj_app_t *app, const char *name)
{
    RJ__APP_FIND(app->events, app->n_events, name);
}

const rj_app_entity_t *
rj_app_entity(const rj_app_t *app, const char *name)
{
    RJ__APP_FIND(app->entities, app->n_entities, name);
}

const rj_app_read_model_t *
rj_app_read_model(const rj_app_t *app, const char *name)
{
    RJ__APP_FIND(app->read_models, app->n_read_models, name);
}

const rj_app_type_t *
rj_app_type(const rj_app_t *app, const char *name)
{
    RJ__APP_FIND(app->types, app->n_types, name);
}

bool
rj_app_role_exists(const rj_app_t *app, const char *role)
{
    for (size_t i = 0; role != NULL && i < app->n_roles; i++)
        if (strcmp(app->roles[i], role) == 0)
            return true;
    return false;
}

const rj_app_reducer_t *
rj_app_entity_reducer(const rj_app_entity_t *entity, const char *event)
{
    for (size_t i = 0; entity != NULL && event != NULL && i < entity->n_reducers; i++)
        if (strcmp(entity->reducers[i].event->name, event) == 0)
            return &entity->reducers[i];
    return NULL;
}

/* ---- iteration ---- */

#define RJ__APP_AT(array, count, i) ((i) < (count) ? &(array)[i] : NULL)

size_t
rj_app_command_count(const rj_app_t *app)
{
    return app->n_commands;
}

const rj_app_command_t *
rj_app_command_at(const rj_app_t *app, size_t i)
{
    return RJ__APP_AT(app->commands, app->n_commands, i);
}

size_t
rj_app_query_count(const rj_app_t *app)
{
    return app->n_queries;
}

const rj_app_query_t *
rj_app_query_at(const rj_app_t *app, size_t i)
{
    return RJ__APP_AT(app->queries, app->n_queries, i);
}

size_t
rj_app_event_count(const rj_app_t *app)
{
    return app->n_events;
}

const rj_app_event_t *
rj_app_event_at(const rj_app_t *app, size_t i)
{
    return RJ__APP_AT(app->events, app->n_events, i);
}

size_t
rj_app_entity_count(const rj_app_t *app)
{
    return app->n_entities;
}

const rj_app_entity_t *
rj_app_entity_at(const rj_app_t *app, size_t i)
{
    return RJ__APP_AT(app->entities, app->n_entities, i);
}

size_t
rj_app_read_model_count(const rj_app_t *app)
{
    return app->n_read_models;
}

const rj_app_read_model_t *
rj_app_read_model_at(const rj_app_t *app, size_t i)
{
    return RJ__APP_AT(app->read_models, app->n_read_models, i);
}

size_t
rj_app_type_count(const rj_app_t *app)
{
    return app->n_types;
}

const rj_app_type_t *
rj_app_type_at(const rj_app_t *app, size_t i)
{
    return RJ__APP_AT(app->types, app->n_types, i);
}

size_t
rj_app_role_count(const rj_app_t *app)
{
    return app->n_roles;
}

const char *
rj_app_role_at(const rj_app_t *app, size_t i)
{
    return i < app->n_roles ? app->roles[i] : NULL;
}

size_t
rj_app_verifier_count(const rj_app_t *app)
{
    return app->n_verifiers;
}

const rj_app_verifier_t *
rj_app_verifier_at(const rj_app_t *app, size_t i)
{
    return RJ__APP_AT(app->verifiers, app->n_verifiers, i);
}

const rj_auth_t *
rj_app_token_auth(const rj_app_t *app)
{
    return app->auth;
}
