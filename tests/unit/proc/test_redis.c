/*
 * test_redis.c - the Redis layer (common/src/redis) against a real redis-server
 * the test starts itself on a free port: URL parsing, publish, pipelined
 * publish, channel and pattern subscribers, and a subscriber that rides out a
 * server restart. (It lives beside the proc tests: daemon plumbing.)
 *
 * Skipped when redis-server is not on PATH.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include "redis/redis.h"

static pid_t server_pid;
static int server_port;
static char url[64];

static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd);
    return ntohs(sin.sin_port);
}

static bool
server_start(void)
{
    char port[16];
    snprintf(port, sizeof port, "%d", server_port);
    server_pid = fork();
    if (server_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    /* ready when it accepts connections */
    for (int i = 0; i < 100; i++) {
        rj_redis_t *r = rj_redis_connect(url, NULL);
        if (r != NULL) {
            rj_redis_free(r);
            return true;
        }
        int status;
        if (waitpid(server_pid, &status, WNOHANG) == server_pid)
            return false;
        usleep(50000);
    }
    return false;
}

static void
server_stop(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
}

static void
setup(void)
{
    rj_core_init();
    rj_log_init("test-redis");
    rj_log_set_level(RJ_LOG_ERROR);
}

TestSuite(redis, .init = setup, .fini = server_stop, .timeout = 30);

static void
start_or_skip(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") != 0)
        cr_skip_test("redis-server not found");
    server_port = free_port();
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", server_port);
    cr_assert(server_start(), "redis-server did not start");
}

/* What a subscriber saw, guarded for the test thread. */
typedef struct inbox {
    pthread_mutex_t lock; /* guards the rest */
    int count;            /* messages received */
    int connects;         /* on_connect calls */
    char last_channel[64];
    char last_msg[64];
    size_t last_len;
} inbox_t;

static void
on_message(void *opaque, const char *channel, const char *msg, size_t len)
{
    inbox_t *in = opaque;
    pthread_mutex_lock(&in->lock);
    in->count++;
    snprintf(in->last_channel, sizeof in->last_channel, "%s", channel);
    memcpy(in->last_msg, msg, len < sizeof in->last_msg ? len : sizeof in->last_msg - 1);
    in->last_msg[len < sizeof in->last_msg ? len : sizeof in->last_msg - 1] = '\0';
    in->last_len = len;
    pthread_mutex_unlock(&in->lock);
}

static void
on_connect(void *opaque)
{
    inbox_t *in = opaque;
    pthread_mutex_lock(&in->lock);
    in->connects++;
    pthread_mutex_unlock(&in->lock);
}

static int
inbox_count(inbox_t *in)
{
    pthread_mutex_lock(&in->lock);
    int n = in->count;
    pthread_mutex_unlock(&in->lock);
    return n;
}

static bool
wait_count(inbox_t *in, int want)
{
    for (int i = 0; i < 100 && inbox_count(in) < want; i++)
        usleep(20000);
    return inbox_count(in) >= want;
}

Test(redis, url_parsing)
{
    rj_redis_url_t u;
    rj_error_t err = {0};
    cr_assert_eq(rj_redis_url_parse("redis://example.org:6380/2", &u, &err), RJ_OK, "%s", err.msg);
    cr_assert_str_eq(u.host, "example.org");
    cr_assert_eq(u.port, 6380);
    cr_assert_eq(u.db, 2);
    cr_assert_eq(rj_redis_url_parse("redis://:s3cret@10.0.0.1", &u, &err), RJ_OK);
    cr_assert_str_eq(u.password, "s3cret");
    cr_assert_str_eq(u.host, "10.0.0.1");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(rj_redis_url_parse("redis://", &u, &err), RJ_OK);
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(rj_redis_url_parse("localhost:7000", &u, &err), RJ_OK);
    cr_assert_eq(u.port, 7000);
    cr_assert_eq(rj_redis_url_parse("http://x", &u, &err), RJ_EINVAL);
    cr_assert_eq(rj_redis_url_parse("redis://h:0", &u, &err), RJ_EINVAL);
    cr_assert_eq(rj_redis_url_parse("redis://h:1/x", &u, &err), RJ_EINVAL);
    cr_assert(strstr(err.msg, "could not parse Redis URL") == err.msg, "%s", err.msg);
}

