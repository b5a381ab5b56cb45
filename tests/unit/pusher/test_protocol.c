/*
 * test_protocol.c - graphql-ws message handling of the pusher, driven without sockets:
 * client frames go into push_proto_handle(), read-model envelopes into
 * push_proto_deliver(), and the frames a session queued are read back as JSON.
 * The application is tests/unit/pusher/test_app.c, loaded like any app.
 */
#include <criterion/criterion.h>
#include <jwt.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "app/app.h"
#include "core/core.h"
#include "log/log.h"
#include "pusher/protocol.h"

static rj_app_t *app;
static push_proto_t *proto;
static int wakes;
static char *private_pem; /* signs the tokens the test app trusts (issuer "ptest") */

/* A memory BIO's contents as a new string; frees the BIO. */
static char *
bio_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *str = rj_xstrndup(data, (size_t)n);
    BIO_free(b);
    return str;
}

/* Makes a key pair: the private half stays here, the public one goes to the test app. */
static void
make_key(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    cr_assert_not_null(key);
    BIO *b = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1);
    private_pem = bio_string(b);
    b = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_PUBKEY(b, key) == 1);
    char *pub = bio_string(b);
    setenv("PUSHER_TEST_PUBLIC_KEY", pub, 1);
    free(pub);
    EVP_PKEY_free(key);
}

/* "Bearer <RS256 token of issuer ptest with @p claims>" signed with @p pem. */
static char *
bearer(const char *pem, const char *claims)
{
    jwt_t *jwt = NULL;
    cr_assert_eq(jwt_new(&jwt), 0);
    cr_assert_eq(jwt_add_grants_json(jwt, claims), 0);
    cr_assert_eq(jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)pem, (int)strlen(pem)), 0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    char *b = rj_xasprintf("Bearer %s", t);
    free(t);
    return b;
}

/* A connection_init frame carrying @p authorization. */
static char *
init_frame(const char *authorization)
{
    json_t *m = json_pack("{s:s, s:{s:s}}", "type", "connection_init", "payload", "Authorization",
                          authorization);
    char *text = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return text;
}

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
    make_key();
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
    free(private_pem);
    private_pem = NULL;
    unsetenv("PUSHER_TEST_PUBLIC_KEY");
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

Test(pusher_protocol, connection_init_verifies_the_token_and_keeps_the_user)
{
    push_session_t s;
    push_session_init(&s, NULL);
    char *auth = bearer(private_pem, "{\"iss\":\"ptest\",\"sub\":\"u1\",\"roles\":\"Admin\"}");
    char *init = init_frame(auth);
    handle(&s, init);
    cr_assert(s.initialized);
    cr_assert_not_null(s.user);
    cr_assert_str_eq(json_string_value(json_object_get(s.user, "id")), "u1");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(s.user, "roles"), 0)),
                     "Admin");
    free(init);
    free(auth);
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

/* ---- authentication and authorization ---- */

/* The connection_error payload (a plain string) of the next frame; asserts its type. */
static char *
next_connection_error(push_session_t *s)
{
    json_t *f = next_frame(s);
    cr_assert_not_null(f);
    cr_assert_str_eq(json_string_value(json_object_get(f, "type")), "connection_error");
    cr_assert(json_is_string(json_object_get(f, "payload")), "the payload is a plain string");
    char *msg = rj_xstrdup(json_string_value(json_object_get(f, "payload")));
    json_decref(f);
    return msg;
}

