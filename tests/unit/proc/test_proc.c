/*
 * test_proc.c - lifecycle, signals, metrics and the health endpoint over real
 * HTTP on a loopback port.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "log/log.h"
#include "proc/proc.h"
#include "../test_time.h"

static void
setup(void)
{
    rj_core_init();
    rj_log_init("test-proc");
    rj_log_set_level(RJ_LOG_WARN);
}

TestSuite(proc, .init = setup, .timeout = 30);

/* Sends @p request to the health port and returns the whole response (free it). */
static char *
http(const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)rj_health_port()),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    cr_assert_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    rj_buf_t b;
    rj_buf_init(&b);
    char chunk[1024];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof chunk)) > 0)
        rj_buf_append(&b, chunk, (size_t)r);
    close(fd);
    return rj_buf_steal(&b);
}

static char *
get(const char *path)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    return http(req);
}

static bool
starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

Test(proc, health_endpoints_and_readiness_flip)
{
    rj_proc_init("test-proc");
    rj_error_t err = {0};
    cr_assert_eq(rj_health_start(-1, &err), RJ_OK, "%s", err.msg);
    cr_assert_gt(rj_health_port(), 0);

    char *r = get("/healthz");
    cr_assert(starts_with(r, "HTTP/1.1 200 OK\r\n"), "%s", r);
    cr_assert(strstr(r, "\r\n\r\nok\n") != NULL, "%s", r);
    free(r);

    /* STARTING: not ready, whatever the daemon says */
    rj_proc_set_ready(true);
    r = get("/readyz");
    cr_assert(starts_with(r, "HTTP/1.1 503 "), "%s", r);
    cr_assert(strstr(r, "starting, not ready") != NULL, "%s", r);
    free(r);

    rj_proc_set_state(RJ_PROC_RUNNING);
    r = get("/readyz?verbose=1");
    cr_assert(starts_with(r, "HTTP/1.1 200 OK"), "%s", r);
    free(r);

    rj_proc_set_ready(false);
    r = get("/readyz");
    cr_assert(starts_with(r, "HTTP/1.1 503 "), "%s", r);
    free(r);

    rj_proc_set_ready(true);
    rj_proc_set_state(RJ_PROC_DRAINING);
    cr_assert(rj_proc_stopping(), "draining implies stopping");
    r = get("/readyz");
    cr_assert(starts_with(r, "HTTP/1.1 503 "), "%s", r);
    cr_assert(strstr(r, "draining") != NULL, "%s", r);
    free(r);

    r = get("/nope");
    cr_assert(starts_with(r, "HTTP/1.1 404 "), "%s", r);
    free(r);
    r = http("POST /healthz HTTP/1.1\r\n\r\n");
    cr_assert(starts_with(r, "HTTP/1.1 405 "), "%s", r);
    free(r);
    r = http("HEAD /healthz HTTP/1.1\r\n\r\n");
    cr_assert(starts_with(r, "HTTP/1.1 200 "), "%s", r);
    cr_assert(strstr(r, "\r\n\r\n")[4] == '\0', "HEAD has no body: %s", r);
    free(r);
    r = http("garbage\r\n\r\n");
    cr_assert(starts_with(r, "HTTP/1.1 400 "), "%s", r);
    free(r);

    rj_health_stop();
    cr_assert_eq(rj_health_port(), 0);
    rj_metrics_free_all();
}

Test(proc, health_server_survives_silent_and_oversized_clients)
{
    rj_error_t err = {0};
    cr_assert_eq(rj_health_start(-1, &err), RJ_OK, "%s", err.msg);

    /* A client that connects and says nothing is dropped after the request timeout. */
    int idle = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)rj_health_port()),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(idle, (struct sockaddr *)&sin, sizeof sin), 0);

    char big[6000];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    big[sizeof big - 1] = '\0';
    char *r = http(big);
    cr_assert(starts_with(r, "HTTP/1.1 400 "), "%s", r);
    free(r);

    r = get("/healthz");
    cr_assert(starts_with(r, "HTTP/1.1 200 "), "%s", r);
    free(r);

    /* The silent client was dropped (EOF) once its request time ran out, not kept. */
    struct pollfd pfd = {.fd = idle, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, (int)RJ_TEST_MS(3000)), 1, "the idle client was never dropped");
    char byte;
    cr_expect_eq(read(idle, &byte, 1), 0, "dropped with EOF, not answered");
    close(idle);
    rj_health_stop();
}

Test(proc, metrics_render_in_prometheus_format)
{
    rj_metric_t *c = rj_metric_counter("ramjet_test_messages_total{topic=\"a\"}", "Messages.");
    rj_metric_t *c2 = rj_metric_counter("ramjet_test_messages_total{topic=\"b\"}", "Messages.");
    rj_metric_t *g = rj_metric_gauge("ramjet_test_lag", "Lag\nin messages.");
    rj_metric_t *h = rj_metric_histogram("ramjet_test_batch_seconds", "Batch latency.");
    cr_assert_eq(rj_metric_counter("ramjet_test_messages_total{topic=\"a\"}", "x"), c,
                 "same name, same metric");
    rj_metric_add(c, 3);
    rj_metric_add(c, 2);
    rj_metric_add(c2, 1);
    rj_metric_set(g, 42);
    rj_metric_observe_us(h, 500);      /* 0.5 ms: first bucket */
    rj_metric_observe_us(h, 30000);    /* 30 ms */
    rj_metric_observe_us(h, 60000000); /* a minute: only +Inf */
    cr_assert_eq(rj_metric_value(c), 5);
    cr_assert_eq(rj_metric_value(h), 3);

    int status = 0;
    char *body = NULL;
    cr_assert(rj_health_render("/metrics", &status, &body));
    cr_assert_eq(status, 200);
    const char *want[] = {
        "# HELP ramjet_test_messages_total Messages.\n# TYPE ramjet_test_messages_total counter\n"
        "ramjet_test_messages_total{topic=\"a\"} 5\nramjet_test_messages_total{topic=\"b\"} 1\n",
        "# HELP ramjet_test_lag Lag\\nin messages.\n# TYPE ramjet_test_lag gauge\nramjet_test_lag "
        "42\n",
        "ramjet_test_batch_seconds_bucket{le=\"0.001\"} 1\n",
        "ramjet_test_batch_seconds_bucket{le=\"0.05\"} 2\n",
        "ramjet_test_batch_seconds_bucket{le=\"10\"} 2\n",
        "ramjet_test_batch_seconds_bucket{le=\"+Inf\"} 3\n",
        "ramjet_test_batch_seconds_count 3\n",
        "ramjet_up{daemon=",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(body, want[i]) != NULL, "missing %s in:\n%s", want[i], body);
    free(body);

    cr_assert_not(rj_health_render("/other", &status, &body));
    cr_assert_eq(status, 404);
    free(body);
    rj_metrics_free_all();
}

