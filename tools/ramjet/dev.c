/*
 * dev.c - `ramjet dev`: one supervisor for the whole suite on one machine.
 *
 * In the spirit of postgres's postmaster: a single-threaded loop that starts
 * its children in a fixed order, each once the one before it answers, restarts
 * the ones that die (with backoff, logging how they died), and on SIGINT or
 * SIGTERM stops them in reverse order, each with SIGTERM and a grace period
 * before SIGKILL. Signal handlers only set a flag and write a byte to a
 * self-pipe; everything else happens in the loop.
 *
 * The children, in start order:
 *
 *   postgres    a private cluster under <data-dir>/pg (initdb'd once), run as an
 *               unprivileged user when we are root, since postgres refuses root
 *   redis       no persistence: nothing in Redis must survive a restart
 *   kafka       a single-node Apache Kafka (KRaft) broker with its data under
 *               <data-dir>/kafka (devkafka.c), ready when it answers ApiVersions;
 *               or, with --kafka mock, devbroker: librdkafka's mock cluster,
 *               which tells us its address on stdout; or nothing, with
 *               --kafka-brokers
 *   daemons     the table below, consumers first and the gateway last, so no
 *               command is accepted before something can handle its events
 *
 * Each child's pid is kept in <data-dir>/run/<name>.pid (the fault tests kill
 * daemons by pid). Once every daemon's /readyz answers 200, exactly one line
 * goes to stdout: "READY graphql=... websocket=... kafka=... postgres=...
 * redis=...". Everything else, children's output included, goes to stderr or
 * to per-child log files (--log-dir), so a script can wait for that line.
 *
 * What it deliberately does not do: restart the mock broker. Its topics live in
 * its memory and its port is chosen when it starts, so a restarted mock is a
 * different, empty cluster that every daemon would have to be pointed at; the
 * supervisor stops the stack instead. The real broker is restarted like
 * PostgreSQL: its data and port outlive it.
 * Nor does it keep probing daemons once they are ready: a daemon that cannot
 * make progress exits, and an exit is what the supervisor acts on.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "config/config.h"
#include "core/core.h"
#include "devkafka.h"
#include "devkey.h"
#include "log/log.h"
#include "probe.h"
#include "spawn.h"

#define LOG_MOD "dev"

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

typedef struct dev_conf {
    char *app;             /* application library; NULL: ../lib/libshop.so next to us */
    char *app_name;        /* topic/table prefix; NULL: from the library's file name */
    char *data_dir;        /* where the cluster, pid files and logs live */
    int http_port;         /* gateway's GraphQL port */
    int ws_port;           /* pusher's WebSocket port */
    int pg_port;           /* PostgreSQL's TCP port on 127.0.0.1 */
    int redis_port;        /* Redis's TCP port on 127.0.0.1 */
    int health_port_base;  /* first of six health ports, one per daemon */
    int partitions;        /* partitions of each topic */
    char *kafka;           /* "real": run an Apache Kafka broker; "mock": librdkafka's mock */
    int kafka_port;        /* the real broker's listener; its controller's is the next port */
    char *kafka_home;      /* the Kafka distribution scripts/deps installs */
    char *kafka_java_opts; /* the broker's JVM options */
    char *kafka_brokers;   /* external Kafka; NULL/empty: start a broker (--kafka) */
    char *daemons;         /* "all", "none" or a comma list of daemon names */
    char *pg_bin;          /* directory holding initdb and postgres; NULL: search */
    char *redis_server;    /* redis-server binary (PATH is searched) */
    char *log_dir;         /* per-child log files here; NULL/empty: our stderr */
    char *log_level;       /* ours and the daemons' */
    char *log_format;      /* ours and the daemons': text or json */
    int stop_timeout;      /* seconds between a child's stop signal and SIGKILL */
    char *user;            /* who runs PostgreSQL when we are root */
    char *gateway_config;  /* federation: the gateway's services file, or NULL */
} dev_conf_t;

static const rj_conf_opt_t dev_opts[] = {
    {"app", RJ_CONF_STR, NULL, offsetof(dev_conf_t, app),
     "application library (default: ../lib/libshop.so next to this binary)"},
    {"app-name", RJ_CONF_STR, NULL, offsetof(dev_conf_t, app_name),
     "prefix of topics, tables and channels (default: from the library, libshop.so -> shop)"},
    {"data-dir", RJ_CONF_STR, ".ramjet", offsetof(dev_conf_t, data_dir),
     "directory of the PostgreSQL cluster, pid files (run/) and logs"},
    {"http-port", RJ_CONF_INT, "3000", offsetof(dev_conf_t, http_port),
     "port of the gateway's POST /graphql"},
    {"ws-port", RJ_CONF_INT, "65529", offsetof(dev_conf_t, ws_port),
     "port of the pusher's /websocket"},
    {"pg-port", RJ_CONF_INT, "55432", offsetof(dev_conf_t, pg_port),
     "port of the private PostgreSQL cluster"},
    {"redis-port", RJ_CONF_INT, "56379", offsetof(dev_conf_t, redis_port), "port of Redis"},
    {"health-port-base", RJ_CONF_INT, "9100", offsetof(dev_conf_t, health_port_base),
     "first of six consecutive ports for the daemons' /healthz, /readyz and /metrics"},
    {"partitions", RJ_CONF_INT, "8", offsetof(dev_conf_t, partitions),
     "partitions of each topic the daemons create"},
    {"kafka", RJ_CONF_STR, "real", offsetof(dev_conf_t, kafka),
     "the broker to start: real (a single-node Apache Kafka, data under <data-dir>/kafka) or "
     "mock (librdkafka's in-memory mock cluster: quick, but no real transaction coordinator, no "
     "replication, about 5 MB kept per partition, and gone when it stops)"},
    {"kafka-port", RJ_CONF_INT, "59092", offsetof(dev_conf_t, kafka_port),
     "port of the real broker on 127.0.0.1; its KRaft controller takes the next one"},
    {"kafka-home", RJ_CONF_STR, "/opt/ramjet/kafka-" RAMJET_KAFKA_VERSION,
     offsetof(dev_conf_t, kafka_home),
     "the Apache Kafka jars (<dir>/libs) that scripts/deps resolves through Maven"},
    {"kafka-java-opts", RJ_CONF_STR, "-Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1",
     offsetof(dev_conf_t, kafka_java_opts),
     "JVM options of the real broker (small heap and quick start-up for one machine)"},
    {"kafka-brokers", RJ_CONF_STR, NULL, offsetof(dev_conf_t, kafka_brokers),
     "use this Kafka cluster instead of starting a broker"},
    {"daemons", RJ_CONF_STR, "all", offsetof(dev_conf_t, daemons),
     "daemons to run: all, none, or a comma list of gateway,commands,eventstore,reducer,"
     "projector,pusher"},
    {"pg-bin", RJ_CONF_STR, NULL, offsetof(dev_conf_t, pg_bin),
     "directory of initdb and postgres (default: PATH, else the newest /usr/lib/postgresql/*/bin)"},
    {"redis-server", RJ_CONF_STR, "redis-server", offsetof(dev_conf_t, redis_server),
     "Redis server binary"},
    {"log-dir", RJ_CONF_STR, NULL, offsetof(dev_conf_t, log_dir),
     "write each child's output to <dir>/<name>.log instead of stderr"},
    {"log-level", RJ_CONF_STR, "info", offsetof(dev_conf_t, log_level),
     "debug, info, warn or error; also passed to the daemons"},
    {"log-format", RJ_CONF_STR, "text", offsetof(dev_conf_t, log_format),
     "text or json (one object per line); also passed to the daemons"},
    {"stop-timeout", RJ_CONF_INT, "10", offsetof(dev_conf_t, stop_timeout),
     "seconds a child gets to exit after its stop signal before SIGKILL"},
    {"user", RJ_CONF_STR, "ramjet", offsetof(dev_conf_t, user),
     "unprivileged user that runs PostgreSQL when started as root (created if missing)"},
    {"gateway-config", RJ_CONF_STR, NULL, offsetof(dev_conf_t, gateway_config),
     "federation: the gateway's JSON file of services (docs/federation.md), composed with the "
     "application's API; with --app none only the gateway runs, as a pure federation gateway, "
     "without PostgreSQL, Kafka or Redis"},
};
#define DEV_NOPTS (sizeof dev_opts / sizeof dev_opts[0])

