/*
 * run.c - running an application's handlers on behalf of the daemons: commands
 * (before hooks, handler, registered events), queries (before hooks, handler),
 * reducers and projections, plus the small decisions around them (authorize
 * attributes, ids as strings) and the handler-facing rj_entity_get.
 *
 * Everything here reads the immutable model and keeps its state on the stack, so
 * any number of threads may run handlers at once. Each wrapper turns a handler's
 * failure into an error the daemon can pass on unchanged: a handler's own message
 * goes to the client as written (Booster passes exception messages through), and a
 * handler that fails silently gets a generic message that names it. Then, and only
 * then, the application's global error handler sees the failure (errors.c) and may
 * replace it or swallow it; what a swallowed failure turns into (`true`, null, a
 * skipped event, no write) is decided here, next to each runner's normal result.
 *
 * Not here: versions, event ids and timestamps (the command processor assigns them
 * when it turns the events returned here into envelopes), and storage of any kind:
 * rj_entity_get and rj_read_models_search go through the rj_app_reader_t the daemon
 * passes in (the processor's reads in its batch transaction, the gateway's on a pooled
 * connection).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "core/core.h"
#include "log/log.h"

/* One command or query invocation; lives on rj_app_run_command's or rj_app_run_query's
 * stack. */
struct rj_handler_ctx {
    const rj_app_t *app;                  /* the app, for event lookups */
    const rj_app_command_t *command;      /* the command being run, or NULL for a query */
    const char *query;                    /* the query being run, or NULL for a command */
    const rj_app_reader_t *reader;        /* serves the handler's reads; NULL: no storage */
    const json_t *user;                   /* user envelope or NULL; borrowed */
    const char *request_id;               /* borrowed */
    json_t *events;                       /* registered events so far, an array (NULL for
                                             a query); owned */
    json_t *reads;                        /* what rj_entity_get and rj_read_models_search
                                             handed out, kept alive until the handler
                                             returns; owned */
    rj_error_t register_err;              /* first failed registration, reported at the end */
};

