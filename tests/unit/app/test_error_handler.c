/*
 * test_error_handler.c - the global error handler (ramjet.h rj_app_error_handler,
 * Booster's @GlobalErrorHandler) as the runners of common/src/app/run.c apply it:
 * replacing and swallowing command, query, reducer, event and projection failures, the
 * order of the specific callback and on_error, the context each one sees, what never
 * reaches the handler (authorizers, read-model before hooks), and the shop's optional
 * handler (SHOP_ERROR_HANDLER=1).
 *
 * Needs RAMJET_BUILD_DIR (set by CTest) to find lib/libshop.so.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/app_int.h"
#include "core/core.h"

static const char *const sdl =
    "type Thing @entity { id: ID!  name: String }\n"
    "type ThingSet @event(entity: \"Thing\", key: \"id\") { id: ID!  name: String }\n"
    "type ThingLost @event(entity: \"Thing\", key: \"id\") { id: ID! }\n"
    "input SetThing @command(authorize: ALL, entity: \"Thing\", key: \"id\") { id: ID!  "
    "name: String }\n"
    "input Guarded @command(authorize: CUSTOM) { id: ID! }\n"
    "input CountThings @query(authorize: ALL, returns: \"Float!\") { id: ID! }\n"
    "type View @readModel(authorize: ALL) { id: ID!  name: String }\n"
    "type Other @readModel(authorize: ALL) { id: ID!  owner: ID }\n";

/* ---- the application's functions: each fails on a name it recognises ---- */

/* Fails for name "hook-fails"; renames "rename" to "renamed". */
static rj_status_t
set_thing_hook(const json_t *input, const json_t *user, json_t **out, rj_error_t *err)
{
    const char *name = json_string_value(json_object_get(input, "name"));
    if (name != NULL && strcmp(name, "hook-fails") == 0)
        return rj_error_set(err, RJ_EHANDLER, "the hook refused");
    *out = json_deep_copy(input);
    if (name != NULL && strcmp(name, "rename") == 0)
        json_object_set_new(*out, "name", json_string("renamed"));
    return RJ_OK;
}

/* Registers ThingSet, then fails for names "fails"/"renamed" (after registering). */
static rj_status_t
set_thing(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    rj_status_t st = rj_command_register_take(ctx, "ThingSet", json_deep_copy(input), err);
    if (st != RJ_OK)
        return st;
    const char *name = json_string_value(json_object_get(input, "name"));
    if (name != NULL && (strcmp(name, "fails") == 0 || strcmp(name, "renamed") == 0)) {
        *result = json_string("a result a failing handler left behind");
        rj_error_set(err, RJ_ECONFLICT, "thing %s is busy", name);
        return rj_error_set_code(err, "ThingBusyError");
    }
    return RJ_OK;
}

static rj_status_t
guarded(rj_command_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    return RJ_OK;
}

static rj_status_t
deny_everyone(const json_t *user, const json_t *input, rj_error_t *err)
{
    return rj_error_set(err, RJ_EAUTH, "guarded things are off limits");
}

static rj_status_t
count_things(rj_query_ctx_t *ctx, const json_t *input, json_t **result, rj_error_t *err)
{
    const char *id = json_string_value(json_object_get(input, "id"));
    if (id != NULL && strcmp(id, "fails") == 0)
        return rj_error_set(err, RJ_EINVAL, "cannot count %s", id);
    *result = json_real(3);
    return RJ_OK;
}

/* Fails for name "fails", returns a non-object for "scalar". */
static rj_status_t
reduce_thing(const json_t *event, const json_t *current, json_t **out, rj_error_t *err)
{
    const char *name = json_string_value(json_object_get(event, "name"));
    if (name != NULL && strcmp(name, "fails") == 0)
        return rj_error_set(err, RJ_EHANDLER, "cannot fold %s", name);
    *out = name != NULL && strcmp(name, "scalar") == 0 ? json_true() : json_deep_copy(event);
    return RJ_OK;
}