static const char dev_summary[] =
    "Runs PostgreSQL, Redis, an Apache Kafka broker and the six Ramjet daemons on this\n"
    "machine, restarts children that crash, and stops everything on Ctrl-C. Prints one line\n"
    "'READY graphql=... websocket=... kafka=... postgres=... redis=...' on stdout once every\n"
    "daemon is ready; logs go to stderr.";

/* ------------------------------------------------------------------------ */
/* The daemons                                                               */
/* ------------------------------------------------------------------------ */

/* One daemon the supervisor runs. */
typedef struct daemon_def {
    const char *name;     /* pid file, log file and --daemons name */
    const char *binary;   /* file name next to the ramjet binary */
    int health_offset;    /* health port = --health-port-base + this */
    const char *port_env; /* variable receiving a service port, or NULL */
    size_t port_field;    /* offsetof(dev_conf_t, <port>) when port_env is set */
    bool consumer;        /* a Kafka group consumer (takes --group-instance-id) */
} daemon_def_t;

/* Start order: the event-store writer, reducer and projector consume what the
 * command processor produces, so they run first; the gateway comes last, so no
 * mutation is accepted before the rest can carry it through. */
static const daemon_def_t daemon_defs[] = {
    {"eventstore", "ramjet-eventstore", 2, NULL, 0, true},
    {"reducer", "ramjet-reducer", 3, NULL, 0, true},
    {"projector", "ramjet-projector", 4, NULL, 0, true},
    {"commands", "ramjet-commands", 1, NULL, 0, true},
    {"pusher", "ramjet-pusher", 5, "RAMJET_WS_PORT", offsetof(dev_conf_t, ws_port), false},
    {"gateway", "ramjet-gateway", 0, "RAMJET_HTTP_PORT", offsetof(dev_conf_t, http_port), false},
};
#define N_DAEMONS (sizeof daemon_defs / sizeof daemon_defs[0])

/* ------------------------------------------------------------------------ */
/* Children                                                                  */
/* ------------------------------------------------------------------------ */

typedef enum child_kind {
    CHILD_POSTGRES, /* ready when it accepts a connection and database ramjet exists */
    CHILD_REDIS,    /* ready when it answers PING */
    CHILD_BROKER,   /* the mock: ready when it printed BOOTSTRAP <host:port> */
    CHILD_KAFKA,    /* the real broker: ready when it answers ApiVersions */
    CHILD_DAEMON,   /* live on /healthz 200, ready on /readyz 200 */
} child_kind_t;

typedef enum child_state {
    CS_DOWN,     /* not running: not started yet, or waiting for restart_at_us */
    CS_RUNNING,  /* forked; pid is valid */
    CS_STOPPING, /* stop signal sent; SIGKILL at kill_at_us */
    CS_DONE,     /* exited during shutdown; never started again */
} child_state_t;

/* Restart backoff: 100 ms doubling to 5 s; a child that ran for 10 s starts over. */
#define BACKOFF_FIRST_US 100000
#define BACKOFF_MAX_US 5000000
#define BACKOFF_RESET_US 10000000
/* How often a child that is not ready yet is probed. */
#define PROBE_INTERVAL_US 100000
/* How often the supervisor says what it is still waiting for. */
#define WAIT_REPORT_US 15000000

typedef struct child {
    char name[32];              /* pid file and log name */
    child_kind_t kind;          /* what it is, hence how it is probed */
    const daemon_def_t *def;    /* daemons only */
    char *binary;               /* absolute path of the executable */
    int health_port;            /* daemons: their health port */
    int stop_sig;               /* SIGTERM; SIGINT (fast shutdown) for postgres */
    child_state_t state;        /* see child_state_t */
    pid_t pid;                  /* while RUNNING or STOPPING */
    bool started;               /* has been started at least once */
    bool live;                  /* infrastructure: serving; daemon: /healthz 200 */
    bool ready;                 /* daemon: /readyz 200; infrastructure: same as live */
    bool ever_ready;            /* was ready at least once (gates the next child) */
    bool killed;                /* got SIGKILL during shutdown */
    unsigned quick_failures;    /* consecutive deaths after a short run (backoff) */
    unsigned restarts;          /* how many times it was restarted */
    int64_t started_us;         /* monotonic time of the last start */
    int64_t restart_at_us;      /* DOWN after a crash: when to start it again */
    int64_t probe_at_us;        /* next readiness probe */
    int64_t kill_at_us;         /* STOPPING: when SIGKILL follows */
    int out_fd;                 /* broker: read end of its stdout pipe; else -1 */
    rj_buf_t out;               /* broker: bytes of an unfinished stdout line */
} child_t;

#define MAX_CHILDREN (3 + N_DAEMONS)

typedef struct supervisor {
    dev_conf_t conf;            /* parsed options */
    char *exe_dir;              /* directory of the ramjet binary (and the daemons) */
    char *app;                  /* absolute path of the application library, or "none" */
    char *gateway_config;       /* absolute path of the gateway's services file, or NULL */
    bool pure;                  /* --app none: a pure federation gateway, nothing else */
    char *app_name;             /* topic/table prefix */
    char *data_dir;             /* absolute data directory */
    char *run_dir;              /* <data-dir>/run: pid files */
    char *pg_dir;               /* <data-dir>/pg: the cluster */
    char *log_dir;              /* absolute per-child log directory, or NULL */
    char *pg_bin_dir;           /* directory of initdb and postgres */
    char *pg_url;               /* what the daemons get */
    char *pg_admin;             /* conninfo of database postgres, for probes */
    char *redis_url;            /* what the daemons get */
    char *bootstrap;            /* Kafka bootstrap servers, once known */
    bool mock;                  /* the broker is librdkafka's mock cluster */
    dev_kafka_t kafka;          /* the real broker, when we run one */
    bool as_root;               /* we are root: postgres runs as conf.user */
    uid_t pg_uid;               /* conf.user's uid when as_root */
    gid_t pg_gid;               /* conf.user's gid when as_root */
    int lock_fd;                /* <run>/supervisor.pid, flock()ed for our lifetime */
    child_t children[MAX_CHILDREN]; /* in start order */
    size_t n;                   /* children in use */
    size_t next_start;          /* index of the next child to start the first time */
    bool announced;             /* the READY line was printed */
    int64_t begun_us;           /* when the supervisor started */
    int64_t wait_report_us;     /* next "still waiting for" report */
    bool stopping;              /* shutdown in progress */
    size_t stop_index;          /* children[stop_index..] are stopped */
    int exit_code;              /* 0 unless something failed or exited uncleanly */
} supervisor_t;

