/*
 * test_protocol.c - graphql-ws and graphql-transport-ws message handling of the pusher,
 * by-id and filter subscriptions, driven without sockets:
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
#define QUEUE_BYTES (1u << 20) /* the suite's send queue bound: nothing here comes near it */
static char *private_pem;      /* signs the tokens the test app trusts (issuer "ptest") */

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
proto_new(size_t queue_max_bytes, int grace_ms, size_t max_subscriptions)
{
    push_proto_opts_t o = {
        .app = app,
        .schema = (rj_gql_schema_t *)(uintptr_t)rj_app_api_schema(app),
        .send_queue_max_bytes = queue_max_bytes,
        .send_queue_grace_ms = grace_ms,
        .max_subscriptions = max_subscriptions,
        .init_timeout_ms = 3000,
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
    proto = proto_new(QUEUE_BYTES, 1000, 0);
    wakes = 0;
}

/* Replaces the suite's context by one with other limits. */
static void
use_limits(size_t queue_max_bytes, int grace_ms, size_t max_subscriptions)
{
    push_proto_free(proto);
    proto = proto_new(queue_max_bytes, grace_ms, max_subscriptions);
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

/*
 * Opens a graphql-ws session the way every client does, with an anonymous connection_init
 * (operations before it are refused), and drops the connection_ack.
 */
static void
session_ready(push_session_t *s)
{
    push_session_init(s, NULL);
    handle(s, "{\"type\":\"connection_init\"}");
    push_frame_t *ack = push_session_pop(s);
    cr_assert_not_null(ack);
    cr_assert(strstr(push_frame_data(ack), "connection_ack") != NULL);
    free(ack);
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
    session_ready(&s);
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
    session_ready(&s);
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
    session_ready(&s);
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
    session_ready(&s);
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
    session_ready(&s);
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
    session_ready(&s);
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
    session_ready(&s);
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
    session_ready(&s);
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
    session_ready(&s);
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
    session_ready(&s);
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
    session_ready(&s);
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
    session_ready(&s);
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

/* A change of cart c1 whose productId is @p product, at @p version. */
static char *
cart_change_of(const char *id, const char *product, int version)
{
    return rj_xasprintf("{\"type\":\"CartReadModel\",\"id\":\"%s\",\"sequenceKey\":null,"
                        "\"version\":%d,\"value\":{\"id\":\"%s\",\"cartItems\":[{\"productId\":"
                        "\"%s\",\"quantity\":1}]},\"deleted\":false}",
                        id, version, id, product);
}

static void
deliver_text(const char *msg)
{
    push_proto_deliver(proto, msg, strlen(msg));
}

/* Subscribes @p s to cart @p cart as operation @p op_id (by id). */
static void
start_cart(push_session_t *s, const char *op_id, const char *cart)
{
    char *m = rj_xasprintf("{\"type\":\"start\",\"id\":\"%s\",\"payload\":{\"query\":"
                           "\"subscription S($id: ID!) { CartReadModel(id: $id) { id cartItems "
                           "{ productId } } }\",\"variables\":{\"id\":\"%s\"}}}",
                           op_id, cart);
    handle(s, m);
    free(m);
}

/* The next frame's first cart item's productId (the frame must be a change). */
static char *
next_product(push_session_t *s, const char *op_id)
{
    json_t *f = next_frame(s);
    cr_assert_not_null(f, "expected a change for %s", op_id);
    cr_assert_str_eq(json_string_value(json_object_get(f, "id")), op_id);
    /* data.CartReadModel or data.CartReadModels: the one root field. */
    json_t *data = json_object_get(json_object_get(f, "payload"), "data");
    json_t *cart = json_object_iter_value(json_object_iter(data));
    const char *p = json_string_value(
        json_object_get(json_array_get(json_object_get(cart, "cartItems"), 0), "productId"));
    cr_assert_not_null(p, "not a cart change");
    char *product = rj_xstrdup(p);
    json_decref(f);
    return product;
}

static void
expect_product(push_session_t *s, const char *op_id, const char *want)
{
    char *got = next_product(s, op_id);
    cr_expect_str_eq(got, want, "op %s", op_id);
    free(got);
}

/* A client that keeps up (its queue under coalesce_after_bytes) gets every state. */
Test(pusher_protocol, changes_do_not_coalesce_while_the_client_keeps_up)
{
    push_proto_free(proto);
    push_proto_opts_t o = {
        .app = app,
        .schema = (rj_gql_schema_t *)(uintptr_t)rj_app_api_schema(app),
        .send_queue_max_bytes = QUEUE_BYTES,
        .send_queue_grace_ms = 1000,
        .coalesce_after_bytes = 4096,
    };
    proto = push_proto_new(&o);
    push_session_t s;
    session_ready(&s);
    start_cart(&s, "1", "c1");
    int v = 0;
    while (s.out_bytes < 4096) {
        char product[32];
        snprintf(product, sizeof product, "p%d", ++v);
        char *m = cart_change_of("c1", product, v);
        deliver_text(m);
        free(m);
    }
    cr_expect_eq(s.out_count, (size_t)v, "every state while under the threshold");
    cr_expect_eq(push_proto_stats_get(proto)->coalesced, 0);
    char *m = cart_change_of("c1", "last", ++v);
    deliver_text(m);
    free(m);
    cr_expect_eq(s.out_count, (size_t)v - 1, "behind: the newest waiting entry took it");
    for (int i = 1; i < v - 1; i++) {
        char product[32];
        snprintf(product, sizeof product, "p%d", i);
        expect_product(&s, "1", product);
    }
    expect_product(&s, "1", "last");
    cr_expect_null(next_frame(&s));
    push_session_deinit(proto, &s);
}

/* The burst of finding 6: a client that does not read gets one frame, the latest state. */
Test(pusher_protocol, a_burst_of_changes_to_one_row_coalesces_into_its_latest_state)
{
    push_session_t s;
    session_ready(&s);
    start_cart(&s, "1", "c1");
    for (int v = 1; v <= 5000; v++) {
        char product[32];
        snprintf(product, sizeof product, "p%d", v);
        char *m = cart_change_of("c1", product, v);
        deliver_text(m);
        free(m);
    }
    cr_expect_eq(s.close_code, 0, "a burst to one subscription is not a reason to close");
    cr_expect_eq(s.out_count, 1, "one waiting frame, not a queue");
    cr_expect_lt(s.out_bytes, 512);
    cr_expect_eq(push_proto_stats_get(proto)->coalesced, 4999);
    expect_product(&s, "1", "p5000");
    cr_expect_null(next_frame(&s));
    cr_expect_eq(s.out_bytes, 0);

    /* Once written, the next change is a new frame again. */
    char *m = cart_change_of("c1", "after", 5001);
    deliver_text(m);
    free(m);
    expect_product(&s, "1", "after");
    push_session_deinit(proto, &s);
}

/* Coalescing keeps the last state of every row and the order of each subscription, and
   never touches answers and protocol messages. */
Test(pusher_protocol, coalescing_keeps_every_rows_last_state_and_leaves_answers_alone)
{
    push_session_t s;
    session_ready(&s);
    /* Op "f" follows every cart (a filter subscription), op "a" and "b" cart a by id. */
    handle(&s, "{\"type\":\"start\",\"id\":\"f\",\"payload\":{\"query\":\"subscription { "
               "CartReadModels { id cartItems { productId } } }\"}}");
    start_cart(&s, "a", "a");
    start_cart(&s, "b", "a");
    cr_assert_null(next_frame(&s));
    char *m;
    m = cart_change_of("a", "a1", 1), deliver_text(m), free(m);
    m = cart_change_of("b", "b1", 1), deliver_text(m), free(m);
    /* A stop of "b": its waiting change goes, its `complete` is queued. */
    handle(&s, "{\"type\":\"stop\",\"id\":\"b\"}");
    m = cart_change_of("a", "a2", 2), deliver_text(m), free(m);
    m = cart_change_of("a", "a3", 3), deliver_text(m), free(m);
    /* By-id subscriptions are served before filters, so the first change queued
       b(a1) (dropped by the stop), a(a1), f(a1); then f(b1), complete b. Later changes
       of cart a replace a's entry in place; f's newest entry was for cart b, so f's next
       change of cart a is a new entry (its a1 must not jump ahead of its b1), which a3
       then replaces. */
    cr_expect_eq(s.out_count, 5);
    expect_product(&s, "a", "a3");
    expect_product(&s, "f", "a1");
    expect_product(&s, "f", "b1");
    expect_frame_type(&s, "complete", "b");
    expect_product(&s, "f", "a3");
    cr_expect_null(next_frame(&s));
    push_session_deinit(proto, &s);
}

/* A prompt reader with many subscriptions: a burst is one frame per subscription, and it
   is not closed (the frame-counting queue closed it past 1,024 frames). */
Test(pusher_protocol, many_subscriptions_on_one_connection_each_end_with_their_final_state)
{
    enum { NSUBS = 10000 };
    push_session_t s;
    session_ready(&s);
    for (int i = 0; i < NSUBS; i++) {
        char op[16];
        snprintf(op, sizeof op, "%d", i);
        start_cart(&s, op, "c1");
    }
    cr_assert_null(next_frame(&s));
    uint64_t renders = push_proto_stats_get(proto)->renders;
    for (int v = 1; v <= 3; v++) {
        char product[16];
        snprintf(product, sizeof product, "v%d", v);
        char *m = cart_change_of("c1", product, v);
        cr_expect_eq(push_proto_deliver(proto, m, strlen(m)), NSUBS);
        free(m);
    }
    /* Equal operations on one row share the rendering: one per change, not one each. */
    cr_expect_eq(push_proto_stats_get(proto)->renders - renders, 3);
    cr_expect_eq(s.close_code, 0);
    cr_expect_eq(s.out_count, NSUBS);
    static bool seen[NSUBS];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < NSUBS; i++) {
        json_t *f = next_frame(&s);
        cr_assert_not_null(f);
        int op = atoi(json_string_value(json_object_get(f, "id")));
        cr_assert(op >= 0 && op < NSUBS && !seen[op], "op %d twice", op);
        seen[op] = true;
        json_t *cart = json_object_get(json_object_get(json_object_get(f, "payload"), "data"),
                                       "CartReadModel");
        cr_assert_str_eq(json_string_value(json_object_get(
                             json_array_get(json_object_get(cart, "cartItems"), 0), "productId")),
                         "v3");
        json_decref(f);
    }
    cr_expect_null(next_frame(&s));
    push_session_deinit(proto, &s);
}

/* The bound is in bytes; a client over it has a grace period, over twice it none. */
Test(pusher_protocol, a_client_over_its_byte_bound_is_closed_after_the_grace_period)
{
    push_session_t s;
    char *m = cart_change_of("c1", "p", 1);
    /* Measure one change frame's cost, then bound the queue at 20 of them. */
    use_limits(QUEUE_BYTES, 1000, 0);
    session_ready(&s);
    start_cart(&s, "0", "c1");
    deliver_text(m);
    size_t cost = s.out_bytes;
    cr_assert_gt(cost, 50);
    push_session_deinit(proto, &s);

    use_limits(20 * cost, 1000, 0);
    session_ready(&s);
    for (int i = 0; i < 30; i++) {
        char op[16];
        snprintf(op, sizeof op, "%d", i);
        start_cart(&s, op, "c1");
    }
    deliver_text(m);
    cr_expect_eq(s.out_count, 30);
    cr_expect_gt(s.out_bytes, 20 * cost);
    cr_expect_eq(s.close_code, 0, "over the bound, within the grace period");
    cr_assert_neq(s.over_since_us, 0);
    int64_t since = s.over_since_us;
    push_session_tick(proto, &s, since + 999 * 1000);
    cr_expect_eq(s.close_code, 0);
    /* It reads some: under the bound again, the grace starts over next time. */
    for (int i = 0; i < 15; i++)
        free(push_session_pop(&s));
    push_session_tick(proto, &s, since + 999 * 1000);
    cr_expect_eq(s.over_since_us, 0);
    deliver_text(m); /* coalesces into the 15 waiting entries: still under */
    for (int i = 0; i < 15; i++)
        free(push_session_pop(&s));
    deliver_text(m);
    cr_assert_neq(s.over_since_us, 0);
    since = s.over_since_us;
    push_session_tick(proto, &s, since + 1000 * 1000);
    cr_expect_eq(s.close_code, PUSH_CLOSE_POLICY);
    cr_expect_str_eq(s.close_reason, "send queue over its limit: client too slow");
    cr_expect_eq(push_proto_stats_get(proto)->overflows, 1);
    /* Closing sessions take nothing more. */
    size_t n = s.out_count, bytes = s.out_bytes;
    char *m2 = cart_change_of("c1", "later", 2);
    deliver_text(m2);
    free(m2);
    cr_expect_eq(s.out_count, n);
    cr_expect_eq(s.out_bytes, bytes, "not even coalesced");
    push_session_deinit(proto, &s);

    /* Changes over twice the bound only start the grace: they coalesce, their values are
       shared. Answers and protocol messages over twice it close at once. */
    use_limits(10 * cost, 60000, 0);
    session_ready(&s);
    for (int i = 0; i < 30; i++) {
        char op[16];
        snprintf(op, sizeof op, "%d", i);
        start_cart(&s, op, "c1");
    }
    deliver_text(m);
    cr_expect_gt(s.out_bytes, 20 * cost);
    cr_expect_eq(s.close_code, 0);
    int stops = 0;
    while (s.close_code == 0 && stops < 10000) {
        char *stop = rj_xasprintf("{\"type\":\"stop\",\"id\":\"none-%d\"}", stops++);
        handle(&s, stop);
        free(stop);
    }
    cr_expect_eq(s.close_code, PUSH_CLOSE_POLICY);
    cr_expect_gt(s.out_frame_bytes, 20 * cost);
    cr_expect_leq(s.out_frame_bytes, 20 * cost + 64, "closed at the frame that went over");
    push_session_deinit(proto, &s);
    free(m);
}

Test(pusher_protocol, two_sessions_each_get_their_own_frame)
{
    push_session_t a, b;
    session_ready(&a);
    session_ready(&b);
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

Test(pusher_protocol, subscriptions_per_connection_are_capped)
{
    use_limits(QUEUE_BYTES, 1000, 1);
    push_session_t s;
    session_ready(&s);
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
    session_ready(&s);
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

/* A token that does not verify: connection_error with the reason, then 4403 (Booster left
   the socket open and anonymous). */
Test(pusher_protocol, a_bad_token_is_a_connection_error_then_the_socket_closes)
{
    push_session_t s;
    static const struct {
        const char *claims;
        bool foreign;
        const char *message;
    } cases[] = {
        {"{\"iss\":\"ptest\",\"exp\":1000}", false, "TokenExpiredError: jwt expired"},
        {"{\"iss\":\"other\"}", false, "JsonWebTokenError: jwt issuer invalid. expected: ptest"},
        {"{\"iss\":\"ptest\"}", true, "JsonWebTokenError: invalid signature"},
        {"{\"iss\":\"ptest\",\"iat\":99999999999}", false,
         "JsonWebTokenError: jwt issued in the future"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        push_session_init(&s, NULL);
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
        cr_expect_eq(s.close_code, PUSH_CLOSE_FORBIDDEN, "case %zu", i);
        cr_expect_str_eq(s.close_reason, "Forbidden");
        cr_expect(s.close_flush, "the connection_error goes out before the close");
        /* Nothing more is served on it. */
        handle(&s, cart_sub);
        cr_expect_null(next_frame(&s));
        cr_expect_eq(s.subs.count, 0);
        free(msg);
        free(init);
        free(auth);
        if (other != NULL) {
            free(pem);
            EVP_PKEY_free(other);
        }
        push_session_deinit(proto, &s);
    }
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"connection_init\",\"payload\":{\"Authorization\":42}}");
    char *msg = next_connection_error(&s);
    cr_expect_str_eq(msg, "JsonWebTokenError: jwt must be a string");
    free(msg);
    cr_expect_eq(s.close_code, PUSH_CLOSE_FORBIDDEN);
    push_session_deinit(proto, &s);
}

/* graphql-ws: a start before connection_init is refused and closes (Booster served it as
   anonymous); graphql-transport-ws closes with 4401 too (tws_subscribe_before_ack_is_4401). */
Test(pusher_protocol, graphql_ws_start_before_connection_init_is_an_error_and_closes)
{
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, cart_sub);
    json_t *f = next_frame(&s);
    cr_assert_not_null(f);
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), "error");
    cr_expect_str_eq(json_string_value(json_object_get(f, "id")), "1");
    cr_expect_str_eq(
        json_string_value(json_object_get(
            json_object_get(
                json_array_get(json_object_get(json_object_get(f, "payload"), "errors"), 0),
                "extensions"),
            "code")),
        "NotAuthorizedError");
    json_decref(f);
    cr_expect_eq(s.close_code, PUSH_CLOSE_UNAUTHORIZED);
    cr_expect_str_eq(s.close_reason, "Unauthorized");
    cr_expect(s.close_flush, "the error goes out before the close");
    cr_expect_eq(s.subs.count, 0, "nothing was subscribed");
    cr_expect_null(next_frame(&s));
    push_session_deinit(proto, &s);
}

/* The token is taken where clients put it: the payload's Authorization, authorization,
   authToken or token, or else the upgrade request's Authorization header. */
Test(pusher_protocol, the_token_is_read_from_every_key_clients_use_and_from_the_header)
{
    char *auth = bearer(private_pem, "{\"iss\":\"ptest\",\"sub\":\"k\",\"roles\":[\"Admin\"]}");
    static const char *const keys[] = {"Authorization", "authorization", "authToken", "token"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        for (int proto_i = 0; proto_i < 2; proto_i++) {
            push_session_t s;
            push_session_init_proto(
                &s, NULL, proto_i ? PUSH_SUBPROTO_TRANSPORT_WS : PUSH_SUBPROTO_GRAPHQL_WS);
            json_t *m =
                json_pack("{s:s, s:{s:s}}", "type", "connection_init", "payload", keys[i], auth);
            char *text = json_dumps(m, JSON_COMPACT);
            handle(&s, text);
            free(text);
            json_decref(m);
            expect_frame_type(&s, "connection_ack", NULL);
            cr_assert_not_null(s.user, "key %s", keys[i]);
            cr_expect_str_eq(json_string_value(json_object_get(s.user, "id")), "k");
            push_session_deinit(proto, &s);
        }
    }
    /* The header, when the payload has none; a bad one refuses like a bad payload token. */
    push_session_t s;
    push_session_init(&s, NULL);
    push_session_set_upgrade_authorization(&s, auth, strlen(auth));
    handle(&s, "{\"type\":\"connection_init\"}");
    expect_frame_type(&s, "connection_ack", NULL);
    cr_assert_not_null(s.user);
    cr_expect_str_eq(s.authorization, auth, "what the gateway gets");
    push_session_deinit(proto, &s);

    push_session_init_proto(&s, NULL, PUSH_SUBPROTO_TRANSPORT_WS);
    push_session_set_upgrade_authorization(&s, "Bearer x.y", 10);
    handle(&s, "{\"type\":\"connection_init\"}");
    cr_expect_eq(s.close_code, PUSH_CLOSE_FORBIDDEN);
    cr_expect_null(s.user);
    push_session_deinit(proto, &s);
    free(auth);
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
    session_ready(&s);
    json_t *f = subscribe(&s, "CartReadModel", "throw-1");
    cr_expect_str_eq(first_error_message(f), "Before hook throwing exception");
    json_t *err0 = json_array_get(json_object_get(json_object_get(f, "payload"), "errors"), 0);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(err0, "path"), 0)),
                     "CartReadModel");
    json_decref(f);
    json_decref(next_frame(&s));

    /* wide-1 is widened by the hook to {note: {eq: "x"}}: it follows that filter. */
    cr_expect_null(subscribe(&s, "CartReadModel", "wide-1"));
    cr_expect_eq(push_subs_group_count(push_proto_subs_get(proto)), 1);
    static const char change_x[] =
        "{\"type\":\"CartReadModel\",\"id\":\"any\",\"sequenceKey\":null,\"version\":1,"
        "\"value\":{\"id\":\"any\",\"cartItems\":[],\"note\":\"x\"},\"deleted\":false}";
    cr_expect_eq(push_proto_deliver(proto, change_x, strlen(change_x)), 1);
    expect_frame_type(&s, "data", "9");
    handle(&s, "{\"type\":\"stop\",\"id\":\"9\"}");
    expect_frame_type(&s, "complete", "9");
    cr_expect_eq(push_subs_group_count(push_proto_subs_get(proto)), 0);

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