/* Fails for name "fails". */
static rj_status_t
project_view(const json_t *entity, const char *id, const json_t *current, json_t **out,
             rj_error_t *err)
{
    const char *name = json_string_value(json_object_get(entity, "name"));
    if (name != NULL && strcmp(name, "fails") == 0)
        return rj_error_set(err, RJ_EHANDLER, "cannot project %s", name);
    *out = json_pack("{s:s, s:O}", "id", id, "name", json_object_get(entity, "name"));
    return RJ_OK;
}

/* A read-model-query join key that always fails. */
static rj_status_t
join_fails(const json_t *entity, json_t **filter, rj_error_t *err)
{
    return rj_error_set(err, RJ_EHANDLER, "no join today");
}

static rj_status_t
project_other(const json_t *entity, const char *id, const json_t *current, json_t **out,
              rj_error_t *err)
{
    *out = RJ_NOTHING;
    return RJ_OK;
}

/* Fails for key id "throw". */
static rj_status_t
view_hook(const json_t *request, const json_t *user, json_t **out, rj_error_t *err)
{
    const char *id = json_string_value(json_object_get(json_object_get(request, "key"), "id"));
    if (id != NULL && strcmp(id, "throw") == 0)
        return rj_error_set(err, RJ_EHANDLER, "read model hook refused");
    *out = json_deep_copy(request);
    return RJ_OK;
}

/* ---- the error handler under test: records every call, acts as `mode` says ---- */

typedef enum act {
    KEEP,    /* return the error as it came */
    REPLACE, /* new message, status and code */
    SWALLOW, /* return RJ_OK */
} act_t;

static act_t specific_mode;  /* what the specific callbacks do */
static act_t on_error_mode;  /* what on_error does */
static char calls[512];      /* "<callback>(<kind>):<message>;" per call, in order */
static json_t *last_context; /* a deep copy of the last context seen; owned */

static rj_status_t
act(const char *who, act_t mode, const json_t *context, rj_error_t *err)
{
    /* Formatted apart, in room for the longest message, then appended if it fits: the
       record of calls is compared whole, so a cut one would only confuse a failure. */
    char line[RJ_ERROR_MSG_MAX + 128];
    snprintf(line, sizeof line, "%s(%s):%s;", who,
             json_string_value(json_object_get(context, "kind")), err->msg);
    size_t n = strlen(calls), len = strlen(line);
    cr_assert_lt(n + len, sizeof calls, "the record of calls is full");
    memcpy(calls + n, line, len + 1);
    json_decref(last_context);
    last_context = json_deep_copy(context);
    switch (mode) {
    case KEEP:
        return err->status;
    case REPLACE: {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        rj_error_set(err, RJ_EINVAL, "%s.%s", msg, who);
        return rj_error_set_code(err, "ReplacedError");
    }
    case SWALLOW:
        return RJ_OK;
    }
    return err->status;
}

static rj_status_t
on_command(const json_t *c, rj_error_t *e)
{
    return act("onCommandHandlerError", specific_mode, c, e);
}

static rj_status_t
on_query(const json_t *c, rj_error_t *e)
{
    return act("onQueryHandlerError", specific_mode, c, e);
}

static rj_status_t
on_reducer(const json_t *c, rj_error_t *e)
{
    return act("onReducerError", specific_mode, c, e);
}

static rj_status_t
on_projection(const json_t *c, rj_error_t *e)
{
    return act("onProjectionError", specific_mode, c, e);
}

static rj_status_t
on_event(const json_t *c, rj_error_t *e)
{
    return act("onEventError", specific_mode, c, e);
}

static rj_status_t
on_error(const json_t *c, rj_error_t *e)
{
    return act("onError", on_error_mode, c, e);
}

static const rj_error_handler_t full_handler = {
    .on_command_handler_error = on_command,
    .on_query_handler_error = on_query,
    .on_reducer_error = on_reducer,
    .on_projection_error = on_projection,
    .on_event_error = on_event,
    .on_error = on_error,
};

static void
reset(act_t specific, act_t generic)
{
    specific_mode = specific;
    on_error_mode = generic;
    calls[0] = '\0';
    json_decref(last_context);
    last_context = NULL;
}

