/*
 * test_protocol.c - graphql-ws message handling of the pusher, driven without sockets:
 * client frames go into push_proto_handle(), read-model envelopes into
 * push_proto_deliver(), and the frames a session queued are read back as JSON.
 * The application is tests/unit/pusher/test_app.c, loaded like any app.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "app/app.h"
#include "core/core.h"
#include "log/log.h"
#include "pusher/protocol.h"

static rj_app_t *app;
static push_proto_t *proto;
static int wakes;

static void
count_wake(push_session_t *s, void *ud)
{
    (void)s;
    (void)ud;
    wakes++;
}

/* A protocol context over the test app with these per-session limits. */
static push_proto_t *
proto_new(size_t queue_max, size_t max_subscriptions)
{
    push_proto_opts_t o = {
        .app = app,
        .schema = (rj_gql_schema_t *)(uintptr_t)rj_app_api_schema(app),
        .send_queue_max = queue_max,
        .max_subscriptions = max_subscriptions,
        .wake = count_wake,
    };
    return push_proto_new(&o);
}

static void
setup(void)
{
    rj_core_init();
    rj_log_init("test_pusher_protocol");
    rj_log_set_level(RJ_LOG_ERROR);
    rj_error_t err;
    app = rj_app_load(PUSHER_TEST_APP, &err);
    cr_assert_not_null(app, "could not load the test app: %s", err.msg);
    proto = proto_new(64, 0);
    wakes = 0;
}

/* Replaces the suite's context by one with other limits. */
static void
use_limits(size_t queue_max, size_t max_subscriptions)
{
    push_proto_free(proto);
    proto = proto_new(queue_max, max_subscriptions);
}

static void
teardown(void)
{
    push_proto_free(proto);
    rj_app_free(app);
}

static void
handle(push_session_t *s, const char *msg)
{
    push_proto_handle(proto, s, msg, strlen(msg));
}

/* The next queued frame as JSON (a new reference), or NULL when the queue is empty. */
static json_t *
next_frame(push_session_t *s)
{
    push_frame_t *f = push_session_pop(s);
    if (f == NULL)
        return NULL;
    json_error_t jerr;
    json_t *v = json_loadb(push_frame_data(f), f->len, 0, &jerr);
    cr_assert_not_null(v, "queued frame is not JSON: %s", jerr.text);
    free(f);
    return v;
}

static void
expect_frame_type(push_session_t *s, const char *type, const char *id)
{
    json_t *f = next_frame(s);
    cr_assert_not_null(f, "expected a %s frame, the queue is empty", type);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), type);
    if (id != NULL)
        cr_assert_str_eq(json_string_value(json_object_get(f, "id")), id);
    json_decref(f);
}

static const char *
first_error_message(const json_t *frame)
{
    return json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(frame, "payload"), "errors"), 0),
        "message"));
}

static const char cart_sub[] =
    "{\"type\":\"start\",\"id\":\"1\",\"payload\":{\"query\":"
    "\"subscription S($id: ID!) { CartReadModel(id: $id) { id cartItems { productId } } }\","
    "\"variables\":{\"id\":\"c1\"}}}";

static const char cart_change[] =
    "{\"type\":\"CartReadModel\",\"id\":\"c1\",\"sequenceKey\":null,\"version\":2,"
    "\"value\":{\"id\":\"c1\",\"cartItems\":[{\"productId\":\"p1\",\"quantity\":2}],"
    "\"note\":\"n\"},\"deleted\":false}";

TestSuite(pusher_protocol, .init = setup, .fini = teardown);

