/*
 * proc/proc.h - what every Ramjet daemon's process needs around its work: the
 * lifecycle state machine, signal handling in the postmaster's style (handlers
 * only set a flag and write to a self-pipe; the loop does the work), and the
 * small HTTP endpoint behind Kubernetes probes and Prometheus.
 *
 *   STARTING  config read, connecting to dependencies; not ready
 *   RUNNING   taking work; ready once the daemon also says rj_proc_set_ready(true)
 *   DRAINING  first SIGTERM/SIGINT seen: no new work, finish in-flight, commit
 *   STOPPED   everything released; about to exit 0
 *
 * A second SIGTERM/SIGINT exits at once with status 1.
 *
 * The health server is deliberately tiny: one thread, poll + accept, read one
 * request line (bounded), answer, close. No keep-alive, no TLS, no routing
 * beyond the three paths. Daemons with their own HTTP server (the gateway) call
 * rj_health_render to answer the same paths there.
 */
#ifndef RJ_PROC_H
#define RJ_PROC_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "rj/status.h"

typedef enum rj_proc_state {
    RJ_PROC_STARTING, /* initialising; /readyz answers 503 */
    RJ_PROC_RUNNING,  /* serving; /readyz follows rj_proc_set_ready */
    RJ_PROC_DRAINING, /* stop requested; finishing in-flight work; 503 */
    RJ_PROC_STOPPED,  /* done; about to exit */
} rj_proc_state_t;

/**
 * Records the process name (for metrics and logs), installs the SIGTERM/SIGINT
 * handlers and the self-pipe, and ignores SIGPIPE. Call once from main(), after
 * rj_log_init and before starting threads (they inherit the signal mask).
 * @p name is copied.
 */
void rj_proc_init(const char *name);

/**
 * The first lines of every daemon's main(): installs the aborting allocators
 * (rj_core_init), starts the logger as @p name, loads the configuration table
 * into @p conf (--help prints it and exits 0; a bad flag or value prints the
 * error and exits 2), applies the log level and format the table stored in
 * @p common, and calls rj_proc_init. The daemon is then STARTING.
 *
 * @param opts, n, conf, argc, argv, summary  as for rj_config_load
 * @param common  the common part of @p conf (e.g. &conf.common), read after loading;
 *                NULL for a program without one
 *
 * Ownership: the strings rj_config_load stored in @p conf are the caller's (free
 * them with rj_config_deinit). Call once, from main(), before starting threads.
 */
void rj_proc_init_daemon(const char *name, const rj_conf_opt_t *opts, size_t n, void *conf,
                         const rj_common_conf_t *common, int argc, char **argv,
                         const char *summary);

/** The name given to rj_proc_init ("ramjet" before). Borrowed. Thread-safe. */
const char *rj_proc_name(void);

/**
 * True once a stop was requested (signal or rj_proc_request_stop).
 * Thread-safe and async-signal-safe.
 */
bool rj_proc_stopping(void);

/**
 * The read end of the self-pipe: readable once a stop was requested (it stays
 * readable; do not read it). For event loops; -1 before rj_proc_init.
 */
int rj_proc_wake_fd(void);

/** Requests a stop as SIGTERM would (without the second-signal escalation). Thread-safe. */
void rj_proc_request_stop(void);

/**
 * Moves to @p state and logs the transition. Entering DRAINING also sets
 * rj_proc_stopping. Thread-safe.
 */
void rj_proc_set_state(rj_proc_state_t state);

/** The current state. Thread-safe. */
rj_proc_state_t rj_proc_state(void);

/** "starting", "running", "draining" or "stopped". */
const char *rj_proc_state_name(rj_proc_state_t state);

/**
 * Says whether the daemon can take work (dependencies connected, partitions
 * assigned). Thread-safe.
 */
void rj_proc_set_ready(bool ready);

/**
 * Says whether the group gave this consumer any partitions (the Kafka consumer calls it at
 * every rebalance). Once called, the daemon is ready only while it holds partitions: a
 * member with none, before its first assignment or after a revocation, has no work to take,
 * and a replica beyond the partition count stays unready. Thread-safe.
 */
void rj_proc_set_assigned(bool assigned);

/**
 * True when the state is RUNNING, the daemon said ready, a consumer holds partitions and
 * the loop is not stalled: what /readyz answers. Thread-safe.
 */
bool rj_proc_is_ready(void);

