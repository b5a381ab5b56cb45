/*
 * health.c - the /healthz, /readyz and /metrics endpoint every daemon serves
 * for Kubernetes probes and Prometheus.
 *
 * One thread, one connection at a time: poll for a client (or the stop pipe),
 * accept, read until the end of the request line (at most 4 KiB, at most one
 * second), answer with Connection: close, close. Probes and scrapers are few
 * and patient; serialising them costs nothing and keeps the code obviously
 * correct. The thread never touches daemon state except through atomics
 * (rj_proc_is_ready, the metric values), so it cannot block the daemon.
 *
 * Not here: keep-alive, TLS, request bodies, headers beyond the request line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log/log.h"
#include "proc/proc.h"
#include "proc/proc_int.h"

#define REQUEST_MAX 4096       /* bytes read before giving up on a request line */
#define REQUEST_TIMEOUT_MS 1000 /* per connection, reading and writing */

static struct {
    pthread_t thread;   /* the server thread */
    int listen_fd;      /* listening socket, -1 when stopped */
    int stop[2];        /* pipe: a byte in [1] stops the thread */
    int port;           /* bound port */
    bool running;       /* thread started and not yet joined */
} health = {.listen_fd = -1, .stop = {-1, -1}};

bool
rj_health_render(const char *path, int *status, char **body)
{
    size_t len = strcspn(path, "?#");
    if (len == 8 && strncmp(path, "/healthz", len) == 0) {
        int64_t stalled = rj_proc_stalled_ms();
        *status = stalled > 0 ? 503 : 200;
        *body = stalled > 0 ? rj_xasprintf("stalled: the loop has not turned for %lld ms\n",
                                           (long long)stalled)
                            : rj_xstrdup("ok\n");
        return true;
    }
    if (len == 7 && strncmp(path, "/readyz", len) == 0) {
        if (rj_proc_is_ready()) {
            *status = 200;
            *body = rj_xstrdup("ready\n");
        } else {
            *status = 503;
            *body = rj_xasprintf("%s, not ready\n", rj_proc_state_name(rj_proc_state()));
        }
        return true;
    }
    if (len == 8 && strncmp(path, "/metrics", len) == 0) {
        rj_buf_t b;
        rj_buf_init(&b);
        rj_buf_printf(&b,
                      "# HELP ramjet_up 1 while the process runs.\n# TYPE ramjet_up gauge\n"
                      "ramjet_up{daemon=\"%s\"} 1\n"
                      "# HELP ramjet_ready 1 while /readyz answers 200.\n"
                      "# TYPE ramjet_ready gauge\nramjet_ready{daemon=\"%s\"} %d\n",
                      rj_proc_name(), rj_proc_name(), rj_proc_is_ready() ? 1 : 0);
        rj__process_metrics_render(&b);
        rj__metrics_render(&b);
        *status = 200;
        *body = rj_buf_steal(&b);
        return true;
    }
    *status = 404;
    *body = rj_xstrdup("not found\n");
    return false;
}

/* Writes all of @p p or gives up at the deadline (the client is then gone or stuck). */
static void
write_all(int fd, const char *p, size_t n, int64_t deadline_us)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            int left = (int)((deadline_us - rj_mono_us()) / 1000);
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (left > 0 && poll(&pfd, 1, left) > 0)
                continue;
        }
        return;
    }
}

static void
respond(int fd, int status, const char *reason, const char *body, bool head, int64_t deadline)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status, reason, RJ_HEALTH_CONTENT_TYPE, strlen(body));
    write_all(fd, hdr, (size_t)n, deadline);
    if (!head)
        write_all(fd, body, strlen(body), deadline);
}

static const char *
reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

