/*
 * test_envelope.c - round trips and rejections of every inter-daemon envelope.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "json/envelope.h"

static const char *const UUID1 = "3f0a1c52-8a1e-5b2c-9d40-1f2e3d4c5b6a";
static const char *const TS = "2026-11-22T10:00:00.130Z";

/* Decodes @p text with @p decode and expects failure with exactly @p message. */
#define EXPECT_REJECT(decode, type, text, status, message)                                         \
    do {                                                                                           \
        type env_;                                                                                 \
        rj_error_t err_;                                                                           \
        rj_error_clear(&err_);                                                                     \
        rj_status_t st_ = decode((text), strlen(text), &env_, &err_);                             \
        cr_expect_eq(st_, (status), "status %d for %s", st_, (text));                              \
        cr_expect_str_eq(err_.msg, (message));                                                     \
        cr_expect_null(env_.root);                                                                 \
    } while (0)

Test(envelope, command_round_trip)
{
    json_t *input = json_pack("{s:s, s:i}", "cartId", "c1", "quantity", 2);
    json_t *user = json_pack("{s:s, s:s, s:[s], s:{}}", "id", "a@b", "username", "a@b", "roles",
                             "Admin", "claims");
    rj_env_command_t in = {
        .request_id = "req-1",
        .command = "ChangeCartItem",
        .input = input,
        .current_user = user,
        .reply_to = "shop:reply:gw-1",
        .issued_at = TS,
    };
    char *text = rj_env_command_encode(&in);
    cr_expect_str_eq(text, "{\"requestId\":\"req-1\",\"command\":\"ChangeCartItem\",\"input\":"
                           "{\"cartId\":\"c1\",\"quantity\":2},\"currentUser\":{\"id\":\"a@b\","
                           "\"username\":\"a@b\",\"roles\":[\"Admin\"],\"claims\":{}},"
                           "\"replyTo\":\"shop:reply:gw-1\",\"issuedAt\":\"2026-11-22T10:00:00."
                           "130Z\"}");
    rj_env_command_t out;
    rj_error_t err;
    cr_assert_eq(rj_env_command_decode(text, strlen(text), &out, &err), RJ_OK, "%s", err.msg);
    cr_expect_str_eq(out.request_id, "req-1");
    cr_expect_str_eq(out.command, "ChangeCartItem");
    cr_expect(json_equal(out.input, input));
    cr_expect(json_equal(out.current_user, user));
    cr_expect_str_eq(out.reply_to, "shop:reply:gw-1");
    cr_expect_str_eq(out.issued_at, TS);
    rj_env_command_deinit(&out);
    cr_expect_null(out.root);
    free(text);
    cr_expect_eq(input->refcount, 1);
    cr_expect_eq(user->refcount, 1);
    json_decref(input);
    json_decref(user);
}

Test(envelope, command_anonymous)
{
    json_t *input = json_object();
    rj_env_command_t in = {.request_id = "r", .command = "EmptyCommand", .input = input,
                           .reply_to = "x", .issued_at = TS};
    char *text = rj_env_command_encode(&in);
    cr_expect(strstr(text, "\"currentUser\":null") != NULL);
    rj_env_command_t out;
    cr_assert_eq(rj_env_command_decode(text, strlen(text), &out, NULL), RJ_OK);
    cr_expect_null(out.current_user);
    rj_env_command_deinit(&out);
    free(text);
    json_decref(input);
}

