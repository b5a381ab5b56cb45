/*
 * spawn.h - starting, describing and signalling the supervisor's child processes.
 *
 * `ramjet dev` runs PostgreSQL, Redis, the dev broker and the six daemons as
 * children. This module is the part that touches fork/exec: it sets up each
 * child's file descriptors (stdin from /dev/null, stdout/stderr to the
 * supervisor's stderr, a log file or a pipe), puts it in its own process group
 * (so a terminal's Ctrl-C reaches only the supervisor, which then stops the
 * children in order), asks the kernel to signal it if the supervisor dies, and
 * drops to an unprivileged user when PostgreSQL needs that.
 *
 * It deliberately knows nothing about restart policy, readiness or ordering:
 * that is the supervisor's loop (dev.c), which owns every pid returned here.
 */
#ifndef RJ_TOOLS_SPAWN_H
#define RJ_TOOLS_SPAWN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "rj/status.h"

/** How to start one child. Every pointer is borrowed for the duration of dev_spawn. */
typedef struct dev_spawn_opts {
    const char *name;      /* child's name, for error messages */
    char *const *argv;     /* argv[0] is the path of the binary (no PATH search); NULL-ended */
    char *const *envp;     /* full environment of the child; NULL-ended */
    const char *log_path;  /* append stdout+stderr here; NULL: stdout and stderr go to ours */
    int stdout_fd;         /* >= 0: the child's stdout (e.g. a pipe); overrides log_path for it */
    const char *chdir_to;  /* working directory of the child, or NULL to keep ours */
    bool drop_privileges;  /* switch to uid/gid below before exec (root only) */
    uid_t uid;             /* user to become when drop_privileges */
    gid_t gid;             /* group to become when drop_privileges */
    int parent_death_sig;  /* signal the kernel sends the child when we die; 0: none */
} dev_spawn_opts_t;

/**
 * Forks and execs a child as described by @p o.
 *
 * Errors in the child before exec (a missing binary, an unreachable working
 * directory, a failed setuid) are reported back through a close-on-exec pipe,
 * so they surface here as a status instead of as a mysterious exit code.
 *
 * @param o    how to start it; borrowed
 * @param pid  on RJ_OK, the child's pid (the caller must reap it)
 * @return RJ_OK, or RJ_EIO with a message when the fork or the exec failed
 *         (the failed child, if any, is already reaped)
 * Single-threaded callers only (fork).
 */
rj_status_t dev_spawn(const dev_spawn_opts_t *o, pid_t *pid, rj_error_t *err);

/**
 * Runs a child to completion (initdb, useradd), forwarding SIGTERM to it if
 * *@p stop_flag becomes non-zero while it runs.
 *
 * @param o          how to start it; borrowed
 * @param stop_flag  polled while waiting; may be NULL
 * @param status     on RJ_OK, the wait status of the child
 * @return RJ_OK (whatever the child's exit status), or RJ_EIO when it could not run
 */
rj_status_t dev_run(const dev_spawn_opts_t *o, volatile const sig_atomic_t *stop_flag, int *status,
                    rj_error_t *err);

/**
 * Describes a wait status as "exited with status 3" or "was killed by signal 9
 * (Killed)" into @p out.
 */
void dev_describe_status(int status, char *out, size_t outlen);

/**
 * Builds a child's environment: a copy of ours without the variables named in
 * @p set, followed by @p set itself ("NAME=value" strings).
 *
 * @param set  NULL-ended "NAME=value" strings; copied
 * @return a new NULL-ended array; free it with dev_strv_free
 */
char **dev_env_build(char *const *set);

/** Frees a NULL-ended array of heap strings (and the array). NULL is a no-op. */
void dev_strv_free(char **v);

/**
 * Creates @p path and its missing parents with @p mode (like mkdir -p).
 * @return RJ_OK, or RJ_EIO with a message
 */
rj_status_t dev_mkdirs(const char *path, unsigned mode, rj_error_t *err);

/**
 * Changes the owner of @p path and everything under it (symlinks themselves,
 * not their targets).
 * @return RJ_OK, or RJ_EIO with a message
 */
rj_status_t dev_chown_tree(const char *path, uid_t uid, gid_t gid, rj_error_t *err);

/**
 * Writes @p pid to @p path atomically (a temporary file renamed over it), so a
 * reader never sees a partial number.
 * @return RJ_OK, or RJ_EIO with a message
 */
rj_status_t dev_write_pidfile(const char *path, pid_t pid, rj_error_t *err);

/**
 * The absolute path of executable @p name, searched in PATH unless it contains a slash.
 * @return a heap string, or NULL when there is none
 */
char *dev_find_executable(const char *name);

#endif