/* ------------------------------------------------------------------------ */
/* Signals: flags and a self-pipe                                            */
/* ------------------------------------------------------------------------ */

static volatile sig_atomic_t sig_stop_requests; /* SIGINT/SIGTERM/SIGHUP seen */
static int sig_pipe[2] = {-1, -1};              /* written by handlers, wakes poll() */

static void
on_signal(int sig)
{
    int saved = errno;
    if (sig != SIGCHLD)
        sig_stop_requests++;
    ssize_t w = write(sig_pipe[1], "", 1);
    (void)w; /* a full pipe already guarantees a wake-up */
    errno = saved;
}

static rj_status_t
signals_install(rj_error_t *err)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return rj_error_set(err, RJ_EIO, "could not create self-pipe: %s", strerror(errno));
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return RJ_OK;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

/* The directory of initdb and postgres: --pg-bin, PATH, or the newest Debian layout. */
static char *
find_pg_bin(const char *configured)
{
    if (configured != NULL && *configured != '\0')
        return rj_xstrdup(configured);
    char *postgres = dev_find_executable("postgres");
    if (postgres != NULL) {
        char *dir = rj_xstrdup(dirname(postgres));
        free(postgres);
        return dir;
    }
    /* Debian keeps the server binaries off PATH, one directory per major version. */
    glob_t g;
    char *best = NULL;
    if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            if (best == NULL || strverscmp(g.gl_pathv[i], best) > 0)
                best = g.gl_pathv[i];
        if (best != NULL)
            best = rj_xstrdup(dirname(best));
        globfree(&g);
    }
    return best;
}

/* Redis's and HTTP's first line is whole at its CRLF. */
static bool
line_done(const char *resp, size_t len)
{
    (void)len;
    return strstr(resp, "\r\n") != NULL;
}

/* The HTTP status of GET @p path on 127.0.0.1:@p port, or -1. */
static int
http_status(int port, const char *path)
{
    char req[128], resp[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             path);
    if (dev_probe_exchange(port, req, strlen(req), resp, sizeof resp, 1000, line_done) < 0)
        return -1;
    int status;
    if (sscanf(resp, "HTTP/%*d.%*d %d", &status) != 1)
        return -1;
    return status;
}

/* ------------------------------------------------------------------------ */
/* PostgreSQL                                                                */
/* ------------------------------------------------------------------------ */

/* Creates database ramjet when it is missing. True when it exists afterwards. */
static bool
pg_ensure_database(supervisor_t *s)
{
    if (PQping(s->pg_admin) != PQPING_OK)
        return false;
    PGconn *c = PQconnectdb(s->pg_admin);
    bool ok = false;
    if (PQstatus(c) != CONNECTION_OK) {
        rj_debug(LOG_MOD, "postgres not accepting connections yet: %s", PQerrorMessage(c));
        goto out;
    }
    PGresult *r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = 'ramjet'");
    bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (exists) {
        ok = true;
        goto out;
    }
    r = PQexec(c, "CREATE DATABASE ramjet");
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
         (state != NULL && strcmp(state, "42P04") == 0); /* duplicate_database */
    if (!ok)
        rj_error(LOG_MOD, "could not create database ramjet: %s", PQresultErrorMessage(r));
    else
        rj_info(LOG_MOD, "created database ramjet");
    PQclear(r);
out:
    PQfinish(c);
    return ok;
}

/* Resolves (creating when missing) the user postgres runs as when we are root. */
static rj_status_t
pg_resolve_user(supervisor_t *s, rj_error_t *err)
{
    struct passwd *pw = getpwnam(s->conf.user);
    if (pw == NULL) {
        rj_info(LOG_MOD, "creating system user %s to run PostgreSQL (it refuses to run as root)",
                s->conf.user);
        char *useradd = dev_find_executable("useradd");
        if (useradd == NULL)
            useradd = rj_xstrdup("/usr/sbin/useradd");
        char *argv[] = {useradd,        "--system", "--no-create-home", "--home-dir",
                        "/nonexistent", "--shell",  "/usr/sbin/nologin", "--user-group",
                        s->conf.user,   NULL};
        char **envp = dev_env_build((char *[]){NULL});
        dev_spawn_opts_t o = {.name = "useradd", .argv = argv, .envp = envp, .stdout_fd = -1};
        int status = 0;
        rj_status_t st = dev_run(&o, &sig_stop_requests, &status, err);
        dev_strv_free(envp);
        free(useradd);
        if (st != RJ_OK)
            return st;
        pw = getpwnam(s->conf.user);
        if (pw == NULL) {
            char how[96];
            dev_describe_status(status, how, sizeof how);
            return rj_error_set(err, RJ_EIO, "could not create user %s: useradd %s",
                                s->conf.user, how);
        }
    }
    if (pw->pw_uid == 0)
        return rj_error_set(err, RJ_EINVAL, "user %s is root; PostgreSQL needs an unprivileged user",
                            s->conf.user);
    s->pg_uid = pw->pw_uid;
    s->pg_gid = pw->pw_gid;
    return RJ_OK;
}

/* Fills the options every PostgreSQL child shares. */
static void
pg_spawn_opts(const supervisor_t *s, dev_spawn_opts_t *o)
{
    o->chdir_to = s->pg_dir;
    o->drop_privileges = s->as_root;
    o->uid = s->pg_uid;
    o->gid = s->pg_gid;
}

/* Copies a file to our stderr (initdb's log when it failed). */
static void
dump_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL)
        fputs(line, stderr);
    fclose(f);
}