static rj_status_t handler_failed(rj_error_t *err, rj_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- ids and authorization ---- */

char *
rj_app_id_string(const json_t *v)
{
    if (json_is_string(v))
        return rj_xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return rj_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (json_is_real(v))
        return rj_xasprintf("%.17g", json_real_value(v));
    return NULL;
}

rj_status_t
rj_app_command_key(const rj_app_command_t *cmd, const json_t *input, char **out, rj_error_t *err)
{
    *out = NULL;
    if (cmd->key == NULL)
        return RJ_OK;
    char *id = rj_app_id_string(json_object_get(input, cmd->key));
    if (id == NULL || id[0] == '\0') {
        free(id);
        return rj_error_set(err, RJ_ESCHEMA, "command %s: input field %s must hold the %s id "
                                             "as a non-empty string or a number",
                            cmd->name, cmd->key, cmd->entity->name);
    }
    *out = id;
    return RJ_OK;
}

/* True when @p user holds one of the attribute's roles (by name, as Booster compares). */
static bool
has_role(const rj_app_auth_t *auth, const json_t *user)
{
    json_t *roles = json_object_get(user, "roles");
    size_t i;
    json_t *role;
    json_array_foreach (roles, i, role) {
        for (size_t j = 0; json_is_string(role) && j < auth->n_roles; j++)
            if (strcmp(json_string_value(role), auth->roles[j]) == 0)
                return true;
    }
    return false;
}

rj_status_t
rj_app_authorize(const rj_app_auth_t *auth, const json_t *user, const json_t *input,
                 rj_error_t *err)
{
    if (json_is_null(user))
        user = NULL;
    switch (auth->kind) {
    case RJ_APP_AUTH_ALL:
        return RJ_OK;
    case RJ_APP_AUTH_ROLES:
        if (has_role(auth, user))
            return RJ_OK;
        break;
    case RJ_APP_AUTH_CUSTOM: {
        if (auth->custom == NULL)
            break;
        rj_error_t e;
        rj_error_clear(&e);
        rj_status_t st = auth->custom(user, input, &e);
        if (st == RJ_OK)
            return RJ_OK;
        /* The authorizer's own words reach the client; silence means the usual denial. */
        rj_error_set(err, RJ_EAUTH, "%s", e.msg[0] != '\0' ? e.msg : RJ_APP_ACCESS_DENIED);
        rj_error_set_code(err, e.code[0] != '\0' ? e.code : "NotAuthorizedError");
        return RJ_EAUTH;
    }
    case RJ_APP_AUTH_NOBODY:
        break;
    }
    rj_error_set(err, RJ_EAUTH, RJ_APP_ACCESS_DENIED);
    rj_error_set_code(err, "NotAuthorizedError");
    return RJ_EAUTH;
}

bool
rj_app_auth_allows(const rj_app_auth_t *auth, const json_t *user)
{
    return rj_app_authorize(auth, user, NULL, NULL) == RJ_OK;
}

rj_status_t
rj_app_run_read_model_hooks(const rj_app_read_model_t *rm, const json_t *request,
                            const json_t *user, json_t **out, rj_error_t *err)
{
    if (json_is_null(user))
        user = NULL;
    rj_error_t local;
    if (err == NULL)
        err = &local;
    rj_error_clear(err);
    /* `cur` always holds one reference, as in rj_app_run_command. */
    json_t *cur = json_incref((json_t *)request);
    for (size_t i = 0; i < rm->n_hooks; i++) {
        json_t *next = NULL;
        rj_status_t st = rm->hooks[i](cur, user, &next, err);
        if (st == RJ_OK && !json_is_object(next))
            st = rj_error_set(err, RJ_EHANDLER,
                              "before hook %zu of read model %s returned no "
                              "request",
                              i + 1, rm->name);
        if (st != RJ_OK) {
            json_decref(next);
            json_decref(cur);
            return handler_failed(err, st, "before hook %zu of read model %s failed", i + 1,
                                  rm->name);
        }
        json_decref(cur);
        cur = next;
    }
    *out = cur;
    return RJ_OK;
}

/* ---- inside a command handler (public API) ---- */

RJ_EXPORT rj_status_t
rj_command_register_take(rj_command_ctx_t *ctx, const char *type, json_t *value, rj_error_t *err)
{
    rj_error_t e;
    rj_error_clear(&e);
    const rj_app_event_t *ev = type != NULL ? rj_app_event(ctx->app, type) : NULL;
    char *id = NULL;
    if (ctx->query != NULL)
        rj_error_set(&e, RJ_EINVAL, "could not register event %s: query %s is a read; only "
                                    "command handlers register events",
                     type != NULL ? type : "(null)", ctx->query);
    else if (ev == NULL)
        rj_error_set(&e, RJ_ESCHEMA, "could not register event %s: it is not declared with @event",
                     type != NULL ? type : "(null)");
    else if (!json_is_object(value))
        rj_error_set(&e, RJ_ESCHEMA, "could not register event %s: its value must be an object",
                     type);
    else if ((id = rj_app_id_string(json_object_get(value, ev->key))) == NULL || id[0] == '\0')
        rj_error_set(&e, RJ_ESCHEMA, "could not register event %s: field %s must hold the %s id "
                                     "as a non-empty string or a number",
                     type, ev->key, ev->entity->name);
    if (e.status != RJ_OK) {
        /* Remember it: a handler that ignores the status must not commit half its events. */
        if (ctx->register_err.status == RJ_OK)
            ctx->register_err = e;
        if (err != NULL)
            *err = e;
        free(id);
        json_decref(value);
        return e.status;
    }
    json_t *entry = json_object();
    json_object_set_new(entry, "type", json_string(ev->name));
    json_object_set_new(entry, "entity", json_string(ev->entity->name));
    json_object_set_new(entry, "entityId", json_string(id));
    json_object_set_new(entry, "value", value);
    json_array_append_new(ctx->events, entry);
    free(id);
    return RJ_OK;
}

RJ_EXPORT const json_t *
rj_command_user_peek(const rj_command_ctx_t *ctx)
{
    return ctx->user;
}

RJ_EXPORT const char *
rj_command_request_id(const rj_command_ctx_t *ctx)
{
    return ctx->request_id;
}

RJ_EXPORT rj_status_t
rj_entity_get(rj_handler_ctx_t *ctx, const char *entity, const char *id, const json_t **state,
              rj_error_t *err)
{
    *state = NULL;
    if (entity == NULL || rj_app_entity(ctx->app, entity) == NULL)
        return rj_error_set(err, RJ_ENOTFOUND, "could not read entity %s: it is not declared "
                                               "with @entity",
                            entity != NULL ? entity : "(null)");
    if (id == NULL || id[0] == '\0')
        return rj_error_set(err, RJ_EINVAL, "could not read entity %s: empty id", entity);
    if (ctx->reader == NULL)
        return rj_error_set(err, RJ_EINVAL, "could not read entity %s id=%s: this handler runs "
                                            "without an entity store", entity, id);
    rj_error_t local;
    if (err == NULL)
        err = &local;
    json_t *s = NULL;
    rj_status_t st = ctx->reader->entity(ctx->reader->opaque, entity, id, &s, err);
    if (st != RJ_OK) {
        json_decref(s);
        return st;
    }
    /* The context keeps the state, so a handler has nothing to release (and cannot leak). */
    if (s != NULL)
        json_array_append_new(ctx->reads, s);
    *state = s;
    return RJ_OK;
}

RJ_EXPORT rj_status_t
rj_read_models_search(rj_handler_ctx_t *ctx, const char *read_model, const json_t *filter,
                      size_t limit, const json_t **items, rj_error_t *err)
{
    *items = NULL;
    const rj_app_read_model_t *rm = read_model != NULL ? rj_app_read_model(ctx->app, read_model)
                                                       : NULL;
    if (rm == NULL)
        return rj_error_set(err, RJ_ENOTFOUND, "could not search read model %s: it is not "
                                               "declared with @readModel",
                            read_model != NULL ? read_model : "(null)");
    if (filter != NULL && !json_is_null(filter) && !json_is_object(filter))
        return rj_error_set(err, RJ_EINVAL, "could not search read model %s: the filter must "
                                            "be an object", read_model);
    if (ctx->reader == NULL)
        return rj_error_set(err, RJ_EINVAL, "could not search read model %s: this handler runs "
                                            "without a store", read_model);
    rj_error_t local;
    if (err == NULL)
        err = &local;
    json_t *found = NULL;
    rj_status_t st = ctx->reader->read_models(ctx->reader->opaque, rm,
                                              json_is_null(filter) ? NULL : filter, limit, &found,
                                              err);
    if (st != RJ_OK) {
        json_decref(found);
        return st;
    }
    RJ_ASSERT(json_is_array(found));
    json_array_append_new(ctx->reads, found);
    *items = found;
    return RJ_OK;
}

/* ---- running ---- */

/*
 * Finishes a failed handler's error: the handler's own message is kept as written
 * (it is what the client sees); one that set none gets the generic message @p fmt.
 * The status is always the one the handler returned, and a code it set is kept.
 */
static rj_status_t
handler_failed(rj_error_t *err, rj_status_t st, const char *fmt, ...)
{
    if (err->status == RJ_OK || err->msg[0] == '\0') {
        char code[sizeof err->code];
        memcpy(code, err->code, sizeof code);
        va_list ap;
        va_start(ap, fmt);
        rj_error_setv(err, st, fmt, ap);
        va_end(ap);
        memcpy(err->code, code, sizeof code);
    }
    err->status = st;
    return st;
}

/*
 * Runs before hooks in binding order. On RJ_OK *out is the input to hand to the handler
 * (one reference); @p what names the handler's kind in messages ("command", "query").
 */
static rj_status_t
run_hooks(rj_command_hook_fn const *hooks, size_t n, const char *what, const char *name,
          const json_t *input, const json_t *user, json_t **out, rj_error_t *err)
{
    /* Hooks may replace the input; `cur` always holds one reference. */
    json_t *cur = input != NULL && !json_is_null(input) ? json_incref((json_t *)input)
                                                         : json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *next = NULL;
        rj_status_t st = hooks[i](cur, user, &next, err);
        if (st == RJ_OK && next == NULL)
            st = rj_error_set(err, RJ_EHANDLER, "before hook %zu of %s %s returned no input",
                              i + 1, what, name);
        if (st != RJ_OK) {
            json_decref(next);
            json_decref(cur);
            return handler_failed(err, st, "before hook %zu of %s %s failed", i + 1, what, name);
        }
        json_decref(cur);
        cur = next;
    }
    *out = cur;
    return RJ_OK;
}