static rj_app_t *
app_with(const rj_error_handler_t *handler)
{
    rj_app_t *app = rj__app_new();
    rj_app_schema_string(app, sdl);
    rj_app_before_command(app, "SetThing", set_thing_hook);
    rj_app_on_command(app, "SetThing", set_thing);
    rj_app_on_command(app, "Guarded", guarded);
    rj_app_authorize_command(app, "Guarded", deny_everyone);
    rj_app_on_query(app, "CountThings", count_things);
    rj_app_on_reduce(app, "Thing", "ThingSet", reduce_thing);
    rj_app_on_project(app, "View", "Thing", "id", project_view);
    rj_app_on_project_query(app, "Other", "Thing", join_fails, project_other);
    rj_app_before_read_model(app, "View", view_hook);
    if (handler != NULL)
        rj_app_error_handler(app, handler);
    rj_error_t err;
    rj_error_clear(&err);
    cr_assert_eq(rj__app_finish(app, &err), RJ_OK, "%s", err.msg);
    return app;
}

/* Runs SetThing with {id: "t1", name: @p name} as user u1. */
static rj_status_t
run_set_thing(const rj_app_t *app, const char *name, json_t **result, json_t **events,
              rj_error_t *err)
{
    json_t *input = json_pack("{s:s, s:s}", "id", "t1", "name", name);
    json_t *user = json_pack("{s:s}", "id", "u1");
    *result = *events = NULL;
    rj_status_t st = rj_app_run_command(app, "SetThing", input, user, "req-1", result, events, err);
    cr_expect_eq(input->refcount, 1, "the context released the input");
    json_decref(input);
    json_decref(user);
    return st;
}

/* ---- commands ---- */

Test(error_handler, without_one_errors_pass_through_unchanged)
{
    rj_app_t *app = app_with(NULL);
    json_t *result, *events;
    rj_error_t err;
    cr_expect_eq(run_set_thing(app, "fails", &result, &events, &err), RJ_ECONFLICT);
    cr_expect_str_eq(err.msg, "thing fails is busy");
    cr_expect_str_eq(err.code, "ThingBusyError");
    cr_expect_eq(run_set_thing(app, "hook-fails", &result, &events, &err), RJ_EHANDLER);
    cr_expect_str_eq(err.msg, "the hook refused");
    rj_app_free(app);
}

Test(error_handler, replaces_a_command_handler_error_then_on_error_sees_the_new_one)
{
    rj_app_t *app = app_with(&full_handler);
    reset(REPLACE, REPLACE);
    json_t *result, *events;
    rj_error_t err;
    cr_expect_eq(run_set_thing(app, "fails", &result, &events, &err), RJ_EINVAL);
    cr_expect_str_eq(err.msg, "thing fails is busy.onCommandHandlerError.onError");
    cr_expect_str_eq(err.code, "ReplacedError");
    cr_expect_str_eq(calls, "onCommandHandlerError(commandHandler):thing fails is busy;"
                            "onError(commandHandler):thing fails is busy.onCommandHandlerError;");
    cr_expect_null(result);
    cr_expect_null(events);

    /* What the callbacks saw: the command as the client sent it, before the hooks. */
    json_t *want = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}, s:s}", "kind", "commandHandler",
                             "command", "SetThing", "input", "id", "t1", "name", "fails", "user",
                             "id", "u1", "requestId", "req-1");
    cr_expect(json_equal(last_context, want), "%s", json_dumps(last_context, JSON_COMPACT));
    json_decref(want);
    reset(KEEP, KEEP);
    rj_app_free(app);
}

Test(error_handler, keeping_the_error_keeps_status_message_and_code)
{
    rj_app_t *app = app_with(&full_handler);
    reset(KEEP, KEEP);
    json_t *result, *events;
    rj_error_t err;
    cr_expect_eq(run_set_thing(app, "fails", &result, &events, &err), RJ_ECONFLICT);
    cr_expect_str_eq(err.msg, "thing fails is busy");
    cr_expect_str_eq(err.code, "ThingBusyError");
    reset(KEEP, KEEP);
    rj_app_free(app);
}

