/*
 * devkafka.c - the Apache Kafka broker `ramjet dev` runs by default (devkafka.h).
 */
#include "devkafka.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "log/log.h"
#include "probe.h"
#include "spawn.h"

#define LOG_MOD "dev"

/* Splits @p opts at spaces into a NULL-ended vector of heap strings. */
static char **
split_opts(const char *opts)
{
    size_t cap = 4, n = 0;
    char **v = rj_xcalloc(cap, sizeof(*v));
    for (const char *p = opts; p != NULL && *p != '\0';) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, " \t");
        if (len == 0)
            break;
        if (n + 2 > cap) {
            cap *= 2;
            v = rj_xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = rj_xstrndup(p, len);
        p += len;
    }
    v[n] = NULL;
    return v;
}

/* Writes @p data to @p path through a temporary file renamed over it. */
static rj_status_t
write_file(const char *path, const char *data, size_t len, rj_error_t *err)
{
    char *tmp = rj_xasprintf("%s.tmp", path);
    rj_status_t st = RJ_OK;
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0 || rename(tmp, path) < 0) {
        st = rj_error_set(err, RJ_EIO, "could not write %s: %s", path, strerror(errno));
        if (f != NULL)
            unlink(tmp);
    }
    free(tmp);
    return st;
}

/*
 * One node that is both broker and controller, on loopback. Internal topics get
 * one replica and few partitions (a 50-partition offsets topic costs seconds at
 * the first consumer's start), and a group's first rebalance does not wait for
 * more members: every group here has one member per daemon.
 */
static rj_status_t
write_properties(const dev_kafka_t *k, int partitions, rj_error_t *err)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_printf(&b,
                  "# Written by `ramjet dev` at every start; edits here are lost.\n"
                  "process.roles=broker,controller\n"
                  "node.id=1\n"
                  "controller.quorum.voters=1@127.0.0.1:%d\n"
                  "listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d\n"
                  "advertised.listeners=PLAINTEXT://127.0.0.1:%d\n"
                  "controller.listener.names=CONTROLLER\n"
                  "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
                  "inter.broker.listener.name=PLAINTEXT\n"
                  "log.dirs=%s/data\n"
                  "num.partitions=%d\n"
                  "offsets.topic.replication.factor=1\n"
                  "offsets.topic.num.partitions=4\n"
                  "transaction.state.log.replication.factor=1\n"
                  "transaction.state.log.min.isr=1\n"
                  "transaction.state.log.num.partitions=4\n"
                  "share.coordinator.state.topic.replication.factor=1\n"
                  "share.coordinator.state.topic.min.isr=1\n"
                  "group.initial.rebalance.delay.ms=0\n",
                  k->controller_port, k->port, k->controller_port, k->port, k->dir, partitions);
    rj_status_t st = write_file(k->props, b.data, b.len, err);
    rj_buf_deinit(&b);
    return st;
}

rj_status_t
dev_kafka_init(dev_kafka_t *k, const char *home, const char *java_opts, const char *data_dir,
               int port, int partitions, rj_error_t *err)
{
    memset(k, 0, sizeof *k);
    k->port = port;
    k->controller_port = port + 1;
    if (port < 1 || port > 65534)
        return rj_error_set(err, RJ_EINVAL,
                            "--kafka-port out of range: %d (it and the next port are used)", port);
    k->home = rj_xstrdup(home);
    char *complete = rj_xasprintf("%s/.complete", home);
    bool have = access(complete, F_OK) == 0;
    free(complete);
    if (!have)
        return rj_error_set(err, RJ_ENOTFOUND,
                            "no Apache Kafka broker in %s: run scripts/deps (it resolves it "
                            "through Maven), or pass --kafka mock or --kafka-brokers",
                            home);
    k->java = dev_find_executable("java");
    if (k->java == NULL)
        return rj_error_set(err, RJ_ENOTFOUND,
                            "could not find java for the Kafka broker: install package "
                            "openjdk-17-jre-headless (scripts/deps does), or pass --kafka mock");
    k->java_opts = split_opts(java_opts);
    char *log4j = rj_xasprintf("%s/config/log4j2.properties", home);
    if (access(log4j, R_OK) == 0)
        k->log4j = log4j;
    else
        free(log4j);

    k->dir = rj_xasprintf("%s/kafka", data_dir);
    char *data = rj_xasprintf("%s/data", k->dir);
    rj_status_t st = dev_mkdirs(data, 0755, err);
    free(data);
    if (st != RJ_OK)
        return st;
    k->props = rj_xasprintf("%s/server.properties", k->dir);
    return write_properties(k, partitions, err);
}

