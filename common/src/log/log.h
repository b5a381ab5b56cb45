/*
 * log/log.h - one line per event on stderr, in the shape Booster users know:
 *
 *   2026-11-22T10:00:00.123Z INFO  [ramjet-gateway]|kafka: could not connect: reason key=value
 *
 * The level is checked before the arguments are evaluated (the macros), debug
 * output is enabled per module (RAMJET_LOG_DEBUG=kafka,pg or =all), and the
 * threshold comes from RAMJET_LOG_LEVEL (debug|info|warn|error). Thread-safe:
 * each line is formatted into one buffer and written with a single write(2).
 * Never log secrets or whole tokens.
 */
#ifndef RJ_LOG_H
#define RJ_LOG_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum rj_log_level {
    RJ_LOG_DEBUG, /* per-module, off unless RAMJET_LOG_DEBUG names the module */
    RJ_LOG_INFO,  /* lifecycle and rare events */
    RJ_LOG_WARN,  /* something was wrong and was handled */
    RJ_LOG_ERROR, /* something was wrong and work was lost or refused */
    RJ_LOG_FATAL, /* the process is about to exit */
} rj_log_level_t;

/** Sets the prefix (usually the program name) and reads the environment. Call once. */
void rj_log_init(const char *prefix);
/** Overrides the threshold (tests and --log-level). */
void rj_log_set_level(rj_log_level_t level);
/** Parses "debug|info|warn|error"; returns false when unknown. */
bool rj_log_parse_level(const char *s, rj_log_level_t *out);
/** True when a line at @p level for @p module would be written. */
bool rj_log_enabled(rj_log_level_t level, const char *module);
void rj__log(rj_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rj__logv(rj_log_level_t level, const char *module, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define rj_log(level, module, ...)                                                                 \
    do {                                                                                           \
        if (rj_log_enabled((level), (module)))                                                     \
            rj__log((level), (module), __VA_ARGS__);                                               \
    } while (0)
#define rj_debug(module, ...) rj_log(RJ_LOG_DEBUG, module, __VA_ARGS__)
#define rj_info(module, ...) rj_log(RJ_LOG_INFO, module, __VA_ARGS__)
#define rj_warn(module, ...) rj_log(RJ_LOG_WARN, module, __VA_ARGS__)
#define rj_error(module, ...) rj_log(RJ_LOG_ERROR, module, __VA_ARGS__)
#define rj_fatal(module, ...) rj_log(RJ_LOG_FATAL, module, __VA_ARGS__)

#endif