/* Runs initdb once: a cluster exists when PG_VERSION does. */
static rj_status_t
pg_initdb(supervisor_t *s, rj_error_t *err)
{
    char *version = rj_xasprintf("%s/PG_VERSION", s->pg_dir);
    bool exists = access(version, F_OK) == 0;
    free(version);
    if (s->as_root) {
        rj_status_t st = dev_chown_tree(s->pg_dir, s->pg_uid, s->pg_gid, err);
        if (st != RJ_OK)
            return st;
    }
    if (exists)
        return RJ_OK;

    char *initdb = rj_xasprintf("%s/initdb", s->pg_bin_dir);
    char *logpath = rj_xasprintf("%s/initdb.log", s->data_dir);
    char *argv[] = {initdb, "-D", s->pg_dir, "-A", "trust", "-U", "postgres",
                    "-E",   "UTF8", "--locale=C", NULL};
    char **envp = dev_env_build((char *[]){NULL});
    dev_spawn_opts_t o = {.name = "initdb", .argv = argv, .envp = envp, .log_path = logpath,
                          .stdout_fd = -1, .parent_death_sig = SIGTERM};
    pg_spawn_opts(s, &o);
    rj_info(LOG_MOD, "initializing a PostgreSQL cluster in %s", s->pg_dir);
    int status = 0;
    rj_status_t st = dev_run(&o, &sig_stop_requests, &status, err);
    if (st == RJ_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        char how[96];
        dev_describe_status(status, how, sizeof how);
        dump_file(logpath);
        st = rj_error_set(err, RJ_EIO, "could not initialize cluster in %s: initdb %s (log: %s)",
                          s->pg_dir, how, logpath);
    }
    dev_strv_free(envp);
    free(initdb);
    free(logpath);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Starting a child                                                          */
/* ------------------------------------------------------------------------ */

static char *
child_pidfile(const supervisor_t *s, const child_t *c)
{
    return rj_xasprintf("%s/%s.pid", s->run_dir, c->name);
}

static char *
child_logfile(const supervisor_t *s, const child_t *c)
{
    return s->log_dir != NULL ? rj_xasprintf("%s/%s.log", s->log_dir, c->name) : NULL;
}

/* A NULL-ended vector of up to 16 heap strings, for argv and environment lists. */
typedef struct strv {
    char *v[17]; /* the strings, then NULL */
    size_t n;    /* strings in use */
} strv_t;

static void
strv_add(strv_t *sv, char *s)
{
    RJ_ASSERT(sv->n < 16);
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

static void
strv_clear(strv_t *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    sv->n = 0;
    sv->v[0] = NULL;
}

static void begin_shutdown(supervisor_t *s, int exit_code);

/* Forks @p c. On failure the child counts as having died at once. */
static void
child_start(supervisor_t *s, child_t *c)
{
    strv_t args = {.n = 0}, env = {.n = 0};
    char **kafka_argv = NULL;
    int pipefd[2] = {-1, -1};
    dev_spawn_opts_t o = {.name = c->name, .stdout_fd = -1, .parent_death_sig = c->stop_sig};
    char *logpath = child_logfile(s, c);
    rj_error_t err = {0};

    strv_add(&args, rj_xstrdup(c->binary));
    switch (c->kind) {
    case CHILD_KAFKA:
        /* The JVM's argv is longer than strv_t holds; its output is long too, so without
           --log-dir it goes beside its data rather than to our stderr. */
        kafka_argv = dev_kafka_argv(&s->kafka);
        if (logpath == NULL)
            logpath = rj_xasprintf("%s/broker.log", s->kafka.dir);
        break;
    case CHILD_POSTGRES:
        if (s->as_root && dev_chown_tree(s->pg_dir, s->pg_uid, s->pg_gid, &err) != RJ_OK)
            rj_warn(LOG_MOD, "%s", err.msg);
        strv_add(&args, rj_xstrdup("-D"));
        strv_add(&args, rj_xstrdup(s->pg_dir));
        strv_add(&args, rj_xstrdup("-p"));
        strv_add(&args, rj_xasprintf("%d", s->conf.pg_port));
        strv_add(&args, rj_xstrdup("-c"));
        strv_add(&args, rj_xstrdup("listen_addresses=127.0.0.1"));
        strv_add(&args, rj_xstrdup("-c"));
        strv_add(&args, rj_xasprintf("unix_socket_directories=%s", s->pg_dir));
        strv_add(&args, rj_xstrdup("-c"));
        strv_add(&args, rj_xstrdup("fsync=on")); /* the fault tests rely on durable commits */
        strv_add(&args, rj_xstrdup("-c"));
        strv_add(&args, rj_xstrdup("max_connections=200"));
        pg_spawn_opts(s, &o);
        break;
    case CHILD_REDIS:
        strv_add(&args, rj_xstrdup("--port"));
        strv_add(&args, rj_xasprintf("%d", s->conf.redis_port));
        strv_add(&args, rj_xstrdup("--bind"));
        strv_add(&args, rj_xstrdup("127.0.0.1"));
        strv_add(&args, rj_xstrdup("--save"));
        strv_add(&args, rj_xstrdup(""));
        strv_add(&args, rj_xstrdup("--appendonly"));
        strv_add(&args, rj_xstrdup("no"));
        strv_add(&args, rj_xstrdup("--dir"));
        strv_add(&args, rj_xstrdup(s->data_dir));
        break;
    case CHILD_BROKER: {
        const char *a = s->app_name;
        strv_add(&args, rj_xstrdup("--topics"));
        strv_add(&args, rj_xasprintf("%s.commands,%s.events,%s.snapshots,%s.readmodels,"
                                     "%s.deadletters",
                                     a, a, a, a, a));
        strv_add(&args, rj_xstrdup("--partitions"));
        strv_add(&args, rj_xasprintf("%d", s->conf.partitions));
        strv_add(&env, rj_xstrdup("RAMJET_HEALTH_PORT=0"));
        strv_add(&env, rj_xasprintf("RAMJET_LOG_LEVEL=%s", s->conf.log_level));
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
            rj_error(LOG_MOD, "could not create pipe for %s: %s", c->name, strerror(errno));
            goto failed;
        }
        o.stdout_fd = pipefd[1];
        break;
    }
    case CHILD_DAEMON:
        strv_add(&env, rj_xasprintf("RAMJET_APP=%s", s->app));
        if (!s->pure) {
            strv_add(&env, rj_xasprintf("RAMJET_KAFKA_BROKERS=%s", s->bootstrap));
            strv_add(&env, rj_xasprintf("RAMJET_PG_URL=%s", s->pg_url));
            strv_add(&env, rj_xasprintf("RAMJET_REDIS_URL=%s", s->redis_url));
        }
        if (s->gateway_config != NULL && strcmp(c->def->name, "gateway") == 0)
            strv_add(&env, rj_xasprintf("RAMJET_GATEWAY_CONFIG=%s", s->gateway_config));
        strv_add(&env, rj_xasprintf("RAMJET_HEALTH_PORT=%d", c->health_port));
        strv_add(&env, rj_xasprintf("RAMJET_LOG_LEVEL=%s", s->conf.log_level));
        strv_add(&env, rj_xasprintf("RAMJET_LOG_FORMAT=%s", s->conf.log_format));
        strv_add(&env, rj_xasprintf("RAMJET_PARTITIONS=%d", s->conf.partitions));
        if (s->conf.app_name != NULL && *s->conf.app_name != '\0')
            strv_add(&env, rj_xasprintf("RAMJET_APP_NAME=%s", s->conf.app_name));
        /*
         * Static membership: a child the supervisor restarts after a crash comes back
         * under the same id and gets its partitions at once, instead of after the
         * session timeout and a rebalance (6 s and more, all of it mutations timing out
         * when the child is the command processor). Not on the mock: librdkafka's mock
         * cluster ignores instance ids. Unique per group, since every child here is the
         * only member of its group.
         */
        if (c->def->consumer && !s->mock)
            strv_add(&env, rj_xasprintf("RAMJET_GROUP_INSTANCE_ID=ramjet-dev-%s", c->def->name));
        if (c->def->port_env != NULL)
            strv_add(&env, rj_xasprintf("%s=%d", c->def->port_env,
                                        *(const int *)(const void *)((const char *)&s->conf +
                                                                     c->def->port_field)));
        /* GraphiQL, served by the gateway, subscribes through the pusher's socket. */
        if (strcmp(c->def->name, "gateway") == 0)
            strv_add(&env, rj_xasprintf("RAMJET_GRAPHIQL_WS_URL=ws://127.0.0.1:%d/websocket",
                                        s->conf.ws_port));
        /* Queries and mutations sent over the socket are run by the gateway. It starts after
           the pusher, which needs it only when such an operation arrives. */
        if (strcmp(c->def->name, "pusher") == 0)
            strv_add(&env, rj_xasprintf("RAMJET_GATEWAY_URL=http://127.0.0.1:%d/graphql",
                                        s->conf.http_port));
        break;
    }

    char **envp = dev_env_build(env.v);
    o.argv = kafka_argv != NULL ? kafka_argv : args.v;
    o.envp = envp;
    o.log_path = logpath;
    pid_t pid = 0;
    rj_status_t st = dev_spawn(&o, &pid, &err);
    dev_strv_free(envp);
    dev_strv_free(kafka_argv);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (st != RJ_OK) {
        rj_error(LOG_MOD, "%s", err.msg);
        if (c->kind == CHILD_POSTGRES && s->as_root)
            rj_error(LOG_MOD, "hint: user %s must be able to reach %s: every parent directory "
                              "needs o+x, or choose a --data-dir under /tmp",
                     s->conf.user, s->pg_dir);
        if (pipefd[0] >= 0)
            close(pipefd[0]);
        goto failed;
    }

    c->pid = pid;
    c->state = CS_RUNNING;
    c->live = c->ready = false;
    c->started_us = rj_mono_us();
    c->probe_at_us = c->started_us + PROBE_INTERVAL_US / 2;
    if (pipefd[0] >= 0) {
        if (c->out_fd >= 0)
            close(c->out_fd);
        c->out_fd = pipefd[0];
        fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
        rj_buf_reset(&c->out);
    }
    char *pidfile = child_pidfile(s, c);
    if (dev_write_pidfile(pidfile, pid, &err) != RJ_OK)
        rj_warn(LOG_MOD, "%s", err.msg);
    free(pidfile);
    rj_info(LOG_MOD, "%s %s pid=%ld%s%s", c->started ? "restarted" : "started", c->name,
            (long)pid, logpath ? " log=" : "", logpath ? logpath : "");
    c->started = true;
    strv_clear(&args);
    strv_clear(&env);
    free(logpath);
    return;

failed:
    strv_clear(&args);
    strv_clear(&env);
    free(logpath);
    c->started = true;
    if (c->kind != CHILD_DAEMON) {
        begin_shutdown(s, 1);
        return;
    }
    /* A daemon that cannot be forked is retried like one that crashed. */
    c->quick_failures++;
    c->restart_at_us = rj_mono_us() + BACKOFF_MAX_US;
}

/* ------------------------------------------------------------------------ */
/* Readiness                                                                 */
/* ------------------------------------------------------------------------ */

static void
probe(supervisor_t *s, child_t *c)
{
    switch (c->kind) {
    case CHILD_POSTGRES:
        c->live = c->ready = pg_ensure_database(s);
        break;
    case CHILD_REDIS: {
        char resp[64];
        c->live = c->ready = dev_probe_exchange(s->conf.redis_port, "PING\r\n", 6, resp,
                                                sizeof resp, 1000, line_done) > 0 &&
                             strncmp(resp, "+PONG", 5) == 0;
        break;
    }
    case CHILD_BROKER:
        break; /* ready when its BOOTSTRAP line arrives (broker_read) */
    case CHILD_KAFKA:
        c->live = c->ready = dev_kafka_probe(s->kafka.port, 1000);
        break;
    case CHILD_DAEMON:
        if (!c->live && http_status(c->health_port, "/healthz") == 200) {
            c->live = true;
            rj_debug(LOG_MOD, "%s is live port=%d", c->name, c->health_port);
        }
        if (c->live)
            c->ready = http_status(c->health_port, "/readyz") == 200;
        break;
    }
    if (c->ready) {
        if (c->kind == CHILD_DAEMON)
            rj_info(LOG_MOD, "%s is ready health=http://127.0.0.1:%d/readyz", c->name,
                    c->health_port);
        else if (c->kind == CHILD_KAFKA)
            rj_info(LOG_MOD, "%s is ready kafka=%s after %.1fs", c->name, s->bootstrap,
                    (double)(rj_mono_us() - c->started_us) / 1e6);
        else
            rj_info(LOG_MOD, "%s is ready", c->name);
        c->ever_ready = true;
    }
}

/* Reads the broker's stdout: the BOOTSTRAP line makes it ready; anything else is passed on. */
static void
broker_read(supervisor_t *s, child_t *c)
{
    char chunk[1024];
    for (;;) {
        ssize_t r = read(c->out_fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0) {
            close(c->out_fd);
            c->out_fd = -1;
            break;
        }
        rj_buf_append(&c->out, chunk, (size_t)r);
    }
    char *line = c->out.data;
    char *nl;
    while (line != NULL && (nl = strchr(line, '\n')) != NULL) {
        *nl = '\0';
        if (strncmp(line, "BOOTSTRAP ", 10) == 0 && c->state == CS_RUNNING) {
            free(s->bootstrap);
            s->bootstrap = rj_xstrdup(line + 10);
            c->live = c->ready = c->ever_ready = true;
            rj_info(LOG_MOD, "%s is ready kafka=%s", c->name, s->bootstrap);
        } else {
            fprintf(stderr, "%s\n", line);
        }
        line = nl + 1;
    }
    if (line != NULL && line != c->out.data) {
        char *rest = rj_xstrdup(line);
        rj_buf_reset(&c->out);
        rj_buf_puts(&c->out, rest);
        free(rest);
    }
}

/* Prints the READY line once every child is up and every daemon ready. */
static void
maybe_announce(supervisor_t *s)
{
    if (s->announced || s->next_start < s->n)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->children[i].state != CS_RUNNING || !s->children[i].ready)
            return;
    s->announced = true;
    if (s->pure) {
        /* No pusher yet: federated subscriptions are the next step (DESIGN.md section 7). */
        printf("READY graphql=http://127.0.0.1:%d/graphql websocket=none "
               "graphiql=http://127.0.0.1:%d/graphiql\n",
               s->conf.http_port, s->conf.http_port);
        fflush(stdout);
        rj_info(LOG_MOD, "the federation gateway is ready; Ctrl-C stops it");
        return;
    }
    printf("READY graphql=http://127.0.0.1:%d/graphql websocket=ws://127.0.0.1:%d/websocket "
           "graphiql=http://127.0.0.1:%d/graphiql kafka=%s postgres=%s redis=%s\n",
           s->conf.http_port, s->conf.ws_port, s->conf.http_port, s->bootstrap, s->pg_url,
           s->redis_url);
    fflush(stdout);
    rj_info(LOG_MOD, "everything is ready after %.1fs; Ctrl-C stops it",
            (double)(rj_mono_us() - s->begun_us) / 1e6);
}