/* ---- filter subscriptions ---- */

/* A graphql-ws `start` of @p query (JSON-escaped already) as operation @p id. */
static void
start(push_session_t *s, const char *id, const char *query)
{
    char *msg = rj_xasprintf("{\"type\":\"start\",\"id\":\"%s\",\"payload\":{\"query\":\"%s\"}}",
                             id, query);
    handle(s, msg);
    free(msg);
}

/* A CartReadModel change envelope for row @p id with note @p note. */
static char *
cart_change_with(const char *id, const char *note)
{
    return rj_xasprintf("{\"type\":\"CartReadModel\",\"id\":\"%s\",\"sequenceKey\":null,"
                        "\"version\":1,\"value\":{\"id\":\"%s\",\"cartItems\":[{\"productId\":"
                        "\"p1\",\"quantity\":1}],\"note\":\"%s\"},\"deleted\":false}",
                        id, id, note);
}

static size_t
deliver_cart(const char *id, const char *note)
{
    char *c = cart_change_with(id, note);
    size_t n = push_proto_deliver(proto, c, strlen(c));
    free(c);
    return n;
}

/* Asserts the next frame is exactly @p want (JSON text). */
static void
expect_frame(push_session_t *s, const char *want)
{
    json_t *f = next_frame(s);
    cr_assert_not_null(f, "expected %s, the queue is empty", want);
    json_t *w = json_loads(want, 0, NULL);
    cr_assert_not_null(w, "bad expectation %s", want);
    char *got = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert(json_equal(f, w), "got %s, want %s", got, want);
    free(got);
    json_decref(w);
    json_decref(f);
}