Test(proc, first_signal_drains_second_exits)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        rj_proc_init("child");
        if (rj_proc_stopping())
            _exit(10);
        raise(SIGTERM);
        struct pollfd pfd = {.fd = rj_proc_wake_fd(), .events = POLLIN};
        if (!rj_proc_stopping() || poll(&pfd, 1, 1000) != 1)
            _exit(11);
        if (!rj_proc_sleep(10000)) /* returns at once once stopping */
            _exit(12);
        raise(SIGINT); /* the impatient operator */
        _exit(0);      /* not reached */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status), "status=%d", status);
    cr_assert_eq(WEXITSTATUS(status), 1, "second signal exits 1 at once");
}

Test(proc, request_stop_wakes_loops)
{
    rj_proc_init("test-proc");
    cr_assert_not(rj_proc_stopping());
    cr_assert_eq(rj_proc_state(), RJ_PROC_STARTING);
    rj_proc_request_stop();
    cr_assert(rj_proc_stopping());
    struct pollfd pfd = {.fd = rj_proc_wake_fd(), .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 0), 1);
    cr_assert_eq(poll(&pfd, 1, 0), 1, "stays readable for every loop");
    cr_assert_str_eq(rj_proc_state_name(RJ_PROC_STOPPED), "stopped");
}

/* Issue 9: a loop held for minutes left /healthz saying "ok". With a heartbeat, it says so. */
Test(proc, a_stalled_loop_is_unhealthy)
{
    int status = 0;
    char *body = NULL;
    rj_proc_heartbeat(50);
    cr_assert(rj_health_render("/healthz", &status, &body));
    cr_expect_eq(status, 200, "%s", body);
    free(body);
    usleep(120 * 1000);
    cr_expect_gt(rj_proc_stalled_ms(), 50);
    cr_assert(rj_health_render("/healthz", &status, &body));
    cr_expect_eq(status, 503);
    cr_expect(strncmp(body, "stalled: the loop has not turned for ", 37) == 0, "%s", body);
    free(body);
    cr_assert(rj_health_render("/readyz", &status, &body));
    cr_expect_eq(status, 503, "a stalled daemon is not ready either");
    free(body);
    rj_proc_heartbeat(50);
    cr_assert(rj_health_render("/healthz", &status, &body));
    cr_expect_eq(status, 200, "%s", body);
    free(body);
}

/* Backs off for about 150 ms on a thread that never beats. */
static void *
backoff_elsewhere(void *arg)
{
    (void)arg;
    rj_backoff_t b;
    rj_backoff_init(&b, 150);
    while (rj_backoff_wait(&b))
        ;
    return NULL;
}

/* A bounded retry of the beating loop is progress; another thread's retries are not. */
Test(proc, only_the_beating_loop_s_retries_count_as_heartbeats)
{
    rj_proc_heartbeat(60);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, backoff_elsewhere, NULL), 0);
    pthread_join(t, NULL);
    cr_expect_gt(rj_proc_stalled_ms(), 60, "another thread's backoff hid a held loop");

    rj_backoff_t b;
    rj_backoff_init(&b, 1000);
    cr_assert(rj_backoff_wait(&b));
    cr_expect_eq(rj_proc_stalled_ms(), 0, "the loop's own retry did not count");

    rj_proc_heartbeat(0); /* off: changes nothing */
    usleep(100 * 1000);
    cr_expect_gt(rj_proc_stalled_ms(), 60);
    rj_proc_heartbeat(60);
}

/* Issue 15: what every Prometheus client library exports, for dashboards and alerts. */
Test(proc, metrics_carry_build_info_and_the_process_series)
{
    int status = 0;
    char *body = NULL;
    cr_assert(rj_health_render("/metrics", &status, &body));
    cr_expect_eq(status, 200);
    cr_expect(strstr(body, "ramjet_build_info{daemon=\"") != NULL, "%s", body);
    cr_expect(strstr(body, ",version=\"0.") != NULL, "%s", body);
    /* The samples, not their HELP lines; CPU time may still be 0 in a fresh process. */
    static const char *series[] = {"\nprocess_resident_memory_bytes ",
                                   "\nprocess_virtual_memory_bytes ", "\nprocess_open_fds ",
                                   "\nprocess_max_fds ", "\nprocess_start_time_seconds "};
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
        const char *line = strstr(body, series[i]);
        cr_expect(line != NULL && strtod(line + strlen(series[i]), NULL) > 0, "%s: %s", series[i],
                  body);
    }
    cr_expect(strstr(body, "\nprocess_cpu_seconds_total ") != NULL, "%s", body);
    free(body);
}