/* While not ready, says every 15 s what is holding it up. */
static void
report_waiting(supervisor_t *s, int64_t now)
{
    if (s->announced || now < s->wait_report_us)
        return;
    s->wait_report_us = now + WAIT_REPORT_US;
    rj_buf_t b;
    rj_buf_init(&b);
    for (size_t i = 0; i < s->n; i++) {
        const child_t *c = &s->children[i];
        const char *why = NULL;
        if (c->state != CS_RUNNING)
            why = c->started ? "restarting" : "not started";
        else if (!c->live)
            why = c->kind == CHILD_DAEMON ? "/healthz not 200" : "not answering";
        else if (!c->ready)
            why = "/readyz not 200";
        if (why != NULL)
            rj_buf_printf(&b, "%s%s (%s)", b.len ? ", " : "", c->name, why);
    }
    if (b.len > 0)
        rj_info(LOG_MOD, "still waiting for: %s", b.data);
    rj_buf_deinit(&b);
}

/* ------------------------------------------------------------------------ */
/* Exits, restarts and shutdown                                              */
/* ------------------------------------------------------------------------ */

static void
begin_shutdown(supervisor_t *s, int exit_code)
{
    if (exit_code > s->exit_code)
        s->exit_code = exit_code;
    if (s->stopping)
        return;
    s->stopping = true;
    s->stop_index = s->n;
    for (size_t i = 0; i < s->n; i++)
        if (s->children[i].state == CS_DOWN)
            s->children[i].state = CS_DONE;
    rj_info(LOG_MOD, "stopping everything");
}

