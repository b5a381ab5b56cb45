/*
 * test_exec.c - the pure steps of the gateway's GraphQL handling (services/gateway/exec.c):
 * reading a POST body the way Booster does, choosing the operation, and building a command's
 * Kafka key and envelope.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
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
    return gw_request_parse(body, strlen(body), is_json, req, response);
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

Test(gw_request, null_variables_and_operation_name_are_absent)
{
    gw_gql_request_t req;
    json_t *response;

    cr_assert_eq(parse("{\"query\":\"{ a }\",\"variables\":null,\"operationName\":null}", true, &req,
                       &response),
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
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(e, "extensions"), "code")),
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

    cr_assert_eq(gw_request_parse("", 0, true, &req, &response), 200);
    assert_error(response, "Received an empty GraphQL query", "InvalidParameterError");
    json_decref(response);

    /* express.json() ignores a text/plain body, however JSON it looks. */
    cr_assert_eq(parse("{\"query\":\"{ a }\"}", false, &req, &response), 200);
    assert_error(response, "Received an empty GraphQL query", "InvalidParameterError");
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

    cr_assert_eq(gw_command_message(&keyed, args, NULL, "req-1", "shop:reply:gw-1", 0, &key, &value,
                                    &err),
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

    cr_assert_eq(gw_command_message(&keyed, args, NULL, "req-2", "r", 0, &key, &value, NULL), RJ_OK);
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

    cr_assert_eq(gw_command_message(&unkeyed, args, NULL, "req-3", "r", 0, &key, &value, &err), RJ_OK);
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