Test(pusher_protocol, filter_subscriptions_evaluate_the_whole_filter_on_each_change)
{
    push_session_t s;
    session_ready(&s);
    start(&s, "f",
          "subscription { CartReadModels(filter: {or: [{id: {eq: \\\"c2\\\"}}, "
          "{note: {beginsWith: \\\"ye\\\"}, not: {id: {in: [\\\"c9\\\"]}}}]}) { id note } }");
    cr_assert_null(next_frame(&s), "a subscription start must send nothing back");
    cr_assert_eq(push_subs_count(push_proto_subs_get(proto)), 1);
    cr_assert_eq(push_subs_group_count(push_proto_subs_get(proto)), 1);
    cr_assert_eq(push_subs_topic_count(push_proto_subs_get(proto)), 0, "not in the by-id index");

    cr_expect_eq(deliver_cart("c1", "no"), 0);
    cr_expect_eq(deliver_cart("c1", "yes"), 1);
    expect_frame(&s, "{\"id\":\"f\",\"payload\":{\"data\":{\"CartReadModels\":"
                     "{\"id\":\"c1\",\"note\":\"yes\"}}},\"type\":\"data\"}");
    cr_expect_eq(deliver_cart("c9", "yes"), 0, "excluded by not");
    cr_expect_eq(deliver_cart("c2", "no"), 1, "selected by the other branch of or");
    expect_frame_type(&s, "data", "f");

    /* Other read models and deletions reach nobody. */
    const char deleted[] = "{\"type\":\"CartReadModel\",\"id\":\"c2\",\"sequenceKey\":null,"
                           "\"version\":3,\"value\":null,\"deleted\":true}";
    cr_expect_eq(push_proto_deliver(proto, deleted, strlen(deleted)), 0);
    const char other_rm[] = "{\"type\":\"SecretReadModel\",\"id\":\"c2\",\"sequenceKey\":null,"
                            "\"version\":1,\"value\":{\"id\":\"c2\",\"note\":\"yes\"},"
                            "\"deleted\":false}";
    cr_expect_eq(push_proto_deliver(proto, other_rm, strlen(other_rm)), 0);
    cr_expect_null(next_frame(&s));

    handle(&s, "{\"type\":\"stop\",\"id\":\"f\"}");
    expect_frame_type(&s, "complete", "f");
    cr_expect_eq(push_subs_group_count(push_proto_subs_get(proto)), 0);
    cr_expect_eq(deliver_cart("c1", "yes"), 0);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, filter_subscription_without_filter_follows_every_row)
{
    push_session_t s;
    session_ready(&s);
    start(&s, "all", "subscription { CartReadModels { id } }");
    start(&s, "nul", "subscription { CartReadModels(filter: null) { id } }");
    cr_assert_null(next_frame(&s));
    cr_expect_eq(deliver_cart("a", "x"), 2);
    cr_expect_eq(deliver_cart("b", "y"), 2);
    for (int i = 0; i < 4; i++)
        expect_frame_type(&s, "data", NULL);
    push_session_deinit(proto, &s);
    cr_expect_eq(push_subs_count(push_proto_subs_get(proto)), 0);
    cr_expect_eq(push_subs_group_count(push_proto_subs_get(proto)), 0);
}