static void
serve_client(int fd)
{
    int64_t deadline = rj_mono_us() + REQUEST_TIMEOUT_MS * 1000;
    char req[REQUEST_MAX + 1];
    size_t len = 0;
    char *eol = NULL;
    while (len < REQUEST_MAX) {
        ssize_t r = read(fd, req + len, REQUEST_MAX - len);
        if (r > 0) {
            len += (size_t)r;
            req[len] = '\0';
            if ((eol = strpbrk(req, "\r\n")) != NULL)
                break;
            continue;
        }
        if (r == 0)
            return;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return;
        int left = (int)((deadline - rj_mono_us()) / 1000);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return;
    }
    if (eol == NULL) {
        respond(fd, 400, reason_phrase(400), "request line too long\n", false, deadline);
        return;
    }
    *eol = '\0';

    /* "GET /path HTTP/1.1" */
    char *sp1 = strchr(req, ' ');
    char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL) {
        respond(fd, 400, reason_phrase(400), "bad request\n", false, deadline);
        return;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    bool head = strcmp(req, "HEAD") == 0;
    if (!head && strcmp(req, "GET") != 0) {
        respond(fd, 405, reason_phrase(405), "method not allowed\n", false, deadline);
        return;
    }
    int status = 0;
    char *body = NULL;
    rj_health_render(sp1 + 1, &status, &body);
    respond(fd, status, reason_phrase(status), body, head, deadline);
    free(body);
}

static void *
health_main(void *arg)
{
    struct pollfd pfds[2] = {
        {.fd = health.listen_fd, .events = POLLIN},
        {.fd = health.stop[0], .events = POLLIN},
    };
    for (;;) {
        if (poll(pfds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            rj_error(RJ_PROC_LOG, "health server poll failed: %s", strerror(errno));
            break;
        }
        if (pfds[1].revents != 0)
            break;
        if (pfds[0].revents == 0)
            continue;
        int fd = accept4(health.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                rj_warn(RJ_PROC_LOG, "health server accept failed: %s", strerror(errno));
            /* EMFILE and friends: do not spin on a listen socket we cannot drain */
            if (errno == EMFILE || errno == ENFILE)
                poll(NULL, 0, 100);
            continue;
        }
        serve_client(fd);
        close(fd);
    }
    return NULL;
}

rj_status_t
rj_health_start(int port, rj_error_t *err)
{
    if (port == 0)
        return RJ_OK;
    if (health.running)
        return rj_error_set(err, RJ_EINVAL, "could not start health server: already running");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return rj_error_set(err, RJ_EIO, "could not start health server: socket: %s",
                            strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)(port < 0 ? 0 : port)),
                              .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t slen = sizeof sin;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &slen) != 0) {
        int e = errno;
        close(fd);
        return rj_error_set(err, RJ_EIO, "could not start health server: %s port=%d",
                            strerror(e), port);
    }
    if (pipe2(health.stop, O_CLOEXEC) != 0) {
        int e = errno;
        close(fd);
        return rj_error_set(err, RJ_EIO, "could not start health server: pipe: %s", strerror(e));
    }
    health.listen_fd = fd;
    health.port = ntohs(sin.sin_port);
    int rc = pthread_create(&health.thread, NULL, health_main, NULL);
    if (rc != 0) {
        close(fd);
        close(health.stop[0]);
        close(health.stop[1]);
        health.listen_fd = health.stop[0] = health.stop[1] = -1;
        health.port = 0;
        return rj_error_set(err, RJ_EIO, "could not start health server: %s", strerror(rc));
    }
    health.running = true;
    rj_info(RJ_PROC_LOG, "health endpoint listening port=%d", health.port);
    return RJ_OK;
}

int
rj_health_port(void)
{
    return health.running ? health.port : 0;
}

void
rj_health_stop(void)
{
    if (!health.running)
        return;
    ssize_t ignored = write(health.stop[1], "s", 1);
    (void)ignored;
    pthread_join(health.thread, NULL);
    close(health.listen_fd);
    close(health.stop[0]);
    close(health.stop[1]);
    health.listen_fd = health.stop[0] = health.stop[1] = -1;
    health.port = 0;
    health.running = false;
}