Test(pusher_protocol, connection_init_is_acknowledged_and_keeps_the_token)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"connection_init\",\"payload\":{\"Authorization\":\"Bearer abc\"}}");
    cr_assert(s.initialized);
    cr_assert_str_eq(s.authorization, "Bearer abc");
    json_t *f = next_frame(&s);
    char *text = json_dumps(f, JSON_COMPACT);
    cr_assert_str_eq(text, "{\"type\":\"connection_ack\"}");
    free(text);
    json_decref(f);
    cr_assert_null(next_frame(&s));
    cr_assert_eq(wakes, 1);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, unparseable_messages_are_ignored)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{not json");
    handle(&s, "[1,2]");
    handle(&s, "");
    cr_assert_null(next_frame(&s));
    cr_assert_eq(push_proto_stats_get(proto)->frames_ignored, 3);
    cr_assert_eq(s.close_code, 0);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, unknown_type_is_a_connection_error)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"subscribe\",\"id\":\"1\"}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "connection_error");
    cr_assert_str_eq(json_string_value(json_object_get(f, "payload")),
                     "Unknown message type \"subscribe\"");
    cr_assert_null(json_object_get(f, "id"));
    json_decref(f);
    cr_assert_eq(s.close_code, 0);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, start_without_id_is_a_connection_error)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"start\",\"payload\":{\"query\":\"{ __typename }\"}}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "connection_error");
    cr_assert_str_eq(json_string_value(json_object_get(f, "payload")),
                     "Missing \"id\" in start message");
    json_decref(f);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, start_without_query_is_an_error_frame)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"start\",\"id\":\"7\",\"payload\":{}}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "error");
    cr_assert_str_eq(json_string_value(json_object_get(f, "id")), "7");
    cr_assert_not_null(first_error_message(f));
    json_decref(f);
    cr_assert_null(next_frame(&s));
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, syntax_errors_are_data_then_complete)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"start\",\"id\":\"1\",\"payload\":{\"query\":\"subscription {\"}}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "data");
    cr_assert_str_eq(json_string_value(json_object_get(f, "id")), "1");
    cr_assert(strncmp(first_error_message(f), "Syntax Error", 12) == 0, "got %s",
              first_error_message(f));
    cr_assert_null(json_object_get(json_object_get(f, "payload"), "data"));
    json_decref(f);
    expect_frame_type(&s, "complete", "1");
    cr_assert_eq(push_subs_count(push_proto_subs_get(proto)), 0);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, validation_errors_are_data_then_complete)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"start\",\"id\":\"1\",\"payload\":{\"query\":"
               "\"subscription { CartReadModel(id: \\\"c1\\\") { nope } }\"}}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "data");
    cr_assert_not_null(first_error_message(f));
    cr_assert(strstr(first_error_message(f), "nope") != NULL, "got %s", first_error_message(f));
    json_decref(f);
    expect_frame_type(&s, "complete", "1");
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, queries_over_the_socket_point_to_the_gateway)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"start\",\"id\":\"q\",\"payload\":{\"query\":"
               "\"query { CartReadModel(id: \\\"c1\\\") { id } }\"}}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "data");
    cr_assert_str_eq(first_error_message(f), "Queries and mutations over WebSocket are served by "
                                             "the gateway at POST /graphql");
    json_t *e = json_array_get(json_object_get(json_object_get(f, "payload"), "errors"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "extensions"), "code")),
                     "InvalidProtocolError");
    json_decref(f);
    expect_frame_type(&s, "complete", "q");
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, subscription_registers_silently_and_receives_shaped_changes)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"connection_init\"}");
    expect_frame_type(&s, "connection_ack", NULL);
    handle(&s, cart_sub);
    cr_assert_null(next_frame(&s), "a subscription start must send nothing back");
    cr_assert_eq(push_subs_count(push_proto_subs_get(proto)), 1);

    cr_assert_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 1);
    json_t *f = next_frame(&s);
    json_t *want = json_loads("{\"id\":\"1\",\"payload\":{\"data\":{\"CartReadModel\":"
                              "{\"id\":\"c1\",\"cartItems\":[{\"productId\":\"p1\"}]}}},"
                              "\"type\":\"data\"}",
                              0, NULL);
    cr_assert(json_equal(f, want), "got %s", json_dumps(f, JSON_COMPACT));
    json_decref(want);
    json_decref(f);

    /* Another row, a deletion and garbage reach nobody. */
    const char other[] = "{\"type\":\"CartReadModel\",\"id\":\"c2\",\"sequenceKey\":null,"
                         "\"version\":1,\"value\":{\"id\":\"c2\",\"cartItems\":[]},"
                         "\"deleted\":false}";
    const char deleted[] = "{\"type\":\"CartReadModel\",\"id\":\"c1\",\"sequenceKey\":null,"
                           "\"version\":3,\"value\":null,\"deleted\":true}";
    cr_assert_eq(push_proto_deliver(proto, other, strlen(other)), 0);
    cr_assert_eq(push_proto_deliver(proto, deleted, strlen(deleted)), 0);
    cr_assert_eq(push_proto_deliver(proto, "nope", 4), 0);
    cr_assert_null(next_frame(&s));
    cr_assert_eq(push_proto_stats_get(proto)->changes_bad, 1);
    push_session_deinit(proto, &s);
    cr_assert_eq(push_subs_count(push_proto_subs_get(proto)), 0);
}