Test(pusher_protocol, equal_filter_subscriptions_are_evaluated_and_rendered_once)
{
    enum { N = 5 };
    push_session_t s[N];
    static const char q[] =
        "subscription { CartReadModels(filter: {note: {eq: \\\"n\\\"}}) { id cartItems { "
        "quantity } } }";
    for (int i = 0; i < N; i++) {
        session_ready(&s[i]);
        start(&s[i], "op", q);
    }
    /* Same filter, another selection: its own group. Another filter: its own group. */
    push_session_t t;
    session_ready(&t);
    start(&t, "sel", "subscription { CartReadModels(filter: {note: {eq: \\\"n\\\"}}) { note } }");
    start(&t, "flt",
          "subscription { CartReadModels(filter: {note: {eq: \\\"m\\\"}}) { id "
          "cartItems { quantity } } }");
    push_subs_t *subs = push_proto_subs_get(proto);
    cr_assert_eq(push_subs_count(subs), N + 2);
    cr_assert_eq(push_subs_group_count(subs), 3);

    const push_proto_stats_t *st = push_proto_stats_get(proto);
    uint64_t evals = st->filter_evals, renders = st->renders;
    cr_expect_eq(deliver_cart("c1", "n"), N + 1);
    cr_expect_eq(st->filter_evals - evals, 3, "one evaluation per group");
    cr_expect_eq(st->renders - renders, 2, "one rendering per matching group");
    for (int i = 0; i < N; i++)
        expect_frame(&s[i], "{\"id\":\"op\",\"payload\":{\"data\":{\"CartReadModels\":{\"id\":"
                            "\"c1\",\"cartItems\":[{\"quantity\":1}]}}},\"type\":\"data\"}");
    expect_frame(&t, "{\"id\":\"sel\",\"payload\":{\"data\":{\"CartReadModels\":{\"note\":\"n\"}}},"
                     "\"type\":\"data\"}");
    cr_expect_null(next_frame(&t));

    /* Members leave one by one; the group goes with the last. */
    for (int i = 0; i < N; i++) {
        cr_expect_eq(push_subs_group_count(subs), 3);
        push_session_deinit(proto, &s[i]);
    }
    cr_expect_eq(push_subs_group_count(subs), 2);
    cr_expect_eq(deliver_cart("c1", "n"), 1);
    push_session_deinit(proto, &t);
    cr_expect_eq(push_subs_group_count(subs), 0);
}

Test(pusher_protocol, filter_variables_and_aliases_are_part_of_the_group)
{
    push_session_t a, b;
    session_ready(&a);
    session_ready(&b);
    static const char fmt[] =
        "{\"type\":\"start\",\"id\":\"v\",\"payload\":{\"query\":\"subscription ($n: String) { "
        "c: CartReadModels(filter: {note: {eq: $n}}) { id } }\",\"variables\":{\"n\":\"%s\"}}}";
    char *ma = rj_xasprintf(fmt, "one");
    char *mb = rj_xasprintf(fmt, "two");
    handle(&a, ma);
    handle(&b, mb);
    free(ma);
    free(mb);
    cr_assert_eq(push_subs_group_count(push_proto_subs_get(proto)), 2);
    cr_expect_eq(deliver_cart("c1", "two"), 1);
    cr_expect_null(next_frame(&a));
    expect_frame(&b,
                 "{\"id\":\"v\",\"payload\":{\"data\":{\"c\":{\"id\":\"c1\"}}},\"type\":\"data\"}");
    push_session_deinit(proto, &a);
    push_session_deinit(proto, &b);
}

Test(pusher_protocol, filter_subscriptions_are_authorized_and_pass_the_before_hooks)
{
    push_session_t anon, admin, special;
    session_ready(&anon);
    session_with(&admin, "{\"iss\":\"ptest\",\"sub\":\"a\",\"roles\":[\"Admin\"]}");
    session_with(&special, "{\"iss\":\"ptest\",\"sub\":\"s\",\"special\":true}");

    start(&anon, "1", "subscription { SecretReadModels { id } }");
    json_t *f = next_frame(&anon);
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), "data");
    cr_expect_str_eq(first_error_message(f), "Access denied for this resource");
    json_t *e = json_array_get(json_object_get(json_object_get(f, "payload"), "errors"), 0);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(e, "path"), 0)),
                     "SecretReadModels");
    json_decref(f);
    expect_frame_type(&anon, "complete", "1");

    start(&admin, "1", "subscription { SecretReadModels { id } }");
    cr_expect_null(next_frame(&admin), "an Admin may subscribe");

    /* The custom authorizer sees {filters: <the filter>}. */
    start(&special, "1",
          "subscription { ClaimReadModels(filter: {id: {eq: \\\"mine\\\"}}) { id } }");
    cr_expect_null(next_frame(&special));
    start(&special, "2", "subscription { ClaimReadModels { id } }");
    f = next_frame(&special);
    cr_expect_str_eq(first_error_message(f), "Only special users may read their own claim");
    json_decref(f);
    expect_frame_type(&special, "complete", "2");

    /* The read model's before hooks run on filter subscriptions too. */
    start(&anon, "h",
          "subscription { CartReadModels(filter: {id: {eq: \\\"throw-1\\\"}}) { id } }");
    f = next_frame(&anon);
    cr_expect_str_eq(first_error_message(f), "Before hook throwing exception");
    json_decref(f);
    expect_frame_type(&anon, "complete", "h");

    /* ... and what they leave is what is evaluated: fn-c7 becomes c7-mod. */
    start(&anon, "r", "subscription { CartReadModels(filter: {id: {eq: \\\"fn-c7\\\"}}) { id } }");
    cr_expect_null(next_frame(&anon));
    cr_expect_eq(deliver_cart("fn-c7", "x"), 0);
    cr_expect_eq(deliver_cart("c7-mod", "x"), 1);
    expect_frame_type(&anon, "data", "r");

    cr_expect_eq(push_subs_count(push_proto_subs_get(proto)), 3);
    push_session_deinit(proto, &anon);
    push_session_deinit(proto, &admin);
    push_session_deinit(proto, &special);
}

/* ---- graphql-transport-ws ---- */

static void
tws_init(push_session_t *s)
{
    push_session_init_proto(s, NULL, PUSH_SUBPROTO_TRANSPORT_WS);
}

static void
expect_close(push_session_t *s, int code, const char *reason)
{
    cr_expect_eq(s->close_code, code, "close code %d, want %d", s->close_code, code);
    if (reason != NULL)
        cr_expect_str_eq(s->close_reason != NULL ? s->close_reason : "(null)", reason);
}

static const char tws_sub[] =
    "{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":"
    "\"subscription S($id: ID!) { CartReadModel(id: $id) { id cartItems { productId } } }\","
    "\"variables\":{\"id\":\"c1\"}}}";

Test(pusher_protocol, subprotocol_names)
{
    cr_expect_eq(push_subproto_from_name("graphql-transport-ws"), PUSH_SUBPROTO_TRANSPORT_WS);
    cr_expect_eq(push_subproto_from_name("graphql-ws"), PUSH_SUBPROTO_GRAPHQL_WS);
    cr_expect_eq(push_subproto_from_name(NULL), PUSH_SUBPROTO_GRAPHQL_WS);
    cr_expect_eq(push_subproto_from_name("graphql-transport-wsx"), PUSH_SUBPROTO_GRAPHQL_WS);
}

