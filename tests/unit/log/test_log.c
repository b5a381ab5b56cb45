/*
 * test_log.c - the logger's lines as a log pipeline reads them: with --log-format json each
 * line is one JSON object (time, level, daemon, module, msg, and the message's trailing
 * key=value pairs as fields), whatever bytes the message carries.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "log/log.h"

/* Logs through @p log with stderr sent to a pipe; returns what was written (a new string). */
static char *
captured(void (*log)(void))
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    log();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char *buf = rj_xcalloc(1, 65536);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, 65535 - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    return buf;
}

/* The one JSON line in @p text, parsed (asserts there is exactly one and that it parses). */
static json_t *
one_object(const char *text)
{
    size_t len = strlen(text);
    cr_assert(len > 0 && text[len - 1] == '\n', "not one line: [%s]", text);
    cr_assert_null(memchr(text, '\n', len - 1), "more than one line: [%s]", text);
    json_error_t e;
    json_t *o = json_loadb(text, len - 1, 0, &e);
    cr_assert_not_null(o, "not JSON (%s): [%s]", e.text, text);
    return o;
}

static void
setup(void)
{
    rj_core_init();
    rj_log_init("ramjet-test");
    rj_log_set_format(RJ_LOG_FORMAT_JSON);
}

TestSuite(log, .init = setup);

static void
log_pairs(void)
{
    rj_warn("kafka", "could not connect: %s broker=%s req=%s name=\"%s\" msg=%d", "refused",
            "127.0.0.1:9092", "r-42", "a \\\"quoted\\\" b", 7);
}

Test(log, json_lines_carry_the_message_and_its_pairs_as_fields)
{
    char *text = captured(log_pairs);
    json_t *o = one_object(text);
    cr_expect_str_eq(json_string_value(json_object_get(o, "level")), "warn");
    cr_expect_str_eq(json_string_value(json_object_get(o, "daemon")), "ramjet-test");
    cr_expect_str_eq(json_string_value(json_object_get(o, "module")), "kafka");
    cr_expect_str_eq(json_string_value(json_object_get(o, "msg")), "could not connect: refused");
    cr_expect_str_eq(json_string_value(json_object_get(o, "broker")), "127.0.0.1:9092");
    cr_expect_str_eq(json_string_value(json_object_get(o, "request_id")), "r-42");
    cr_expect_str_eq(json_string_value(json_object_get(o, "name")), "a \"quoted\" b");
    cr_expect_str_eq(json_string_value(json_object_get(o, "_msg")), "7", "a pair named msg");
    const char *time = json_string_value(json_object_get(o, "time"));
    cr_expect(time != NULL && strlen(time) == 24 && time[23] == 'Z', "%s", time);
    json_decref(o);
    free(text);
}

static void
log_hostile(void)
{
    /* Invalid UTF-8, control characters, quotes and a lone backslash, as a hostile
       client's id could bring them into a message. */
    rj_error("gateway", "bad id %s key=%s tail=\"unterminated", "\xff\xfe\"\\\n\t\x01", "x\xc3");
}

Test(log, any_bytes_still_make_one_parsable_line)
{
    char *text = captured(log_hostile);
    json_t *o = one_object(text);
    const char *msg = json_string_value(json_object_get(o, "msg"));
    cr_assert_not_null(msg);
    cr_expect(strstr(msg, "\xef\xbf\xbd") != NULL, "invalid bytes are replaced: %s", msg);
    json_decref(o);
    free(text);
}

static void
log_long(void)
{
    char big[10000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[5000] = '\xc3'; /* a two-byte sequence cut by the bound must not break the line */
    big[5001] = '\xa9';
    rj_info("main", "%s", big);
}

Test(log, a_line_past_the_bound_is_cut_and_still_parses)
{
    char *text = captured(log_long);
    json_t *o = one_object(text);
    cr_expect(json_is_true(json_object_get(o, "cut")));
    cr_expect_lt(strlen(text), 4097);
    json_decref(o);
    free(text);
}

static void
log_text(void)
{
    rj_log_set_format(RJ_LOG_FORMAT_TEXT);
    rj_info("main", "started port=%d", 80);
}

Test(log, text_stays_the_default_shape)
{
    char *text = captured(log_text);
    cr_expect(strstr(text, " INFO  [ramjet-test]|main: started port=80\n") != NULL, "%s", text);
    free(text);
}

Test(log, formats_parse)
{
    rj_log_format_t f;
    cr_expect(rj_log_parse_format("json", &f) && f == RJ_LOG_FORMAT_JSON);
    cr_expect(rj_log_parse_format("TEXT", &f) && f == RJ_LOG_FORMAT_TEXT);
    cr_expect_not(rj_log_parse_format("yaml", &f));
}
