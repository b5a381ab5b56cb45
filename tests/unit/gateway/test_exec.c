/*
 * test_exec.c - the pure steps of the gateway's GraphQL handling (services/gateway/exec.c):
 * reading a POST body the way Booster does, choosing the operation, building a command's
 * Kafka key and envelope, verifying the Authorization header, and deciding by-id read-model
 * queries (authorization and before hooks), and federation's `_entities` (representations
 * decided as the by-id query decides its id, grouped into one batch per read model, the
 * rows put back in representation order), against the real examples/shop.
 *
 * Needs RAMJET_BUILD_DIR and RAMJET_SOURCE_DIR (set by CTest) for libshop.so and the shop's
 * development private key, which signs the tokens.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "gateway/entities.h"
#include "gateway/exec.h"
#include "graphql/graphql.h"
#include "json/envelope.h"

/* The one error message of a transport-level response, and its extensions.code. */
static void
assert_error(json_t *response, const char *message, const char *code)
{
    json_t *e = json_array_get(json_object_get(response, "errors"), 0);
    cr_assert_not_null(e);
    cr_assert_str_eq(json_string_value(json_object_get(e, "message")), message);
    json_t *ext = json_object_get(e, "extensions");
    cr_assert(json_is_object(ext));
    if (code == NULL)
        cr_assert_eq(json_object_size(ext), 0);
    else
        cr_assert_str_eq(json_string_value(json_object_get(ext, "code")), code);
    cr_assert_null(json_object_get(response, "data"));
}

static int
parse(const char *body, bool is_json, gw_gql_request_t *req, json_t **response)
{
    gw_http_request_t in = {.method = GW_HTTP_POST,
                            .body = body,
                            .body_len = strlen(body),
                            .content = is_json ? GW_CONTENT_JSON : GW_CONTENT_OTHER};
    return gw_request_parse(&in, req, response);
}

/* A GET /graphql?<qs>. */
static int
parse_get(const char *qs, gw_gql_request_t *req, json_t **response)
{
    gw_http_request_t in = {.method = GW_HTTP_GET,
                            .query_string = qs,
                            .query_string_len = qs != NULL ? strlen(qs) : 0,
                            .body = "",
                            .content = GW_CONTENT_OTHER};
    return gw_request_parse(&in, req, response);
}

Test(gw_request, reads_query_variables_and_operation_name)
{
    gw_gql_request_t req;
    json_t *response;
    int st = parse("{\"query\":\"{ a }\",\"variables\":{\"x\":1},\"operationName\":\"Op\"}", true,
                   &req, &response);

    cr_assert_eq(st, 0);
    cr_assert_null(response);
    cr_assert_eq(req.query_len, 5);
    cr_assert_eq(memcmp(req.query, "{ a }", 5), 0);
    cr_assert_eq(json_integer_value(json_object_get(req.variables, "x")), 1);
    cr_assert_str_eq(req.operation_name, "Op");
    gw_request_deinit(&req);
}

Test(gw_request, reads_the_idempotency_key_from_extensions)
{
    gw_gql_request_t req;
    json_t *response;
    cr_assert_eq(parse("{\"query\":\"{ a }\",\"extensions\":{\"idempotencyKey\":\"k1\"}}",
                       true, &req, &response),
                 0);
    cr_assert_str_eq(req.idempotency_key, "k1");
    gw_request_deinit(&req);

    cr_assert_eq(parse("{\"query\":\"{ a }\",\"extensions\":{\"idempotencyKey\":null}}", true,
                       &req, &response),
                 0);
    cr_assert_null(req.idempotency_key);
    gw_request_deinit(&req);

    cr_assert_eq(parse("{\"query\":\"{ a }\",\"extensions\":{\"idempotencyKey\":7}}", true,
                       &req, &response),
                 200);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(response, "errors"), 0), "message")),
                     "extensions.idempotencyKey must be a string");
    json_decref(response);
}

Test(gw_idempotency, keys_are_short_visible_ascii)
{
    char long_key[GW_IDEMPOTENCY_KEY_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';

    cr_assert_null(gw_idempotency_key_check("0b5e7c2a-9f3e-4d4e-8a31-1d2c3b4a5f60", 36));
    cr_assert_null(gw_idempotency_key_check(long_key, GW_IDEMPOTENCY_KEY_MAX));
    cr_assert_not_null(gw_idempotency_key_check(long_key, GW_IDEMPOTENCY_KEY_MAX + 1));
    cr_assert_not_null(gw_idempotency_key_check("", 0));
    cr_assert_not_null(gw_idempotency_key_check("a b", 3));
    cr_assert_not_null(gw_idempotency_key_check("a\x7f", 2));
    cr_assert_not_null(gw_idempotency_key_check("caf\xc3\xa9", 5));
}

Test(gw_idempotency, request_ids_depend_on_user_key_command_root_and_input)
{
    json_t *alice = json_pack("{s:s, s:{s:s}}", "id", "alice", "claims", "iss", "booster");
    json_t *bob = json_pack("{s:s, s:{s:s}}", "id", "bob", "claims", "iss", "booster");
    json_t *in1 = json_pack("{s:{s:s, s:i}}", "input", "cartId", "c1", "quantity", 1);
    json_t *in1b = json_pack("{s:{s:i, s:s}}", "input", "quantity", 1, "cartId", "c1");
    json_t *in2 = json_pack("{s:{s:s, s:i}}", "input", "cartId", "c1", "quantity", 2);
    char a[RJ_UUID_STRLEN], b[RJ_UUID_STRLEN];

    gw_idempotent_request_id(alice, "k", "ChangeCartItem", 0, in1, a);
    gw_idempotent_request_id(alice, "k", "ChangeCartItem", 0, in1b, b);
    cr_assert_str_eq(a, b, "the same input in another key order is the same request");
    cr_assert_eq(strlen(a), 36);

    gw_idempotent_request_id(bob, "k", "ChangeCartItem", 0, in1, b);
    cr_assert_str_neq(a, b, "another user");
    gw_idempotent_request_id(NULL, "k", "ChangeCartItem", 0, in1, b);
    cr_assert_str_neq(a, b, "anonymous");
    gw_idempotent_request_id(alice, "k2", "ChangeCartItem", 0, in1, b);
    cr_assert_str_neq(a, b, "another key");
    gw_idempotent_request_id(alice, "k", "RemoveCartItem", 0, in1, b);
    cr_assert_str_neq(a, b, "another command");
    gw_idempotent_request_id(alice, "k", "ChangeCartItem", 1, in1, b);
    cr_assert_str_neq(a, b, "another root field");
    gw_idempotent_request_id(alice, "k", "ChangeCartItem", 0, in2, b);
    cr_assert_str_neq(a, b, "another input");

    json_decref(alice);
    json_decref(bob);
    json_decref(in1);
    json_decref(in1b);
    json_decref(in2);
}

Test(gw_request, null_variables_and_operation_name_are_absent)
{
    gw_gql_request_t req;
    json_t *response;

    cr_assert_eq(parse("{\"query\":\"{ a }\",\"variables\":null,\"operationName\":null}", true,
                       &req, &response),
                 0);
    cr_assert_null(req.variables);
    cr_assert_null(req.operation_name);
    gw_request_deinit(&req);
}

Test(gw_request, malformed_json_is_a_400)
{
    gw_gql_request_t req;
    json_t *response;

    cr_assert_eq(parse("{\"query\": ", true, &req, &response), 400);
    json_t *e = json_array_get(json_object_get(response, "errors"), 0);
    cr_assert_not_null(strstr(json_string_value(json_object_get(e, "message")),
                              "could not parse request body as JSON"));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "extensions"), "code")),
                     "InvalidParameterError");
    json_decref(response);
}