Test(pusher_protocol, tws_ack_ping_pong_subscribe_next_complete)
{
    push_session_t s;
    tws_init(&s);
    handle(&s, "{\"type\":\"ping\"}");
    expect_frame(&s, "{\"type\":\"pong\"}");
    handle(&s, "{\"type\":\"ping\",\"payload\":{\"k\":1}}");
    expect_frame(&s, "{\"type\":\"pong\",\"payload\":{\"k\":1}}");
    handle(&s, "{\"type\":\"pong\"}");
    cr_expect_null(next_frame(&s), "a pong is not answered");

    handle(&s, "{\"type\":\"connection_init\",\"payload\":{}}");
    expect_frame(&s, "{\"type\":\"connection_ack\"}");
    handle(&s, tws_sub);
    cr_expect_null(next_frame(&s));
    cr_expect_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 1);
    expect_frame(&s, "{\"id\":\"1\",\"payload\":{\"data\":{\"CartReadModel\":{\"id\":\"c1\","
                     "\"cartItems\":[{\"productId\":\"p1\"}]}}},\"type\":\"next\"}");

    /* The client completes: nothing is sent back, nothing more arrives, the id is free. */
    handle(&s, "{\"type\":\"complete\",\"id\":\"1\"}");
    cr_expect_null(next_frame(&s));
    cr_expect_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 0);
    handle(&s, tws_sub);
    cr_expect_eq(s.close_code, 0);
    cr_expect_eq(push_subs_count(push_proto_subs_get(proto)), 1);

    /* No `ka` on this protocol. */
    push_session_keepalive(proto, &s);
    cr_expect_null(next_frame(&s));
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, tws_request_errors_are_error_messages_and_refusals_next_then_complete)
{
    push_session_t s;
    tws_init(&s);
    handle(&s, "{\"type\":\"connection_init\"}");
    expect_frame_type(&s, "connection_ack", NULL);

    handle(&s, "{\"type\":\"subscribe\",\"id\":\"v\",\"payload\":{\"query\":"
               "\"subscription { CartReadModel(id: \\\"c1\\\") { nope } }\"}}");
    json_t *f = next_frame(&s);
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), "error");
    cr_expect_str_eq(json_string_value(json_object_get(f, "id")), "v");
    json_t *payload = json_object_get(f, "payload");
    cr_expect(json_is_array(payload), "the error payload is the errors array");
    cr_expect(strstr(json_string_value(json_object_get(json_array_get(payload, 0), "message")),
                     "nope") != NULL);
    json_decref(f);
    cr_expect_null(next_frame(&s), "`error` ends the operation: no complete");

    handle(&s, "{\"type\":\"subscribe\",\"id\":\"d\",\"payload\":{\"query\":"
               "\"subscription { SecretReadModel(id: \\\"x\\\") { id } }\"}}");
    f = next_frame(&s);
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), "next");
    cr_expect_str_eq(first_error_message(f), "Access denied for this resource");
    json_decref(f);
    expect_frame_type(&s, "complete", "d");

    /* Ended operations free their ids. */
    handle(&s, "{\"type\":\"subscribe\",\"id\":\"d\",\"payload\":{\"query\":"
               "\"subscription { CartReadModels(filter: {id: {eq: \\\"c1\\\"}}) { id } }\"}}");
    cr_expect_null(next_frame(&s));
    cr_expect_eq(s.close_code, 0);
    cr_expect_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 1);
    expect_frame(&s, "{\"id\":\"d\",\"payload\":{\"data\":{\"CartReadModels\":{\"id\":\"c1\"}}},"
                     "\"type\":\"next\"}");
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, tws_subscribe_before_ack_is_4401)
{
    push_session_t s;
    tws_init(&s);
    handle(&s, tws_sub);
    expect_close(&s, PUSH_CLOSE_UNAUTHORIZED, "Unauthorized");
    cr_expect_eq(push_subs_count(push_proto_subs_get(proto)), 0);
    /* Closing: later messages are not handled. */
    handle(&s, "{\"type\":\"connection_init\"}");
    cr_expect_null(next_frame(&s));
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, tws_a_bad_token_is_4403_and_a_good_one_keeps_the_user)
{
    push_session_t s;
    tws_init(&s);
    handle(&s, "{\"type\":\"connection_init\",\"payload\":{\"Authorization\":\"Bearer x.y\"}}");
    expect_close(&s, PUSH_CLOSE_FORBIDDEN, "Forbidden");
    cr_expect_null(next_frame(&s), "no connection_ack");
    cr_expect_null(s.user);
    push_session_deinit(proto, &s);

    tws_init(&s);
    char *auth = bearer(private_pem, "{\"iss\":\"ptest\",\"sub\":\"a\",\"roles\":[\"Admin\"]}");
    char *init = init_frame(auth);
    handle(&s, init);
    free(init);
    free(auth);
    expect_frame_type(&s, "connection_ack", NULL);
    handle(&s, "{\"type\":\"subscribe\",\"id\":\"s\",\"payload\":{\"query\":"
               "\"subscription { SecretReadModel(id: \\\"x\\\") { id } }\"}}");
    cr_expect_null(next_frame(&s), "the Admin from connection_init may subscribe");
    cr_expect_eq(push_subs_count(push_proto_subs_get(proto)), 1);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, tws_duplicate_ids_are_4409_and_second_inits_4429)
{
    push_session_t s;
    tws_init(&s);
    handle(&s, "{\"type\":\"connection_init\"}");
    expect_frame_type(&s, "connection_ack", NULL);
    handle(&s, tws_sub);
    handle(&s, tws_sub);
    expect_close(&s, PUSH_CLOSE_SUBSCRIBER_EXISTS, "Subscriber for 1 already exists");
    push_session_deinit(proto, &s);

    tws_init(&s);
    handle(&s, "{\"type\":\"connection_init\"}");
    expect_frame_type(&s, "connection_ack", NULL);
    handle(&s, "{\"type\":\"connection_init\"}");
    expect_close(&s, PUSH_CLOSE_TOO_MANY_INITS, "Too many initialisation requests");
    push_session_deinit(proto, &s);

    /* A reason longer than a close frame holds is cut to 123 bytes. */
    tws_init(&s);
    handle(&s, "{\"type\":\"connection_init\"}");
    expect_frame_type(&s, "connection_ack", NULL);
    char id[201];
    memset(id, 'i', 200);
    id[200] = '\0';
    char *sub = rj_xasprintf("{\"type\":\"subscribe\",\"id\":\"%s\",\"payload\":{\"query\":"
                             "\"subscription { CartReadModel(id: \\\"c\\\") { id } }\"}}",
                             id);
    handle(&s, sub);
    handle(&s, sub);
    free(sub);
    cr_expect_eq(s.close_code, PUSH_CLOSE_SUBSCRIBER_EXISTS);
    cr_expect_eq(strlen(s.close_reason), PUSH_CLOSE_REASON_MAX);
    cr_expect(strncmp(s.close_reason, "Subscriber for iii", 18) == 0);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, tws_invalid_messages_are_4400)
{
    static const char *const bad[] = {
        "{not json",
        "[1]",
        "{}",
        "{\"type\":7}",
        "{\"type\":\"start\",\"id\":\"1\",\"payload\":{\"query\":\"{ __typename }\"}}",
        "{\"type\":\"connection_terminate\"}",
        "{\"type\":\"next\",\"id\":\"1\",\"payload\":{}}",
        "{\"type\":\"connection_init\",\"payload\":\"token\"}",
        "{\"type\":\"ping\",\"payload\":[1]}",
        "{\"type\":\"subscribe\",\"payload\":{\"query\":\"subscription { x }\"}}",
        "{\"type\":\"subscribe\",\"id\":\"1\"}",
        "{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":1}}",
        "{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":\"q\",\"variables\":[]}}",
        "{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":\"q\",\"operationName\":1}}",
        "{\"type\":\"complete\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        push_session_t s;
        tws_init(&s);
        handle(&s, bad[i]);
        cr_expect_eq(s.close_code, PUSH_CLOSE_BAD_REQUEST, "case %zu (%s): close %d", i, bad[i],
                     s.close_code);
        cr_expect(s.close_reason != NULL && s.close_reason[0] != '\0', "case %zu has a reason", i);
        cr_expect_null(next_frame(&s), "case %zu", i);
        push_session_deinit(proto, &s);
    }
    cr_expect_eq(push_proto_stats_get(proto)->protocol_closes, sizeof bad / sizeof bad[0]);
}

Test(pusher_protocol, tws_connection_init_timeout_is_4408)
{
    push_session_t late, ok, legacy;
    tws_init(&late);
    tws_init(&ok);
    session_ready(&legacy);
    handle(&ok, "{\"type\":\"connection_init\"}");
    expect_frame_type(&ok, "connection_ack", NULL);

    int64_t t0 = late.opened_us;
    push_session_tick(proto, &late, t0 + 2999 * 1000);
    cr_expect_eq(late.close_code, 0, "not before the timeout");
    int64_t after = t0 + 3000 * 1000 + 1;
    push_session_tick(proto, &late, after);
    push_session_tick(proto, &ok, after);
    push_session_tick(proto, &legacy, after);
    expect_close(&late, PUSH_CLOSE_INIT_TIMEOUT, "Connection initialisation timeout");
    cr_expect_eq(ok.close_code, 0, "an initialised session is not timed out");
    cr_expect_eq(legacy.close_code, 0, "graphql-ws has no init timeout (Booster)");
    push_session_deinit(proto, &late);
    push_session_deinit(proto, &ok);
    push_session_deinit(proto, &legacy);
}

Test(pusher_protocol, one_group_serves_both_protocols)
{
    push_session_t legacy, tws;
    session_ready(&legacy);
    tws_init(&tws);
    handle(&tws, "{\"type\":\"connection_init\"}");
    expect_frame_type(&tws, "connection_ack", NULL);
    static const char q[] = "subscription { CartReadModels { id } }";
    start(&legacy, "x", q);
    char *sub =
        rj_xasprintf("{\"type\":\"subscribe\",\"id\":\"x\",\"payload\":{\"query\":\"%s\"}}", q);
    handle(&tws, sub);
    free(sub);
    cr_assert_eq(push_subs_group_count(push_proto_subs_get(proto)), 1);
    uint64_t renders = push_proto_stats_get(proto)->renders;
    cr_expect_eq(deliver_cart("c1", "n"), 2);
    cr_expect_eq(push_proto_stats_get(proto)->renders - renders, 1);
    expect_frame(&legacy,
                 "{\"id\":\"x\",\"payload\":{\"data\":{\"CartReadModels\":{\"id\":\"c1\"}}},"
                 "\"type\":\"data\"}");
    expect_frame(&tws, "{\"id\":\"x\",\"payload\":{\"data\":{\"CartReadModels\":{\"id\":\"c1\"}}},"
                       "\"type\":\"next\"}");
    push_session_deinit(proto, &legacy);
    push_session_deinit(proto, &tws);
}

Test(pusher_protocol, graphql_ws_keepalive_is_sent_only_when_asked)
{
    push_session_t s;
    session_ready(&s);
    push_session_keepalive(proto, &s);
    expect_frame(&s, "{\"type\":\"ka\"}");
    push_session_deinit(proto, &s);
}