Test(pusher_protocol, a_bad_token_is_a_connection_error_and_the_socket_stays_anonymous)
{
    push_session_t s;
    push_session_init(&s, NULL);
    static const struct {
        const char *claims;
        bool foreign;
        const char *message;
    } cases[] = {
        {"{\"iss\":\"ptest\",\"exp\":1000}", false, "TokenExpiredError: jwt expired"},
        {"{\"iss\":\"other\"}", false, "JsonWebTokenError: jwt issuer invalid. expected: ptest"},
        {"{\"iss\":\"ptest\"}", true, "JsonWebTokenError: invalid signature"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *pem = private_pem;
        EVP_PKEY *other = NULL;
        if (cases[i].foreign) {
            other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
            BIO *b = BIO_new(BIO_s_mem());
            PEM_write_bio_PrivateKey(b, other, NULL, NULL, 0, NULL, NULL);
            pem = bio_string(b);
        }
        char *auth = bearer(pem, cases[i].claims);
        char *init = init_frame(auth);
        handle(&s, init);
        char *msg = next_connection_error(&s);
        cr_expect_str_eq(msg, cases[i].message, "case %zu", i);
        cr_expect_null(s.user);
        cr_expect_null(next_frame(&s), "no connection_ack after a refusal");
        free(msg);
        free(init);
        free(auth);
        if (other != NULL) {
            free(pem);
            EVP_PKEY_free(other);
        }
    }
    handle(&s, "{\"type\":\"connection_init\",\"payload\":{\"Authorization\":\"Bearer x.y\"}}");
    char *msg = next_connection_error(&s);
    cr_expect_str_eq(msg, "JsonWebTokenError: jwt malformed");
    free(msg);
    handle(&s, "{\"type\":\"connection_init\",\"payload\":{\"Authorization\":42}}");
    msg = next_connection_error(&s);
    cr_expect_str_eq(msg, "JsonWebTokenError: jwt must be a string");
    free(msg);
    cr_expect_eq(s.close_code, 0, "the socket stays open");

    /* Still usable, as anonymous: a public subscription works, a protected one is denied. */
    handle(&s, cart_sub);
    cr_expect_null(next_frame(&s));
    handle(&s, "{\"type\":\"start\",\"id\":\"2\",\"payload\":{\"query\":"
               "\"subscription { SecretReadModel(id: \\\"x\\\") { secret } }\"}}");
    json_t *f = next_frame(&s);
    cr_expect_str_eq(first_error_message(f), "Access denied for this resource");
    json_decref(f);
    push_session_deinit(proto, &s);
}

/* Subscribes @p s to `<field>(id: <id>)` as operation "9"; returns the first frame or NULL. */
static json_t *
subscribe(push_session_t *s, const char *field, const char *id)
{
    char *msg = rj_xasprintf("{\"type\":\"start\",\"id\":\"9\",\"payload\":{\"query\":"
                             "\"subscription { %s(id: \\\"%s\\\") { id } }\"}}",
                             field, id);
    handle(s, msg);
    free(msg);
    return next_frame(s);
}

/* Opens a session authenticated with @p claims. */
static void
session_with(push_session_t *s, const char *claims)
{
    push_session_init(s, NULL);
    char *auth = bearer(private_pem, claims);
    char *init = init_frame(auth);
    handle(s, init);
    json_t *ack = next_frame(s);
    cr_assert_str_eq(json_string_value(json_object_get(ack, "type")), "connection_ack");
    json_decref(ack);
    free(init);
    free(auth);
}

Test(pusher_protocol, the_connection_user_is_authorized_on_every_start)
{
    push_session_t admin, nobody, special;
    session_with(&admin, "{\"iss\":\"ptest\",\"sub\":\"a\",\"roles\":[\"Admin\"]}");
    session_with(&nobody, "{\"iss\":\"ptest\",\"sub\":\"n\",\"roles\":[\"User\"]}");
    session_with(&special, "{\"iss\":\"ptest\",\"sub\":\"s\",\"special\":true}");

    cr_expect_null(subscribe(&admin, "SecretReadModel", "x"), "an Admin may subscribe");
    json_t *f = subscribe(&nobody, "SecretReadModel", "x");
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), "data");
    cr_expect_str_eq(first_error_message(f), "Access denied for this resource");
    json_t *err0 = json_array_get(json_object_get(json_object_get(f, "payload"), "errors"), 0);
    cr_expect_not_null(json_object_get(err0, "locations"));
    cr_expect_null(json_object_get(err0, "extensions"), "socket errors carry no extensions");
    json_decref(f);
    f = next_frame(&nobody);
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), "complete");
    json_decref(f);

    /* The custom authorizer sees the user and the request {filters: {id: {eq}}}. */
    cr_expect_null(subscribe(&special, "ClaimReadModel", "mine"));
    f = subscribe(&special, "ClaimReadModel", "yours");
    cr_expect_str_eq(first_error_message(f), "Only special users may read their own claim");
    json_decref(f);
    json_decref(next_frame(&special));
    f = subscribe(&admin, "ClaimReadModel", "mine");
    cr_expect_str_eq(first_error_message(f), "Only special users may read their own claim");
    json_decref(f);
    json_decref(next_frame(&admin));

    cr_expect_eq(push_subs_count(push_proto_subs_get(proto)), 2);
    push_session_deinit(proto, &admin);
    push_session_deinit(proto, &nobody);
    push_session_deinit(proto, &special);
}