Test(envelope, event_round_trip)
{
    json_t *value = json_pack("{s:s, s:s, s:f}", "cartId", "c1", "productId", "p1", "quantity",
                              2.5);
    rj_env_event_t in = {
        .event_id = UUID1,
        .type = "CartItemChanged",
        .entity = "Cart",
        .entity_id = "c1",
        .version = 3,
        .request_id = "req-1",
        .created_at = TS,
        .value = value,
    };
    char *text = rj_env_event_encode(&in);
    rj_env_event_t out;
    rj_error_t err;
    cr_assert_eq(rj_env_event_decode(text, strlen(text), &out, &err), RJ_OK, "%s", err.msg);
    cr_expect_str_eq(out.event_id, UUID1);
    cr_expect_str_eq(out.type, "CartItemChanged");
    cr_expect_str_eq(out.entity, "Cart");
    cr_expect_str_eq(out.entity_id, "c1");
    cr_expect_eq(out.version, 3);
    cr_expect_str_eq(out.request_id, "req-1");
    cr_expect_str_eq(out.created_at, TS);
    cr_expect(json_equal(out.value, value));
    cr_expect_null(out.current_user);

    /* The json form is the same document. */
    json_t *obj = rj_env_event_to_json(&in);
    cr_expect(json_equal(obj, out.root));
    json_decref(obj);
    rj_env_event_deinit(&out);
    free(text);
    cr_expect_eq(value->refcount, 1);
    json_decref(value);
}

Test(envelope, snapshot_round_trip)
{
    json_t *value = json_pack("{s:s, s:[]}", "id", "c1", "cartItems");
    rj_env_snapshot_t in = {.entity = "Cart", .entity_id = "c1", .version = 7, .value = value,
                            .last_event_id = UUID1, .created_at = TS};
    char *text = rj_env_snapshot_encode(&in);
    cr_expect_str_eq(text, "{\"entity\":\"Cart\",\"entityId\":\"c1\",\"version\":7,\"value\":"
                           "{\"id\":\"c1\",\"cartItems\":[]},\"lastEventId\":\"3f0a1c52-8a1e-"
                           "5b2c-9d40-1f2e3d4c5b6a\",\"createdAt\":\"2026-11-22T10:00:00.130Z\"}");
    rj_env_snapshot_t out;
    cr_assert_eq(rj_env_snapshot_decode(text, strlen(text), &out, NULL), RJ_OK);
    cr_expect_str_eq(out.entity, "Cart");
    cr_expect_str_eq(out.entity_id, "c1");
    cr_expect_eq(out.version, 7);
    cr_expect(json_equal(out.value, value));
    cr_expect_str_eq(out.last_event_id, UUID1);
    cr_expect_str_eq(out.created_at, TS);
    rj_env_snapshot_deinit(&out);
    free(text);
    json_decref(value);
}

Test(envelope, readmodel_round_trip_write_and_delete)
{
    json_t *value = json_pack("{s:s}", "id", "c1");
    rj_env_readmodel_t in = {.type = "CartReadModel", .id = "c1", .version = 4, .value = value};
    char *text = rj_env_readmodel_encode(&in);
    cr_expect_str_eq(text, "{\"type\":\"CartReadModel\",\"id\":\"c1\",\"sequenceKey\":null,"
                           "\"version\":4,\"value\":{\"id\":\"c1\"},\"deleted\":false}");
    rj_env_readmodel_t out;
    cr_assert_eq(rj_env_readmodel_decode(text, strlen(text), &out, NULL), RJ_OK);
    cr_expect_str_eq(out.type, "CartReadModel");
    cr_expect_null(out.sequence_key);
    cr_expect_eq(out.version, 4);
    cr_expect_not(out.deleted);
    cr_expect(json_equal(out.value, value));
    rj_env_readmodel_deinit(&out);
    free(text);

    rj_env_readmodel_t del = {.type = "PriceHistoryReadModel", .id = "p1",
                              .sequence_key = "2026-01-01", .version = 2, .deleted = true};
    text = rj_env_readmodel_encode(&del);
    cr_assert_eq(rj_env_readmodel_decode(text, strlen(text), &out, NULL), RJ_OK);
    cr_expect(out.deleted);
    cr_expect_null(out.value);
    cr_expect_str_eq(out.sequence_key, "2026-01-01");
    rj_env_readmodel_deinit(&out);
    free(text);
    json_decref(value);
}