Test(gw_request, a_body_that_is_not_an_object_is_a_400)
{
    gw_gql_request_t req;
    json_t *response;

    cr_assert_eq(parse("[1,2]", true, &req, &response), 400);
    assert_error(response, "could not parse request body: expected a JSON object",
                 "InvalidParameterError");
    json_decref(response);
}

Test(gw_request, missing_or_empty_query_is_booster_empty_query)
{
    static const char *const bodies[] = {"{}", "{\"query\":null}", "{\"query\":\"\"}",
                                         "{\"variables\":{}}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        gw_gql_request_t req;
        json_t *response;
        cr_assert_eq(parse(bodies[i], true, &req, &response), 200, "%s", bodies[i]);
        assert_error(response, "Received an empty GraphQL query", "InvalidParameterError");
        json_decref(response);
    }
}

Test(gw_request, empty_or_non_json_bodies_have_no_query)
{
    gw_gql_request_t req;
    json_t *response;

    cr_assert_eq(parse("", true, &req, &response), 200);
    assert_error(response, "Received an empty GraphQL query", "InvalidParameterError");
    json_decref(response);

    /* express.json() ignores a text/plain body, however JSON it looks. */
    cr_assert_eq(parse("{\"query\":\"{ a }\"}", false, &req, &response), 200);
    assert_error(response, "Received an empty GraphQL query", "InvalidParameterError");
    json_decref(response);
}

Test(gw_request, get_reads_decoded_parameters)
{
    gw_gql_request_t req;
    json_t *response;
    int st = parse_get("query=query+Q(%24x%3A+ID!)+%7B+a(id%3A+%24x)+%7D"
                       "&variables=%7B%22x%22%3A%22%C3%A9+1%22%7D&operationName=Q&extra=1",
                       &req, &response);

    cr_assert_eq(st, 0);
    cr_assert_null(response);
    cr_assert(req.get);
    cr_assert_eq(req.query_len, strlen("query Q($x: ID!) { a(id: $x) }"));
    cr_assert_eq(memcmp(req.query, "query Q($x: ID!) { a(id: $x) }", req.query_len), 0);
    cr_assert_str_eq(json_string_value(json_object_get(req.variables, "x")), "\xc3\xa9 1");
    cr_assert_str_eq(req.operation_name, "Q");
    gw_request_deinit(&req);

    /* Without variables and operationName; variables=null is absent too. */
    cr_assert_eq(parse_get("query=%7Ba%7D&variables=null", &req, &response), 0);
    cr_assert_null(req.variables);
    cr_assert_null(req.operation_name);
    gw_request_deinit(&req);

    /* A POST is not a GET. */
    cr_assert_eq(parse("{\"query\":\"{ a }\"}", true, &req, &response), 0);
    cr_assert(!req.get);
    gw_request_deinit(&req);
}

Test(gw_request, get_without_a_query_is_a_400)
{
    static const char *const qss[] = {NULL, "", "operationName=x", "variables=%7B%7D"};
    for (size_t i = 0; i < sizeof qss / sizeof qss[0]; i++) {
        gw_gql_request_t req;
        json_t *response;
        cr_assert_eq(parse_get(qss[i], &req, &response), 400, "%s", qss[i]);
        assert_error(response,
                     "GET /graphql needs a query parameter, e.g. /graphql?query=%7B__typename%7D; "
                     "or POST the request as JSON",
                     "InvalidParameterError");
        json_decref(response);
    }

    /* An empty query parameter is Booster's empty query, as in a body. */
    gw_gql_request_t req;
    json_t *response;
    cr_assert_eq(parse_get("query=", &req, &response), 200);
    assert_error(response, "Received an empty GraphQL query", "InvalidParameterError");
    json_decref(response);
}

