/*
 * log.c - the line logger described in log.h.
 */
#include "log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/core.h"

static char log_prefix[64] = "ramjet";
static char log_bracket[160] = "ramjet"; /* "<app prefix>:<prefix>", or the prefix alone */
static char log_app_prefix[64];
static rj_log_level_t log_level = RJ_LOG_INFO;
static char log_debug_modules[256]; /* ",kafka,pg," or ",all," */
static bool log_level_env;          /* RAMJET_LOG_LEVEL set the threshold */
static rj_log_sink_fn log_sink;     /* the application's logger, or NULL for stderr */

bool
rj_log_parse_level(const char *s, rj_log_level_t *out)
{
    static const char *names[] = {"debug", "info", "warn", "error", "fatal"};
    for (int i = 0; i < 5; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (rj_log_level_t)i;
            return true;
        }
    }
    return false;
}

static void
bracket_update(void)
{
    if (log_app_prefix[0] != '\0')
        snprintf(log_bracket, sizeof log_bracket, "%s:%s", log_app_prefix, log_prefix);
    else
        snprintf(log_bracket, sizeof log_bracket, "%s", log_prefix);
}

void
rj_log_init(const char *prefix)
{
    snprintf(log_prefix, sizeof log_prefix, "%s", prefix);
    bracket_update();
    const char *lvl = getenv("RAMJET_LOG_LEVEL");
    if (lvl != NULL && *lvl != '\0')
        log_level_env = rj_log_parse_level(lvl, &log_level);
    const char *dbg = getenv("RAMJET_LOG_DEBUG");
    if (dbg != NULL && *dbg != '\0')
        snprintf(log_debug_modules, sizeof log_debug_modules, ",%s,", dbg);
}

void
rj_log_set_level(rj_log_level_t level)
{
    log_level = level;
}

void
rj_log_set_app_prefix(const char *prefix)
{
    snprintf(log_app_prefix, sizeof log_app_prefix, "%s", prefix != NULL ? prefix : "");
    bracket_update();
}

bool
rj_log_level_from_env(void)
{
    return log_level_env;
}

void
rj_log_set_sink(rj_log_sink_fn fn)
{
    log_sink = fn;
}

bool
rj_log_enabled(rj_log_level_t level, const char *module)
{
    if (level != RJ_LOG_DEBUG)
        return level >= log_level;
    if (log_level == RJ_LOG_DEBUG)
        return true;
    if (log_debug_modules[0] == '\0')
        return false;
    if (strstr(log_debug_modules, ",all,") != NULL)
        return true;
    char needle[80];
    snprintf(needle, sizeof needle, ",%s,", module);
    return strstr(log_debug_modules, needle) != NULL;
}

void
rj__logv(rj_log_level_t level, const char *module, const char *fmt, va_list ap)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR", "FATAL"};
    char line[4096];
    if (log_sink != NULL) {
        if (vsnprintf(line, sizeof line, fmt, ap) >= 0)
            log_sink(level, log_bracket, module, line);
        return;
    }
    char ts[32];
    rj_iso8601_ms(rj_now_ms(), ts);
    int n = snprintf(line, sizeof line, "%s %s [%s]|%s: ", ts, names[level], log_bracket, module);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* one write(2) per line keeps lines whole across threads and processes */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void
rj__log(rj_log_level_t level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rj__logv(level, module, fmt, ap);
    va_end(ap);
}