Test(envelope, reply_round_trip_ok_and_error)
{
    json_t *events = json_pack("[{s:s, s:s, s:i}]", "entity", "Cart", "entityId", "c1",
                               "version", 3);
    rj_env_reply_t ok = {.request_id = "r1", .ok = true, .result = json_true(), .events = events};
    char *text = rj_env_reply_encode(&ok);
    cr_expect_str_eq(text, "{\"requestId\":\"r1\",\"ok\":true,\"result\":true,\"events\":"
                           "[{\"entity\":\"Cart\",\"entityId\":\"c1\",\"version\":3}]}");
    rj_env_reply_t out;
    cr_assert_eq(rj_env_reply_decode(text, strlen(text), &out, NULL), RJ_OK);
    cr_expect(out.ok);
    cr_expect(json_is_true(out.result));
    cr_expect(json_equal(out.events, events));
    rj_env_reply_deinit(&out);
    free(text);
    json_decref(events);

    rj_env_reply_t bad = {.request_id = "r2", .error_message = "Access denied for this resource",
                          .error_code = "NotAuthorizedError"};
    text = rj_env_reply_encode(&bad);
    cr_expect_str_eq(text, "{\"requestId\":\"r2\",\"ok\":false,\"error\":{\"message\":\"Access "
                           "denied for this resource\",\"code\":\"NotAuthorizedError\"}}");
    cr_assert_eq(rj_env_reply_decode(text, strlen(text), &out, NULL), RJ_OK);
    cr_expect_not(out.ok);
    cr_expect_str_eq(out.error_message, "Access denied for this resource");
    cr_expect_str_eq(out.error_code, "NotAuthorizedError");
    rj_env_reply_deinit(&out);
    free(text);

    /* A null result is a result ("data": {"X": null}); a missing code is allowed. */
    const char *nullres = "{\"requestId\":\"r3\",\"ok\":true,\"result\":null,\"events\":[]}";
    cr_assert_eq(rj_env_reply_decode(nullres, strlen(nullres), &out, NULL), RJ_OK);
    cr_expect(json_is_null(out.result));
    rj_env_reply_deinit(&out);
    const char *nocode = "{\"requestId\":\"r4\",\"ok\":false,\"error\":{\"message\":\"boom\"}}";
    cr_assert_eq(rj_env_reply_decode(nocode, strlen(nocode), &out, NULL), RJ_OK);
    cr_expect_null(out.error_code);
    rj_env_reply_deinit(&out);
}

Test(envelope, deadletter_round_trip)
{
    rj_env_deadletter_t in = {.topic = "shop.commands", .partition = 2, .offset = 17,
                              .key = "c1", .value = "{not json", .error = "could not decode",
                              .daemon = "ramjet-commands", .at = TS};
    char *text = rj_env_deadletter_encode(&in);
    rj_env_deadletter_t out;
    cr_assert_eq(rj_env_deadletter_decode(text, strlen(text), &out, NULL), RJ_OK);
    cr_expect_str_eq(out.topic, "shop.commands");
    cr_expect_eq(out.partition, 2);
    cr_expect_eq(out.offset, 17);
    cr_expect_str_eq(out.key, "c1");
    cr_expect_str_eq(out.value, "{not json");
    cr_expect_str_eq(out.error, "could not decode");
    cr_expect_str_eq(out.daemon, "ramjet-commands");
    cr_expect_str_eq(out.at, TS);
    rj_env_deadletter_deinit(&out);
    free(text);

    /* A message that is not UTF-8 is kept lossily rather than lost. */
    rj_env_deadletter_t binary = in;
    binary.key = NULL;
    binary.value = "ab\xff\xfe";
    text = rj_env_deadletter_encode(&binary);
    cr_assert_eq(rj_env_deadletter_decode(text, strlen(text), &out, NULL), RJ_OK);
    cr_expect_str_eq(out.value, "ab??");
    cr_expect_null(out.key);
    rj_env_deadletter_deinit(&out);
    free(text);
}