Test(gw_request, get_refuses_bad_parameters)
{
    static const struct {
        const char *qs;
        const char *message;
    } cases[] = {
        {"query=%7Ba", NULL}, /* not an error: the parser will say what is wrong */
        {"query=%7", "could not decode the query string: a '%' must be followed by two "
                     "hexadecimal digits"},
        {"query=a&query=b", "the query string has the parameter query more than once"},
        {"query=a&operationName=x&operationName=y",
         "the query string has the parameter operationName more than once"},
        {"query=%FF", "the query parameter is not valid UTF-8"},
        {"query=a&operationName=%C3", "the operationName parameter is not valid UTF-8"},
        {"query=a&variables=%7Bx", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_gql_request_t req;
        json_t *response;
        int st = parse_get(cases[i].qs, &req, &response);
        if (i == 0) {
            cr_assert_eq(st, 0);
            gw_request_deinit(&req);
            continue;
        }
        cr_assert_eq(st, 400, "%s", cases[i].qs);
        if (cases[i].message != NULL) {
            assert_error(response, cases[i].message, "InvalidParameterError");
        } else {
            json_t *e = json_array_get(json_object_get(response, "errors"), 0);
            const char *msg = json_string_value(json_object_get(e, "message"));
            cr_assert_not_null(strstr(msg, "could not parse the variables parameter as JSON"), "%s",
                               msg);
        }
        json_decref(response);
    }

    /* Variables that are JSON but not an object pass here; the executor refuses them. */
    gw_gql_request_t req;
    json_t *response;
    cr_assert_eq(parse_get("query=a&variables=%5B1%5D", &req, &response), 0);
    cr_assert(json_is_array(req.variables));
    gw_request_deinit(&req);
}

Test(gw_request, application_graphql_body_is_the_query)
{
    gw_gql_request_t req;
    json_t *response;
    gw_http_request_t in = {
        .method = GW_HTTP_POST, .body = "{ a }", .body_len = 5, .content = GW_CONTENT_GRAPHQL};

    cr_assert_eq(gw_request_parse(&in, &req, &response), 0);
    cr_assert_eq(req.query_len, 5);
    cr_assert_eq(memcmp(req.query, "{ a }", 5), 0);
    cr_assert_null(req.variables);
    cr_assert_null(req.operation_name);
    cr_assert(!req.get);
    gw_request_deinit(&req);

    /* A JSON-looking body is still query text here. */
    in.body = "{\"query\":\"{ a }\"}";
    in.body_len = strlen(in.body);
    cr_assert_eq(gw_request_parse(&in, &req, &response), 0);
    cr_assert_eq(req.query_len, in.body_len);
    gw_request_deinit(&req);

    in.body_len = 0;
    cr_assert_eq(gw_request_parse(&in, &req, &response), 200);
    assert_error(response, "Received an empty GraphQL query", "InvalidParameterError");
    json_decref(response);

    in.body = "{ a(x: \"\xff\") }";
    in.body_len = strlen(in.body);
    cr_assert_eq(gw_request_parse(&in, &req, &response), 400);
    assert_error(response, "could not read request body: not valid UTF-8", "InvalidParameterError");
    json_decref(response);
}

Test(gw_request, a_query_that_is_not_a_string_is_a_plain_error)
{
    gw_gql_request_t req;
    json_t *response;

    cr_assert_eq(parse("{\"query\":123}", true, &req, &response), 200);
    assert_error(response, "Must provide Source. Received: 123.", NULL);
    json_decref(response);
}

Test(gw_request, errors_get_empty_extensions)
{
    json_t *errors = json_pack("[{s:s}, {s:s, s:{s:s}}]", "message", "a", "message", "b",
                               "extensions", "code", "X");
    gw_errors_decorate(errors);
    cr_assert_eq(json_object_size(json_object_get(json_array_get(errors, 0), "extensions")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(errors, 1), "extensions"), "code")),
                     "X");
    json_decref(errors);
}

/* ---- operation selection ------------------------------------------------------------- */

static const rj_gql_ast_definition_t *
select_in(rj_gql_doc_t **doc, const char *src, const char *name)
{
    json_t *error = NULL;
    *doc = rj_gql_parse(src, strlen(src), NULL, &error);
    cr_assert_not_null(*doc, "parse: %s", src);
    return gw_select_operation(rj_gql_doc_definitions(*doc), name);
}

Test(gw_select, the_only_operation_or_the_named_one)
{
    rj_gql_doc_t *doc;
    const rj_gql_ast_definition_t *d;

    d = select_in(&doc, "fragment F on Query { a } query Q { ...F }", NULL);
    cr_assert_not_null(d);
    cr_assert_str_eq(d->name, "Q");
    rj_gql_doc_free(doc);

    d = select_in(&doc, "query A { a } mutation B { b }", "B");
    cr_assert_not_null(d);
    cr_assert_eq(d->op, RJ_GQL_OP_MUTATION);
    rj_gql_doc_free(doc);
}

Test(gw_select, ambiguous_or_unknown_is_null)
{
    rj_gql_doc_t *doc;

    cr_assert_null(select_in(&doc, "query A { a } query B { b }", NULL));
    rj_gql_doc_free(doc);
    cr_assert_null(select_in(&doc, "query A { a }", "Nope"));
    rj_gql_doc_free(doc);
}

/* ---- command messages ---------------------------------------------------------------- */

static rj_app_entity_t cart = {.name = "Cart"};

static rj_app_command_t keyed = {
    .name = "ChangeCartItem",
    .entity = &cart,
    .key = "cartId",
};

static rj_app_command_t unkeyed = {.name = "Ping"};

Test(gw_command, keyed_by_the_entity_id)
{
    json_t *args = json_pack("{s:{s:s, s:i}}", "input", "cartId", "c1", "quantity", 2);
    char *key = NULL, *value = NULL;
    rj_error_t err = {0};

    cr_assert_eq(
        gw_command_message(&keyed, args, NULL, "req-1", "shop:reply:gw-1", 0, &key, &value, &err),
        RJ_OK);
    cr_assert_str_eq(key, "c1");

    rj_env_command_t env;
    cr_assert_eq(rj_env_command_decode(value, strlen(value), &env, &err), RJ_OK, "%s", err.msg);
    cr_assert_str_eq(env.request_id, "req-1");
    cr_assert_str_eq(env.command, "ChangeCartItem");
    cr_assert_str_eq(env.reply_to, "shop:reply:gw-1");
    cr_assert_str_eq(env.issued_at, "1970-01-01T00:00:00.000Z");
    cr_assert_null(env.current_user);
    cr_assert_eq(json_integer_value(json_object_get(env.input, "quantity")), 2);
    rj_env_command_deinit(&env);

    free(key);
    free(value);
    json_decref(args);
}

Test(gw_command, a_numeric_entity_id_is_a_string_key)
{
    json_t *args = json_pack("{s:{s:i}}", "input", "cartId", 42);
    char *key = NULL, *value = NULL;

    cr_assert_eq(gw_command_message(&keyed, args, NULL, "req-2", "r", 0, &key, &value, NULL),
                 RJ_OK);
    cr_assert_str_eq(key, "42");
    free(key);
    free(value);
    json_decref(args);
}

Test(gw_command, without_an_entity_keyed_by_request_id_with_empty_input)
{
    json_t *args = json_object();
    char *key = NULL, *value = NULL;
    rj_error_t err = {0};

    cr_assert_eq(gw_command_message(&unkeyed, args, NULL, "req-3", "r", 0, &key, &value, &err),
                 RJ_OK);
    cr_assert_str_eq(key, "req-3");

    rj_env_command_t env;
    cr_assert_eq(rj_env_command_decode(value, strlen(value), &env, &err), RJ_OK, "%s", err.msg);
    cr_assert(json_is_object(env.input));
    cr_assert_eq(json_object_size(env.input), 0);
    rj_env_command_deinit(&env);
    free(key);
    free(value);
    json_decref(args);
}

