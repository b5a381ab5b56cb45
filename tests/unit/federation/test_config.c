/*
 * test_config.c - the gateway configuration file: every Mercurius key read with its
 * type, defaults, and the refusals (unknown key, wrong type, duplicate service name,
 * missing required key, malformed JSON) each naming the offending key.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "federation/federation.h"

static rj_status_t
parse(const char *text, rj_fed_conf_t *c, rj_error_t *err)
{
    rj_error_clear(err);
    return rj_fed_conf_parse(text, strlen(text), "gw.json", c, err);
}

Test(fed_config, every_key)
{
    const char *text =
        "{\"services\": ["
        "  {\"name\": \"accounts\", \"url\": \"http://127.0.0.1:4001/graphql\","
        "   \"wsUrl\": \"ws://127.0.0.1:4001/graphql\", \"mandatory\": true,"
        "   \"initHeaders\": {\"authorization\": \"bearer x\"}, \"keepAlive\": 1000,"
        "   \"keepAliveTimeout\": 2000, \"connections\": 3, \"allowBatchedQueries\": true},"
        "  {\"name\": \"reviews\", \"url\": [\"http://a:1/graphql\", \"https://b/graphql\"],"
        "   \"schema\": \"type Query { x: Int }\"}],"
        " \"pollingInterval\": 500, \"retryServicesCount\": 2, \"retryServicesInterval\": 10,"
        " \"subscription\": {\"onConnect\": null}}";
    rj_fed_conf_t c;
    rj_error_t err;
    cr_assert_eq(parse(text, &c, &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(c.nservices, 2);
    const rj_fed_service_conf_t *a = &c.services[0], *r = &c.services[1];
    cr_expect_str_eq(a->name, "accounts");
    cr_expect_eq(a->nurls, 1);
    cr_expect_str_eq(a->urls[0], "http://127.0.0.1:4001/graphql");
    cr_expect_str_eq(a->ws_url, "ws://127.0.0.1:4001/graphql");
    cr_expect(a->mandatory);
    cr_expect_str_eq(json_string_value(json_object_get(a->init_headers, "authorization")),
                     "bearer x");
    cr_expect_eq(a->keep_alive_ms, 1000);
    cr_expect_eq(a->keep_alive_timeout_ms, 2000);
    cr_expect_eq(a->connections, 3);
    cr_expect(a->allow_batched_queries);
    cr_expect_null(a->schema);
    cr_expect_eq(r->nurls, 2);
    cr_expect_str_eq(r->urls[1], "https://b/graphql");
    cr_expect_str_eq(r->schema, "type Query { x: Int }");
    /* defaults */
    cr_expect_not(r->mandatory);
    cr_expect_null(r->ws_url);
    cr_expect_null(r->init_headers);
    cr_expect_eq(r->keep_alive_ms, 5000);
    cr_expect_eq(r->connections, 10);
    cr_expect_not(r->allow_batched_queries);
    cr_expect_eq(c.polling_interval_ms, 500);
    cr_expect_eq(c.retry_services_count, 2);
    cr_expect_eq(c.retry_services_interval_ms, 10);
    cr_expect(json_is_object(c.subscription));
    rj_fed_conf_deinit(&c);
    cr_expect_null(c.services);
    rj_fed_conf_deinit(&c); /* a second deinit is harmless */
}

Test(fed_config, top_level_defaults)
{
    rj_fed_conf_t c;
    rj_error_t err;
    cr_assert_eq(parse("{\"services\": [{\"name\": \"a\", \"url\": \"http://h/g\"}]}", &c, &err),
                 RJ_OK, "%s", err.msg);
    cr_expect_eq(c.polling_interval_ms, 0);
    cr_expect_eq(c.retry_services_count, 10);
    cr_expect_eq(c.retry_services_interval_ms, 3000);
    cr_expect_null(c.subscription);
    rj_fed_conf_deinit(&c);
}