Test(pusher_protocol, aliases_name_the_response_key)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"start\",\"id\":\"a\",\"payload\":{\"query\":"
               "\"subscription { cart: CartReadModel(id: \\\"c1\\\") { note } }\"}}");
    cr_assert_null(next_frame(&s));
    cr_assert_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 1);
    json_t *f = next_frame(&s);
    json_t *data = json_object_get(json_object_get(f, "payload"), "data");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(data, "cart"), "note")),
                     "n");
    json_decref(f);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, stop_unsubscribes_and_completes)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, cart_sub);
    handle(&s, "{\"type\":\"stop\",\"id\":\"1\"}");
    expect_frame_type(&s, "complete", "1");
    cr_assert_eq(push_subs_count(push_proto_subs_get(proto)), 0);
    cr_assert_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 0);
    cr_assert_null(next_frame(&s));

    handle(&s, "{\"type\":\"stop\"}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(json_string_value(json_object_get(f, "payload")),
                     "Missing \"id\" in stop message");
    json_decref(f);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, terminate_drops_subscriptions_and_closes)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, cart_sub);
    handle(&s, "{\"type\":\"connection_terminate\"}");
    cr_assert_eq(s.close_code, PUSH_CLOSE_NORMAL);
    cr_assert_eq(push_subs_count(push_proto_subs_get(proto)), 0);
    cr_assert_null(next_frame(&s));
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, role_protected_read_models_deny_anonymous_sockets)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"start\",\"id\":\"s\",\"payload\":{\"query\":"
               "\"subscription { SecretReadModel(id: \\\"x\\\") { secret } }\"}}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "data");
    cr_assert_str_eq(first_error_message(f), "Access denied for this resource");
    json_t *e = json_array_get(json_object_get(json_object_get(f, "payload"), "errors"), 0);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(e, "path"), 0)),
                     "SecretReadModel");
    cr_assert_not_null(json_object_get(e, "locations"));
    json_decref(f);
    expect_frame_type(&s, "complete", "s");
    cr_assert_eq(push_subs_count(push_proto_subs_get(proto)), 0);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, sequenced_read_model_by_id_follows_every_row_of_that_id)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"start\",\"id\":\"p\",\"payload\":{\"query\":"
               "\"subscription { PriceHistoryReadModel(id: \\\"p1\\\") { at priceCents } }\"}}");
    cr_assert_null(next_frame(&s));
    const char t1[] = "{\"type\":\"PriceHistoryReadModel\",\"id\":\"p1\",\"sequenceKey\":\"t1\","
                      "\"version\":1,\"value\":{\"id\":\"p1\",\"at\":\"t1\",\"priceCents\":5},"
                      "\"deleted\":false}";
    const char t2[] = "{\"type\":\"PriceHistoryReadModel\",\"id\":\"p1\",\"sequenceKey\":\"t2\","
                      "\"version\":1,\"value\":{\"id\":\"p1\",\"at\":\"t2\",\"priceCents\":6},"
                      "\"deleted\":false}";
    cr_assert_eq(push_proto_deliver(proto, t1, strlen(t1)), 1);
    cr_assert_eq(push_proto_deliver(proto, t2, strlen(t2)), 1);
    expect_frame_type(&s, "data", "p");
    expect_frame_type(&s, "data", "p");
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, slow_client_is_closed_when_its_queue_is_full)
{
    use_limits(2, 0);
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, cart_sub);
    cr_assert_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 1);
    cr_assert_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 1);
    cr_assert_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 0);
    cr_assert_eq(s.close_code, PUSH_CLOSE_POLICY);
    cr_assert_eq(s.out_count, 2);
    cr_assert_eq(push_proto_stats_get(proto)->overflows, 1);
    /* Closing sessions take nothing more. */
    cr_assert_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 0);
    cr_assert_eq(s.out_count, 2);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, two_sessions_each_get_their_own_frame)
{
    push_session_t a, b;
    push_session_init(&a, NULL);
    push_session_init(&b, NULL);
    handle(&a, cart_sub);
    handle(&b, cart_sub);
    cr_assert_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 2);
    expect_frame_type(&a, "data", "1");
    expect_frame_type(&b, "data", "1");
    push_session_deinit(proto, &a);
    cr_assert_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 1);
    expect_frame_type(&b, "data", "1");
    push_session_deinit(proto, &b);
}