/**
 * Says that the daemon's loop is turning. Once a daemon has called it, /healthz answers
 * 503 "stalled" (and /readyz is not ready) while the last call is more than @p stall_ms
 * old: a loop held by one request makes every other wait, and the health server, on a
 * thread of its own, would otherwise keep saying all is well. A supervisor then restarts
 * the daemon, as for one that cannot make progress. Thread-safe. rj_backoff_wait on the
 * thread that last called this counts as a heartbeat too: a bounded retry is progress.
 * @p stall_ms <= 0 does nothing (liveness checks off).
 */
void rj_proc_heartbeat(int stall_ms);

/** Milliseconds since the last rj_proc_heartbeat past its stall_ms, or 0 (not stalled,
 *  or never called). Thread-safe. */
int64_t rj_proc_stalled_ms(void);

/**
 * Sleeps up to @p timeout_ms, returning early (true) when a stop is requested.
 * For retry loops in daemons. Any thread.
 */
bool rj_proc_sleep(int timeout_ms);

/**
 * Exponential backoff for retry loops: 50 ms doubling to 2 s, given up after a
 * total time limit or when a stop is requested. Caller-owned storage, no teardown.
 */
typedef struct rj_backoff {
    int64_t start_us; /* rj_mono_us() at init */
    int64_t limit_us; /* give up after this long */
    int delay_ms;     /* the next sleep */
} rj_backoff_t;

/** Starts a backoff that gives up after @p limit_ms. */
void rj_backoff_init(rj_backoff_t *b, int limit_ms);

/**
 * Sleeps before the next attempt (returning early on a stop request).
 * @return false when the limit has passed or a stop was requested: do not retry
 */
bool rj_backoff_wait(rj_backoff_t *b);

/* ------------------------------------------------------------------------ */
/* Metrics                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct rj_metric rj_metric_t;

/**
 * Registers (or finds, when the name is taken) a counter. @p name may carry
 * Prometheus labels: "ramjet_messages_total{topic=\"shop.events\"}"; series
 * sharing a base name share one HELP/TYPE header. Both strings are copied.
 * Ownership: the registry owns metrics for the life of the process (freed by
 * rj_metrics_free_all). Thread-safe.
 */
rj_metric_t *rj_metric_counter(const char *name, const char *help);

/** Registers (or finds) a gauge; see rj_metric_counter. */
rj_metric_t *rj_metric_gauge(const char *name, const char *help);

/**
 * Registers (or finds) a latency histogram in seconds with fixed buckets
 * (1 ms .. 10 s); feed it with rj_metric_observe_us. Labels are not supported
 * in @p name for histograms.
 */
rj_metric_t *rj_metric_histogram(const char *name, const char *help);

/** Adds @p v to a counter or gauge. Lock-free; any thread. NULL is a no-op. */
void rj_metric_add(rj_metric_t *m, int64_t v);

/** Sets a gauge (or counter) to @p v. Lock-free; any thread. NULL is a no-op. */
void rj_metric_set(rj_metric_t *m, int64_t v);

/** The current value of a counter or gauge (a histogram's count). Any thread. */
int64_t rj_metric_value(const rj_metric_t *m);

/** Records one observation of @p us microseconds in a histogram. Lock-free; any thread. */
void rj_metric_observe_us(rj_metric_t *m, int64_t us);

/** Frees every registered metric; call only after all users are gone (end of main, tests). */
void rj_metrics_free_all(void);

/* ------------------------------------------------------------------------ */
/* Health endpoint                                                           */
/* ------------------------------------------------------------------------ */

/** Content type of every rj_health_render body (Prometheus text format 0.0.4). */
#define RJ_HEALTH_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/**
 * Starts the health server on 0.0.0.0:@p port on its own thread.
 * @p port 0 means off (returns RJ_OK, nothing started); -1 picks a free port
 * (see rj_health_port; for tests).
 * @return RJ_OK, or RJ_EIO when the port cannot be bound
 * Call once, from main().
 */
rj_status_t rj_health_start(int port, rj_error_t *err);

/** The bound port, or 0 when the server is not running. */
int rj_health_port(void);

/** Stops and joins the health server thread. No-op when not running. */
void rj_health_stop(void);

/**
 * Answers @p path as the health server would: "/healthz" -> 200 "ok",
 * "/readyz" -> 200 "ready" or 503 "<state>, not ready", "/metrics" -> 200 and
 * the Prometheus text of every metric plus ramjet_up and ramjet_ready.
 * A query string on @p path is ignored.
 *
 * @param status  set to the HTTP status
 * @param body    set to a new string the caller free()s (also for 404)
 * @return true when @p path is one of the three, false otherwise (404 "not found")
 * Thread-safe.
 */
bool rj_health_render(const char *path, int *status, char **body);

#endif
