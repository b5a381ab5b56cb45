/*
 * proc.c - process lifecycle: the state machine and the signal handling
 * described in proc.h.
 *
 * The handlers follow the postmaster's rule: set a flag, write a byte to a
 * self-pipe, return. Everything else (stopping consumers, committing, logging)
 * happens in the daemon's loop, which watches rj_proc_stopping() or polls
 * rj_proc_wake_fd(). The pipe is never drained, so it stays readable once a stop
 * is requested and every loop that polls it wakes, however many there are.
 *
 * Not here: the health server and metrics (health.c, metrics.c), and any
 * supervision of children (the dev runner's job).
 */
#include "proc/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "log/log.h"
#include "proc/proc_int.h"

static char proc_name[64] = "ramjet";
static atomic_int stop_flag; /* 1 once a stop was requested */
static atomic_int proc_state = RJ_PROC_STARTING;
static atomic_bool proc_ready;
static atomic_int proc_assigned = -1; /* -1: not a group consumer; else 0 or 1 */
static _Atomic int64_t heartbeat_us;  /* rj_mono_us of the last heartbeat, 0 before one */
static atomic_int heartbeat_stall_ms; /* how old it may get */
static _Thread_local bool heartbeat_thread; /* this thread's loop is the one that beats */
static int wake_pipe[2] = {-1, -1}; /* [0] polled by loops, [1] written on stop */

static void
wake_loops(void)
{
    if (wake_pipe[1] >= 0) {
        int saved = errno;
        ssize_t ignored = write(wake_pipe[1], "s", 1);
        (void)ignored; /* a full pipe is already readable: nothing lost */
        errno = saved;
    }
}

static void
on_stop_signal(int sig)
{
    /* The second signal means "now": the operator does not want to wait for the drain. */
    if (atomic_exchange(&stop_flag, 1) != 0)
        _exit(1);
    wake_loops();
}

void
rj_proc_init(const char *name)
{
    snprintf(proc_name, sizeof proc_name, "%s", name);
    if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        rj_fatal(RJ_PROC_LOG, "could not create self-pipe: %s", strerror(errno));
        _exit(1);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /* Broken sockets are reported by write(2) as EPIPE; a signal would kill us. */
    signal(SIGPIPE, SIG_IGN);
}

const char *
rj_proc_name(void)
{
    return proc_name;
}

bool
rj_proc_stopping(void)
{
    return atomic_load(&stop_flag) != 0;
}

int
rj_proc_wake_fd(void)
{
    return wake_pipe[0];
}

void
rj_proc_request_stop(void)
{
    atomic_store(&stop_flag, 1);
    wake_loops();
}

const char *
rj_proc_state_name(rj_proc_state_t state)
{
    switch (state) {
    case RJ_PROC_STARTING:
        return "starting";
    case RJ_PROC_RUNNING:
        return "running";
    case RJ_PROC_DRAINING:
        return "draining";
    case RJ_PROC_STOPPED:
        return "stopped";
    }
    return "unknown";
}

void
rj_proc_set_state(rj_proc_state_t state)
{
    rj_proc_state_t old = (rj_proc_state_t)atomic_exchange(&proc_state, (int)state);
    if (state == RJ_PROC_DRAINING)
        rj_proc_request_stop();
    if (old != state)
        rj_info(RJ_PROC_LOG, "state %s -> %s", rj_proc_state_name(old), rj_proc_state_name(state));
}

rj_proc_state_t
rj_proc_state(void)
{
    return (rj_proc_state_t)atomic_load(&proc_state);
}

void
rj_proc_set_ready(bool ready)
{
    if (atomic_exchange(&proc_ready, ready) != ready)
        rj_debug(RJ_PROC_LOG, "ready=%s", ready ? "true" : "false");
}

void
rj_proc_set_assigned(bool assigned)
{
    if (atomic_exchange(&proc_assigned, assigned ? 1 : 0) != (assigned ? 1 : 0))
        rj_info(RJ_PROC_LOG, "%s", assigned ? "partitions assigned: ready for work"
                                            : "no partitions assigned: not ready");
}

bool
rj_proc_is_ready(void)
{
    return atomic_load(&proc_state) == RJ_PROC_RUNNING && atomic_load(&proc_ready) &&
           atomic_load(&proc_assigned) != 0 && rj_proc_stalled_ms() == 0;
}

void
rj_proc_heartbeat(int stall_ms)
{
    if (stall_ms <= 0)
        return;
    heartbeat_thread = true;
    atomic_store(&heartbeat_stall_ms, stall_ms);
    atomic_store(&heartbeat_us, rj_mono_us());
}

int64_t
rj_proc_stalled_ms(void)
{
    int64_t last = atomic_load(&heartbeat_us);
    if (last == 0)
        return 0;
    int64_t age_ms = (rj_mono_us() - last) / 1000;
    return age_ms > atomic_load(&heartbeat_stall_ms) ? age_ms : 0;
}

bool
rj_proc_sleep(int timeout_ms)
{
    if (rj_proc_stopping())
        return true;
    if (wake_pipe[0] < 0) {
        /* Before rj_proc_init (tests): plain sleep. */
        poll(NULL, 0, timeout_ms);
        return rj_proc_stopping();
    }
    struct pollfd pfd = {.fd = wake_pipe[0], .events = POLLIN};
    poll(&pfd, 1, timeout_ms);
    return rj_proc_stopping();
}

void
rj_proc_init_daemon(const char *name, const rj_conf_opt_t *opts, size_t n, void *conf,
                    const rj_common_conf_t *common, int argc, char **argv, const char *summary)
{
    rj_core_init();
    rj_log_init(name);
    rj_error_t err = {0};
    if (rj_config_load(opts, n, conf, argc, argv, name, summary, &err) != RJ_OK) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        rj_config_deinit(opts, n, conf);
        exit(2);
    }
    rj_log_level_t level;
    if (common != NULL && common->log_level != NULL &&
        rj_log_parse_level(common->log_level, &level))
        rj_log_set_level(level);
    rj_log_format_t format;
    if (common != NULL && common->log_format != NULL) {
        if (!rj_log_parse_format(common->log_format, &format)) {
            fprintf(stderr, "%s: invalid log-format: %s (text or json)\n", name,
                    common->log_format);
            exit(2);
        }
        rj_log_set_format(format);
    }
    rj_proc_init(name);
}

void
rj_backoff_init(rj_backoff_t *b, int limit_ms)
{
    b->start_us = rj_mono_us();
    b->limit_us = (int64_t)limit_ms * 1000;
    b->delay_ms = 50;
}

bool
rj_backoff_wait(rj_backoff_t *b)
{
    if (rj_proc_stopping() || rj_mono_us() - b->start_us >= b->limit_us)
        return false;
    if (rj_proc_sleep(b->delay_ms))
        return false;
    /* A loop retrying within its budget is alive (it ends in success or an exit), but only
       the beating loop's own retries say so: another thread's would hide a wedged loop. */
    if (heartbeat_thread)
        atomic_store(&heartbeat_us, rj_mono_us());
    b->delay_ms = b->delay_ms * 2 > 2000 ? 2000 : b->delay_ms * 2;
    return true;
}