Test(error_handler, a_swallowed_handler_error_succeeds_with_true_and_the_events_so_far)
{
    rj_app_t *app = app_with(&full_handler);
    reset(SWALLOW, REPLACE);
    json_t *result, *events;
    rj_error_t err;
    cr_assert_eq(run_set_thing(app, "fails", &result, &events, &err), RJ_OK, "%s", err.msg);
    cr_expect_str_eq(calls, "onCommandHandlerError(commandHandler):thing fails is busy;",
                     "on_error is not called for a swallowed error");
    cr_expect(json_is_true(result), "Booster's `result ?? true`, not the handler's leftover");
    cr_assert_eq(json_array_size(events), 1, "registered before the failure: stored");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(events, 0), "type")),
                     "ThingSet");
    cr_expect_eq(err.status, RJ_OK);
    json_decref(result);
    json_decref(events);
    reset(KEEP, KEEP);
    rj_app_free(app);
}

Test(error_handler, before_hook_errors_go_through_it_and_a_swallowed_one_registers_nothing)
{
    rj_app_t *app = app_with(&full_handler);
    reset(REPLACE, KEEP);
    json_t *result, *events;
    rj_error_t err;
    cr_expect_eq(run_set_thing(app, "hook-fails", &result, &events, &err), RJ_EINVAL);
    cr_expect_str_eq(err.msg, "the hook refused.onCommandHandlerError");
    cr_expect_str_eq(calls, "onCommandHandlerError(commandHandler):the hook refused;"
                            "onError(commandHandler):the hook refused.onCommandHandlerError;");

    reset(SWALLOW, KEEP);
    cr_assert_eq(run_set_thing(app, "hook-fails", &result, &events, &err), RJ_OK, "%s", err.msg);
    cr_expect(json_is_true(result));
    cr_expect_eq(json_array_size(events), 0, "the handler never ran");
    json_decref(result);
    json_decref(events);

    /* A hook that rewrote the input: the context still holds the client's input. */
    reset(KEEP, KEEP);
    cr_expect_eq(run_set_thing(app, "rename", &result, &events, &err), RJ_ECONFLICT);
    cr_expect_str_eq(err.msg, "thing renamed is busy");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(last_context, "input"), "name")),
        "rename");
    reset(KEEP, KEEP);
    rj_app_free(app);
}

Test(error_handler, on_error_alone_sees_and_may_swallow_every_error)
{
    rj_app_t *app = app_with(&(rj_error_handler_t){.on_error = on_error});
    reset(KEEP, REPLACE);
    json_t *result, *events;
    rj_error_t err;
    cr_expect_eq(run_set_thing(app, "fails", &result, &events, &err), RJ_EINVAL);
    cr_expect_str_eq(err.msg, "thing fails is busy.onError");
    cr_expect_str_eq(calls, "onError(commandHandler):thing fails is busy;");

    reset(KEEP, SWALLOW);
    cr_expect_eq(run_set_thing(app, "fails", &result, &events, &err), RJ_OK);
    json_decref(result);
    json_decref(events);
    reset(KEEP, KEEP);
    rj_app_free(app);
}

/* A callback that empties the message keeps the original words; its status wins. */
static rj_status_t
blank_message(const json_t *context, rj_error_t *err)
{
    err->msg[0] = '\0';
    return RJ_ENOTFOUND;
}

Test(error_handler, a_callback_cannot_leave_an_error_without_words)
{
    rj_app_t *app = app_with(&(rj_error_handler_t){.on_command_handler_error = blank_message});
    json_t *result, *events;
    rj_error_t err;
    cr_expect_eq(run_set_thing(app, "fails", &result, &events, &err), RJ_ENOTFOUND);
    cr_expect_str_eq(err.msg, "thing fails is busy");
    rj_app_free(app);
}