/* ---- queries and mutations forwarded to the gateway ---------------------------------- */

/* What the protocol handed to the forward hook. */
typedef struct fwd_call {
    uint64_t req_id;     /* the request id */
    char *authorization; /* a copy, or NULL */
    char *consistency;   /* a copy of the consistency token, or NULL */
    char *body;          /* the request body, taken from the protocol */
} fwd_call_t;

static fwd_call_t calls[64];
static size_t ncalls;

static void
record_forward(void *ud, uint64_t req_id, const char *authorization, const char *consistency,
               char *body, size_t len)
{
    (void)ud;
    cr_assert_lt(ncalls, sizeof calls / sizeof calls[0]);
    cr_assert_eq(strlen(body), len);
    calls[ncalls++] = (fwd_call_t){
        .req_id = req_id,
        .authorization = authorization != NULL ? rj_xstrdup(authorization) : NULL,
        .consistency = consistency != NULL ? rj_xstrdup(consistency) : NULL,
        .body = body,
    };
}

static void
calls_reset(void)
{
    for (size_t i = 0; i < ncalls; i++) {
        free(calls[i].authorization);
        free(calls[i].consistency);
        free(calls[i].body);
    }
    ncalls = 0;
}

/* Replaces the suite's context by one that forwards queries and mutations. */
static void
use_forwarding(size_t max_operations, size_t max_forwarded)
{
    push_proto_free(proto);
    push_proto_opts_t o = {
        .app = app,
        .schema = (rj_gql_schema_t *)(uintptr_t)rj_app_api_schema(app),
        .send_queue_max_bytes = QUEUE_BYTES,
        .init_timeout_ms = 3000,
        .wake = count_wake,
        .forward = record_forward,
        .max_operations = max_operations,
        .max_forwarded = max_forwarded,
    };
    proto = push_proto_new(&o);
}

/* Runs before the suite's teardown (Criterion runs both). */
static void
fwd_teardown(void)
{
    calls_reset();
}

/* The gateway answers request @p req_id with HTTP 200 and @p body. */
static void
answer(uint64_t req_id, const char *body)
{
    const push_fwd_result_t r = {
        .req_id = req_id,
        .status = PUSH_FWD_OK,
        .http_status = 200,
        .body = body,
        .len = strlen(body),
    };
    push_proto_forward_done(proto, &r);
}

/* Request @p req_id ends without an answer. */
static void
answer_failure(uint64_t req_id, push_fwd_status_t status)
{
    const push_fwd_result_t r = {
        .req_id = req_id,
        .status = status,
        .error = "Failed to connect to 127.0.0.1 port 1: Connection refused",
        .body = "",
    };
    push_proto_forward_done(proto, &r);
}

/* The next frame's text, exactly as queued (free() it). */
static char *
next_raw(push_session_t *s)
{
    push_frame_t *f = push_session_pop(s);
    cr_assert_not_null(f, "expected a frame, the queue is empty");
    char *text = rj_xstrndup(push_frame_data(f), f->len);
    free(f);
    return text;
}

static void
expect_raw(push_session_t *s, const char *want)
{
    char *got = next_raw(s);
    cr_expect_str_eq(got, want);
    free(got);
}

/* A start (graphql-ws) or subscribe (graphql-transport-ws) of @p query as operation @p id. */
static void
send_op(push_session_t *s, const char *id, const char *query)
{
    json_t *m = json_pack("{s:s,s:s,s:{s:s}}", "type",
                          s->subprotocol == PUSH_SUBPROTO_TRANSPORT_WS ? "subscribe" : "start",
                          "id", id, "payload", "query", query);
    char *text = json_dumps(m, JSON_COMPACT);
    handle(s, text);
    free(text);
    json_decref(m);
}

static const char cart_query[] = "query Q($id: ID!) { CartReadModel(id: $id) { id } }";
static const char cart_result[] = "{\"data\":{\"CartReadModel\":{\"id\":\"c1\",\"n\":1.0}}}";

Test(pusher_protocol, everything_but_subscriptions_is_forwarded_to_the_gateway,
     .fini = fwd_teardown)
{
    use_forwarding(16, 16);
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"connection_init\"}");
    expect_frame_type(&s, "connection_ack", NULL);

    /* A query, with its variables and operation name, as the gateway's POST body. */
    handle(&s, "{\"type\":\"start\",\"id\":\"q\",\"payload\":{\"query\":"
               "\"query Q($id: ID!) { CartReadModel(id: $id) { id } }\","
               "\"variables\":{\"id\":\"c1\"},\"operationName\":\"Q\"}}");
    cr_assert_eq(ncalls, 1);
    json_t *body = json_loads(calls[0].body, 0, NULL);
    json_t *want = json_pack("{s:s,s:{s:s},s:s}", "query", cart_query, "variables", "id", "c1",
                             "operationName", "Q");
    cr_expect(json_equal(body, want), "body %s", calls[0].body);
    json_decref(body);
    json_decref(want);
    cr_expect_null(calls[0].authorization, "an anonymous connection sends no Authorization");
    cr_expect_null(next_frame(&s), "nothing is sent before the gateway answers");

    /* A mutation (this schema has none: invalid here, the gateway's to judge), a shorthand
       query and a query naming a field this schema lacks are forwarded too. */
    send_op(&s, "m", "mutation { ChangeCartItem(input: {cartId: \"c\"}) }");
    send_op(&s, "short", "{ __typename }");
    send_op(&s, "remote", "query { SomeFederatedField { id } }");
    cr_expect_eq(ncalls, 4);

    /* Subscriptions are served here, invalid ones answered here... */
    send_op(&s, "sub", "subscription { CartReadModel(id: \"c1\") { id } }");
    send_op(&s, "badsub", "subscription { CartReadModel(id: \"c1\") { nope } }");
    cr_expect_eq(ncalls, 4);
    cr_expect_eq(push_subs_count(push_proto_subs_get(proto)), 1);
    json_t *f = next_frame(&s);
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), "data");
    cr_expect_str_eq(json_string_value(json_object_get(f, "id")), "badsub");
    cr_expect(strstr(first_error_message(f), "nope") != NULL);
    json_decref(f);
    expect_frame_type(&s, "complete", "badsub");
    cr_expect_null(next_frame(&s));

    /* ... but what cannot be told apart from a query is the gateway's: a syntax error, no
       operation by the name asked for, several operations and no name. */
    send_op(&s, "bad", "query {");
    handle(&s, "{\"type\":\"start\",\"id\":\"n\",\"payload\":{\"query\":"
               "\"subscription S { CartReadModel(id: \\\"c1\\\") { id } }\","
               "\"operationName\":\"T\"}}");
    send_op(&s, "two", "query A { __typename } query B { __typename }");
    cr_expect_eq(ncalls, 7);
    cr_expect_null(next_frame(&s));

    /* Request ids are distinct and never 0. */
    for (size_t i = 0; i < ncalls; i++) {
        cr_expect_neq(calls[i].req_id, 0);
        for (size_t j = 0; j < i; j++)
            cr_expect_neq(calls[i].req_id, calls[j].req_id);
    }
    cr_expect_eq(push_proto_stats_get(proto)->forwarded, 7);
    cr_expect_eq(push_proto_stats_get(proto)->forward_in_flight, 7);
    cr_expect_eq(s.nops, 7);
    push_session_deinit(proto, &s);
    cr_expect_eq(s.nops, 0);
    /* The slots stay taken until the answers come, which are then dropped. */
    cr_expect_eq(push_proto_stats_get(proto)->forward_in_flight, 7);
    for (size_t i = 0; i < ncalls; i++)
        answer(calls[i].req_id, cart_result);
    cr_expect_eq(push_proto_stats_get(proto)->forward_in_flight, 0);
    cr_expect_eq(push_proto_stats_get(proto)->forward_dropped, 7);
}