rj_status_t
rj_app_run_command(const rj_app_t *app, const char *name, const json_t *input,
                   const json_t *user, const char *request_id, json_t **result, json_t **events,
                   rj_error_t *err)
{
    return rj_app_run_command_reading(app, NULL, name, input, user, request_id, result, events,
                                      err);
}

rj_status_t
rj_app_run_command_reading(const rj_app_t *app, const rj_app_reader_t *reader,
                           const char *name, const json_t *input, const json_t *user,
                           const char *request_id, json_t **result, json_t **events,
                           rj_error_t *err)
{
    const rj_app_command_t *cmd = rj_app_command(app, name);
    if (cmd == NULL)
        return rj_error_set(err, RJ_ENOTFOUND, "command %s is not declared",
                            name != NULL ? name : "(null)");
    if (json_is_null(user))
        user = NULL;
    rj_error_t local;
    if (err == NULL)
        err = &local;
    rj_error_clear(err);

    json_t *cur = NULL;
    rj_status_t st = run_hooks(cmd->hooks, cmd->n_hooks, "command", name, input, user, &cur, err);
    if (st != RJ_OK) {
        if (rj__app_handler_error(app, false, name, input, user, request_id, err) != RJ_OK)
            return err->status;
        /* Swallowed by the global error handler: the handler never ran, so nothing was
           registered, and the mutation answers Booster's `result ?? true`. */
        *result = json_true();
        *events = json_array();
        return RJ_OK;
    }

    rj_command_ctx_t ctx = {
        .app = app,
        .command = cmd,
        .reader = reader,
        .user = user,
        .request_id = request_id,
        .events = json_array(),
        .reads = json_array(),
    };
    rj_error_clear(&ctx.register_err);
    json_t *res = NULL;
    st = cmd->handler(&ctx, cur, &res, err);
    json_decref(cur);
    json_decref(ctx.reads);
    if (st == RJ_OK && ctx.register_err.status != RJ_OK) {
        *err = ctx.register_err;
        st = err->status;
    }
    if (st != RJ_OK) {
        json_decref(res);
        handler_failed(err, st, "command handler %s failed", name);
        if (rj__app_handler_error(app, false, name, input, user, request_id, err) != RJ_OK) {
            json_decref(ctx.events);
            return err->status;
        }
        /* Swallowed: Booster flushes the register after its catch, so the events the
           handler registered before it failed are stored; the result is `true`, never
           what a failing handler may have left in *res. */
        *result = json_true();
        *events = ctx.events;
        return RJ_OK;
    }
    rj_error_clear(err);
    *result = res != NULL ? res : json_true();
    *events = ctx.events;
    return RJ_OK;
}