Test(error_handler, authorizers_and_read_model_hooks_never_reach_it)
{
    rj_app_t *app = app_with(&full_handler);
    reset(SWALLOW, SWALLOW);
    rj_error_t err;
    rj_error_clear(&err);
    cr_expect_eq(rj_app_authorize(&rj_app_command(app, "Guarded")->authorize, NULL, NULL, &err),
                 RJ_EAUTH);
    cr_expect_str_eq(err.msg, "guarded things are off limits");
    cr_expect_str_eq(err.code, "NotAuthorizedError");

    json_t *request = json_pack("{s:{s:s}}", "key", "id", "throw");
    json_t *out = NULL;
    cr_expect_eq(
        rj_app_run_read_model_hooks(rj_app_read_model(app, "View"), request, NULL, &out, &err),
        RJ_EHANDLER);
    cr_expect_str_eq(err.msg, "read model hook refused");
    cr_expect_null(out);
    json_decref(request);
    cr_expect_str_eq(calls, "", "the handler saw nothing");
    reset(KEEP, KEEP);
    rj_app_free(app);
}

Test(error_handler, declaring_it_twice_or_empty_fails_the_load)
{
    rj_app_t *app = rj__app_new();
    rj_app_schema_string(app, sdl);
    rj_app_error_handler(app, &(rj_error_handler_t){0});
    rj_error_t err;
    cr_expect_neq(rj__app_finish(app, &err), RJ_OK);
    cr_expect_str_eq(err.msg, "invalid app declaration: rj_app_error_handler: no callback set");
    rj_app_free(app);

    app = rj__app_new();
    rj_app_schema_string(app, sdl);
    rj_app_error_handler(app, &full_handler);
    rj_app_error_handler(app, &full_handler);
    cr_expect_neq(rj__app_finish(app, &err), RJ_OK);
    cr_expect_str_eq(err.msg, "invalid app declaration: rj_app_error_handler: the application "
                              "already has one");
    rj_app_free(app);
}

/* ---- queries ---- */

Test(error_handler, query_handler_errors_are_replaced_or_swallowed_into_null)
{
    rj_app_t *app = app_with(&full_handler);
    json_t *input = json_pack("{s:s}", "id", "fails");
    json_t *result = NULL;
    rj_error_t err;

    reset(REPLACE, REPLACE);
    cr_expect_eq(rj_app_run_query(app, NULL, "CountThings", input, NULL, "req-2", &result, &err),
                 RJ_EINVAL);
    cr_expect_str_eq(err.msg, "cannot count fails.onQueryHandlerError.onError");
    cr_expect_str_eq(calls, "onQueryHandlerError(queryHandler):cannot count fails;"
                            "onError(queryHandler):cannot count fails.onQueryHandlerError;");
    json_t *want = json_pack("{s:s, s:s, s:{s:s}, s:n, s:s}", "kind", "queryHandler", "query",
                             "CountThings", "input", "id", "fails", "user", "requestId", "req-2");
    cr_expect(json_equal(last_context, want), "%s", json_dumps(last_context, JSON_COMPACT));
    json_decref(want);
    cr_expect_null(result);

    reset(SWALLOW, REPLACE);
    cr_assert_eq(rj_app_run_query(app, NULL, "CountThings", input, NULL, "req-2", &result, &err),
                 RJ_OK);
    cr_expect(json_is_null(result), "Booster's undefined result");
    cr_expect_str_eq(calls, "onQueryHandlerError(queryHandler):cannot count fails;");
    json_decref(result);
    cr_expect_eq(input->refcount, 1);
    json_decref(input);
    reset(KEEP, KEEP);
    rj_app_free(app);
}

/* ---- reducers and events ---- */