/* A second Ctrl-C: no more waiting. The whole process group goes, so postgres's backends too. */
static void
kill_everything(supervisor_t *s)
{
    rj_warn(LOG_MOD, "second stop request: killing every child now");
    for (size_t i = 0; i < s->n; i++) {
        child_t *c = &s->children[i];
        if (c->state == CS_RUNNING || c->state == CS_STOPPING) {
            kill(-c->pid, SIGKILL);
            kill(c->pid, SIGKILL);
            c->killed = true;
        }
    }
    if (s->exit_code == 0)
        s->exit_code = 1;
}

static void
child_exited(supervisor_t *s, child_t *c, int status)
{
    char how[128];
    dev_describe_status(status, how, sizeof how);
    char *pidfile = child_pidfile(s, c);
    unlink(pidfile);
    free(pidfile);
    pid_t pid = c->pid;
    c->pid = 0;
    c->live = c->ready = false;
    int64_t now = rj_mono_us();
    /* A JVM that ran its shutdown hooks on SIGTERM exits with 128 + 15. */
    bool clean = WIFEXITED(status) && (WEXITSTATUS(status) == 0 ||
                                       (c->kind == CHILD_KAFKA && WEXITSTATUS(status) == 143));

    if (s->stopping) {
        bool asked = c->state == CS_STOPPING;
        c->state = CS_DONE;
        if (clean && asked) {
            rj_info(LOG_MOD, "%s stopped pid=%ld", c->name, (long)pid);
        } else {
            rj_warn(LOG_MOD, "%s pid=%ld %s%s", c->name, (long)pid, how,
                    asked ? " while stopping" : " before it was asked to stop");
            s->exit_code = 1;
        }
        return;
    }

    c->state = CS_DOWN;
    if (c->kind == CHILD_BROKER) {
        rj_error(LOG_MOD, "%s pid=%ld %s; its topics lived in its memory, so the stack cannot go "
                          "on without it",
                 c->name, (long)pid, how);
        begin_shutdown(s, 1);
        return;
    }
    if (c->kind != CHILD_DAEMON && !c->ever_ready) {
        rj_error(LOG_MOD, "%s pid=%ld %s before it was ready (see its output above)", c->name,
                 (long)pid, how);
        begin_shutdown(s, 1);
        return;
    }
    if (now - c->started_us >= BACKOFF_RESET_US)
        c->quick_failures = 0;
    c->quick_failures++;
    int64_t delay = BACKOFF_FIRST_US;
    for (unsigned i = 1; i < c->quick_failures && delay < BACKOFF_MAX_US; i++)
        delay *= 2;
    if (delay > BACKOFF_MAX_US)
        delay = BACKOFF_MAX_US;
    c->restart_at_us = now + delay;
    c->restarts++;
    rj_warn(LOG_MOD, "%s pid=%ld %s; restarting in %lldms (restart %u)", c->name, (long)pid, how,
            (long long)(delay / 1000), c->restarts);
}

static void
reap(supervisor_t *s)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (size_t i = 0; i < s->n; i++) {
            child_t *c = &s->children[i];
            if (c->pid == pid && (c->state == CS_RUNNING || c->state == CS_STOPPING)) {
                child_exited(s, c, status);
                break;
            }
        }
    }
}

/* Stops children from the last started to the first, one at a time. True when all are down. */
static bool
advance_shutdown(supervisor_t *s, int64_t now)
{
    while (s->stop_index > 0) {
        child_t *c = &s->children[s->stop_index - 1];
        if (c->state == CS_RUNNING) {
            rj_info(LOG_MOD, "stopping %s pid=%ld signal=%s", c->name, (long)c->pid,
                    sigabbrev_np(c->stop_sig));
            kill(c->pid, c->stop_sig);
            c->state = CS_STOPPING;
            c->kill_at_us = now + (int64_t)s->conf.stop_timeout * 1000000;
            return false;
        }
        if (c->state == CS_STOPPING) {
            if (now >= c->kill_at_us && !c->killed) {
                rj_warn(LOG_MOD, "%s pid=%ld did not stop within %ds; sending SIGKILL", c->name,
                        (long)c->pid, s->conf.stop_timeout);
                kill(-c->pid, SIGKILL);
                kill(c->pid, SIGKILL);
                c->killed = true;
            }
            return false;
        }
        c->state = CS_DONE;
        s->stop_index--;
    }
    return true;
}