Test(envelope, decode_does_not_need_nul_termination)
{
    const char text[] = "{\"requestId\":\"r\",\"ok\":false,\"error\":{\"message\":\"m\"}}GARBAGE";
    rj_env_reply_t out;
    cr_assert_eq(rj_env_reply_decode(text, strlen(text) - strlen("GARBAGE"), &out, NULL), RJ_OK);
    rj_env_reply_deinit(&out);
}

/* ---- rejections ---- */

#define EVENT_OK_PREFIX                                                                            \
    "\"eventId\":\"3f0a1c52-8a1e-5b2c-9d40-1f2e3d4c5b6a\",\"type\":\"T\",\"entity\":\"Cart\","    \
    "\"entityId\":\"c1\",\"requestId\":\"r\",\"createdAt\":\"2026-11-22T10:00:00.130Z\","        \
    "\"value\":{}"

Test(envelope, rejects_malformed_json)
{
    EXPECT_REJECT(rj_env_event_decode, rj_env_event_t, "{\"eventId\": ", RJ_EPROTO,
                  "could not decode event envelope: invalid JSON at line 1 column 12: "
                  "unexpected token near end of file");
}

Test(envelope, rejects_non_object)
{
    EXPECT_REJECT(rj_env_command_decode, rj_env_command_t, "[1,2]", RJ_EPROTO,
                  "could not decode command envelope: not a JSON object");
}

Test(envelope, rejects_duplicate_keys)
{
    rj_env_reply_t env;
    rj_error_t err;
    const char *text = "{\"requestId\":\"a\",\"requestId\":\"b\",\"ok\":true,\"result\":1,"
                       "\"events\":[]}";
    cr_expect_eq(rj_env_reply_decode(text, strlen(text), &env, &err), RJ_EPROTO);
    cr_expect(strstr(err.msg, "duplicate object key") != NULL, "%s", err.msg);
}

Test(envelope, rejects_bad_versions)
{
    EXPECT_REJECT(rj_env_event_decode, rj_env_event_t, "{" EVENT_OK_PREFIX ",\"version\":0}",
                  RJ_EPROTO,
                  "could not decode event envelope: field \"version\" must be a positive integer");
    EXPECT_REJECT(rj_env_event_decode, rj_env_event_t, "{" EVENT_OK_PREFIX ",\"version\":-3}",
                  RJ_EPROTO,
                  "could not decode event envelope: field \"version\" must be a positive integer");
    EXPECT_REJECT(rj_env_event_decode, rj_env_event_t, "{" EVENT_OK_PREFIX ",\"version\":1.5}",
                  RJ_EPROTO,
                  "could not decode event envelope: field \"version\" must be a positive integer");
    EXPECT_REJECT(rj_env_event_decode, rj_env_event_t, "{" EVENT_OK_PREFIX ",\"version\":\"3\"}",
                  RJ_EPROTO,
                  "could not decode event envelope: field \"version\" must be a positive integer");
    EXPECT_REJECT(rj_env_event_decode, rj_env_event_t, "{" EVENT_OK_PREFIX "}", RJ_EPROTO,
                  "could not decode event envelope: field \"version\" is required");
}

