/*
 * ramjet-devbroker - librdkafka's mock cluster as a standalone Kafka broker for
 * development and tests: it speaks the real Kafka protocol on loopback, keeps
 * everything in memory, and needs no JVM, ZooKeeper or KRaft.
 *
 * It creates the cluster and the topics, prints one line on stdout,
 *
 *   BOOTSTRAP 127.0.0.1:41235[,127.0.0.1:...]
 *
 * (the listen ports are picked by librdkafka 2.0.2 and cannot be chosen, so the
 * supervisor reads this line and hands the address to the daemons), then serves
 * until SIGTERM/SIGINT and exits 0.
 *
 * What it deliberately is not: durable (a restart loses every message: wipe
 * consumer offsets in PostgreSQL with it) or large (about 5 MB per partition
 * are retained; a consumer further behind than that sees "offset out of range"
 * and resets to the earliest offset still there). It has no CreateTopics, so
 * every topic the suite uses is created here; a topic first asked for through
 * Metadata is auto-created with 4 partitions.
 */
#include <dlfcn.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/core.h"
#include "kafka/kafka.h"
#include "log/log.h"
#include "proc/proc.h"

#include <sys/socket.h>

/*
 * librdkafka's mock brokers accept connections without TCP_NODELAY (real brokers
 * set it). With several responses in flight on one connection - an idempotent
 * producer writing to eight partitions has five - Nagle then holds each further
 * response until the client's delayed ACK, 40 ms on Linux, and a batch of
 * commands took 44 ms to produce instead of a fraction of one. librdkafka calls
 * accept() through the PLT and this executable exports its symbols, so this
 * definition is the one the mock cluster's thread calls.
 */
__attribute__((visibility("default"))) int
accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    static int (*real_accept)(int, struct sockaddr *, socklen_t *);
    int (*fn)(int, struct sockaddr *, socklen_t *) =
        __atomic_load_n(&real_accept, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        *(void **)&fn = dlsym(RTLD_NEXT, "accept");
        RJ_ASSERT(fn != NULL);
        __atomic_store_n(&real_accept, fn, __ATOMIC_RELEASE);
    }
    int s = fn(fd, addr, addrlen);
    if (s >= 0) {
        int on = 1;
        (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
    return s;
}

#define PROG "ramjet-devbroker"
#define LOGM "devbroker"

typedef struct devbroker_conf {
    int brokers;     /* number of mock brokers */
    char *topics;    /* comma-separated topic names, or NULL for the app's five */
    char *app_name;  /* topic prefix when topics is unset */
    int partitions;  /* partitions per topic */
    int health_port; /* /healthz etc.; 0 = off */
    char *log_level; /* debug|info|warn|error */
} devbroker_conf_t;

static const rj_conf_opt_t options[] = {
    {"brokers", RJ_CONF_INT, "1", offsetof(devbroker_conf_t, brokers),
     "number of in-memory brokers in the cluster"},
    {"topics", RJ_CONF_STR, NULL, offsetof(devbroker_conf_t, topics),
     "comma-separated topics to create (default: the app's commands, events, snapshots, "
     "readmodels and deadletters topics)"},
    {"app-name", RJ_CONF_STR, "shop", offsetof(devbroker_conf_t, app_name),
     "prefix of the default topics"},
    {"partitions", RJ_CONF_INT, "8", offsetof(devbroker_conf_t, partitions),
     "partitions of each topic"},
    {"health-port", RJ_CONF_INT, "0", offsetof(devbroker_conf_t, health_port),
     "port of /healthz, /readyz and /metrics (0: off)"},
    {"log-level", RJ_CONF_STR, "info", offsetof(devbroker_conf_t, log_level),
     "debug, info, warn or error"},
};
#define NOPTIONS (sizeof options / sizeof options[0])

/* Creates every topic of the comma-separated @p list; false on the first failure. */
static bool
create_topics(rd_kafka_mock_cluster_t *mc, const char *list, int partitions, int replication)
{
    char *copy = rj_xstrdup(list);
    char *save = NULL;
    bool ok = true;
    for (char *t = strtok_r(copy, ", ", &save); t != NULL && ok; t = strtok_r(NULL, ", ", &save)) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, t, partitions, replication);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rj_error(LOGM, "could not create topic: %s topic=%s", rd_kafka_err2str(e), t);
            ok = false;
        } else {
            rj_info(LOGM, "created topic topic=%s partitions=%d", t, partitions);
        }
    }
    free(copy);
    return ok;
}

