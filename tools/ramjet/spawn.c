/*
 * spawn.c - fork/exec of the supervisor's children (see spawn.h).
 *
 * Between fork and exec the child only calls async-signal-safe functions:
 * the supervisor is single-threaded, but keeping to that rule means nothing
 * here breaks if a library ever starts a thread behind our back.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"

extern char **environ;

/* What the child writes to the error pipe when it cannot reach exec. */
typedef struct spawn_failure {
    int err;        /* errno of the failed step */
    char step[48];  /* which step failed, e.g. "exec" or "setuid" */
} spawn_failure_t;

static _Noreturn void
child_fail(int fd, const char *step)
{
    spawn_failure_t f = {.err = errno};
    size_t n = strlen(step);
    if (n >= sizeof f.step)
        n = sizeof f.step - 1;
    memcpy(f.step, step, n);
    ssize_t w = write(fd, &f, sizeof f);
    (void)w;
    _exit(127);
}

/* Runs in the child between fork and exec; never returns. */
static _Noreturn void
child_exec(const dev_spawn_opts_t *o, int errfd, pid_t parent)
{
    /* Our own process group: a terminal's SIGINT goes to the supervisor only,
     * which then stops the children in reverse order instead of all at once. */
    setpgid(0, 0);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);

    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0)
        child_fail(errfd, "open /dev/null");
    if (devnull != STDIN_FILENO)
        close(devnull);

    if (o->log_path != NULL) {
        int lf = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (lf < 0)
            child_fail(errfd, "open log file");
        if (dup2(lf, STDOUT_FILENO) < 0 || dup2(lf, STDERR_FILENO) < 0)
            child_fail(errfd, "dup2 log file");
    } else if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        /* Our stdout carries only the READY line; children's chatter goes to stderr. */
        child_fail(errfd, "dup2 stderr");
    }
    if (o->stdout_fd >= 0 && dup2(o->stdout_fd, STDOUT_FILENO) < 0)
        child_fail(errfd, "dup2 stdout pipe");

    if (o->drop_privileges) {
        if (setgroups(0, NULL) < 0)
            child_fail(errfd, "setgroups");
        if (setgid(o->gid) < 0)
            child_fail(errfd, "setgid");
        if (setuid(o->uid) < 0)
            child_fail(errfd, "setuid");
    }
    /* After setuid: a change of credentials clears the parent-death signal. */
    if (o->parent_death_sig != 0) {
        if (prctl(PR_SET_PDEATHSIG, o->parent_death_sig) < 0)
            child_fail(errfd, "prctl");
        if (getppid() != parent) /* the supervisor died before prctl took effect */
            _exit(1);
    }
    if (o->chdir_to != NULL && chdir(o->chdir_to) < 0)
        child_fail(errfd, "chdir");

    execve(o->argv[0], o->argv, o->envp);
    child_fail(errfd, "exec");
}

rj_status_t
dev_spawn(const dev_spawn_opts_t *o, pid_t *pid, rj_error_t *err)
{
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0)
        return rj_error_set(err, RJ_EIO, "could not create pipe for %s: %s", o->name,
                            strerror(errno));
    pid_t parent = getpid();
    pid_t p = fork();
    if (p < 0) {
        int e = errno;
        close(ep[0]);
        close(ep[1]);
        return rj_error_set(err, RJ_EIO, "could not fork %s: %s", o->name, strerror(e));
    }
    if (p == 0) {
        close(ep[0]);
        child_exec(o, ep[1], parent);
    }
    close(ep[1]);

    /* The pipe closes on a successful exec (EOF) or carries the failure. */
    spawn_failure_t f;
    ssize_t n;
    do {
        n = read(ep[0], &f, sizeof f);
    } while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof f) {
        int st;
        while (waitpid(p, &st, 0) < 0 && errno == EINTR)
            ;
        f.step[sizeof f.step - 1] = '\0';
        return rj_error_set(err, RJ_EIO, "could not start %s: %s %s: %s", o->name, f.step,
                            strcmp(f.step, "chdir") == 0 && o->chdir_to ? o->chdir_to
                                                                         : o->argv[0],
                            strerror(f.err));
    }
    *pid = p;
    return RJ_OK;
}