Test(error_handler, reducer_errors_are_replaced_or_swallowed_into_the_unchanged_state)
{
    rj_app_t *app = app_with(&full_handler);
    json_t *event = json_pack("{s:s, s:s}", "id", "t1", "name", "fails");
    json_t *state = json_pack("{s:s, s:s}", "id", "t1", "name", "before");
    json_t *out = NULL;
    rj_error_t err;

    reset(REPLACE, KEEP);
    cr_expect_eq(rj_app_reduce(app, "Thing", "ThingSet", event, state, &out, &err), RJ_EINVAL);
    cr_expect_str_eq(err.msg, "cannot fold fails.onReducerError");
    json_t *want =
        json_pack("{s:s, s:s, s:s, s:s, s:O, s:O}", "kind", "reducer", "entity", "Thing",
                  "entityId", "t1", "eventType", "ThingSet", "event", event, "snapshot", state);
    cr_expect(json_equal(last_context, want), "%s", json_dumps(last_context, JSON_COMPACT));
    json_decref(want);
    cr_expect_null(out);

    reset(SWALLOW, REPLACE);
    cr_assert_eq(rj_app_reduce(app, "Thing", "ThingSet", event, state, &out, &err), RJ_OK);
    cr_expect_eq(out, state, "the event is skipped: the state as it was");
    cr_expect_eq(state->refcount, 2, "a new reference to it");
    json_decref(out);
    out = NULL;
    cr_assert_eq(rj_app_reduce(app, "Thing", "ThingSet", event, NULL, &out, &err), RJ_OK);
    cr_expect_null(out, "no state before, none after");
    cr_expect(json_is_null(json_object_get(last_context, "snapshot")));

    /* A reducer that returns a non-object fails too, and is handled alike. */
    json_t *scalar = json_pack("{s:s, s:s}", "id", "t1", "name", "scalar");
    reset(KEEP, REPLACE);
    cr_expect_eq(rj_app_reduce(app, "Thing", "ThingSet", scalar, state, &out, &err), RJ_EINVAL);
    cr_expect_str_eq(err.msg, "reducer Thing.ThingSet returned no object.onError");
    json_decref(scalar);
    json_decref(event);
    cr_expect_eq(state->refcount, 1);
    json_decref(state);
    reset(KEEP, KEEP);
    rj_app_free(app);
}

Test(error_handler, an_event_no_reducer_folds_goes_to_on_event_error)
{
    rj_app_t *app = app_with(&full_handler);
    json_t *event = json_pack("{s:s}", "id", "t9");
    json_t *out = NULL;
    rj_error_t err;
    reset(REPLACE, KEEP);
    cr_expect_eq(rj_app_reduce(app, "Thing", "ThingLost", event, NULL, &out, &err), RJ_EINVAL);
    cr_expect_str_eq(err.msg, "no reducer for event ThingLost on entity Thing.onEventError");
    cr_expect_str_eq(json_string_value(json_object_get(last_context, "entityId")), "t9");
    cr_expect_null(json_object_get(last_context, "snapshot"));
    reset(SWALLOW, KEEP);
    cr_expect_eq(rj_app_reduce(app, "Thing", "ThingLost", event, NULL, &out, &err), RJ_OK);
    cr_expect_null(out);
    json_decref(event);
    reset(KEEP, KEEP);
    rj_app_free(app);
}

/* ---- projections ---- */

Test(error_handler, projection_errors_are_replaced_or_swallowed_into_nothing)
{
    rj_app_t *app = app_with(&full_handler);
    const rj_app_projection_t *view = rj_app_read_model(app, "View")->projections;
    json_t *entity = json_pack("{s:s, s:s}", "id", "t1", "name", "fails");
    json_t *current = json_pack("{s:s}", "id", "t1");
    rj_app_project_action_t action = RJ_APP_PROJECT_WRITE;
    json_t *out = NULL;
    rj_error_t err;

    reset(REPLACE, REPLACE);
    cr_expect_eq(rj_app_project(view, entity, "t1", current, &action, &out, &err), RJ_EINVAL);
    cr_expect_str_eq(err.msg, "cannot project fails.onProjectionError.onError");
    json_t *want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:O}", "kind", "projection",
                             "readModel", "View", "readModelId", "t1", "entity", "Thing",
                             "entityId", "t1", "entityState", entity, "current", current);
    cr_expect(json_equal(last_context, want), "%s", json_dumps(last_context, JSON_COMPACT));
    json_decref(want);

    reset(SWALLOW, REPLACE);
    cr_assert_eq(rj_app_project(view, entity, "t1", current, &action, &out, &err), RJ_OK);
    cr_expect_eq(action, RJ_APP_PROJECT_NOTHING);
    cr_expect_null(out);

    /* A read-model-query join key's failure is a projection error with no read model. */
    const rj_app_projection_t *other = rj_app_read_model(app, "Other")->projections;
    json_t *filter = NULL;
    reset(KEEP, REPLACE);
    cr_expect_eq(rj_app_projection_query(other, entity, &filter, &err), RJ_EINVAL);
    cr_expect_null(filter);
    cr_expect_str_eq(err.msg, "no join today.onError");
    cr_expect(json_is_null(json_object_get(last_context, "readModelId")));
    cr_expect(json_is_null(json_object_get(last_context, "current")));
    reset(SWALLOW, KEEP);
    filter = NULL;
    cr_expect_eq(rj_app_projection_query(other, entity, &filter, &err), RJ_OK);
    cr_expect_null(filter, "skip the projection");

    cr_expect_eq(entity->refcount, 1);
    cr_expect_eq(current->refcount, 1);
    json_decref(entity);
    json_decref(current);
    reset(KEEP, KEEP);
    rj_app_free(app);
}