rj_status_t
rj_app_run_query(const rj_app_t *app, const rj_app_reader_t *reader, const char *name,
                 const json_t *input, const json_t *user, const char *request_id,
                 json_t **result, rj_error_t *err)
{
    const rj_app_query_t *q = rj_app_query(app, name);
    if (q == NULL)
        return rj_error_set(err, RJ_ENOTFOUND, "query %s is not declared",
                            name != NULL ? name : "(null)");
    if (json_is_null(user))
        user = NULL;
    rj_error_t local;
    if (err == NULL)
        err = &local;
    rj_error_clear(err);

    json_t *cur = NULL;
    rj_status_t st = run_hooks(q->hooks, q->n_hooks, "query", name, input, user, &cur, err);
    if (st != RJ_OK) {
        if (rj__app_handler_error(app, true, name, input, user, request_id, err) != RJ_OK)
            return err->status;
        *result = json_null(); /* swallowed: Booster's undefined result */
        return RJ_OK;
    }

    /* No events array: rj_command_register_take refuses a query before it would append. */
    rj_query_ctx_t ctx = {
        .app = app,
        .query = q->name,
        .reader = reader,
        .user = user,
        .request_id = request_id,
        .reads = json_array(),
    };
    rj_error_clear(&ctx.register_err);
    json_t *res = NULL;
    st = q->handler(&ctx, cur, &res, err);
    json_decref(cur);
    json_decref(ctx.reads);
    if (st != RJ_OK) {
        json_decref(res);
        handler_failed(err, st, "query handler %s failed", name);
        if (rj__app_handler_error(app, true, name, input, user, request_id, err) != RJ_OK)
            return err->status;
        *result = json_null(); /* swallowed: Booster's undefined result */
        return RJ_OK;
    }
    rj_error_clear(err);
    /* No `?? true` here: Booster returns a query handler's result as it is. */
    *result = res != NULL ? res : json_null();
    return RJ_OK;
}

rj_status_t
rj_app_reduce(const rj_app_t *app, const char *entity, const char *event_type,
              const json_t *event, const json_t *current, json_t **out, rj_error_t *err)
{
    if (json_is_null(current))
        current = NULL;
    rj_error_t local;
    if (err == NULL)
        err = &local;
    rj_error_clear(err);
    const rj_app_reducer_t *r = rj_app_entity_reducer(rj_app_entity(app, entity), event_type);
    json_t *next = NULL;
    rj_status_t st;
    if (r == NULL) {
        /* An event nothing folds is Booster's InvalidEventError: onEventError sees it. */
        rj_error_set(err, RJ_ENOTFOUND, "no reducer for event %s on entity %s",
                     event_type != NULL ? event_type : "(null)",
                     entity != NULL ? entity : "(null)");
        st = rj__app_reducer_error(app, true, entity, event_type, event, NULL, err);
    } else {
        st = r->fn(event, current, &next, err);
        if (st == RJ_OK && !json_is_object(next))
            st = rj_error_set(err, RJ_ESCHEMA, "reducer %s.%s returned no object", entity,
                              event_type);
        else if (st != RJ_OK)
            handler_failed(err, st, "reducer %s.%s failed", entity, event_type);
        if (st != RJ_OK) {
            json_decref(next);
            next = NULL;
            st = rj__app_reducer_error(app, false, entity, event_type, event, current, err);
        }
    }
    if (st != RJ_OK)
        return st;
    /* Swallowed by the global error handler: the event is skipped, the state stays. */
    if (next == NULL && current != NULL)
        next = json_incref((json_t *)current);
    *out = next;
    return RJ_OK;
}