Test(envelope, rejects_missing_and_mistyped_fields)
{
    EXPECT_REJECT(rj_env_command_decode, rj_env_command_t,
                  "{\"command\":\"X\",\"input\":{},\"replyTo\":\"r\",\"issuedAt\":\"2026-11-22T10:"
                  "00:00Z\"}",
                  RJ_EPROTO, "could not decode command envelope: field \"requestId\" is required");
    EXPECT_REJECT(rj_env_command_decode, rj_env_command_t,
                  "{\"requestId\":\"r\",\"command\":\"X\",\"input\":[],\"replyTo\":\"r\","
                  "\"issuedAt\":\"2026-11-22T10:00:00Z\"}",
                  RJ_EPROTO, "could not decode command envelope: field \"input\" must be an object");
    EXPECT_REJECT(rj_env_command_decode, rj_env_command_t,
                  "{\"requestId\":\"\",\"command\":\"X\",\"input\":{},\"replyTo\":\"r\","
                  "\"issuedAt\":\"2026-11-22T10:00:00Z\"}",
                  RJ_EPROTO,
                  "could not decode command envelope: field \"requestId\" must be a non-empty "
                  "string");
    EXPECT_REJECT(rj_env_command_decode, rj_env_command_t,
                  "{\"requestId\":\"r\",\"command\":7,\"input\":{},\"replyTo\":\"r\","
                  "\"issuedAt\":\"2026-11-22T10:00:00Z\"}",
                  RJ_EPROTO, "could not decode command envelope: field \"command\" must be a string");
    EXPECT_REJECT(rj_env_command_decode, rj_env_command_t,
                  "{\"requestId\":\"r\",\"command\":\"X\",\"input\":{},\"currentUser\":\"bob\","
                  "\"replyTo\":\"r\",\"issuedAt\":\"2026-11-22T10:00:00Z\"}",
                  RJ_EPROTO,
                  "could not decode command envelope: field \"currentUser\" must be an object or "
                  "null");
    EXPECT_REJECT(rj_env_command_decode, rj_env_command_t,
                  "{\"requestId\":\"r\",\"command\":\"X\",\"input\":{},\"currentUser\":"
                  "{\"roles\":[1]},\"replyTo\":\"r\",\"issuedAt\":\"2026-11-22T10:00:00Z\"}",
                  RJ_EPROTO,
                  "could not decode command envelope: field \"currentUser\" must have \"roles\" "
                  "as an array of strings");
    EXPECT_REJECT(rj_env_event_decode, rj_env_event_t,
                  "{\"eventId\":\"not-a-uuid\",\"type\":\"T\",\"entity\":\"Cart\",\"entityId\":"
                  "\"c1\",\"version\":1,\"requestId\":\"r\",\"createdAt\":\"2026-11-22T10:00:00Z\""
                  ",\"value\":{}}",
                  RJ_EPROTO, "could not decode event envelope: field \"eventId\" must be a UUID");
    EXPECT_REJECT(rj_env_snapshot_decode, rj_env_snapshot_t,
                  "{\"entity\":\"Cart\",\"entityId\":\"c1\",\"version\":1,\"value\":{},"
                  "\"lastEventId\":\"3f0a1c52-8a1e-5b2c-9d40-1f2e3d4c5b6a\",\"createdAt\":"
                  "\"yesterday\"}",
                  RJ_EPROTO,
                  "could not decode snapshot envelope: field \"createdAt\" must be an ISO-8601 "
                  "UTC timestamp");
    EXPECT_REJECT(rj_env_snapshot_decode, rj_env_snapshot_t,
                  "{\"entity\":\"Cart\",\"entityId\":\"c1\",\"version\":1,\"value\":null,"
                  "\"lastEventId\":\"3f0a1c52-8a1e-5b2c-9d40-1f2e3d4c5b6a\",\"createdAt\":"
                  "\"2026-11-22T10:00:00Z\"}",
                  RJ_EPROTO, "could not decode snapshot envelope: field \"value\" must be an object");
}

