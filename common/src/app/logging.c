/*
 * logging.c - an application's logging declarations (ramjet.h: rj_app_logger,
 * rj_app_log_level, rj_app_log_prefix) and the call its code logs with (rj_log_write).
 *
 * Declarations are recorded on the app like every other binding and made the process's
 * by rj__app_apply_logging when a daemon has loaded the app: the log module is process-
 * wide, and only the app a daemon runs should change it. The application's logger is
 * installed as the log module's sink through a small adapter, because ramjet.h keeps its
 * own level enum (an application must not need Ramjet's internal headers).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_int.h"
#include "core/core.h"
#include "log/log.h"

_Static_assert((int)RJ_APP_LOG_DEBUG == (int)RJ_LOG_DEBUG &&
                   (int)RJ_APP_LOG_INFO == (int)RJ_LOG_INFO &&
                   (int)RJ_APP_LOG_WARN == (int)RJ_LOG_WARN &&
                   (int)RJ_APP_LOG_ERROR == (int)RJ_LOG_ERROR &&
                   (int)RJ_APP_LOG_FATAL == (int)RJ_LOG_FATAL,
               "ramjet.h's log levels mirror log.h's");

/* The installed application logger. Written once before threads start, read after. */
static rj_logger_fn app_logger;

static void
sink_to_app(rj_log_level_t level, const char *prefix, const char *module, const char *message)
{
    app_logger((rj_app_log_level_t)level, prefix, module, message);
}

static bool
level_valid(rj_app_log_level_t level)
{
    return (int)level >= (int)RJ_APP_LOG_DEBUG && (int)level <= (int)RJ_APP_LOG_FATAL;
}

RJ_EXPORT void
rj_app_logger(rj_app_t *app, rj_logger_fn fn)
{
    if (fn == NULL) {
        rj__app_decl_error(app, "rj_app_logger: no function");
        return;
    }
    app->logger = fn;
}

RJ_EXPORT void
rj_app_log_level(rj_app_t *app, rj_app_log_level_t level)
{
    if (!level_valid(level)) {
        rj__app_decl_error(app, "rj_app_log_level: unknown level %d", (int)level);
        return;
    }
    app->log_level = level;
    app->log_level_set = true;
}

RJ_EXPORT void
rj_app_log_prefix(rj_app_t *app, const char *prefix)
{
    if (prefix == NULL || prefix[0] == '\0' || strpbrk(prefix, "[]|\n") != NULL) {
        rj__app_decl_error(app, "rj_app_log_prefix: the prefix must be a non-empty string "
                                "without brackets, bars or newlines");
        return;
    }
    free(app->log_prefix);
    app->log_prefix = rj_xstrdup(prefix);
}

void
rj__app_apply_logging(const rj_app_t *app)
{
    if (app->log_prefix != NULL)
        rj_log_set_app_prefix(app->log_prefix);
    if (app->log_level_set && !rj_log_level_from_env())
        rj_log_set_level((rj_log_level_t)app->log_level);
    if (app->logger != NULL) {
        app_logger = app->logger;
        rj_log_set_sink(sink_to_app);
    }
}

void
rj__app_release_logging(const rj_app_t *app)
{
    if (app->logger != NULL && app->logger == app_logger) {
        rj_log_set_sink(NULL);
        app_logger = NULL;
    }
}

RJ_EXPORT void
rj_log_write(rj_app_log_level_t level, const char *module, const char *fmt, ...)
{
    if (!level_valid(level))
        level = RJ_APP_LOG_ERROR;
    if (module == NULL || module[0] == '\0')
        module = "app";
    if (!rj_log_enabled((rj_log_level_t)level, module))
        return;
    va_list ap;
    va_start(ap, fmt);
    rj__logv((rj_log_level_t)level, module, fmt, ap);
    va_end(ap);
}
