/*
 * config/config.h - one declarative table per daemon is the single source of its
 * configuration, its --help and docs/configuration.md.
 *
 * Each option has a flag name ("kafka-brokers"), from which the environment
 * variable is derived (RAMJET_KAFKA_BROKERS); flags win over the environment,
 * which wins over the default. Values land in the daemon's own config struct at
 * the option's offset.
 */
#ifndef RJ_CONFIG_H
#define RJ_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "rj/status.h"

typedef enum rj_conf_type {
    RJ_CONF_STR,  /* char * (heap; freed by rj_config_deinit) */
    RJ_CONF_INT,  /* int */
    RJ_CONF_BOOL, /* bool: 1/0, true/false, yes/no, on/off */
} rj_conf_type_t;

typedef struct rj_conf_opt {
    const char *name;     /* flag name, e.g. "kafka-brokers"; env is RAMJET_KAFKA_BROKERS */
    rj_conf_type_t type;  /* how the value is parsed and stored */
    const char *defval;   /* default as text, or NULL for "unset" (strings only) */
    size_t offset;        /* offsetof(struct daemon_conf, field) */
    const char *help;     /* one line for --help and docs/configuration.md */
} rj_conf_opt_t;

/* Options every daemon has, stored in an embedded rj_common_conf_t. */
typedef struct rj_common_conf {
    char *app;           /* path of the application library */
    char *app_name;      /* topic/table prefix; default: the app's own name */
    char *kafka_brokers; /* bootstrap servers */
    char *pg_url;        /* libpq connection string */
    char *redis_url;     /* redis://host:port */
    int health_port;     /* /healthz, /readyz, /metrics; 0 = off */
    int partitions;      /* partitions per topic when Ramjet creates them */
    int topic_replication_factor;  /* replicas of those topics; -1: the broker's default */
    int topic_min_insync_replicas; /* their min.insync.replicas; 0: the broker's default */
    int topic_max_message_bytes;   /* their max.message.bytes */
    char *log_level;     /* debug|info|warn|error */
    char *log_format;    /* text|json */
    int liveness_timeout_ms;       /* /healthz turns 503 when the loop is held this long */
} rj_common_conf_t;

/*
 * RJ_CONF_COMMON(struct, field, health_default) expands to the common rows for a
 * daemon config struct that embeds rj_common_conf_t as @p field.
 */
#define RJ_CONF_COMMON(type, field, health_default)                                                \
    {"app", RJ_CONF_STR, NULL, offsetof(type, field.app),                                          \
     "path of the application library (.so) to load"},                                             \
        {"app-name", RJ_CONF_STR, NULL, offsetof(type, field.app_name),                            \
         "prefix of topics, tables and channels (default: the app's name)"},                       \
        {"kafka-brokers", RJ_CONF_STR, "127.0.0.1:9092", offsetof(type, field.kafka_brokers),      \
         "Kafka bootstrap servers"},                                                               \
        {"pg-url", RJ_CONF_STR, "postgresql://127.0.0.1:5432/ramjet",                              \
         offsetof(type, field.pg_url), "PostgreSQL connection string"},                            \
        {"redis-url", RJ_CONF_STR, "redis://127.0.0.1:6379", offsetof(type, field.redis_url),      \
         "Redis URL"},                                                                             \
        {"health-port", RJ_CONF_INT, health_default, offsetof(type, field.health_port),            \
         "port of /healthz, /readyz and /metrics (0: off)"},                                       \
        {"partitions", RJ_CONF_INT, "8", offsetof(type, field.partitions),                         \
         "partitions of each topic when Ramjet creates it"},                                       \
        {"topic-replication-factor", RJ_CONF_INT, "-1",                                            \
         offsetof(type, field.topic_replication_factor),                                           \
         "replicas of each topic Ramjet creates (-1: the broker's default.replication.factor)"},   \
        {"topic-min-insync-replicas", RJ_CONF_INT, "0",                                            \
         offsetof(type, field.topic_min_insync_replicas),                                          \
         "min.insync.replicas of each topic Ramjet creates (0: the broker's default; with 3 "      \
         "replicas, 2 keeps acks=all writes durable through one broker's loss)"},                  \
        {"topic-max-message-bytes", RJ_CONF_INT, "10485760",                                       \
         offsetof(type, field.topic_max_message_bytes),                                            \
         "max.message.bytes of each topic Ramjet creates: at least the largest envelope "          \
         "(8 MiB; the gateway takes 6 MiB bodies)"},                                               \
        {"log-level", RJ_CONF_STR, "info", offsetof(type, field.log_level),                        \
         "debug, info, warn or error (RAMJET_LOG_DEBUG=mod1,mod2 for per-module debug)"},          \
        {"log-format", RJ_CONF_STR, "text", offsetof(type, field.log_format),                      \
         "text (one line as Booster prints it) or json (one object per line: time, level, "        \
         "daemon, module, msg, and the message's key=value pairs as fields)"},                     \
        {"liveness-timeout-ms", RJ_CONF_INT, "30000", offsetof(type, field.liveness_timeout_ms),   \
         "/healthz answers 503 once the daemon's loop has not turned for this long (a wedged "     \
         "daemon, for the orchestrator to restart; 0: never); bounded retries count as turning"}

/**
 * Fills @p conf from defaults, the environment and argv. On --help prints the
 * table and exits 0 (--help-markdown: as a Markdown section, for
 * docs/configuration.md); on a bad flag or value returns RJ_EINVAL with a message.
 */
rj_status_t rj_config_load(const rj_conf_opt_t *opts, size_t n, void *conf, int argc,
                           char **argv, const char *prog, const char *summary, rj_error_t *err);
/** Prints --help text for the table. */
void rj_config_print_help(FILE *out, const rj_conf_opt_t *opts, size_t n, const char *prog,
                          const char *summary);
/** Prints the table as a Markdown section (for docs/configuration.md). */
void rj_config_print_markdown(FILE *out, const rj_conf_opt_t *opts, size_t n, const char *prog,
                              const char *summary);
/** Frees the strings rj_config_load stored in @p conf. */
void rj_config_deinit(const rj_conf_opt_t *opts, size_t n, void *conf);

#endif