Test(envelope, rejects_inconsistent_readmodel)
{
    EXPECT_REJECT(rj_env_readmodel_decode, rj_env_readmodel_t,
                  "{\"type\":\"R\",\"id\":\"1\",\"sequenceKey\":null,\"version\":1,\"value\":{},"
                  "\"deleted\":true}",
                  RJ_EPROTO,
                  "could not decode read-model envelope: field \"value\" must be null when "
                  "\"deleted\" is true");
    EXPECT_REJECT(rj_env_readmodel_decode, rj_env_readmodel_t,
                  "{\"type\":\"R\",\"id\":\"1\",\"sequenceKey\":null,\"version\":1,\"value\":null,"
                  "\"deleted\":false}",
                  RJ_EPROTO,
                  "could not decode read-model envelope: field \"value\" must be an object when "
                  "\"deleted\" is false");
    EXPECT_REJECT(rj_env_readmodel_decode, rj_env_readmodel_t,
                  "{\"type\":\"R\",\"id\":\"1\",\"sequenceKey\":5,\"version\":1,\"value\":{},"
                  "\"deleted\":false}",
                  RJ_EPROTO,
                  "could not decode read-model envelope: field \"sequenceKey\" must be a string "
                  "or null");
    EXPECT_REJECT(rj_env_readmodel_decode, rj_env_readmodel_t,
                  "{\"type\":\"R\",\"id\":\"1\",\"version\":1,\"value\":{},\"deleted\":\"no\"}",
                  RJ_EPROTO, "could not decode read-model envelope: field \"deleted\" must be a "
                             "boolean");
}

Test(envelope, rejects_bad_replies)
{
    EXPECT_REJECT(rj_env_reply_decode, rj_env_reply_t,
                  "{\"requestId\":\"r\",\"ok\":true,\"events\":[]}", RJ_EPROTO,
                  "could not decode reply envelope: field \"result\" is required when \"ok\" is "
                  "true");
    EXPECT_REJECT(rj_env_reply_decode, rj_env_reply_t,
                  "{\"requestId\":\"r\",\"ok\":true,\"result\":true,\"events\":[{\"entity\":"
                  "\"Cart\",\"entityId\":\"c1\",\"version\":0}]}",
                  RJ_EPROTO,
                  "could not decode reply envelope: field \"events\" must hold objects with "
                  "string \"entity\" and \"entityId\" and a positive integer \"version\"");
    EXPECT_REJECT(rj_env_reply_decode, rj_env_reply_t,
                  "{\"requestId\":\"r\",\"ok\":false}", RJ_EPROTO,
                  "could not decode reply envelope: field \"error\" is required when \"ok\" is "
                  "false");
    EXPECT_REJECT(rj_env_reply_decode, rj_env_reply_t,
                  "{\"requestId\":\"r\",\"ok\":false,\"error\":{\"code\":\"X\"}}", RJ_EPROTO,
                  "could not decode reply envelope: field \"error\" must have a string "
                  "\"message\"");
}

Test(envelope, rejects_bad_deadletters)
{
    EXPECT_REJECT(rj_env_deadletter_decode, rj_env_deadletter_t,
                  "{\"topic\":\"t\",\"partition\":-1,\"offset\":0,\"key\":null,\"value\":\"\","
                  "\"error\":\"e\",\"daemon\":\"d\",\"at\":\"2026-11-22T10:00:00Z\"}",
                  RJ_EPROTO,
                  "could not decode dead-letter envelope: field \"partition\" must be a "
                  "non-negative integer");
    EXPECT_REJECT(rj_env_deadletter_decode, rj_env_deadletter_t,
                  "{\"topic\":\"t\",\"partition\":0,\"offset\":0,\"key\":null,\"error\":\"e\","
                  "\"daemon\":\"d\",\"at\":\"2026-11-22T10:00:00Z\"}",
                  RJ_EPROTO, "could not decode dead-letter envelope: field \"value\" is required");
}

Test(envelope, rejects_oversized_input)
{
    size_t len = RJ_ENV_MAX_BYTES + 1;
    char *big = rj_xmalloc(len);
    memset(big, ' ', len);
    rj_env_event_t env;
    rj_error_t err;
    cr_expect_eq(rj_env_event_decode(big, len, &env, &err), RJ_ETOOBIG);
    cr_expect_str_eq(err.msg, "could not decode event envelope: 8388609 bytes exceed the limit "
                              "of 8388608");
    cr_expect_null(env.root);
    free(big);
}