Test(redis, publish_and_subscribe)
{
    start_or_skip();
    inbox_t in = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const char *channels[] = {"shop:reply:gw-1", "other"};
    rj_redis_sub_opts_t o = {.url = url,
                             .channels = channels,
                             .nchannels = 2,
                             .on_message = on_message,
                             .on_connect = on_connect,
                             .opaque = &in};
    rj_error_t err = {0};
    rj_redis_sub_t *sub = rj_redis_sub_start_ex(&o, &err);
    cr_assert_not_null(sub, "%s", err.msg);
    cr_assert(rj_redis_sub_wait_connected(sub, 5000));
    cr_assert(rj_redis_sub_is_connected(sub));
    cr_assert_eq(in.connects, 1);

    rj_redis_t *r = rj_redis_connect(url, &err);
    cr_assert_not_null(r, "%s", err.msg);
    long long receivers = -1;
    const char payload[] = "{\"ok\":true}\0tail";
    cr_assert_eq(rj_redis_publish(r, "shop:reply:gw-1", payload, sizeof payload - 1, &receivers,
                                  &err),
                 RJ_OK, "%s", err.msg);
    cr_assert_eq(receivers, 1);
    cr_assert(wait_count(&in, 1));
    cr_assert_str_eq(in.last_channel, "shop:reply:gw-1");
    cr_assert_eq(in.last_len, sizeof payload - 1, "binary-safe payloads");

    rj_redis_msg_t many[] = {
        {"other", "a", 1}, {"nobody", "b", 1}, {"shop:reply:gw-1", "c", 1}};
    cr_assert_eq(rj_redis_publish_many(r, many, 3, &err), RJ_OK, "%s", err.msg);
    cr_assert(wait_count(&in, 3));
    cr_assert_str_eq(in.last_msg, "c");

    rj_redis_free(r);
    int64_t t0 = rj_mono_us();
    rj_redis_sub_stop(sub);
    cr_assert_lt(rj_mono_us() - t0, 1000000, "stop is prompt");
}

Test(redis, pattern_subscriber)
{
    start_or_skip();
    inbox_t in = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const char *patterns[] = {"shop:rm:*"};
    rj_error_t err = {0};
    rj_redis_sub_t *sub = rj_redis_psub_start(url, patterns, 1, on_message, &in, &err);
    cr_assert_not_null(sub, "%s", err.msg);
    cr_assert(rj_redis_sub_wait_connected(sub, 5000));
    rj_redis_t *r = rj_redis_connect(url, &err);
    cr_assert_not_null(r);
    cr_assert_eq(rj_redis_publish(r, "shop:rm:CartReadModel", "x", 1, NULL, &err), RJ_OK);
    cr_assert_eq(rj_redis_publish(r, "shop:reply:gw", "y", 1, NULL, &err), RJ_OK);
    cr_assert(wait_count(&in, 1));
    usleep(100000);
    cr_assert_eq(inbox_count(&in), 1, "only the pattern's channels");
    cr_assert_str_eq(in.last_channel, "shop:rm:CartReadModel");
    rj_redis_free(r);
    rj_redis_sub_stop(sub);
}

Test(redis, subscriber_and_publisher_survive_server_restart)
{
    start_or_skip();
    inbox_t in = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const char *channels[] = {"c"};
    rj_redis_sub_opts_t o = {.url = url,
                             .channels = channels,
                             .nchannels = 1,
                             .on_message = on_message,
                             .on_connect = on_connect,
                             .opaque = &in};
    rj_error_t err = {0};
    rj_redis_sub_t *sub = rj_redis_sub_start_ex(&o, &err);
    cr_assert_not_null(sub, "%s", err.msg);
    cr_assert(rj_redis_sub_wait_connected(sub, 5000));
    rj_redis_t *r = rj_redis_connect(url, &err);
    cr_assert_not_null(r);

    server_stop();
    for (int i = 0; i < 50 && rj_redis_sub_is_connected(sub); i++)
        usleep(20000);
    cr_assert_not(rj_redis_sub_is_connected(sub));
    cr_assert_eq(rj_redis_publish(r, "c", "lost", 4, NULL, &err), RJ_ERETRY);

    cr_assert(server_start(), "redis-server did not restart");
    cr_assert(rj_redis_sub_wait_connected(sub, 10000), "resubscribed by itself");
    cr_assert_eq(in.connects, 2);
    cr_assert_eq(rj_redis_publish(r, "c", "back", 4, NULL, &err), RJ_OK, "%s", err.msg);
    cr_assert(wait_count(&in, 1));
    cr_assert_str_eq(in.last_msg, "back");
    rj_redis_free(r);
    rj_redis_sub_stop(sub);
}

Test(redis, subscriber_without_server_stops_promptly)
{
    inbox_t in = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const char *channels[] = {"c"};
    rj_error_t err = {0};
    char dead[64];
    snprintf(dead, sizeof dead, "redis://127.0.0.1:%d", free_port());
    rj_redis_sub_t *sub = rj_redis_sub_start(dead, channels, 1, on_message, &in, &err);
    cr_assert_not_null(sub, "%s", err.msg);
    cr_assert_not(rj_redis_sub_wait_connected(sub, 300));
    int64_t t0 = rj_mono_us();
    rj_redis_sub_stop(sub);
    cr_assert_lt(rj_mono_us() - t0, 1500000);
    cr_assert_null(rj_redis_connect(dead, &err));
    cr_assert_eq(err.status, RJ_ERETRY);
    cr_assert(strstr(err.msg, "could not connect to Redis: ") == err.msg, "%s", err.msg);
}