int
main(int argc, char **argv)
{
    devbroker_conf_t conf = {0};
    rj_proc_init_daemon(PROG, options, NOPTIONS, &conf, NULL, argc, argv,
                        "an in-memory Kafka broker (librdkafka's mock cluster) for development");
    rj_log_level_t level;
    if (conf.log_level != NULL && rj_log_parse_level(conf.log_level, &level))
        rj_log_set_level(level);
    rj_error_t err = {0};
    if (conf.brokers < 1 || conf.partitions < 1) {
        fprintf(stderr, "%s: --brokers and --partitions must be at least 1\n", PROG);
        rj_config_deinit(options, NOPTIONS, &conf);
        return 2;
    }
    if (rj_health_start(conf.health_port, &err) != RJ_OK) {
        rj_fatal(LOGM, "%s", err.msg);
        rj_config_deinit(options, NOPTIONS, &conf);
        return 1;
    }

    /*
     * The mock cluster lives inside an rd_kafka_t that never produces: with
     * test.mock.num.brokers librdkafka creates the cluster itself and points the
     * handle's bootstrap.servers at it (rd_kafka_mock_cluster_new would leave
     * the handle without brokers, and it says so in the log at every start).
     * The handle owns the cluster and destroys it with itself.
     */
    char errstr[512];
    char nbrokers[16];
    snprintf(nbrokers, sizeof nbrokers, "%d", conf.brokers);
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    rj_kafka_conf_set_log(kconf);
    rd_kafka_t *rk = NULL;
    if (rd_kafka_conf_set(kconf, "client.id", PROG, errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(kconf, "test.mock.num.brokers", nbrokers, errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK ||
        (rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof errstr)) == NULL) {
        rd_kafka_conf_destroy(kconf);
        rj_fatal(LOGM, "could not create mock cluster: %s brokers=%d", errstr, conf.brokers);
        rj_health_stop();
        rj_config_deinit(options, NOPTIONS, &conf);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    RJ_ASSERT(mc != NULL);

    char *topics = conf.topics != NULL
                       ? rj_xstrdup(conf.topics)
                       : rj_xasprintf("%1$s.commands,%1$s.events,%1$s.snapshots,%1$s.readmodels,"
                                      "%1$s.deadletters",
                                      conf.app_name);
    int replication = conf.brokers < 3 ? conf.brokers : 3;
    int status = 0;
    if (!create_topics(mc, topics, conf.partitions, replication)) {
        status = 1;
    } else {
        const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
        /* The supervisor reads exactly this line; flush it before anything else can block. */
        printf("BOOTSTRAP %s\n", bootstrap);
        fflush(stdout);
        rj_info(LOGM, "serving bootstrap=%s brokers=%d", bootstrap, conf.brokers);
        rj_proc_set_state(RJ_PROC_RUNNING);
        rj_proc_set_ready(true);

        /* The cluster runs on librdkafka's threads; this one only waits for a signal. */
        struct pollfd pfd = {.fd = rj_proc_wake_fd(), .events = POLLIN};
        while (!rj_proc_stopping())
            poll(&pfd, 1, -1);
        rj_proc_set_state(RJ_PROC_DRAINING);
    }

    rd_kafka_destroy(rk);
    rj_proc_set_state(RJ_PROC_STOPPED);
    rj_health_stop();
    rj_metrics_free_all();
    free(topics);
    rj_config_deinit(options, NOPTIONS, &conf);
    return status;
}