Test(envelope, finds_nul_in_any_string)
{
    json_t *clean = json_pack("{s:[s, {s:s}], s:i}", "a", "x", "b", "y", "n", 1);
    cr_expect_not(rj_json_has_nul(clean));
    cr_expect_not(rj_json_has_nul(NULL));
    json_t *deep = json_pack("{s:[s, {s:s%}]}", "a", "x", "b", "y\0z", (size_t)3);
    cr_expect(rj_json_has_nul(deep));
    json_t *top = json_stringn("a\0", 2);
    cr_expect(rj_json_has_nul(top));
    json_decref(clean);
    json_decref(deep);
    json_decref(top);
}

Test(envelope, ignores_unknown_fields)
{
    const char *text = "{\"requestId\":\"r\",\"ok\":false,\"error\":{\"message\":\"m\"},"
                       "\"newField\":[1,2,3]}";
    rj_env_reply_t env;
    cr_expect_eq(rj_env_reply_decode(text, strlen(text), &env, NULL), RJ_OK);
    rj_env_reply_deinit(&env);
}

/* A JSON string of @p n bytes 'k', quoted. */
static char *
quoted_id(size_t n)
{
    char *s = rj_xmalloc(n + 3);
    s[0] = '"';
    memset(s + 1, 'k', n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    return s;
}

/*
 * Ids PostgreSQL indexes (a command's requestId, an event's or snapshot's entityId) are
 * at most RJ_ID_MAX_BYTES: a longer one failed its daemon's whole batch, at every retry.
 */
Test(envelope, rejects_ids_over_the_limit)
{
    char *ok = quoted_id(RJ_ID_MAX_BYTES);
    char *over = quoted_id(RJ_ID_MAX_BYTES + 1);
    const char *rest = ",\"command\":\"X\",\"input\":{},\"replyTo\":\"r\",\"issuedAt\":"
                       "\"2026-11-22T10:00:00Z\"}";

    char *text = rj_xasprintf("{\"requestId\":%s%s", ok, rest);
    rj_env_command_t cmd;
    cr_expect_eq(rj_env_command_decode(text, strlen(text), &cmd, NULL), RJ_OK);
    rj_env_command_deinit(&cmd);
    free(text);
    text = rj_xasprintf("{\"requestId\":%s%s", over, rest);
    EXPECT_REJECT(rj_env_command_decode, rj_env_command_t, text, RJ_EPROTO,
                  "could not decode command envelope: field \"requestId\" must not be longer "
                  "than 1024 bytes");
    free(text);

    text = rj_xasprintf("{\"eventId\":\"3f0a1c52-8a1e-5b2c-9d40-1f2e3d4c5b6a\",\"type\":\"T\","
                        "\"entity\":\"Cart\",\"entityId\":%s,\"version\":1,\"requestId\":\"r\","
                        "\"createdAt\":\"2026-11-22T10:00:00.130Z\",\"value\":{}}",
                        over);
    EXPECT_REJECT(rj_env_event_decode, rj_env_event_t, text, RJ_EPROTO,
                  "could not decode event envelope: field \"entityId\" must not be longer than "
                  "1024 bytes");
    free(text);

    text = rj_xasprintf("{\"entity\":\"Cart\",\"entityId\":%s,\"version\":1,\"value\":{},"
                        "\"lastEventId\":\"3f0a1c52-8a1e-5b2c-9d40-1f2e3d4c5b6a\","
                        "\"createdAt\":\"2026-11-22T10:00:00.130Z\"}",
                        over);
    EXPECT_REJECT(rj_env_snapshot_decode, rj_env_snapshot_t, text, RJ_EPROTO,
                  "could not decode snapshot envelope: field \"entityId\" must not be longer "
                  "than 1024 bytes");
    free(text);
    free(ok);
    free(over);
}
