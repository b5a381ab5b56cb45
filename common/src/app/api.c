/*
 * api.c - the declaration half of ramjet.h: what an application's RJ_APP_DEFINE calls.
 *
 * These functions only record. The SDL may be set after the handlers are bound, so
 * nothing can be checked against the model here; the loader resolves every record
 * once the entry point has returned (load.c). Misuse that is visible right away (a
 * NULL name, a handler bound twice) is kept as the first "declaration error" and
 * reported by the loader, because these functions return void: an application must
 * not have to check each call, and a daemon must not start with half an app.
 *
 * The command-handler half of ramjet.h (rj_command_*) lives in run.c, next to the
 * context it reads.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "core/core.h"

/*
 * The projection sentinels: immortal JSON nulls compared by address. jansson never
 * frees or counts a value whose refcount is (size_t)-1, so a projection may return
 * them from any thread, any number of times.
 */
RJ_EXPORT json_t rj__delete_sentinel = {.type = JSON_NULL, .refcount = (size_t)-1};
RJ_EXPORT json_t rj__nothing_sentinel = {.type = JSON_NULL, .refcount = (size_t)-1};

rj_app_t *
rj__app_new(void)
{
    return rj_xcalloc(1, sizeof(rj_app_t));
}

void
rj__app_decl_error(rj_app_t *app, const char *fmt, ...)
{
    if (app->decl_error != NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    app->decl_error = msg != NULL ? msg : rj_xstrdup("invalid application declaration");
}

/* Checks a name argument; records the misuse and returns false when it is NULL or empty. */
static bool
name_ok(rj_app_t *app, const char *fn, const char *what, const char *s)
{
    if (s != NULL && s[0] != '\0')
        return true;
    rj__app_decl_error(app, "%s: %s must be a non-empty string", fn, what);
    return false;
}

RJ_EXPORT void
rj_app_schema_file(rj_app_t *app, const char *path)
{
    if (!name_ok(app, "rj_app_schema_file", "the path", path))
        return;
    if (app->schema_file != NULL || app->sdl != NULL) {
        rj__app_decl_error(app, "rj_app_schema_file: the schema is already set");
        return;
    }
    app->schema_file = rj_xstrdup(path);
}

RJ_EXPORT void
rj_app_schema_string(rj_app_t *app, const char *sdl)
{
    if (!name_ok(app, "rj_app_schema_string", "the SDL", sdl))
        return;
    if (app->schema_file != NULL || app->sdl != NULL) {
        rj__app_decl_error(app, "rj_app_schema_string: the schema is already set");
        return;
    }
    app->sdl = rj_xstrdup(sdl);
}

RJ_EXPORT void
rj_app_name(rj_app_t *app, const char *name)
{
    if (!name_ok(app, "rj_app_name", "the name", name))
        return;
    free(app->name);
    app->name = rj_xstrdup(name);
}

RJ_EXPORT void
rj_app_on_command(rj_app_t *app, const char *command, rj_command_fn fn)
{
    if (!name_ok(app, "rj_app_on_command", "the command name", command))
        return;
    if (fn == NULL) {
        rj__app_decl_error(app, "rj_app_on_command: NULL handler for command %s", command);
        return;
    }
    for (size_t i = 0; i < app->n_cmd_bindings; i++) {
        if (strcmp(app->cmd_bindings[i].command, command) == 0) {
            rj__app_decl_error(app, "rj_app_on_command: command %s already has a handler",
                               command);
            return;
        }
    }
    app->cmd_bindings =
        rj_xrealloc(app->cmd_bindings, (app->n_cmd_bindings + 1) * sizeof *app->cmd_bindings);
    app->cmd_bindings[app->n_cmd_bindings++] =
        (rj__app_cmd_binding_t){.command = rj_xstrdup(command), .fn = fn};
}

RJ_EXPORT void
rj_app_before_command(rj_app_t *app, const char *command, rj_command_hook_fn fn)
{
    if (!name_ok(app, "rj_app_before_command", "the command name", command))
        return;
    if (fn == NULL) {
        rj__app_decl_error(app, "rj_app_before_command: NULL hook for command %s", command);
        return;
    }
    app->hook_bindings =
        rj_xrealloc(app->hook_bindings, (app->n_hook_bindings + 1) * sizeof *app->hook_bindings);
    app->hook_bindings[app->n_hook_bindings++] =
        (rj__app_hook_binding_t){.command = rj_xstrdup(command), .fn = fn};
}

/* ---- query handlers: one record per call, resolved by load.c's bind_queries ---- */

static void
query_binding_add(rj_app_t *app, const char *fn_name, const char *query,
                  rj__app_query_binding_t b)
{
    if (!name_ok(app, fn_name, "the query name", query))
        return;
    if (b.handler == NULL && b.hook == NULL && b.authorizer == NULL) {
        rj__app_decl_error(app, "%s: NULL function for query %s", fn_name, query);
        return;
    }
    for (size_t i = 0; i < app->n_query_bindings; i++) {
        const rj__app_query_binding_t *o = &app->query_bindings[i];
        if (strcmp(o->query, query) != 0)
            continue;
        if ((b.handler != NULL && o->handler != NULL) ||
            (b.authorizer != NULL && o->authorizer != NULL)) {
            rj__app_decl_error(app, "%s: query %s already has one", fn_name, query);
            return;
        }
    }
    b.query = rj_xstrdup(query);
    app->query_bindings = rj_xrealloc(app->query_bindings,
                                      (app->n_query_bindings + 1) * sizeof *app->query_bindings);
    app->query_bindings[app->n_query_bindings++] = b;
}

RJ_EXPORT void
rj_app_on_query(rj_app_t *app, const char *query, rj_query_fn fn)
{
    query_binding_add(app, "rj_app_on_query", query, (rj__app_query_binding_t){.handler = fn});
}

RJ_EXPORT void
rj_app_before_query(rj_app_t *app, const char *query, rj_query_hook_fn fn)
{
    query_binding_add(app, "rj_app_before_query", query, (rj__app_query_binding_t){.hook = fn});
}

RJ_EXPORT void
rj_app_authorize_query(rj_app_t *app, const char *query, rj_authorizer_fn fn)
{
    query_binding_add(app, "rj_app_authorize_query", query,
                      (rj__app_query_binding_t){.authorizer = fn});
}

RJ_EXPORT void
rj_app_on_reduce(rj_app_t *app, const char *entity, const char *event, rj_reducer_fn fn)
{
    if (!name_ok(app, "rj_app_on_reduce", "the entity name", entity) ||
        !name_ok(app, "rj_app_on_reduce", "the event name", event))
        return;
    if (fn == NULL) {
        rj__app_decl_error(app, "rj_app_on_reduce: NULL reducer for %s.%s", entity, event);
        return;
    }
    for (size_t i = 0; i < app->n_reduce_bindings; i++) {
        const rj__app_reduce_binding_t *b = &app->reduce_bindings[i];
        if (strcmp(b->entity, entity) == 0 && strcmp(b->event, event) == 0) {
            rj__app_decl_error(app, "rj_app_on_reduce: %s already has a reducer for %s", entity,
                               event);
            return;
        }
    }
    app->reduce_bindings = rj_xrealloc(app->reduce_bindings,
                                       (app->n_reduce_bindings + 1) * sizeof *app->reduce_bindings);
    app->reduce_bindings[app->n_reduce_bindings++] = (rj__app_reduce_binding_t){
        .entity = rj_xstrdup(entity), .event = rj_xstrdup(event), .fn = fn};
}

/* Records a projection keyed by @p join_field or by the read-model query @p join. */
static void
bind_projection(rj_app_t *app, const char *fn_name, const char *read_model, const char *entity,
                const char *join_field, rj_join_query_fn join, rj_projection_fn fn)
{
    if (!name_ok(app, fn_name, "the read model name", read_model) ||
        !name_ok(app, fn_name, "the entity name", entity))
        return;
    if (fn == NULL) {
        rj__app_decl_error(app, "%s: NULL projection for %s from %s", fn_name, read_model, entity);
        return;
    }
    for (size_t i = 0; i < app->n_project_bindings; i++) {
        const rj__app_project_binding_t *b = &app->project_bindings[i];
        if (strcmp(b->read_model, read_model) == 0 && strcmp(b->entity, entity) == 0) {
            rj__app_decl_error(app, "%s: %s already has a projection from %s", fn_name,
                               read_model, entity);
            return;
        }
    }
    app->project_bindings = rj_xrealloc(
        app->project_bindings, (app->n_project_bindings + 1) * sizeof *app->project_bindings);
    app->project_bindings[app->n_project_bindings++] = (rj__app_project_binding_t){
        .read_model = rj_xstrdup(read_model),
        .entity = rj_xstrdup(entity),
        .join_field = join_field != NULL ? rj_xstrdup(join_field) : NULL,
        .join_query = join,
        .fn = fn,
    };
}

RJ_EXPORT void
rj_app_on_project(rj_app_t *app, const char *read_model, const char *entity,
                  const char *join_field, rj_projection_fn fn)
{
    if (!name_ok(app, "rj_app_on_project", "the read model name", read_model) ||
        !name_ok(app, "rj_app_on_project", "the entity name", entity) ||
        !name_ok(app, "rj_app_on_project", "the join field", join_field))
        return;
    bind_projection(app, "rj_app_on_project", read_model, entity, join_field, NULL, fn);
}

RJ_EXPORT void
rj_app_on_project_query(rj_app_t *app, const char *read_model, const char *entity,
                        rj_join_query_fn join, rj_projection_fn fn)
{
    if (join == NULL) {
        rj__app_decl_error(app, "rj_app_on_project_query: NULL join key for %s from %s",
                           read_model != NULL ? read_model : "(null)",
                           entity != NULL ? entity : "(null)");
        return;
    }
    bind_projection(app, "rj_app_on_project_query", read_model, entity, NULL, join, fn);
}

RJ_EXPORT void
rj_app_calculated_field(rj_app_t *app, const char *read_model, const char *field,
                        rj_calculated_fn fn)
{
    if (!name_ok(app, "rj_app_calculated_field", "the read model name", read_model) ||
        !name_ok(app, "rj_app_calculated_field", "the field name", field))
        return;
    if (fn == NULL) {
        rj__app_decl_error(app, "rj_app_calculated_field: NULL function for %s.%s", read_model,
                           field);
        return;
    }
    for (size_t i = 0; i < app->n_calc_bindings; i++) {
        const rj__app_calc_binding_t *b = &app->calc_bindings[i];
        if (strcmp(b->read_model, read_model) == 0 && strcmp(b->field, field) == 0) {
            rj__app_decl_error(app, "rj_app_calculated_field: %s.%s already has a function",
                               read_model, field);
            return;
        }
    }
    app->calc_bindings =
        rj_xrealloc(app->calc_bindings, (app->n_calc_bindings + 1) * sizeof *app->calc_bindings);
    app->calc_bindings[app->n_calc_bindings++] = (rj__app_calc_binding_t){
        .read_model = rj_xstrdup(read_model), .field = rj_xstrdup(field), .fn = fn};
}

RJ_EXPORT void
rj_app_token_verifier_public_key(rj_app_t *app, const char *issuer, const char *pem,
                                 const char *roles_claim)
{
    if (!name_ok(app, "rj_app_token_verifier_public_key", "the issuer", issuer) ||
        !name_ok(app, "rj_app_token_verifier_public_key", "the PEM key", pem))
        return;
    if (strstr(pem, "-----BEGIN") == NULL) {
        rj__app_decl_error(app, "rj_app_token_verifier_public_key: the key for issuer %s is "
                                "not PEM", issuer);
        return;
    }
    app->verifiers =
        rj_xrealloc(app->verifiers, (app->n_verifiers + 1) * sizeof *app->verifiers);
    app->verifiers[app->n_verifiers++] = (rj_app_verifier_t){
        .issuer = rj_xstrdup(issuer),
        .pem = rj_xstrdup(pem),
        .roles_claim = rj_xstrdup(roles_claim != NULL && roles_claim[0] != '\0' ? roles_claim
                                                                                  : "custom:role"),
    };
}

RJ_EXPORT void
rj_app_token_verifier_jwks(rj_app_t *app, const char *issuer, const char *jwks_uri,
                           const char *roles_claim)
{
    if (!name_ok(app, "rj_app_token_verifier_jwks", "the issuer", issuer) ||
        !name_ok(app, "rj_app_token_verifier_jwks", "the JWKS URI", jwks_uri))
        return;
    if (strncmp(jwks_uri, "https://", 8) != 0 && strncmp(jwks_uri, "http://", 7) != 0) {
        rj__app_decl_error(app,
                           "rj_app_token_verifier_jwks: the JWKS URI for issuer %s is not "
                           "http:// or https://",
                           issuer);
        return;
    }
    app->verifiers =
        rj_xrealloc(app->verifiers, (app->n_verifiers + 1) * sizeof *app->verifiers);
    app->verifiers[app->n_verifiers++] = (rj_app_verifier_t){
        .issuer = rj_xstrdup(issuer),
        .jwks_uri = rj_xstrdup(jwks_uri),
        .roles_claim = rj_xstrdup(roles_claim != NULL && roles_claim[0] != '\0' ? roles_claim
                                                                                  : "custom:role"),
    };
}

RJ_EXPORT void
rj_app_token_verifier_custom(rj_app_t *app, const char *name, rj_token_verify_fn fn,
                             const char *roles_claim)
{
    if (!name_ok(app, "rj_app_token_verifier_custom", "the verifier name", name))
        return;
    if (fn == NULL) {
        rj__app_decl_error(app, "rj_app_token_verifier_custom: verifier %s has no function",
                           name);
        return;
    }
    app->verifiers =
        rj_xrealloc(app->verifiers, (app->n_verifiers + 1) * sizeof *app->verifiers);
    app->verifiers[app->n_verifiers++] = (rj_app_verifier_t){
        .issuer = rj_xstrdup(name),
        .custom = fn,
        .roles_claim = rj_xstrdup(roles_claim != NULL && roles_claim[0] != '\0' ? roles_claim
                                                                                  : "custom:role"),
    };
}

RJ_EXPORT void
rj_app_token_verifier_check(rj_app_t *app, const char *issuer, rj_token_check_fn fn)
{
    if (!name_ok(app, "rj_app_token_verifier_check", "the issuer", issuer))
        return;
    size_t bound = 0;
    for (size_t i = 0; i < app->n_verifiers; i++) {
        rj_app_verifier_t *v = &app->verifiers[i];
        if (v->custom != NULL || strcmp(v->issuer, issuer) != 0)
            continue;
        if (v->check != NULL) {
            rj__app_decl_error(app, "rj_app_token_verifier_check: issuer %s already has a check",
                               issuer);
            return;
        }
        v->check = fn;
        bound++;
    }
    if (fn == NULL || bound == 0)
        rj__app_decl_error(app,
                           "rj_app_token_verifier_check: no public-key or JWKS verifier of "
                           "issuer %s is declared before it%s",
                           issuer, fn == NULL ? ", or no function" : "");
}

static void
bind_authorizer(rj_app_t *app, const char *fn_name, const char *name,
                rj__app_authorizer_kind_t kind, rj_authorizer_fn fn)
{
    static const char *const what[] = {"the command name", "the read model name",
                                       "the entity name"};
    if (!name_ok(app, fn_name, what[kind], name))
        return;
    if (fn == NULL) {
        rj__app_decl_error(app, "%s: NULL authorizer for %s", fn_name, name);
        return;
    }
    for (size_t i = 0; i < app->n_authorizer_bindings; i++) {
        const rj__app_authorizer_binding_t *b = &app->authorizer_bindings[i];
        if (b->kind == kind && strcmp(b->name, name) == 0) {
            rj__app_decl_error(app, "%s: %s already has an authorizer", fn_name, name);
            return;
        }
    }
    app->authorizer_bindings =
        rj_xrealloc(app->authorizer_bindings,
                    (app->n_authorizer_bindings + 1) * sizeof *app->authorizer_bindings);
    app->authorizer_bindings[app->n_authorizer_bindings++] = (rj__app_authorizer_binding_t){
        .name = rj_xstrdup(name), .kind = kind, .fn = fn};
}

RJ_EXPORT void
rj_app_authorize_command(rj_app_t *app, const char *command, rj_authorizer_fn fn)
{
    bind_authorizer(app, "rj_app_authorize_command", command, RJ__APP_AUTHZ_COMMAND, fn);
}

RJ_EXPORT void
rj_app_authorize_read_model(rj_app_t *app, const char *read_model, rj_authorizer_fn fn)
{
    bind_authorizer(app, "rj_app_authorize_read_model", read_model, RJ__APP_AUTHZ_READ_MODEL, fn);
}

RJ_EXPORT void
rj_app_authorize_read_events(rj_app_t *app, const char *entity, rj_authorizer_fn fn)
{
    bind_authorizer(app, "rj_app_authorize_read_events", entity, RJ__APP_AUTHZ_READ_EVENTS, fn);
}

RJ_EXPORT void
rj_app_before_read_model(rj_app_t *app, const char *read_model, rj_read_model_hook_fn fn)
{
    if (!name_ok(app, "rj_app_before_read_model", "the read model name", read_model))
        return;
    if (fn == NULL) {
        rj__app_decl_error(app, "rj_app_before_read_model: NULL hook for read model %s",
                           read_model);
        return;
    }
    app->rm_hook_bindings = rj_xrealloc(app->rm_hook_bindings, (app->n_rm_hook_bindings + 1) *
                                                                   sizeof *app->rm_hook_bindings);
    app->rm_hook_bindings[app->n_rm_hook_bindings++] =
        (rj__app_rm_hook_binding_t){.read_model = rj_xstrdup(read_model), .fn = fn};
}