Test(gw_command, a_missing_entity_id_is_refused)
{
    json_t *args = json_pack("{s:{s:s}}", "input", "productId", "p1");
    char *key = NULL, *value = NULL;
    rj_error_t err = {0};

    cr_assert_eq(gw_command_message(&keyed, args, NULL, "req-4", "r", 0, &key, &value, &err),
                 RJ_ESCHEMA);
    cr_assert_null(key);
    cr_assert_null(value);
    cr_assert_not_null(strstr(err.msg, "cartId"), "%s", err.msg);
    json_decref(args);
}

Test(gw_command, the_user_becomes_current_user)
{
    json_t *args = json_pack("{s:{s:s}}", "input", "cartId", "c1");
    json_t *user = json_pack("{s:s, s:[s]}", "id", "u1", "roles", "Admin");
    char *key = NULL, *value = NULL;
    rj_error_t err = {0};
    cr_assert_eq(gw_command_message(&keyed, args, user, "req-5", "r", 0, &key, &value, &err),
                 RJ_OK);
    json_t *env = json_loads(value, 0, NULL);
    cr_assert(json_equal(json_object_get(env, "currentUser"), user), "%s", value);
    json_decref(env);
    free(key);
    free(value);
    json_decref(user);
    json_decref(args);
}

/* ---- authentication and read-model decisions, with the shop ---- */

static rj_app_t *shop;

static void
load_shop(void)
{
    const char *dir = getenv("RAMJET_BUILD_DIR");
    cr_assert_not_null(dir, "set RAMJET_BUILD_DIR to the build directory");
    char *path = rj_xasprintf("%s/lib/libshop.so", dir);
    rj_error_t err;
    shop = rj_app_load(path, &err);
    cr_assert_not_null(shop, "%s", err.msg);
    free(path);
}

static void
free_shop(void)
{
    rj_app_free(shop);
}

/* An RS256 token signed with the shop's development key, claims @p claims. */
static char *
shop_token(const char *claims)
{
    const char *src = getenv("RAMJET_SOURCE_DIR");
    cr_assert_not_null(src, "set RAMJET_SOURCE_DIR to the source directory");
    char *path = rj_xasprintf("%s/examples/shop/keys/private.pem", src);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char pem[8192];
    size_t n = fread(pem, 1, sizeof pem - 1, f);
    pem[n] = '\0';
    fclose(f);
    free(path);
    jwt_t *jwt = NULL;
    cr_assert_eq(jwt_new(&jwt), 0);
    cr_assert_eq(jwt_add_grants_json(jwt, claims), 0);
    cr_assert_eq(jwt_add_header(jwt, "kid", "booster"), 0);
    cr_assert_eq(jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)pem, (int)n), 0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    char *copy = rj_xasprintf("Bearer %s", t);
    free(t);
    return copy;
}

TestSuite(gw_auth, .init = load_shop, .fini = free_shop);

Test(gw_auth, no_header_is_anonymous_and_a_good_token_a_user)
{
    json_t *user = NULL, *response = NULL;
    const rj_auth_t *auth = rj_app_token_auth(shop);
    cr_assert_eq(gw_request_user(auth, NULL, 0, rj_now_ms() / 1000, &user, &response), 0);
    cr_assert_null(user);
    cr_assert_null(response);

    char *h = shop_token("{\"iss\":\"booster\",\"sub\":\"admin@example.com\","
                         "\"email\":\"admin@example.com\",\"booster:role\":\"Admin\"}");
    cr_assert_eq(gw_request_user(auth, h, strlen(h), rj_now_ms() / 1000, &user, &response), 0);
    cr_assert_null(response);
    cr_assert_str_eq(json_string_value(json_object_get(user, "username")), "admin@example.com");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(user, "roles"), 0)), "Admin");
    json_decref(user);
    free(h);
}

Test(gw_auth, an_expired_token_fails_the_whole_request_exactly_as_booster)
{
    json_t *user = NULL, *response = NULL;
    char *h = shop_token("{\"iss\":\"booster\",\"sub\":\"u\",\"exp\":1000}");
    cr_assert_eq(gw_request_user(rj_app_token_auth(shop), h, strlen(h), rj_now_ms() / 1000, &user,
                                 &response),
                 200);
    cr_assert_null(user);
    char *text = json_dumps(response, JSON_COMPACT);
    cr_assert_str_eq(text, "{\"errors\":[{\"message\":\"TokenExpiredError: jwt expired\","
                           "\"extensions\":{\"code\":\"BoosterTokenExpiredError\"}}]}");
    free(text);
    json_decref(response);
    free(h);

    response = NULL;
    cr_assert_eq(gw_request_user(rj_app_token_auth(shop), "Bearer nope", 11, 0, &user, &response),
                 200);
    assert_error(response, "JsonWebTokenError: jwt malformed", "NotAuthorizedError");
    json_decref(response);
}

/* gw_read_model_key for @p rm and args {id: @p id} as @p user. */
static rj_status_t
rm_key(const char *rm, const char *id, const json_t *user, char **out_id, rj_error_t *err)
{
    json_t *args = json_pack("{s:s}", "id", id);
    char *seq = NULL;
    rj_status_t st = gw_read_model_key(rj_app_read_model(shop, rm), args, user, out_id, &seq, err);
    cr_expect_null(seq);
    json_decref(args);
    return st;
}

Test(gw_auth, read_model_queries_are_authorized_then_hooked)
{
    char *id = NULL;
    rj_error_t err;
    rj_error_clear(&err);
    cr_assert_eq(rm_key("CartReadModel", "c1", NULL, &id, &err), RJ_OK, "%s", err.msg);
    cr_expect_str_eq(id, "c1");
    free(id);

    cr_assert_eq(rm_key("CartReadModel", "before-fn-test", NULL, &id, &err), RJ_OK);
    cr_expect_str_eq(id, "before-fn-test-modified");
    free(id);

    id = NULL;
    cr_expect_eq(rm_key("CartReadModel", "throw-exception-id", NULL, &id, &err), RJ_EHANDLER);
    cr_expect_null(id);
    cr_expect_str_eq(err.msg, "Before hook throwing exception");

    cr_expect_eq(rm_key("ProductReadModel", "p1", NULL, &id, &err), RJ_EAUTH);
    cr_expect_str_eq(err.msg, "Access denied for this resource");
    cr_expect_str_eq(rj_error_code(&err), "NotAuthorizedError");
    json_t *email = json_pack("{s:s, s:[s]}", "id", "e", "roles", "UserWithEmail");
    cr_expect_eq(rm_key("ProductReadModel", "p1", email, &id, &err), RJ_OK);
    cr_expect_str_eq(id, "p1");
    free(id);
    json_decref(email);
}