rj_status_t
dev_run(const dev_spawn_opts_t *o, volatile const sig_atomic_t *stop_flag, int *status,
        rj_error_t *err)
{
    pid_t pid;
    rj_status_t st = dev_spawn(o, &pid, err);
    if (st != RJ_OK)
        return st;
    bool forwarded = false;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return RJ_OK;
        if (r < 0 && errno != EINTR)
            return rj_error_set(err, RJ_EIO, "could not wait for %s: %s", o->name,
                                strerror(errno));
        if (stop_flag != NULL && *stop_flag && !forwarded) {
            kill(pid, SIGTERM);
            forwarded = true;
        }
        /* A short sleep instead of a blocking waitpid: the stop flag is set by a
         * signal handler and must be noticed while the child runs. */
        usleep(20000);
    }
}

void
dev_describe_status(int status, char *out, size_t outlen)
{
    if (WIFEXITED(status))
        snprintf(out, outlen, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, outlen, "was killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(out, outlen, "changed state (wait status 0x%x)", (unsigned)status);
}

static bool
env_overridden(const char *entry, char *const *set)
{
    const char *eq = strchr(entry, '=');
    size_t klen = eq != NULL ? (size_t)(eq - entry) : strlen(entry);
    for (char *const *s = set; *s != NULL; s++)
        if (strncmp(*s, entry, klen) == 0 && (*s)[klen] == '=')
            return true;
    return false;
}

char **
dev_env_build(char *const *set)
{
    size_t n = 0, m = 0;
    while (environ[n] != NULL)
        n++;
    while (set[m] != NULL)
        m++;
    char **env = rj_xcalloc(n + m + 1, sizeof *env);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (!env_overridden(environ[i], set))
            env[o++] = rj_xstrdup(environ[i]);
    for (size_t i = 0; i < m; i++)
        env[o++] = rj_xstrdup(set[i]);
    env[o] = NULL;
    return env;
}

void
dev_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++)
        free(*p);
    free(v);
}

rj_status_t
dev_mkdirs(const char *path, unsigned mode, rj_error_t *err)
{
    char *p = rj_xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
            rj_status_t st =
                rj_error_set(err, RJ_EIO, "could not create directory %s: %s", p, strerror(errno));
            free(p);
            return st;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return RJ_OK;
}

/* nftw offers no user pointer; the tree walk is single-threaded, so statics do. */
static uid_t chown_uid;
static gid_t chown_gid;
static int chown_errno;
static char chown_failed[256];

static int
chown_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    if (sb->st_uid == chown_uid && sb->st_gid == chown_gid)
        return 0;
    if (lchown(path, chown_uid, chown_gid) < 0) {
        chown_errno = errno;
        snprintf(chown_failed, sizeof chown_failed, "%s", path);
        return 1;
    }
    return 0;
}

rj_status_t
dev_chown_tree(const char *path, uid_t uid, gid_t gid, rj_error_t *err)
{
    chown_uid = uid;
    chown_gid = gid;
    chown_errno = 0;
    chown_failed[0] = '\0';
    int r = nftw(path, chown_one, 32, FTW_PHYS);
    if (r < 0)
        return rj_error_set(err, RJ_EIO, "could not walk %s: %s", path, strerror(errno));
    if (r > 0)
        return rj_error_set(err, RJ_EIO, "could not change owner of %s: %s", chown_failed,
                            strerror(chown_errno));
    return RJ_OK;
}

rj_status_t
dev_write_pidfile(const char *path, pid_t pid, rj_error_t *err)
{
    char *tmp = rj_xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        rj_status_t st = rj_error_set(err, RJ_EIO, "could not write %s: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    fprintf(f, "%ld\n", (long)pid);
    bool ok = fclose(f) == 0;
    if (!ok || rename(tmp, path) < 0) {
        rj_status_t st =
            rj_error_set(err, RJ_EIO, "could not write %s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return RJ_OK;
}

/* The absolute path of @p name, searched in PATH unless it contains a slash; NULL if not found. */
char *
dev_find_executable(const char *name)
{
    if (strchr(name, '/') != NULL)
        return access(name, X_OK) == 0 ? realpath(name, NULL) : NULL;
    const char *path = getenv("PATH");
    char *copy = rj_xstrdup(path != NULL && *path != '\0' ? path : "/usr/local/bin:/usr/bin:/bin");
    char *found = NULL;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir != NULL && found == NULL;
         dir = strtok_r(NULL, ":", &save)) {
        char *cand = rj_xasprintf("%s/%s", *dir ? dir : ".", name);
        if (access(cand, X_OK) == 0)
            found = cand;
        else
            free(cand);
    }
    free(copy);
    return found;
}
