/*
 * errors.c - the application's global error handler (ramjet.h: rj_app_error_handler,
 * Booster's @GlobalErrorHandler): recording it, and dispatching one failure through it.
 *
 * run.c calls the rj__app_*_error functions at the point where a command, query,
 * reducer or projection failure is about to be reported, so every daemon that runs
 * application code gets the same semantics without knowing about the handler: the
 * specific callback first, then on_error unless the specific one swallowed the error
 * (Booster's BoosterGlobalErrorDispatcher.dispatch, minus its quirk of skipping onError
 * when the specific callback is not defined). What "swallowed" means for each kind is
 * decided by the caller in run.c and documented on rj_error_handler_t.
 *
 * Deliberately not here: authorizers and read-model before hooks (Booster does not
 * route them through the handler either), and the decision to dead-letter or retry,
 * which stays with the daemons: a replaced error only changes what they report.
 *
 * The context object is built only when a handler is installed, so an application
 * without one pays nothing on its error paths.
 */
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "core/core.h"
#include "log/log.h"

RJ_EXPORT void
rj_app_error_handler(rj_app_t *app, const rj_error_handler_t *handler)
{
    if (handler == NULL ||
        (handler->on_command_handler_error == NULL && handler->on_query_handler_error == NULL &&
         handler->on_reducer_error == NULL && handler->on_projection_error == NULL &&
         handler->on_event_error == NULL && handler->on_error == NULL)) {
        rj__app_decl_error(app, "rj_app_error_handler: no callback set");
        return;
    }
    if (app->has_error_handler) {
        rj__app_decl_error(app, "rj_app_error_handler: the application already has one");
        return;
    }
    app->error_handler = *handler;
    app->has_error_handler = true;
}

/*
 * Runs one callback. Returns true when it swallowed the error (err cleared). A callback
 * that keeps the error with a status of its choice gets that status; one that emptied
 * the message without writing a new one keeps the message it was given, because a
 * client must never see an error without words.
 */
static bool
run_callback(rj_error_handler_fn fn, const json_t *context, rj_error_t *err)
{
    rj_error_t before = *err;
    rj_status_t st = fn(context, err);
    if (st == RJ_OK) {
        rj_error_clear(err);
        return true;
    }
    err->status = st;
    if (err->msg[0] == '\0')
        memcpy(err->msg, before.msg, sizeof err->msg);
    return false;
}

/* The specific callback, then on_error. Takes @p context. */
static rj_status_t
dispatch(const rj_app_t *app, rj_error_handler_fn specific, json_t *context, rj_error_t *err)
{
    const rj_error_handler_t *h = &app->error_handler;
    const char *kind = json_string_value(json_object_get(context, "kind"));
    char original[sizeof err->msg];
    memcpy(original, err->msg, sizeof original);
    bool swallowed = specific != NULL && run_callback(specific, context, err);
    if (!swallowed && h->on_error != NULL)
        swallowed = run_callback(h->on_error, context, err);
    json_decref(context);
    if (swallowed) {
        rj_debug("app", "the global error handler swallowed an error: %s kind=%s", original, kind);
        return RJ_OK;
    }
    return err->status;
}

/* JSON for a borrowed value that may be NULL: a new reference, null when absent. */
static json_t *
or_null(const json_t *v)
{
    return v != NULL ? json_incref((json_t *)v) : json_null();
}

/* JSON for a string that may be NULL. */
static json_t *
str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

rj_status_t
rj__app_handler_error(const rj_app_t *app, bool query, const char *name, const json_t *input,
                      const json_t *user, const char *request_id, rj_error_t *err)
{
    if (!app->has_error_handler)
        return err->status;
    json_t *ctx = json_object();
    json_object_set_new(ctx, "kind", json_string(query ? "queryHandler" : "commandHandler"));
    json_object_set_new(ctx, query ? "query" : "command", json_string(name));
    json_object_set_new(ctx, "input",
                        input != NULL && !json_is_null(input) ? json_incref((json_t *)input)
                                                              : json_object());
    json_object_set_new(ctx, "user", or_null(user));
    json_object_set_new(ctx, "requestId", str_or_null(request_id));
    const rj_error_handler_t *h = &app->error_handler;
    return dispatch(app, query ? h->on_query_handler_error : h->on_command_handler_error, ctx, err);
}

rj_status_t
rj__app_reducer_error(const rj_app_t *app, bool event_error, const char *entity,
                      const char *event_type, const json_t *event, const json_t *snapshot,
                      rj_error_t *err)
{
    if (!app->has_error_handler)
        return err->status;
    /* The entity id is the event's key field, when the event is declared at all. */
    const rj_app_event_t *ev = event_type != NULL ? rj_app_event(app, event_type) : NULL;
    char *entity_id = ev != NULL ? rj_app_id_string(json_object_get(event, ev->key)) : NULL;
    json_t *ctx = json_object();
    json_object_set_new(ctx, "kind", json_string(event_error ? "event" : "reducer"));
    json_object_set_new(ctx, "entity", str_or_null(entity));
    json_object_set_new(ctx, "entityId", str_or_null(entity_id));
    json_object_set_new(ctx, "eventType", str_or_null(event_type));
    json_object_set_new(ctx, "event", or_null(event));
    if (!event_error)
        json_object_set_new(ctx, "snapshot", or_null(snapshot));
    free(entity_id);
    const rj_error_handler_t *h = &app->error_handler;
    return dispatch(app, event_error ? h->on_event_error : h->on_reducer_error, ctx, err);
}

rj_status_t
rj__app_projection_error(const rj_app_projection_t *proj, const json_t *entity, const char *id,
                         const json_t *current, rj_error_t *err)
{
    const rj_app_t *app = proj->app;
    if (app == NULL || !app->has_error_handler)
        return err->status;
    char *entity_id = rj_app_id_string(json_object_get(entity, "id"));
    json_t *ctx = json_object();
    json_object_set_new(ctx, "kind", json_string("projection"));
    json_object_set_new(ctx, "readModel", json_string(proj->read_model->name));
    json_object_set_new(ctx, "readModelId", str_or_null(id));
    json_object_set_new(ctx, "entity", json_string(proj->entity->name));
    json_object_set_new(ctx, "entityId", str_or_null(entity_id));
    json_object_set_new(ctx, "entityState", or_null(entity));
    json_object_set_new(ctx, "current", or_null(current));
    free(entity_id);
    return dispatch(app, app->error_handler.on_projection_error, ctx, err);
}