/* Starts what is due: the next child in order once its predecessor was ready, and restarts. */
static void
start_due(supervisor_t *s, int64_t now)
{
    if (s->next_start < s->n &&
        (s->next_start == 0 || s->children[s->next_start - 1].ever_ready)) {
        child_t *c = &s->children[s->next_start++];
        child_start(s, c);
    }
    for (size_t i = 0; i < s->next_start && !s->stopping; i++) {
        child_t *c = &s->children[i];
        if (c->state == CS_DOWN && c->started && now >= c->restart_at_us)
            child_start(s, c);
    }
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                  */
/* ------------------------------------------------------------------------ */

static void
run_loop(supervisor_t *s)
{
    sig_atomic_t handled_stops = 0;
    int64_t first_stop_us = 0;
    for (;;) {
        int64_t now = rj_mono_us();
        sig_atomic_t stops = sig_stop_requests;
        if (stops != handled_stops) {
            /* Only a request a second after the first escalates: some senders
             * deliver one stop twice (timeout(1) signals the child and its group). */
            if (!s->stopping) {
                rj_info(LOG_MOD, "stop requested");
                begin_shutdown(s, 0);
                first_stop_us = now;
            } else if (first_stop_us == 0 || now - first_stop_us >= 1000000) {
                kill_everything(s);
            }
            handled_stops = stops;
        }
        reap(s);

        bool busy;
        if (s->stopping) {
            if (advance_shutdown(s, now))
                return;
            busy = true;
        } else {
            start_due(s, now);
            busy = !s->announced;
            for (size_t i = 0; i < s->n && !s->stopping; i++) {
                child_t *c = &s->children[i];
                if (c->state != CS_RUNNING) {
                    busy = busy || c->started;
                    continue;
                }
                if (!c->ready && now >= c->probe_at_us) {
                    probe(s, c);
                    c->probe_at_us = rj_mono_us() + PROBE_INTERVAL_US;
                }
                busy = busy || !c->ready;
            }
            maybe_announce(s);
            report_waiting(s, now);
        }

        struct pollfd fds[1 + MAX_CHILDREN];
        child_t *owners[1 + MAX_CHILDREN];
        nfds_t nfds = 0;
        fds[nfds] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
        owners[nfds++] = NULL;
        for (size_t i = 0; i < s->n; i++) {
            if (s->children[i].out_fd >= 0) {
                fds[nfds] = (struct pollfd){.fd = s->children[i].out_fd, .events = POLLIN};
                owners[nfds++] = &s->children[i];
            }
        }
        int r = poll(fds, nfds, busy ? 50 : 1000);
        if (r < 0 && errno != EINTR) {
            rj_error(LOG_MOD, "poll failed: %s", strerror(errno));
            begin_shutdown(s, 1);
            continue;
        }
        if (r <= 0)
            continue;
        if (fds[0].revents != 0) {
            char drain[64];
            while (read(sig_pipe[0], drain, sizeof drain) > 0)
                ;
        }
        for (nfds_t i = 1; i < nfds; i++)
            if (fds[i].revents != 0)
                broker_read(s, owners[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* Setup                                                                     */
/* ------------------------------------------------------------------------ */

static void
add_child(supervisor_t *s, const char *name, child_kind_t kind, char *binary)
{
    RJ_ASSERT(s->n < MAX_CHILDREN);
    child_t *c = &s->children[s->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->kind = kind;
    c->binary = binary;
    c->stop_sig = kind == CHILD_POSTGRES ? SIGINT : SIGTERM;
    c->state = CS_DOWN;
    c->out_fd = -1;
    rj_buf_init(&c->out);
}

/* Parses --daemons into a mask over daemon_defs. */
static rj_status_t
select_daemons(const char *list, bool selected[N_DAEMONS], rj_error_t *err)
{
    bool all = list == NULL || strcmp(list, "all") == 0;
    for (size_t i = 0; i < N_DAEMONS; i++)
        selected[i] = all;
    if (all || *list == '\0' || strcmp(list, "none") == 0)
        return RJ_OK;
    char *copy = rj_xstrdup(list);
    char *save = NULL;
    rj_status_t st = RJ_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < N_DAEMONS && strcmp(daemon_defs[i].name, tok) != 0)
            i++;
        if (i == N_DAEMONS) {
            st = rj_error_set(err, RJ_EINVAL, "unknown daemon in --daemons: %s", tok);
            break;
        }
        selected[i] = true;
    }
    free(copy);
    return st;
}

/* Takes the data directory for ourselves: one supervisor per data directory. */
static rj_status_t
lock_data_dir(supervisor_t *s, rj_error_t *err)
{
    char *path = rj_xasprintf("%s/supervisor.pid", s->run_dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    rj_status_t st = RJ_OK;
    if (s->lock_fd < 0) {
        st = rj_error_set(err, RJ_EIO, "could not open %s: %s", path, strerror(errno));
    } else if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        char other[32] = "";
        ssize_t n = read(s->lock_fd, other, sizeof other - 1);
        other[n > 0 ? n : 0] = '\0';
        other[strcspn(other, "\n")] = '\0';
        st = rj_error_set(err, RJ_ECONFLICT,
                          "another `ramjet dev` (pid %s) is using data directory %s", other,
                          s->data_dir);
        close(s->lock_fd);
        s->lock_fd = -1;
    } else {
        char pid[32];
        int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, pid, (size_t)len, 0) != len)
            rj_warn(LOG_MOD, "could not write %s: %s", path, strerror(errno));
    }
    free(path);
    return st;
}

/* "libshop.so" -> "shop": the app's name when --app-name is not given. */
static char *
app_name_from_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (strncmp(base, "lib", 3) == 0)
        base += 3;
    size_t len = strcspn(base, ".");
    return rj_xstrndup(base, len);
}

/*
 * Directories, and the lock on the data directory. The data directory is made absolute
 * once, so children that change directory (postgres) and pid files agree on every path.
 */
static rj_status_t
setup_dirs(supervisor_t *s, bool with_pg, rj_error_t *err)
{
    rj_status_t st;
    if ((st = dev_mkdirs(s->conf.data_dir, 0755, err)) != RJ_OK)
        return st;
    s->data_dir = realpath(s->conf.data_dir, NULL);
    if (s->data_dir == NULL)
        return rj_error_set(err, RJ_EIO, "could not resolve %s: %s", s->conf.data_dir,
                            strerror(errno));
    s->run_dir = rj_xasprintf("%s/run", s->data_dir);
    if ((st = dev_mkdirs(s->run_dir, 0755, err)) != RJ_OK)
        return st;
    if (with_pg) {
        s->pg_dir = rj_xasprintf("%s/pg", s->data_dir);
        if ((st = dev_mkdirs(s->pg_dir, 0700, err)) != RJ_OK)
            return st;
    }
    if (s->conf.log_dir != NULL && *s->conf.log_dir != '\0') {
        if ((st = dev_mkdirs(s->conf.log_dir, 0755, err)) != RJ_OK)
            return st;
        s->log_dir = realpath(s->conf.log_dir, NULL);
    }
    return lock_data_dir(s, err);
}

/*
 * --app none: a pure federation gateway. Only the gateway runs; it needs neither
 * PostgreSQL, Kafka nor Redis, so none of them is started (or even looked for).
 */
static rj_status_t
setup_pure(supervisor_t *s, rj_error_t *err)
{
    rj_status_t st;
    if (s->gateway_config == NULL)
        return rj_error_set(err, RJ_EINVAL,
                            "--app none needs --gateway-config (a pure "
                            "federation gateway)");
    s->pure = true;
    s->app = rj_xstrdup("none");
    s->app_name = rj_xstrdup("none");
    if (s->conf.stop_timeout < 1)
        s->conf.stop_timeout = 1;
    if ((st = setup_dirs(s, false, err)) != RJ_OK)
        return st;
    const daemon_def_t *gw = &daemon_defs[N_DAEMONS - 1];
    RJ_ASSERT(strcmp(gw->name, "gateway") == 0);
    char *bin = rj_xasprintf("%s/%s", s->exe_dir, gw->binary);
    if (access(bin, X_OK) != 0) {
        st = rj_error_set(err, RJ_ENOTFOUND, "could not find daemon %s: %s", bin, strerror(errno));
        free(bin);
        return st;
    }
    add_child(s, gw->name, CHILD_DAEMON, bin);
    child_t *c = &s->children[s->n - 1];
    c->def = gw;
    c->health_port = s->conf.health_port_base + gw->health_offset;
    return RJ_OK;
}

static rj_status_t
setup(supervisor_t *s, rj_error_t *err)
{
    rj_status_t st;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return rj_error_set(err, RJ_EIO, "could not read /proc/self/exe: %s", strerror(errno));
    exe[n] = '\0';
    s->exe_dir = rj_xstrdup(dirname(exe));

    bool selected[N_DAEMONS];
    if ((st = select_daemons(s->conf.daemons, selected, err)) != RJ_OK)
        return st;
    size_t n_selected = 0;
    for (size_t i = 0; i < N_DAEMONS; i++)
        n_selected += selected[i];

    const char *app = s->conf.app != NULL && *s->conf.app != '\0' ? s->conf.app : NULL;
    if (s->conf.gateway_config != NULL && *s->conf.gateway_config != '\0') {
        s->gateway_config = realpath(s->conf.gateway_config, NULL);
        if (s->gateway_config == NULL)
            return rj_error_set(err, RJ_ENOTFOUND, "could not find gateway config %s: %s",
                                s->conf.gateway_config, strerror(errno));
    }
    if (app != NULL && strcmp(app, "none") == 0)
        return setup_pure(s, err);
    char *default_app = rj_xasprintf("%s/../lib/libshop.so", s->exe_dir);
    s->app = realpath(app != NULL ? app : default_app, NULL);
    if (s->app == NULL) {
        if (n_selected > 0) {
            st = rj_error_set(err, RJ_ENOTFOUND, "could not find application library %s: %s",
                              app != NULL ? app : default_app, strerror(errno));
            free(default_app);
            return st;
        }
        s->app = rj_xstrdup(app != NULL ? app : default_app);
    }
    free(default_app);
    /* The shop trusts no key unless one is named; on one machine, name its dev key. */
    dev_key_supply(s->app);
    s->app_name = s->conf.app_name != NULL && *s->conf.app_name != '\0'
                      ? rj_xstrdup(s->conf.app_name)
                      : app_name_from_path(s->app);

    if (s->conf.stop_timeout < 1)
        s->conf.stop_timeout = 1;
    int ports[] = {s->conf.http_port,  s->conf.ws_port, s->conf.pg_port, s->conf.redis_port,
                   s->conf.health_port_base, s->conf.health_port_base + (int)N_DAEMONS - 1};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
        if (ports[i] < 1 || ports[i] > 65535)
            return rj_error_set(err, RJ_EINVAL, "port out of range: %d", ports[i]);

    if ((st = setup_dirs(s, true, err)) != RJ_OK)
        return st;

    /* Binaries. */
    s->pg_bin_dir = find_pg_bin(s->conf.pg_bin);
    if (s->pg_bin_dir == NULL)
        return rj_error_set(err, RJ_ENOTFOUND,
                            "could not find the PostgreSQL server (initdb, postgres): install "
                            "package postgresql or pass --pg-bin");
    char *redis = dev_find_executable(s->conf.redis_server);
    if (redis == NULL)
        return rj_error_set(err, RJ_ENOTFOUND,
                            "could not find %s: install package redis-server or pass "
                            "--redis-server",
                            s->conf.redis_server);

    /* PostgreSQL refuses to run as root; we run it as an unprivileged user, who
     * must be able to reach the data directory. */
    s->as_root = geteuid() == 0;
    if (s->as_root) {
        if ((st = pg_resolve_user(s, err)) != RJ_OK) {
            free(redis);
            return st;
        }
        struct stat sb;
        if (stat(s->data_dir, &sb) == 0 && (sb.st_mode & 0011) != 0011)
            chmod(s->data_dir, (sb.st_mode & 07777) | 0011);
    }

    s->pg_url = rj_xasprintf("postgresql://postgres@127.0.0.1:%d/ramjet", s->conf.pg_port);
    s->pg_admin = rj_xasprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres "
                               "connect_timeout=2",
                               s->conf.pg_port);
    s->redis_url = rj_xasprintf("redis://127.0.0.1:%d", s->conf.redis_port);

    add_child(s, "postgres", CHILD_POSTGRES, rj_xasprintf("%s/postgres", s->pg_bin_dir));
    add_child(s, "redis", CHILD_REDIS, redis);
    if (s->conf.kafka_brokers != NULL && *s->conf.kafka_brokers != '\0') {
        s->bootstrap = rj_xstrdup(s->conf.kafka_brokers);
    } else if (strcmp(s->conf.kafka, "real") == 0) {
        if ((st = dev_kafka_init(&s->kafka, s->conf.kafka_home, s->conf.kafka_java_opts,
                                 s->data_dir, s->conf.kafka_port, s->conf.partitions, err)) !=
            RJ_OK)
            return st;
        s->bootstrap = rj_xasprintf("127.0.0.1:%d", s->conf.kafka_port);
        add_child(s, "kafka", CHILD_KAFKA, rj_xstrdup(s->kafka.java));
    } else if (strcmp(s->conf.kafka, "mock") != 0) {
        return rj_error_set(err, RJ_EINVAL, "--kafka must be real or mock, not %s",
                            s->conf.kafka);
    } else {
        s->mock = true;
        char *broker = rj_xasprintf("%s/ramjet-devbroker", s->exe_dir);
        if (access(broker, X_OK) != 0) {
            st = rj_error_set(err, RJ_ENOTFOUND,
                              "could not find %s: %s (build it, or pass --kafka-brokers)", broker,
                              strerror(errno));
            free(broker);
            return st;
        }
        add_child(s, "devbroker", CHILD_BROKER, broker);
    }
    for (size_t i = 0; i < N_DAEMONS; i++) {
        if (!selected[i])
            continue;
        char *bin = rj_xasprintf("%s/%s", s->exe_dir, daemon_defs[i].binary);
        if (access(bin, X_OK) != 0) {
            st = rj_error_set(err, RJ_ENOTFOUND,
                              "could not find daemon %s: %s (build it, or leave it out with "
                              "--daemons)",
                              bin, strerror(errno));
            free(bin);
            return st;
        }
        add_child(s, daemon_defs[i].name, CHILD_DAEMON, bin);
        child_t *c = &s->children[s->n - 1];
        c->def = &daemon_defs[i];
        c->health_port = s->conf.health_port_base + daemon_defs[i].health_offset;
    }
    return RJ_OK;
}