Test(pusher_protocol, graphql_ws_relays_the_result_verbatim_as_data_then_complete,
     .fini = fwd_teardown)
{
    use_forwarding(16, 16);
    push_session_t s;
    session_with(&s, "{\"iss\":\"ptest\",\"sub\":\"u\",\"roles\":[\"Admin\"]}");
    send_op(&s, "q", cart_query);
    cr_assert_eq(ncalls, 1);
    /* The Authorization exactly as connection_init presented it. */
    cr_expect(strncmp(calls[0].authorization, "Bearer ey", 9) == 0, "got %s",
              calls[0].authorization);
    answer(calls[0].req_id, cart_result);
    /* The gateway's bytes: 1.0 stays 1.0, keys keep their order. */
    expect_raw(&s,
               "{\"id\":\"q\",\"payload\":{\"data\":{\"CartReadModel\":{\"id\":\"c1\",\"n\":1.0}}},"
               "\"type\":\"data\"}");
    expect_raw(&s, "{\"id\":\"q\",\"type\":\"complete\"}");
    cr_expect_null(next_frame(&s));

    /* Errors, with or without data, are a result like any other on graphql-ws. */
    send_op(&s, "m", "mutation { X }");
    send_op(&s, "v", "query { nope }");
    cr_assert_eq(ncalls, 3);
    answer(calls[1].req_id, "{\"errors\":[{\"message\":\"Access denied for this resource\","
                            "\"extensions\":{\"code\":\"NotAuthorizedError\"}}],\"data\":null}");
    expect_raw(&s, "{\"id\":\"m\",\"payload\":{\"errors\":[{\"message\":\"Access denied for this "
                   "resource\",\"extensions\":{\"code\":\"NotAuthorizedError\"}}],\"data\":null},"
                   "\"type\":\"data\"}");
    expect_frame_type(&s, "complete", "m");
    answer(calls[2].req_id, "{\"errors\":[{\"message\":\"Cannot query field\"}]}");
    expect_frame(&s,
                 "{\"id\":\"v\",\"payload\":{\"errors\":[{\"message\":\"Cannot query field\"}]},"
                 "\"type\":\"data\"}");
    expect_frame_type(&s, "complete", "v");

    /* The same answer twice: the second names a released slot and is ignored. */
    answer(calls[2].req_id, cart_result);
    cr_expect_null(next_frame(&s));
    cr_expect_eq(s.nops, 0);
    cr_expect_eq(push_proto_stats_get(proto)->forward_in_flight, 0);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, graphql_transport_ws_next_then_complete_and_error_for_request_errors,
     .fini = fwd_teardown)
{
    use_forwarding(16, 16);
    push_session_t s;
    tws_init(&s);
    handle(&s, "{\"type\":\"connection_init\"}");
    expect_frame(&s, "{\"type\":\"connection_ack\"}");

    send_op(&s, "q", cart_query);
    send_op(&s, "m", "mutation { X }");
    send_op(&s, "v", "query { nope }");
    cr_assert_eq(ncalls, 3);
    answer(calls[0].req_id, cart_result);
    expect_raw(&s,
               "{\"id\":\"q\",\"payload\":{\"data\":{\"CartReadModel\":{\"id\":\"c1\",\"n\":1.0}}},"
               "\"type\":\"next\"}");
    expect_raw(&s, "{\"id\":\"q\",\"type\":\"complete\"}");

    /* An execution result with errors is still a `next`... */
    answer(calls[1].req_id, "{\"errors\":[{\"message\":\"denied\"}],\"data\":null}");
    expect_frame(&s,
                 "{\"id\":\"m\",\"payload\":{\"errors\":[{\"message\":\"denied\"}],\"data\":null},"
                 "\"type\":\"next\"}");
    expect_frame_type(&s, "complete", "m");
    /* ... a request error (no data) is an `error` with the errors, and nothing follows. */
    answer(calls[2].req_id, "{\"errors\":[{\"message\":\"Cannot query field\"}]}");
    expect_frame(&s, "{\"id\":\"v\",\"payload\":[{\"message\":\"Cannot query field\"}],"
                     "\"type\":\"error\"}");
    cr_expect_null(next_frame(&s));
    cr_expect_eq(s.close_code, 0);

    /* An invalid subscription is answered here, with the same `error`. */
    send_op(&s, "bad", "subscription { CartReadModel(id: \"c\") { nope } }");
    cr_expect_eq(ncalls, 3);
    json_t *f = next_frame(&s);
    cr_expect_str_eq(json_string_value(json_object_get(f, "type")), "error");
    cr_expect_str_eq(json_string_value(json_object_get(f, "id")), "bad");
    cr_expect(json_array_size(json_object_get(f, "payload")) == 1);
    json_decref(f);
    cr_expect_null(next_frame(&s));

    /* Ids are free again once answered. */
    send_op(&s, "q", cart_query);
    cr_expect_eq(ncalls, 4);
    cr_expect_eq(s.close_code, 0);
    push_session_deinit(proto, &s);
}

Test(pusher_protocol, a_gateway_that_does_not_answer_fails_that_operation_only,
     .fini = fwd_teardown)
{
    use_forwarding(16, 16);
    push_session_t legacy, tws;
    session_ready(&legacy);
    tws_init(&tws);
    handle(&tws, "{\"type\":\"connection_init\"}");
    expect_frame_type(&tws, "connection_ack", NULL);
    handle(&tws, tws_sub);
    cr_expect_eq(push_subs_count(push_proto_subs_get(proto)), 1);

    send_op(&legacy, "t", cart_query);
    send_op(&tws, "u", cart_query);
    send_op(&tws, "h", cart_query);
    cr_assert_eq(ncalls, 3);
    answer_failure(calls[0].req_id, PUSH_FWD_TIMEOUT);
    expect_frame(&legacy,
                 "{\"id\":\"t\",\"payload\":{\"errors\":[{\"message\":\"The GraphQL gateway "
                 "did not answer in time\",\"extensions\":{\"code\":\"TimeoutError\"}}]},"
                 "\"type\":\"data\"}");
    expect_frame_type(&legacy, "complete", "t");
    answer_failure(calls[1].req_id, PUSH_FWD_FAILED);
    expect_frame(&tws,
                 "{\"id\":\"u\",\"payload\":[{\"message\":\"The GraphQL gateway could not be "
                 "reached\",\"extensions\":{\"code\":\"RetriableError\"}}],\"type\":\"error\"}");
    /* An answer that is not a GraphQL result (a proxy's error page) fails the same way. */
    const push_fwd_result_t page = {.req_id = calls[2].req_id,
                                    .status = PUSH_FWD_OK,
                                    .http_status = 502,
                                    .body = "<html>Bad Gateway</html>",
                                    .len = 24};
    push_proto_forward_done(proto, &page);
    expect_frame(&tws,
                 "{\"id\":\"h\",\"payload\":[{\"message\":\"The GraphQL gateway did not answer "
                 "with a GraphQL result\",\"extensions\":{\"code\":\"RetriableError\"}}],"
                 "\"type\":\"error\"}");
    cr_expect_eq(push_proto_stats_get(proto)->forward_failed, 3);

    /* The connections are untouched: the subscription still receives changes. */
    cr_expect_eq(legacy.close_code, 0);
    cr_expect_eq(tws.close_code, 0);
    cr_expect_eq(push_proto_deliver(proto, cart_change, strlen(cart_change)), 1);
    expect_frame_type(&tws, "next", "1");
    push_session_deinit(proto, &legacy);
    push_session_deinit(proto, &tws);
}

Test(pusher_protocol, stop_or_complete_before_the_answer_cancels_its_delivery, .fini = fwd_teardown)
{
    use_forwarding(16, 16);
    push_session_t legacy, tws;
    session_ready(&legacy);
    tws_init(&tws);
    handle(&tws, "{\"type\":\"connection_init\"}");
    expect_frame_type(&tws, "connection_ack", NULL);

    send_op(&legacy, "q", cart_query);
    send_op(&tws, "q", cart_query);
    cr_assert_eq(ncalls, 2);

    /* graphql-ws: stop is answered with its complete, and nothing of the query follows. */
    handle(&legacy, "{\"type\":\"stop\",\"id\":\"q\"}");
    expect_frame_type(&legacy, "complete", "q");
    answer(calls[0].req_id, cart_result);
    cr_expect_null(next_frame(&legacy), "no message after stop");

    /* graphql-transport-ws: complete is not answered, and nothing follows either. */
    handle(&tws, "{\"type\":\"complete\",\"id\":\"q\"}");
    cr_expect_null(next_frame(&tws));
    /* The slot is taken until the gateway answers, but the id is the client's again. */
    cr_expect_eq(push_proto_stats_get(proto)->forward_in_flight, 1);
    send_op(&tws, "q", cart_query);
    cr_expect_eq(tws.close_code, 0);
    cr_assert_eq(ncalls, 3);
    answer(calls[1].req_id, cart_result);
    cr_expect_null(next_frame(&tws), "the stopped query's answer is dropped");
    answer(calls[2].req_id, cart_result);
    expect_frame_type(&tws, "next", "q");
    expect_frame_type(&tws, "complete", "q");
    cr_expect_eq(push_proto_stats_get(proto)->forward_dropped, 2);

    /* graphql-ws: a start reusing a pending id replaces the operation. */
    send_op(&legacy, "r", cart_query);
    send_op(&legacy, "r", "query { __typename }");
    cr_assert_eq(ncalls, 5);
    cr_expect_eq(legacy.nops, 1);
    answer(calls[3].req_id, cart_result);
    cr_expect_null(next_frame(&legacy));
    answer(calls[4].req_id, "{\"data\":{\"__typename\":\"Query\"}}");
    expect_frame(&legacy, "{\"id\":\"r\",\"payload\":{\"data\":{\"__typename\":\"Query\"}},"
                          "\"type\":\"data\"}");
    expect_frame_type(&legacy, "complete", "r");

    /* A connection that closes with an answer pending: the answer finds nobody. */
    send_op(&legacy, "gone", cart_query);
    cr_assert_eq(ncalls, 6);
    push_session_deinit(proto, &legacy);
    answer(calls[5].req_id, cart_result);
    cr_expect_eq(push_proto_stats_get(proto)->forward_in_flight, 0);
    push_session_deinit(proto, &tws);
}