/* The JVM's command line up to (not including) the main class. */
static void
java_prefix(const dev_kafka_t *k, char ***argv, size_t *n, size_t extra)
{
    size_t nopts = 0;
    while (k->java_opts[nopts] != NULL)
        nopts++;
    char **v = rj_xcalloc(nopts + 4 + extra + 1, sizeof(*v));
    size_t i = 0;
    v[i++] = rj_xstrdup(k->java);
    for (size_t j = 0; j < nopts; j++)
        v[i++] = rj_xstrdup(k->java_opts[j]);
    if (k->log4j != NULL)
        v[i++] = rj_xasprintf("-Dlog4j2.configurationFile=%s", k->log4j);
    v[i++] = rj_xstrdup("-cp");
    v[i++] = rj_xasprintf("%s/libs/*", k->home);
    *argv = v;
    *n = i;
}

char **
dev_kafka_argv(const dev_kafka_t *k)
{
    char **v;
    size_t n;
    java_prefix(k, &v, &n, 2);
    v[n++] = rj_xstrdup("kafka.Kafka");
    v[n++] = rj_xstrdup(k->props);
    v[n] = NULL;
    return v;
}

/* A cluster id as Kafka writes them: 16 random bytes in unpadded base64url (22 chars). */
static void
random_cluster_id(char out[23])
{
    uint8_t bytes[16] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, bytes, sizeof bytes);
        (void)r; /* a short read leaves zeros: still a valid, if less random, id */
        close(fd);
    }
    char *id = rj_b64url_encode(bytes, sizeof bytes);
    snprintf(out, 23, "%s", id);
    free(id);
}

rj_status_t
dev_kafka_format(const dev_kafka_t *k, volatile const sig_atomic_t *stop_flag, rj_error_t *err)
{
    char *meta = rj_xasprintf("%s/data/meta.properties", k->dir);
    bool formatted = access(meta, F_OK) == 0;
    free(meta);
    if (formatted)
        return RJ_OK;

    /* As Kafka's own Uuid.randomUuid: not starting with '-', which reads as an option. */
    char id[23];
    do
        random_cluster_id(id);
    while (id[0] == '-');
    char **argv;
    size_t n;
    java_prefix(k, &argv, &n, 6);
    const char *tail[] = {"kafka.tools.StorageTool", "format", "-t", id, "-c", k->props};
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        argv[n++] = rj_xstrdup(tail[i]);
    argv[n] = NULL;

    char *logpath = rj_xasprintf("%s/format.log", k->dir);
    char **envp = dev_env_build((char *[]){NULL});
    dev_spawn_opts_t o = {.name = "kafka-storage-format",
                          .argv = argv,
                          .envp = envp,
                          .log_path = logpath,
                          .stdout_fd = -1,
                          .parent_death_sig = SIGTERM};
    rj_info(LOG_MOD, "formatting the Kafka broker's storage in %s/data (cluster %s)", k->dir, id);
    int status = 0;
    rj_status_t st = dev_run(&o, stop_flag, &status, err);
    if (st == RJ_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        char how[96];
        dev_describe_status(status, how, sizeof how);
        st = rj_error_set(err, RJ_EIO,
                          "could not format the Kafka storage in %s/data: "
                          "StorageTool %s (log: %s)",
                          k->dir, how, logpath);
    }
    dev_strv_free(envp);
    dev_strv_free(argv);
    free(logpath);
    return st;
}

/* The answer's length and correlation id are all the probe looks at. */
static bool
header_done(const char *resp, size_t len)
{
    (void)resp;
    return len >= 8;
}

bool
dev_kafka_probe(int port, int timeout_ms)
{
    /* ApiVersions v0: size, api_key 18, api_version 0, correlation_id, client_id. */
    static const char client[] = "ramjet-dev";
    const uint32_t correlation = 0x52414d4a; /* "RAMJ" */
    uint8_t req[4 + 2 + 2 + 4 + 2 + sizeof client - 1];
    size_t n = 0;
    uint32_t size = sizeof req - 4;
    req[n++] = (uint8_t)(size >> 24);
    req[n++] = (uint8_t)(size >> 16);
    req[n++] = (uint8_t)(size >> 8);
    req[n++] = (uint8_t)size;
    req[n++] = 0;
    req[n++] = 18;
    req[n++] = 0;
    req[n++] = 0;
    for (int shift = 24; shift >= 0; shift -= 8)
        req[n++] = (uint8_t)(correlation >> shift);
    req[n++] = 0;
    req[n++] = (uint8_t)(sizeof client - 1);
    memcpy(req + n, client, sizeof client - 1);

    char resp[64];
    int got = dev_probe_exchange(port, req, sizeof req, resp, sizeof resp, timeout_ms, header_done);
    if (got < 8)
        return false;
    const uint8_t *u = (const uint8_t *)resp;
    uint32_t echoed = (uint32_t)u[4] << 24 | (uint32_t)u[5] << 16 | (uint32_t)u[6] << 8 | u[7];
    return echoed == correlation;
}

void
dev_kafka_deinit(dev_kafka_t *k)
{
    free(k->home);
    free(k->java);
    dev_strv_free(k->java_opts);
    free(k->dir);
    free(k->props);
    free(k->log4j);
    memset(k, 0, sizeof *k);
}