static void
teardown(supervisor_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        child_t *c = &s->children[i];
        free(c->binary);
        if (c->out_fd >= 0)
            close(c->out_fd);
        rj_buf_deinit(&c->out);
    }
    if (s->lock_fd >= 0) {
        char *path = rj_xasprintf("%s/supervisor.pid", s->run_dir);
        unlink(path);
        free(path);
        close(s->lock_fd);
    }
    free(s->exe_dir);
    free(s->app);
    free(s->app_name);
    free(s->data_dir);
    free(s->run_dir);
    free(s->pg_dir);
    free(s->log_dir);
    free(s->pg_bin_dir);
    free(s->pg_url);
    free(s->pg_admin);
    free(s->redis_url);
    free(s->bootstrap);
    dev_kafka_deinit(&s->kafka);
    free(s->gateway_config);
    rj_config_deinit(dev_opts, DEV_NOPTS, &s->conf);
}

int
cli_dev_main(int argc, char **argv)
{
    supervisor_t s = {.lock_fd = -1};
    rj_error_t err = {0};
    rj_log_init("ramjet-dev");
    if (rj_config_load(dev_opts, DEV_NOPTS, &s.conf, argc, argv, "ramjet dev", dev_summary,
                       &err) != RJ_OK) {
        fprintf(stderr, "ramjet dev: %s\n", err.msg);
        rj_config_deinit(dev_opts, DEV_NOPTS, &s.conf);
        return 2;
    }
    rj_log_level_t level;
    if (!rj_log_parse_level(s.conf.log_level, &level)) {
        fprintf(stderr, "ramjet dev: invalid --log-level %s\n", s.conf.log_level);
        rj_config_deinit(dev_opts, DEV_NOPTS, &s.conf);
        return 2;
    }
    rj_log_set_level(level);
    rj_log_format_t format;
    if (!rj_log_parse_format(s.conf.log_format, &format)) {
        fprintf(stderr, "ramjet dev: invalid --log-format %s (text or json)\n", s.conf.log_format);
        rj_config_deinit(dev_opts, DEV_NOPTS, &s.conf);
        return 2;
    }
    rj_log_set_format(format);
    s.begun_us = rj_mono_us();
    s.wait_report_us = s.begun_us + WAIT_REPORT_US;

    int code = 1;
    if (signals_install(&err) != RJ_OK || setup(&s, &err) != RJ_OK ||
        (!s.pure && pg_initdb(&s, &err) != RJ_OK) ||
        (s.kafka.dir != NULL && dev_kafka_format(&s.kafka, &sig_stop_requests, &err) != RJ_OK)) {
        rj_fatal(LOG_MOD, "%s", err.msg);
    } else if (sig_stop_requests != 0) {
        rj_info(LOG_MOD, "stop requested before start");
        code = 0;
    } else {
        rj_info(LOG_MOD, "starting app=%s data=%s", s.app, s.data_dir);
        run_loop(&s);
        code = s.exit_code;
        rj_info(LOG_MOD, "%s", code == 0 ? "everything stopped cleanly"
                                         : "stopped; something failed or exited uncleanly "
                                           "(see above)");
    }
    teardown(&s);
    return code;
}