/* ---- the shop's optional handler ---- */

static rj_app_t *
load_shop(bool with_handler)
{
    const char *dir = getenv("RAMJET_BUILD_DIR");
    char *path = rj_xasprintf("%s/lib/libshop.so", dir != NULL ? dir : ".");
    if (with_handler)
        setenv("SHOP_ERROR_HANDLER", "1", 1);
    else
        unsetenv("SHOP_ERROR_HANDLER");
    rj_error_t err;
    rj_app_t *app = rj_app_load(path, &err);
    unsetenv("SHOP_ERROR_HANDLER");
    free(path);
    cr_assert_not_null(app, "%s", err.msg);
    return app;
}

static rj_status_t
change_cart_item(const rj_app_t *shop, const char *cart_id, json_t **result, json_t **events,
                 rj_error_t *err)
{
    json_t *input =
        json_pack("{s:s, s:s, s:i}", "cartId", cart_id, "productId", "p1", "quantity", 1);
    *result = *events = NULL;
    rj_status_t st =
        rj_app_run_command(shop, "ChangeCartItem", input, NULL, "r", result, events, err);
    json_decref(input);
    return st;
}

Test(error_handler, the_shop_installs_none_by_default)
{
    rj_app_t *shop = load_shop(false);
    json_t *result, *events;
    rj_error_t err;
    cr_expect_eq(change_cart_item(shop, "before-throw-1", &result, &events, &err), RJ_EHANDLER);
    cr_expect_str_eq(err.msg, "Before hook throwing exception");
    cr_expect_eq(change_cart_item(shop, "before-throw-1-swallow", &result, &events, &err),
                 RJ_EHANDLER);
    rj_app_free(shop);
}

Test(error_handler, the_shops_handler_appends_on_error_and_swallows_marked_carts)
{
    rj_app_t *shop = load_shop(true);
    json_t *result, *events;
    rj_error_t err;
    cr_expect_eq(change_cart_item(shop, "before-throw-1", &result, &events, &err), RJ_EHANDLER);
    cr_expect_str_eq(err.msg, "Before hook throwing exception-onError");

    json_t *input =
        json_pack("{s:s, s:s, s:i}", "orderId", "o1", "customerId", "c1", "amountCents", 100);
    cr_expect_eq(rj_app_run_command(shop, "PlaceOrder", input, NULL, "r", &result, &events, &err),
                 RJ_EINVAL);
    cr_expect_str_eq(err.msg, "could not read entity Customer id=c1: this handler runs without an "
                              "entity store-onError");
    json_decref(input);

    cr_assert_eq(change_cart_item(shop, "before-throw-1-swallow", &result, &events, &err), RJ_OK,
                 "%s", err.msg);
    cr_expect(json_is_true(result));
    cr_expect_eq(json_array_size(events), 0);
    json_decref(result);
    json_decref(events);
    rj_app_free(shop);
}
