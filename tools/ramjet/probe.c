/*
 * probe.c - one short blocking exchange with a child on loopback (probe.h).
 */
#include "probe.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"

int
dev_probe_exchange(int port, const void *req, size_t req_len, char *resp, size_t resp_len,
                   int timeout_ms, dev_probe_done_fn done)
{
    RJ_ASSERT(resp_len > 0);
    resp[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int64_t deadline = rj_mono_us() + (int64_t)timeout_ms * 1000;
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
        goto fail;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, timeout_ms) != 1)
        goto fail;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0)
        goto fail;
    const char *out = req;
    size_t sent = 0;
    while (sent < req_len) {
        ssize_t w = send(fd, out + sent, req_len - sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            goto fail;
        if (w > 0)
            sent += (size_t)w;
        else if (poll(&p, 1, 50) < 0 && errno != EINTR)
            goto fail;
        if (rj_mono_us() > deadline)
            goto fail;
    }
    p.events = POLLIN;
    while (got + 1 < resp_len) {
        int left = (int)((deadline - rj_mono_us()) / 1000);
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t r = recv(fd, resp + got, resp_len - 1 - got, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        resp[got] = '\0';
        if (done(resp, got))
            break;
    }
    close(fd);
    resp[got] = '\0';
    return got > 0 ? (int)got : -1;
fail:
    close(fd);
    return -1;
}
