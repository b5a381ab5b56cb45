/*
 * log/log.h - one line per event on stderr, in the shape Booster users know:
 *
 *   2026-11-22T10:00:00.123Z INFO  [ramjet-gateway]|kafka: could not connect: reason key=value
 *
 * The level is checked before the arguments are evaluated (the macros), debug
 * output is enabled per module (RAMJET_LOG_DEBUG=kafka,pg or =all), and the
 * threshold comes from RAMJET_LOG_LEVEL (debug|info|warn|error). With
 * RAMJET_LOG_FORMAT=json (or rj_log_set_format) each line is one JSON object instead,
 * for log pipelines (Loki, Elasticsearch, Cloud Logging):
 *
 *   {"time":"2026-11-22T10:00:00.123Z","level":"info","daemon":"ramjet-gateway",
 *    "module":"kafka","msg":"could not connect: reason","key":"value"}
 *
 * The message's trailing key=value pairs (the convention every message follows) become
 * fields, "req" as "request_id"; invalid UTF-8 is replaced, so every line parses. Thread-safe:
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

typedef enum rj_log_format {
    RJ_LOG_FORMAT_TEXT, /* the line above */
    RJ_LOG_FORMAT_JSON, /* one JSON object per line */
} rj_log_format_t;

/**
 * Receives every line instead of stderr once installed (an application's logger).
 *
 * @param prefix   the bracketed part of the usual line ("ramjet-gateway", or
 *                 "shop:ramjet-gateway" with an application prefix)
 * @param module   the module ("kafka")
 * @param message  the formatted message, without timestamp, level or prefix
 *
 * Called from any thread, concurrently; the strings live for the call only.
 */
typedef void (*rj_log_sink_fn)(rj_log_level_t level, const char *prefix, const char *module,
                               const char *message);

/** Sets the prefix (usually the program name) and reads the environment. Call once. */
void rj_log_init(const char *prefix);
/** Puts an application's prefix before the program's ("[shop:ramjet-gateway]"); NULL or
 * "" removes it. Set before threads start. */
void rj_log_set_app_prefix(const char *prefix);
/** True when RAMJET_LOG_LEVEL chose the threshold (an operator's choice wins over an app's). */
bool rj_log_level_from_env(void);
/** Sends every line to @p fn instead of stderr; NULL restores stderr. Set before threads start. */
void rj_log_set_sink(rj_log_sink_fn fn);
/** Parses "text|json"; returns false when unknown. */
bool rj_log_parse_format(const char *s, rj_log_format_t *out);
/** Sets the line format (--log-format; RAMJET_LOG_FORMAT is read by rj_log_init). Set before
 * threads start. */
void rj_log_set_format(rj_log_format_t format);
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