Test(pusher_protocol, filter_subscriptions_are_refused_clearly)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"start\",\"id\":\"f\",\"payload\":{\"query\":"
               "\"subscription { CartReadModels { id } }\"}}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "data");
    cr_assert_not_null(first_error_message(f));
    json_decref(f);
    expect_frame_type(&s, "complete", "f");
    cr_assert_eq(push_subs_count(push_proto_subs_get(proto)), 0);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, subscriptions_per_connection_are_capped)
{
    use_limits(64, 1);
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, cart_sub);
    cr_assert_null(next_frame(&s));
    /* Reusing the id replaces the subscription: still within the cap. */
    handle(&s, cart_sub);
    cr_assert_null(next_frame(&s));
    handle(&s, "{\"type\":\"start\",\"id\":\"2\",\"payload\":{\"query\":"
               "\"subscription { CartReadModel(id: \\\"c2\\\") { id } }\"}}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(first_error_message(f), "Too many subscriptions on this connection");
    json_decref(f);
    expect_frame_type(&s, "complete", "2");
    cr_assert_eq(push_subs_count(push_proto_subs_get(proto)), 1);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, operation_name_and_variables_are_honoured)
{
    push_session_t s;
    push_session_init(&s, NULL);
    const char two_ops[] = "{\"type\":\"start\",\"id\":\"o\",\"payload\":{\"query\":"
                           "\"subscription A($id: ID!) { CartReadModel(id: $id) { id } } "
                           "subscription B { CartReadModel(id: \\\"zz\\\") { note } }\","
                           "\"operationName\":\"A\",\"variables\":{\"id\":\"c1\"}}}";
    handle(&s, two_ops);
    cr_assert_null(next_frame(&s));
    cr_assert_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 1);
    expect_frame_type(&s, "data", "o");

    /* A missing required variable is a request error: data with errors, then complete. */
    handle(&s, "{\"type\":\"start\",\"id\":\"v\",\"payload\":{\"query\":"
               "\"subscription ($id: ID!) { CartReadModel(id: $id) { id } }\"}}");
    json_t *f = next_frame(&s);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "data");
    cr_assert_not_null(first_error_message(f));
    json_decref(f);
    expect_frame_type(&s, "complete", "v");
    push_session_deinit(proto, &s);
}