/* Each bad file is refused, the configuration left empty, and the message names the key. */
Test(fed_config, refusals_name_the_key)
{
    static const struct {
        const char *text; /* the file */
        const char *msg;  /* the whole expected message */
    } cases[] = {
        {"{\"services\": [{\"name\": \"a\", \"url\": \"http://h/g\"}], \"polingInterval\": 1}",
         "gw.json: polingInterval: unknown key"},
        {"{\"services\": [{\"name\": \"a\", \"url\": \"http://h/g\", \"mandatroy\": true}]}",
         "gw.json: services[0].mandatroy: unknown key"},
        {"{\"services\": [{\"name\": \"a\", \"url\": \"http://h/g\"},"
         " {\"name\": \"a\", \"url\": \"http://i/g\"}]}",
         "gw.json: services[1].name: duplicate service name \"a\" (also services[0])"},
        {"{\"services\": [{\"name\": \"a\", \"url\": 5}]}",
         "gw.json: services[0].url: expected a URL or a non-empty array of URLs"},
        {"{\"services\": [{\"name\": \"a\", \"url\": [\"http://h/g\", \"ftp://x\"]}]}",
         "gw.json: services[0].url: expected http(s) URLs"},
        {"{\"services\": [{\"name\": \"a\", \"url\": []}]}",
         "gw.json: services[0].url: expected a URL or a non-empty array of URLs"},
        {"{\"services\": [{\"name\": \"a\", \"url\": \"http://h/g\", \"mandatory\": \"yes\"}]}",
         "gw.json: services[0].mandatory: expected true or false"},
        {"{\"services\": [{\"name\": \"a\", \"url\": \"http://h/g\", \"connections\": 0}]}",
         "gw.json: services[0].connections: expected an integer of at least 1"},
        {"{\"services\": [{\"name\": \"a\", \"url\": \"http://h/g\", \"keepAlive\": 1.5}]}",
         "gw.json: services[0].keepAlive: expected a non-negative integer"},
        {"{\"services\": [{\"name\": \"a\", \"url\": \"http://h/g\","
         " \"initHeaders\": {\"x\": \"a\\r\\nb: c\"}}]}",
         "gw.json: services[0].initHeaders.x: expected a header name with a one-line string "
         "value"},
        {"{\"services\": [{\"name\": \"\", \"url\": \"http://h/g\"}]}",
         "gw.json: services[0].name: expected a non-empty string"},
        {"{\"services\": [{\"url\": \"http://h/g\"}]}", "gw.json: services[0].name: missing"},
        {"{\"services\": []}", "gw.json: services: expected a non-empty array"},
        {"{\"pollingInterval\": 5}", "gw.json: services: missing"},
        {"{\"services\": [\"a\"]}", "gw.json: services[0]: expected an object"},
        {"[1]", "gw.json: (top level): expected an object"},
        {"{\"services\": [{\"name\": \"a\", \"url\": \"http://h/g\", \"name\": \"b\"}]}",
         "gw.json:1:55: duplicate object key near '\"name\"'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rj_fed_conf_t c;
        rj_error_t err;
        cr_expect_eq(parse(cases[i].text, &c, &err), RJ_EINVAL, "case %zu", i);
        cr_expect_str_eq(err.msg, cases[i].msg, "case %zu: %s", i, err.msg);
        cr_expect_eq(c.nservices, 0, "case %zu", i);
        cr_expect_null(c.services, "case %zu", i);
    }
}

Test(fed_config, load_file)
{
    char path[] = "/tmp/rj-fed-conf-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *text = "{\"services\": [{\"name\": \"a\", \"url\": \"http://h/g\"}]}";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    rj_fed_conf_t c;
    rj_error_t err = {0};
    cr_expect_eq(rj_fed_conf_load(path, &c, &err), RJ_OK, "%s", err.msg);
    cr_expect_str_eq(c.services[0].name, "a");
    rj_fed_conf_deinit(&c);
    unlink(path);
    cr_expect_eq(rj_fed_conf_load(path, &c, &err), RJ_EIO);
    cr_expect(strstr(err.msg, "could not open gateway config /tmp/rj-fed-conf-") != NULL, "%s",
              err.msg);
}