Test(pusher_protocol, before_hooks_reject_or_rewrite_what_a_subscription_follows)
{
    push_session_t s;
    push_session_init(&s, NULL);
    json_t *f = subscribe(&s, "CartReadModel", "throw-1");
    cr_expect_str_eq(first_error_message(f), "Before hook throwing exception");
    json_t *err0 = json_array_get(json_object_get(json_object_get(f, "payload"), "errors"), 0);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(err0, "path"), 0)),
                     "CartReadModel");
    json_decref(f);
    json_decref(next_frame(&s));

    f = subscribe(&s, "CartReadModel", "wide-1");
    cr_expect(strstr(first_error_message(f), "not supported") != NULL, "%s",
              first_error_message(f));
    json_decref(f);
    json_decref(next_frame(&s));

    /* fn-c7 follows c7-mod: a change to c7-mod is delivered, one to fn-c7 is not. */
    cr_expect_null(subscribe(&s, "CartReadModel", "fn-c7"));
    static const char change_fn[] =
        "{\"type\":\"CartReadModel\",\"id\":\"fn-c7\",\"sequenceKey\":null,\"version\":1,"
        "\"value\":{\"id\":\"fn-c7\",\"cartItems\":[]},\"deleted\":false}";
    static const char change_mod[] =
        "{\"type\":\"CartReadModel\",\"id\":\"c7-mod\",\"sequenceKey\":null,\"version\":1,"
        "\"value\":{\"id\":\"c7-mod\",\"cartItems\":[]},\"deleted\":false}";
    cr_expect_eq(push_proto_deliver(proto, change_fn, strlen(change_fn)), 0);
    cr_expect_eq(push_proto_deliver(proto, change_mod, strlen(change_mod)), 1);
    f = next_frame(&s);
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(json_object_get(f, "payload"), "data"),
                                         "CartReadModel"),
                         "id")),
                     "c7-mod");
    json_decref(f);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, filter_ids_are_read_only_from_plain_id_filters)
{
    static const struct {
        const char *request;
        const char *id;
    } cases[] = {
        {"{\"filters\":{\"id\":{\"eq\":\"a\"}}}", "a"},
        {"{\"filters\":{\"id\":{\"eq\":7}}}", "7"},
        {"{\"filters\":{\"id\":{\"eq\":\"a\",\"ne\":\"b\"}}}", NULL},
        {"{\"filters\":{\"id\":{\"eq\":\"a\"},\"note\":{\"eq\":\"n\"}}}", NULL},
        {"{\"filters\":{\"id\":{\"in\":[\"a\"]}}}", NULL},
        {"{\"key\":{\"id\":\"a\"}}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *r = json_loads(cases[i].request, 0, NULL);
        char *id = push_filter_id(r);
        if (cases[i].id == NULL)
            cr_expect_null(id, "case %zu", i);
        else
            cr_expect_str_eq(id, cases[i].id, "case %zu", i);
        free(id);
        json_decref(r);
    }
}