char *
rj_app_projection_id(const rj_app_projection_t *proj, const json_t *entity)
{
    if (proj->join_field == NULL)
        return NULL; /* a read-model-query join key: the ids come from the read side */
    char *id = rj_app_id_string(json_object_get(entity, proj->join_field));
    if (id != NULL && id[0] == '\0') {
        free(id);
        return NULL;
    }
    return id;
}

json_t *
rj_app_projection_ids(const rj_app_projection_t *proj, const json_t *entity)
{
    json_t *ids = json_array();
    if (proj->join_field == NULL)
        return ids;
    json_t *v = json_object_get(entity, proj->join_field);
    if (!proj->join_is_array) {
        char *id = rj_app_projection_id(proj, entity);
        if (id != NULL)
            json_array_append_new(ids, json_string(id));
        free(id);
        return ids;
    }
    size_t i;
    json_t *elem;
    json_array_foreach(v, i, elem) {
        char *id = rj_app_id_string(elem);
        bool seen = id == NULL || id[0] == '\0';
        for (size_t j = 0; !seen && j < json_array_size(ids); j++)
            seen = strcmp(json_string_value(json_array_get(ids, j)), id) == 0;
        if (!seen)
            json_array_append_new(ids, json_string(id));
        free(id);
    }
    return ids;
}

rj_status_t
rj_app_projection_query(const rj_app_projection_t *proj, const json_t *entity, json_t **filter,
                        rj_error_t *err)
{
    const char *rm = proj->read_model->name;
    const char *from = proj->entity->name;
    RJ_ASSERT(proj->join_query != NULL);
    rj_error_t local;
    if (err == NULL)
        err = &local;
    rj_error_clear(err);
    json_t *f = NULL;
    rj_status_t st = proj->join_query(entity, &f, err);
    if (st != RJ_OK)
        handler_failed(err, st, "join key of projection %s from %s failed", rm, from);
    else if (f != NULL && !json_is_object(f))
        st = rj_error_set(err, RJ_ESCHEMA,
                          "join key of projection %s from %s returned a filter that is not "
                          "an object",
                          rm, from);
    if (st != RJ_OK) {
        json_decref(f);
        f = NULL; /* swallowed by the global error handler: skip the projection */
        if (rj__app_projection_error(proj, entity, NULL, NULL, err) != RJ_OK)
            return err->status;
    }
    *filter = f;
    return RJ_OK;
}

rj_status_t
rj_app_project(const rj_app_projection_t *proj, const json_t *entity, const char *id,
               const json_t *current, rj_app_project_action_t *action, json_t **out,
               rj_error_t *err)
{
    const char *rm = proj->read_model->name;
    const char *from = proj->entity->name;
    if (json_is_null(current))
        current = NULL;
    rj_error_t local;
    if (err == NULL)
        err = &local;
    rj_error_clear(err);
    json_t *next = NULL;
    rj_status_t st = proj->fn(entity, id, current, &next, err);
    *out = NULL;
    if (st != RJ_OK) {
        handler_failed(err, st, "projection %s from %s failed", rm, from);
    } else if (next == RJ_DELETE) {
        *action = RJ_APP_PROJECT_DELETE;
    } else if (next == RJ_NOTHING) {
        *action = RJ_APP_PROJECT_NOTHING;
    } else if (json_is_object(next)) {
        *action = RJ_APP_PROJECT_WRITE;
        *out = next;
    } else {
        st = rj_error_set(err, RJ_ESCHEMA, "projection %s from %s returned neither an object, "
                                           "RJ_DELETE nor RJ_NOTHING", rm, from);
    }
    if (st != RJ_OK) {
        if (next != RJ_DELETE && next != RJ_NOTHING)
            json_decref(next);
        if (rj__app_projection_error(proj, entity, id, current, err) != RJ_OK)
            return err->status;
        /* Swallowed by the global error handler: nothing is written for this read model. */
        *action = RJ_APP_PROJECT_NOTHING;
    }
    return RJ_OK;
}