Test(gw_auth, sequenced_read_models_keep_their_sequence_key)
{
    json_t *args = json_pack("{s:s, s:s}", "id", "p1", "priceChangedAt", "2024-01-01");
    char *id = NULL, *seq = NULL;
    rj_error_t err;
    cr_assert_eq(gw_read_model_key(rj_app_read_model(shop, "PriceHistoryReadModel"), args, NULL,
                                   &id, &seq, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect_str_eq(id, "p1");
    cr_expect_str_eq(seq, "2024-01-01");
    free(id);
    free(seq);
    json_decref(args);
}

/* ---- plural, List and events queries: authorization, hooks, statements ---- */

/* True when one of @p params' values contains @p needle. */
static bool
params_mention(const rj_rs_params_t *params, const char *needle)
{
    for (size_t i = 0; i < params->n; i++)
        if (strstr(params->values[i], needle) != NULL)
            return true;
    return false;
}

/* gw_read_model_search on the shop's @p rm with @p args_json (a JSON object text). */
static rj_status_t
search(const char *rm, const char *args_json, bool list, const json_t *user, rj_buf_t *sql,
       rj_rs_params_t *params, rj_rs_page_t *page, rj_error_t *err)
{
    json_t *args = json_loads(args_json, 0, NULL);
    cr_assert_not_null(args, "%s", args_json);
    rj_status_t st =
        gw_read_model_search(rj_app_read_model(shop, rm), args, list, user, sql, params, page, err);
    json_decref(args);
    return st;
}

Test(gw_auth, list_queries_build_a_bound_statement_with_the_page)
{
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    rj_rs_page_t page = {-1, -1};
    rj_error_t err;
    rj_error_clear(&err);

    cr_assert_eq(search("CartReadModel",
                        "{\"filter\":{\"id\":{\"eq\":\"c1'; DROP TABLE events; --\"}},"
                        "\"limit\":2,\"afterCursor\":{\"id\":\"4\"},\"sortBy\":{\"id\":\"DESC\"}}",
                        true, NULL, &sql, &params, &page, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect_eq(page.limit, 2);
    cr_expect_eq(page.offset, 4);
    /* The value is bound, never spliced into the text. */
    cr_expect(params_mention(&params, "DROP TABLE"));
    cr_expect_null(strstr(sql.data, "DROP TABLE"), "%s", sql.data);
    cr_expect_not_null(strstr(sql.data, "rm_cartreadmodel"), "%s", sql.data);
    cr_expect_not_null(strstr(sql.data, "DESC"), "%s", sql.data);

    /* No limit: Booster's page size, from the start. */
    cr_assert_eq(search("CartReadModel", "{}", true, NULL, &sql, &params, &page, &err), RJ_OK);
    cr_expect_eq(page.limit, RJ_RS_PAGE_SIZE);
    cr_expect_eq(page.offset, 0);

    /* The plural query leaves the page alone and has no LIMIT. */
    page = (rj_rs_page_t){-1, -1};
    cr_assert_eq(search("CartReadModel", "{\"filter\":{\"id\":{\"in\":[\"a\",\"b\"]}}}", false,
                        NULL, &sql, &params, &page, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect_eq(page.limit, -1);
    cr_expect_null(strstr(sql.data, "LIMIT"), "%s", sql.data);

    rj_rs_params_deinit(&params);
    rj_buf_deinit(&sql);
}

Test(gw_auth, list_queries_are_authorized_then_hooked)
{
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    rj_rs_page_t page;
    rj_error_t err;
    rj_error_clear(&err);

    /* B2 rewrites a filter on a before-fn- id to {id: {eq: id-modified}}. */
    cr_assert_eq(search("CartReadModel", "{\"filter\":{\"id\":{\"eq\":\"before-fn-7\"}}}", true,
                        NULL, &sql, &params, &page, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect(params_mention(&params, "before-fn-7-modified"));
    cr_assert_eq(search("CartReadModel", "{\"filter\":{\"id\":{\"eq\":\"before-fn-7\"}}}", false,
                        NULL, &sql, &params, &page, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect(params_mention(&params, "before-fn-7-modified"));

    /* ProductReadModel is for Admin and UserWithEmail only; the denial leaves no SQL. */
    rj_buf_puts(&sql, "stale");
    cr_expect_eq(search("ProductReadModel", "{}", true, NULL, &sql, &params, &page, &err),
                 RJ_EAUTH);
    cr_expect_str_eq(err.msg, "Access denied for this resource");
    cr_expect_str_eq(rj_error_code(&err), "NotAuthorizedError");
    cr_expect_eq(sql.len, 0);
    cr_expect_eq(params.n, 0);
    json_t *phone = json_pack("{s:s, s:[s]}", "id", "p", "roles", "UserWithPhone");
    cr_expect_eq(search("ProductReadModel", "{}", false, phone, &sql, &params, &page, &err),
                 RJ_EAUTH);
    json_decref(phone);
    json_t *email = json_pack("{s:s, s:[s]}", "id", "e", "roles", "UserWithEmail");
    rj_error_clear(&err);
    cr_expect_eq(search("ProductReadModel", "{}", true, email, &sql, &params, &page, &err), RJ_OK,
                 "%s", err.msg);
    cr_expect_not_null(strstr(sql.data, "rm_productreadmodel"), "%s", sql.data);
    json_decref(email);

    rj_buf_deinit(&sql);
    rj_rs_params_deinit(&params);
}

Test(gw_auth, malformed_pages_and_filters_are_invalid_parameters)
{
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    rj_rs_page_t page;
    rj_error_t err;

    rj_error_clear(&err);
    cr_expect_eq(search("CartReadModel", "{\"limit\":-1}", true, NULL, &sql, &params, &page, &err),
                 RJ_EINVAL);
    cr_expect_str_eq(rj_error_code(&err), "InvalidParameterError");
    rj_error_clear(&err);
    cr_expect_eq(search("CartReadModel", "{\"afterCursor\":{\"id\":\"x\"}}", true, NULL, &sql,
                        &params, &page, &err),
                 RJ_EINVAL);
    rj_error_clear(&err);
    cr_expect_eq(search("CartReadModel", "{\"filter\":{\"and\":{\"id\":{\"eq\":\"a\"}}}}", true,
                        NULL, &sql, &params, &page, &err),
                 RJ_EINVAL);
    cr_expect_eq(sql.len, 0, "a failed build leaves no partial statement");
    cr_expect_eq(params.n, 0);

    rj_buf_deinit(&sql);
    rj_rs_params_deinit(&params);
}

/* gw_events_search on the shop with @p args_json. */
static rj_status_t
events(bool by_type, const char *args_json, const json_t *user, rj_buf_t *sql,
       rj_rs_params_t *params, rj_error_t *err)
{
    json_t *args = json_loads(args_json, 0, NULL);
    cr_assert_not_null(args, "%s", args_json);
    rj_error_clear(err);
    rj_status_t st = gw_events_search(shop, by_type, args, user, sql, params, err);
    json_decref(args);
    return st;
}

Test(gw_auth, events_follow_the_entity_authorize_read_events)
{
    rj_buf_t sql;
    rj_rs_params_t params;
    rj_buf_init(&sql);
    rj_rs_params_init(&params);
    rj_error_t err;
    json_t *admin = json_pack("{s:s, s:[s]}", "id", "a", "roles", "Admin");
    json_t *phone = json_pack("{s:s, s:[s]}", "id", "p", "roles", "UserWithPhone");

    /* Cart: everyone. The arguments are bound parameters. */
    cr_assert_eq(events(false,
                        "{\"entity\":\"Cart\",\"entityID\":\"c-9\",\"from\":\"2021\","
                        "\"to\":\"2099\",\"limit\":3}",
                        NULL, &sql, &params, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect(params_mention(&params, "c-9"));
    cr_expect(params_mention(&params, "2021"));
    cr_expect(params_mention(&params, "2099"));
    cr_expect_not_null(strstr(sql.data, "LIMIT"), "%s", sql.data);
    cr_expect_null(strstr(sql.data, "c-9"), "%s", sql.data);

    /* A numeric ID is the id's string form; limit null means all events. */
    cr_assert_eq(events(false, "{\"entity\":\"Cart\",\"entityID\":42,\"limit\":null}", NULL, &sql,
                        &params, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect(params_mention(&params, "42"));
    cr_expect_null(strstr(sql.data, "LIMIT"), "%s", sql.data);

    /* Pack declares no authorizeReadEvents: nobody, Admin included, by entity or type. */
    cr_expect_eq(events(false, "{\"entity\":\"Pack\"}", admin, &sql, &params, &err), RJ_EAUTH);
    cr_expect_str_eq(err.msg, "Access denied for this resource");
    cr_expect_str_eq(rj_error_code(&err), "NotAuthorizedError");
    cr_expect_eq(sql.len, 0);
    cr_expect_eq(events(true, "{\"type\":\"PackCreated\"}", admin, &sql, &params, &err), RJ_EAUTH);

    /* eventsByType is decided by the entity of the type: CartPaid is Payment's. */
    cr_expect_eq(events(true, "{\"type\":\"CartPaid\"}", NULL, &sql, &params, &err), RJ_EAUTH);
    cr_expect_eq(events(true, "{\"type\":\"CartPaid\"}", admin, &sql, &params, &err), RJ_EAUTH);
    cr_expect_eq(events(true, "{\"type\":\"CartPaid\"}", phone, &sql, &params, &err), RJ_OK, "%s",
                 err.msg);
    cr_expect(params_mention(&params, "CartPaid"));
    cr_expect_eq(events(true, "{\"type\":\"CartItemChanged\"}", NULL, &sql, &params, &err), RJ_OK);

    cr_expect_eq(events(false, "{\"entity\":\"Nope\"}", admin, &sql, &params, &err), RJ_ENOTFOUND);
    cr_expect_str_eq(rj_error_code(&err), "NotFoundError");
    cr_expect_eq(events(true, "{}", admin, &sql, &params, &err), RJ_EINVAL);

    json_decref(phone);
    json_decref(admin);
    rj_buf_deinit(&sql);
    rj_rs_params_deinit(&params);
}

/* ---- the PostgreSQL pool (with RAMJET_TEST_PG_URL) ---- */

typedef struct pool_result {
    int calls;      /* callbacks received */
    rj_status_t st; /* the last status */
    char *text;     /* the last value, owned */
} pool_result_t;

static void
on_pool_result(void *opaque, rj_status_t status, char *text, const rj_error_t *err)
{
    pool_result_t *r = opaque;
    r->calls++;
    r->st = status;
    cr_expect_eq(status, RJ_OK, "%s", err->msg);
    free(r->text);
    r->text = text;
}

static void
on_pool_refused(void *opaque, rj_status_t status, char *text, const rj_error_t *err)
{
    pool_result_t *r = opaque;
    r->calls++;
    r->st = status;
    cr_expect_neq(status, RJ_OK);
    cr_expect_null(text);
    cr_expect(strstr(err->msg, "65535") != NULL, "message: %s", err->msg);
}

Test(gw_pgpool, runs_unnamed_statements_with_many_parameters_and_prepared_ones)
{
    const char *url = getenv("RAMJET_TEST_PG_URL");
    if (url == NULL || *url == '\0')
        cr_skip_test("RAMJET_TEST_PG_URL is not set");

    uv_loop_t loop;
    uv_loop_init(&loop);
    rj_error_t err = {0};
    gw_pgpool_t *pool = gw_pgpool_new(&loop, url, "public", 2, 5000, 5000, &err);
    cr_assert_not_null(pool, "%s", err.msg);

    /* More parameters than the old fixed limit of 4, one of them SQL NULL, and a SQL text
       that is gone (overwritten) before the worker runs it: unnamed statements copy it. */
    enum { N = 12 };
    char *values[N];
    rj_buf_t sql;
    rj_buf_init(&sql);
    rj_buf_puts(&sql, "SELECT concat_ws(','");
    for (int i = 0; i < N; i++) {
        values[i] = i == 5 ? NULL : rj_xasprintf("v%d", i);
        rj_buf_printf(&sql, ", $%d::text", i + 1);
    }
    rj_buf_puts(&sql, ")");
    pool_result_t unnamed = {0}, prepared = {0};
    gw_pgpool_query(pool, NULL, sql.data, N, (const char *const *)values, on_pool_result, &unnamed);
    memset(sql.data, 'X', sql.len);
    for (int i = 0; i < N; i++) {
        free(values[i]);
        values[i] = NULL;
    }
    rj_buf_deinit(&sql);

    const char *six[6] = {"a", "b", "c", "d", "e", "f"};
    gw_pgpool_query(pool, "t_six", "SELECT $1::text || $2 || $3 || $4 || $5 || $6", 6, six,
                    on_pool_result, &prepared);
    cr_expect_eq(gw_pgpool_busy(pool), 2);
    uv_run(&loop, UV_RUN_DEFAULT);

    cr_expect_eq(unnamed.calls, 1);
    cr_expect_str_eq(unnamed.text, "v0,v1,v2,v3,v4,v6,v7,v8,v9,v10,v11");
    cr_expect_eq(prepared.calls, 1);
    cr_expect_str_eq(prepared.text, "abcdef");
    cr_expect_eq(gw_pgpool_busy(pool), 0);
    free(unnamed.text);
    free(prepared.text);

    /* More parameters than PostgreSQL accepts (issue 9: a 65,540-value `in` list aborted
       the gateway on an assertion): the callback gets RJ_ETOOBIG at once, nothing runs. */
    enum { TOO_MANY = 70000 };
    const char **many = calloc(TOO_MANY, sizeof *many);
    for (int i = 0; i < TOO_MANY; i++)
        many[i] = "v";
    pool_result_t too_many = {0};
    gw_pgpool_query(pool, NULL, "SELECT 1", TOO_MANY, many, on_pool_refused, &too_many);
    free(many);
    cr_expect_eq(too_many.calls, 1);
    cr_expect_eq(too_many.st, RJ_ETOOBIG);
    cr_expect_eq(gw_pgpool_busy(pool), 0);

    /* No parameters and no row: NULL text. */
    pool_result_t none = {0};
    gw_pgpool_query(pool, NULL, "SELECT 1 WHERE false", 0, NULL, on_pool_result, &none);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(none.calls, 1);
    cr_expect_null(none.text);

    gw_pgpool_free(pool);
    cr_expect_eq(uv_loop_close(&loop), 0);
}

/* ---- limits (issue 9) ---- */

Test(gw_limits, filter_in_lists_are_bounded_at_any_depth)
{
    rj_error_t err;
    rj_error_clear(&err);
    json_t *ok = json_loads("{\"id\":{\"in\":[\"a\",\"b\",\"c\"]}}", 0, NULL);
    cr_expect_eq(gw_filter_check(ok, 3, &err), RJ_OK);
    cr_expect_eq(gw_filter_check(ok, 0, &err), RJ_OK, "0 is no limit");
    json_t *deep = json_loads("{\"and\":[{\"not\":{\"or\":[{\"cartItems\":{\"productId\":{\"in\":"
                              "[1,2,3,4]}}}]}}]}",
                              0, NULL);
    cr_expect_eq(gw_filter_check(deep, 3, &err), RJ_ETOOBIG);
    cr_expect(strstr(err.msg, "4 values, more than the limit of 3") != NULL, "%s", err.msg);
    cr_expect_eq(gw_filter_check(NULL, 3, &err), RJ_OK);
    json_decref(ok);
    json_decref(deep);
}

Test(gw_limits, list_cost_is_the_limit_or_a_page)
{
    json_t *args = json_pack("{s:i}", "limit", 1000);
    cr_expect_eq(gw_list_cost(args), 1000);
    json_object_del(args, "limit");
    cr_expect_eq(gw_list_cost(args), RJ_RS_PAGE_SIZE);
    json_object_set_new(args, "limit", json_null());
    cr_expect_eq(gw_list_cost(args), RJ_RS_PAGE_SIZE);
    json_decref(args);
}

/* ---- federation: _entities ---- */

TestSuite(entities, .init = load_shop, .fini = free_shop);

/* The plan of @p reps_json (a JSON array) for @p user, ids of at most 64 bytes. */
static void
plan(const char *reps_json, const json_t *user, gw_entity_plan_t *out)
{
    json_error_t jerr;
    json_t *reps = json_loads(reps_json, 0, &jerr);
    cr_assert_not_null(reps, "%s", jerr.text);
    gw_entity_plan_build(shop, reps, user, 64, out);
    json_decref(reps);
}

/* Batch @p b holds, in order, the slots and ids given as "slot:id" pairs. */
static void
expect_batch(const gw_entity_batch_t *b, const char *rm, size_t n, const char *const *pairs)
{
    cr_assert_str_eq(b->rm->name, rm);
    cr_assert_eq(b->n, n, "%s: %zu representations, not %zu", rm, b->n, n);
    for (size_t i = 0; i < n; i++) {
        char *got = rj_xasprintf("%zu:%s", b->slots[i], b->ids[i]);
        cr_expect_str_eq(got, pairs[i]);
        free(got);
    }
}

/* plan->errors[i] is at @p index with @p code. */
static void
expect_refused(const gw_entity_plan_t *p, size_t i, size_t index, const char *code)
{
    json_t *e = json_array_get(p->errors, i);
    cr_assert_not_null(e, "no error %zu", i);
    cr_expect_eq(json_integer_value(json_object_get(e, "index")), (json_int_t)index);
    cr_expect_str_eq(json_string_value(json_object_get(e, "code")), code, "%s",
                     json_string_value(json_object_get(e, "message")));
}

Test(entities, one_batch_per_read_model_in_representation_order)
{
    gw_entity_plan_t p;
    plan("[{\"__typename\": \"CartReadModel\", \"id\": \"c2\"},"
         " {\"__typename\": \"CustomerReadModel\", \"id\": \"u1\"},"
         " {\"__typename\": \"CartReadModel\", \"id\": 7},"
         " {\"__typename\": \"CartReadModel\", \"id\": \"c2\"},"
         " {\"__typename\": \"CartReadModel\", \"id\": \"before-fn-x\"}]",
         NULL, &p);
    cr_assert_eq(p.n_batches, 2);
    /* Numbers are ids too, and the before hook's rewrite is what is read. */
    expect_batch(&p.batches[0], "CartReadModel", 4,
                 (const char *const[]){"0:c2", "2:7", "3:c2", "4:before-fn-x-modified"});
    expect_batch(&p.batches[1], "CustomerReadModel", 1, (const char *const[]){"1:u1"});
    cr_expect_str_eq(p.batches[0].seqs[0], "");
    cr_expect_eq(json_array_size(p.errors), 0);
    gw_entity_plan_deinit(&p);
}

Test(entities, bad_representations_fail_alone)
{
    char *reps = rj_xasprintf("[{\"__typename\": \"Nope\", \"id\": \"x\"},"
                              " {\"__typename\": \"CartReadModel\"},"
                              " \"not an object\","
                              " {\"__typename\": \"CartReadModel\", \"id\": \"%0*d\"},"
                              " {\"__typename\": \"CartReadModel\", \"id\": \"ok\"},"
                              " {\"__typename\": \"CartReadModel\", \"id\": \"throw-1\"},"
                              " {\"__typename\": \"CartItem\", \"id\": \"x\"},"
                              " {\"__typename\": \"PriceHistoryReadModel\", \"id\": \"p\"}]",
                              65, 0);
    gw_entity_plan_t p;
    plan(reps, NULL, &p);
    free(reps);
    cr_assert_eq(p.n_batches, 1);
    expect_batch(&p.batches[0], "CartReadModel", 1, (const char *const[]){"4:ok"});
    cr_assert_eq(json_array_size(p.errors), 7);
    expect_refused(&p, 0, 0, "InvalidParameterError"); /* unknown type */
    cr_expect(strstr(json_string_value(json_object_get(json_array_get(p.errors, 0), "message")),
                     "\"Nope\"") != NULL);
    expect_refused(&p, 1, 1, "InvalidParameterError"); /* no id */
    expect_refused(&p, 2, 2, "InvalidParameterError"); /* not an object */
    expect_refused(&p, 3, 3, "InvalidParameterError"); /* 65 bytes: over the limit */
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(p.errors, 4), "message")),
                     "Before hook throwing exception");
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(p.errors, 4), "index")), 5);
    expect_refused(&p, 5, 6, "InvalidParameterError"); /* a value type is no entity */
    expect_refused(&p, 6, 7, "InvalidParameterError"); /* no sequence key */
    gw_entity_plan_deinit(&p);
}

Test(entities, authorized_as_the_by_id_query)
{
    static const char reps[] = "[{\"__typename\": \"ProductReadModel\", \"id\": \"p1\"},"
                               " {\"__typename\": \"CartReadModel\", \"id\": \"c1\"}]";
    gw_entity_plan_t p;
    plan(reps, NULL, &p);
    cr_assert_eq(p.n_batches, 1);
    expect_batch(&p.batches[0], "CartReadModel", 1, (const char *const[]){"1:c1"});
    expect_refused(&p, 0, 0, "NotAuthorizedError");
    gw_entity_plan_deinit(&p);

    json_t *user = json_pack("{s:s, s:[s]}", "id", "e", "roles", "UserWithEmail");
    plan(reps, user, &p);
    cr_assert_eq(p.n_batches, 2);
    expect_batch(&p.batches[0], "ProductReadModel", 1, (const char *const[]){"0:p1"});
    cr_expect_eq(json_array_size(p.errors), 0);
    gw_entity_plan_deinit(&p);
    json_decref(user);
}

Test(entities, sequenced_read_models_are_keyed_by_id_and_sequence)
{
    gw_entity_plan_t p;
    plan(
        "[{\"__typename\": \"PriceHistoryReadModel\", \"id\": \"p1\", \"priceChangedAt\": \"t2\"},"
        " {\"__typename\": \"PriceHistoryReadModel\", \"id\": \"p1\", \"priceChangedAt\": \"t1\"}]",
        NULL, &p);
    cr_assert_eq(p.n_batches, 1);
    const gw_entity_batch_t *b = &p.batches[0];
    cr_assert_eq(b->n, 2);
    cr_expect_str_eq(b->seqs[0], "t2");
    cr_expect_str_eq(b->seqs[1], "t1");

    /* One statement's two parameters: every key of the batch. */
    char *ids, *seqs;
    gw_entity_batch_params(b, &ids, &seqs);
    cr_expect_str_eq(ids, "{\"p1\",\"p1\"}");
    cr_expect_str_eq(seqs, "{\"t2\",\"t1\"}");
    free(ids);
    free(seqs);
    gw_entity_plan_deinit(&p);
}

Test(entities, rows_go_back_in_representation_order)
{
    gw_entity_plan_t p;
    plan("[{\"__typename\": \"CartReadModel\", \"id\": \"a\"},"
         " {\"__typename\": \"CartReadModel\", \"id\": \"missing\"},"
         " {\"__typename\": \"CartReadModel\", \"id\": \"b\"},"
         " {\"__typename\": \"CartReadModel\", \"id\": \"a\"}]",
         NULL, &p);
    json_t *result = json_pack("[n, n, n, n]");
    /* The database answers in its own order, once per key, maybe with rows of no key. */
    json_t *rows = json_pack("[[s, s, {s:s, s:i}], [s, s, {s:s}], [s, s, {s:s}], [s, s, s]]", "b",
                             "", "id", "b", "n", 2, "a", "", "id", "a", "zzz", "", "id", "zzz", "a",
                             "", "not an object");
    gw_entity_batch_place(&p.batches[0], rows, result);
    char *got = json_dumps(result, JSON_COMPACT);
    cr_expect_str_eq(got, "[{\"id\":\"a\",\"__typename\":\"CartReadModel\"},null,"
                          "{\"id\":\"b\",\"n\":2,\"__typename\":\"CartReadModel\"},"
                          "{\"id\":\"a\",\"__typename\":\"CartReadModel\"}]");
    free(got);
    /* The rows are copied, not changed. */
    cr_expect_null(json_object_get(json_array_get(json_array_get(rows, 0), 2), "__typename"));
    json_decref(rows);
    json_decref(result);
    gw_entity_plan_deinit(&p);
}

Test(entities, statement_binds_the_whole_batch)
{
    char *sql = gw_entity_batch_sql("shop.rm_cart");
    cr_expect(strstr(sql, "FROM shop.rm_cart WHERE (id, seq) IN") != NULL, "%s", sql);
    cr_expect(strstr(sql, "unnest($1::text[], $2::text[])") != NULL, "%s", sql);
    free(sql);
}