Test(pusher_protocol, operation_ids_stay_unique_with_subscriptions, .fini = fwd_teardown)
{
    use_forwarding(16, 16);
    /* graphql-transport-ws: a query under a live subscription's id, and the reverse, 4409. */
    push_session_t a, b;
    tws_init(&a);
    handle(&a, "{\"type\":\"connection_init\"}");
    expect_frame_type(&a, "connection_ack", NULL);
    handle(&a, tws_sub); /* id "1" */
    send_op(&a, "1", cart_query);
    expect_close(&a, PUSH_CLOSE_SUBSCRIBER_EXISTS, "Subscriber for 1 already exists");
    cr_expect_eq(ncalls, 0);

    tws_init(&b);
    handle(&b, "{\"type\":\"connection_init\"}");
    expect_frame_type(&b, "connection_ack", NULL);
    send_op(&b, "1", cart_query);
    cr_expect_eq(ncalls, 1);
    handle(&b, tws_sub);
    expect_close(&b, PUSH_CLOSE_SUBSCRIBER_EXISTS, "Subscriber for 1 already exists");
    push_session_deinit(proto, &a);
    push_session_deinit(proto, &b);

    /* graphql-ws: the newer operation replaces the live one, whatever their kinds. */
    push_session_t c;
    session_ready(&c);
    handle(&c, cart_sub); /* id "1" */
    cr_expect_eq(c.subs.count, 1);
    send_op(&c, "1", cart_query);
    cr_expect_eq(c.subs.count, 0);
    cr_expect_eq(c.nops, 1);
    handle(&c, cart_sub);
    cr_expect_eq(c.subs.count, 1);
    cr_expect_eq(c.nops, 0);
    cr_assert_eq(ncalls, 2);
    answer(calls[1].req_id, cart_result);
    cr_expect_null(next_frame(&c), "the replaced query's answer is dropped");
    push_session_deinit(proto, &c);
}

Test(pusher_protocol, operations_in_flight_are_bounded_per_connection_and_in_total,
     .fini = fwd_teardown)
{
    use_forwarding(2, 3);
    push_session_t a, b;
    session_ready(&a);
    tws_init(&b);
    handle(&b, "{\"type\":\"connection_init\"}");
    expect_frame_type(&b, "connection_ack", NULL);

    send_op(&a, "1", cart_query);
    send_op(&a, "2", cart_query);
    send_op(&a, "3", cart_query);
    cr_expect_eq(ncalls, 2);
    expect_frame(&a, "{\"id\":\"3\",\"payload\":{\"errors\":[{\"message\":\"Too many queries and "
                     "mutations in flight on this connection\",\"extensions\":{\"code\":"
                     "\"RetriableError\"}}]},\"type\":\"data\"}");
    expect_frame_type(&a, "complete", "3");

    send_op(&b, "1", cart_query);
    send_op(&b, "2", cart_query);
    cr_expect_eq(ncalls, 3);
    expect_frame(&b, "{\"id\":\"2\",\"payload\":[{\"message\":\"Too many queries and mutations in "
                     "flight on this server\",\"extensions\":{\"code\":\"RetriableError\"}}],"
                     "\"type\":\"error\"}");
    cr_expect_eq(push_proto_stats_get(proto)->forward_refused, 2);

    /* A stopped operation frees its connection's share at once, the server's slot only
       when the gateway has answered. */
    handle(&a, "{\"type\":\"stop\",\"id\":\"1\"}");
    expect_frame_type(&a, "complete", "1");
    send_op(&a, "4", cart_query);
    cr_expect_eq(ncalls, 3);
    expect_frame_type(&a, "data", "4");
    expect_frame_type(&a, "complete", "4");
    answer(calls[0].req_id, cart_result);
    send_op(&a, "5", cart_query);
    cr_expect_eq(ncalls, 4);
    cr_expect_null(next_frame(&a));
    cr_expect_eq(a.nops, 2);
    push_session_deinit(proto, &a);
    push_session_deinit(proto, &b);
}

Test(pusher_protocol, a_refused_token_closes_the_connection_and_forwards_nothing_more,
     .fini = fwd_teardown)
{
    use_forwarding(16, 16);
    push_session_t s;
    push_session_init(&s, NULL);
    char *good = bearer(private_pem, "{\"iss\":\"ptest\",\"sub\":\"u\"}");
    char *init = init_frame(good);
    handle(&s, init);
    free(init);
    expect_frame_type(&s, "connection_ack", NULL);
    send_op(&s, "1", cart_query);
    cr_assert_eq(ncalls, 1);
    cr_expect_str_eq(calls[0].authorization, good);

    /* A second connection_init with a bad token: refused, and the connection closes
       rather than going on anonymous. */
    init = init_frame("Bearer not.a.token");
    handle(&s, init);
    free(init);
    expect_frame_type(&s, "connection_error", NULL);
    cr_expect_eq(s.close_code, PUSH_CLOSE_FORBIDDEN);
    cr_expect_null(s.authorization);
    send_op(&s, "2", cart_query);
    cr_expect_eq(ncalls, 1, "nothing more is forwarded");
    free(good);
    push_session_deinit(proto, &s);
}

/* A mutation answer's token, as the gateway builds it for @p n writes of carts c0.. */
static char *
token_of(int from, int n)
{
    rj_ryw_t t;
    rj_ryw_init(&t);
    char id[16];
    for (int i = from; i < from + n; i++) {
        snprintf(id, sizeof id, "c%d", i);
        rj_ryw_note(&t, "Cart", id, 1);
    }
    char *tok = rj_ryw_encode(&t);
    rj_ryw_deinit(&t);
    return tok;
}

/* The writes a forwarded request's consistency token names. */
static size_t
forwarded_writes(const fwd_call_t *c, rj_ryw_t *out)
{
    rj_ryw_init(out);
    if (c->consistency == NULL)
        return 0;
    rj_error_t err = {0};
    cr_assert_eq(rj_ryw_note_token(out, c->consistency, strlen(c->consistency), &err), RJ_OK,
                 "%s", err.msg);
    return out->n;
}

Test(pusher_protocol, mutations_writes_go_with_the_connections_later_operations,
     .fini = fwd_teardown)
{
    use_forwarding(16, 16);
    push_session_t s;
    push_session_init(&s, NULL);
    handle(&s, "{\"type\":\"connection_init\"}");
    expect_frame_type(&s, "connection_ack", NULL);

    /* Two mutations in flight at once, answered out of order: both writes are kept. */
    send_op(&s, "m1", "mutation { A }");
    send_op(&s, "m2", "mutation { B }");
    cr_assert_eq(ncalls, 2);
    cr_expect_null(calls[0].consistency, "nothing written yet: no token");
    char *t1 = token_of(0, 1), *t2 = token_of(1, 1);
    char *a2 = rj_xasprintf("{\"data\":{\"B\":true},\"extensions\":{\"consistencyToken\":\"%s\"}}",
                            t2);
    char *a1 = rj_xasprintf("{\"data\":{\"A\":true},\"extensions\":{\"consistencyToken\":\"%s\"}}",
                            t1);
    answer(calls[1].req_id, a2);
    answer(calls[0].req_id, a1);
    free(a1);
    free(a2);
    free(t1);
    free(t2);

    send_op(&s, "q", cart_query);
    cr_assert_eq(ncalls, 3);
    rj_ryw_t w;
    cr_expect_eq(forwarded_writes(&calls[2], &w), 2, "the query waits for both mutations");
    rj_ryw_deinit(&w);

    /* A malformed token from the gateway changes nothing (and is not fatal). */
    answer(calls[2].req_id, "{\"data\":{},\"extensions\":{\"consistencyToken\":\"!!\"}}");
    send_op(&s, "q2", cart_query);
    cr_assert_eq(ncalls, 4);
    cr_expect_eq(forwarded_writes(&calls[3], &w), 2);
    rj_ryw_deinit(&w);

    /* Another connection has writes of its own: none. */
    push_session_t other;
    push_session_init(&other, NULL);
    handle(&other, "{\"type\":\"connection_init\"}");
    expect_frame_type(&other, "connection_ack", NULL);
    send_op(&other, "q", cart_query);
    cr_assert_eq(ncalls, 5);
    cr_expect_null(calls[4].consistency);

    push_session_deinit(proto, &other);
    push_session_deinit(proto, &s);
}
